"""`dlcompare plugins`: which library plugins are installed and whether they can run here."""

from __future__ import annotations

import sys

from dlcompare.host import devices, gpus
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry, describe_error, load_registry

COLUMNS = ("plugin", "distribution", "library version", "architectures", "runs here", "device")


def plugin_rows(params: dict | None, registry: Registry | None = None) -> list[dict]:
    """One row per trainer (imports its library in a try) and per plugin that failed to load."""
    registry = registry or load_registry()
    requested = (params or {}).get("train", {}).get("device", "auto")
    rows = []
    for name, trainer in sorted(registry.trainers.items()):
        row = dict.fromkeys(COLUMNS, "-")
        row.update(plugin=name, distribution=registry.distributions.get(name, "unknown"),
                   architectures=", ".join(trainer.architectures))
        try:
            row["library version"] = str(trainer.library_version())
            count = 0 if requested == "cpu" else int(trainer.gpu_count())
            row["device"] = devices.describe(devices.resolve(requested, count))
            claim = gpus.preview(requested)
            if claim and row["device"].startswith("cuda"):
                row["device"] += f", claims {claim}"   # what a training job started now gets
            row["runs here"] = "yes"
        except UserError as exc:
            row["runs here"] = f"no: {exc}"
        except Exception as exc:  # a broken library is a finding to show, not a crash
            row["runs here"] = f"no: {describe_error(exc)}"
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
