"""Grading integrity: the adversarial cohort of tests/adversarial.py, graded once by `bnlab grade`.

One test per case (status, score, each graded cell's score, the reason or diagnosis), then the
checks after the run: no process left behind (by this run's folders and token, and by its
sandbox users), no file written outside the scratch folders, nothing written, chowned or
touched through a planted link (the bait file's content, owner, mode and mtime),
no connection to a loopback listener nor to the unix socket planted symlinks point at, no stage
folder left, the batch exited 0 within its watchdog with a row per submission, feedback without
hidden tests or solution lines, stored outputs capped.

While iterating, ``BNLAB_ADVERSARIAL_CASES=REGEX`` grades only the cases whose student id matches
(``pytest tests/test_integrity.py`` with it unset grades them all).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

import adversarial
from adversarial import ASSIGNMENT, Context, cases
from conftest import ROOT, grade

CASES = [case for case in cases() if re.search(os.environ.get("BNLAB_ADVERSARIAL_CASES", ""), case.student_id)]
SANDBOX_UIDS = range(61000, 61000 + 1000 * 64)  # autograder.run.sandbox.UidBlock: blocks of 64 per run
# A generous notebook deadline: on a machine shared by several runs the lesson's own cells can take
# more than 90 s, and a case that is not about time must not end as a timeout.
LIMITS = ("--workers", "2", "--timeout", "20", "--notebook-timeout", "240", "--memory-mb", "2048")
MAX_OUTPUT_CHARS = 20_000  # autograder.execute.Limits.max_output_chars
WATCHDOG_SECONDS = 2700  # the cohort takes 10 to 20 minutes on 2 busy cores; a hang is a failure


def _stop_hung_grader(submitted: Path) -> None:
    """Kill this run's `bnlab grade` (found by its SUBMITTED argument) when it hangs."""
    for pid, info in processes().items():
        if "autograder.cli grade" in info["cmdline"] and f" {submitted} " in f" {info['cmdline']} ":
            try:
                os.kill(pid, 9)
            except OSError:
                pass


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.socket.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.socket.close()


def _read(path: Path, binary: bool = False):
    try:
        return path.read_bytes() if binary else path.read_text(errors="replace")
    except OSError:
        return b"" if binary else ""


def processes() -> dict[int, dict]:
    """Every live process: uid, cmdline, cwd, environ (as root, all are readable)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _read(entry / "status")
        if not status:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        found[int(entry.name)] = {
            "uid": int(fields.get("Uid", "-1").split()[0]),
            "cmdline": _read(entry / "cmdline", binary=True).replace(b"\0", b" ").decode(errors="replace"),
            "cwd": cwd, "environ": _read(entry / "environ", binary=True)}
    return found


def left_behind(base: Path, token: str, before: set[int]) -> list[str]:
    """Processes this run left: in or under its folders, carrying its token, of the sandbox users
    in its folders, or grading kernels/zygotes it started."""
    leftovers = []
    me = os.getpid()
    for pid, info in processes().items():
        if pid == me:
            continue
        ours = (token in info["cmdline"] or token.encode() in info["environ"] or str(base) in info["cwd"]
                or str(base) in info["cmdline"] or str(base).encode() in info["environ"])
        grading = "autograder.run.kernel" in info["cmdline"] or "autograder.run.zygote" in info["cmdline"]
        if ours or (grading and pid not in before and info["uid"] in SANDBOX_UIDS and ours):
            leftovers.append(f"pid {pid} uid {info['uid']} cwd {info['cwd']!r} cmdline {info['cmdline'][:160]!r}")
    return leftovers


class UnixListener(Listener):
    """A unix socket outside the sandbox (planted symlinks point at it) that counts connections."""

    def __init__(self, path: Path):  # noqa: super().__init__ is not called: another socket family
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.bind(str(path))
        self.socket.listen(64)
        self.socket.settimeout(0.2)
        self.accepted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()


class GraderWatch:
    """Finds this run's `bnlab grade` process; its sandbox users are in OUT/run.json."""

    def __init__(self, submitted: Path):
        self.submitted, self.pid = submitted, None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while self.pid is None and not self.stopping.wait(0.3):
            for pid, info in processes().items():
                if "autograder.cli grade" in info["cmdline"] and f" {self.submitted} " in f" {info['cmdline']} ":
                    self.pid = pid

    def uids(self, out: Path) -> range:
        self.stopping.set()
        self.thread.join(timeout=5)
        try:
            first, last = json.loads((out / "run.json").read_text(encoding="utf-8"))["sandbox_users"]
        except (OSError, ValueError, KeyError, TypeError):
            return range(0)
        return range(first, last + 1)


