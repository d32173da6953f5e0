"""The machine a run trained on, recorded in run.json ``host`` so the memoir's provenance says
where its numbers came from (CPU model and vector extensions, cores, threads per job, RAM, OS, GPU
name and driver). The vector extensions matter: TensorFlow's CPU kernels (oneDNN) and PyTorch's
pick their code path by them, so one model's epoch time differs several-fold between CPUs."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess


def _cpuinfo(*keys: str) -> str | None:
    """The first /proc/cpuinfo value whose key starts with one of ``keys`` (Linux; None elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(keys):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (Linux); platform's guess elsewhere."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``) from /proc/cpuinfo."""
    return set((_cpuinfo("flags", "features") or "").split())


VECTOR_ISAS = (("AVX-512/BF16", {"avx512f", "avx512_bf16"}), ("AVX-512", {"avx512f"}),
               ("AVX2", {"avx2"}), ("AVX", {"avx"}), ("NEON", {"asimd"}))


def vector_isa(flags: set[str] | None = None) -> str | None:
    """The widest SIMD extension the CPU has (x86's AVX family, Arm's NEON), or None."""
    flags = cpu_flags() if flags is None else flags
    return next((name for name, needs in VECTOR_ISAS if needs <= flags), None)


def ram_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (AttributeError, ValueError, OSError):
        return None


def os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        pretty = None
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def gpu() -> dict:
    """Name and driver of the first GPU nvidia-smi lists; empty when there is none."""
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    first = out.strip().splitlines()[0].split(",") if out.strip() else []
    return {"gpu": first[0].strip(), "gpu_driver": first[1].strip()} if len(first) == 2 else {}


def describe(device: str, threads: int | None) -> dict:
    host = {"cpu": cpu_model(), "cpu_isa": vector_isa(), "cores": os.cpu_count(), "threads_per_job": threads,
            "ram_gib": ram_gib(), "os": os_name(), "python": platform.python_version()}
    if device.startswith("cuda"):
        host.update(gpu())
    return host
