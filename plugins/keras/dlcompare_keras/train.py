"""One Keras run end to end: the two phases with ``model.fit`` (recompiled at every change of
trainable layers), per-epoch checkpoints, predictions in manifest order, and the run artifacts.

Each epoch is one ``model.fit(epochs=1)`` call on that epoch's dataset (see data.py), so a
resumed run continues with exactly the batches it would have seen; dlcompare's Ledger keeps the
checkpoints (every model and optimizer variable, in one .npz) and the rest of the bookkeeping. ``history.csv`` holds Keras's
own training loss (cross-entropy plus the L2 term Keras adds) and the uniform validation
cross-entropy computed from the predicted probabilities, like every library; run.json's extras
keep, per epoch, the validation loss as Keras would report it (plus L2) and the L2 term itself,
both as Keras 3 counts it (trainable kernels) and over every kernel (as tf.keras 2 did in the
thesis), which is why the thesis's Keras losses (5.9-9.5) cannot be compared with fastai's.
"""

from __future__ import annotations

import time

import numpy as np

from dlcompare import PHASES, Ledger, Run, UserError, loss_and_accuracy, peak_rss_mb, timed
from dlcompare import versions as base_versions

from . import env


def versions(keras, backend: str, device: str) -> dict:
    out = base_versions(keras=keras.__version__, backend=backend)
    if backend != "tensorflow":
        out.update(base_versions(backend))
    if backend == "tensorflow":
        tf = env.import_tensorflow()
        info = tf.sysconfig.get_build_info()
        out["tensorflow"] = tf.__version__
        out["cuda"] = info.get("cuda_version") if device != "cpu" else None
        out["cudnn"] = info.get("cudnn_version") if device != "cpu" else None
        if device != "cpu":
            gpus = tf.config.get_visible_devices("GPU")
            if gpus:
                out["device_name"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return out


def peak_memory_mb(backend: str, device: str) -> float | None:
    """GPU: TensorFlow's peak allocation on the device; CPU: the process's peak resident set."""
    if device == "cpu":
        return peak_rss_mb()
    if backend == "tensorflow":
        return env.import_tensorflow().config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def train(run: Run) -> None:
    cfg = run.params
    keras = env.import_keras(cfg["backend"], run.device)
    if cfg["backend"] == "tensorflow":
        env.configure_tensorflow(run.device, run.threads, deterministic=run.device == "cpu", log=run.log,
                                 autotune=getattr(run, "autotune", False))
    elif cfg["backend"] == "torch":
        import torch

        from dlcompare.kit import torch_runtime

        torch.set_num_threads(run.threads)
        if run.device == "cpu":
            torch_runtime.deterministic()
    policy = env.precision_policy(getattr(run, "precision", "fp32"), run.device)
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        _train(run, cfg, keras)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")   # tests share a process


def build_model(run: Run, cfg: dict):
    """(model, weights file or None): seeded, ImageNet body weights from the Keras cache when
    ``run.pretrained`` is imagenet; a weights file that does not fit is a UserError."""
    import keras

    from . import model as model_lib, weights

    if run.pretrained not in ("none", "imagenet"):
        raise UserError(f"train.pretrained must be none or imagenet, not {run.pretrained!r}")
    if model_lib.BODIES[run.arch][0] and run.image_size < model_lib.MIN_SIZE:
        raise UserError(f"keras.applications.{model_lib.BODIES[run.arch][0]} needs images of at least "
                        f"{model_lib.MIN_SIZE} px (data.image_size is {run.image_size})")
    weights_path = weights.ensure(run.arch, log=run.log) if run.pretrained == "imagenet" else None
    keras.utils.set_random_seed(run.seed)
    try:
        model = model_lib.build(run.arch, run.image_size, run.n_classes, cfg["dense_units"], cfg["dropout"],
                                cfg["l2"], weights_path, seed=run.seed)
    except (ValueError, OSError, KeyError) as exc:
        if weights_path is None:
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the cached Keras weights file {weights_path} does not load into {run.arch} "
                        f"({reason}); delete it so it is downloaded again, or replace it") from None
    return model, weights_path


def save_variables(path, model, optimizer, keras):
    """Every model variable (weights, BatchNorm statistics, Dropout seed states) and optimizer
    variable (step count, Adam moments), snapshotted now with ``keras.ops.copy`` (on TensorFlow a
    read, which TensorFlow keeps intact when the variable is next updated; on torch a clone: 0.01 s
    for resnet18); returns the function that converts them to NumPy and writes one .npz at
    ``path`` (the Ledger runs it in the background while the next epoch trains)."""
    tensors = {f"model_{i}": keras.ops.copy(v) for i, v in enumerate(model.variables)}
    tensors.update({f"optimizer_{i}": keras.ops.copy(v) for i, v in enumerate(optimizer.variables)})

    def write() -> None:
        arrays = {name: np.asarray(keras.ops.convert_to_numpy(t)) for name, t in tensors.items()}
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    return write


def load_variables(path) -> dict[str, list]:
    with np.load(path, allow_pickle=False) as saved:
        return {kind: [saved[f"{kind}_{i}"] for i in range(sum(k.startswith(f"{kind}_") for k in saved.files))]
                for kind in ("model", "optimizer")}


