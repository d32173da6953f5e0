"""The prepared GPU check (`make bench-gpu`): on a machine with an NVIDIA GPU, in about 5 minutes.

1. prints nvidia-smi's GPU name (and exits with one clear line when no GPU is visible);
2. runs benchmarks/bench_throughput.py for the three plugins on resnet50 at 224 px: batch 256 in
   fp32 and mixed precision, and the thesis's batch 32 in mixed precision (plugins only; the bare
   loops beside them at batch 256 mixed), with train.workers and train.autotune on;
3. reports images/second and the share of the GPU's peak dense fp16/bf16 tensor FLOP/s (training
   FLOPs per image counted with torch.utils.flop_counter on the torch plugin's network; peaks from
   PEAK_TFLOPS, keyed by GPU name);
4. runs a tiny 3-library pipeline (download, clean, split, one run per library) with
   train.device: cuda, end to end, in a scratch folder.

    python workflow/scripts/bench_gpu.py                 # everything
    python workflow/scripts/bench_gpu.py --plan          # print the commands, run nothing
    python workflow/scripts/bench_gpu.py --peak-tflops 400 --skip-pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_throughput.py"
# Dense (no sparsity) fp16/bf16 tensor-core peak, TFLOP/s, from the vendors' data sheets; the
# longest name contained in nvidia-smi's name wins. GTX 1070: no tensor cores, its fp32 peak.
PEAK_TFLOPS = {
    "H200": 989.0, "H100": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0,   # "H100 80GB HBM3": SXM
    "GH200": 989.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0,
    "A10": 125.0, "A6000": 155.0, "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0, "RTX 3090": 71.0,
    "GTX 1070": 6.5,
}
# (batch, precision, loops): the headline configuration also measures the bare library loops.
CONFIGS = ((256, "mixed", "plugin,bare"), (256, "fp32", "plugin"), (32, "mixed", "plugin"))


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="steady-state epochs after the warm-up")
    parser.add_argument("--workers", type=int, default=8, help="train.workers")
    parser.add_argument("--only", default="torch,fastai,keras", help="libraries")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's peak (default: PEAK_TFLOPS by name)")
    parser.add_argument("--skip-pipeline", action="store_true", help="no tiny end-to-end pipeline")
    parser.add_argument("--plan", action="store_true", help="print what would run; need no GPU")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench_gpu.json")
    return parser.parse_args(argv)


def gpu_name() -> str | None:
    """The first GPU's name as nvidia-smi gives it, or None (no nvidia-smi, or no GPU)."""
    if shutil.which("nvidia-smi") is None:
        return None
    proc = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                          capture_output=True, text=True)
    names = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    return names[0] if proc.returncode == 0 and names else None


def peak_tflops(name: str) -> float | None:
    matches = [key for key in PEAK_TFLOPS if key.lower() in name.lower()]
    return PEAK_TFLOPS[max(matches, key=len)] if matches else None


