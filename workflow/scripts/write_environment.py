"""Write environment.yml (conda, for GPU machines) from requirements.lock, so the two never drift.

The only difference is deliberate: tensorflow-cpu becomes tensorflow[and-cuda] at the same version.
Run: python workflow/scripts/write_environment.py  (make lock does it).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ["-e .", "-e plugins/torch", "-e plugins/fastai", "-e plugins/keras"]


def gpu_pin(line: str) -> str:
    name, _, version = line.partition("==")
    return f"tensorflow[and-cuda]=={version}" if name.lower().replace("_", "-") == "tensorflow-cpu" else line


def main() -> None:
    pins = [line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    python = "3.11"
    lines = ["# Generated from requirements.lock by workflow/scripts/write_environment.py (do not edit).",
             "# conda env create -f environment.yml && conda activate dlcompare   (GPU machines)",
             "name: dlcompare", "channels:", "  - conda-forge", "dependencies:",
             f"  - python={python}", "  - pip", "  - pip:"]
    lines += [f"      - {gpu_pin(p)}" for p in pins] + [f"      - {p}" for p in LOCAL]
    (ROOT / "environment.yml").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
