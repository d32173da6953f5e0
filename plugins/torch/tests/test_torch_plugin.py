"""The raw PyTorch plugin: what it configures (freezing, layer groups, rates, one-cycle, weight
decay, augmentation) and what it does (artifacts, determinism on CPU, resume after a real kill).
Resuming to the uninterrupted result is the conformance suite's `resume` check."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from dlcompare import phase_lrs
from dlcompare.host import contract
from dlcompare import testing
from dlcompare.glossary import ARCHS, HISTORY, PROBS, RUN_INFO
from dlcompare.host.plugins import load_registry
from dlcompare.kit import ledger
from dlcompare_torch import data, model as model_lib, recipe
from dlcompare_torch.plugin import TorchTrainer

TINY = {"phase1": {"epochs": 2, "lr": 3e-3}, "phase2": {"epochs": 1, "lr": [5e-6, 5e-4]}}


def meta_model(arch: str, n_classes: int = 3):
    """The full network without allocating or initialising its weights (fast for vgg19)."""
    with torch.device("meta"):
        return model_lib.build(arch, n_classes)


def make_run(root, out="out", seed=0, params=TINY, log=lambda _: None) -> contract.Run:
    return testing.tiny_run(root, "torch", TorchTrainer().resolve_params(params), out, seed, log)


def read_history(run) -> list[dict]:
    with open(run.out_dir / HISTORY, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


# --- what is configured -------------------------------------------------------------------

def test_registered_through_the_entry_point():
    trainer = load_registry().get("torch")
    assert isinstance(trainer, TorchTrainer)
    assert set(trainer.architectures) == set(ARCHS)
    assert trainer.library_version() == torch.__version__


def defaults(section=None) -> dict:
    return TorchTrainer().resolve_params(section or {})


def test_defaults_are_the_fastai_column_of_table_4_1():
    cfg = defaults({"phase1": {"epochs": 1}, "augment": {"zoom": 1.0}})
    assert cfg["phase1"] == {"epochs": 1, "lr": 3e-3}       # nested sections merge key by key
    assert cfg["phase2"] == {"epochs": 40, "lr": [5e-6, 5e-4]}
    assert defaults()["phase1"]["epochs"] == 15
    assert cfg["weight_decay"] == 0.01 and cfg["one_cycle"] and cfg["discriminative"]
    assert cfg["moms"] == [0.95, 0.85] and cfg["optimizer"] == "adamw"
    assert cfg["augment"]["zoom"] == 1.0 and cfg["augment"]["rotation"] == 10.0
    # fastai's aug_transforms(flip_vert=True): dihedral instead of flips, warp 0.2, lighting 0.2
    assert cfg["augment"]["dihedral"] and not cfg["augment"]["flip_horizontal"]
    assert cfg["augment"]["warp"] == 0.2 and cfg["augment"]["contrast"] == 0.2


def test_dihedral_is_fastais():
    """fastai's Dihedral(p=0.5): half the images unchanged, the other half one of the 8
    symmetries of the square drawn uniformly (so the identity 9/16 of the time, each other 1/16)."""
    torch.manual_seed(0)
    image = torch.arange(16, dtype=torch.uint8).view(1, 4, 4).expand(3, 4, 4).clone()
    aug = data.augmentation({"dihedral": True})
    symmetries = [torch.rot90(img, k, (1, 2)).numpy().tobytes() for img in (image, image.flip(2)) for k in range(4)]
    assert len(set(symmetries)) == 8
    draws = 4000
    counts = {s: 0 for s in symmetries}
    for _ in range(draws):
        counts[aug(image).numpy().tobytes()] += 1      # a KeyError would be a non-symmetry
    shares = [counts[s] / draws for s in symmetries]
    assert shares[0] == pytest.approx(9 / 16, abs=0.03)
    assert all(share == pytest.approx(1 / 16, abs=0.015) for share in shares[1:])
    flips = data.augmentation({"flip_horizontal": True, "flip_vertical": True})
    assert len({flips(image).numpy().tobytes() for _ in range(400)}) == 4


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_groups_partition_every_arch(arch):
    net = meta_model(arch)
    groups = model_lib.layer_groups(arch, net)
    assert [name for name, _ in groups] == ["body_early", "body_late", "head"]
    ids = [id(p) for _, modules in groups for m in modules for p in m.parameters()]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))   # disjoint, complete
    assert all(sum(p.numel() for m in mods for p in m.parameters()) > 0 for _, mods in groups)
    assert isinstance(groups[0][1][0], nn.Conv2d)             # the stem is in the early group
    assert groups[2][1] == [net[1]]
    assert isinstance(net[1][-1], nn.Linear) and net[1][-1].out_features == 3


def test_resnet_split_is_fastais():
    groups = dict(model_lib.layer_groups("resnet50", meta_model("resnet50")))
    late = groups["body_late"]
    assert len(late) == 2 and all(isinstance(m[0], nn.Module) for m in late)   # layer3, layer4
    assert sum(p.numel() for m in late for p in m.parameters()) == \
        sum(p.numel() for m in meta_model("resnet50")[0][6:] for p in m.parameters())


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "vgg16"])
def test_phase1_freezes_the_body_except_batchnorm(arch):
    net = meta_model(arch)
    body, head = net
    bn = sum(p.numel() for m in body.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
             for p in m.parameters(recurse=False))
    model_lib.set_phase(net, "phase1")
    assert bn > 0
    assert model_lib.count_params(net, trainable_only=True) == bn + sum(p.numel() for p in head.parameters())
    assert not any(p.requires_grad for m in body.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())
    model_lib.set_phase(net, "phase2")
    assert model_lib.count_params(net, trainable_only=True) == model_lib.count_params(net)


def test_phase2_discriminative_rates_and_weight_decay():
    cfg = defaults()
    assert phase_lrs(cfg, "phase1", 3) == [3e-3] * 3
    lrs = phase_lrs(cfg, "phase2", 3)
    assert lrs == pytest.approx([5e-6, 5e-5, 5e-4])               # geometric, as fastai's slice
    assert phase_lrs({**cfg, "discriminative": False}, "phase2", 3) == [5e-4] * 3

    net = meta_model("resnet18")
    model_lib.set_phase(net, "phase2")
    groups = recipe.param_groups(model_lib.layer_groups("resnet18", net), lrs, 0.01)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {f"{n}/{k}" for n in model_lib.GROUP_NAMES for k in ("decay", "no_decay")}
    for name, lr in zip(model_lib.GROUP_NAMES, lrs):
        assert by_name[f"{name}/decay"]["lr"] == by_name[f"{name}/no_decay"]["lr"] == lr
        assert by_name[f"{name}/decay"]["weight_decay"] == 0.01
        assert by_name[f"{name}/no_decay"]["weight_decay"] == 0.0    # fastai: no wd on BN, bias
    assert all(p.ndim >= 2 for p in by_name["body_early/decay"]["params"])
    assert sum(p.numel() for g in groups for p in g["params"]) == model_lib.count_params(net)

    model_lib.set_phase(net, "phase1")                              # frozen params left out
    frozen = recipe.param_groups(model_lib.layer_groups("resnet18", net), [3e-3] * 3, 0.01)
    assert sum(p.numel() for g in frozen for p in g["params"]) == model_lib.count_params(net, True)


def test_fastai_v1_schedule_and_bn_weight_decay():
    """fastai v1's defaults (the thesis's library): pct_start 0.3, final rate peak / 2.5e5, eps
    1e-8 and weight decay on BatchNorm and bias too."""
    cfg = defaults({"pct_start": 0.3, "div_final": 2.5e5, "eps": 1e-8, "bn_wd": True})
    net = model_lib.build("resnet18", 3)
    groups = recipe.param_groups(model_lib.layer_groups("resnet18", net), [1e-3] * 3, 0.01, cfg["bn_wd"])
    assert {g["name"].split("/")[1] for g in groups} == {"decay"}
    assert sum(p.numel() for g in groups for p in g["params"]) == model_lib.count_params(net, True)
    opt = recipe.make_optimizer(cfg, groups)
    assert opt.defaults["eps"] == 1e-8
    sched = recipe.make_scheduler(cfg, opt, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-3 / 25) and np.argmax(lrs) == 29        # pct_start 0.3
    assert lrs[-1] == pytest.approx(1e-3 / 2.5e5, rel=0.05)                    # div 25 x 1e4
    assert {k: defaults()[k] for k in ("div", "div_final", "bn_wd")} == {"div": 25.0, "div_final": 1e5, "bn_wd": False}


def test_one_cycle_lr_and_momentum_schedule():
    cfg = defaults()
    params = [nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2))]
    opt = recipe.make_optimizer(cfg, [{"params": [params[0]], "lr": 1e-3, "weight_decay": 0.01},
                                      {"params": [params[1]], "lr": 1e-2, "weight_decay": 0.0}])
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["eps"] == 1e-5 and opt.defaults["betas"][1] == 0.99
    sched = recipe.make_scheduler(cfg, opt, total_steps=100)
    lrs, beta1 = [], []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        beta1.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx([1e-3 / 25, 1e-2 / 25])           # fastai div=25
    assert max(l[1] for l in lrs) == pytest.approx(1e-2)               # each group peaks at its lr
    assert np.argmax([l[0] for l in lrs]) == 24                        # pct_start 0.25
    assert lrs[-1][1] == pytest.approx(1e-2 / 1e5, rel=0.05)          # fastai div_final=1e5
    assert beta1[0] == pytest.approx(0.95) and min(beta1) == pytest.approx(0.85)
    assert np.argmin(beta1) == 24 and beta1[-1] == pytest.approx(0.95, abs=1e-3)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]

    assert recipe.make_scheduler({**cfg, "one_cycle": False}, opt, 100) is None
    for steps in (3, 4, 5):          # a tiny run: OneCycleLR divided by zero with under 1/pct_start steps
        tiny = recipe.make_optimizer(cfg, [{"params": [params[0]], "lr": 1e-3}])
        short = recipe.make_scheduler(cfg, tiny, total_steps=steps)
        seen = []
        for _ in range(steps):
            seen.append(tiny.param_groups[0]["lr"])
            tiny.step()
            short.step()
        assert max(seen) == pytest.approx(1e-3) and seen[0] < 1e-3
    assert recipe.make_scheduler(cfg, opt, 2) is None                # no room for a cycle: constant
    sgd = recipe.make_optimizer({**cfg, "optimizer": "sgd"}, [{"params": params, "lr": 0.1}])
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    assert isinstance(recipe.make_optimizer({**cfg, "optimizer": "adam"}, [{"params": params, "lr": 0.1}]),
                      torch.optim.Adam)


def test_augmentation_only_on_the_training_set():
    images, labels = testing.synthetic_images(16, 3, 16, seed=0)
    aug = data.augmentation(defaults()["augment"])
    kinds = [type(t).__name__ for t in aug.transforms]
    assert kinds == ["RandomDihedral", "RandomApply", "RandomPerspective", "RandomApply"]
    affine, warp, lighting = aug.transforms[1], aug.transforms[2], aug.transforms[3]
    assert affine.p == warp.p == lighting.p == 0.75                    # fastai's p_affine, p_lighting
    assert affine.transforms[0].degrees == [-10.0, 10.0] and affine.transforms[0].scale == (1.0, 1.1)
    assert warp.distortion_scale == 0.2
    jitter = lighting.transforms[0]
    assert jitter.brightness == jitter.contrast == (0.8, 1.2) and jitter.saturation is None
    assert data.augmentation({"flip_horizontal": False, "zoom": 1.0}) is None

    raw = torch.from_numpy(images).permute(0, 3, 1, 2)
    valid = data.loader(images, labels, 16, train=False, seed=0, transform=aug)
    x, y = next(iter(valid))
    assert torch.equal(x, raw) and torch.equal(y, torch.from_numpy(labels))   # row order kept
    train = data.loader(images, labels, 16, train=True, seed=0, transform=aug)
    x, y = next(iter(train))
    assert x.shape == raw.shape and x.dtype == torch.uint8
    order = [int(np.flatnonzero((raw == xi).all(dim=(1, 2, 3)))[0]) if (raw == xi).all(dim=(1, 2, 3)).any()
             else -1 for xi in x]
    assert order.count(-1) >= 12        # augmented: (almost) no image comes through untouched
    plain = data.loader(images, labels, 16, train=True, seed=0)
    x, y = next(iter(plain))
    assert sorted(y.tolist()) == sorted(labels.tolist())
    assert not torch.equal(y, torch.from_numpy(labels))   # shuffled


# --- the device path (CUDA), checked on the CPU: same distribution, whole batches ---------

def test_batched_dihedral_is_the_same_distribution_as_the_per_image_one():
    """BatchAugment's dihedral: exact symmetries (no resampling blur), identity 9/16, others 1/16."""
    torch.manual_seed(0)
    image = torch.arange(16, dtype=torch.uint8).view(1, 4, 4).expand(3, 4, 4).clone()
    symmetries = [torch.rot90(img, k, (1, 2)).numpy().tobytes() for img in (image, image.flip(2)) for k in range(4)]
    draws = 4000
    out = data.BatchAugment({"dihedral": True})(image.expand(draws, 3, 4, 4))
    assert out.dtype == torch.float32 and out.shape == (draws, 3, 4, 4)
    counts = {s: 0 for s in symmetries}
    for x in out.round().to(torch.uint8):
        counts[x.numpy().tobytes()] += 1        # a KeyError would be a non-symmetry
    shares = [counts[s] / draws for s in symmetries]
    assert shares[0] == pytest.approx(9 / 16, abs=0.03)
    assert all(share == pytest.approx(1 / 16, abs=0.015) for share in shares[1:])


