"""`make demo` on a fresh machine: workflow/scripts/system_packages.sh installs TeX Live (and the
vector fonts) through apt-get when it can do so without asking, and otherwise prints the one
command and carries on. System commands are replaced by stubs on PATH that record their calls."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "workflow/scripts/system_packages.sh"
TEX = {"texlive-latex-recommended", "texlive-latex-extra", "texlive-lang-spanish", "texlive-fonts-recommended", "lmodern", "cm-super",
       "latexmk", "poppler-utils"}


def stubs(tmp_path: Path, uid: int, apt: bool, installed=(), apt_fails=False) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    scripts = {
        "id": f'echo {uid}',
        "dpkg-query": "pkg=${@: -1}; case \" " + " ".join(installed) + " \" in *\" $pkg \"*) "
                      "echo 'install ok installed';; *) exit 1;; esac",
    }
    if apt:
        scripts["apt-get"] = f'echo "apt-get $*" >> {calls}; ' + ("exit 100" if apt_fails else "exit 0")
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for tool in ("bash", "grep", "env", "cat"):     # what the script needs, nothing else
        real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        os.symlink(real, bin_dir / tool)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def run(env, *groups):
    return subprocess.run(["bash", str(SCRIPT), *groups], env=env, capture_output=True, text=True, timeout=60)


def test_root_on_debian_installs_tex_and_fonts_non_interactively(tmp_path):
    env = stubs(tmp_path, 0, apt=True, installed=["latexmk"])
    proc = run(env, "tex")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    install = next(c for c in calls if " install " in c)
    assert "-y" in install.split() and "--no-install-recommends" in install.split()
    assert set(install.split()) >= TEX - {"latexmk"} and "latexmk" not in install.split()


def test_not_root_prints_the_one_command_and_succeeds(tmp_path):
    proc = run(stubs(tmp_path, 1000, apt=True), "tex")
    assert proc.returncode == 0 and not (tmp_path / "calls.log").exists()
    command = re.search(r"sudo apt-get install -y --no-install-recommends (.*)", proc.stdout).group(1)
    assert set(command.split()) == TEX
    assert "memoir.tex and memoir.html" in proc.stdout


def test_a_failed_install_does_not_stop_the_demo(tmp_path):
    proc = run(stubs(tmp_path, 0, apt=True, apt_fails=True), "tex", "browser")
    assert proc.returncode == 0 and "apt-get could not install them" in proc.stdout
    assert "chromium" in proc.stdout


def test_nothing_to_do_when_everything_is_installed(tmp_path):
    proc = run(stubs(tmp_path, 0, apt=True, installed=sorted(TEX)), "tex")
    assert proc.returncode == 0 and proc.stdout == "" and not (tmp_path / "calls.log").exists()


def test_make_demo_and_ci_use_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup tex$", makefile, re.M)
    assert "workflow/scripts/system_packages.sh tex" in makefile
    assert "workflow/scripts/system_packages.sh tex browser" in (ROOT / ".ci/run").read_text()
