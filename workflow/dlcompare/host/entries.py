"""Entries: what a run trains. An entry is a library's base recipe (named after the library, its
params section as given) or a variant: a named overlay of one library's section, declared under
``variants:`` and run beside the base recipe when ``train.variants`` lists it, e.g.

    variants:
      keras_onecycle: {library: keras, params: {one_cycle: true, discriminative: true}}
    train: {libraries: [torch, fastai, keras], variants: [keras_onecycle]}

One place resolves an entry to its plugin and the settings its runs train with (the section with
the overlay merged in and the plugin's defaults filled); `train`, the Snakefile, DVC's settings
stage and the report all call it, so they can never disagree.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dlcompare import atomic, glossary
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry, load_registry
from dlcompare.params import deep_merge


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    library: str                 # the plugin that trains it
    variant: str | None = None   # the variant's name; None for a library's base recipe
    overlay: dict = dataclasses.field(default_factory=dict)
    description: str = ""


def variants(params: dict) -> dict:
    return dict(params.get("variants") or {})


def lookup(params: dict, name: str) -> Entry:
    """The entry called ``name``: a declared variant, else a library's base recipe."""
    declared = variants(params)
    if name in declared:
        spec = declared[name]
        return Entry(name, spec["library"], name, dict(spec.get("params") or {}),
                     spec.get("description", ""))
    return Entry(name, name)


def trainer(params: dict, name: str, registry: Registry):
    """The plugin trainer of an entry, or one line saying the name is neither a library nor a variant."""
    entry = lookup(params, name)
    if entry.variant is None and name not in registry.trainers and name not in registry.failures:
        declared = ", ".join(sorted(variants(params))) or "none"
        raise UserError(f"{name!r} is neither an installed library ({', '.join(sorted(registry.trainers))}) "
                        f"nor a variant declared under variants: ({declared}); see `dlcompare plugins`")
    return registry.get(entry.library)


def library_params(params: dict, library: str) -> dict:
    """The library's own top-level section as given (named after it; may be empty or absent)."""
    return dict(params.get(library) or {})


def resolved_params(params: dict, name: str, registry: Registry | None = None) -> dict:
    """The entry's settings with its plugin's defaults filled in: what its runs train with, and
    what their params fingerprint is computed from. A bad key in a variant's overlay is named
    as ``variants.<name>.params.<key>``."""
    entry = lookup(params, name)
    plugin = trainer(params, name, registry or load_registry())
    if entry.variant:
        from dlcompare.params import resolve_section
        resolve_section(plugin.params_schema, entry.overlay, f"variants.{name}.params")
    return plugin.resolve_params(deep_merge(library_params(params, entry.library), entry.overlay))


def plugin_version(registry: Registry, library: str) -> str:
    """The version of the plugin package that provides ``library`` (a change of it reruns runs)."""
    dist = registry.distributions.get(library, "unknown")
    return dist.rpartition(" ")[2] if " " in dist else dist


def settings(params: dict, name: str, registry: Registry | None = None) -> dict:
    """Everything an entry's runs depend on beyond data and train: the resolved section and the
    plugin package's version (written to results/settings/<entry>.json, a DAG input of its runs)."""
    registry = registry or load_registry()
    entry = lookup(params, name)
    return {"entry": name, "library": entry.library, "variant": entry.variant,
            "description": entry.description, "params": resolved_params(params, name, registry),
            "plugin_version": plugin_version(registry, entry.library)}


def write_settings(params: dict, name: str, registry: Registry | None = None, log=print) -> Path:
    """`dlcompare settings`: write the entry's settings file (unchanged content, unchanged file)."""
    path = Path(glossary.settings_file(name))
    value = settings(params, name, registry)
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old != value:
        atomic.write_json(path, value)
        log(f"{name}: settings written to {path}")
    else:
        log(f"{name}: settings unchanged ({path})")
    return path


def check(params: dict, registry: Registry) -> None:
    """Variants are well formed: none named like a library, every listed one declared, each on an
    installed library with an overlay its plugin's schema accepts. One line names the key."""
    train = params["train"]
    declared = variants(params)
    for name in train.get("variants") or []:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none declared"
            raise UserError(f"train.variants: {name!r} is not declared under variants: ({known})")
    for name, spec in declared.items():
        if name in registry.trainers or name in train["libraries"]:
            raise UserError(f"variants.{name}: a variant cannot take a library's name; rename it "
                            f"(e.g. {name}_variant)")
    for name in train.get("variants") or []:
        library = declared[name]["library"]
        try:
            registry.get(library)
        except UserError as exc:
            raise UserError(f"variants.{name}.library: {exc}") from None
        resolved_params(params, name, registry)
