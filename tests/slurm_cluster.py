"""A one-node SLURM cluster from Debian's packages, for the slow SLURM test (root only).

Writes slurm.conf and gres.conf (one fake GPU: a character device, since slurmd refuses a plain
file) into a scratch folder, links them into /etc/slurm (the executor's job step drops every
SLURM_* variable, SLURM_CONF included, so the compiled-in path must hold them), starts munged,
slurmctld and slurmd in the foreground as our own children, and undoes all of it on exit: each
daemon stopped by its PID, each link removed. Accounting is off, so jobs are followed with
`squeue` (MinJobAge keeps finished jobs visible long enough for the executor to see them end).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ETC = Path("/etc/slurm")
PACKAGES = ("slurmctld", "slurmd", "squeue", "sbatch", "munged")
PARTITION = "ci"


def missing() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "needs root (starts slurmctld, slurmd and munged)"
    absent = [p for p in PACKAGES if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if absent:
        return f"missing {', '.join(absent)}: apt-get install slurmctld slurmd slurm-client munge"
    taken = [p.name for p in (ETC / "slurm.conf", ETC / "gres.conf") if p.exists() or p.is_symlink()]
    if taken:
        return f"{ETC} already has {', '.join(taken)} (a real cluster?); not touching it"
    return None


def node_facts() -> dict:
    """CPUs and RealMemory as slurmd itself reports them (`slurmd -C`)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0]
    facts = dict(item.split("=", 1) for item in first.split())
    return {"NodeName": facts["NodeName"], "CPUs": int(facts["CPUs"]),
            "RealMemory": int(facts["RealMemory"])}


def write_config(root: Path, min_job_age: int) -> Path:
    node = node_facts()
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    gpu = root / "fake-gpu0"
    if not gpu.exists():
        os.mknod(gpu, 0o666 | 0o020000, os.makedev(195, 0))   # a character device, like /dev/nvidia0
    host = socket.gethostname()
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=dlcompare-ci
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge={min_job_age}
ReturnToService=2
DefMemPerCPU=1000
GresTypes=gpu
NodeName={node['NodeName']} CPUs={node['CPUs']} RealMemory={node['RealMemory']} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (root / "gres.conf").write_text(f"NodeName={node['NodeName']} Name=gpu File={gpu}\n")
    return conf


def _wait(check, seconds: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"SLURM test cluster: {what} not within {seconds:.0f} s\n{tails}")


@contextlib.contextmanager
def cluster(root: Path, min_job_age: int = 60):
    """Bring the cluster up, yield its scratch folder; everything is undone on exit."""
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, min_job_age)
    linked: list[Path] = []
    daemons: list[subprocess.Popen] = []
    try:
        ETC.mkdir(exist_ok=True)
        for name in ("slurm.conf", "gres.conf"):
            (ETC / name).symlink_to(root / name)
            linked.append(ETC / name)
        munge = pwd.getpwnam("munge")
        run_munge = Path("/run/munge")
        run_munge.mkdir(exist_ok=True)
        os.chown(run_munge, munge.pw_uid, munge.pw_gid)
        daemons.append(subprocess.Popen(["munged", "-F"], user="munge", group="munge",
                                        stdout=open(root / "munged.out", "w"), stderr=subprocess.STDOUT))
        _wait(lambda: subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0,
              20, "munged answering", [root / "munged.out"])
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen([daemon, "-D"], stdout=open(root / f"{daemon}.out", "w"),
                                            stderr=subprocess.STDOUT))
        logs = [root / "slurmctld.log", root / "slurmd.log", root / "slurmctld.out", root / "slurmd.out"]
        _wait(lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                               text=True).stdout, 60, "node idle", logs)
        yield root
    finally:
        if len(daemons) == 3:   # jobs left by a run cut short: cancel them while slurmd still runs
            subprocess.run(["scancel", "--partition", PARTITION], capture_output=True)
            with contextlib.suppress(RuntimeError):
                _wait(lambda: subprocess.run(["squeue", "-h", "-t", "PD,R,CG"], capture_output=True,
                                             text=True).stdout.strip() == "", 30, "jobs cancelled", [])
        for proc in reversed(daemons):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for link in linked:
            link.unlink(missing_ok=True)
        for pid in _step_daemons():   # only this cluster runs job steps on this machine
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _step_daemons() -> list[int]:
    """PIDs of slurmstepd processes still alive (a job whose slurmd is gone) and of everything
    they started."""
    parent, steps = {}, []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if (proc / "cmdline").read_bytes().startswith(b"slurmstepd:"):
                    steps.append(int(proc.name))
    found, grew = set(steps), True
    while grew:
        children = {pid for pid, ppid in parent.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)
