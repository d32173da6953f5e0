"""dlcompare plugin that trains the comparison's models with fastai (thesis Table 4.1, fastai column).

Modules (the same layout in every built-in plugin): ``plugin`` (the registered trainer, no heavy
imports), ``params.schema.yaml`` (the params section and its defaults), ``model``
(vision_learner with fastai's head, parameter counts), ``data`` (fastai DataLoaders over the
decoded split cache, augmentation), ``recipe`` (the two-phase one-cycle protocol, lr_find), ``callbacks`` (each epoch to dlcompare's Ledger, what the optimizer
really saw), ``interpret`` (ClassificationInterpretation results), ``train`` (one run end to end),
``bench`` (throughput for benchmarks/).
"""
