"""Import Keras the quiet way, on the backend the params ask for, and set TensorFlow up for a run.

Keras reads ``KERAS_BACKEND`` and TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, at import, so
both are set here before anything imports them. Values the user exported win. TensorFlow 2.21
writes its oneDNN banner (and, on GPU machines, CUDA plugin registration notices) to file
descriptor 2 before its log level applies, so the import itself runs with descriptor 2 captured;
the capture is replayed when the import fails or when the user asked for TensorFlow's logs
(``TF_CPP_MIN_LOG_LEVEL`` below 3). TensorFlow's device and thread settings can only
change before its runtime starts; :func:`configure_tensorflow` applies what it still can and says
what it could not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

from dlcompare.errors import UserError

BACKENDS = ("tensorflow", "torch", "jax")
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}


def import_keras(backend: str = "tensorflow", device: str | None = None):
    """The ``keras`` module on ``backend``; UserError if Keras is already loaded on another one.

    ``device`` (the run's ``cpu`` or ``cuda:N``) places the torch and jax backends, which pick
    their device at import; TensorFlow is placed by :func:`configure_tensorflow`.
    """
    if backend not in BACKENDS:
        raise UserError(f"keras.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        if device is not None and backend == "torch":
            os.environ["KERAS_TORCH_DEVICE"] = device
        if device is not None and backend == "jax":
            os.environ["JAX_PLATFORMS"] = "cpu" if device == "cpu" else "cuda"
    warnings.filterwarnings("ignore", module=r"keras(\..*)?$")   # e.g. "input_shape" UserWarnings
    with quiet_stderr(replay=os.environ["TF_CPP_MIN_LOG_LEVEL"] < "3"):
        import keras

    if keras.backend.backend() != backend:
        raise UserError(f"keras.backend is {backend!r} but Keras is already loaded on "
                        f"{keras.backend.backend()!r} in this process (KERAS_BACKEND="
                        f"{os.environ.get('KERAS_BACKEND')!r}); run it in a fresh process")
    try:
        import_tensorflow()   # the input pipelines need it on every backend: load it quietly now
    except ImportError:
        if backend == "tensorflow":
            raise
    return keras


def import_tensorflow():
    """``tensorflow``, imported quietly (the input pipelines use it whatever Keras's backend)."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    with quiet_stderr(replay=os.environ["TF_CPP_MIN_LOG_LEVEL"] < "3"):
        import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


@contextlib.contextmanager
def quiet_stderr(replay: bool = False):
    """Capture what C/C++ code writes to descriptor 2; write it out on error (or if ``replay``)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):   # no usable descriptor 2: nothing to silence
        yield
        return
    failed = False
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed or replay:
                capture.seek(0)
                sys.stderr.write(capture.read().decode(errors="replace"))
                sys.stderr.flush()


def load():
    """Keras as already loaded, else on ``$KERAS_BACKEND`` (default tensorflow), quietly."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    return import_keras(os.environ.get("KERAS_BACKEND", "tensorflow"))


def keras_version() -> str:
    """Keras's version without importing TensorFlow (cheap enough for `dlcompare plugins`)."""
    from importlib.metadata import version

    return version("keras")


def precision_policy(precision: str, device: str) -> str:
    """The Keras dtype policy of train.precision: ``float32``, or for mixed ``mixed_bfloat16``
    (CPUs, and GPUs of compute capability 8 or more) else ``mixed_float16`` (Keras then wraps the
    optimizer in a LossScaleOptimizer at compile)."""
    if precision != "mixed":
        return "float32"
    if device == "cpu":
        return "mixed_bfloat16"
    tf = import_tensorflow()
    gpus = tf.config.get_visible_devices("GPU")
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)) if gpus else (0, 0)
    return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"


def configure_tensorflow(device: str, threads: int, deterministic: bool, log=print, autotune: bool = False) -> None:
    """Threads, visible devices, GPU memory growth, op determinism and cuDNN autotuning
    (``autotune``: train.autotune; TensorFlow reads TF_CUDNN_USE_AUTOTUNE when its first
    convolution runs) for this process.

    ``device`` is the run's ``cpu`` or ``cuda:N``: on ``cpu`` the GPUs are hidden from TensorFlow,
    on ``cuda:N`` only GPU N stays visible and grows its memory on demand instead of taking all
    of it. Called again in the same process (tests), settings that TensorFlow has frozen are kept.
    """
    os.environ["TF_CUDNN_USE_AUTOTUNE"] = "1" if autotune else "0"
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        else:
            gpu = gpus[int(device.split(":", 1)[1])]
            tf.config.set_visible_devices([gpu], "GPU")
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:   # the runtime is already initialised: keep what it has
        if device == "cpu" and tf.config.get_visible_devices("GPU"):
            log("TensorFlow was initialised earlier in this process: GPUs stay visible")
    if deterministic:
        tf.config.experimental.enable_op_determinism()
