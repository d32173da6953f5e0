"""The `dlcompare` command: one subcommand per pipeline stage, called identically by Snakemake
and DVC. Every subcommand reads params.yaml (or --params FILE ...) plus --set overrides."""

from __future__ import annotations

import argparse
import sys

from dlcompare import __version__
from dlcompare.errors import UserError

EPILOG = """\
stages (in DAG order): download -> clean -> split -> settings[entry] ->
  train[entry x arch x seed] -> report
An entry is a library's base recipe (train.libraries) or a named variant of it
(train.variants, declared under variants:).
Run the whole DAG with `snakemake --cores 8 --resources gpu=1` or `dvc repro`; each stage runs one
of these subcommands. Parameters: params.yaml, validated against the core's schema (dlcompare/schemas/) and each
library's section against the schema its plugin ships, which also fills its defaults.
"""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("parameters")
    group.add_argument("--params", action="append", metavar="FILE",
                       help="parameter file(s), merged in order (default: params.yaml)")
    group.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", dest="overrides",
                       help="override one parameter, value parsed as YAML "
                            "(e.g. --set train.seeds=[0,1] --set data.image_size=64); repeatable")
    return common


DATA_EPILOGS = {
    "download": """\
reads: data.dataset; digits: data.image_size, data.test_fraction,
       data.split_seed; isic: data.url + data.sha256, else data.kaggle_dataset;
       folder: data.path
writes: data/raw/Train|Test/<class>/* (data/raw/<class>/* for a folder without
        Train/Test) and data/raw/SOURCE.json (origin, sha256, counts)
examples:
  dlcompare download                           # digits, the default profile
  dlcompare download --set data.dataset=isic   # Kaggle API, with credentials
      # in ~/.kaggle/kaggle.json or KAGGLE_USERNAME + KAGGLE_KEY
  dlcompare download --set data.dataset=isic \\
      --set data.url=https://host/isic.zip --set data.sha256=<sha256sum>
  dlcompare download --set data.dataset=folder --set data.path=~/my_images
""",
    "clean": """\
reads: data/raw, data.min_images_per_class, data.background
writes: data/clean (hard links to the kept files) and results/cleaning.json
        (per class: before, duplicates_removed, unreadable, after, dropped;
        dropped classes; duplicate groups; skipped files with the reason;
        images of a single colour), also when clean refuses
example: dlcompare clean --set data.min_images_per_class=60
""",
    "split": """\
reads: data/clean, data.valid_fraction, data.split_seed, data.stratify,
       data.image_size, data.test_fraction (a dataset without a Test folder),
       data.background (transparent pixels are composited onto it; white)
writes: data/split/manifest.csv (path, label, split, sha256), classes.json,
        cache/<split>_images.npy (uint8 N x S x S x 3), cache/<split>_labels.npy
        and results/split.json (counts per split and per class, images that
        decode to a single colour)
example: dlcompare split --set data.stratify=true --set data.image_size=64
""",
}


# Stages that check train.libraries and train.archs against the installed plugins first; report
# renders whatever exists (missing runs shown as missing), evaluate reads finished runs.
MATRIX_CHECKED = ("download", "clean", "split", "settings", "train")


