"""Print the jobs of both front doors as JSON: {"snakemake": [...], "dvc": [...]}, each job with
name, cmd, inputs, outputs and params keys. tests/test_dag_parity.py compares the two, and
`python workflow/scripts/dag_jobs.py` shows a user what either tool would run.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

LOG_REDIRECT = re.compile(r"\s*>\s*\S+\s+2>&1\s*$")


def snakemake_jobs(snakefile: Path) -> list[dict]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings

    with contextlib.redirect_stdout(io.StringIO()), SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1),
                                    snakefile=snakefile, workdir=snakefile.parent)
        dag_api = workflow_api.dag(dag_settings=DAGSettings(forceall=True))
        workflow = dag_api.workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = []
        for job in workflow.dag.jobs:
            if job.rule.name == "all":
                continue
            name = job.rule.name
            if job.wildcards_dict:
                name += "@" + "-".join(str(v) for v in job.wildcards_dict.values())
            jobs.append({
                "name": name,
                "cmd": LOG_REDIRECT.sub("", job.shellcmd or "").strip(),
                "inputs": sorted(str(f) for f in job.input),
                "outputs": sorted(str(f) for f in job.output),
                "params": sorted(job.params.get("p", {})),
            })
    return sorted(jobs, key=lambda j: j["name"])


def dvc_jobs(root: Path) -> list[dict]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    jobs = []
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            params = [p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params]
            jobs.append({
                "name": stage.addressing,
                "cmd": stage.cmd.strip(),
                "inputs": sorted(d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)),
                "outputs": sorted(o.def_path for o in stage.outs),
                "params": sorted(params),
            })
    return sorted(jobs, key=lambda j: j["name"])


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    print(json.dumps({"snakemake": snakemake_jobs(root / "Snakefile"), "dvc": dvc_jobs(root)}, indent=1))


if __name__ == "__main__":
    main()
