"""The fastai plugin: what it feeds fastai, what it configures, and what one tiny run writes.

Tiny data (16 px synthetic split, resnet18 from random init, 1 thread) keeps the fast tests to
seconds; the conformance suite (with its resume check) is marked slow.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("fastai")

from dlcompare.kit import weights  # noqa: E402
from dlcompare.host.contract import Run, check_artifacts  # noqa: E402
from dlcompare.errors import UserError  # noqa: E402
from dlcompare.glossary import ARCHS, HISTORY, PROBS, RUN_INFO  # noqa: E402
from dlcompare.data.splitcache import load_classes  # noqa: E402
from dlcompare import testing  # noqa: E402
from dlcompare.testing import make_split  # noqa: E402

SIZES = (32, 12, 9)
LR_FIND_ITERATIONS = 12
PARAMS = {"weight_decay": 0.02, "moms": [0.9, 0.8], "use_lr_find": False, "lr_find_iterations": LR_FIND_ITERATIONS,
          "phase1": {"epochs": 1, "lr": 2e-3}, "phase2": {"epochs": 2, "lr": [1e-5, 1e-3]},
          "augment": {"do_flip": True, "flip_vert": True, "max_rotate": 10.0, "max_zoom": 1.1, "max_lighting": 0.2}}


def resolve(section: dict) -> dict:
    from dlcompare_fastai.plugin import FastaiTrainer

    return FastaiTrainer().resolve_params(section)


def make_run(root, split_dir, params=None, **overrides) -> Run:
    fields = dict(library="fastai", arch="resnet18", seed=0, device="cpu", pretrained="none",
                  image_size=16, batch_size=16, threads=1, classes=load_classes(split_dir),
                  split_dir=split_dir, out_dir=root / "out", checkpoint_dir=root / "checkpoints",
                  params=resolve(copy.deepcopy(PARAMS if params is None else params)), log=lambda line: None)
    fields.update(overrides)
    fields["out_dir"].mkdir(parents=True, exist_ok=True)
    fields["checkpoint_dir"].mkdir(parents=True, exist_ok=True)
    return Run(**fields)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("fastai-split"), sizes=SIZES, image_size=16)


def train_logged(run: Run) -> list[str]:
    """Train with the plugin, return its log lines; stdout must stay free of progress bars."""
    from dlcompare_fastai.train import train

    lines, stdout = [], io.StringIO()
    run.log = lines.append
    with contextlib.redirect_stdout(stdout):
        train(run)
    assert "\r" not in stdout.getvalue() and "\r" not in "".join(lines)
    return lines


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, split_dir):
    """One real run: phase1 1 epoch, phase2 2 epochs, lr_find consulted (not used), non-default
    recipe values."""
    run = make_run(tmp_path_factory.mktemp("fastai-run"), split_dir)
    lines = train_logged(run)
    info = check_artifacts(run.out_dir, split_dir, run.n_classes)
    return run, info, lines


def test_registered_with_every_canonical_architecture():
    from dlcompare.host.plugins import load_registry

    import fastai

    trainer = load_registry().get("fastai")
    assert set(trainer.architectures) == set(ARCHS)
    assert trainer.library_version() == fastai.__version__


def test_every_architecture_gets_fastai_layer_groups_and_imagenet_stats():
    """The torchvision builders we hand vision_learner are the ones fastai's model_meta knows
    (plain VGGs would get neither a split nor normalisation: hence vgg16_bn / vgg19_bn)."""
    import torchvision.models
    from fastai.vision.learner import model_meta

    for arch in ARCHS:
        builder = getattr(torchvision.models, weights.torchvision_name(arch))
        assert builder in model_meta, arch
        assert model_meta[builder]["stats"][0] == list(weights.IMAGENET_MEAN)
    assert weights.torchvision_name("vgg16") == "vgg16_bn"


def test_loaders_see_exactly_the_cached_sets(tmp_path, split_dir):
    """Valid and test batches are the cached arrays, in manifest order; train covers train."""
    from dlcompare_fastai.data import dataloaders

    run = make_run(tmp_path, split_dir)
    dls, test_dl, source = dataloaders(run)
    assert list(dls.vocab) == run.classes
    assert len(dls.train) == SIZES[0] // run.batch_size
    for split, dl in (("valid", dls.valid), ("test", test_dl)):
        images, labels = run.load(split)
        xs, ys = zip(*[(x.clone(), y.clone()) for x, y in dl])
        got = (torch.cat(xs) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        np.testing.assert_array_equal(got, images)
        np.testing.assert_array_equal(torch.cat(ys).numpy(), labels)
    train_rows = sorted(source.locate(i) for i in dls.train.items)
    assert train_rows == [("train", r) for r in range(SIZES[0])]


def test_augmentation_follows_params():
    from dlcompare_fastai.data import augmentation

    def affine_names(tfms):
        return [f.func.__name__ for f in tfms[0].aff_fs]

    thesis = augmentation({"do_flip": True, "flip_vert": True, "max_rotate": 10.0, "max_zoom": 1.1, "max_lighting": 0.2})
    assert type(thesis[0]).__name__ == "Dihedral"     # flip_vert: all 8 symmetries of the square
    assert affine_names(thesis) == ["dihedral_mat", "rotate_mat", "zoom_mat"]
    assert thesis[0].aff_fs[1].keywords["max_deg"] == 10.0 and thesis[0].aff_fs[2].keywords["max_zoom"] == 1.1
    assert thesis[1].max_lighting == pytest.approx(0.2)
    plain = augmentation({"do_flip": True, "flip_vert": False, "max_rotate": 0.0, "max_zoom": 1.0, "max_lighting": 0.3})
    assert type(plain[0]).__name__ == "Flip" and affine_names(plain) == ["flip_mat"]
    assert plain[1].max_lighting == pytest.approx(0.3)
    digits = augmentation({"do_flip": False, "flip_vert": False, "max_rotate": 10.0, "max_zoom": 1.1, "max_lighting": 0.2})
    assert affine_names(digits) == ["rotate_mat", "zoom_mat"]        # label-preserving: no flip at all
    assert not any("flip" in type(t).__name__.lower() or "dihedral" in type(t).__name__.lower() for t in digits)


def test_fast_path_uint8_items_batch_transforms_on_the_device_and_cast_to_tensor(tmp_path, split_dir):
    """Items are the cached uint8 pixels (nothing decoded or resized again), the augmentation is
    fastai's batch transforms (after collation, on the loader's device), and the learner casts
    fastai's tensor subclasses to plain tensors before the model (CastToTensor: no slow dispatch)."""
    from fastai.learner import CastToTensor
    from fastai.vision.augment import AffineCoordTfm

    from dlcompare_fastai import data, model

    run = make_run(tmp_path, split_dir)
    dls, _, source = data.dataloaders(run)
    item = source.image(0)
    assert item.dtype == torch.uint8 and tuple(item.shape) == (3, 16, 16)
    assert dls.train.device == torch.device("cpu")
    assert not dls.train.after_item.fs                    # no per-item transform (no decode, no resize)
    assert any(isinstance(t, AffineCoordTfm) for t in dls.train.after_batch.fs)
    learn = model.build_learner(run, dls, run.params)
    assert any(isinstance(cb, CastToTensor) for cb in learn.cbs)
    assert not any(isinstance(cb, model.DeviceMixedPrecision) for cb in learn.cbs)     # fp32 by default


