"""A thousand-submission cohort of 03_layer_placement, graded locally, on a Dask cluster and by nbgrader.

    python benchmarks/cohort.py [--size 1000] [--slots 2] [--nbgrader-sample 30] [--scaling 0]
                                [--timeout 20] [--notebook-timeout 120] [--skip-nbgrader] [--skip-cluster]

Generates the cohort (seeded): mostly right answers (the corpus' passing bn_mlp/bn_cnn
answers), each typical mistake of the corpus, untouched notebooks, a few runaways (an endless
loop, a memory hog, a kernel that exits) and broken files (empty, truncated, binary, JSON that
is not a notebook, a missing notebook), in the proportions of MIX.  Then, in one run, it prints

- local workers: `bnlab grade --workers SLOTS`: wall time, throughput, the grader's peak memory
  (its own process; sampled, also at half-time to show it is flat in the cohort size), OUT's size
  per submission, the slowest 1%, where a submission's seconds go, and what the runaways cost;
- `nbgrader autograde`, serially, on a uniform sample of the cohort without its runaways and
  broken files (nbgrader has no memory cap: a memory hog would take the machine), and the ratio
  of seconds per submission, bnlab (whole cohort, runaways included) / nbgrader (lower is better);
- a Dask cluster on this machine (a scheduler and one `bnlab worker --slots SLOTS`, on 127.0.0.1):
  wall time, the overhead per submission against local workers, and whether every grade equals
  the local one;
- with --scaling K: K right answers on a cluster of one 1-slot worker, then two, and the
  efficiency against linear scaling.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.course.build import ensure_tools_on_path, source_notebook, write_notebook  # noqa: E402

ASSIGNMENT = "03_layer_placement"
CORPUS = ROOT / "tests" / "corpus"
# Per 1,000 submissions.
MIX = {"right": 700, "mistake": 230, "untouched": 30, "loop": 5, "memory_hog": 5, "kernel_death": 5,
       "empty": 5, "truncated": 6, "binary": 4, "not_a_notebook": 5, "missing": 5}
RUNAWAYS = {"loop", "memory_hog", "kernel_death"}
BROKEN = {"empty", "truncated", "binary", "not_a_notebook", "missing"}
RUNAWAY_CELLS = {
    "loop": "while True:\n    pass\n",
    "memory_hog": "import torch\nhog = []\nwhile True:\n    hog.append(torch.ones(2**27))\n",
    "kernel_death": "import os\nos._exit(1)\n",
}


# --------------------------------------------------------------------------- the cohort

def _corpus(grade_id: str) -> tuple[list[str], list[str]]:
    """(passing, failing) answers of one exercise's corpus."""
    passing, failing = [], []
    for path in sorted((CORPUS / grade_id).glob("*.py")):
        text = path.read_text()
        (passing if text.startswith("# expect: pass") else failing).append(text)
    return passing, failing


def _with_answers(notebook, answers: dict) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(json.loads(nbformat.writes(notebook)))
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in answers:
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    return notebook


def kinds_for(size: int) -> list[str]:
    """The cohort's kinds of submission, MIX scaled to ``size`` (at least one runaway and one
    broken file of each kind when the cohort has 40 or more), shuffled with seed 0."""
    counts = {kind: round(per_thousand * size / 1000) for kind, per_thousand in MIX.items()}
    if size >= 40:
        for kind in RUNAWAYS | BROKEN:
            counts[kind] = max(1, counts[kind])
    counts["right"] += size - sum(counts.values())
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    random.Random(0).shuffle(kinds)
    return kinds


