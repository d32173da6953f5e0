# Shared helpers: validate the config with the ONE schema (same code as the CLI) and build the
# `dlcompare` command line each rule runs.
import json
import os
import shlex

from snakemake.exceptions import WorkflowError

from dlcompare import glossary as G
from dlcompare.host.devices import nvidia_present
from dlcompare.host.plugins import check_matrix, load_registry
from dlcompare.host import entries
from dlcompare.errors import UserError
from dlcompare.params import apply_overrides, parse_override, validate as validate_params



def _leaves(overrides, prefix=""):
    """`snakemake --config` overrides as (key.path, value); nested values arrive as strings
    (Snakemake parses them with YAML's BaseLoader), so parse them as the CLI's --set does."""
    for key, value in overrides.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", _typed(value)


def _typed(value):
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return parse_override(f"x={value}")[1] if isinstance(value, str) else value


OVERRIDES = [f"{k}={json.dumps(v)}" for k, v in _leaves(dict(workflow.config_settings.config or {}))]
REGISTRY = load_registry()
try:
    config.update(validate_params(apply_overrides(config, OVERRIDES)))
    check_matrix(config, REGISTRY)    # vgg17 fails at `snakemake -n`, not after download, clean and split
except UserError as exc:
    raise WorkflowError(str(exc))


def _params_flags():
    extra = [os.path.relpath(f) for f in workflow.overwrite_configfiles or []]
    flags = [f"--params {shlex.quote(f)}" for f in (["params.yaml"] + extra if extra else [])]
    return flags + ["--set " + shlex.quote(o) for o in OVERRIDES]


PARAMS_FLAGS = "".join(" " + f for f in _params_flags())


def dlcompare(command):
    """The shell command of a rule: the same `dlcompare` call as the matching DVC stage."""
    return f"dlcompare {command}{PARAMS_FLAGS}"


def section(*keys):
    """Parameter values a rule depends on (Snakemake re-runs a job when they change)."""
    out = {}
    for key in keys:
        node = config
        for part in key.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else None
        out[key] = node
    return out


TRAIN = config["train"]
# An entry is a library's base recipe (train.libraries) or a variant (train.variants). DVC's
# matrix iterates one list, so each has its own rules there; the same two pairs here keep the
# DAGs equal (tests/test_dag_parity.py).
LIBRARIES, VARIANTS = list(TRAIN["libraries"]), list(TRAIN.get("variants") or [])
ENTRIES = LIBRARIES + VARIANTS
try:
    # What each entry's runs depend on (resolved section, plugin version): a settings rule
    # writes it to results/settings/<entry>.json and reruns when it changes (params trigger).
    SETTINGS = {entry: entries.settings(config, entry, REGISTRY) for entry in ENTRIES}
except UserError as exc:
    raise WorkflowError(str(exc))
GPU_PER_JOB = 1 if TRAIN["device"] == "cuda" or (TRAIN["device"] == "auto" and nvidia_present()) else 0


def one_of(names):
    """A wildcard constraint matching exactly these names (never matches when there are none)."""
    return "|".join(names) if names else "(?!)"


# One run directory per (entry, arch, seed), as in dvc.yaml's train matrices.
RUN = G.run_dir(G.RESULTS_DIR, "{entry}", "{arch}", "{seed}")
RUN_OUTPUTS = [G.HISTORY, G.PROBS["valid"], G.PROBS["test"], G.RUN_INFO, G.METRICS]

wildcard_constraints:
    entry="[a-z][a-z0-9_]*",
    arch="[a-z][a-z0-9_]*",
    seed="[0-9]+",


def run_files(name):
    return expand(f"{RUN}/{name}", entry=ENTRIES, arch=TRAIN["archs"], seed=TRAIN["seeds"])
