"""The two-phase training loop (phase1: head + body BatchNorm, phase2: everything), written out.

The bookkeeping (checkpoints, resume, history, throughput, run.json) is dlcompare's Ledger; this
module holds only the torch part. ``train.precision: mixed``: autocast (bf16 where the device has
it, else fp16 with a grad scaler); ``train.autotune``: cuDNN autotuning; ``train.workers``: loader
workers. On CUDA: channels_last, the split and its augmentation on the device (data.py). On CPU: ``run.threads`` threads and
``torch.use_deterministic_algorithms``, so a fixed seed gives identical results. Input pixels are
normalised with the ImageNet statistics whether or not the weights are pretrained (one pipeline
for both; for random init the first BatchNorm absorbs the scale anyway).
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F

from dlcompare import PHASES, Ledger, Run, loss_and_accuracy, phase_lrs, timed
from dlcompare.kit import torch_runtime, weights

from . import data, model as model_lib, recipe


class Engine:
    """Model, device and precision settings for one run; train/evaluate/predict one pass."""

    def __init__(self, net: torch.nn.Module, device: torch.device, precision: str = "fp32"):
        self.device = device
        self.cuda = device.type == "cuda"
        self.amp_dtype = torch_runtime.amp_dtype(device, precision)
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


@torch_runtime.in_session
def train(run: Run, device: torch.device) -> None:
    cfg, cuda = run.params, device.type == "cuda"
    torch.manual_seed(run.seed)
    net = model_lib.build(run.arch, run.n_classes, run.pretrained, log=run.log)
    engine = Engine(net, device, run.precision)
    groups = model_lib.layer_groups(run.arch, engine.net)
    train_loader, eval_loaders = data.run_loaders(run, cfg["augment"], device)
    valid_y = eval_loaders["valid"].dataset.labels

    def load(path):
        state = torch.load(path, map_location="cpu", weights_only=True)
        engine.net.load_state_dict(state["model"])
        torch_runtime.set_rng_state(state["rng"], train_loader.generator)
        return state

    ledger = Ledger(run, n_train=len(train_loader.dataset))
    restored = ledger.restore(load)
    trainable, lrs_used = {}, {}
    for phase in PHASES:
        epochs = int(cfg[phase]["epochs"])
        model_lib.set_phase(engine.net, phase)
        trainable[phase] = model_lib.count_params(engine.net, trainable_only=True)
        lrs = lrs_used[phase] = phase_lrs(cfg, phase, len(groups))
        if ledger.finished(phase):
            continue
        optimizer = recipe.make_optimizer(cfg, recipe.param_groups(groups, lrs, cfg["weight_decay"], cfg["bn_wd"]))
        scheduler = recipe.make_scheduler(cfg, optimizer, epochs * len(train_loader))
        if ledger.resuming(phase):
            optimizer.load_state_dict(restored["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(restored["scheduler"])
            engine.scaler.load_state_dict(restored["scaler"])

        def save(path, optimizer=optimizer, scheduler=scheduler):
            return torch_runtime.save_later({
                "model": engine.net.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": engine.scaler.state_dict(), "rng": torch_runtime.rng_state(train_loader.generator)}, path)

        for epoch in ledger.epochs(phase, epochs):
            start = time.perf_counter()
            with ledger.bar(phase, epoch, epochs, len(train_loader)) as advance:
                train_loss, seen, seconds = engine.train_epoch(train_loader, optimizer, scheduler, advance)
            valid_loss, valid_accuracy = loss_and_accuracy(engine.predict(eval_loaders["valid"]), valid_y)
            ledger.record(phase, epoch, epochs, train_loss=train_loss, valid_loss=valid_loss,
                          valid_accuracy=valid_accuracy, images=seen, train_seconds=seconds,
                          seconds=time.perf_counter() - start, save=save)

    probs, inference_seconds = timed(lambda: {split: engine.predict(eval_loaders[split]).numpy()
                                              for split in ("valid", "test")})
    ledger.finish(probs, inference_seconds, library_version=torch.__version__,
                  versions=torch_runtime.versions(device), param_count=model_lib.count_params(engine.net),
                  peak_memory_mb=torch_runtime.peak_memory_mb(device), extras={
                      "torchvision_model": weights.torchvision_name(run.arch),
                      "weights": weights.WEIGHTS_TAG if run.pretrained == "imagenet" else None,
                      "head": model_lib.HEAD,
                      "normalisation": "imagenet",
                      "layer_groups": list(model_lib.GROUP_NAMES),
                      "learning_rates": lrs_used,
                      "trainable_params": trainable,
                      "optimizer": cfg["optimizer"], "one_cycle": cfg["one_cycle"],
                      "amp": str(engine.amp_dtype).replace("torch.", "") if engine.amp_dtype else None,
                      "channels_last": engine.cuda,
                      "deterministic": not engine.cuda,
                  })
