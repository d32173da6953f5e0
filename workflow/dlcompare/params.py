"""Load params.yaml (plus overlays and --set overrides) and validate it against the core's schema
(package data) that the Snakefile also uses, turning schema errors into one line naming the key.
A library's section is checked, and its defaults filled in, with the schema its plugin ships
(:func:`resolve_section`)."""

from __future__ import annotations

import copy
import importlib.resources
import json
from pathlib import Path

import jsonschema
import yaml

from dlcompare.data.images import background_rgb
from dlcompare.errors import UserError

SCHEMA_FILE = "params.schema.yaml"
DEFAULT_PARAMS = "params.yaml"


def package_schema(package: str, name: str = SCHEMA_FILE) -> dict:
    """A schema shipped as package data (``<package>/schemas/<name>`` or ``<package>/<name>``)."""
    root = importlib.resources.files(package)
    for resource in (root / "schemas" / name, root / name):
        if resource.is_file():
            return yaml.safe_load(resource.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"{package} ships no {name}")


def load_schema() -> dict:
    return package_schema("dlcompare")


def deep_merge(base: dict, overlay: dict) -> dict:
    """Overlay wins; mappings merge recursively, lists and scalars are replaced (as Snakemake does)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], object]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as YAML, so 3, true, [0, 1] work)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set expects key.path=value, got {text!r}")
    try:
        value = json.loads(raw)          # JSON first: 1e-05 is a float there, a string in YAML 1.1
    except ValueError:
        value = None if not raw.strip() else _yaml_value(raw)
    return key.strip().split("."), value


def _yaml_value(raw: str):
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UserError(f"--set: cannot parse value {raw!r}: {exc.problem}") from None


def apply_overrides(params: dict, overrides: list[str]) -> dict:
    out = copy.deepcopy(params)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"--set {'.'.join(path)}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def _deref(schema: dict, root: dict) -> dict:
    """``schema`` with a local ``$ref`` (``#/definitions/x``) merged in."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    node = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return {**_deref(node, root), **{k: v for k, v in schema.items() if k != "$ref"}}


def _fill_defaults(schema: dict, params: dict, root: dict | None = None) -> None:
    """Fill missing keys from ``default``; a given mapping keeps its keys and gets the rest of a
    mapping default (and of its own properties' defaults), as a plugin's old DEFAULTS merge did."""
    root = root or schema
    for key, sub in _deref(schema, root).get("properties", {}).items():
        sub = _deref(sub, root)
        default = sub.get("default")
        if key not in params and "default" in sub:
            params[key] = copy.deepcopy(default)
        elif isinstance(params.get(key), dict) and isinstance(default, dict):
            params[key] = {**copy.deepcopy(default), **params[key]}
        if isinstance(params.get(key), dict):
            _fill_defaults(sub, params[key], root)


def resolve_section(schema: dict | None, section: dict | None, library: str) -> dict:
    """A library's section validated with its plugin's schema, every default filled in: the
    settings the run trains with (run.json records them). UserError names the bad key."""
    section = copy.deepcopy(section or {})
    if schema is None:
        return section
    _fill_defaults(schema, section)
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(section))
    if error is not None:
        raise UserError(_describe(error, prefix=library))
    return section


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    path = ".".join([prefix] * bool(prefix) + [str(p) for p in error.absolute_path])
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"{path}." if path else ""
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown parameter {where}{unknown[0]}{hint}"
    expected = error.schema.get("description") if error.validator in ("type", "pattern") else None
    message = error.message if not expected else f"{error.message}; expected {expected}"
    return f"invalid parameter {path or '<root>'}: {message}"


def validate(params: dict) -> dict:
    """Validate and fill defaults; raise UserError with one line for the first problem."""
    if not isinstance(params, dict):
        raise UserError("params must be a mapping of sections (data:, train:, ...)")
    schema = load_schema()
    validator = jsonschema.Draft7Validator(schema)
    errors = list(validator.iter_errors(params))
    if errors:
        raise UserError(_describe(jsonschema.exceptions.best_match(errors)))
    installed = check_library_sections(params)
    known = set(schema["properties"])
    libraries = params["train"]["libraries"]
    for key in params:
        if key not in known and key not in libraries and key not in installed:
            raise UserError(f"unknown parameter section {key!r}: not one of {', '.join(sorted(known))} "
                            f"nor a library listed in train.libraries or installed")
    params = copy.deepcopy(params)
    _fill_defaults(schema, params)
    try:
        background_rgb(params["data"]["background"])
    except ValueError as exc:
        raise UserError(f"invalid parameter data.background: {exc}") from None
    return params


def check_library_sections(params: dict) -> set[str]:
    """Check each installed library's section against its plugin's schema (a library without a
    section runs on its defaults; one whose plugin is missing is reported when it trains) and
    the variants train.variants lists; return the installed libraries' names."""
    from dlcompare.host import entries
    from dlcompare.host.plugins import load_registry

    registry = load_registry()
    for library, trainer in registry.trainers.items():
        if library in params:
            trainer.resolve_params(params[library])
    entries.check(params, registry)
    return set(registry.trainers)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML{yaml_where(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return data


def yaml_where(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: problem`` from a PyYAML error (its str() spans several lines)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    return f"{where}: {problem}"


def load(files: list[str] | None = None, overrides: list[str] | None = None) -> dict:
    """params.yaml (or the given files, merged in order) + --set overrides, validated."""
    params: dict = {}
    for path in files or [DEFAULT_PARAMS]:
        params = deep_merge(params, read_yaml(path))
    return validate(apply_overrides(params, overrides or []))
