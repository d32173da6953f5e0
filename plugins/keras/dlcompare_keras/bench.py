"""Throughput of the Keras plugin's own training step, for benchmarks/bench_throughput.py.

``setup(cfg, augment)`` returns the harness's two closures: one training pass over ``cfg.images``
images (phase 2: everything trainable, the plugin's compiled model and optimizer, one
``model.fit(epochs=1)`` on the plugin's tf.data pipeline, exactly as each epoch of a run) and one
inference pass (``model.predict`` on the evaluation pipeline). Same architecture, data and batch
size as the torch and fastai entries; float32, as in the thesis. TensorFlow gets ``cfg.threads``
threads (set before its runtime starts, so call this entry first in a process that uses
TensorFlow) and, on CPU, deterministic kernels, as in a run.
"""

from __future__ import annotations

from dlcompare.testing import synthetic_images

from . import env
from .plugin import KerasTrainer


def setup(cfg, augment: bool = True):
    device = "cpu" if str(cfg.device) == "cpu" else "cuda:0"
    keras = env.import_keras("tensorflow", device)
    env.configure_tensorflow(device, cfg.threads, deterministic=device == "cpu", log=lambda line: None)
    from . import data, model as model_lib, recipe

    recipe_cfg = KerasTrainer().resolve_params({})
    n = (cfg.images // cfg.batch) * cfg.batch          # full batches only, as in every entry
    images, labels = synthetic_images(n, cfg.classes, cfg.size, seed=0)
    keras.utils.set_random_seed(0)
    model = model_lib.build(cfg.arch, cfg.size, cfg.classes, recipe_cfg["dense_units"], recipe_cfg["dropout"],
                            recipe_cfg["l2"])
    model_lib.set_phase(model, "phase2")
    groups = model_lib.group_variables(model_lib.layer_groups(cfg.arch, model))
    feeder = data.Feeder({"train": (images, labels), "test": (images, labels)}, cfg.batch, 0,
                         recipe_cfg["augment"])
    lrs = recipe.phase_lrs(recipe_cfg, "phase2", len(groups))
    model.compile(optimizer=recipe.make_optimizer(recipe_cfg, lrs, groups, 10**6),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    epoch = [0]

    def train_epoch():
        epoch[0] += 1
        model.fit(feeder.train(1, epoch[0], augment=augment), epochs=1, verbose=0)

    def infer():
        model.predict(feeder.evaluate("test"), verbose=0)

    return train_epoch, infer
