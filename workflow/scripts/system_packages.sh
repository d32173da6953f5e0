#!/usr/bin/env bash
# The system packages the memoir needs, in one place (used by `make demo`, `make tex` and .ci/run).
#   tex:     TeX Live for memoir.pdf, with vector fonts (lmodern, cm-super: no bitmap Type 3 fonts),
#            babel spanish (texlive-lang-spanish: the Spanish edition memoir.es.pdf)
#            and poppler-utils (pdffonts, pdftoppm: the slow tests read the PDF back)
#   browser: Chromium for the HTML check of the slow tests
#   slurm:   a one-node SLURM cluster (slurmctld, slurmd, client, munge) for tests/test_slurm.py
# Installs through apt-get when it can do so without asking (Debian/Ubuntu, as root); otherwise it
# prints the one command to run and exits 0, so the pipeline still writes memoir.tex and memoir.html.
set -euo pipefail
TEX="texlive-latex-recommended texlive-latex-extra texlive-lang-spanish texlive-fonts-recommended lmodern cm-super latexmk poppler-utils"
BROWSER="chromium"
SLURM="slurmctld slurmd slurm-client munge"
want=""
for group in "${@:-tex}"; do
  case "$group" in
    tex) want="$want $TEX" ;;
    browser) want="$want $BROWSER" ;;
    slurm) want="$want $SLURM" ;;
    *) echo "system_packages.sh: unknown group '$group' (tex | browser | slurm)" >&2; exit 2 ;;
  esac
done
missing=""
for pkg in $want; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -z "$missing" ] && command -v dpkg-query >/dev/null 2>&1; then
  exit 0
fi
if command -v latexmk >/dev/null 2>&1 && command -v pdflatex >/dev/null 2>&1 \
   && ! command -v apt-get >/dev/null 2>&1; then
  exit 0                                   # not Debian, but a TeX is there: use it
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq \
         && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "note: apt-get could not install them; run: apt-get install -y --no-install-recommends$missing"
    echo "(the pipeline still writes memoir.tex and memoir.html)"
  fi
else
  echo "note: memoir.pdf needs TeX Live; install it with:"
  echo "  sudo apt-get install -y --no-install-recommends$missing"
  echo "(without it the pipeline still writes memoir.tex and memoir.html)"
fi
