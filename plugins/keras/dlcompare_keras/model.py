"""The network of the thesis's Keras column: a ``keras.applications`` body, its own
``preprocess_input``, the thesis head, L2 on every kernel, layer groups and phase freezing.

Model: image (float 0..255 RGB) -> Preprocess (the body family's ``preprocess_input``: caffe-style
BGR mean subtraction for VGG and ResNet, torch-style scaling for DenseNet) -> body (a nested
``keras.applications`` model with ``include_top=False``; ``resnet18``: see resnet18.py) -> head:
GlobalAveragePooling2D, BatchNormalization, Dropout, Dense(dense_units, he_uniform, zero bias),
ReLU, BatchNormalization, Dropout, Dense(n_classes, softmax, he_uniform, zero bias). Both Dropout
layers use ``dropout`` (the thesis does not give its rates).

L2: in Keras 3 setting ``layer.kernel_regularizer`` on a built layer does nothing (the penalty
is read from the weight variable), so :func:`attach_l2` sets ``layer.kernel.regularizer`` on every
Conv2D and Dense kernel of body and head (and the attribute too, so the config says so). Keras 3
adds a variable's penalty to the loss only while the variable is trainable: in phase1 the frozen
body's kernels are not in ``model.losses`` (tf.keras 2, which the thesis ran, counted them).
:func:`l2_penalty` gives both figures.
"""

from __future__ import annotations

import numpy as np

from . import env, resnet18

keras = env.load()

# arch -> (keras.applications builder, preprocess_input module, family). The family decides the
# layer groups; the module's preprocess_input is the one the ImageNet weights were trained with.
BODIES = {
    "vgg16": ("VGG16", "vgg16", "vgg"),
    "vgg19": ("VGG19", "vgg19", "vgg"),
    "resnet50": ("ResNet50", "resnet50", "resnet"),
    "resnet101": ("ResNet101", "resnet", "resnet"),
    "densenet121": ("DenseNet121", "densenet", "densenet"),
    "densenet169": ("DenseNet169", "densenet", "densenet"),
    "resnet18": (None, "resnet", "resnet"),
}
GROUP_NAMES = ("body_early", "body_late", "head")
HEAD = ("GlobalAveragePooling2D, BatchNormalization, Dropout, Dense (he_uniform, zero bias), ReLU, "
        "BatchNormalization, Dropout, Dense softmax")
# The first body layer of the late group, by name prefix: fastai's splits for these families
# (ResNet: from the third stage, conv4_ = torchvision layer3; DenseNet: from the second
# transition, pool3_; VGG: from the fourth block).
LATE_STARTS = {"resnet": "conv4_", "densenet": "pool3_", "vgg": "block4_"}
HEAD_PREFIX = "head_"
MIN_SIZE = 32   # keras.applications bodies refuse smaller inputs


@keras.saving.register_keras_serializable(package="dlcompare")
class Preprocess(keras.layers.Layer):
    """``keras.applications.<module>.preprocess_input`` as the model's first layer (any backend)."""

    def __init__(self, module: str, **kwargs):
        super().__init__(**kwargs)
        self.module = module

    def call(self, x):
        return getattr(keras.applications, self.module).preprocess_input(x)

    def get_config(self):
        return {**super().get_config(), "module": self.module}


def body(arch: str, image_size: int, weights_path=None):
    """The convolutional body of ``arch`` (no pooling, no classifier), loading ``weights_path``
    (a ``keras.applications`` no-top weights file) when given."""
    builder, _, _ = BODIES[arch]
    shape = (image_size, image_size, 3)
    if builder is None:
        return resnet18.ResNet18(keras, shape)
    return getattr(keras.applications, builder)(include_top=False, weights=None if weights_path is None
                                                else str(weights_path), input_shape=shape)


