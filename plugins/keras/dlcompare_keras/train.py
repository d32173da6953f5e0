"""One Keras run end to end: the two phases with ``model.fit`` (recompiled at every change of
trainable layers), per-epoch checkpoints, predictions in manifest order, and the run artifacts.

Each epoch is one ``model.fit(epochs=1)`` call on that epoch's dataset (see data.py), so a
resumed run continues with exactly the batches it would have seen. ``history.csv`` holds Keras's
own training loss (cross-entropy plus the L2 term Keras adds) and the uniform validation
cross-entropy computed from the predicted probabilities, like every library; run.json's extras
keep, per epoch, the validation loss as Keras would report it (plus L2) and the L2 term itself,
both as Keras 3 counts it (trainable kernels) and over every kernel (as tf.keras 2 did in the
thesis), which is why the thesis's Keras losses (5.9-9.5) cannot be compared with fastai's.
"""

from __future__ import annotations

import platform
import resource
import time

import numpy as np

from dlcompare import progress
from dlcompare.host.contract import Run
from dlcompare.errors import UserError
from dlcompare.glossary import PHASES

from . import env
from .settings import settings


def uniform_loss_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Cross-entropy and accuracy from probabilities (the same formula for every library)."""
    labels = np.asarray(labels, dtype=np.int64)
    picked = np.clip(probs[np.arange(len(labels)), labels].astype(np.float64), 1e-12, None)
    return float(-np.mean(np.log(picked))), float(np.mean(probs.argmax(axis=1) == labels))


def versions(keras, backend: str, device: str) -> dict:
    out = {"keras": keras.__version__, "backend": backend, "python": platform.python_version(),
           "numpy": np.__version__, "device_name": platform.processor() or platform.machine()}
    if backend != "tensorflow":
        from importlib.metadata import version

        out[backend] = version(backend)
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
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB
    if backend == "tensorflow":
        return env.import_tensorflow().config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def train(run: Run) -> None:
    cfg = settings(run.params)
    keras = env.import_keras(cfg["backend"], run.device)
    if cfg["backend"] == "tensorflow":
        env.configure_tensorflow(run.device, run.threads, deterministic=run.device == "cpu", log=run.log)
    elif cfg["backend"] == "torch":
        import torch

        torch.set_num_threads(run.threads)
        if run.device == "cpu":
            torch.use_deterministic_algorithms(True)
    _train(run, cfg, keras)


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


def _train(run: Run, cfg: dict, keras) -> None:
    from . import checkpoint, data, model as model_lib, recipe

    model, weights_path = build_model(run, cfg)
    groups = model_lib.layer_groups(run.arch, model)

    arrays = {split: run.load(split) for split in ("train", "valid", "test")}
    if len(arrays["train"][1]) < run.batch_size:
        raise UserError(f"the train split has {len(arrays['train'][1])} images, fewer than "
                        f"train.batch_size={run.batch_size}: lower the batch size")
    feeder = data.Feeder(arrays, run.batch_size, run.seed, cfg["augment"])
    valid_y, test_y = arrays["valid"][1], arrays["test"][1]

    key = checkpoint.fingerprint(arch=run.arch, seed=run.seed, pretrained=run.pretrained,
                                 image_size=run.image_size, batch_size=run.batch_size,
                                 device=run.device.split(":")[0], cfg=cfg, n_train=feeder.n_train,
                                 classes=run.classes, keras=keras.__version__)
    saved = checkpoint.load(run.checkpoint_dir, key, log=run.log)
    history, keras_rows = [], []
    counters = {"train_images": 0, "train_seconds": 0.0}
    done = (None, 0)
    if saved is not None:
        record, model_values, optimizer_values = saved
        checkpoint.assign(model.variables, model_values, "model")
        history, keras_rows, counters = record["history"], record["keras"], record["counters"]
        done = (record["phase"], record["epoch"])
        run.log(f"{run.prefix}: resuming after {done[0]} epoch {done[1]}")

    loss = keras.losses.SparseCategoricalCrossentropy()
    trainable, lrs_used, optimizers = {}, {}, {}
    for index, phase in enumerate(PHASES):
        epochs = int(cfg[phase]["epochs"])
        model_lib.set_phase(model, phase)
        trainable[phase] = model_lib.count_params(model.trainable_variables)
        lrs = lrs_used[phase] = recipe.phase_lrs(cfg, phase, len(model_lib.GROUP_NAMES))
        if done[0] is not None and index < PHASES.index(done[0]):
            continue   # finished before the restart
        optimizer = recipe.make_optimizer(cfg, lrs, model_lib.group_variables(groups),
                                          epochs * feeder.steps_per_epoch)
        optimizers[phase] = type(optimizer).__name__
        model.compile(optimizer=optimizer, loss=loss)   # again at every change of trainable layers
        first = 1
        if done[0] == phase:
            optimizer.build(model.trainable_variables)
            checkpoint.assign(optimizer.variables, optimizer_values, "optimizer")
            first = done[1] + 1
        for epoch in range(first, epochs + 1):
            start = time.perf_counter()
            with progress.batch_bar(feeder.steps_per_epoch, f"{run.prefix} {phase} {epoch}/{epochs}") as advance:
                began = time.perf_counter()
                fit = model.fit(feeder.train(index, epoch), epochs=1, verbose=0,
                                callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: advance())])
                seconds = time.perf_counter() - began
            train_loss = float(fit.history["loss"][-1])
            probs = model.predict(feeder.evaluate("valid"), verbose=0)
            valid_loss, valid_accuracy = uniform_loss_accuracy(probs, valid_y)
            l2 = model_lib.l2_penalty(model, cfg["l2"])
            counters["train_images"] += feeder.steps_per_epoch * run.batch_size
            counters["train_seconds"] += seconds
            row = {"epoch": epoch, "phase": phase, "train_loss": train_loss, "valid_loss": valid_loss,
                   "valid_accuracy": valid_accuracy, "seconds": time.perf_counter() - start}
            history.append(row)
            keras_rows.append({"phase": phase, "epoch": epoch, "keras_train_loss": train_loss,
                               "keras_valid_loss": valid_loss + l2["keras"], "l2_keras": l2["keras"],
                               "l2_all_kernels": l2["all_kernels"]})
            checkpoint.save(run.checkpoint_dir,
                            {"fingerprint": key, "phase": phase, "epoch": epoch, "history": history,
                             "keras": keras_rows, "counters": counters},
                            [keras.ops.convert_to_numpy(v) for v in model.variables],
                            [keras.ops.convert_to_numpy(v) for v in optimizer.variables])
            run.log_epoch(phase, epoch, epochs, train_loss=train_loss, valid_loss=valid_loss,
                          valid_accuracy=valid_accuracy, seconds=row["seconds"])

    began = time.perf_counter()
    probs = {split: model.predict(feeder.evaluate(split), verbose=0) for split in ("valid", "test")}
    inference_seconds = time.perf_counter() - began
    for split, p in probs.items():
        run.save_probabilities(split, p)
    run.save_history(history)
    run.save_info({
        "library_version": keras.__version__,
        "versions": versions(keras, cfg["backend"], run.device),
        "param_count": model.count_params(),
        "phase_seconds": {p: sum(r["seconds"] for r in history if r["phase"] == p) for p in PHASES},
        "images_per_second": {
            "train": counters["train_images"] / counters["train_seconds"] if counters["train_seconds"] else None,
            "inference": (len(valid_y) + len(test_y)) / inference_seconds if inference_seconds else None},
        "peak_memory_mb": peak_memory_mb(cfg["backend"], run.device),
        "extras": {
            "recipe": {**cfg, "head": "GlobalAveragePooling2D, BatchNormalization, Dropout, Dense (he_uniform, "
                                      "zero bias), ReLU, BatchNormalization, Dropout, Dense softmax",
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
            "resumed_after": {"phase": done[0], "epoch": done[1]} if done[0] else None,
        },
    })