def test_mixed_precision_autocasts_on_the_runs_device(tmp_path, split_dir):
    from dlcompare_fastai import data, model

    run = make_run(tmp_path, split_dir, precision="mixed")
    dls, _, _ = data.dataloaders(run)
    learn = model.build_learner(run, dls, run.params)
    [amp] = [cb for cb in learn.cbs if isinstance(cb, model.DeviceMixedPrecision)]
    amp.before_fit()
    with amp.autocast:
        out = learn.model(torch.zeros(2, 3, 16, 16))
    assert out.dtype == torch.bfloat16                    # fastai's own callback would leave float32 on CPU
    assert not amp.learn.scaler.is_enabled()              # bfloat16: no loss scaling


def test_phase1_freezes_the_body_but_not_batchnorm(tmp_path, split_dir):
    from fastai.callback.progress import ProgressCallback
    from dlcompare_fastai import data, model

    run = make_run(tmp_path, split_dir)
    dls, _, _ = data.dataloaders(run)
    learn = model.build_learner(run, dls, run.params)
    assert not any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
    body, head = learn.model[0], learn.model[1]
    head_params = sum(p.numel() for p in head.parameters())
    body_bn = sum(p.numel() for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d)
                  for p in m.parameters())
    total = sum(p.numel() for p in learn.model.parameters())
    counts = model.parameter_counts(learn)
    assert counts["layer_groups"] == 3
    assert counts["trainable"] == head_params + body_bn
    assert counts["frozen"] == total - head_params - body_bn
    assert all(not p.requires_grad for m in body.modules() if isinstance(m, torch.nn.Conv2d)
               for p in m.parameters())
    learn.unfreeze()
    assert model.parameter_counts(learn)["trainable"] == total