def file_state(path: Path) -> tuple:
    """What must not change: content, owner, mode, mtime."""
    info = os.lstat(path)
    return (hashlib.sha256(path.read_bytes()).hexdigest(), info.st_uid, info.st_gid, info.st_mode, info.st_mtime_ns)


def stage_folders_left(token: str) -> list[str]:
    """Markers (planted-<token>) still in a grader's scratch folder: a stage folder not deleted."""
    found = []
    for root in Path("/tmp").glob("bnlab-*"):
        try:
            for marker in root.glob(f"s-*/*/planted-{token}"):
                found.append(str(marker))
        except OSError:
            pass
    return found


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Grade the whole adversarial cohort once; record what the run left behind."""
    base = tmp_path_factory.mktemp("integrity")
    submitted, out = base / "submitted", base / "out"
    token = secrets.token_hex(8)
    # The grader's temporary folders (its scratch root among them) go in a folder of this run,
    # so that what this run leaves can be told apart from what concurrent runs do.  It is short:
    # the kernels' ipc sockets live in the scratch folders, and a socket path has at most 107 bytes.
    scratch_tmp = Path(tempfile.mkdtemp(prefix=f"bnli-{token[:6]}-", dir="/tmp"))
    listener = Listener()
    bait = base / "bait" / f"bait-{token}.txt"
    bait.parent.mkdir()
    bait.write_text("the grader must never write, chown or follow a link to this file\n")
    os.utime(bait, ns=(10**18, 10**18))
    unix_listener = UnixListener(base / "bait.sock")
    ctx = Context(port=listener.port, token=token, root=ROOT, submitted=submitted, out=out, home=Path.home(),
                  bait=bait, socket=base / "bait.sock")
    folders = adversarial.write_cohort(submitted, ctx, CASES)
    watched = [bait]  # not /etc/passwd: other tests on a shared machine add users
    states_before = {str(path): file_state(path) for path in watched if path.exists()}
    grader = GraderWatch(submitted)
    submitted_before = tree_digest(submitted)
    before = {pid for pid, info in processes().items()
              if "autograder.run.kernel" in info["cmdline"] or "autograder.run.zygote" in info["cmdline"]}
    saved_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch_tmp)
    started = time.monotonic()
    error, records = None, {}
    watchdog = threading.Timer(WATCHDOG_SECONDS, _stop_hung_grader, args=(submitted,))
    watchdog.start()
    try:
        records = grade(submitted, out, *LIMITS)
    except AssertionError as failure:  # the batch exited non-zero (or hung): test_batch_exits_zero says so
        error = str(failure)[-3000:]
        if (out / "grades.json").is_file():
            rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))
        else:  # the per-submission records the grader did write
            rows = [json.loads(path.read_text(encoding="utf-8")) for path in (out / "results").glob("*/*.json")]
        records = {(row["student_id"], row["assignment"]): row for row in rows}
    finally:
        watchdog.cancel()
        if saved_tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_tmpdir
    elapsed = time.monotonic() - started
    if elapsed > WATCHDOG_SECONDS:
        error = f"bnlab grade hung: stopped after {WATCHDOG_SECONDS} s. " + (error or "")
    uids = grader.uids(out)
    leftovers = left_behind(base, token, before) + left_behind(scratch_tmp, token, before)
    leftovers += [f"pid {pid} uid {info['uid']} (a sandbox user of this run) cmdline {info['cmdline'][:160]!r}"
                  for pid, info in processes().items() if info["uid"] in uids]
    time.sleep(1.0)
    accepted = listener.accepted
    listener.close()
    unix_accepted = unix_listener.accepted
    unix_listener.close()
    states_after = {str(path): file_state(Path(path)) for path in states_before if Path(path).exists()}
    changed = [path for path in states_before if states_after.get(path) != states_before[path]]
    folders_left = stage_folders_left(token)
    written = [str(path) for case in CASES for path in ctx.forbidden_files(folders[case.student_id]) if path.exists()]
    written += [str(path) for path in ROOT.rglob(f"*{token}*")]
    print(f"\nadversarial cohort: {len(CASES)} submissions graded in {elapsed:.0f} s")
    yield {"records": records, "error": error, "elapsed": elapsed, "leftovers": leftovers, "accepted": accepted,
           "written": written, "out": out, "submitted": submitted, "submitted_before": submitted_before,
           "token": token, "base": base, "unix_accepted": unix_accepted, "changed": changed,
           "folders_left": folders_left, "grader_found": bool(uids)}
    # Clean up whatever escaped, so that one failure does not spill into other tests.
    for path in written:
        try:
            Path(path).unlink()
        except OSError:
            pass
    shutil.rmtree(scratch_tmp, ignore_errors=True)
    for line in leftovers:
        try:
            os.kill(int(line.split()[1]), 9)
        except (OSError, ValueError):
            pass
    for marker in folders_left:  # a stage folder the run did not delete
        subprocess.run(["rm", "-rf", str(Path(marker).parent.parent)], check=False)


@pytest.mark.slow
def test_batch_exits_zero(cohort):
    assert cohort["error"] is None, cohort["error"]


@pytest.mark.slow
def test_every_submission_has_a_row(cohort):
    expected = {(case.student_id, case.assignment) for case in CASES}
    assert set(cohort["records"]) == expected, (
        f"missing rows: {sorted(expected - set(cohort['records']))}; "
        f"unexpected rows: {sorted(set(cohort['records']) - expected)}")
    for record in cohort["records"].values():
        if record["status"] != "graded":
            assert record["reason"] and len(record["reason"]) > 10, f"{record['student_id']}: no clear reason"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.student_id for case in CASES])
def test_case_gets_expected_status_and_score(cohort, case):
    record = cohort["records"].get((case.student_id, case.assignment))
    assert record is not None, f"no row for {case.student_id}"
    _check_case(record, case)


def _check_case(record: dict, case) -> None:
    got_cells = {grade_id: cell["score"] for grade_id, cell in record["cells"].items()}
    summary = (f"{case.student_id} ({case.what}): got status {record['status']!r} score {record['score']} "
               f"cells {got_cells} reason {record['reason']!r} feedback "
               f"{ {g: c['feedback'][:200] for g, c in record['cells'].items()} }")
    assert record["status"] in (case.status, *case.also), summary
    assert record["score"] == case.score, summary
    assert record["max_score"] == case.max_score, summary
    assert got_cells == case.expected_cells(), summary
    if case.fragment:
        texts = [record["reason"] or ""] + [cell["feedback"] for cell in record["cells"].values()]
        assert any(case.fragment in text for text in texts), f"{case.fragment!r} not in the reason or feedback: {summary}"
    for cell in record["cells"].values():
        assert "Traceback" not in cell["feedback"], summary


@pytest.mark.slow
def test_no_process_left(cohort):
    assert not cohort["leftovers"], "processes left behind by the run:\n" + "\n".join(cohort["leftovers"])


@pytest.mark.slow
def test_no_file_written_outside_scratch(cohort):
    assert not cohort["written"], f"learner code wrote outside its scratch folder: {cohort['written']}"
    assert tree_digest(cohort["submitted"]) == cohort["submitted_before"], "the submissions were changed"
    out = cohort["out"]
    assert not [p for p in out.rglob("*") if "pwned" in p.name], "learner code wrote into OUT"
    with sqlite3.connect(f"file:{out / 'gradebook.db'}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert not [t for t in tables if "pwned" in t], f"learner code wrote the gradebook: {tables}"
        scores = dict(db.execute(
            "SELECT submitted_assignment.student_id || '/' || base_cell.name, grade.auto_score FROM grade "
            "JOIN base_cell ON grade.cell_id = base_cell.id "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id").fetchall())
    for (student, assignment), record in cohort["records"].items():
        for grade_id, cell in record["cells"].items():
            if assignment == ASSIGNMENT:
                assert scores.get(f"{student}/{grade_id}") == cell["score"], (
                    f"the gradebook's score of {student}/{grade_id} is not the grader's")


@pytest.mark.slow
def test_no_connection_reached_the_loopback_listener(cohort):
    assert cohort["accepted"] == 0, f"learner code connected {cohort['accepted']} times to 127.0.0.1"


@pytest.mark.slow
def test_grader_followed_no_planted_link(cohort):
    """Symlinks to a bait file, to /etc, to OUT and to a unix socket outside were planted in every
    folder learner code can write: nothing was written, chowned or connected to through them."""
    assert cohort["unix_accepted"] == 0, (
        f"the grader connected {cohort['unix_accepted']} times to the unix socket planted symlinks point at")
    assert not cohort["changed"], f"changed through a planted link (content, owner, mode or mtime): {cohort['changed']}"


@pytest.mark.slow
def test_stage_folders_deleted(cohort):
    assert not cohort["folders_left"], f"stage folders left after the run: {cohort['folders_left']}"


@pytest.mark.slow
def test_sandbox_users_found(cohort):
    """The check for processes left by this run's sandbox users needs the grader's pid."""
    assert cohort["grader_found"], "the grader's process was never seen: its sandbox users are unknown"


@pytest.mark.slow
def test_learner_code_read_and_reached_nothing(cohort):
    """The hostile cells print LEAK:/ESCAPE: when they read a protected file, or connected,
    wrote the gradebook, opened the grader's code for writing, or signalled another user."""
    found = []
    for path in (cohort["out"] / "autograded").rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                text = output.get("text", "") if output.get("output_type") == "stream" else ""
                found += [f"{path.parts[-3]}: {line[:200]}" for line in text.splitlines()
                          if line.startswith(("LEAK:", "ESCAPE:"))]
    assert not found, "\n".join(found)


