"""Registers the ``keras`` trainer. Keras (and TensorFlow) load only inside its methods, so
listing plugins stays fast and a broken TensorFlow hides no other library."""

from __future__ import annotations

import dlcompare
from dlcompare import ARCHS, Run, Trainer


class KerasTrainer(Trainer):
    """Keras 3 (TensorFlow by default): the Keras column of the thesis's Table 4.1."""

    name = "keras"
    architectures = ARCHS
    params_schema = dlcompare.package_schema(__package__)

    def library_version(self) -> str:
        from .env import keras_version

        return keras_version()

    def gpu_count(self) -> int:
        """GPUs TensorFlow sees (it honours CUDA_VISIBLE_DEVICES); 0 when TensorFlow is absent."""
        from .env import import_tensorflow

        try:
            tf = import_tensorflow()
        except ImportError:
            return 0
        return len(tf.config.list_physical_devices("GPU"))

    def train(self, run: Run) -> None:
        from .train import train

        train(run)


@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(KerasTrainer())
