"""The plain Keras loop that benchmarks/bench_throughput.py sets beside the Keras plugin.

What a Keras user would write: the same model (``model.build``), Adam at the plugin's phase-2
rate, one ``model.fit(epochs=n, validation_data=...)`` on a ``tf.data`` pipeline
(``from_tensor_slices`` -> shuffle -> batch -> the same preprocessing layers in a
``keras.Sequential`` mapped over batches -> prefetch), the mixed-precision policy when
``cfg.precision`` is mixed. TensorFlow is set up as for a run (its threads; op determinism on
CPU, which also keeps Keras from compiling with XLA), so both loops use the same kernels and the
ratio measures the plugin, not TensorFlow's settings. Nothing is saved.
"""

from __future__ import annotations

from . import env
from .plugin import KerasTrainer


def bare(cfg, arrays: dict, classes: list, on_epoch, workdir) -> None:
    """Train ``1 + cfg.epochs`` epochs; ``on_epoch()`` after each epoch's validation."""
    device = "cpu" if cfg.device == "cpu" else "cuda:0"
    keras = env.import_keras("tensorflow", device)
    env.configure_tensorflow(device, cfg.threads, deterministic=device == "cpu", log=lambda line: None)
    tf = env.import_tensorflow()
    from . import data, model as model_lib

    settings = KerasTrainer().resolve_params({})
    if cfg.precision == "mixed":
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if device == "cpu" else "mixed_float16")
    keras.utils.set_random_seed(0)
    model = model_lib.build(cfg.arch, cfg.size, len(classes), settings["dense_units"], settings["dropout"],
                            settings["l2"])
    model.compile(optimizer=keras.optimizers.Adam(settings["phase2"]["lr"], beta_1=settings["beta_1"],
                                                  beta_2=settings["beta_2"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    augment = keras.Sequential(data.augmentation_layers(settings["augment"], seed=0))
    (x, y), (vx, vy) = arrays["train"], arrays["valid"]
    train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0)
             .batch(cfg.batch, drop_remainder=True)
             .map(lambda a, b: (augment(tf.cast(a, tf.float32), training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
             .prefetch(tf.data.AUTOTUNE))
    valid = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(cfg.batch).map(
        lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(tf.data.AUTOTUNE)
    model.fit(train, epochs=1 + cfg.epochs, validation_data=valid, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs=None: on_epoch())])
