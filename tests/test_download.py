"""`dlcompare download` for isic (URL over a loopback HTTP server, Kaggle API) and folder datasets:
good archives land in data/raw; tampered, malicious or interrupted ones leave no data/raw."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import requests
from PIL import Image

from dlcompare.data import download as dl
from dlcompare import params as params_mod
from dlcompare.cli import main
from dlcompare.errors import UserError

ROOT = "Skin cancer ISIC The International Skin Imaging Collaboration"
CLASSES = ("basal cell carcinoma", "melanoma", "nevus")
SECRET = "s3cr3t-kaggle-key-0123456789"


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (seed * 40 % 256, 80, 120)).save(buf, format="PNG")
    return buf.getvalue()


def isic_members() -> dict[str, bytes]:
    """A tiny ISIC-shaped release: nested root, Train/Test, class names with spaces, macOS junk."""
    files = {}
    for i, cls in enumerate(CLASSES):
        for k in range(2):
            files[f"{ROOT}/Train/{cls}/ISIC_{i}{k}.png"] = png(i * 2 + k)
        files[f"{ROOT}/Test/{cls}/ISIC_{i}9.png"] = png(i + 7)
    files[f"__MACOSX/{ROOT}/Train/melanoma/._ISIC_10.png"] = b"\x00\x05junk"
    files[f"__MACOSX/{ROOT}/Test/melanoma/._ISIC_19.png"] = b"\x00\x05junk"
    return files


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """Loopback HTTP server on a random port serving ``files``; ``/cut/<name>`` sends half the body
    with the full Content-Length and closes the connection."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.partition("?")[0]
                cut = path.startswith("/cut/")
                body = files.get(path.removeprefix("/cut") if cut else path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, name: str, data: bytes) -> str:
        self.files[f"/{name}"] = data
        return f"{self.base}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh project directory as cwd, and no Kaggle credentials anywhere."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "home" / ".kaggle"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    return project


def make_params(**data) -> dict:
    base = {"dataset": "isic", "image_size": 16}
    base.update(data)
    return params_mod.validate({"data": base, "train": {"libraries": ["torch"], "archs": ["resnet18"],
                                                        "seeds": [0]}, "torch": {}})


def run(params: dict) -> list[str]:
    lines: list[str] = []
    dl.download(params, log=lines.append)
    return lines


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def expected_tree() -> dict[str, bytes]:
    return {name.removeprefix(f"{ROOT}/"): data for name, data in isic_members().items()
            if name.startswith(ROOT)}


def assert_nothing_finished(project: Path) -> None:
    """No data/raw and no temporary leftovers next to where it would be."""
    data = project / "data"
    assert not (data / "raw").exists()
    assert not data.exists() or list(data.iterdir()) == []


# --- isic over a URL ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zip", "tar.gz", "file-url"])
def test_url_download_builds_the_isic_layout(work, server, kind):
    archive = make_tar(isic_members()) if kind == "tar.gz" else make_zip(isic_members())
    if kind == "file-url":
        local = work.parent / "release.zip"
        local.write_bytes(archive)
        url = local.as_uri()
    else:
        url = server.add(f"isic.{kind}", archive)
    lines = run(make_params(url=url, sha256=sha(archive).upper()))
    raw = work / "data" / "raw"
    files = tree(raw)
    source = json.loads(files.pop("SOURCE.json"))
    assert files == expected_tree()                      # macOS junk and the nesting are gone
    assert source["sha256"] == sha(archive) and source["origin"] == url
    assert source["archive_root"] == ROOT
    assert source["counts"]["Train"] == {"classes": 3, "files": 6}
    assert sorted(p.name for p in (work / "data").iterdir()) == ["raw"]   # temp files removed
    assert any("sha256 verified" in line for line in lines)


def test_url_with_credentials_is_not_recorded(work, server):
    archive = make_zip(isic_members())
    url = server.add("isic.zip", archive).replace("http://", "http://user:pa55word@") + "?token=abc"
    lines = run(make_params(url=url, sha256=sha(archive)))
    text = (work / "data" / "raw" / "SOURCE.json").read_text() + "\n".join(lines)
    assert "pa55word" not in text and "token=abc" not in text