def test_batch_larger_than_train_split_is_a_user_error(tmp_path, split_dir):
    from dlcompare_fastai.data import dataloaders

    with pytest.raises(UserError, match="batch_size"):
        dataloaders(make_run(tmp_path, split_dir, batch_size=64))


def test_imagenet_weights_come_from_the_shared_hub_cache(tmp_path, split_dir, monkeypatch):
    """pretrained: imagenet loads IMAGENET1K_V1 through the torch hub cache (here pre-seeded,
    no network) into the body, adds ImageNet Normalize, and freezes the body."""
    from fastai.data.transforms import Normalize
    from dlcompare_fastai import data, model

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    reference = testing.seed_hub_weights("resnet18", 123)

    run = make_run(tmp_path, split_dir, pretrained="imagenet")
    dls, _, _ = data.dataloaders(run)
    learn = model.build_learner(run, dls, run.params)
    body_weight = learn.model[0][0].weight          # the body's first convolution
    torch.testing.assert_close(body_weight, reference.conv1.weight)
    norms = [t for t in dls.after_batch.fs if isinstance(t, Normalize)]
    assert len(norms) == 1
    np.testing.assert_allclose(norms[0].mean.flatten().cpu().numpy(), weights.IMAGENET_MEAN, rtol=1e-6)
    assert not body_weight.requires_grad


def test_tiny_run_writes_the_contract_artifacts(tiny_run):
    run, info, lines = tiny_run
    import fastai

    assert info["library_version"] == fastai.__version__
    assert set(info["versions"]) >= {"fastai", "torch", "cuda", "device_name", "python"}
    assert info["phase_seconds"]["phase1"] > 0 and info["phase_seconds"]["phase2"] > 0
    assert info["images_per_second"]["train"] > 0 and info["images_per_second"]["inference"] > 0
    assert info["param_count"] == sum(info["extras"]["parameter_counts"]["phase2"]["group_sizes"])
    with open(run.out_dir / HISTORY, encoding="utf-8") as fh:
        rows = fh.read().splitlines()[1:]
    assert [r.split(",")[:2] for r in rows] == [["1", "phase1"], ["1", "phase2"], ["2", "phase2"]]
    epoch_lines = [line for line in lines if " epoch " in line]
    assert len(epoch_lines) == 3 and epoch_lines[-1].startswith("fastai/resnet18/seed0 phase2 epoch 2/2")
    for split in ("valid", "test"):
        probs = np.load(run.out_dir / PROBS[split])
        assert probs.shape == (len(run.load(split)[1]), 3)
        assert np.ptp(probs, axis=0).max() > 0       # the model's output, not a constant
    assert not list(run.checkpoint_dir.glob("*/_tmp.pth"))   # lr_find cleaned up after itself


def test_tiny_run_used_the_configured_recipe(tiny_run):
    """What the optimizer actually saw: per-group peak rates, momentum cycle, weight decay."""
    _, info, _ = tiny_run
    extras = info["extras"]
    phase1, phase2 = extras["observed"]["phase1"], extras["observed"]["phase2"]
    # phase 1: one rate for every group (the frozen ones have nothing but BatchNorm to update)
    assert phase1["schedule"]["lr_max"] == pytest.approx([2e-3] * 3, rel=1e-3)
    # phase 2: slice(1e-5, 1e-3) spread geometrically over fastai's three layer groups
    assert phase2["schedule"]["lr_max"] == pytest.approx([1e-5, 1e-4, 1e-3], rel=1e-3)
    for obs, batches in ((phase1, 1 * 2), (phase2, 2 * 2)):
        sched = obs["schedule"]
        assert sched["lr_start"] == pytest.approx([lr / 25 for lr in sched["lr_max"]], rel=1e-3)
        assert (sched["mom_start"], sched["mom_min"], sched["mom_end"]) == pytest.approx((0.9, 0.8, 0.9), abs=1e-4)
        # what each batch's optimizer step really got
        assert obs["batches"] == batches
        assert obs["wd"] == [0.02] * 3
        assert all(0 < seen <= peak * 1.0001 for seen, peak in zip(obs["lr_max_seen"], sched["lr_max"]))
        assert obs["mom_first"] == pytest.approx(0.9) and 0.8 <= obs["mom_min"] < 0.9
    counts = extras["parameter_counts"]
    assert counts["phase1"]["trainable"] < counts["phase2"]["trainable"] == info["param_count"]
    assert counts["phase1"]["trainable"] > counts["phase1"]["head"]          # BatchNorm trains too
    recipe = extras["recipe"]
    assert recipe["phase1"] == {"epochs": 1, "lr": 2e-3}
    assert recipe["phase2"] == {"epochs": 2, "lr": [1e-5, 1e-3]}
    assert recipe["moms"] == [0.9, 0.8] and recipe["weight_decay"] == 0.02
    assert recipe["augment"]["flip"].startswith("dihedral")


