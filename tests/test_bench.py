"""The benchmark harness and the prepared GPU check, without timing anything: argument parsing,
the epoch clock, the table, the params a bench run trains with, FLOP counting, the peak table and
the clear exit when no GPU is visible."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlcompare import params as params_lib

ROOT = Path(__file__).resolve().parents[1]


def load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load("benchmarks/bench_throughput.py")
bench_gpu = load("workflow/scripts/bench_gpu.py")


def test_arguments_are_checked():
    cfg = bench.parse([])
    assert cfg.libraries == ["torch", "fastai", "keras"] and cfg.kinds == ["plugin", "bare"]
    assert (cfg.arch, cfg.size, cfg.batch, cfg.precision, cfg.workers) == ("resnet18", 32, 64, "fp32", 0)
    assert bench.parse(["--only", "keras", "--loops", "plugin"]).kinds == ["plugin"]
    assert cfg.rounds == 3
    for bad in (["--only", "jax"], ["--epochs", "0"], ["--images", "8", "--batch", "64"], ["--loops", "x"],
                ["--rounds", "0"], ["--checkpoint-every", "-1"]):
        with pytest.raises(SystemExit):
            bench.parse(bad)


def test_warm_up_epoch_is_apart_from_the_steady_state():
    clock = bench.EpochClock()
    clock.start, clock.cpu_start = 0.0, 0.0
    clock.ends, clock.cpu_ends = [10.0, 12.0, 15.0, 17.0], [5.0, 6.0, 7.5, 8.5]
    out = bench.summary(clock, images=128)
    assert out["wall"]["warmup_s"] == 10.0 and out["wall"]["steady_s"] == 2.0     # median of 2, 3, 2
    assert out["wall"]["images_per_s"] == 64.0
    assert out["cpu"]["epochs"] == [5.0, 1.0, 1.5, 1.0] and out["cpu"]["steady_s"] == 1.0


def test_an_epoch_ends_at_the_runs_epoch_line():
    clock = bench.EpochClock()
    clock.log("torch/resnet18/seed0: training on cpu (10 classes)")
    clock.log("torch/resnet18/seed0 phase2 epoch 1/4 train_loss 2.3 valid_loss 1.9 valid_accuracy 0.3 3.1s")
    assert len(clock.ends) == 1


def one_round(steady: float) -> dict:
    return {"images": 512, **{clock: {"epochs": [9.0, steady], "warmup_s": 9.0, "steady_s": steady,
                                      "images_per_s": 512 / steady} for clock in ("wall", "cpu")}}


def result(plugin_steady, bare_steady) -> dict:
    """A worker's result from rounds of these steady seconds (one number: one round)."""
    plugin = plugin_steady if isinstance(plugin_steady, list) else [plugin_steady]
    bare = bare_steady if isinstance(bare_steady, list) else [bare_steady]
    return bench.combine({"plugin": [one_round(s) for s in plugin], "bare": [one_round(s) for s in bare]})


def test_rounds_give_the_median_and_back_to_back_ratios():
    out = result([4.0, 5.0, 4.4], [4.0, 4.0, 4.4])
    assert out["plugin"]["wall"]["steady_s"] == 4.4 and out["plugin"]["wall"]["rounds"] == [4.0, 5.0, 4.4]
    assert out["plugin"]["wall"]["images_per_s"] == pytest.approx(512 / 4.4)
    assert out["ratio"]["wall"] == pytest.approx([1.0, 0.8, 1.0])    # each round's bare over its plugin


def test_table_gives_the_ratios():
    text = bench.table({"torch": result(4.0, 4.4), "keras": result([6.0, 6.0, 5.0], [5.0, 4.0, 5.0]),
                        "fastai": {"error": "exit status 1"}})
    rows = {tuple(line.split()[:2]): line.split() for line in text.splitlines()[2:]}
    assert rows[("torch", "plugin")][5:7] == ["1.10", "1.10-1.10"]     # plugin/bare: 4.4 s vs 4.0 s an epoch
    # keras: rounds' ratios 0.83, 0.67, 1.00 (median 0.83); its median epoch 6.0 s is 1.5x torch's
    assert rows[("keras", "plugin")][5:8] == ["0.83", "0.67-1.00", "1.50"]
    assert "failed" in text


def test_a_bench_run_trains_the_whole_network_with_valid_params(tmp_path):
    cfg = bench.parse(["--images", "64", "--valid", "16", "--epochs", "2", "--precision", "mixed"])
    for library in ("torch", "fastai", "keras"):
        cfg.worker = library
        params = params_lib.validate(bench.project(cfg, tmp_path / library))
        assert params[library]["phase1"]["epochs"] == 0 and params[library]["phase2"]["epochs"] == 3
        assert params["train"]["precision"] == "mixed" and params["train"]["workers"] == 0
    assert params_lib.validate(bench.project(cfg, tmp_path / "f"))["keras"]["augment"]   # the profile's augmentation
    assert (tmp_path / "torch" / "data" / "split").is_dir()
    # checkpoints as the default profile makes them, unless --checkpoint-every says otherwise
    profile = bench.load_default_section("train")["checkpoint_every"]
    assert params["train"]["checkpoint_every"] == profile
    cfg.checkpoint_every = 0.0
    assert params_lib.validate(bench.project(cfg, tmp_path / "g"))["train"]["checkpoint_every"] == 0


def test_training_flops_are_counted_on_the_torch_plugins_network():
    flops = bench_gpu.train_flops_per_image("resnet18", 32)
    # resnet18 forward at 224 px: 1.82 GMAC = 3.6 GFLOP; at 32 px 1/49 of it; backward about twice that
    assert 0.15e9 < flops < 0.3e9


def test_peak_table_picks_the_most_specific_name():
    assert bench_gpu.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0      # the SXM card
    assert bench_gpu.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench_gpu.peak_tflops("NVIDIA H200") == 989.0
    assert bench_gpu.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert bench_gpu.peak_tflops("Some Future GPU") is None


def test_share_of_peak():
    results = {"batch 256 mixed": {"results": {"torch": result(0.5, 0.6)}}}
    text = bench_gpu.share_table(results, flops=10e9, peak=100.0)
    line = next(line for line in text.splitlines() if " plugin" in line)
    assert line.split()[-3:] == ["1024", "10.2", "10.2%"]         # 1024 img/s x 10 GFLOP = 10.24 TFLOP/s


def test_plan_needs_no_gpu_and_names_every_configuration(capsys):
    assert bench_gpu.main(["--plan"]) == 0
    out = capsys.readouterr().out
    assert out.count("--device cuda") == 3 and "--precision fp32" in out and "--batch 32" in out
    assert out.count("train --library") == 3 and "train.device=cuda" in out


def test_no_gpu_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setattr(bench_gpu.shutil, "which", lambda name: None)
    assert bench_gpu.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no NVIDIA GPU is visible" in err


def test_make_bench_gpu_exits_clearly_here():
    if bench_gpu.gpu_name() is not None:
        pytest.skip("a GPU is visible")
    proc = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/bench_gpu.py")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no NVIDIA GPU" in proc.stderr and "Traceback" not in proc.stderr
