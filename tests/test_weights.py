"""Shared torchvision weights: IMAGENET1K_V1 through the torch hub cache, offline-safe."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torch.hub

from dlcompare.kit import weights
from dlcompare.errors import UserError
from dlcompare.glossary import ARCHS


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty TORCH_HOME where any download attempt fails like an offline machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return calls


def test_every_arch_uses_v1_weights_not_default():
    for arch in ARCHS:
        enum = weights.imagenet_weights(arch)
        assert enum.name == "IMAGENET1K_V1"
        assert enum.url.rsplit("/", 1)[-1].startswith(weights.torchvision_name(arch) + "-")
    # The ResNets' DEFAULT is the later V2 recipe; the thesis used V1.
    resnet50 = weights.imagenet_weights("resnet50")
    assert resnet50 != type(resnet50).DEFAULT
    assert weights.torchvision_name("vgg16") == "vgg16_bn"   # BatchNorm VGG, as in fastai


def test_unknown_arch_and_bad_pretrained_are_user_errors():
    with pytest.raises(UserError, match="unknown architecture 'alexnet'"):
        weights.torchvision_name("alexnet")
    with pytest.raises(UserError, match="pretrained must be none or imagenet"):
        weights.torchvision_model("resnet18", "imagenet21k")


def test_cache_path_follows_torch_home(hub, tmp_path):
    path = weights.cached_weights_path("resnet18")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"


def test_seeded_cache_loads_exactly_those_tensors_without_network(hub):
    torch.manual_seed(123)
    seeded = weights.torchvision_model("resnet18", "none").state_dict()
    path = weights.cached_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(seeded, path)

    torch.manual_seed(999)   # a different random init, so a silent fallback would show
    loaded = weights.torchvision_model("resnet18", "imagenet").state_dict()
    assert hub == []         # no download attempted
    assert loaded.keys() == seeded.keys()
    for key in seeded:
        assert torch.equal(loaded[key], seeded[key]), key
    assert weights.ensure_imagenet_weights("resnet18") == path


def test_missing_cache_offline_gives_one_clear_line(hub):
    with pytest.raises(UserError) as info:
        weights.torchvision_model("resnet50", "imagenet", log=lambda _: None)
    message = str(info.value)
    assert "\n" not in message
    assert "resnet50-0676ba61.pth" in message                       # where to put it
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in message   # what to get
    assert "name resolution" in message                             # why it failed
    assert "train.pretrained=none" in message                       # the way out
    assert len(hub) == 1
    assert not weights.cached_weights_path("resnet50").exists()


def test_unreadable_cached_file_is_a_user_error(hub):
    path = weights.cached_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save({"not": torch.zeros(1)}, path)    # the wrong tensors under the right name
    with pytest.raises(UserError, match="does not load into resnet18"):
        weights.torchvision_model("resnet18", "imagenet")
