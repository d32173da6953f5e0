"""Pick the device a run trains on from ``train.device`` (auto|cpu|cuda) and what the library sees.

The libraries honour CUDA_VISIBLE_DEVICES themselves, so a trainer's ``gpu_count`` is already
filtered and ``cuda:0`` is the first *visible* device (the one a scheduler's GPU token hands a job).
"""

from __future__ import annotations

import os

from dlcompare.errors import UserError

VISIBLE = "CUDA_VISIBLE_DEVICES"


def resolve(requested: str, gpu_count: int) -> str:
    """``cpu`` or ``cuda:0``; UserError when cuda is requested but none is visible."""
    if requested == "cpu":
        return "cpu"
    if gpu_count > 0:
        return "cuda:0"
    if requested == "cuda":
        visible = os.environ.get(VISIBLE)
        hint = f" ({VISIBLE}={visible!r})" if visible is not None else ""
        raise UserError(f"train.device is cuda but no CUDA device is visible{hint}; "
                        "use --set train.device=auto or cpu")
    return "cpu"


def describe(device: str) -> str:
    """``cuda:0`` -> ``cuda:0 (GPU 2)`` when CUDA_VISIBLE_DEVICES=2,3 remaps it; else unchanged."""
    visible = [v.strip() for v in os.environ.get(VISIBLE, "").split(",") if v.strip()]
    if not device.startswith("cuda:") or not visible:
        return device
    index = int(device.split(":", 1)[1])
    return f"{device} (GPU {visible[index]})" if index < len(visible) else device


def nvidia_present() -> bool:
    """Cheap check (no library import) used by the Snakefile to decide on gpu resource tokens."""
    if os.environ.get(VISIBLE, None) in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/gpus") and bool(os.listdir("/proc/driver/nvidia/gpus"))


def scheduler_note() -> str:
    """`` in SLURM job 123 (CUDA_VISIBLE_DEVICES=0)``: where a job log says which scheduler job ran it."""
    parts = []
    if os.environ.get("SLURM_JOB_ID"):
        parts.append(f"in SLURM job {os.environ['SLURM_JOB_ID']}")
    if os.environ.get(VISIBLE) is not None:
        parts.append(f"({VISIBLE}={os.environ[VISIBLE]})")
    return (" " + " ".join(parts)) if parts else ""
