"""dlcompare plugin that trains the comparison's models with fastai (thesis Table 4.1, fastai column).

Modules: ``plugin`` (the registered trainer, no heavy imports), ``data`` (fastai DataLoaders over
the decoded split cache), ``recipe`` (vision_learner and the two-phase one-cycle protocol),
``callbacks`` (one log line per epoch, history, checkpoints, what the optimizer really saw),
``checkpoint`` (resume state), ``interpret`` (ClassificationInterpretation results), ``train``
(one run end to end), ``bench`` (throughput for benchmarks/).
"""
