"""Plugin discovery (entry points of group dlcompare, failures by name, DLCOMPARE_PLUGINS) and the
`dlcompare plugins` table. Fake plugins are real distributions (dist-info + module) on sys.path."""

import itertools
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

import dlcompare
from dlcompare import cli
from dlcompare.host import listing, plugins
from dlcompare.host.contract import Trainer
from dlcompare.errors import UserError

_ids = itertools.count()

GOOD = '''
import dlcompare
from dlcompare.host.contract import Trainer

class Good(Trainer):
    name = "{name}"
    architectures = ("resnet18", "vgg16")
    def library_version(self):
        return "9.9"

@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(Good())
'''


def install_fake(root, dist: str, modules: dict[str, str]) -> dict[str, str]:
    """A distribution ``dist`` 1.2.3 whose entry points are ``{name: module source}``;
    returns {entry-point name: module name} (module names are unique per call)."""
    names = {}
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = ["[dlcompare]"]
    for ep_name, source in modules.items():
        module = f"fake_dlc_plugin_{next(_ids)}"
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        lines.append(f"{ep_name} = {module}")
        names[ep_name] = module
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return names


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Six plugins, one good and five broken in different ways, in one distribution."""
    monkeypatch.syspath_prepend(str(tmp_path))
    install_fake(tmp_path, "fake-plugins", {
        "good": GOOD.format(name="good"),
        "broken": "raise ImportError('libcudart.so.12: cannot open shared object file')\n",
        "typo": "import dlcompare\n@dlcompare.hookimpl\ndef dlcompare_register_trainer(register):\n    pass\n",
        "nohook": "def dlcompare_register_trainers(register):\n    pass\n",
        "silent": "import dlcompare\n@dlcompare.hookimpl\ndef dlcompare_register_trainers(register):\n    pass\n",
        "crash": "import dlcompare\n@dlcompare.hookimpl\ndef dlcompare_register_trainers(register):\n"
                 "    raise RuntimeError('no licence')\n",
    })
    monkeypatch.setenv(plugins.ENV_FILTER, "good,broken,typo,nohook,silent,crash")
    return tmp_path


def test_broken_plugins_are_reported_by_name_and_hide_nothing(fakes):
    registry = plugins.load_registry()
    assert list(registry.trainers) == ["good"]
    assert registry.distributions["good"] == "fake-plugins 1.2.3"
    assert registry.failures["broken"] == "ImportError: libcudart.so.12: cannot open shared object file"
    assert "unknown hook dlcompare_register_trainer" in registry.failures["typo"]
    assert "@dlcompare.hookimpl" in registry.failures["nohook"]
    assert "registered no trainer" in registry.failures["silent"]
    assert registry.failures["crash"] == "RuntimeError: no licence"
    assert set(registry.failures) == {"broken", "typo", "nohook", "silent", "crash"}
    assert registry.distributions["broken"] == "fake-plugins 1.2.3"
    with pytest.raises(UserError, match="plugin 'broken' failed to load: ImportError: libcudart"):
        registry.get("broken")
    assert registry.get("good").architectures == ("resnet18", "vgg16")


def test_env_filter_restricts_which_plugins_load(fakes, monkeypatch):
    monkeypatch.setenv(plugins.ENV_FILTER, "good")
    registry = plugins.load_registry()
    assert list(registry.trainers) == ["good"] and registry.failures == {}
    with pytest.raises(UserError, match="excluded by DLCOMPARE_PLUGINS='good'"):
        registry.get("broken")
    monkeypatch.setenv(plugins.ENV_FILTER, "broken")
    assert plugins.load_registry().trainers == {}


def test_unknown_library_lists_what_is_installed(fakes, monkeypatch):
    monkeypatch.delenv(plugins.ENV_FILTER)
    with pytest.raises(UserError, match=r"no plugin provides library 'keras2' \(installed: [^)]*good"):
        plugins.load_registry().get("keras2")


class Builtin:
    """A built-in plugin object: registered before the entry points."""

    class T(Trainer):
        name = "good"
        architectures = ("resnet18",)

    @staticmethod
    @dlcompare.hookimpl
    def dlcompare_register_trainers(register):
        register(Builtin.T())


def test_builtins_load_first_and_win_a_name_clash(fakes, monkeypatch):
    monkeypatch.setenv(plugins.ENV_FILTER, "good")
    registry = plugins.load_registry(builtins=(Builtin,))
    assert isinstance(registry.trainers["good"], Builtin.T)
    assert registry.distributions["good"] == "built-in"
    assert registry.failures["good"] == "trainer 'good' is already registered by Builtin"


def test_plugin_modules_import_no_heavy_library():
    """`dlcompare plugins` must list installed plugins without importing their libraries."""
    code = ("import sys; from dlcompare.host.plugins import load_registry; r = load_registry(); "
            "print(sorted(r.trainers), sorted(r.failures)); "
            "print([m for m in ('torch', 'tensorflow', 'keras', 'fastai', 'jax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]", out.stdout


# -- the table -------------------------------------------------------------------------------

class Working(Trainer):
    name = "working"
    architectures = ("resnet18",)

    def __init__(self, gpus=0):
        self.gpus = gpus

    def library_version(self):
        return "2.1.0"

    def gpu_count(self):
        return self.gpus


class BrokenLibrary(Trainer):
    name = "brokenlib"
    architectures = ("resnet50",)

    def library_version(self):
        raise ImportError("DLL load failed while importing _pywrap_tensorflow_internal")


def registry(gpus=0):
    return plugins.Registry(
        trainers={"working": Working(gpus), "brokenlib": BrokenLibrary()},
        distributions={"working": "dlcompare-working 0.3", "brokenlib": "dlcompare-brokenlib 1.0",
                       "gone": "dlcompare-gone 0.1"},
        failures={"gone": "ModuleNotFoundError: No module named 'gone_dep'"})


def rows_by_plugin(params, reg):
    return {r["plugin"]: r for r in listing.plugin_rows(params, reg)}


def test_rows_show_version_device_and_why_a_plugin_cannot_run():
    rows = rows_by_plugin({"train": {"device": "auto"}}, registry())
    assert rows["working"] == {"plugin": "working", "distribution": "dlcompare-working 0.3",
                               "library version": "2.1.0", "architectures": "resnet18",
                               "runs here": "yes", "device": "cpu"}
    assert rows["brokenlib"]["runs here"] == ("no: ImportError: DLL load failed while importing "
                                              "_pywrap_tensorflow_internal")
    assert rows["gone"]["runs here"] == "no: failed to load: ModuleNotFoundError: No module named 'gone_dep'"
    assert rows["gone"]["distribution"] == "dlcompare-gone 0.1"


def test_device_column_honours_train_device_and_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert rows_by_plugin({"train": {"device": "auto"}}, registry(gpus=2))["working"]["device"] == "cuda:0 (GPU 2)"
    assert rows_by_plugin({"train": {"device": "cpu"}}, registry(gpus=2))["working"]["device"] == "cpu"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    row = rows_by_plugin({"train": {"device": "cuda"}}, registry(gpus=0))["working"]
    assert row["runs here"].startswith("no: train.device is cuda but no CUDA device is visible")


def test_table_prints_whole_lines_in_a_log(capsys):
    listing.show_plugins({"train": {"device": "auto"}}, registry())
    out = capsys.readouterr().out
    assert "\x1b[" not in out                           # no colour codes in a log file
    for text in ("dlcompare-working 0.3", "no: ImportError: DLL load failed while importing "
                 "_pywrap_tensorflow_internal", "no: failed to load: ModuleNotFoundError"):
        assert text in out


def test_cli_plugins_command(fakes, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": "digits", "image_size": 32},
        "train": {"libraries": ["good"], "archs": ["resnet18"], "seeds": [0], "device": "cpu"},
        "good": {}}))
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "fake-plugins 1.2.3" in out and "resnet18, vgg16" in out
    assert "no: failed to load: ImportError: libcudart.so.12" in out


CRASHY = '''
import os
import signal

import dlcompare


class Crashes(dlcompare.Trainer):
    name = "crashy"
    architectures = ("linear",)

    def library_version(self):
        os.kill(os.getpid(), signal.SIGSEGV)   # as importing triton after TensorFlow does


class Fine(dlcompare.Trainer):
    name = "fine"
    architectures = ("linear",)

    def library_version(self):
        return "1.0"


@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(Crashes())
    register(Fine())
'''


def test_a_library_that_crashes_the_interpreter_is_that_plugins_failure(tmp_path):
    """`dlcompare plugins` probes each library in its own process."""
    (tmp_path / "crashy_plugin.py").write_text(CRASHY)
    meta = tmp_path / "dlcompare_crashy-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: dlcompare-crashy\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[dlcompare]\ncrashy = crashy_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DLCOMPARE_PLUGINS": "crashy,fine"}
    done = subprocess.run([sys.executable, "-m", "dlcompare.cli", "plugins"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[1]: line for line in done.stdout.splitlines() if line.strip().startswith(("│ crashy", "│ fine"))}
    assert "no: the library crashed the interpreter (SIGSEGV)" in rows["crashy"]
    assert "1.0" in rows["fine"] and "yes" in rows["fine"]