def test_tampered_archive_is_refused(work, server):
    archive = make_zip(isic_members())
    tampered = archive.replace(b"ISIC_00", b"ISIC_0X", 1)
    url = server.add("isic.zip", tampered)
    with pytest.raises(UserError, match=r"checksum mismatch .*expected sha256 " + sha(archive)):
        run(make_params(url=url, sha256=sha(archive)))
    assert_nothing_finished(work)


def test_failed_download_keeps_the_previous_raw_data(work, server):
    good = make_zip(isic_members())
    run(make_params(url=server.add("isic.zip", good), sha256=sha(good)))
    before = tree(work / "data" / "raw")
    with pytest.raises(UserError, match="checksum mismatch"):
        run(make_params(url=server.add("other.zip", good + b"x"), sha256=sha(good)))
    assert tree(work / "data" / "raw") == before
    assert sorted(p.name for p in (work / "data").iterdir()) == ["raw"]


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


def _zip_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in isic_members().items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo(f"{ROOT}/Train/melanoma/link.png")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../../../../evil.txt")
    return buf.getvalue()


MALICIOUS = {
    "zip ../ path": lambda: make_zip({**isic_members(), f"{ROOT}/../../../evil.txt": b"pwned"}),
    "zip absolute path": lambda: make_zip({**isic_members(), "/tmp/dlcompare-evil.txt": b"pwned"}),
    "zip symlink": _zip_symlink,
    "tar ../ path": lambda: make_tar({**isic_members(), "../evil.txt": b"pwned"}),
    "tar absolute path": lambda: make_tar({**isic_members(), "/tmp/dlcompare-evil.txt": b"pwned"}),
    "tar symlink escaping": lambda: make_tar(isic_members(), [_link(f"{ROOT}/Train/nevus/x.png",
                                                                    "../../../../../evil.txt")]),
    "tar absolute symlink": lambda: make_tar(isic_members(), [_link(f"{ROOT}/Train/nevus/x.png",
                                                                    "/etc/passwd")]),
    "tar hardlink escaping": lambda: make_tar(isic_members(), [_link(f"{ROOT}/Train/nevus/x.png",
                                                                     "../evil.txt", tarfile.LNKTYPE)]),
    "tar device file": lambda: make_tar(isic_members(), [_device(f"{ROOT}/Train/nevus/null")]),
    # each link stays inside on its own; through the first, the second points outside
    "tar chained symlinks": lambda: make_tar(isic_members(), [_link(f"{ROOT}/a", "."),
                                                              _link(f"{ROOT}/a/b", "../..")]),
}


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_malicious_archive_is_refused(work, server, case):
    archive = MALICIOUS[case]()
    url = server.add("isic.archive", archive)
    with pytest.raises(UserError, match="unsafe archive refused") as err:
        run(make_params(url=url, sha256=sha(archive)))
    assert "\n" not in str(err.value)
    assert_nothing_finished(work)
    assert not list(work.parent.rglob("evil.txt"))
    assert not Path("/tmp/dlcompare-evil.txt").exists()


def test_interrupted_download_leaves_nothing(work, server):
    archive = make_zip(isic_members())
    server.add("isic.zip", archive)
    with pytest.raises(UserError, match="interrupted|cut short"):
        run(make_params(url=f"{server.base}/cut/isic.zip", sha256=sha(archive)))
    assert_nothing_finished(work)


def test_http_error_is_one_line(work, server):
    with pytest.raises(UserError, match="HTTP 404"):
        run(make_params(url=f"{server.base}/missing.zip", sha256="0" * 64))
    assert_nothing_finished(work)


def test_archive_without_train_and_test_is_refused(work, server):
    archive = make_zip({f"{ROOT}/images/melanoma/a.png": png(1)})
    with pytest.raises(UserError, match="no folder holding both Train/ and Test/"):
        run(make_params(url=server.add("x.zip", archive), sha256=sha(archive)))
    assert_nothing_finished(work)


