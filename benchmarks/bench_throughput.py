"""Seconds per training epoch of each plugin, as `dlcompare train` runs it, beside a bare loop of
the plugin's own library on the same model, data, augmentation and batch size.

    python benchmarks/bench_throughput.py                        # CPU: resnet18, 32 px, batch 64
    python benchmarks/bench_throughput.py --only keras --epochs 4
    python benchmarks/bench_throughput.py --device cuda --arch resnet50 --size 224 --batch 256 \\
        --images 4096 --precision mixed --workers 8               # a GPU (see bench_gpu.py)

**plugin**: the real run, through the core (``dlcompare.host.training.train``) on a synthetic
split written as `dlcompare split` writes one: the plugin's data pipeline with its augmentation,
its training step, the per-epoch validation and the checkpoints as a run makes them
(``train.checkpoint_every``, the default profile's unless ``--checkpoint-every`` says otherwise;
0 checkpoints every epoch). Phase 1 is skipped (0 epochs) so every epoch trains the whole network;
an epoch is the time between two epoch lines of the run's log (the line comes once the checkpoint
is snapshotted; its write to disk, in the background, overlaps the next epoch, as in a real run).
**bare**: the library's plain loop, no dlcompare (each plugin's ``bench.bare``): bare PyTorch
(Dataset + DataLoader + torchvision transforms), plain fastai (``ImageDataLoaders.from_folder`` +
``vision_learner`` + ``fit_one_cycle``), plain Keras (``model.fit`` on ``tf.data`` with the same
preprocessing layers); each validates once per epoch and saves nothing.

The first epoch (warm-up: model build, tracing, autotuning, loader start) is reported apart from
the steady state (the median of the later epochs). Each library runs in a subprocess of its own
(TensorFlow and torchvision do not share a process well), the plugin first (its thread settings
are a run's), so the bare loop's first warm-up comes after the libraries are loaded. ``--rounds``
repeats plugin then bare in that process: a shared or virtual machine's speed drifts by 10-20 %
over minutes, so each round's plugin/bare ratio is taken from two loops run back to back, and the
table gives the median round (steady seconds, ratios) and the ratios' range; ``--json`` keeps
every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARIES = ("torch", "fastai", "keras")
KINDS = ("plugin", "bare")
EPOCH_MARK = " epoch "       # dlcompare.progress.epoch_line: "<prefix> <phase> epoch k/n ..."


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(LIBRARIES), help="comma-separated libraries")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=512, help="training images (full batches are trained)")
    parser.add_argument("--valid", type=int, default=128, help="validation images (one pass per epoch)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3, help="steady-state epochs after the warm-up epoch")
    parser.add_argument("--rounds", type=int, default=3,
                        help="plugin-then-bare rounds per library (the table gives their median)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="train.workers (loader workers)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "mixed"))
    parser.add_argument("--autotune", action="store_true", help="train.autotune")
    parser.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                        help="train.checkpoint_every (default: params.yaml's; 0: every epoch)")
    parser.add_argument("--loops", default="plugin,bare", help="which loops: plugin, bare or both")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)   # one library, in-process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    cfg = parser.parse_args(argv)
    cfg.libraries = [lib for lib in cfg.only.split(",") if lib]
    unknown = sorted(set(cfg.libraries) - set(LIBRARIES))
    if unknown:
        parser.error(f"unknown libraries {unknown}; known: {', '.join(LIBRARIES)}")
    cfg.kinds = [kind for kind in KINDS if kind in cfg.loops.split(",")]
    if not cfg.kinds:
        parser.error(f"--loops must name plugin, bare or both, not {cfg.loops!r}")
    if cfg.epochs < 1:
        parser.error("--epochs must be at least 1 (the steady state needs an epoch after the warm-up)")
    if cfg.rounds < 1:
        parser.error("--rounds must be at least 1")
    if cfg.checkpoint_every is None:
        cfg.checkpoint_every = default_checkpoint_every()
    if cfg.checkpoint_every < 0:
        parser.error("--checkpoint-every must be 0 (every epoch) or more seconds")
    if cfg.images < cfg.batch:
        parser.error(f"--images ({cfg.images}) must be at least --batch ({cfg.batch})")
    return cfg


class EpochClock:
    """Seconds from the start to the first epoch's end (warm-up), then between epoch ends: wall
    seconds, and CPU seconds of this process (all its threads), which other jobs on a shared
    machine disturb far less (loader worker processes are not counted)."""

    def __init__(self):
        self.start = self.cpu_start = 0.0
        self.ends, self.cpu_ends = [], []
        self.restart()

    def restart(self) -> None:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def tick(self, *_) -> None:
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())

    def log(self, line: str) -> None:    # a run's log function: an epoch line ends an epoch
        if EPOCH_MARK in line and "/" in line:
            self.tick()

    def seconds(self, cpu: bool = False) -> list[float]:
        marks = [self.cpu_start, *self.cpu_ends] if cpu else [self.start, *self.ends]
        return [b - a for a, b in zip(marks, marks[1:])]


def summary(clock: EpochClock, images: int) -> dict:
    """Warm-up (first epoch) and steady state (median of the others), wall and CPU seconds."""
    out = {"images": images}
    for key, seconds in (("wall", clock.seconds()), ("cpu", clock.seconds(cpu=True))):
        steady = statistics.median(seconds[1:])
        out[key] = {"epochs": seconds, "warmup_s": seconds[0], "steady_s": steady,
                    "images_per_s": images / steady if steady > 0 else float("nan")}
    return out


def project(cfg, workdir: Path) -> dict:
    """The params a bench run trains with: the default profile's sections (the plugins'
    defaults), phase 1 skipped, phase 2 as long as the bench, fastai's lr_find off."""
    from dlcompare.testing import make_split

    make_split(workdir, n_classes=cfg.classes, sizes=(cfg.images, cfg.valid, cfg.valid), image_size=cfg.size)
    lib = cfg.worker
    phases = {"phase1": {"epochs": 0}, "phase2": {"epochs": 1 + cfg.epochs}}
    section = {"fastai": {"lr_find_iterations": 0}}.get(lib, {})
    defaults = load_default_section(lib)
    for phase, value in phases.items():
        section[phase] = {**defaults.get(phase, {}), **value}
    return {"data": {"dataset": "digits", "image_size": cfg.size},
            "train": {"libraries": [lib], "archs": [cfg.arch], "seeds": [0], "device": cfg.device,
                      "batch_size": cfg.batch, "threads": cfg.threads, "precision": cfg.precision,
                      "workers": cfg.workers, "autotune": cfg.autotune,
                      "checkpoint_every": cfg.checkpoint_every},
            lib: {**defaults, **section}}


