"""pluggy markers for the ``dlcompare`` project name (kept apart so plugins import only this)."""

import pluggy

PROJECT = "dlcompare"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