def test_not_an_archive_is_refused(work, server):
    body = b"<html>login page</html>"
    with pytest.raises(UserError, match="not a zip or tar archive"):
        run(make_params(url=server.add("x.zip", body), sha256=sha(body)))
    assert_nothing_finished(work)


# --- isic through the Kaggle API --------------------------------------------------------------

def test_missing_kaggle_credentials_is_one_clear_message(work, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", SECRET)            # a key without a user name is not enough
    with pytest.raises(UserError) as err:
        run(make_params())
    message = str(err.value)
    assert "kaggle.json" in message and "KAGGLE_USERNAME" in message and "KAGGLE_KEY" in message
    assert SECRET not in message and "\n" not in message
    assert_nothing_finished(work)


def test_unreadable_kaggle_json_is_reported(work, tmp_path):
    config = tmp_path / "home" / ".kaggle"
    config.mkdir(parents=True)
    (config / "kaggle.json").write_text("{not json")
    with pytest.raises(UserError, match="kaggle.json is not readable JSON"):
        run(make_params())


class FakeKaggleApi:
    """Stands in for kaggle.KaggleApi (no network here): same call signature, writes the zip the
    real API would (<path>/<dataset-slug>.zip), or raises what the real one raises."""

    def __init__(self, archive: bytes | None = None, error: Exception | None = None):
        self.archive, self.error, self.calls = archive, error, []

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False, licenses=[]):
        self.calls.append({"dataset": dataset, "path": path, "unzip": unzip})
        if self.error:
            raise self.error
        Path(path, dataset.split("/")[1] + ".zip").write_bytes(self.archive)