def make_cohort(folder: Path, size: int) -> dict[str, str]:
    """Write the cohort in nbgrader's submitted layout; return student_id -> kind."""
    base = nbformat.read(ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    mlp_right, mlp_wrong = _corpus("bn_mlp")
    cnn_right, cnn_wrong = _corpus("bn_cnn")
    mistakes = [("bn_mlp", answer) for answer in mlp_wrong] + [("bn_cnn", answer) for answer in cnn_wrong]
    picker = random.Random(1)
    kinds = {}
    for index, kind in enumerate(kinds_for(size)):
        student = f"s{index:04d}"
        kinds[student] = kind
        path = folder / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        right = {"bn_mlp": picker.choice(mlp_right), "bn_cnn": picker.choice(cnn_right)}
        if kind == "right":
            notebook = _with_answers(base, right)
        elif kind == "mistake":
            grade_id, wrong = mistakes[index % len(mistakes)]
            notebook = _with_answers(base, {**right, grade_id: wrong})
        elif kind == "untouched":
            notebook = base
        elif kind in RUNAWAYS:
            notebook = _with_answers(base, {**right, "bn_mlp": RUNAWAY_CELLS[kind]})
        else:
            notebook = None
        if notebook is not None:
            nbformat.write(notebook, path)
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            text = nbformat.writes(_with_answers(base, right))
            path.write_text(text[: len(text) // 2])
        elif kind == "binary":
            path.write_bytes(bytes(random.Random(index).getrandbits(8) for _ in range(4096)) + b"\xff\xfe")
        elif kind == "not_a_notebook":
            path.write_text(json.dumps({"answers": right}))
        elif kind == "missing":
            (path.parent / "my_answers.txt").write_text("I could not find the notebook, sorry\n")
    return kinds


# --------------------------------------------------------------------------- measuring

class MemorySampler:
    """Samples the resident memory of one process (the grader) every ``interval`` seconds."""

    def __init__(self, pid: int, out: Path, interval: float = 0.5):
        import psutil

        self.process = psutil.Process(pid)
        self.out = out
        self.interval = interval
        self.samples: list[tuple[int, int]] = []  # (results recorded so far, RSS bytes)
        self.started = self.ended = 0.0  # wall clock (time.time()) at the grader's start and end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                rss = self.process.memory_info().rss
            except Exception:
                return
            done = sum(1 for _ in (self.out / "results").glob("*/*.json")) if (self.out / "results").is_dir() else 0
            self.samples.append((done, rss))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, up_to: float = float("inf")) -> int:
        return max((rss for done, rss in self.samples if done <= up_to), default=0)

    def quarters(self, size: int) -> str:
        """The peak in each quarter of the cohort (by results recorded): flat means it does not grow."""
        peaks = [max((rss for done, rss in self.samples if (q == 0 or done > q * size / 4) and done <= (q + 1) * size / 4),
                     default=0) for q in range(4)]
        return ", ".join(f"{peak / 2**20:.0f}" for peak in peaks) + " MiB"


def run_grader(submitted: Path, out: Path, options: list[str]) -> tuple[float, MemorySampler]:
    command = [sys.executable, "-m", "autograder.cli", "grade", str(submitted), "--out", str(out), "--quiet", *options]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(process.pid, out)
    sampler.started = time.time()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    sampler.ended = time.time()
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"bnlab grade {' '.join(options)} failed ({process.returncode}):\n{stderr}")
    return elapsed, sampler


def records_of(out: Path) -> dict[str, dict]:
    return {record["student_id"]: record for record in
            (json.loads(path.read_text()) for path in (out / "results" / ASSIGNMENT).glob("*.json"))}


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """A Dask scheduler and ``bnlab worker``s on 127.0.0.1 (no dashboard), as subprocesses."""

    def __init__(self, workers: int, slots: int, log: Path):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.log = open(log, "w")
        self.processes = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             self.address.rsplit(":", 1)[1], "--no-dashboard", "--no-show"], stdout=self.log, stderr=self.log)]
        for index in range(workers):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "autograder.cli", "worker", self.address, "--slots", str(slots), "--host",
                 "127.0.0.1", "--name", f"bench-{index}"], cwd=ROOT, stdout=self.log, stderr=self.log))
        self.wait_for(workers)

    def wait_for(self, workers: int, timeout: float = 600) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        client = None
        while client is None:
            try:
                client = Client(self.address, timeout=5, set_as_default=False)
            except OSError:
                if time.monotonic() > deadline:
                    raise
        try:
            client.wait_for_workers(workers, timeout=max(1, deadline - time.monotonic()))
        finally:
            client.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def time_nbgrader(work: Path, cohort: Path, students: list[str], timeout: float) -> float:
    """Plain nbgrader, serially: its own course (source/, submitted/), autograde the sample."""
    course = work / "nbgrader-course"
    write_notebook(source_notebook(ROOT, ASSIGNMENT), course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for student in students:
        shutil.copytree(cohort / student, course / "submitted" / student)
    common = [f"--CourseDirectory.root={course}", "--CourseDirectory.course_id=bench",
              f"--ExecutePreprocessor.timeout={int(timeout)}"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force", *common],
                   check=True, capture_output=True, cwd=course)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", *common],
                   capture_output=True, cwd=course)
    return time.perf_counter() - started


