"""The network: a torchvision body, a fastai-like head, three layer groups, phase freezing.

The body is the torchvision model without its pooling and classifier, flattened into one
``nn.Sequential``; the head is fastai's default ``create_head`` (concat pooling, then
BN-Dropout(0.25)-Linear(512)-ReLU-BN-Dropout(0.5)-Linear(n_classes), Linear weights
Kaiming-normal, no biases). The layer groups are fastai's splits for these families, so
discriminative rates mean the same thing here as in fastai: early body, late body, head.
DenseNet keeps torchvision's final ReLU after ``norm5`` (fastai's cut drops it).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dlcompare.kit import weights

GROUP_NAMES = ("body_early", "body_late", "head")
# Index into the flattened body where the late group starts (fastai's _resnet_split,
# _densenet_split, _vgg_split).
SPLIT_AT = {"resnet": 6, "densenet": 7, "vgg": 22}
HEAD_HIDDEN = 512
HEAD_DROPOUT = 0.5   # fastai ps: the last Dropout; the first one gets half of it
HEAD = "fastai create_head: concat pool, BN, Dropout 0.25, Linear 512, ReLU, BN, Dropout 0.5, Linear"


def family(arch: str) -> str:
    for name in SPLIT_AT:
        if arch.startswith(name):
            return name
    raise ValueError(f"no body layout for architecture {arch!r}")


def body_layers(arch: str, net) -> list:
    """The torchvision model's feature extractor as a flat list of modules."""
    kind = family(arch)
    if kind == "resnet":
        return list(net.children())[:-2]          # conv1 .. layer4 (drop avgpool, fc)
    if kind == "densenet":
        return list(net.features.children()) + [nn.ReLU(inplace=True)]
    return list(net.features.children())          # vgg: drop avgpool, classifier


class ConcatPool(nn.Module):
    """Max and average pooling side by side, flattened (fastai's AdaptiveConcatPool2d + Flatten)."""

    def forward(self, x):
        return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)


def make_head(n_features: int, n_classes: int) -> nn.Sequential:
    head = nn.Sequential(
        ConcatPool(),
        nn.BatchNorm1d(2 * n_features), nn.Dropout(HEAD_DROPOUT / 2),
        nn.Linear(2 * n_features, HEAD_HIDDEN, bias=False), nn.ReLU(inplace=True),
        nn.BatchNorm1d(HEAD_HIDDEN), nn.Dropout(HEAD_DROPOUT),
        nn.Linear(HEAD_HIDDEN, n_classes, bias=False),
    )
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
    return head


def build(arch: str, n_classes: int, pretrained: str = "none", log=print):
    """``nn.Sequential(body, head)`` for a canonical architecture name."""
    net = weights.torchvision_model(arch, pretrained, log=log)
    body = nn.Sequential(*body_layers(arch, net))
    n_features = [m for m in body.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features
    return nn.Sequential(body, make_head(n_features, n_classes))


def layer_groups(arch: str, model) -> list[tuple[str, list]]:
    """[(name, [modules])] for body_early, body_late, head."""
    body, head = model[0], model[1]
    cut = SPLIT_AT[family(arch)]
    return [(GROUP_NAMES[0], list(body[:cut])), (GROUP_NAMES[1], list(body[cut:])),
            (GROUP_NAMES[2], [head])]


def set_phase(model, phase: str) -> None:
    """phase1: the head and the body's BatchNorm layers train, the rest of the body is frozen.
    phase2: everything trains."""
    for param in model.parameters():
        param.requires_grad_(True)
    if phase == "phase1":
        for module in model[0].modules():
            if not isinstance(module, nn.modules.batchnorm._NormBase):
                for param in module.parameters(recurse=False):
                    param.requires_grad_(False)


def count_params(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