def test_batched_perspective_moves_the_corners_as_torchvision_draws_them():
    torch.manual_seed(0)
    lookup = data.perspective_lookup(500, 32, 32, 0.2, torch.device("cpu"))
    corners = torch.tensor([[0.0, 0, 1], [31, 0, 1], [31, 31, 1], [0, 31, 1]])
    # the corners of the input land where the output shows them: at most int(0.2 * 16) = 3 px inwards
    moved = torch.linalg.solve(lookup, corners.T.expand(500, 3, 4)).transpose(1, 2)
    moved = moved[..., :2] / moved[..., 2:]
    inward = (moved - corners[:, :2]).abs()
    assert inward.max() <= 3 + 1e-3 and inward.min() >= -1e-3
    assert set(inward.round().unique().tolist()) == {0.0, 1.0, 2.0, 3.0}   # every integer shift occurs


def test_batched_augmentation_matches_the_per_image_statistics():
    """Defaults (fastai's aug_transforms(flip_vert=True)): the share of images changed, and the
    brightness spread, agree with the per-image torchvision pipeline within sampling error."""
    images, _ = testing.synthetic_images(300, 3, 48, seed=0)
    raw = torch.from_numpy(images).permute(0, 3, 1, 2)
    cfg = defaults()["augment"]
    torch.manual_seed(0)
    per_image = torch.stack([data.augmentation(cfg)(x) for x in raw]).float()
    batched = data.BatchAugment(cfg)(raw)
    assert batched.shape == raw.shape and 0 <= batched.min() and batched.max() <= 255
    stats = []
    for out in (per_image, batched):
        ratio = out.mean(dim=(1, 2, 3)) / raw.float().mean(dim=(1, 2, 3))
        stats.append({"changed": float((out - raw.float()).abs().amax(dim=(1, 2, 3)).gt(1).float().mean()),
                      "black": float((out.amax(1) == 0).float().mean()),          # uncovered corners
                      "mean": float(ratio.mean()), "spread": float(ratio.std())})
    assert stats[0]["changed"] > 0.95 and stats[1]["changed"] > 0.95
    assert stats[1]["black"] == pytest.approx(stats[0]["black"], abs=0.03)
    assert stats[1]["mean"] == pytest.approx(stats[0]["mean"], abs=0.03)
    assert stats[1]["spread"] == pytest.approx(stats[0]["spread"], rel=0.2)
    assert torch.equal(data.BatchAugment({})(raw), raw.float())          # nothing asked: nothing changed