def train_flops_per_image(arch: str, size: int, classes: int = 10) -> float:
    """Forward + backward FLOPs of one training image of the torch plugin's network (CPU)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dlcompare_torch import model as model_lib

    net = model_lib.build(arch, classes).train()
    x = torch.randn(2, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    return counter.get_total_flops() / 2


def bench_commands(cfg, out_dir: Path) -> list[tuple[str, list[str]]]:
    commands = []
    for batch, precision, loops in CONFIGS:
        label = f"batch {batch} {precision}"
        out = out_dir / f"bench-b{batch}-{precision}.json"
        commands.append((label, [sys.executable, str(BENCH), "--device", "cuda", "--arch", cfg.arch,
                                 "--size", str(cfg.size), "--batch", str(batch), "--images", str(cfg.images),
                                 "--valid", str(max(batch, cfg.images // 8)), "--epochs", str(cfg.epochs), "--rounds", "1",
                                 "--precision", precision, "--workers", str(cfg.workers), "--autotune",
                                 "--only", cfg.only, "--loops", loops, "--json", str(out)]))
    return commands


def pipeline_commands(workdir: Path) -> list[list[str]]:
    """download, clean, split and one cuda run per library, on the default profile (digits, 32 px),
    one epoch per phase."""
    dl = [str(Path(sys.executable).with_name("dlcompare"))]
    sets = ["--set", "train.device=cuda", "--set", "train.seeds=[0]"]
    for lib in ("torch", "fastai", "keras"):
        sets += ["--set", f"{lib}.phase1.epochs=1", "--set", f"{lib}.phase2.epochs=1"]
    out = [dl + [stage] + sets for stage in ("download", "clean", "split")]
    out += [dl + ["train", "--library", lib, "--arch", "resnet18", "--seed", "0"] + sets
            for lib in ("torch", "fastai", "keras")]
    return out


def share_table(results: dict, flops: float, peak: float | None) -> str:
    """images/second (steady state, wall clock) and the share of peak per config and library."""
    head = f"{'config':<18}{'library':<8}{'loop':<8}{'images/s':>10}{'TFLOP/s':>9}{'of peak':>9}"
    lines = [head, "-" * len(head)]
    for label, result in results.items():
        for library, loops in result.get("results", {}).items():
            for kind, r in loops.items():
                if kind not in ("plugin", "bare"):
                    continue
                rate = r["wall"]["images_per_s"]
                achieved = rate * flops / 1e12
                share = f"{achieved / peak:.1%}" if peak else "?"
                lines.append(f"{label:<18}{library:<8}{kind:<8}{rate:>10.0f}{achieved:>9.1f}{share:>9}")
    return "\n".join(lines)


def main(argv=None) -> int:
    cfg = parse(argv)
    name = gpu_name()
    if cfg.plan:
        with tempfile.TemporaryDirectory() as tmp:
            for label, command in bench_commands(cfg, Path(tmp)):
                print(f"{label}: {' '.join(command)}")
            for command in pipeline_commands(Path(tmp)):
                print(f"pipeline: {' '.join(command)}")
        return 0
    if name is None:
        print("bench-gpu: no NVIDIA GPU is visible here (nvidia-smi missing or lists none): run it on a "
              "machine with a CUDA GPU (make setup GPU=1 first); `--plan` prints what it would run",
              file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print(f"bench-gpu: nvidia-smi lists {name} but torch cannot use it (CUDA {torch.version.cuda}): "
              f"check the driver and the CUDA build of torch", file=sys.stderr)
        return 2
    peak = cfg.peak_tflops or peak_tflops(name)
    flops = train_flops_per_image(cfg.arch, cfg.size)
    print(f"GPU: {name}; peak dense fp16/bf16 {peak if peak else 'unknown (pass --peak-tflops)'} TFLOP/s; "
          f"{cfg.arch} at {cfg.size} px: {flops / 1e9:.1f} GFLOP per training image", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="dlcompare-bench-gpu-") as tmp:
        for label, command in bench_commands(cfg, Path(tmp)):
            print(f"== {label}", flush=True)
            proc = subprocess.run(command, cwd=ROOT)
            out = Path(command[command.index("--json") + 1])
            results[label] = json.loads(out.read_text()) if out.is_file() else {"error": proc.returncode}
        print(share_table(results, flops, peak))
        status = 0
        if not cfg.skip_pipeline:
            workdir = Path(tmp) / "pipeline"
            workdir.mkdir()
            shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")
            for command in pipeline_commands(workdir):
                print("== pipeline:", " ".join(command[1:3]), flush=True)
                if subprocess.run(command, cwd=workdir).returncode != 0:
                    status = 1
                    break
            results["pipeline"] = "ok" if status == 0 else "failed"
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps({"gpu": name, "peak_tflops": peak, "train_flops_per_image": flops,
                                   "results": results}, indent=2), encoding="utf-8")
    print(f"wrote {cfg.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
