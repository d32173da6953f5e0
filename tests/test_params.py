"""The ONE schema: defaults, overrides, and one-line errors naming the key."""

import pytest
import yaml

from dlcompare import params
from dlcompare.errors import UserError

from conftest import ROOT


def test_default_profile_is_valid_and_filled():
    p = params.load([str(ROOT / "params.yaml")])
    assert p["data"]["dataset"] == "digits"
    assert p["train"]["libraries"] == ["torch", "fastai", "keras"]
    assert p["data"]["stratify"] is False


@pytest.mark.parametrize("override, expected", [
    ("data.foo=1", "unknown parameter data.foo"),
    ("data.dataset=xyz", "invalid parameter data.dataset: 'xyz' is not one of"),
    ("data.image_size=abc", "invalid parameter data.image_size: 'abc' is not of type 'integer'"),
    ("data.valid_fraction=1.5", "invalid parameter data.valid_fraction"),
    ("train.seeds=[-1]", "invalid parameter train.seeds.0"),
    ("train.device=tpu", "invalid parameter train.device"),
    ("trian.seeds=[0]", "unknown parameter section 'trian'"),
    ("data.dataset=folder", "invalid parameter data.path"),
    ("data.url=http://127.0.0.1/x.zip", "invalid parameter data.sha256"),
    ("torch.phase1.epochs=-2", "invalid parameter torch.phase1.epochs"),
])
def test_bad_values_give_one_line_naming_the_key(override, expected):
    with pytest.raises(UserError) as err:
        params.load([str(ROOT / "params.yaml")], [override])
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_parse_yaml_values_and_overlays_merge(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"train": {"seeds": [3]}, "data": {"image_size": 48}}))
    p = params.load([str(ROOT / "params.yaml"), str(overlay)], ["data.stratify=true", "train.archs=[resnet50]"])
    assert p["train"]["seeds"] == [3]                 # lists are replaced, not appended
    assert p["train"]["libraries"] == ["torch", "fastai", "keras"]   # untouched keys stay
    assert p["data"]["image_size"] == 48 and p["data"]["stratify"] is True
    assert p["train"]["archs"] == ["resnet50"]


def test_a_listed_library_without_a_section_runs_on_its_defaults():
    p = params.load([str(ROOT / "params.yaml")], ["train.libraries=[torch,mylib]"])
    assert "mylib" not in p
    from dlcompare.host.plugins import load_registry

    resolved = load_registry().get("torch").resolve_params(None)
    assert resolved["phase1"] == {"epochs": 15, "lr": 3e-3} and resolved["augment"]["dihedral"]


def test_third_party_section_is_accepted_when_listed(tmp_path):
    p = params.load([str(ROOT / "params.yaml")], ["train.libraries=[torch,mylib]", "mylib.alpha=0.5"])
    assert p["mylib"] == {"alpha": 0.5}


@pytest.mark.parametrize("text, expected", [
    ("data: [1, 2", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_broken_params_files(tmp_path, text, expected):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=expected):
        params.load([str(path)])


def test_params_file_errors_are_one_line(tmp_path):
    """A non-YAML file gave six lines where the README promises one; non-UTF-8 a traceback."""
    path = tmp_path / "p.yaml"
    path.write_text("data:\n  dataset: digits\n  image_size: 32\n bad: [\n")
    with pytest.raises(UserError) as err:
        params.load([str(path)])
    assert str(err.value) == (f"{path}: not valid YAML at line 4, column 2: "
                              "expected <block end>, but found '<block mapping start>'")
    path.write_bytes("data: {dataset: digits, image_size: 32}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError) as err:
        params.load([str(path)])
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0xe9 at offset 45); save it as UTF-8"


def test_background_colour_is_checked():
    assert params.load([str(ROOT / "params.yaml")])["data"]["background"] == "white"
    assert params.load([str(ROOT / "params.yaml")], ["data.background='#102030'"])["data"]["background"] == "#102030"
    with pytest.raises(UserError, match="invalid parameter data.background: 'whiet' is not a colour"):
        params.load([str(ROOT / "params.yaml")], ["data.background=whiet"])


def test_missing_params_file(tmp_path):
    with pytest.raises(UserError, match="params file not found"):
        params.load([str(tmp_path / "nope.yaml")])


def test_bad_set_syntax():
    with pytest.raises(UserError, match="--set expects key.path=value"):
        params.load([str(ROOT / "params.yaml")], ["justakey"])


def test_thesis_profile_is_valid_and_complete():
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    thesis = yaml.safe_load((ROOT / "configs" / "thesis.yaml").read_text())
    assert set(thesis) == set(base), "configs/thesis.yaml must be a complete params file"
    p = params.load([str(ROOT / "configs" / "thesis.yaml")])
    assert p["data"]["dataset"] == "isic" and p["data"]["image_size"] == 256
    assert p["train"]["batch_size"] == 32 and p["train"]["pretrained"] == "imagenet"
    assert set(p["train"]["archs"]) == {"vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169"}
    assert (p["fastai"]["phase1"]["epochs"], p["fastai"]["phase2"]["epochs"]) == (15, 40)
    assert (p["keras"]["phase1"]["epochs"], p["keras"]["phase2"]["epochs"]) == (50, 100)
    assert p["fastai"]["phase2"]["lr"] == [5e-6, 5e-4] and p["keras"]["phase2"]["lr"] == 3e-5
