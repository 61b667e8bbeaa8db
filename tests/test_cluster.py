"""`bnlab grade --cluster` on a real Dask cluster that the tests start on 127.0.0.1 (a scheduler and
`bnlab worker`s, no dashboard): the same grades as local grading, a worker SIGKILLed mid-run loses
and duplicates nothing, a submission that kills every worker it lands on ends with a status, and
the instructor's mistakes (an unreachable scheduler, a worker with another bnlab) are one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course.build import source_notebook
from conftest import ROOT, grade, released, run_bnlab, with_answers, write_submission

ASSIGNMENT = "03_layer_placement"
CORPUS = ROOT / "tests" / "corpus"
KILLER = ROOT / "tests" / "cluster_killer.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A Dask scheduler and ``workers`` ``bnlab worker --slots 1`` processes (each with its nanny),
    all on 127.0.0.1.  ``allowed_failures`` is the scheduler's distributed.scheduler.allowed-failures."""

    def __init__(self, folder: Path, workers: int = 2, allowed_failures: int = 1, preloads: tuple = (),
                 worker_cwd: Path = ROOT, worker_env: dict | None = None):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.log = open(folder / "cluster.log", "w")
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
        self.processes = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", self.address.rsplit(":", 1)[1], "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
             "--no-show"], env=env, stdout=self.log, stderr=self.log)]
        extra = [option for preload in preloads for option in ("--preload", str(preload))]
        for index in range(workers):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "autograder.cli", "worker", self.address, "--slots", "1",
                 "--host", "127.0.0.1", "--name", f"worker{index}", *extra],
                cwd=worker_cwd, env={**os.environ, **(worker_env or {})}, stdout=self.log, stderr=self.log))
        self.client = None
        self.wait_for_workers(workers)

    def connect(self):
        from distributed import Client

        if self.client is None:
            deadline = time.monotonic() + 120
            while True:
                try:
                    self.client = Client(self.address, timeout=10, set_as_default=False)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
        return self.client

    def wait_for_workers(self, count: int, timeout: float = 900) -> None:
        self.connect().wait_for_workers(count, timeout=timeout)

    def worker_addresses(self) -> set[str]:
        return set(self.connect().scheduler_info(n_workers=-1)["workers"])

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()


def _cohort(folder: Path) -> Path:
    """Right answers, typical mistakes, an untouched notebook, the solution and a broken file."""
    mlp = ["sequential", "after_relu", "thrown_away", "module_dict"]
    cnn = ["sequential", "after_relu", "batchnorm1d", "named_functional"]
    base = released(ASSIGNMENT)
    for index in range(len(mlp)):
        answers = {"bn_mlp": (CORPUS / "bn_mlp" / f"{mlp[index]}.py").read_text(),
                   "bn_cnn": (CORPUS / "bn_cnn" / f"{cnn[index]}.py").read_text()}
        write_submission(folder, f"learner{index:02d}", ASSIGNMENT, with_answers(base, answers))
    write_submission(folder, "untouched", ASSIGNMENT, base)
    write_submission(folder, "solution", ASSIGNMENT, source_notebook(ROOT, ASSIGNMENT))
    write_submission(folder, "truncated", ASSIGNMENT, b'{"cells": [{"cell_type": "code", "sou')
    return folder


def _comparable(records: dict) -> dict:
    return {key: {field: record[field] for field in ("status", "reason", "score", "max_score", "cells", "hashes")}
            for key, record in records.items()}


def _result_files(out: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (out / "results" / ASSIGNMENT).glob("*.json")}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The cohort, and its grades from local workers (uninterrupted)."""
    submitted = _cohort(tmp_path_factory.mktemp("submitted"))
    return submitted, grade(submitted, tmp_path_factory.mktemp("local"), "--workers", "2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two one-slot workers; allowed-failures 1 (a task is tried twice); the test preload
    tests/cluster_killer.py, inert unless a submission carries its marker."""
    started = Cluster(tmp_path_factory.mktemp("cluster"), workers=2, allowed_failures=1, preloads=(KILLER,))
    try:
        yield started
    finally:
        started.close()


