"""Find library plugins: built-ins first, then entry points of group ``dlcompare``, with every
failure recorded by plugin name so one broken plugin never hides the others."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os

import pluggy

from dlcompare.host import hookspecs
from dlcompare.host.contract import Trainer
from dlcompare.errors import UserError
from dlcompare.host.hookspecs import PROJECT

ENV_FILTER = "DLCOMPARE_PLUGINS"   # e.g. DLCOMPARE_PLUGINS=torch,fastai loads only those two
BUILTINS: tuple = ()               # plugin objects the core registers before the entry points


@dataclasses.dataclass
class Registry:
    trainers: dict[str, Trainer]      # trainer name -> trainer
    distributions: dict[str, str]     # trainer or failed plugin name -> "dist-name version"
    failures: dict[str, str]          # plugin name -> why it could not be used

    def get(self, library: str) -> Trainer:
        """The trainer for ``library``, or a UserError saying why there is none."""
        if library in self.trainers:
            return self.trainers[library]
        if library in self.failures:
            raise UserError(f"plugin {library!r} failed to load: {self.failures[library]}")
        wanted = wanted_plugins()
        if wanted is not None and library not in wanted:
            raise UserError(f"library {library!r} is excluded by {ENV_FILTER}="
                            f"{os.environ[ENV_FILTER]!r}")
        known = ", ".join(sorted(self.trainers)) or "none"
        raise UserError(f"no plugin provides library {library!r} (installed: {known}); "
                        f"see `dlcompare plugins`")


def wanted_plugins() -> set[str] | None:
    """Names listed in DLCOMPARE_PLUGINS, or None when it is unset (load everything)."""
    raw = os.environ.get(ENV_FILTER, "").strip()
    return {n.strip() for n in raw.split(",") if n.strip()} if raw else None


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``: short enough for a table cell."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _load_entry_points(pm: pluggy.PluginManager, wanted: set[str] | None,
                       failures: dict[str, str], dists: dict[str, str]) -> None:
    """pluggy's ``load_setuptools_entrypoints`` one name at a time: it stops at the first failing
    import, and a broken TensorFlow must not hide the torch plugin."""
    for ep in importlib.metadata.entry_points(group=PROJECT):
        if wanted is not None and ep.name not in wanted:
            continue
        if ep.dist is not None:
            dists.setdefault(ep.name, f"{ep.dist.name} {ep.dist.version}")
        try:
            pm.load_setuptools_entrypoints(PROJECT, name=ep.name)
        except Exception as exc:
            failures.setdefault(ep.name, describe_error(exc))


def _drop_unknown_hooks(pm: pluggy.PluginManager, failures: dict[str, str]) -> None:
    """``check_pending`` raises for the first misspelled hook; report each such plugin by name."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            hooks = [h.name for h in pm.get_hookcallers(exc.plugin) or () if not h.has_spec()]
            failures[name] = (f"unknown hook {', '.join(hooks)} (the only hook is "
                              f"dlcompare_register_trainers)")
            pm.unregister(exc.plugin)


def load_registry(builtins: tuple | None = None) -> Registry:
    """Register ``builtins`` (default :data:`BUILTINS`), then every entry point of group
    ``dlcompare`` (filtered by DLCOMPARE_PLUGINS), and collect the trainers they register."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: dict[str, str] = {}
    dists: dict[str, str] = {}
    for plugin in BUILTINS if builtins is None else builtins:
        pm.register(plugin, name=getattr(plugin, "__name__", None))
        dists[pm.get_name(plugin)] = "built-in"
    wanted = wanted_plugins()
    _load_entry_points(pm, wanted, failures, dists)
    _drop_unknown_hooks(pm, failures)

    trainers: dict[str, Trainer] = {}
    distributions: dict[str, str] = {}
    owner: dict[str, str] = {}
    # get_hookimpls() is in registration order: built-ins first, so they win a name clash.
    for impl in pm.hook.dlcompare_register_trainers.get_hookimpls():
        plugin_name = impl.plugin_name
        found: list[Trainer] = []
        try:
            impl.function(register=found.append)
        except Exception as exc:
            failures[plugin_name] = describe_error(exc)
            continue
        if not found:
            failures[plugin_name] = "registered no trainer (register(trainer) was never called)"
        for trainer in found:
            name = getattr(trainer, "name", "")
            if not isinstance(trainer, Trainer) or not name or not trainer.architectures:
                failures[plugin_name] = (f"registered {trainer!r}: expected a dlcompare.host.contract."
                                         "Trainer with a name and architectures")
            elif name in trainers:
                failures[plugin_name] = f"trainer {name!r} is already registered by {owner[name]}"
            elif wanted is None or name in wanted:
                trainers[name] = trainer
                owner[name] = plugin_name
                distributions[name] = dists.get(plugin_name, "unknown")
    for name, plugin in pm.list_name_plugin():
        if name not in failures and not pm.get_hookcallers(plugin):
            failures[name] = ("defines no hook: decorate dlcompare_register_trainers "
                              "with @dlcompare.hookimpl")
    for name in failures:
        distributions.setdefault(name, dists.get(name, "unknown"))
    return Registry(trainers, distributions, failures)


def check_matrix(params: dict, registry: Registry | None = None) -> None:
    """Every entry of the profile (train.libraries, train.variants) has an installed plugin that
    trains every arch of train.archs: a typo fails when params are read, not after download,
    clean and split."""
    registry = registry or load_registry()
    train = params["train"]
    declared = params.get("variants") or {}
    for entry in train["libraries"] + list(train.get("variants") or []):
        key = f"variants.{entry}.library" if entry in declared else "train.libraries"
        library = declared[entry]["library"] if entry in declared else entry
        try:
            trainer = registry.get(library)
        except UserError as exc:
            raise UserError(f"{key}: {exc}") from None
        for arch in train["archs"]:
            if arch not in trainer.architectures:
                raise UserError(f"train.archs: library {library!r} has no architecture {arch!r} "
                                f"(it has: {', '.join(trainer.architectures)}); fix train.archs")
