"""The two-phase training loop (phase1: head + body BatchNorm, phase2: everything), written out.

On CUDA: autocast (bf16 where supported, else fp16 with a grad scaler), channels_last, pinned
memory, non-blocking copies, loader workers, cuDNN autotuning. On CPU: ``run.threads`` threads and
``torch.use_deterministic_algorithms``, so a fixed seed gives identical results. Input pixels are
normalised with the ImageNet statistics whether or not the weights are pretrained (one pipeline
for both; for random init the first BatchNorm absorbs the scale anyway).
"""

from __future__ import annotations

import contextlib
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from dlcompare import progress
from dlcompare.kit import weights
from dlcompare.kit.torch_runtime import peak_memory_mb
from dlcompare.host.contract import Run
from dlcompare.glossary import PHASES

from . import checkpoint, data, model as model_lib, recipe


class Engine:
    """Model, device and precision settings for one run; train/evaluate/predict one pass."""

    def __init__(self, net: torch.nn.Module, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.amp_dtype = None
        if self.cuda:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.net = net.to(device, memory_format=torch.channels_last) if self.cuda else net.to(device)
        self.inputs = data.Inputs(device, channels_last=self.cuda)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_epoch(self, loader, optimizer, scheduler=None, advance=lambda n=1: None) -> tuple[float, int, float]:
        """One pass over ``loader``: (mean train loss, images seen, seconds in training steps)."""
        self.net.train()
        total = torch.zeros((), device=self.device)
        seen = 0
        start = time.perf_counter()
        for images, labels in loader:
            x = self.inputs(images)
            y = labels.to(self.device, non_blocking=True)
            with self.autocast():
                loss = F.cross_entropy(self.net(x), y)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach().float() * len(y)
            seen += len(y)
            advance()
        mean = total.item() / max(seen, 1)   # the only host sync of the epoch
        return mean, seen, time.perf_counter() - start

    @torch.inference_mode()
    def predict(self, loader) -> torch.Tensor:
        """Softmax probabilities (float32, on the CPU) in loader order."""
        self.net.eval()
        out = []
        for images, _ in loader:
            with self.autocast():
                logits = self.net(self.inputs(images))
            out.append(torch.softmax(logits.float(), dim=1).cpu())
        return torch.cat(out)


def loss_and_accuracy(probs: torch.Tensor, labels: np.ndarray) -> tuple[float, float]:
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), y).item()
    return loss, (probs.argmax(dim=1) == y).float().mean().item()