def test_kaggle_download_through_the_api(work, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    archive = make_zip(isic_members())
    fake = FakeKaggleApi(archive)
    monkeypatch.setattr(dl, "kaggle_api", lambda: fake)
    lines = run(make_params(kaggle_dataset="owner/skin-cancer"))
    files = tree(work / "data" / "raw")
    source = files.pop("SOURCE.json").decode()
    assert files == expected_tree()
    assert fake.calls == [{"dataset": "owner/skin-cancer", "path": fake.calls[0]["path"], "unzip": False}]
    assert json.loads(source)["origin"] == "kaggle:owner/skin-cancer"
    assert json.loads(source)["sha256"] == sha(archive)
    assert SECRET not in source and not any(SECRET in line for line in lines)
    assert sorted(p.name for p in (work / "data").iterdir()) == ["raw"]


def test_kaggle_refused_credentials(work, monkeypatch, tmp_path):
    config = tmp_path / "home" / ".kaggle"
    config.mkdir(parents=True)
    (config / "kaggle.json").write_text(json.dumps({"username": "someone", "key": SECRET}))
    response = requests.Response()
    response.status_code = 401
    monkeypatch.setattr(dl, "kaggle_api", lambda: FakeKaggleApi(
        error=requests.HTTPError(f"401 Client Error for key {SECRET}", response=response)))
    with pytest.raises(UserError, match=r"Kaggle refused the credentials \(HTTP 401\)") as err:
        run(make_params())
    assert SECRET not in str(err.value)
    assert_nothing_finished(work)


def test_kaggle_other_failure_hides_the_key(work, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.setattr(dl, "kaggle_api", lambda: FakeKaggleApi(error=RuntimeError(f"boom {SECRET}")))
    with pytest.raises(UserError, match=r"Kaggle download of .* failed: RuntimeError boom \*\*\*"):
        run(make_params())


def test_kaggle_api_without_credentials_does_not_exit(work, monkeypatch, tmp_path):
    """The real kaggle package: its authenticate() calls exit(1); we turn that into a UserError."""
    extended = pytest.importorskip("kaggle.api.kaggle_api_extended")
    # the class reads its config path once, at first import: point it at this test's empty home
    monkeypatch.setattr(extended.KaggleApi, "config", str(tmp_path / "home" / ".kaggle" / "kaggle.json"))
    with pytest.raises(UserError, match="no Kaggle credentials"):
        dl.kaggle_api()


# --- folder -------------------------------------------------------------------------------------

def write_images(root: Path, classes: list[str], n: int = 2) -> dict[str, bytes]:
    files = {}
    for i, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            data = png(i * n + k)
            (root / cls / f"IMG {k}.JPG").write_bytes(data)
            files[f"{cls}/IMG {k}.JPG"] = data
    return files


def test_folder_with_train_and_test(work, tmp_path):
    user = tmp_path / "my images"
    expected = {f"Train/{k}": v for k, v in write_images(user / "train", ["mélanome bénin", "naevus"], 3).items()}
    expected |= {f"Test/{k}": v for k, v in write_images(user / "TEST", ["mélanome bénin", "naevus"]).items()}
    (user / "README.txt").write_text("notes")
    lines = run(make_params(dataset="folder", path=str(user)))
    raw = work / "data" / "raw"
    files = tree(raw)
    source = json.loads(files.pop("SOURCE.json"))
    assert files == expected                                 # Train/Test canonical, names kept
    assert source["layout"] == "Train/Test" and source["origin"] == str(user.resolve())
    same = raw / "Train" / "naevus" / "IMG 0.JPG"
    assert os.stat(same).st_ino == os.stat(user / "train" / "naevus" / "IMG 0.JPG").st_ino  # hard link
    assert any("hard-linked" in line for line in lines)


def test_folder_of_class_folders_is_copied_flat(work, tmp_path, monkeypatch):
    user = tmp_path / "flat"
    expected = write_images(user, ["Ünïcode class", "another one"])
    (user / ".hidden").mkdir()
    (user / ".hidden" / "x.png").write_bytes(b"x")

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(dl.os, "link", no_links)           # another filesystem: copies instead
    run(make_params(dataset="folder", path=str(user)))
    raw = work / "data" / "raw"
    files = tree(raw)
    source = json.loads(files.pop("SOURCE.json"))
    assert files == expected and source["layout"] == "class folders"
    assert source["counts"] == {"all": {"classes": 2, "files": 4}}
    copied = raw / "another one" / "IMG 0.JPG"
    assert os.stat(copied).st_ino != os.stat(user / "another one" / "IMG 0.JPG").st_ino


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "does not exist"),
    (lambda root: root.mkdir(), "no class folders with images"),
    (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"x")), "found 1 loose files"),
    (lambda root: write_images(root / "Train", ["a"]), "has Train/ but no Test/"),
    (lambda root: (write_images(root / "Train", ["a"]), (root / "Test").mkdir()),
     "no class folders with images under .*Test"),
])
def test_folder_mistakes_are_one_clear_message(work, tmp_path, setup, message):
    root = tmp_path / "user"
    setup(root)
    with pytest.raises(UserError, match=message) as err:
        run(make_params(dataset="folder", path=str(root)))
    assert "\n" not in str(err.value)
    assert_nothing_finished(work)


