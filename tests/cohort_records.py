"""Generated cohorts for the report and export tests: OUT/results/ records in the form
``bnlab grade`` writes them, without grading anything."""
from __future__ import annotations

import json
import random
from pathlib import Path

from autograder.cohort.feedback import safe_name

EXERCISES = {"03_layer_placement": {"bn_mlp": 1.0, "bn_cnn": 1.0},
             "05_pitfalls": {"predict": 1.0, "fold_bn": 2.0}}
DIAGNOSES = {
    "bn_mlp": ["✗ BatchNorm1d comes after the ReLU: move it between the Linear layer and the activation.",
               "✗ The model has no BatchNorm1d on its forward path: it is defined but never used."],
    "bn_cnn": ["✗ BatchNorm1d is used on 4-D feature maps: use BatchNorm2d(num_features=channels)."],
    "predict": ["✗ The model is still in training mode when it predicts: call model.eval() first."],
    "fold_bn": ["✗ The folded bias ignores the running mean: subtract running_mean * scale."],
}
STATUSES = [("graded", 0.9), ("timeout", 0.04), ("crashed", 0.02), ("malformed", 0.02), ("missing", 0.02)]
REASONS = {"timeout": "A cell ran past the 60 s limit.", "crashed": "The kernel died (os._exit or a segfault).",
           "malformed": "The notebook is not valid JSON (line 3): it may be truncated.",
           "missing": "The submission folder has no notebook."}


def record(student_id: str, assignment: str, status: str, passed: dict[str, bool], seconds: float) -> dict:
    cells = {}
    for grade_id, points in EXERCISES[assignment].items():
        ok = passed.get(grade_id, False)
        cells[grade_id] = {"score": points if ok else 0.0, "max_score": points,
                           "feedback": f"✓ {grade_id} computes what the exercise asks\n✓ {grade_id} also holds for other inputs"
                           if ok else DIAGNOSES[grade_id][sum(map(ord, student_id)) % len(DIAGNOSES[grade_id])]}
    return {"student_id": student_id, "assignment": assignment, "status": status,
            "reason": REASONS.get(status), "score": sum(c["score"] for c in cells.values()),
            "max_score": sum(EXERCISES[assignment].values()), "cells": cells,
            "submission_sha256": "0" * 64, "instructor_sha256": "1" * 64, "environment_sha256": "2" * 64,
            "timings": {"prepare": 0.05, "start": 0.3, "execution": seconds, "checks": 0.4, "bookkeeping": 0.02}}


def generated_records(learners: int, seed: int = 0) -> list[dict]:
    """``learners`` students x the assignments of :data:`EXERCISES`, with a mix of statuses."""
    rng = random.Random(seed)
    records = []
    for number in range(learners):
        student_id = f"learner{number:04d}"
        for assignment, exercises in EXERCISES.items():
            status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
            passed = {g: status == "graded" and rng.random() < 0.7 for g in exercises}
            records.append(record(student_id, assignment, status, passed, rng.uniform(2, 30)))
    return records


def write_results(out: Path, records: list[dict], run: dict | None = None) -> Path:
    """Lay ``records`` out as OUT/results/<A>/<student>.json (and OUT/run.json)."""
    for item in records:
        path = out / "results" / item["assignment"] / f"{safe_name(item['student_id'])}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(item), encoding="utf-8")
    run = run or {"isolation": {"available": True, "description": "bubblewrap: no network, one user per worker"},
                  "limits": {"cell_timeout": 60, "notebook_timeout": 300, "memory_mb": 3072, "threads": 1,
                             "max_processes": 64},
                  "cgroups": "cgroup v2: memory and pids limits", "workers": 2}
    (out / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return out
