"""One glossary: the canonical names used in params keys, wildcards, folders and report rows."""

# Libraries shipped as plugin packages (third-party plugins add their own names).
LIBRARIES = ("keras", "fastai", "torch")

# Architectures every library maps to its own implementation. The six of the thesis, plus a
# small one that trains on a 2-core CPU in seconds for the default profile.
THESIS_ARCHS = ("vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169")
SMALL_ARCH = "resnet18"
ARCHS = THESIS_ARCHS + (SMALL_ARCH,)

# The thesis's two-phase protocol: phase1 trains the new head (body frozen except BatchNorm),
# phase2 fine-tunes everything.
PHASES = ("phase1", "phase2")

# Manifest splits: the dataset's own test split is kept, validation is carved from train.
SPLITS = ("train", "valid", "test")
EVAL_SPLITS = ("valid", "test")

# Datasets understood by `dlcompare download`.
DATASETS = ("digits", "isic", "folder")

# Per-run artifact file names (the run contract; see docs/writing-a-plugin.md).
HISTORY = "history.csv"
HISTORY_COLUMNS = ("epoch", "phase", "train_loss", "valid_loss", "valid_accuracy", "seconds")
PROBS = {"valid": "probs_valid.npy", "test": "probs_test.npy"}
RUN_INFO = "run.json"
METRICS = "metrics.json"
RUN_ARTIFACTS = (HISTORY, PROBS["valid"], PROBS["test"], RUN_INFO, METRICS)

# Data-stage artifact names.
SOURCE_INFO = "SOURCE.json"        # data/raw/SOURCE.json: origin, counts, files download skipped
CLEANING_REPORT = "cleaning.json"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("path", "label", "split", "sha256")
CLASSES = "classes.json"


# A run is (entry, arch, seed). An entry is a library's base recipe (named after the library) or a
# variant: a named overlay of one library's params section (params ``variants:``), run beside it.
def entries(train: dict) -> list[str]:
    """The entries a profile runs: train.libraries (base recipes), then train.variants."""
    return list(train["libraries"]) + list(train.get("variants") or [])


def run_dir(results: str, entry: str, arch: str, seed: int | str) -> str:
    """Where one (entry, arch, seed) run writes its artifacts, for Snakemake, DVC and the CLI alike."""
    return f"{results}/runs/{entry}/{arch}/seed{seed}"

# Where each stage writes, relative to the project root (the same for Snakemake, DVC and the CLI).
RAW_DIR = "data/raw"
CLEAN_DIR = "data/clean"
SPLIT_DIR = "data/split"
RESULTS_DIR = "results"
CHECKPOINT_DIR = "results/checkpoints"   # not a declared output: survives a killed run
LOCK_DIR = "results/locks"               # one lock file per GPU of a machine (dlcompare.host.gpus)
SETTINGS_DIR = "results/settings"       # one JSON per entry: what its runs depend on (a DAG input)
REPORT_DIR = "reports/build"


def settings_file(entry: str) -> str:
    """An entry's resolved settings (params with defaults, plugin version): its runs' DAG input."""
    return f"{SETTINGS_DIR}/{entry}.json"


def checkpoint_dir(entry: str, arch: str, seed: int | str) -> str:
    """Where a run keeps its resume state (outside the declared outputs of Snakemake and DVC)."""
    return f"{CHECKPOINT_DIR}/{entry}/{arch}/seed{seed}"