def head(features, n_classes: int, dense_units: int, dropout: float, seed: int):
    layers = keras.layers
    dense = {"kernel_initializer": "he_uniform", "bias_initializer": "zeros"}
    x = layers.GlobalAveragePooling2D(name="head_pool")(features)
    x = layers.BatchNormalization(name="head_bn1")(x)
    x = layers.Dropout(dropout, seed=seed, name="head_dropout1")(x)
    x = layers.Dense(dense_units, name="head_dense1", **dense)(x)
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.BatchNormalization(name="head_bn2")(x)
    x = layers.Dropout(dropout, seed=seed + 1, name="head_dropout2")(x)
    # float32 probabilities under a mixed-precision policy too (rows must sum to 1 within 1e-3)
    return layers.Dense(n_classes, activation="softmax", name="head_dense2", dtype="float32", **dense)(x)


def build(arch: str, image_size: int, n_classes: int, dense_units: int = 512, dropout: float = 0.5,
          l2: float = 0.01, weights_path=None, seed: int = 0):
    """The whole model, L2 attached. Seed Keras (``keras.utils.set_random_seed``) first: the
    body's and head's initialisers draw from Keras's global seed."""
    if arch not in BODIES:
        raise ValueError(f"no Keras body for architecture {arch!r}")
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = Preprocess(BODIES[arch][1], name="preprocess")(inputs)
    net = body(arch, image_size, weights_path)
    outputs = head(net(x), n_classes, dense_units, dropout, seed)
    model = keras.Model(inputs, outputs, name=f"{arch}_thesis")
    attach_l2(model, l2)
    return model


def all_layers(model) -> list:
    """Every layer, nested models flattened (the nested model itself is not listed)."""
    out = []
    for layer in model.layers:
        out.extend(all_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def kernel_layers(model) -> list:
    return [layer for layer in all_layers(model) if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


def attach_l2(model, l2: float) -> int:
    """L2(``l2``) on the kernel variable of every Conv2D and Dense layer; returns how many."""
    layers = kernel_layers(model)
    for layer in layers:
        regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
        layer.kernel.regularizer = regularizer   # what Keras 3 reads
        layer.kernel_regularizer = regularizer   # what get_config reports
    return len(layers) if l2 > 0 else 0


def l2_penalty(model, l2: float) -> dict:
    """The L2 term as Keras adds it to the loss now (trainable kernels only) and over every kernel
    (as tf.keras 2 did, frozen ones included)."""
    counted = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    every = sum(float(np.sum(np.square(keras.ops.convert_to_numpy(layer.kernel)))) for layer in kernel_layers(model))
    return {"keras": counted, "all_kernels": l2 * every}


def body_model(model):
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def layer_groups(arch: str, model) -> dict[str, list]:
    """{body_early, body_late, head: [layers]}: the body cut where its late group starts."""
    body_layers = body_model(model).layers
    prefix = LATE_STARTS[BODIES[arch][2]]
    cut = next(i for i, layer in enumerate(body_layers) if layer.name.startswith(prefix))
    return {"body_early": body_layers[:cut], "body_late": body_layers[cut:],
            "head": [layer for layer in model.layers if layer.name.startswith(HEAD_PREFIX)]}


def group_variables(groups: dict[str, list]) -> list[list]:
    """The trainable variables of each group, in GROUP_NAMES order."""
    return [[v for layer in groups[name] for v in layer.trainable_variables] for name in GROUP_NAMES]


def set_phase(model, phase: str) -> None:
    """phase1: head and the body's BatchNormalization layers train, the rest of the body is frozen
    (a BatchNormalization with trainable=False would run in inference mode in Keras 3, which the
    thesis did not do). phase2: everything trains. Compile again after calling this.

    Every layer is set one by one: ``model.trainable = True`` does not reach the layers of a
    nested functional model in Keras 3.15.
    """
    model.trainable = True
    body_model(model).trainable = True
    frozen = set(id(layer) for layer in body_model(model).layers) if phase == "phase1" else set()
    for layer in all_layers(model):
        layer.trainable = id(layer) not in frozen or isinstance(layer, keras.layers.BatchNormalization)


def count_params(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))
