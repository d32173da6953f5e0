"""`dlcompare plugins`: which library plugins are installed and whether they can run here.

Each installed library is probed in its own process (``python -m dlcompare.host.listing NAME``):
importing one library can crash or hang the interpreter (triton imported after TensorFlow
segfaults), and that must show as that plugin's failure, not take the listing down.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from dlcompare.host import devices, gpus
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry, describe_error, load_registry

COLUMNS = ("plugin", "distribution", "library version", "architectures", "runs here", "device")
PROBE_TIMEOUT_S = 300


def probe(trainer, requested: str) -> dict:
    """``library version``, ``device`` and ``runs here`` for one trainer, in this process."""
    try:
        version = str(trainer.library_version())
        count = 0 if requested == "cpu" else int(trainer.gpu_count())
        return {"library version": version, "runs here": "yes",
                "device": devices.describe(devices.resolve(requested, count))}
    except UserError as exc:
        return {"runs here": f"no: {exc}"}
    except Exception as exc:  # a broken library is a finding to show, not a crash
        return {"runs here": f"no: {describe_error(exc)}"}


def probe_subprocess(name: str, requested: str) -> dict:
    """:func:`probe` in a fresh interpreter (plugin modules are light; only ``name``'s library loads)."""
    cmd = [sys.executable, "-m", "dlcompare.host.listing", name, requested]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"runs here": f"no: probing the library hung (no answer in {PROBE_TIMEOUT_S} s)"}
    if done.returncode < 0:
        sig = signal.Signals(-done.returncode).name
        return {"runs here": f"no: the library crashed the interpreter ({sig}) while importing"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"runs here": f"no: probing failed: {tail}"}


def plugin_rows(params: dict | None, registry: Registry | None = None, isolate: bool | None = None) -> list[dict]:
    """One row per trainer and per plugin that failed to load. ``isolate`` (default: when the
    registry is the installed one) probes each library in its own process."""
    isolate = registry is None if isolate is None else isolate
    registry = registry or load_registry()
    requested = (params or {}).get("train", {}).get("device", "auto")
    rows = []
    for name, trainer in sorted(registry.trainers.items()):
        row = dict.fromkeys(COLUMNS, "-")
        row.update(plugin=name, distribution=registry.distributions.get(name, "unknown"),
                   architectures=", ".join(trainer.architectures))
        row.update(probe_subprocess(name, requested) if isolate else probe(trainer, requested))
        claim = gpus.preview(requested)
        if claim and row["device"].startswith("cuda"):
            row["device"] += f", claims {claim}"   # what a training job started now gets
        rows.append(row)
    for name, why in sorted(registry.failures.items()):
        row = dict.fromkeys(COLUMNS, "-")
        row.update(plugin=name, distribution=registry.distributions.get(name, "unknown"))
        row["runs here"] = f"no: failed to load: {why}"
        rows.append(row)
    return rows


def show_plugins(params: dict | None, registry: Registry | None = None) -> list[dict]:
    """Print the table (plain text when stdout is a log, not a terminal); return its rows."""
    from rich.console import Console
    from rich.table import Table

    rows = plugin_rows(params, registry)
    table = Table(title="dlcompare plugins", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = None if row["runs here"] == "yes" else "red"
        table.add_row(*(row[c] for c in COLUMNS), style=style)
    # A log file gets a wide plain table instead of one wrapped to 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 300)
    console.print(table)
    if not rows:
        console.print("no plugins installed: install one, e.g. `pip install -e plugins/torch`")
    return rows


if __name__ == "__main__":   # the probe of one library: python -m dlcompare.host.listing NAME DEVICE
    library, wanted = sys.argv[1], sys.argv[2]
    try:
        found = probe(load_registry().get(library), wanted)
    except UserError as exc:
        found = {"runs here": f"no: {exc}"}
    print(json.dumps(found))