def test_fastai_v1_schedule_and_optimizer_reach_fastai(tmp_path, split_dir):
    """The keys that express fastai v1's defaults (the thesis's library) get to fastai 2: Adam's
    eps, weight decay on BatchNorm and bias, and fit_one_cycle's pct_start / div / div_final.
    Defaults stay fastai 2.8's."""
    from dlcompare_fastai import data, model, recipe

    assert {k: resolve({})[k] for k in ("pct_start", "div", "div_final", "eps", "bn_wd")} == \
        {"pct_start": 0.25, "div": 25.0, "div_final": 1e5, "eps": 1e-5, "bn_wd": False}
    for section, eps, decays_bn in (({}, 1e-5, False),
                                    ({"pct_start": 0.3, "div_final": 2.5e5, "eps": 1e-8, "bn_wd": True}, 1e-8, True)):
        run = make_run(tmp_path, split_dir, params={**copy.deepcopy(PARAMS), **section})
        dls, _, _ = data.dataloaders(run)
        learn = model.build_learner(run, dls, run.params)
        learn.create_opt()
        assert {h["eps"] for h in learn.opt.hypers} == {eps}
        bn = [p for m in learn.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
              for p in m.parameters()]
        assert all(learn.opt.state[p].get("do_wd", True) == decays_bn for p in bn)
        seen = {}
        learn.fit_one_cycle = lambda epochs, lr, **kw: seen.update(kw)
        recipe.fit_phase(learn, run.params, "phase1", 1e-3, cbs=[])
        assert (seen["pct_start"], seen["div"], seen["div_final"]) == \
            (run.params["pct_start"], 25.0, run.params["div_final"])


def test_tiny_run_records_lr_find_and_interpretation(tiny_run):
    run, info, lines = tiny_run
    extras = info["extras"]
    for phase in ("phase1", "phase2"):
        found = extras["lr_find"][phase]
        assert set(found["suggestions"]) == {"valley", "slide", "minimum", "steep"}
        assert any(v is not None and v > 0 for v in found["suggestions"].values())
        assert 0 < len(found["curve"]["lr"]) <= LR_FIND_ITERATIONS
    assert sum("lr_find suggests" in line for line in lines) == 2
    interp = extras["interpretation"]
    valid_paths = [f"synthetic/valid/{i}.png" for i in range(SIZES[1])]
    assert 0 < len(interp["top_losses"]) <= 9
    losses = [t["loss"] for t in interp["top_losses"]]
    assert losses == sorted(losses, reverse=True)
    probs = np.load(run.out_dir / PROBS["valid"])
    _, labels = run.load("valid")
    for top in interp["top_losses"]:
        assert top["path"] == valid_paths[top["row"]]
        assert top["actual"] == run.classes[labels[top["row"]]]
        assert top["loss"] == pytest.approx(-math.log(probs[top["row"], labels[top["row"]]]), rel=1e-3)
    wrong = int((probs.argmax(1) != labels).sum())
    assert sum(c["count"] for c in interp["most_confused"]) == wrong
    # consulted, not obeyed (use_lr_find false): the phases trained at the params' rates
    assert extras["learning_rates"] == {"phase1": {"lr": 2e-3, "source": "params"},
                                        "phase2": {"lr": [1e-5, 1e-3], "source": "params"}}
    assert all(extras["lr_find"][p]["seconds"] > 0 for p in ("phase1", "phase2"))


