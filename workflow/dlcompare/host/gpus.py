"""Spread training jobs over every GPU of one machine: each job claims one free GPU.

Snakemake's ``gpu`` resource only limits how many jobs run at once; it never tells a job which
GPU to use, so ``--resources gpu=4`` would put four jobs on GPU 0. A job started without
CUDA_VISIBLE_DEVICES on a machine with several GPUs therefore takes an exclusive ``fcntl`` lock on
one file per GPU index (``results/locks/<host>/gpu<N>.lock``) and sets CUDA_VISIBLE_DEVICES to
that index before its library looks at CUDA. The kernel drops the lock when the process ends,
killed or not, so a crashed job never keeps a GPU. A CUDA_VISIBLE_DEVICES already set (by SLURM,
or a user) is honoured as it is.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from dlcompare.glossary import LOCK_DIR
from dlcompare.host.devices import VISIBLE

_held: list = []   # open lock files: the claim lasts as long as the process


def machine_gpu_count() -> int:
    """NVIDIA GPUs the driver lists (no library import, so nothing touches CUDA yet)."""
    root = Path("/proc/driver/nvidia/gpus")
    return len(list(root.iterdir())) if root.is_dir() else 0


def lock_dir(work_dir: Path | str = ".") -> Path:
    """Per host: on a shared filesystem two machines' GPU 0 are different GPUs."""
    return Path(work_dir) / LOCK_DIR / socket.gethostname()


def needs_claim(requested: str) -> bool:
    return requested != "cpu" and os.environ.get(VISIBLE) is None and machine_gpu_count() > 1


def _try_lock(path: Path):
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def free_gpus(work_dir: Path | str = ".") -> list[int]:
    """Indices nobody holds right now (probes each lock and lets it go again)."""
    folder = lock_dir(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    free = []
    for index in range(machine_gpu_count()):
        fh = _try_lock(folder / f"gpu{index}.lock")
        if fh is not None:
            fh.close()
            free.append(index)
    return free


def claim(requested: str, work_dir: Path | str = ".", log=print, poll_s: float = 2.0) -> int | None:
    """Claim a free GPU for this process and point CUDA_VISIBLE_DEVICES at it; the index, or
    None when nothing is to be claimed (CPU asked for, the variable already set, 0 or 1 GPU).
    With every GPU taken it waits for one (more jobs started than ``--resources gpu=K``)."""
    if not needs_claim(requested):
        return None
    folder = lock_dir(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    count = machine_gpu_count()
    waiting = False
    while True:
        for index in range(count):
            fh = _try_lock(folder / f"gpu{index}.lock")
            if fh is not None:
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
                _held.append(fh)
                os.environ[VISIBLE] = str(index)
                log(f"claimed GPU {index} of {count} (lock {folder / f'gpu{index}.lock'})")
                return index
        if not waiting:
            log(f"all {count} GPUs are claimed by other jobs; waiting for one "
                f"(limit parallel jobs with snakemake --resources gpu={count})")
            waiting = True
        time.sleep(poll_s)


def preview(requested: str, work_dir: Path | str = ".") -> str | None:
    """What `dlcompare plugins` shows: which GPU a job started now would claim, or None."""
    if not needs_claim(requested):
        return None
    free = free_gpus(work_dir)
    count = machine_gpu_count()
    return f"GPU {free[0]} (first free of {count})" if free else f"waits: all {count} GPUs claimed"