def test_cli_bad_input_exits_2_with_one_line(work, tmp_path, capsys):
    params_file = Path(__file__).resolve().parent.parent / "params.yaml"
    missing = tmp_path / "nowhere"
    code = main(["download", "--params", str(params_file), "--set", "data.dataset=folder",
                 "--set", f"data.path={missing}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dlcompare download: error: data.path")
    assert str(missing) in err
    assert_nothing_finished(work)


# --- decompression bombs, interruptions, leftovers ------------------------------------------------

def _zeros_zip(n_bytes: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in isic_members().items():
            zf.writestr(name, data)
        zf.writestr(f"{ROOT}/Train/nevus/huge.png", b"\0" * n_bytes)
    return buf.getvalue()


def _zeros_tar(n_bytes: int) -> bytes:
    return make_tar({**isic_members(), f"{ROOT}/Train/nevus/huge.png": b"\0" * n_bytes})


@pytest.mark.parametrize("build", [_zeros_zip, _zeros_tar], ids=["zip", "tar.gz"])
def test_decompression_bomb_archive_is_refused(work, server, monkeypatch, build):
    from dlcompare.data import safe_extract
    monkeypatch.setattr(safe_extract, "RATIO_FLOOR", 1 << 20)   # 1 MiB instead of 256 MiB: a small bomb
    archive = build(4 << 20)                                     # 4 MiB of zeros in a few kB
    assert len(archive) * safe_extract.MAX_RATIO < 4 << 20
    with pytest.raises(UserError, match=r"decompression bomb refused: .* over 100x its size") as err:
        run(make_params(url=server.add("bomb.zip", archive), sha256=sha(archive)))
    assert "\n" not in str(err.value)
    assert_nothing_finished(work)


def test_archive_with_too_many_entries_is_refused(work, server, monkeypatch):
    from dlcompare.data import safe_extract
    monkeypatch.setattr(safe_extract, "MAX_MEMBERS", 5)
    archive = make_zip(isic_members())
    with pytest.raises(UserError, match=r"decompression bomb refused: .* has 11 entries \(limit 5\)"):
        run(make_params(url=server.add("many.zip", archive), sha256=sha(archive)))
    assert_nothing_finished(work)


def test_interrupt_during_extraction_leaves_nothing(work, server, monkeypatch):
    """Ctrl-C (or any crash) half-way through extraction: no data/raw, no temporary folders."""
    from dlcompare.data import safe_extract
    real = safe_extract.extract

    def extract_then_interrupt(archive, dest):
        real(archive, dest)
        assert any(Path(dest).rglob("*.png"))   # files were written before the interruption
        raise KeyboardInterrupt
    monkeypatch.setattr(safe_extract, "extract", extract_then_interrupt)
    archive = make_zip(isic_members())
    with pytest.raises(KeyboardInterrupt):
        run(make_params(url=server.add("isic.zip", archive), sha256=sha(archive)))
    assert_nothing_finished(work)


def test_leftovers_of_a_killed_download_are_removed(work, server):
    """A SIGKILL skips every cleanup: the next download removes the hidden temporary folders."""
    data = work / "data"
    (data / ".raw.k1ll3d.tmp" / "Train" / "nevus").mkdir(parents=True)
    (data / ".raw.k1ll3d.tmp" / "Train" / "nevus" / "a.png").write_bytes(png(1))
    (data / ".raw.work.abc123").mkdir()
    (data / ".raw.work.abc123" / "archive").write_bytes(b"partial")
    (data / "other").mkdir()                                   # not ours: left alone
    archive = make_zip(isic_members())
    lines = run(make_params(url=server.add("isic.zip", archive), sha256=sha(archive)))
    assert sorted(p.name for p in data.iterdir()) == ["other", "raw"]
    assert any("removed 2 leftover(s) of an interrupted download" in line for line in lines)


def test_kaggle_authentication_failure_is_one_line(work, monkeypatch):
    """authenticate() may call kaggle.com (token check): offline is a UserError, not a traceback."""
    extended = pytest.importorskip("kaggle.api.kaggle_api_extended")

    def offline(self):
        raise requests.ConnectionError(f"cannot reach www.kaggle.com with {SECRET}")
    monkeypatch.setattr(extended.KaggleApi, "authenticate", offline)
    with pytest.raises(UserError, match=r"Kaggle authentication failed \(ConnectionError\)") as err:
        dl.kaggle_api()
    assert SECRET not in str(err.value) and "\n" not in str(err.value)


def test_kaggle_access_token_file_is_kept_out_of_messages(work, monkeypatch, tmp_path):
    token_dir = tmp_path / "home" / ".kaggle"
    token_dir.mkdir(parents=True)
    (token_dir / "access_token").write_text(SECRET + "\n")
    monkeypatch.setattr(dl, "kaggle_api", lambda: FakeKaggleApi(error=ValueError(f"bad token {SECRET}")))
    with pytest.raises(UserError, match=r"failed: ValueError bad token \*\*\*"):
        run(make_params())
    assert_nothing_finished(work)


@pytest.mark.parametrize("overrides, message", [
    (["data.sha256=abc123"], "invalid parameter data.sha256: 'abc123' does not match .*; expected the "
                             "archive's sha256: 64 hexadecimal digits"),
    ([], "invalid parameter data.sha256: None is not of type 'string'; expected data.sha256 is required "
         "with data.url"),
])
def test_cli_sha256_mistakes_are_one_line(work, capsys, overrides, message):
    params_file = Path(__file__).resolve().parent.parent / "params.yaml"
    args = ["--set", "data.dataset=isic", "--set", "data.url=https://example.org/isic.zip"]
    for item in overrides:
        args += ["--set", item]
    assert main(["download", "--params", str(params_file), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlcompare download: error: ")
    import re
    assert re.search(message, err)
    assert_nothing_finished(work)


def test_data_stage_help_says_what_it_reads_and_writes(capsys):
    for stage, words in (("download", ["data.sha256", "kaggle.json", "SOURCE.json", "data.path"]),
                         ("clean", ["data.min_images_per_class", "cleaning.json"]),
                         ("split", ["manifest.csv", "data.stratify", "data.split_seed"])):
        with pytest.raises(SystemExit):
            main([stage, "--help"])
        out = capsys.readouterr().out
        assert "reads:" in out and "writes:" in out and all(w in out for w in words), stage


def test_disk_full_is_one_line(work, server, monkeypatch):
    archive = make_zip(isic_members())

    def full(path, mode="r", *args, **kwargs):
        if "w" in mode:
            raise OSError(28, "No space left on device")
        return open(path, mode, *args, **kwargs)
    monkeypatch.setattr(dl, "open", full, raising=False)   # fetch_url's open(), not the builtin
    with pytest.raises(UserError, match=r"failed: cannot write .*: No space left on device; data/raw left"):
        run(make_params(url=server.add("isic.zip", archive), sha256=sha(archive)))
    assert_nothing_finished(work)


# --- issue 14: symbolic links (git-annex / DataLad datasets), permissions -----------------------

def test_folder_of_relative_symlinks_is_followed_and_refusals_reach_cleaning_json(work, tmp_path):
    """Links pointing outside their class folder dangled in data/raw: a class of 233 was lost."""
    from dlcompare.data.cleaning import run_clean

    user = tmp_path / "annexed"
    store = user / ".git" / "annex" / "objects"
    expected = {}
    for c, cls in enumerate(["cat", "dog"]):
        (user / cls).mkdir(parents=True)
        for k in range(3):
            data = png(10 * c + k)
            key = store / f"{c}{k}" / f"SHA256E-s{len(data)}--{c}{k}.png"
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(data)
            os.symlink(os.path.relpath(key, user / cls), user / cls / f"img{k}.png")
            expected[f"{cls}/img{k}.png"] = data
    os.symlink("../.git/annex/objects/missing/key.png", user / "dog" / "gone.png")  # not fetched
    os.symlink("..", user / "cat" / "loop")                                             # a loop
    lines = run(make_params(dataset="folder", path=str(user)))
    raw = work / "data" / "raw"
    files = tree(raw)
    source = json.loads(files.pop("SOURCE.json"))
    assert files == expected and not any(p.is_symlink() for p in raw.rglob("*"))
    assert source["skipped"] == [
        {"path": "cat/loop", "class": "cat", "split": None,
         "reason": "symbolic link to a folder that contains it, a loop (..)"},
        {"path": "dog/gone.png", "class": "dog", "split": None,
         "reason": "symbolic link to a missing file (../.git/annex/objects/missing/key.png)"}]
    assert "download: skipped dog/gone.png: symbolic link to a missing file" in "\n".join(lines)
    report = run_clean(raw, work / "data" / "clean", work / "cleaning.json", 1, lambda m: None)
    assert report["totals"]["kept"] == 6
    assert [e["path"] for e in report["skipped"]] == ["cat/loop", "dog/gone.png"]
    assert report["skipped"][1]["reason"].startswith("download: symbolic link to a missing file")


def test_raw_data_is_not_private(work, tmp_path):
    """data/raw was created 0700 (mkdtemp), which locks out a group sharing the project."""
    old = os.umask(0o002)
    try:
        write_images(tmp_path / "u", ["a", "b"])
        run(make_params(dataset="folder", path=str(tmp_path / "u")))
    finally:
        os.umask(old)
    raw = work / "data" / "raw"
    assert raw.stat().st_mode & 0o777 == 0o775
    assert (raw / "SOURCE.json").stat().st_mode & 0o777 == 0o664