def test_device_batches_shuffle_with_the_loader_generator_and_keep_eval_order():
    images, labels = testing.synthetic_images(20, 3, 8, seed=0)
    cpu = torch.device("cpu")
    train = data.DeviceBatches(images, labels, 8, True, 0, None, cpu)
    assert len(train) == 2 and len(train.dataset) == 20
    first = torch.cat([y for _, y in train])
    assert len(first) == 16 and not torch.equal(first, torch.from_numpy(labels[:16]))
    again = data.DeviceBatches(images, labels, 8, True, 0, None, cpu)
    assert torch.equal(torch.cat([y for _, y in again]), first)         # seeded by the run's seed
    valid = data.DeviceBatches(images, labels, 8, False, 0, defaults()["augment"], cpu)
    x = torch.cat([x for x, _ in valid])
    assert len(valid) == 3 and torch.equal(x, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_a_run_trains_on_device_batches(tmp_path, monkeypatch):
    """The CUDA data path end to end, on the CPU: the run trains, checkpoints and predicts in row
    order from DeviceBatches (the artifacts pass the contract)."""
    from dlcompare_torch import train as train_lib

    def device_loaders(run, augment, device):
        train = data.DeviceBatches(*run.load("train"), run.batch_size, True, run.seed, augment, device)
        evals = {s: data.DeviceBatches(*run.load(s), run.batch_size, False, run.seed, None, device)
                 for s in ("valid", "test")}
        return train, evals
    monkeypatch.setattr(train_lib.data, "run_loaders", device_loaders)
    run = make_run(tmp_path, params={"phase1": {"epochs": 1}, "phase2": {"epochs": 1}})
    TorchTrainer().train(run)
    contract.check_artifacts(run.out_dir, run.split_dir, run.n_classes)


def test_precision_setting_picks_the_autocast_dtype():
    from dlcompare.kit import torch_runtime
    from dlcompare_torch.train import Engine

    cpu = torch.device("cpu")
    assert torch_runtime.amp_dtype(cpu, "fp32") is None
    assert torch_runtime.amp_dtype(cpu, "mixed") == torch.bfloat16
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with Engine(net, cpu, "mixed").autocast():
        assert net(torch.zeros(1, 3, 5, 5)).dtype == torch.bfloat16
    with Engine(net, cpu).autocast():
        assert net(torch.zeros(1, 3, 5, 5)).dtype == torch.float32


def test_inputs_are_normalised_with_imagenet_stats():
    inputs = data.Inputs(torch.device("cpu"))
    x = inputs(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    assert x.dtype == torch.float32 and x.is_contiguous()
    assert x[0, :, 0, 0].tolist() == pytest.approx([(1 - m) / s for m, s in
                                                    zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])


# --- what it does ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run (resnet18, 16 px, 2 + 1 epochs)."""
    run = make_run(tmp_path_factory.mktemp("torch"))
    TorchTrainer().train(run)
    return run


def test_artifacts_epochs_and_run_info(reference):
    info = contract.check_artifacts(reference.out_dir, reference.split_dir, 3)
    history = read_history(reference)
    assert [(r["phase"], r["epoch"]) for r in history] == [("phase1", "1"), ("phase1", "2"), ("phase2", "1")]
    assert info["param_count"] == model_lib.count_params(model_lib.build("resnet18", 3))
    extras = info["extras"]
    assert extras["trainable_params"]["phase1"] < extras["trainable_params"]["phase2"] == info["param_count"]
    assert extras["learning_rates"]["phase2"] == pytest.approx([5e-6, 5e-5, 5e-4])
    assert extras["deterministic"] and extras["amp"] is None and info["resumed_after"] is None
    assert set(info["versions"]) == {"torch", "torchvision", "cuda", "cudnn", "device_name", "python", "numpy"}
    assert info["phase_seconds"]["phase1"] > 0 and info["phase_seconds"]["phase2"] > 0
    assert info["images_per_second"]["train"] > 0 and info["images_per_second"]["inference"] > 0
    assert info["peak_memory_mb"] > 10
    assert np.load(reference.out_dir / PROBS["test"]).shape == (6, 3)
    assert (reference.checkpoint_dir / ledger.STATE).is_file()   # the core removes it after publishing


def test_same_seed_same_results_other_seed_differs(reference, tmp_path):
    again = make_run(reference.out_dir.parent, out="again")
    TorchTrainer().train(again)
    assert read_history(again) == read_history(reference)
    for split in PROBS.values():
        assert np.array_equal(np.load(again.out_dir / split), np.load(reference.out_dir / split))
    other = make_run(reference.out_dir.parent, out="other", seed=1)
    TorchTrainer().train(other)
    assert not np.array_equal(np.load(other.out_dir / PROBS["valid"]), np.load(reference.out_dir / PROBS["valid"]))


def test_progress_one_line_per_epoch_in_logs_a_bar_on_a_terminal(tmp_path, monkeypatch):
    """Not a terminal: one log line per epoch and nothing else on stdout. A terminal: the live bar
    advances once per training batch of every epoch."""
    import contextlib
    import io

    from dlcompare import progress

    monkeypatch.setattr(progress, "is_interactive", lambda: False)
    lines, out = [], io.StringIO()
    with contextlib.redirect_stdout(out):
        TorchTrainer().train(make_run(tmp_path, out="plain", log=lines.append))
    assert out.getvalue() == ""
    assert [line.split()[1:4] for line in lines] == [["phase1", "epoch", "1/2"], ["phase1", "epoch", "2/2"],
                                                      ["phase2", "epoch", "1/1"]]

    bars = []

    @contextlib.contextmanager
    def fake_bar(total, description):
        bars.append([total, description, 0])

        def advance(n=1):
            bars[-1][2] += n
        yield advance

    monkeypatch.setattr(progress, "batch_bar", fake_bar)
    TorchTrainer().train(make_run(tmp_path, out="tty"))
    per_epoch = 24 // 8          # make_run: 24 training images, batch 8
    assert bars == [[per_epoch, f"torch/resnet18/seed0 {p} {e}", per_epoch]
                    for p, e in (("phase1", "1/2"), ("phase1", "2/2"), ("phase2", "1/1"))]


def test_pretrained_body_comes_from_the_seeded_hub_cache(tmp_path, monkeypatch):
    """pretrained: imagenet builds the body from the torch hub cache (IMAGENET1K_V1 file name,
    here seeded with known tensors; no network), the head stays freshly initialised."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    seeded = testing.seed_hub_weights("resnet18", 7)
    net = model_lib.build("resnet18", 3, "imagenet", log=lambda _: None)
    assert torch.equal(net[0][0].weight, seeded.conv1.weight)
    assert torch.equal(net[0][7][1].bn2.running_var, seeded.layer4[1].bn2.running_var)
    assert net[1][-1].out_features == 3


@pytest.mark.slow
def test_cli_run_killed_with_sigkill_resumes(tmp_path):
    """`dlcompare train` killed for real mid-run, between checkpoints: nothing looks finished; a
    re-run resumes from the last checkpoint (phase 1's end: phase 2's first epoch comes before
    train.checkpoint_every's 60 s) and trains phase 2 again."""
    testing.make_split(tmp_path, n_classes=3, sizes=(48, 18, 12), image_size=16)
    (tmp_path / "params.yaml").write_text(textwrap.dedent("""\
        data: {dataset: digits, image_size: 16}
        train: {libraries: [torch], archs: [resnet18], seeds: [0], device: cpu, batch_size: 16, threads: 1}
        torch: {phase1: {epochs: 3, lr: 3.0e-3}, phase2: {epochs: 3, lr: [5.0e-6, 5.0e-4]}}
        """))
    cmd = [os.path.join(os.path.dirname(sys.executable), "dlcompare"), "train",
           "--library", "torch", "--arch", "resnet18", "--seed", "0"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / "results" / "checkpoints" / "torch" / "resnet18" / "seed0" / "state.json"
    for line in proc.stdout:
        if "phase2 epoch 1/3" in line:
            # phase 1's last checkpoint is written in the background and committed (state.json)
            # once complete: kill when it is, in phase 2's second epoch
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and '"phase": "phase1"' not in (
                    state.read_text() if state.is_file() else ""):
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert json.loads(state.read_text())["epoch"] == 3
    run_dir = tmp_path / "results" / "runs" / "torch" / "resnet18" / "seed0"
    assert not (run_dir / "metrics.json").exists()
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "resuming after phase1 epoch 3" in done.stdout
    with open(run_dir / HISTORY, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["phase"], int(r["epoch"])) for r in rows] == \
        [("phase1", 1), ("phase1", 2), ("phase1", 3), ("phase2", 1), ("phase2", 2), ("phase2", 3)]
    assert (run_dir / "metrics.json").is_file() and (run_dir / RUN_INFO).is_file()
