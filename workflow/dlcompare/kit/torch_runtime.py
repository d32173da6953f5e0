"""Torch facts shared by the torch-based plugins (torch, fastai), so both set up and report alike.

Imports torch lazily: the core and `dlcompare plugins` must not pay for (or break on) torch.
"""

from __future__ import annotations

import contextlib
import functools

from dlcompare.kit.measures import peak_rss_mb, versions as base_versions


def gpu_count() -> int:
    """CUDA devices torch sees here (it honours CUDA_VISIBLE_DEVICES)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def peak_memory_mb(device) -> float:
    """CUDA: most memory allocated by tensors; CPU: the process's peak resident set."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def versions(device, *distributions: str) -> dict:
    """torch, torchvision, CUDA, cuDNN and the device's name, plus ``distributions``."""
    import torch

    cuda = device.type == "cuda"
    return base_versions("torch", "torchvision", *distributions,
                         device_name=torch.cuda.get_device_name(device) if cuda else None,
                         cuda=torch.version.cuda if cuda else None,
                         cudnn=torch.backends.cudnn.version() if cuda else None)


@contextlib.contextmanager
def settings(device, threads: int, autotune: bool = False):
    """``threads`` CPU threads, deterministic kernels on CPU (:func:`deterministic`), cuDNN
    autotuning on CUDA when ``autotune`` (train.autotune); for this run only (restored afterwards:
    tests share a process)."""
    import torch

    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.utils.deterministic.fill_uninitialized_memory,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.set_num_threads(threads)
    if device.type == "cpu":
        deterministic()
    else:
        torch.backends.cudnn.benchmark = bool(autotune)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
        torch.utils.deterministic.fill_uninitialized_memory = saved[2]
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[3:]


def deterministic() -> None:
    """Deterministic kernels, without filling each new tensor's memory with NaN first: that fill
    (on by default with determinism) only matters to code that reads memory it never wrote, which
    no training step does, and it costs a pass over every allocation (a fifth of a CPU warm-up
    epoch; the results are byte-identical without it)."""
    import torch

    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False


def amp_dtype(device, precision: str):
    """The autocast dtype of train.precision on ``device``: None for fp32; for mixed, bfloat16
    (CPUs, and GPUs that have it: no loss scaling needed), else float16 (with a grad scaler)."""
    import torch

    if precision != "mixed":
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def save_later(state, path):
    """What a save function returns to ``ledger.record`` for a background write: ``state`` (state
    dicts, RNG states) deep-copied now, tensors cloned where they are (on the GPU a device copy,
    no transfer), and the function that ``torch.save``s the copy to ``path``."""
    import copy

    import torch

    snapshot = copy.deepcopy(state)
    return lambda: torch.save(snapshot, path)


def rng_state(generator=None) -> dict:
    """torch's (and CUDA's) RNG states, and a loader generator's, for a checkpoint."""
    import torch

    state = {"torch": torch.get_rng_state()}
    if generator is not None:
        state["loader"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator=None) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if generator is not None:
        generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def in_session(train):
    """Decorate a plugin's ``train(run, device)``: it is called as ``train(run)`` with the run's
    ``torch.device``, under :func:`settings`, with CUDA's peak-memory counter reset."""
    @functools.wraps(train)
    def wrapper(run):
        import torch

        device = torch.device(run.device)
        with settings(device, run.threads, getattr(run, "autotune", False)):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            return train(run, device)
    return wrapper
