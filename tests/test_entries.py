"""Entries: a library's base recipe or a named variant of it, resolved in one place and run beside
each other (results/runs/<entry>/...), with one-line errors for a bad variant."""

import json

import pytest

from dlcompare import cli, glossary, params as params_mod, testing
from dlcompare.conformance.reference import ReferenceTrainer
from dlcompare.errors import UserError
from dlcompare.host import entries, training
from dlcompare.host.plugins import Registry

from conftest import ROOT


def default_params(**changes):
    p = params_mod.read_yaml(ROOT / "params.yaml")
    for key, value in changes.items():
        node = p
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return p


def test_the_default_profile_runs_the_keras_onecycle_variant_beside_the_libraries():
    p = params_mod.validate(default_params())
    assert glossary.entries(p["train"]) == ["torch", "fastai", "keras", "keras_onecycle"]
    base = entries.resolved_params(p, "keras")
    variant = entries.resolved_params(p, "keras_onecycle")
    assert (base["one_cycle"], variant["one_cycle"], variant["discriminative"]) == (False, True, True)
    assert variant["phase2"] == {"epochs": base["phase2"]["epochs"], "lr": [5e-6, 5e-4]}  # mappings merge
    assert {k: v for k, v in variant.items() if k not in ("one_cycle", "discriminative", "phase2")} == \
        {k: v for k, v in base.items() if k not in ("one_cycle", "discriminative", "phase2")}
    settings = entries.settings(p, "keras_onecycle")
    assert (settings["library"], settings["variant"], settings["params"]) == ("keras", "keras_onecycle", variant)
    assert settings["plugin_version"] and settings["description"]


@pytest.mark.parametrize("overlay, message", [
    ({"phase2": {"lr": "fast"}}, "invalid parameter variants.keras_onecycle.params.phase2.lr"),
    ({"phase2": {"lrr": 1e-3}}, "unknown parameter variants.keras_onecycle.params.phase2.lrr"),
    ({"one_cycle": "yes"}, "invalid parameter variants.keras_onecycle.params.one_cycle"),
])
def test_a_bad_overlay_is_one_line_naming_its_key(overlay, message):
    p = default_params(**{"variants.keras_onecycle.params": overlay})
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        params_mod.validate(p)


@pytest.mark.parametrize("changes, message", [
    ({"train.variants": ["nope"]}, "train.variants: 'nope' is not declared under variants:"),
    ({"variants.torch": {"library": "keras", "params": {}}}, "variants.torch: a variant cannot take a library's name"),
    ({"variants.keras_onecycle.library": "lightning"}, "variants.keras_onecycle.library: no plugin provides library 'lightning'"),
    ({"variants.keras_onecycle.colour": "red"}, "unknown parameter variants.keras_onecycle.colour"),
    ({"variants.keras_onecycle": {"library": "keras"}}, "'params' is a required property"),
])
def test_a_bad_variant_is_one_clear_error(changes, message):
    with pytest.raises(UserError, match=message):
        params_mod.validate(default_params(**changes))


def test_the_cli_says_what_is_wrong_with_a_variant_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace(
        "library: keras\n", "library: kerass\n"))
    assert cli.main(["settings", "--entry", "keras_onecycle"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "dlcompare settings: error: variants.keras_onecycle.library: no plugin provides library 'kerass'")


def test_settings_files_change_only_for_the_entry_that_changed(tmp_path, monkeypatch):
    """The DAG input of an entry's runs: rewritten only when its own settings change, so a changed
    overlay reruns that variant's runs and nothing else (Snakemake by mtime, DVC by hash)."""
    monkeypatch.chdir(tmp_path)
    p = params_mod.validate(default_params())
    for entry in glossary.entries(p["train"]):
        entries.write_settings(p, entry, log=lambda _: None)
    files = {e: tmp_path / glossary.settings_file(e) for e in glossary.entries(p["train"])}
    before = {e: (f.read_text(), f.stat().st_mtime_ns) for e, f in files.items()}
    changed = params_mod.validate(default_params(**{"variants.keras_onecycle.params.pct_start": 0.3}))
    for entry in glossary.entries(p["train"]):
        entries.write_settings(changed, entry, log=lambda _: None)
    after = {e: (f.read_text(), f.stat().st_mtime_ns) for e, f in files.items()}
    assert [e for e in files if after[e] != before[e]] == ["keras_onecycle"]
    assert json.loads(after["keras_onecycle"][0])["params"]["pct_start"] == 0.3


def test_a_variant_trains_into_its_own_run_directory_and_records_what_it_is(tmp_path, monkeypatch):
    testing.make_split(tmp_path)
    monkeypatch.chdir(tmp_path)
    p = params_mod.validate({
        "data": {"dataset": "digits", "image_size": 32},
        "train": {"libraries": ["reference"], "archs": ["linear"], "seeds": [0], "device": "cpu",
                  "batch_size": 16, "threads": 1}})
    p["variants"] = {"reference_short": {"library": "reference", "params": {"phase2": {"epochs": 1}}}}
    p["train"]["variants"] = ["reference_short"]
    registry = Registry({"reference": ReferenceTrainer()}, {"reference": "built-in"}, {})
    base = training.train(p, "reference", "linear", 0, log=lambda _: None, registry=registry)
    lines = []
    final = training.train(p, "reference_short", "linear", 0, log=lines.append, registry=registry)
    assert str(final) == glossary.run_dir(glossary.RESULTS_DIR, "reference_short", "linear", 0)
    assert lines[0].startswith("reference_short/linear/seed0: training on cpu")
    info = json.loads((final / glossary.RUN_INFO).read_text())
    assert (info["library"], info["entry"], info["variant"]) == ("reference", "reference_short", "reference_short")
    assert info["params"]["phase2"]["epochs"] == 1 and info["params"]["phase1"]["epochs"] == 2
    assert json.loads((final / glossary.METRICS).read_text())["epochs"] == 3
    assert json.loads((base / glossary.RUN_INFO).read_text())["variant"] is None
    assert json.loads((base / glossary.METRICS).read_text())["epochs"] == 4
