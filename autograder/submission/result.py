"""The grade of one submission, as recorded: status, reason, points per graded cell, hashes."""
from __future__ import annotations

import dataclasses
from typing import Optional

import nbformat


@dataclasses.dataclass
class CellResult:
    score: float
    max_score: float
    feedback: str

    def as_dict(self) -> dict:
        return {"score": self.score, "max_score": self.max_score, "feedback": self.feedback}


@dataclasses.dataclass
class Result:
    """The grade of one (student, assignment)."""

    student_id: str
    assignment: str
    status: str  # "graded", or one word for what went wrong
    reason: Optional[str]  # None, or one sentence
    score: float
    max_score: float
    cells: dict[str, CellResult]
    submission_sha256: str = ""
    instructor_sha256: str = ""
    environment_sha256: str = ""
    timings: dict = dataclasses.field(default_factory=dict)
    notebook: Optional[nbformat.NotebookNode] = dataclasses.field(default=None, repr=False)

    def as_dict(self) -> dict:
        """The record in grades.json (the executed notebook is kept separately)."""
        return {
            "student_id": self.student_id, "assignment": self.assignment, "status": self.status,
            "reason": self.reason, "score": self.score, "max_score": self.max_score,
            "cells": {grade_id: cell.as_dict() for grade_id, cell in self.cells.items()},
            "submission_sha256": self.submission_sha256, "instructor_sha256": self.instructor_sha256,
            "environment_sha256": self.environment_sha256,
            "timings": {name: round(value, 3) for name, value in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, record: dict) -> "Result":
        cells = {grade_id: CellResult(**cell) for grade_id, cell in record["cells"].items()}
        fields = {key: record[key] for key in ("student_id", "assignment", "status", "reason", "score",
                                                "max_score", "submission_sha256", "instructor_sha256",
                                                "environment_sha256", "timings") if key in record}
        return cls(cells=cells, **fields)
