"""torchvision models and their ImageNet weights, shared by the torch and fastai plugins.

Both plugins build the canonical architectures from torchvision, so they start from the very same
tensors. The weights are always ``IMAGENET1K_V1`` (the 2020-era weights the thesis used; for
ResNets torchvision's DEFAULT is the later V2 recipe), read through the normal torch hub cache
(``$TORCH_HOME/hub/checkpoints``). Offline machines work from a pre-seeded cache; when weights are
needed but neither cached nor downloadable, :func:`ensure_imagenet_weights` raises a one-line
:class:`~dlcompare.errors.UserError` that says where to put the file.

torch and torchvision are imported inside the functions (the core package stays light).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from dlcompare.errors import UserError
from dlcompare.glossary import ARCHS

# Canonical architecture -> torchvision builder. VGGs are the BatchNorm variants, as in fastai
# (thesis footnote 9), so the comparison's VGGs have BatchNorm in every library that can.
TORCHVISION_NAMES = {
    "vgg16": "vgg16_bn",
    "vgg19": "vgg19_bn",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "densenet121": "densenet121",
    "densenet169": "densenet169",
    "resnet18": "resnet18",
}
WEIGHTS_TAG = "IMAGENET1K_V1"
# The statistics the ImageNet weights were trained with (RGB, on 0..1 pixels).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNLOAD_TIMEOUT_S = 60

assert set(TORCHVISION_NAMES) == set(ARCHS)


def torchvision_name(arch: str) -> str:
    """The torchvision builder name for a canonical architecture name."""
    try:
        return TORCHVISION_NAMES[arch]
    except KeyError:
        raise UserError(f"unknown architecture {arch!r}; expected one of {', '.join(TORCHVISION_NAMES)}") from None


def imagenet_weights(arch: str):
    """The torchvision ``WeightsEnum`` member ``IMAGENET1K_V1`` for ``arch`` (no download)."""
    from torchvision.models import get_model_weights

    return get_model_weights(torchvision_name(arch))[WEIGHTS_TAG]


def cached_weights_path(arch: str) -> Path:
    """Where the torch hub cache keeps (or would keep) the weights file for ``arch``."""
    import torch.hub

    filename = os.path.basename(urlparse(imagenet_weights(arch).url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def ensure_imagenet_weights(arch: str, log=print) -> Path:
    """Return the cached weights file for ``arch``, downloading it once if it is not there.

    Raises UserError (one line: the file, the URL, what to do) when it cannot be had.
    """
    import torch.hub

    path = cached_weights_path(arch)
    if path.is_file():
        return path
    url = imagenet_weights(arch).url
    log(f"downloading ImageNet weights for {arch} ({WEIGHTS_TAG}) from {url}")
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)   # <name>-<sha256 prefix>.pth, as torch checks
    hash_prefix = match.group(1) if match else None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib would otherwise wait forever offline
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=False)
    except (OSError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"ImageNet weights for {arch} ({torchvision_name(arch)} {WEIGHTS_TAG}) are not cached at "
            f"{path} and could not be downloaded ({reason}); copy {url} there (TORCH_HOME selects "
            f"the cache) or use --set train.pretrained=none") from None
    finally:
        socket.setdefaulttimeout(previous)
    return path


def torchvision_model(arch: str, pretrained: str = "none", log=print):
    """The torchvision model for ``arch``: random init (``none``) or ImageNet ``IMAGENET1K_V1``.

    The model keeps torchvision's own 1000-class classifier; plugins cut it and add their head.
    """
    from torchvision.models import get_model

    name = torchvision_name(arch)
    if pretrained == "none":
        return get_model(name, weights=None)
    if pretrained != "imagenet":
        raise UserError(f"train.pretrained must be none or imagenet, not {pretrained!r}")
    path = ensure_imagenet_weights(arch, log=log)
    try:
        return get_model(name, weights=WEIGHTS_TAG)
    except (RuntimeError, EOFError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the cached weights file {path} does not load into {name} ({reason}); "
                        "delete it so it is downloaded again, or replace it") from None
