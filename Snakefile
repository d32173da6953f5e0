# dlcompare: download -> clean -> split -> settings[entry] -> train[entry x arch x seed] -> report
# Run: snakemake --cores 8 --resources gpu=1        (the same stages as `dvc repro`, see dvc.yaml)
# Every rule calls one `dlcompare` subcommand; parameters come from params.yaml (plus any
# --configfile / --config given to snakemake, which are passed on to the CLI).
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from dlcompare.errors import UserError
from dlcompare.params import read_yaml

min_version("9.0")

try:  # one line for a params.yaml that is not UTF-8 or not YAML, where Snakemake prints a traceback
    read_yaml("params.yaml")
except UserError as exc:
    raise WorkflowError(str(exc))


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "reports/build",
    default_target: True


onerror:
    # A failed job (e.g. one library broken) must not cost the memoir: render what did run;
    # missing runs are shown as missing. This is what `snakemake --keep-going` ends with.
    shell(dlcompare("report") + " > logs/report-partial.log 2>&1 || true")
    print("memoir rendered with the runs that finished: reports/build/ (see logs/report-partial.log)")
