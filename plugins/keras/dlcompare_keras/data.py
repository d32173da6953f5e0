"""``tf.data`` pipelines over the project's decoded split cache, with Keras's augmentation layers.

Every library reads the same uint8 arrays (``run.load``), so train/valid/test membership and row
order are the project's. Training batches: each epoch's order is a permutation drawn from
(seed, phase, epoch), the last incomplete batch is dropped (as in the torch and fastai plugins),
and the batch goes through augmentation layers whose random state starts from the same triple
(one pipeline per run, re-seeded each epoch). So an epoch is
the same whether or not the run was resumed before it. Evaluation batches keep manifest order and
are never augmented.

The augmentation replaces the thesis's ``ImageDataGenerator`` (removed in Keras 3) with the
Keras 3 preprocessing layers, which run inside ``tf.data`` on any backend, on float 0..255 pixels:

- ``flip_horizontal``/``flip_vertical`` -> RandomFlip;
- ``rotation``: RandomRotation factor, a fraction of a full turn (0.03 = +-10.8 degrees; the old
  ``rotation_range`` was in degrees);
- ``zoom``: RandomZoom factor, +-zoom of the side (as the old ``zoom_range``);
- ``shear``: RandomShear ``x_factor``, the shear as a fraction of the side, i.e. tan of the angle
  (0.1 = +-5.7 degrees; the old ``shear_range`` was an angle in degrees), along x like the old one;
- ``brightness``: RandomBrightness factor, an added shift of up to +-factor of the 0..255 range
  (the old ``brightness_range`` multiplied).

Areas the geometric transforms uncover are filled with the nearest pixel (ImageDataGenerator's
default fill mode).
"""

from __future__ import annotations

import numpy as np

from . import env

keras = env.load()

FILL = "nearest"
PREFETCH = 2     # batches made ahead of the training step (tf.data autotuning is off)


def augmentation_layers(cfg: dict, seed: int) -> list:
    """The training-set augmentation from the ``augment`` section, each layer seeded from ``seed``."""
    layers = keras.layers
    out = []
    flips = [name for name, key in (("horizontal", "flip_horizontal"), ("vertical", "flip_vertical")) if cfg.get(key)]
    if flips:
        out.append(layers.RandomFlip("_and_".join(flips), seed=seed))
    if cfg.get("rotation", 0) > 0:
        out.append(layers.RandomRotation(cfg["rotation"], fill_mode=FILL, seed=seed + 1))
    if cfg.get("zoom", 0) > 0:
        out.append(layers.RandomZoom(cfg["zoom"], fill_mode=FILL, seed=seed + 2))
    if cfg.get("shear", 0) > 0:
        out.append(layers.RandomShear(x_factor=cfg["shear"], fill_mode=FILL, seed=seed + 3))
    if cfg.get("brightness", 0) > 0:
        out.append(layers.RandomBrightness(cfg["brightness"], value_range=(0, 255), seed=seed + 4))
    return out


def reseed(layers: list, made_with: int, seed: int) -> None:
    """Put the random state of layers made by ``augmentation_layers(cfg, made_with)`` where those
    of ``augmentation_layers(cfg, seed)`` start: [the layer's seed, 0] in every SeedGenerator it
    holds (its own, and the TensorFlow one that a layer of another Keras backend makes for tf.data)."""
    for layer in layers:
        state = np.array([seed + layer.seed - made_with, 0])
        for generator in [layer.generator, *getattr(layer, "_backend_generators", {}).values()]:
            generator.state.assign(state.astype(generator.state.dtype))


def epoch_seed(seed: int, phase_index: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, phase_index, epoch])