def test_phase_lr_uses_the_finder_only_when_asked():
    from dlcompare_fastai import recipe

    found = {"suggestions": {"valley": 2e-3, "slide": None, "minimum": 1e-2, "steep": 1e-6}}
    cfg = resolve({"phase2": {"lr": [5e-6, 5e-4]}})
    assert cfg["lr_find_iterations"] == 100 and not cfg["use_lr_find"]      # fastai's num_it, consulted only
    assert recipe.phase_lr(cfg, "phase1", found) == (3e-3, "params")
    assert recipe.phase_lr(cfg, "phase2", found) == ([5e-6, 5e-4], "params")
    used = resolve({"use_lr_find": True})
    assert recipe.phase_lr(used, "phase1", found) == (2e-3, "lr_find valley")
    lr, source = recipe.phase_lr(used, "phase2", found)          # the configured spread (x100) kept
    assert lr == pytest.approx([2e-5, 2e-3]) and source == "lr_find valley"
    no_valley = {"suggestions": {"valley": None}}
    assert recipe.phase_lr(used, "phase1", no_valley) == (3e-3, "params")    # finder failed: the params
    with pytest.raises(UserError, match="fastai.lr_find_iterations: 0 is less than the minimum of 1"):
        resolve({"use_lr_find": True, "lr_find_iterations": 0})


def test_use_lr_find_trains_at_the_valley(tmp_path, split_dir):
    """use_lr_find: the optimizer really gets the finder's suggestion (phase 2: slice around it)."""
    params = {**copy.deepcopy(PARAMS), "use_lr_find": True,
              "phase1": {"epochs": 1, "lr": 2e-3}, "phase2": {"epochs": 1, "lr": [1e-5, 1e-3]}}
    run = make_run(tmp_path, split_dir, params=params)
    lines = train_logged(run)
    extras = json.loads((run.out_dir / RUN_INFO).read_text())["extras"]
    for phase in ("phase1", "phase2"):
        valley = extras["lr_find"][phase]["suggestions"]["valley"]
        used = extras["learning_rates"][phase]
        assert used["source"] == "lr_find valley" and valley > 0
        peaks = extras["observed"][phase]["schedule"]["lr_max"]
        if phase == "phase1":
            assert used["lr"] == pytest.approx(valley) and peaks == pytest.approx([valley] * 3, rel=1e-3)
        else:
            assert used["lr"] == pytest.approx([valley / 100, valley])
            assert peaks == pytest.approx([valley / 100, valley / 10, valley], rel=1e-3)
    assert sum("trains at" in line and "lr_find valley" in line for line in lines) == 2


def test_no_finder_when_iterations_are_zero(tmp_path, split_dir):
    params = {**copy.deepcopy(PARAMS), "lr_find_iterations": 0,
              "phase1": {"epochs": 1, "lr": 2e-3}, "phase2": {"epochs": 0, "lr": [1e-5, 1e-3]}}
    run = make_run(tmp_path, split_dir, params=params)
    lines = train_logged(run)
    extras = json.loads((run.out_dir / RUN_INFO).read_text())["extras"]
    assert extras["lr_find"] is None and not any("lr_find" in line for line in lines)


def test_batch_bar_only_on_a_terminal(tmp_path, split_dir, monkeypatch):
    """A live bar advances once per training batch when stdout is a terminal; nothing otherwise."""
    from dlcompare import progress
    from dlcompare_fastai import data, model
    from dlcompare_fastai.callbacks import BatchBar

    run = make_run(tmp_path, split_dir)
    dls, _, _ = data.dataloaders(run, augment=False)
    learn = model.build_learner(run, dls, run.params)
    calls = []

    @contextlib.contextmanager
    def fake_bar(total, description):
        calls.append(["open", total, description])
        yield lambda n=1: calls[-1].append(n)

    monkeypatch.setattr(progress, "batch_bar", fake_bar)
    learn.fit_one_cycle(2, 1e-3, cbs=[BatchBar("fastai/resnet18/seed0 phase1")])
    per_epoch = len(dls.train)
    assert calls == [["open", per_epoch, f"fastai/resnet18/seed0 phase1 {e}/2"] + [1] * per_epoch
                     for e in (1, 2)]
    monkeypatch.undo()
    monkeypatch.setattr(progress, "is_interactive", lambda: False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        learn.fit_one_cycle(1, 1e-3, cbs=[BatchBar("x")])
    assert out.getvalue() == ""


@pytest.mark.slow
def test_conformance_suite():
    done = subprocess.run([sys.executable, "-m", "dlcompare.cli", "check-plugin", "fastai"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
