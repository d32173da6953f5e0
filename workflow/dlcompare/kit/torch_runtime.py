"""Torch facts shared by the torch-based plugins (torch, fastai), so both report them alike.

Imports torch lazily: the core and `dlcompare plugins` must not pay for (or break on) torch.
"""

from __future__ import annotations

import resource


def gpu_count() -> int:
    """CUDA devices torch sees here (it honours CUDA_VISIBLE_DEVICES)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def peak_memory_mb(device) -> float:
    """CUDA: most memory allocated by tensors; CPU: the process's peak resident set."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB
