"""dlcompare-torch: the raw PyTorch trainer (an explicit training loop, no Lightning, no fastai).

Modules: ``plugin`` (the pluggy registration, light), ``recipe`` (the params section and its
defaults: optimizer, one-cycle, discriminative rates), ``model`` (torchvision body + fastai-like
head, layer groups, freezing), ``data`` (loaders over the decoded split cache, augmentation),
``loop`` (the two-phase training loop with per-epoch checkpoints).
"""

__version__ = "0.1.0"
