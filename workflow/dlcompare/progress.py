"""Log-friendly progress: one readable line per epoch when stdout is not a terminal (Snakemake
and DVC logs), a live per-batch bar when it is."""

from __future__ import annotations

import contextlib
import sys


def is_interactive() -> bool:
    return sys.stdout.isatty()


def epoch_line(prefix: str, phase: str, epoch: int, epochs: int, **metrics: float) -> str:
    parts = [f"{prefix} {phase} epoch {epoch}/{epochs}"]
    for key, value in metrics.items():
        parts.append(f"{key} {value:.4f}" if key != "seconds" else f"{value:.1f}s")
    return " ".join(parts)


@contextlib.contextmanager
def batch_bar(total: int, description: str):
    """Yield ``advance(n=1)``: a rich bar on a terminal, nothing at all in a log file."""
    if not is_interactive():
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