def versions(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    return {
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device_name": torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine()),
        "python": platform.python_version(),
    }


@contextlib.contextmanager
def cpu_settings(device: torch.device, threads: int):
    """Threads and determinism for this run only (restored afterwards: tests share a process)."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    old_bench = torch.backends.cudnn.benchmark
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
        torch.backends.cudnn.benchmark = old_bench


def train(run: Run) -> None:
    device = torch.device(run.device)
    with cpu_settings(device, run.threads):
        _train(run, device)


def _train(run: Run, device: torch.device) -> None:
    cfg = recipe.settings(run.params)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(run.seed)
    net = model_lib.build(run.arch, run.n_classes, run.pretrained, log=run.log)
    engine = Engine(net, device)
    groups = model_lib.layer_groups(run.arch, engine.net)

    train_loader, eval_loaders = data.run_loaders(run, cfg["augment"], cuda)
    train_y = train_loader.dataset.labels
    valid_y, test_y = (eval_loaders[split].dataset.labels for split in ("valid", "test"))

    key = checkpoint.fingerprint(arch=run.arch, seed=run.seed, pretrained=run.pretrained,
                                 image_size=run.image_size, batch_size=run.batch_size,
                                 device=device.type, cfg=cfg, n_train=len(train_y),
                                 classes=run.classes)
    state = checkpoint.load(run.checkpoint_dir, key, log=run.log)
    history, counters, done = [], {"train_images": 0, "train_seconds": 0.0}, (None, 0)
    if state is not None:
        engine.net.load_state_dict(state["model"])
        checkpoint.set_rng_state(state["rng"], train_loader.generator)
        history, counters, done = state["history"], state["counters"], (state["phase"], state["epoch"])
        run.log(f"{run.prefix}: resuming after {done[0]} epoch {done[1]}")

    trainable = {}
    lrs_used = {}
    for phase in PHASES:
        epochs = int(cfg[phase]["epochs"])
        model_lib.set_phase(engine.net, phase)
        trainable[phase] = model_lib.count_params(engine.net, trainable_only=True)
        lrs = lrs_used[phase] = recipe.phase_lrs(cfg, phase, len(groups))
        if done[0] is not None and PHASES.index(phase) < PHASES.index(done[0]):
            continue   # finished before the restart
        optimizer = recipe.make_optimizer(cfg, recipe.param_groups(groups, lrs, cfg["weight_decay"]))
        scheduler = recipe.make_scheduler(cfg, optimizer, epochs * len(train_loader))
        first = 1
        if done[0] == phase:
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            engine.scaler.load_state_dict(state["scaler"])
            first = done[1] + 1
        for epoch in range(first, epochs + 1):
            start = time.perf_counter()
            with progress.batch_bar(len(train_loader), f"{run.prefix} {phase} {epoch}/{epochs}") as advance:
                train_loss, seen, seconds = engine.train_epoch(train_loader, optimizer, scheduler, advance)
            valid_loss, valid_accuracy = loss_and_accuracy(engine.predict(eval_loaders["valid"]), valid_y)
            counters["train_images"] += seen
            counters["train_seconds"] += seconds
            row = {"epoch": epoch, "phase": phase, "train_loss": train_loss, "valid_loss": valid_loss,
                   "valid_accuracy": valid_accuracy, "seconds": time.perf_counter() - start}
            history.append(row)
            checkpoint.save(run.checkpoint_dir, {
                "fingerprint": key, "phase": phase, "epoch": epoch, "history": history,
                "counters": counters, "model": engine.net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": engine.scaler.state_dict(), "rng": checkpoint.rng_state(train_loader.generator)})
            run.log_epoch(phase, epoch, epochs, train_loss=train_loss, valid_loss=valid_loss,
                          valid_accuracy=valid_accuracy, seconds=row["seconds"])

    start = time.perf_counter()
    probs = {split: engine.predict(eval_loaders[split]) for split in ("valid", "test")}
    inference_seconds = time.perf_counter() - start
    for split, p in probs.items():
        run.save_probabilities(split, p.numpy())
    run.save_history(history)
    n_eval = len(valid_y) + len(test_y)
    run.save_info({
        "library_version": torch.__version__,
        "versions": versions(device),
        "param_count": model_lib.count_params(engine.net),
        "phase_seconds": {phase: sum(r["seconds"] for r in history if r["phase"] == phase) for phase in PHASES},
        "images_per_second": {
            "train": counters["train_images"] / counters["train_seconds"] if counters["train_seconds"] else None,
            "inference": n_eval / inference_seconds if inference_seconds else None},
        "peak_memory_mb": peak_memory_mb(device),
        "extras": {
            "torchvision_model": weights.torchvision_name(run.arch),
            "weights": weights.WEIGHTS_TAG if run.pretrained == "imagenet" else None,
            "head": "fastai create_head: concat pool, BN, Dropout 0.25, Linear 512, ReLU, BN, Dropout 0.5, Linear",
            "normalisation": "imagenet",
            "layer_groups": list(model_lib.GROUP_NAMES),
            "learning_rates": lrs_used,
            "trainable_params": trainable,
            "optimizer": cfg["optimizer"], "one_cycle": cfg["one_cycle"],
            "amp": str(engine.amp_dtype).replace("torch.", "") if engine.amp_dtype else None,
            "channels_last": engine.cuda,
            "deterministic": not engine.cuda,
            "resumed_after": {"phase": done[0], "epoch": done[1]} if done[0] else None,
        },
    })