class Feeder:
    """Makes the datasets of one run: ``train(phase_index, epoch)``, ``evaluate(split)``."""

    def __init__(self, arrays: dict, batch_size: int, seed: int, augment: dict | None, workers: int = 0):
        self.tf = tf = env.import_tensorflow()
        self.batch_size, self.seed, self.augment = batch_size, seed, augment or {}
        self.options = tf.data.Options()
        # No tf.data autotuning: at the end of every other fit, tearing its iterator down waited
        # 0.3-2.6 s with the CPU idle (two cores, resnet18 at 32 px: 1.8-2.8 s epochs became
        # 1.7-2.1 s). A parallel gather and one sequential map leave little to tune; the batches
        # are the same.
        self.options.autotune.enabled = False
        if workers > 0:    # train.workers: the input pipeline's own threads (0: TensorFlow's shared pool)
            self.options.threading.private_threadpool_size = workers
        with tf.device("/CPU:0"):
            self.images = {s: tf.constant(np.asarray(x)) for s, (x, _) in arrays.items()}
            self.labels = {s: tf.constant(np.asarray(y, dtype=np.int64)) for s, (_, y) in arrays.items()}
        self.n_train = len(arrays["train"][1])
        self.drop_last = self.n_train > batch_size
        self._train: dict[bool, tuple] = {}    # augment? -> (dataset, order, layers, their seed)
        self._evaluate: dict[str, object] = {}

    @property
    def steps_per_epoch(self) -> int:
        n = self.n_train
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def train(self, phase_index: int, epoch: int, augment: bool = True):
        """This epoch's shuffled, augmented batches of (float32 images 0..255, int64 labels).

        The pipeline is built once per run (tracing its functions anew each epoch cost 0.4 s an
        epoch on two cores); each call sets its order and the layers' seed states to what a new
        pipeline of (seed, phase, epoch) would start from. Iterate it before the next call."""
        rng = epoch_seed(self.seed, phase_index, epoch)
        order, layer_seed = rng.permutation(self.n_train), int(rng.integers(2**30))
        if augment not in self._train:
            layers = augmentation_layers(self.augment, layer_seed) if augment else []
            self._train[augment] = (*self._pipeline(layers), layers, layer_seed)
        ds, order_variable, layers, made_with = self._train[augment]
        order_variable.assign(order)
        reseed(layers, made_with, layer_seed)
        return ds

    def _pipeline(self, layers: list):
        """(dataset, the variable holding its order)."""
        tf = self.tf
        images, labels, size = self.images["train"], self.labels["train"], self.batch_size
        with tf.device("/CPU:0"):
            order = tf.Variable(tf.zeros(self.n_train, dtype=tf.int64), trainable=False)

        def gather(step):
            idx = order[step * size:(step + 1) * size]
            return tf.cast(tf.gather(images, idx), tf.float32), tf.gather(labels, idx)

        def transform(x, y):
            for layer in layers:
                x = layer(x, training=True)
            return x, y
        ds = tf.data.Dataset.range(self.steps_per_epoch)
        ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if layers:
            ds = ds.map(transform)   # sequential: the layers' seed states advance in batch order
        return ds.prefetch(PREFETCH).with_options(self.options), order

    def evaluate(self, split: str):
        """``split``'s images in manifest order, batched, not augmented, every batch full: the
        last one is padded with black images (drop their rows with :meth:`rows`), so ``predict``
        sees one batch shape and traces once per compile instead of again for the short batch."""
        if split in self._evaluate:
            return self._evaluate[split]
        tf = self.tf
        images = self.images[split]
        pad = -len(images) % self.batch_size
        if pad:
            images = tf.concat([images, tf.zeros((pad, *images.shape[1:]), dtype=images.dtype)], axis=0)
        ds = tf.data.Dataset.from_tensor_slices(images).batch(self.batch_size)
        ds = ds.map(lambda x: tf.cast(x, tf.float32)).prefetch(PREFETCH).with_options(self.options)
        self._evaluate[split] = ds
        return ds

    def rows(self, split: str) -> int:
        return int(self.images[split].shape[0])

    def predict(self, model, split: str):
        """``model``'s probabilities for ``split`` in manifest order (the padding dropped)."""
        return model.predict(self.evaluate(split), verbose=0)[: self.rows(split)]
