"""Each learner's feedback page: the diagnoses first, then their notebook as graded (hidden tests removed)."""
from __future__ import annotations

import copy
import html
import os
import urllib.parse
from pathlib import Path

import nbformat

from autograder.submission.result import Result


def safe_name(student_id: str) -> str:
    """A file name for any student id (spaces, non-ASCII letters, slashes)."""
    return urllib.parse.quote(student_id, safe="") or "_"


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# The page shows learner outputs: whatever the sanitizer (render.py) might miss, no script runs,
# nothing is fetched, no form is sent (a meta policy works from the file system too).
FEEDBACK_POLICY = ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
                   "style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'\">")

FEEDBACK_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}
.pass{color:#176b2c}.fail{color:#a31515}.status{padding:.5rem 1rem;background:#fff4e5;border-left:4px solid #f0a020}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}
"""


def feedback_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The executed notebook as the learner may see it: hidden tests removed (nbgrader's
    ClearHiddenTests), tracebacks of test cells reduced to their diagnosis."""
    from nbgrader.preprocessors import ClearHiddenTests

    notebook = copy.deepcopy(notebook)
    notebook, _ = ClearHiddenTests().preprocess(notebook, {})
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
    return notebook


def write_feedback(out: Path, result: Result) -> Path:
    """OUT/feedback/<student>/<assignment>.html: the diagnoses first, then the learner's notebook."""
    path = out / "feedback" / safe_name(result.student_id) / f"{result.assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr><td>{html.escape(grade_id)}</td><td class='{'pass' if cell.score == cell.max_score else 'fail'}'>"
        f"{cell.score:g} / {cell.max_score:g}</td><td><pre>{html.escape(cell.feedback)}</pre></td></tr>"
        for grade_id, cell in result.cells.items())
    status = "" if result.status == "graded" else (
        f"<p class='status'><b>{html.escape(result.status)}</b>: {html.escape(result.reason or '')}</p>")
    body = ""
    if result.notebook is not None:
        from autograder.cohort.render import notebook_html

        body = notebook_html(feedback_notebook(result.notebook))
    page = (f"<!doctype html><html><head><meta charset='utf-8'>{FEEDBACK_POLICY}<title>{html.escape(result.assignment)} · "
            f"{html.escape(result.student_id)}</title><style>{FEEDBACK_STYLE}</style></head><body>"
            f"<h1>{html.escape(result.assignment)}: {result.score:g} / {result.max_score:g}</h1>"
            f"<p>Student: {html.escape(result.student_id)}</p>{status}"
            f"<table><tr><th>test</th><th>score</th><th>what the grader found</th></tr>{rows}</table>"
            f"<h2>Your notebook, as graded</h2>{body}</body></html>")
    _write(path, page)
    return path


