"""A ResNet-18 body for Keras, which ships no ResNet-18 (only 50/101/152).

Written out layer for layer after torchvision's ``resnet18`` (He et al. 2015, the basic-block
ResNet that the torch and fastai plugins train): 7x7/2 stem, 3x3/2 max pool, four stages of two
basic blocks (64, 128, 256, 512 filters; stride 2 from the second stage on, with a 1x1/2
projection shortcut), convolutions without bias, explicit symmetric zero padding as in PyTorch.
So it has the same 11,176,512 body parameters as torchvision's. Everything else is Keras's own:
layer names follow ``keras.applications.ResNet50`` (``conv1_conv``, ``conv2_block1_1_conv``,
``conv4_...``, so the layer groups split like the other ResNets), BatchNormalization keeps Keras's
defaults (momentum 0.99, epsilon 1.001e-5 as in keras.applications), convolutions keep Keras's
default glorot-uniform initialisation, and inputs go through the ResNet family's caffe-style
``preprocess_input``. There are no ImageNet weights for it in Keras: random initialisation only.
"""

from __future__ import annotations

STAGES = ((2, 64, 1), (3, 128, 2), (4, 256, 2), (5, 512, 2))   # (stage number, filters, stride)
BLOCKS_PER_STAGE = 2
BN_EPSILON = 1.001e-5


def _conv_bn(keras, x, filters: int, kernel: int, stride: int, name: str, relu: bool):
    layers = keras.layers
    pad = kernel // 2
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def basic_block(keras, x, filters: int, stride: int, name: str):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus the shortcut (projected when the shape changes), ReLU."""
    layers = keras.layers
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    x = _conv_bn(keras, x, filters, 3, stride, f"{name}_1", relu=True)
    x = _conv_bn(keras, x, filters, 3, 1, f"{name}_2", relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def ResNet18(keras, input_shape):
    """The convolutional body (no pooling, no classifier), as ``keras.applications`` builds its
    bodies with ``include_top=False``."""
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="input_layer")
    x = _conv_bn(keras, inputs, 64, 7, 2, "conv1", relu=True)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, filters, stride in STAGES:
        for block in range(1, BLOCKS_PER_STAGE + 1):
            x = basic_block(keras, x, filters, stride if block == 1 else 1, f"conv{stage}_block{block}")
    return keras.Model(inputs, x, name="resnet18")