def load_default_section(library: str) -> dict:
    """A section (a library's, or train) of the repository's params.yaml (the default profile)."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "params.yaml"
    return dict((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(library) or {})


def checkpoints(every: float) -> str:
    return f"checkpoints every {every:g} s and at the end" if every else "a checkpoint every epoch"


def default_checkpoint_every() -> float:
    """The default profile's train.checkpoint_every, else the schema's default (what a run gets)."""
    from dlcompare import params as params_lib

    schema = params_lib.load_schema()["properties"]["train"]["properties"]["checkpoint_every"]
    return float(load_default_section("train").get("checkpoint_every", schema["default"]))


def measure_plugin(cfg, workdir: Path) -> dict:
    from dlcompare import params as params_lib
    from dlcompare.host import training

    params = params_lib.validate(project(cfg, workdir))
    clock = EpochClock()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        clock.restart()
        training.train(params, cfg.worker, cfg.arch, 0, log=clock.log, fresh=True)
    finally:
        os.chdir(cwd)
    return summary(clock, (cfg.images // cfg.batch) * cfg.batch)


def measure_bare(cfg, workdir: Path) -> dict:
    import importlib

    from dlcompare.data import splitcache

    bench = importlib.import_module(f"dlcompare_{cfg.worker}.bench")
    split_dir = workdir / "data" / "split"
    arrays = {split: splitcache.load_split(split_dir, split) for split in ("train", "valid")}
    clock = EpochClock()
    bench.bare(cfg, arrays, splitcache.load_classes(split_dir), clock.tick, workdir / "bare")
    return summary(clock, (cfg.images // cfg.batch) * cfg.batch)


def worker(cfg) -> dict:
    """Both measurements of one library, ``cfg.rounds`` times, in this process (the plugin's run
    first, so TensorFlow's thread settings are the run's)."""
    rounds = {kind: [] for kind in cfg.kinds}
    with tempfile.TemporaryDirectory(prefix=f"dlcompare-bench-{cfg.worker}-") as tmp:
        workdir = Path(tmp)
        for _ in range(cfg.rounds):
            if "plugin" in cfg.kinds:
                rounds["plugin"].append(measure_plugin(cfg, workdir))
            if "bare" in cfg.kinds:
                if "plugin" not in cfg.kinds:
                    project(cfg, workdir)            # the split the bare loop reads
                rounds["bare"].append(measure_bare(cfg, workdir))
    return combine(rounds)


def combine(rounds: dict) -> dict:
    """Per loop: the first round's warm-up and epochs, the median round's steady state and every
    round's; with both loops, each round's plugin/bare throughput ratio (back-to-back runs)."""
    out = {}
    for kind, runs in rounds.items():
        out[kind] = {"images": runs[0]["images"]}
        for clock in ("wall", "cpu"):
            steady = [r[clock]["steady_s"] for r in runs]
            median = statistics.median(steady)
            out[kind][clock] = {**runs[0][clock], "steady_s": median, "rounds": steady,
                                "images_per_s": runs[0]["images"] / median if median > 0 else float("nan")}
    if "plugin" in rounds and "bare" in rounds:
        out["ratio"] = {clock: [b[clock]["steady_s"] / p[clock]["steady_s"]
                                for p, b in zip(rounds["plugin"], rounds["bare"])]
                        for clock in ("wall", "cpu")}
    return out


def run_library(cfg, library: str, argv: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="dlcompare-bench-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, __file__, *argv, "--worker", library, "--out", str(out)])
        if proc.returncode != 0 or not out.is_file():
            return {"error": f"exit status {proc.returncode}"}
        return json.loads(out.read_text(encoding="utf-8"))


def table(results: dict) -> str:
    """One row per (library, loop): warm-up and steady-state seconds per epoch (wall and CPU),
    images/second, the plugin's throughput over its bare loop's (the median of the rounds' ratios,
    their range beside it), and how much slower than the torch plugin each plugin's steady-state
    epoch is."""
    head = (f"{'library':<8}{'loop':<8}{'warm-up s':>10}{'steady s':>10}{'images/s':>10}{'plugin/bare':>12}"
            f"{'range':>11}{'x torch':>9} |{'CPU s':>8}{'images/CPU-s':>14}{'plugin/bare':>12}{'x torch':>9}")
    lines = [head, "-" * len(head)]
    torch_plugin = results.get("torch", {}).get("plugin")
    for library, result in results.items():
        if "error" in result:
            lines.append(f"{library:<8}failed ({result['error']})")
            continue
        for kind in [k for k in KINDS if k in result]:
            row = f"{library:<8}{kind:<8}"
            for clock in ("wall", "cpu"):
                r, ratios = result[kind][clock], result.get("ratio", {}).get(clock)
                ratio = f"{statistics.median(ratios):.2f}" if kind == "plugin" and ratios else ""
                spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if kind == "plugin" and ratios else ""
                slower = (f"{r['steady_s'] / torch_plugin[clock]['steady_s']:.2f}"
                          if kind == "plugin" and torch_plugin and library != "torch" else "")
                if clock == "wall":
                    row += (f"{r['warmup_s']:>10.1f}{r['steady_s']:>10.2f}{r['images_per_s']:>10.1f}{ratio:>12}"
                            f"{spread:>11}{slower:>9} |")
                else:
                    row += f"{r['steady_s']:>8.2f}{r['images_per_s']:>14.1f}{ratio:>12}{slower:>9}"
            lines.append(row)
    return "\n".join(lines)


def header(cfg) -> str:
    import platform

    from dlcompare.host.machine import cpu_model, vector_isa

    return (f"{cfg.arch}, {cfg.size} px, batch {cfg.batch}, {cfg.images} train + {cfg.valid} valid images, "
            f"{cfg.device}, {cfg.threads} threads, {cfg.workers} workers, {cfg.precision}, "
            f"{checkpoints(cfg.checkpoint_every)}; "
            f"warm-up epoch + {cfg.epochs} steady, {cfg.rounds} round(s); {platform.node()}: {cpu_model()} ({vector_isa() or 'no SIMD flags'}), "
            f"{os.cpu_count()} CPUs, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    cfg = parse(argv)
    if cfg.worker:
        cfg.out.write_text(json.dumps(worker(cfg)), encoding="utf-8")
        return
    print(header(cfg), flush=True)
    results = {library: run_library(cfg, library, argv) for library in cfg.libraries}
    print(table(results))
    if cfg.json:
        cfg.json.write_text(json.dumps({"config": header(cfg), "results": results}, indent=2), encoding="utf-8")
    if any("error" in r for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