class _Formatter(argparse.HelpFormatter):
    """Descriptions are wrapped to the terminal; multi-line epilogs (examples) keep their lines."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlcompare", description="Re-run a published comparison of deep-learning libraries "
        "(Keras, fastai, PyTorch) and regenerate its memoir.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"dlcompare {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common()

    def add(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_, description=description,
                              epilog=DATA_EPILOGS.get(name), formatter_class=_Formatter)

    add("download", "fetch the dataset into data/raw",
        "Fetch data.dataset into data/raw: digits (embedded in scikit-learn, written as PNGs in the "
        "ISIC layout), isic (Kaggle API, or data.url with data.sha256), or folder (data.path). "
        "Downloads are checksum-verified and extracted safely; nothing half-done is left behind.")
    add("clean", "de-duplicate, drop unreadable images and small classes into data/clean",
        "Remove exact duplicates (every copy when a duplicate spans classes), skip unreadable "
        "files with the reason, drop classes below data.min_images_per_class; writes data/clean "
        "and results/cleaning.json and prints a summary.")
    add("split", "carve validation, write data/split/manifest.csv and the decoded cache",
        "Keep the dataset's test split, take data.valid_fraction of the training images for "
        "validation (seeded by data.split_seed), write manifest.csv (path, label, split, sha256) "
        "and decode + resize every image once into data/split/cache.")
    settings = add("settings", "write an entry's resolved settings to results/settings/<entry>.json",
                   "Resolve an entry (a library's section, or a variant's overlay merged over it, "
                   "with the plugin's defaults filled in) and record it with the plugin package's "
                   "version in results/settings/<entry>.json, which the entry's training runs depend "
                   "on: a changed setting or plugin version reruns exactly that entry's runs. The "
                   "file is rewritten only when its content changes.")
    settings.add_argument("--entry", required=True, help="a library (e.g. keras) or a variant (e.g. keras_onecycle)")
    train = add("train", "train one (entry, arch, seed) run into results/runs/",
                "Train one run through the library's plugin and write history, probabilities, "
                "run info and metrics into results/runs/<entry>/<arch>/seed<seed>/ atomically. "
                "Without CUDA_VISIBLE_DEVICES on a machine with several GPUs it first claims a free "
                "one (a lock in results/locks/, released when the process ends), so parallel jobs "
                "spread over the GPUs.")
    train.add_argument("--entry", "--library", dest="entry", required=True,
                       help="a library's base recipe (torch, fastai, keras) or a variant declared "
                            "under variants: (e.g. keras_onecycle)")
    train.add_argument("--arch", required=True, help="canonical architecture, e.g. resnet18, resnet50")
    train.add_argument("--seed", required=True, type=int, help="random seed of this run")
    train.add_argument("--fresh", action="store_true",
                       help="discard the run's checkpoint (results/checkpoints/...) and start from "
                            "epoch 1 instead of resuming")
    evaluate = add("evaluate", "recompute metrics.json of finished runs from their probabilities",
                   "Compute accuracy, cross-entropy, balanced accuracy, macro-F1, per-class recall "
                   "and the confusion matrix from saved probabilities (the same code for every library).")
    evaluate.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    add("plugins", "list installed library plugins and whether they can run here",
        "Table of plugins: distribution and version, library version, architectures, whether it "
        "can run here and on which device.")
    check = add("check-plugin", "run the conformance suite against one plugin",
                "Train tiny runs of the plugin on a synthetic split and check every artifact, "
                "shape, row order, that two runs with the same seed agree on CPU, and that a run "
                "stopped after its first epoch resumes to the same result. Uses the plugin's "
                "section of ./params.yaml with --params files merged over it (its defaults "
                "filled in, each phase cut to one epoch).")
    check.add_argument("library", help="plugin name")
    check.add_argument("--arch", help="architecture to test (default: the plugin's smallest)")
    add("report", "render the memoir (LaTeX/PDF and HTML) into reports/build",
        "Render the comparison report and the course-content matrix from the run artifacts, one "
        "edition per report.languages: memoir.pdf/.html (en), memoir.es.pdf/.html (es).")

    return parser


def dispatch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dlcompare import params as params_mod

    # Listing and checking plugins also works in a plugin author's folder without params.yaml;
    # check-plugin merges --params over ./params.yaml and uses only the plugin's section.
    if args.command == "check-plugin":
        from dlcompare.conformance.runner import load_params
        params = params_mod.apply_overrides(load_params(*(args.params or [])) or {}, args.overrides)
    elif args.command == "plugins" and not args.params and not Path(params_mod.DEFAULT_PARAMS).is_file():
        params = None
    else:
        params = params_mod.load(args.params, args.overrides)
    if args.command in MATRIX_CHECKED:
        from dlcompare.host.plugins import check_matrix
        check_matrix(params)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.command == "download":
        from dlcompare.data.download import download
        download(params, log)
    elif args.command == "clean":
        from dlcompare.data.cleaning import clean
        clean(params, log)
    elif args.command == "split":
        from dlcompare.data.splitting import split
        split(params, log)
    elif args.command == "train":
        from dlcompare.host.training import train
        train(params, args.entry, args.arch, args.seed, log, fresh=args.fresh)
    elif args.command == "settings":
        from dlcompare.host.entries import write_settings
        write_settings(params, args.entry, log=log)
    elif args.command == "evaluate":
        from dlcompare.host.evaluate import write_metrics
        from dlcompare.glossary import SPLIT_DIR
        for run_dir in args.run_dirs:
            result = write_metrics(run_dir, SPLIT_DIR)
            log(f"{run_dir}: valid accuracy {result['valid']['accuracy']:.4f}, "
                f"test accuracy {result['test']['accuracy']:.4f}")
    elif args.command == "plugins":
        from dlcompare.host.listing import show_plugins
        show_plugins(params)
    elif args.command == "check-plugin":
        from dlcompare.conformance.runner import check_plugin
        return check_plugin(args.library, args.arch, log, params=params)
    elif args.command == "report":
        from dlcompare.report import build_report
        build_report(params, log)
    return 0


def os_error_line(exc: OSError) -> str:
    """One line for a file-system refusal: what, which path, what to do."""
    import errno

    hint = {errno.EACCES: "make it (and its folder) writable, e.g. chmod -R u+w, or run elsewhere",
            errno.EPERM: "make it (and its folder) writable, e.g. chmod -R u+w, or run elsewhere",
            errno.EROFS: "the file system is read-only: run in a writable copy of the project",
            errno.ENOSPC: "the disk is full: free space and run again",
            errno.EEXIST: "something else is in the way there: move or delete it and run again",
            errno.ENOTDIR: "a plain file stands where a folder is expected: move or delete it",
            errno.EISDIR: "a folder stands where a file is expected: move or delete it",
            }.get(exc.errno, "fix or remove it and run again")
    return f"{exc.strerror or type(exc).__name__}: {exc.filename} ({hint})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except UserError as exc:
        print(f"dlcompare {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:   # not about a path the user can fix: a bug, keep the traceback
            raise
        print(f"dlcompare {args.command}: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlcompare {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
