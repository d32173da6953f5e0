"""Every GPU of one machine: concurrent training jobs each claim a different GPU (the device count
is faked, no GPU needed); a killed job's GPU is free again; CUDA_VISIBLE_DEVICES is honoured."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from dlcompare.host import gpus

from test_plugins import rows_by_plugin, registry

CTX = mp.get_context("fork")   # the child inherits the faked device count


@pytest.fixture
def four_gpus(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "machine_gpu_count", lambda: 4)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    gpus._held.clear()


def _job(queue, release):
    """What `dlcompare train` does first: claim, report what the library would see, keep it
    (until the ``release`` file exists: an Event would hang once a waiter is SIGKILLed)."""
    index = gpus.claim("auto", log=lambda msg: None, poll_s=0.05)
    queue.put((os.getpid(), index, os.environ.get("CUDA_VISIBLE_DEVICES")))
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _start(queue, release):
    proc = CTX.Process(target=_job, args=(queue, release))
    proc.start()
    return proc


def test_concurrent_jobs_claim_distinct_gpus_and_a_killed_job_frees_its_gpu(four_gpus):
    queue, release = CTX.Queue(), four_gpus / "release"
    jobs = [_start(queue, release) for _ in range(4)]
    got = {pid: (index, visible) for pid, index, visible in (queue.get(timeout=30) for _ in jobs)}
    assert sorted(got.values()) == [(i, str(i)) for i in range(4)]   # four jobs, four GPUs, no sharing
    assert gpus.free_gpus() == []

    fifth = _start(queue, release)                            # more jobs than GPUs: it waits ...
    with pytest.raises(Exception):
        queue.get(timeout=1.0)
    os.kill(jobs[2].pid, signal.SIGKILL)                      # ... until one dies, even by SIGKILL
    pid, index, visible = queue.get(timeout=30)
    assert pid == fifth.pid and (index, visible) == got[jobs[2].pid]   # it gets the dead job's GPU
    jobs[2].join()
    release.touch()
    for proc in jobs + [fifth]:
        proc.join(30)
    assert gpus.free_gpus() == [0, 1, 2, 3]                   # every lock went with its process


def test_killed_job_gpu_is_the_one_handed_on(four_gpus):
    queue, release = CTX.Queue(), four_gpus / "release"
    first = _start(queue, release)
    assert queue.get(timeout=30)[1:] == (0, "0")
    second = _start(queue, release)
    assert queue.get(timeout=30)[1:] == (1, "1")
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    third = _start(queue, release)
    assert queue.get(timeout=30)[1:] == (0, "0")                  # GPU 0 was released by the kill
    release.touch()
    for proc in (second, third):
        proc.join(30)


def test_nothing_is_claimed_when_cuda_visible_devices_is_set_or_cpu_asked(four_gpus, monkeypatch):
    assert gpus.claim("cpu") is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")           # SLURM or a user chose already
    assert gpus.claim("auto") is None and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert gpus.free_gpus() == [0, 1, 2, 3]


def test_one_gpu_is_not_claimed(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "machine_gpu_count", lambda: 1)
    monkeypatch.chdir(tmp_path)
    assert gpus.claim("auto") is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "results").exists()


def test_locks_are_per_host_under_the_results_folder(four_gpus):
    import socket
    assert gpus.lock_dir().resolve() == four_gpus / "results" / "locks" / socket.gethostname()


def test_plugins_table_shows_the_gpu_a_job_would_claim(four_gpus):
    queue, release = CTX.Queue(), four_gpus / "release"
    assert rows_by_plugin({"train": {"device": "auto"}}, registry(gpus=4))["working"]["device"] == \
        "cuda:0, claims GPU 0 (first free of 4)"
    holder = _start(queue, release)
    queue.get(timeout=30)
    assert rows_by_plugin({"train": {"device": "auto"}}, registry(gpus=4))["working"]["device"] == \
        "cuda:0, claims GPU 1 (first free of 4)"
    assert rows_by_plugin({"train": {"device": "cpu"}}, registry(gpus=4))["working"]["device"] == "cpu"
    release.touch()
    holder.join(30)
