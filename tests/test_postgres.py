"""The gradebook in PostgreSQL (`bnlab grade --db postgresql://...`): a real server from Debian's
packages (`make test` installs it), started here as the `postgres` user with a throwaway data
directory on a loopback port; several runs into one database, read back by `nbgrader export`;
a database that refuses the connection is the instructor's one-line error."""
from __future__ import annotations

import csv
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.course.build import source_notebook
from conftest import ROOT, grade, released, run_bnlab, write_submission

PLACEMENT = "03_layer_placement"
MATH = "02_normalization_math"


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql package)")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 (PostgreSQL refuses to run as root: as root,
    it runs as the `postgres` user)."""

    def __init__(self):
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="bnlab-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.folder, self.user, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options, "-w",
                  "-t", "120", "start")

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.bin / program), *args], capture_output=True, text=True, user=self.user,
                                cwd=self.folder, timeout=300)
        if result.returncode != 0:
            raise AssertionError(f"{program} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def query(self, database: str, sql: str) -> list[list[str]]:
        result = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                           "-At", "-F", "\t", "-c", sql)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def stop(self) -> None:
        subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, user=self.user, cwd=self.folder, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


def _submissions(folder: Path, assignment: str, students: dict[str, str]) -> Path:
    """students: id -> "solution" (the instructor's notebook) or "untouched" (the learner's copy)."""
    for student, kind in students.items():
        notebook = source_notebook(ROOT, assignment) if kind == "solution" else released(assignment)
        write_submission(folder, student, assignment, notebook)
    return folder


def _nbgrader_export(db_url: str, folder: Path) -> dict[tuple[str, str], dict]:
    """nbgrader's own export of the gradebook, keyed by (student, assignment)."""
    target = folder / "export.csv"
    result = subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--db={db_url}",
                             "--CourseDirectory.course_id=bnlab", f"--to={target}"],
                            cwd=folder, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    with open(target, newline="") as handle:
        return {(row["student_id"], row["assignment"]): row for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_runs_of_two_assignments_and_a_rerun_share_one_postgresql_gradebook(postgres, tmp_path):
    """Two runs (different assignments, different OUT folders, as from two machines) and a rerun
    with --force write into one PostgreSQL gradebook; nbgrader export reads every grade back
    once, and bnlab's results match it."""
    db_url = postgres.create_database("course")
    first = grade(_submissions(tmp_path / "placement", PLACEMENT, {"alice": "solution", "bob": "untouched"}),
                  tmp_path / "out-placement", "--db", db_url)
    second = grade(_submissions(tmp_path / "math", MATH, {"carol": "untouched", "alice": "untouched"}),
                   tmp_path / "out-math", "--db", db_url)
    assert not (tmp_path / "out-placement" / "gradebook.db").exists(), "--db was ignored"
    rerun = grade(tmp_path / "placement", tmp_path / "out-placement", "--db", db_url, "--force")
    assert {key: r["score"] for key, r in rerun.items()} == {key: r["score"] for key, r in first.items()}

    exported = _nbgrader_export(db_url, tmp_path)
    for key, record in {**first, **second}.items():
        assert key in exported, f"nbgrader export does not list {key}"
        assert float(exported[key]["raw_score"]) == record["score"], key
        assert float(exported[key]["max_score"]) == record["max_score"], key
    assert first[("alice", PLACEMENT)]["score"] == 8.0 and first[("bob", PLACEMENT)]["score"] == 0.0
    submissions = postgres.query("course", "SELECT student.id, assignment.name, count(*) FROM submitted_assignment "
                                           "JOIN student ON student.id = submitted_assignment.student_id "
                                           "JOIN assignment ON assignment.id = submitted_assignment.assignment_id "
                                           "GROUP BY student.id, assignment.name")
    assert sorted((s, a, int(n)) for s, a, n in submissions) == sorted(
        (s, a, 1) for s, a in [*first, *second]), "a run or the rerun duplicated a submission"
    courses = {row[0] for row in postgres.query("course", "SELECT id FROM course")}
    assert "bnlab" in courses


def test_a_database_refusing_the_connection_is_one_line(postgres, tmp_path):
    """Nothing listening, a database that does not exist, a URL that is not one: one line,
    non-zero, nothing graded, and no password printed."""
    submitted = _submissions(tmp_path / "submitted", PLACEMENT, {"alice": "untouched"})
    closed = f"postgresql://grader:s3cret@127.0.0.1:{_free_port()}/course"
    cases = {closed: "cannot open the gradebook database",
             postgres.url("no_such_database"): "no_such_database",
             "notaurl": "is not a database URL"}
    for db_url, expected in cases.items():
        result = run_bnlab("grade", str(submitted), "--out", str(tmp_path / "out"), "--db", db_url, "--quiet",
                           check=False, timeout=120)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bnlab: ") and expected in lines[0], result.stderr
        assert "s3cret" not in result.stderr
        assert not (tmp_path / "out" / "results").exists()