def assign(variables, values, what: str) -> None:
    """Put saved values back; ValueError when they do not fit (another model)."""
    if len(variables) != len(values):
        raise ValueError(f"{what}: {len(values)} saved values for {len(variables)} variables")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{what}: {variable.path} has shape {tuple(variable.shape)}, saved {value.shape}")
        variable.assign(value)


def _train(run: Run, cfg: dict, keras) -> None:
    from . import data, model as model_lib, recipe

    model, weights_path = build_model(run, cfg)
    groups = model_lib.layer_groups(run.arch, model)

    arrays = {split: run.load(split) for split in ("train", "valid", "test")}
    if len(arrays["train"][1]) < run.batch_size:
        raise UserError(f"the train split has {len(arrays['train'][1])} images, fewer than "
                        f"train.batch_size={run.batch_size}: lower the batch size")
    feeder = data.Feeder(arrays, run.batch_size, run.seed, cfg["augment"], getattr(run, "workers", 0))
    valid_y = arrays["valid"][1]

    def load(path):
        saved = load_variables(path)
        assign(model.variables, saved["model"], "model")
        return saved

    ledger = Ledger(run, n_train=feeder.n_train, keras=keras.__version__)
    restored = ledger.restore(load)
    keras_rows = ledger.kept.get("keras", [])
    loss = keras.losses.SparseCategoricalCrossentropy()
    trainable, lrs_used, optimizers = {}, {}, {}
    for index, phase in enumerate(PHASES):
        epochs = int(cfg[phase]["epochs"])
        model_lib.set_phase(model, phase)
        trainable[phase] = model_lib.count_params(model.trainable_variables)
        lrs = lrs_used[phase] = recipe.phase_lrs(cfg, phase, len(model_lib.GROUP_NAMES))
        if ledger.finished(phase):
            continue
        optimizer = recipe.make_optimizer(cfg, lrs, model_lib.group_variables(groups),
                                          epochs * feeder.steps_per_epoch)
        optimizers[phase] = type(optimizer).__name__
        model.compile(optimizer=optimizer, loss=loss)   # again at every change of trainable layers
        # Build the optimizer (and a mixed-precision loss-scale wrapper) now: left to Keras, its
        # variables are created inside the first traced step, and TensorFlow then traces the whole
        # step a second time (about 4 s per phase on the 2-core machine).
        model.optimizer.build(model.trainable_variables)
        if ledger.resuming(phase):
            try:
                assign(optimizer.variables, restored["optimizer"], "optimizer")
            except ValueError as exc:
                raise UserError(f"checkpoint in {run.checkpoint_dir} does not fit this optimizer "
                                f"({exc}): run `dlcompare train --fresh`") from None
        for epoch in ledger.epochs(phase, epochs):
            start = time.perf_counter()
            with ledger.bar(phase, epoch, epochs, feeder.steps_per_epoch) as advance:
                began = time.perf_counter()
                fit = model.fit(feeder.train(index, epoch), epochs=1, verbose=0, shuffle=False,   # Feeder shuffles
                                callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: advance())])
                seconds = time.perf_counter() - began
            train_loss = float(fit.history["loss"][-1])
            valid_loss, valid_accuracy = loss_and_accuracy(feeder.predict(model, "valid"), valid_y)
            l2 = model_lib.l2_penalty(model, cfg["l2"])
            keras_rows.append({"phase": phase, "epoch": epoch, "keras_train_loss": train_loss,
                               "keras_valid_loss": valid_loss + l2["keras"], "l2_keras": l2["keras"],
                               "l2_all_kernels": l2["all_kernels"]})
            ledger.record(phase, epoch, epochs, train_loss=train_loss, valid_loss=valid_loss,
                          valid_accuracy=valid_accuracy, images=feeder.steps_per_epoch * run.batch_size,
                          train_seconds=seconds, seconds=time.perf_counter() - start,
                          save=lambda path, optimizer=optimizer: save_variables(path, model, optimizer, keras),
                          keep={"keras": keras_rows})

    probs, inference_seconds = timed(lambda: {split: feeder.predict(model, split) for split in ("valid", "test")})
    ledger.finish(probs, inference_seconds, library_version=keras.__version__,
                  versions=versions(keras, cfg["backend"], run.device), param_count=model.count_params(),
                  peak_memory_mb=peak_memory_mb(cfg["backend"], run.device), extras={
                      "recipe": {**cfg, "head": model_lib.HEAD,
                                 "preprocess_input": f"keras.applications.{model_lib.BODIES[run.arch][1]}",
                                 "body": model_lib.BODIES[run.arch][0] or "ResNet18 (dlcompare_keras.resnet18)",
                                 "weights": str(weights_path.name) if weights_path else None,
                                 "l2_kernels": len(model_lib.kernel_layers(model))},
                      "keras_losses": keras_rows,
                      "layer_groups": list(model_lib.GROUP_NAMES),
                      "learning_rates": lrs_used,
                      "optimizer": optimizers,
                      "trainable_params": trainable,
                      "deterministic": run.device == "cpu",
                  })