@pytest.mark.slow
def test_cluster_grades_equal_local_grades(cohort, cluster, tmp_path):
    """Every record equals local grading's; each says which worker graded it (a broken file is
    told apart on the client, before any worker)."""
    submitted, local = cohort
    graded = grade(submitted, tmp_path / "out", "--cluster", cluster.address)
    assert _comparable(graded) == _comparable(local)
    assert graded[("solution", ASSIGNMENT)]["score"] == 8 and graded[("truncated", ASSIGNMENT)]["status"] == "malformed"
    workers = {name: record["worker"] for name, record in _result_files(tmp_path / "out").items()}
    assert workers.pop("truncated") == "client"
    assert set(workers.values()) <= cluster.worker_addresses(), workers
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["cluster"] == cluster.address and run["slots"] == 2


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(cohort, cluster, tmp_path):
    """SIGKILL to a worker process while it grades: the run carries on (the submission is graded
    again elsewhere) and ends with the uninterrupted run's grades, one record and one gradebook
    row each; a rerun then finds everything recorded."""
    submitted, local = cohort
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(submitted), "--out", str(out),
                                "--cluster", cluster.address, "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    client = cluster.connect()
    deadline = time.monotonic() + 900
    victim = None
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        busy = [address for address, keys in client.processing().items() if keys]
        recorded = len(_result_files(out)) if (out / "results").exists() else 0
        if busy and recorded >= 2:  # the broken file and at least one graded submission
            victim = busy[0]
        time.sleep(0.2)
    assert victim is not None, "the run ended before a worker could be killed mid-submission"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=1800)
    assert process.returncode == 0, stderr
    graded = {(r["student_id"], r["assignment"]): r for r in json.loads((out / "grades.json").read_text())}
    assert _comparable(graded) == _comparable(local)
    assert len(_result_files(out)) == len(local)
    with sqlite3.connect(out / "gradebook.db") as gradebook:
        rows = gradebook.execute("SELECT student_id, count(*) FROM submitted_assignment GROUP BY student_id").fetchall()
    assert sorted(rows) == sorted((student, 1) for student, _ in local), rows

    cluster.wait_for_workers(2)  # the nanny restarts the killed worker
    rerun = run_bnlab("grade", str(submitted), "--out", str(out), "--cluster", cluster.address)
    assert f"{len(local)} submission(s) unchanged" in rerun.stdout, rerun.stdout
    again = {(r["student_id"], r["assignment"]): r for r in json.loads((out / "grades.json").read_text())}
    assert _comparable(again) == _comparable(local)


@pytest.mark.slow
def test_a_submission_that_kills_every_worker_ends_crashed(cluster, tmp_path):
    """A submission whose task ends every worker it runs on is tried allowed-failures + 1 times,
    then once more alone, then recorded as crashed.  The others are graded, also the ones that
    were waiting on the killed workers for a slot (Dask counts a lost worker against them too),
    and the cluster is still there."""
    solution = source_notebook(ROOT, ASSIGNMENT)
    killer = with_answers(solution, {"bn_mlp": "# bnlab-test: kill the worker\n" + next(
        cell.source for cell in solution.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "bn_mlp")})
    submitted = tmp_path / "submitted"
    write_submission(submitted, "killer", ASSIGNMENT, killer)
    innocents = {f"solution{index}": 8 for index in range(3)} | {f"untouched{index}": 0 for index in range(3)}
    for name in innocents:
        write_submission(submitted, name, ASSIGNMENT, solution if name.startswith("solution") else released(ASSIGNMENT))
    graded = grade(submitted, tmp_path / "out", "--cluster", cluster.address)
    assert graded[("killer", ASSIGNMENT)]["status"] == "crashed"
    assert "every grading worker" in graded[("killer", ASSIGNMENT)]["reason"]
    assert graded[("killer", ASSIGNMENT)]["score"] == 0
    assert {name: (graded[(name, ASSIGNMENT)]["status"], graded[(name, ASSIGNMENT)]["score"]) for name in innocents} \
        == {name: ("graded", score) for name, score in innocents.items()}
    cluster.wait_for_workers(2, timeout=600)


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "alice", ASSIGNMENT, released(ASSIGNMENT))
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = run_bnlab("grade", str(submitted), "--out", str(tmp_path / "out"), "--cluster", address, check=False,
                       timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bnlab: cannot reach the Dask scheduler at {address}"), result.stderr
    assert not (tmp_path / "out" / "results").exists()


@pytest.mark.slow
def test_a_worker_with_another_bnlab_is_refused_in_one_line(tmp_path):
    """A worker running an edited copy of bnlab's code (same version number, other code) is
    refused before anything is graded."""
    other = tmp_path / "other-bnlab"
    for package in ("autograder", "utils"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "autograder" / "__init__.py", "a") as init:
        init.write("# a line this client does not have\n")
    started = Cluster(tmp_path, workers=1, worker_cwd=other, worker_env={"PYTHONPATH": str(other)})
    try:
        submitted = tmp_path / "submitted"
        write_submission(submitted, "alice", ASSIGNMENT, released(ASSIGNMENT))
        result = run_bnlab("grade", str(submitted), "--out", str(tmp_path / "out"), "--cluster", started.address,
                           check=False, timeout=300)
    finally:
        started.close()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "runs bnlab" in lines[0] and "install the same bnlab on every worker" in lines[0], \
        result.stderr
    assert not (tmp_path / "out" / "results").exists()