def _page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_feedback_hides_hidden_tests_and_solutions(cohort):
    from autograder.cohort.feedback import safe_name

    hidden = adversarial.hidden_test_lines()
    solution = adversarial.solution_lines()
    assert hidden and solution
    pages = {}
    for (student, assignment) in cohort["records"]:
        page = cohort["out"] / "feedback" / safe_name(student) / f"{assignment}.html"
        assert page.is_file(), f"no feedback page for {student}"
        pages[student] = _page_text(page)
    sources = {}
    for case in CASES:
        for path in (cohort["submitted"] / case.student_id).rglob("*.ipynb"):
            sources[case.student_id] = path.read_text(encoding="utf-8", errors="replace")
    for student, text in pages.items():
        assert ".hidden(globals())" not in text, f"{student}: hidden test source in the feedback"
        assert "BEGIN HIDDEN TESTS" not in text, f"{student}: hidden test markers in the feedback"
        for line in hidden:
            assert line not in text, f"{student}: hidden test line {line!r} in the feedback"
        learner = sources.get(student, "")
        for line in solution:
            if line not in learner and json.dumps(line)[1:-1] not in learner:
                assert line not in text, f"{student}: solution line {line!r} in the feedback"


@pytest.mark.slow
def test_stored_outputs_are_capped(cohort):
    out = cohort["out"]
    notebooks = list((out / "autograded").rglob("*.ipynb"))
    assert notebooks
    huge = [p for p in notebooks if p.parts[-3] == "output-huge-printed"]
    if "output-huge-printed" not in {case.student_id for case in CASES}:
        pytest.skip("output-huge-printed is not in this cohort (BNLAB_ADVERSARIAL_CASES)")
    assert huge, "the huge-output submission's executed notebook was not kept"
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                sizes = [len(output.get("text", ""))] + [len(value) for key, value in output.get("data", {}).items()
                                                         if isinstance(value, str) and not key.startswith("image/")]
                assert max(sizes) <= MAX_OUTPUT_CHARS + 200, f"{path}: an output of {max(sizes)} characters was stored"
    assert huge[0].stat().st_size < 1_000_000
    for page in (out / "feedback").rglob("*.html"):
        assert page.stat().st_size < 5_000_000, f"{page} is {page.stat().st_size} bytes"
