"""What the grader shows people: progress, the summary table, grades.json/csv, each learner's
feedback page and the instructor's class report."""
from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from autograder.cohort.dashboard import write_report  # the instructor's dashboard: OUT/report.html
from autograder.cohort.record import load_results

# --------------------------------------------------------------------------- progress and summary


class _Progress:
    """A rich progress bar with an ETA and a live count of statuses (silent when disabled)."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        self.total = total
        self.enabled = enabled and total > 0
        self.skipped = skipped
        self._progress = None
        self._task = None
        self.started = time.perf_counter()
        self.done = 0

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self._progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                      TextColumn("{task.fields[counts]}"), transient=False)
            self._progress.__enter__()
            note = f"{self.skipped} unchanged, skipped" if self.skipped else ""
            self._task = self._progress.add_task("grade", total=self.total, counts=note)
        return self

    def advance(self, counts: Counter) -> None:
        self.done += 1
        if self._progress is not None:
            text = "  ".join(f"{status} {count}" for status, count in sorted(counts.items()))
            self._progress.update(self._task, advance=1, counts=text)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False


def progress_display(total: int, skipped: int, enabled: bool = True) -> _Progress:
    return _Progress(total, skipped, enabled)


def print_summary(records: list[dict], skipped: int = 0) -> None:
    """The table printed at the end of a run: per assignment, counts by status and mean score."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bnlab grade: summary")
    for column in ("assignment", "submissions", "graded", "other statuses", "mean score", "full marks"):
        table.add_column(column)
    by_assignment = defaultdict(list)
    for record in records:
        by_assignment[record["assignment"]].append(record)
    for assignment, rows in sorted(by_assignment.items()):
        statuses = Counter(row["status"] for row in rows)
        others = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()) if s != "graded") or "-"
        max_score = max((row["max_score"] for row in rows), default=0)
        mean = sum(row["score"] for row in rows) / len(rows)
        full = sum(1 for row in rows if max_score and row["score"] == row["max_score"])
        table.add_row(assignment, str(len(rows)), str(statuses.get("graded", 0)), others,
                      f"{mean:.2f} / {max_score:g}", str(full))
    console = Console()
    console.print(table)
    if skipped:
        console.print(f"{skipped} submission(s) unchanged since the last run were not regraded (--force regrades).")


# --------------------------------------------------------------------------- grades.json / grades.csv

def write_outputs(out: Path, root: Path) -> list[dict]:
    """Rebuild grades.json, grades.csv and report.html from OUT/results/."""
    records = sorted(load_results(out).values(), key=lambda r: (r["assignment"], r["student_id"]))
    public = [{key: record[key] for key in ("student_id", "assignment", "status", "reason", "score",
                                              "max_score", "cells")} | {
        "hashes": {"submission": record.get("submission_sha256"), "instructor": record.get("instructor_sha256"),
                   "environment": record.get("environment_sha256")}} for record in records]
    _write(out / "grades.json", json.dumps(public, indent=1, ensure_ascii=False))
    _write(out / "grades.csv", grades_csv(records))
    write_report(out, records)
    return public


def grades_csv(records: list[dict]) -> str:
    cell_columns = []
    for record in records:
        for grade_id in record["cells"]:
            column = f"{record['assignment']}:{grade_id}"
            if column not in cell_columns:
                cell_columns.append(column)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "assignment", "status", "score", "max_score", *cell_columns, "reason"])
    for record in records:
        cells = [record["cells"].get(column.split(":", 1)[1], {}).get("score", "")
                 if column.startswith(record["assignment"] + ":") else "" for column in cell_columns]
        writer.writerow([record["student_id"], record["assignment"], record["status"], record["score"],
                         record["max_score"], *cells, record["reason"] or ""])
    return buffer.getvalue()


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
