"""dlcompare-keras: the Keras 3 trainer (the Keras column of the thesis's Table 4.1).

Modules: ``plugin`` (the pluggy registration, light), ``settings`` (the params section and its
defaults, no Keras), ``env`` (quiet imports, backend choice, TensorFlow threads/devices/memory
growth/determinism), ``weights`` (the keras.applications ImageNet weights cache), ``resnet18``
(a ResNet-18 body, which Keras lacks), ``model`` (body + preprocess_input + thesis head, L2 on
every kernel, layer groups, phase freezing), ``recipe`` (Adam, one-cycle and discriminative
rates), ``data`` (tf.data pipelines and augmentation layers), ``checkpoint`` (per-epoch resume
state), ``train`` (the two-phase run), ``bench`` (the throughput benchmark's entry).
"""

__version__ = "0.1.0"
