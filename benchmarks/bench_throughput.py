"""Training and inference throughput (images/second) of each library's training step against a
bare PyTorch loop on the same model, data and batch size.

    python benchmarks/bench_throughput.py                          # CPU: resnet18, 32 px, batch 64
    python benchmarks/bench_throughput.py --device cuda --arch resnet50 --size 224 --images 2048 \\
        --peak-tflops 989                                          # GPU, with the share of peak
    python benchmarks/bench_throughput.py --threads 1 --clock cpu  # CPU-seconds: a loaded machine

Each entry of BENCHES is a setup function ``(cfg) -> (train_epoch, infer)``: two closures that
each pass once over ``cfg.images`` images (returning when the work is done, synchronised on
CUDA). The harness warms each entry up, then times the entries in turn, ``--repeats`` times,
interleaved so a busy shared machine slows them alike, and prints the best and median figures. To add a library,
write a setup function and decorate it with ``@bench("name")``. The target for the torch plugin
is to stay within 5 % of ``bare torch`` on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from dlcompare.testing import synthetic_images

BENCHES: dict = {}
BASELINE = "bare torch"


def bench(name: str):
    def register(setup):
        BENCHES[name] = setup
        return setup
    return register


def dataset(cfg):
    """The same uint8 NHWC images and labels for every entry."""
    return synthetic_images(cfg.images, cfg.classes, cfg.size, seed=0)


def torch_model(cfg):
    """The torch plugin's network (torchvision body + fastai-like head), seeded, all trainable."""
    from dlcompare_torch import model as model_lib

    torch.manual_seed(0)
    net = model_lib.build(cfg.arch, cfg.classes)
    model_lib.set_phase(net, "phase2")
    return net


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@bench(BASELINE)
def bare_torch(cfg):
    """The 20-line loop: same model and precision, no loaders, no schedule, no bookkeeping."""
    device = torch.device(cfg.device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    net = torch_model(cfg).to(device, memory_format=fmt)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    images, labels = dataset(cfg)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
    batches = [(i, i + cfg.batch) for i in range(0, len(y) - cfg.batch + 1, cfg.batch)]

    def batch(i, j):
        return x[i:j].to(device).to(memory_format=fmt).float().div_(255), y[i:j].to(device)

    def train_epoch():
        net.train()
        for i, j in batches:
            xb, yb = batch(i, j)
            with amp:
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync(device)

    @torch.inference_mode()
    def infer():
        net.eval()
        for i, j in batches:
            with amp:
                net(batch(i, j)[0]).float().softmax(1).cpu()

    return train_epoch, infer


@bench("torch plugin")
def torch_plugin(cfg):
    """The plugin's loaders, Engine and phase-2 optimizer and schedule: dlcompare_torch.bench."""
    from dlcompare_torch import bench as torch_bench

    return torch_bench.setup(cfg, augment=False)


@bench("torch plugin + augment")
def torch_plugin_augment(cfg):
    from dlcompare_torch import bench as torch_bench

    return torch_bench.setup(cfg, augment=True)


@bench("fastai plugin")
def fastai_plugin(cfg):
    """fastai's fit_one_cycle (phase 2, float32) and get_preds: dlcompare_fastai.bench."""
    from dlcompare_fastai import bench as fastai_bench

    return fastai_bench.setup(cfg, augment=False)


@bench("fastai plugin + augment")
def fastai_plugin_augment(cfg):
    from dlcompare_fastai import bench as fastai_bench

    return fastai_bench.setup(cfg, augment=True)


@bench("keras plugin")
def keras_plugin(cfg):
    """Keras 3 on TensorFlow: the plugin's model.fit (phase 2, float32) and predict: dlcompare_keras.bench."""
    from dlcompare_keras import bench as keras_bench

    return keras_bench.setup(cfg, augment=False)


@bench("keras plugin + augment")
def keras_plugin_augment(cfg):
    from dlcompare_keras import bench as keras_bench

    return keras_bench.setup(cfg, augment=True)


def train_flops_per_image(cfg) -> float:
    """Forward + backward FLOPs of one training image (torch's FLOP counter, on CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = torch_model(cfg).train()
    x = torch.randn(2, 3, cfg.size, cfg.size)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    return counter.get_total_flops() / 2


# wall: elapsed seconds (what a user waits). cpu: CPU seconds of this process, all its threads
# (images per CPU-second): far less sensitive to other jobs on a shared, loaded machine, so the
# fairer figure for "plugin vs bare loop" there; meaningful on CPU only (on CUDA the work is the
# GPU's, and loader worker processes are not counted).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(cfg, names):
    torch.set_num_threads(cfg.threads)
    setups = {name: BENCHES[name](cfg) for name in names}
    n_train = {}
    for name, (train_epoch, infer) in setups.items():
        for _ in range(cfg.warmup):
            train_epoch()
            infer()
    times = {name: {"train": [], "inference": []} for name in names}
    clock = CLOCKS[getattr(cfg, "clock", "wall")]
    for _ in range(cfg.repeats):
        for name, (train_epoch, infer) in setups.items():
            for kind, fn in (("train", train_epoch), ("inference", infer)):
                start = clock()
                fn()
                times[name][kind].append(clock() - start)
    images = (cfg.images // cfg.batch) * cfg.batch      # full batches only, in every entry
    for name in names:
        n_train[name] = {kind: [images / t for t in ts] for kind, ts in times[name].items()}
    return n_train


def table(cfg, results, flops=None) -> str:
    """Best (the run least disturbed by other load: the fair figure on a shared machine, as
    timeit reports) and median images/second; ``vs bare`` compares the best figures."""
    base = results.get(BASELINE)
    head = (f"{'entry':<24}{'train best':>11}{'median':>9}{'vs bare':>9}"
            f"{'infer best':>12}{'median':>9}{'vs bare':>9}")
    if flops:
        head += f"{'train TFLOP/s':>15}{'of peak':>9}"
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        row = f"{name:<24}"
        for kind, width in (("train", 11), ("inference", 12)):
            best, median = max(r[kind]), statistics.median(r[kind])
            rel = f"{best / max(base[kind]) - 1:+.1%}" if base else ""
            row += f"{best:>{width}.1f}{median:>9.1f}{rel:>9}"
        if flops:
            achieved = max(r["train"]) * flops / 1e12
            row += f"{achieved:>15.1f}" + (f"{achieved / cfg.peak_tflops:>9.1%}" if cfg.peak_tflops else "")
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=384, help="images per timed pass")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--workers", type=int, default=8, help="loader workers on CUDA")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per entry")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per entry (best and median shown)")
    parser.add_argument("--only", help="comma-separated entries (default: all)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for the share of peak")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: images per second; cpu: images per CPU-second of the process "
                             "(steadier on a loaded machine; CPU device only)")
    cfg = parser.parse_args(argv)
    names = cfg.only.split(",") if cfg.only else list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown entries {sorted(unknown)}; known: {list(BENCHES)}")
    if cfg.clock == "cpu" and not cfg.device.startswith("cpu"):
        parser.error("--clock cpu measures CPU work; use the wall clock on a GPU")
    device_name = torch.cuda.get_device_name() if cfg.device.startswith("cuda") else f"cpu, {cfg.threads} threads"
    print(f"{cfg.arch}, {cfg.size} px, batch {cfg.batch}, {cfg.images} images/pass, {device_name}, "
          f"torch {torch.__version__}, {cfg.repeats} repeats, {cfg.clock} clock")
    results = measure(cfg, names)
    flops = train_flops_per_image(cfg) if cfg.device.startswith("cuda") or cfg.peak_tflops else None
    if flops:
        print(f"training FLOPs per image (forward + backward): {flops / 1e9:.2f} GFLOP")
    print(table(cfg, results, flops))


if __name__ == "__main__":
    main()
