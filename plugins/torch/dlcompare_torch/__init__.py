"""dlcompare-torch: the raw PyTorch trainer (an explicit training loop, no Lightning, no fastai).

Modules (the same layout in every built-in plugin): ``plugin`` (the pluggy registration, light),
``params.schema.yaml`` (the params section and its defaults), ``recipe`` (optimizer, one-cycle,
discriminative rates), ``model`` (torchvision body + fastai-like head, layer groups, freezing),
``data`` (loaders over the decoded split cache, augmentation), ``train`` (the two-phase loop on
dlcompare's Ledger, which owns checkpoints and resume), ``bench`` (throughput for benchmarks/).
"""

__version__ = "0.1.0"