def total_seconds(record: dict) -> float:
    return sum(record.get("timings", {}).values())


# --------------------------------------------------------------------------- the report

def report_local(size: int, slots: int, wall: float, sampler: MemorySampler, out: Path, kinds: dict) -> dict:
    records = records_of(out)
    print(f"\nlocal workers (bnlab grade --workers {slots}): {wall:.1f} s, {size / wall * 60:.1f} submissions/minute, "
          f"{wall / size:.2f} s per submission")
    print(f"  grader peak memory: {sampler.peak() / 2**20:.0f} MiB (after half the cohort: "
          f"{sampler.peak(size / 2) / 2**20:.0f} MiB); peak in each quarter of the cohort: {sampler.quarters(size)}")
    print(f"  OUT: {folder_size(out) / 2**20:.1f} MiB, {folder_size(out) / size / 2**10:.0f} KiB per submission")
    statuses: dict = {}
    for student, record in records.items():
        statuses.setdefault(kinds[student], {}).setdefault(record["status"], 0)
        statuses[kinds[student]][record["status"]] += 1
    print("  statuses by kind: " + "; ".join(f"{kind} {dict(sorted(found.items()))}"
                                              for kind, found in sorted(statuses.items())))
    ordered = sorted(records.values(), key=total_seconds)
    slowest = ordered[-max(1, size // 100):]
    print(f"  slowest 1% ({len(slowest)}): from {total_seconds(slowest[0]):.1f} s to {total_seconds(slowest[-1]):.1f} s; "
          f"kinds {sorted({kinds[r['student_id']] for r in slowest})}; median of all {statistics.median(map(total_seconds, ordered)):.2f} s")
    normal = [r for r in records.values() if kinds[r["student_id"]] in {"right", "mistake", "untouched"}]
    parts = sorted({part for record in normal for part in record.get("timings", {})})
    print("  where a right/mistaken/untouched submission's seconds go (mean, in its slot): " + ", ".join(
        f"{part} {statistics.mean(r['timings'].get(part, 0.0) for r in normal):.2f}" for part in parts))
    runaway = [r for r in records.values() if kinds[r["student_id"]] in RUNAWAYS]
    each = ", ".join(f"{kinds[r['student_id']]} {total_seconds(r):.0f} s ({r['status']})" for r in runaway)
    busy = sum(map(total_seconds, records.values()))
    print(f"  runaways: {len(runaway)} took {sum(map(total_seconds, runaway)):.0f} slot-seconds in all ({each})")
    recorded = sorted(path.stat().st_mtime for path in (out / "results" / ASSIGNMENT).glob("*.json"))
    print(f"  all submissions' slot-seconds / slots = {busy / slots:.0f} s, wall time {wall:.0f} s: "
          f"{recorded[0] - sampler.started:.1f} s before the first result was recorded (the run's set-up and the "
          f"first submission), {sampler.ended - recorded[-1]:.1f} s after the last (grades, report)")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000, help="submissions in the cohort (default 1000)")
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1, help="local workers / Dask slots")
    parser.add_argument("--nbgrader-sample", type=int, default=30, help="submissions nbgrader autogrades serially")
    parser.add_argument("--scaling", type=int, default=0, help="right answers for the 1- vs 2-worker scaling run")
    parser.add_argument("--timeout", type=float, default=20, help="--timeout per cell for every grader (s)")
    parser.add_argument("--notebook-timeout", type=float, default=120, help="--notebook-timeout (s)")
    parser.add_argument("--skip-nbgrader", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each leg's figures as soon as it ends (a long run)
    ensure_tools_on_path()
    work = Path(tempfile.mkdtemp(prefix="bnlab-cohort-bench-"))
    limits = ["--timeout", str(args.timeout), "--notebook-timeout", str(args.notebook_timeout)]
    try:
        cohort = work / "submitted"
        kinds = make_cohort(cohort, args.size)
        mix = {kind: list(kinds.values()).count(kind) for kind in MIX}
        print(f"cohort: {args.size} submissions of {ASSIGNMENT} ({', '.join(f'{k} {n}' for k, n in mix.items() if n)}); "
              f"{os.cpu_count()} CPUs; slots {args.slots}; --timeout {args.timeout:g} --notebook-timeout "
              f"{args.notebook_timeout:g}; load average before: {os.getloadavg()[0]:.1f}", flush=True)

        local_wall, sampler = run_grader(cohort, work / "out-local", ["--workers", str(args.slots), *limits])
        local = report_local(args.size, args.slots, local_wall, sampler, work / "out-local", kinds)

        if not args.skip_nbgrader:
            pool = [s for s, kind in kinds.items() if kind not in RUNAWAYS | BROKEN]
            step = max(1, len(pool) // max(1, args.nbgrader_sample))
            sample = pool[::step][: args.nbgrader_sample]
            nbgrader_wall = time_nbgrader(work, cohort, sample, args.timeout)
            print(f"\nnbgrader autograde, serial, on {len(sample)} of them (no runaways, no broken files): "
                  f"{nbgrader_wall:.1f} s, {nbgrader_wall / len(sample):.2f} s per submission")
            print(f"  ratio bnlab / nbgrader, seconds per submission: {local_wall / args.size / (nbgrader_wall / len(sample)):.2f} "
                  f"(target 0.25 or better)")

        if not args.skip_cluster:
            cluster = LocalCluster(1, args.slots, work / "cluster.log")
            try:
                dask_wall, dask_sampler = run_grader(cohort, work / "out-dask", ["--cluster", cluster.address, *limits])
            finally:
                cluster.close()
            dask = records_of(work / "out-dask")
            keys = ("status", "score", "cells")
            differ = [s for s in local if {k: local[s][k] for k in keys} != {k: dask.get(s, {}).get(k) for k in keys}]
            per_local = local_wall / args.size
            per_dask = dask_wall / args.size
            print(f"\nDask cluster on this machine (1 bnlab worker, {args.slots} slots): {dask_wall:.1f} s, "
                  f"{args.size / dask_wall * 60:.1f} submissions/minute")
            print(f"  overhead per submission against local workers: {per_dask - per_local:+.3f} s "
                  f"({(per_dask / per_local - 1) * 100:+.1f}%, target under 10%); client peak memory "
                  f"{dask_sampler.peak() / 2**20:.0f} MiB (by quarter: {dask_sampler.quarters(args.size)})")
            print(f"  grades equal to local grading: {len(local) - len(differ)} of {len(local)}"
                  + (f" (differ: {', '.join(f'{s} ({kinds[s]})' for s in differ[:10])})" if differ else ""))

        if args.scaling:
            right = [s for s, kind in kinds.items() if kind == "right"][: args.scaling]
            subset = work / "scaling"
            for student in right:
                shutil.copytree(cohort / student, subset / student)
            walls = {}
            for workers in (1, 2):
                cluster = LocalCluster(workers, 1, work / f"scaling-{workers}.log")
                try:
                    walls[workers], _ = run_grader(subset, work / f"out-scaling-{workers}",
                                                   ["--cluster", cluster.address, *limits])
                finally:
                    cluster.close()
            print(f"\nscaling on {len(right)} right answers: 1 worker x 1 slot {walls[1]:.1f} s, 2 workers x 1 slot "
                  f"{walls[2]:.1f} s: {walls[1] / walls[2]:.2f}x, {walls[1] / walls[2] / 2 * 100:.0f}% of linear "
                  f"(target 80%)")
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
