"""dlcompare-keras: the Keras 3 trainer (the Keras column of the thesis's Table 4.1).

Modules (the same layout in every built-in plugin): ``plugin`` (the pluggy registration, light),
``params.schema.yaml`` (the params section and its defaults), ``env`` (quiet imports, backend choice, TensorFlow threads/devices/memory
growth/determinism), ``weights`` (the keras.applications ImageNet weights cache), ``resnet18``
(a ResNet-18 body, which Keras lacks), ``model`` (body + preprocess_input + thesis head, L2 on
every kernel, layer groups, phase freezing), ``recipe`` (Adam, one-cycle and discriminative
rates), ``data`` (tf.data pipelines and augmentation layers), ``train`` (the two-phase run on
dlcompare's Ledger, which owns checkpoints and resume), ``bench`` (the throughput benchmark's entry).
"""

__version__ = "0.1.0"
