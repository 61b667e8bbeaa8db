"""nbgrader's restore: the instructor's cells (hidden tests included) put back into a submission."""
from __future__ import annotations

import json

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata, ClearOutput, DeduplicateIds, LimitOutput, OverwriteCells, OverwriteKernelspec,
)

from autograder.course.build import InstructorVersion


def sanitize_metadata(notebook: nbformat.NotebookNode, instructor: InstructorVersion) -> None:
    """Make the submission's nbgrader metadata the instructor's, before nbgrader's restore.

    nbgrader trusts the metadata it restores by, and a learner can edit it: nbgrader then
    raises on duplicated, unknown or re-flagged cells.  Here every cell whose grade_id the
    instructor's version has gets the instructor's metadata (flags, points); a second cell with
    the same grade_id, or a grade_id the instructor does not have, becomes a plain cell; an
    answer cell whose metadata was stripped is found again as the code cell just before its
    test cell (or, if there is none, an empty answer is put there).
    """
    known = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]
             for cell in instructor.notebook.cells if "nbgrader" in cell.metadata}
    seen: set[str] = set()
    for cell in notebook.cells:
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = cell.metadata["nbgrader"]
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in known or grade_id in seen:
            del cell.metadata["nbgrader"]
            continue
        seen.add(grade_id)
        cell.metadata["nbgrader"] = nbformat.from_dict(json.loads(json.dumps(known[grade_id])))
    if len(notebook.cells) == len(instructor.notebook.cells):
        # Same number of cells as the lesson: metadata stripped from a cell is found by position.
        for cell, source_cell in zip(notebook.cells, instructor.notebook.cells):
            grade_id = source_cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id and grade_id not in seen and "nbgrader" not in cell.metadata:
                cell.metadata["nbgrader"] = nbformat.from_dict(json.loads(json.dumps(known[grade_id])))
                seen.add(grade_id)
    for answer in instructor.answer_cells:
        if answer in seen:
            continue
        tests = [index for index, cell in enumerate(notebook.cells)
                 if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith(answer + "_test")]
        meta = nbformat.from_dict(json.loads(json.dumps(known[answer])))
        if not tests:  # both gone: an empty answer, after which nbgrader re-inserts the test cell
            notebook.cells.append(nbformat.v4.new_code_cell("", metadata={"nbgrader": meta}))
            continue
        index = tests[0]
        before = notebook.cells[index - 1] if index > 0 else None
        if before is not None and before.cell_type == "code" and "nbgrader" not in before.metadata:
            before.metadata["nbgrader"] = meta
        else:
            notebook.cells.insert(index, nbformat.v4.new_code_cell("", metadata={"nbgrader": meta}))


def restore_instructor_cells(notebook: nbformat.NotebookNode, instructor: InstructorVersion, db_url: str,
                             student_id: str) -> nbformat.NotebookNode:
    """nbgrader's sanitizing steps: clear outputs, de-duplicate cells, restore the kernelspec and
    every locked/test cell (hidden tests included) from the gradebook, re-adding deleted ones."""
    sanitize_metadata(notebook, instructor)
    resources = {"nbgrader": {"db_url": db_url, "assignment": instructor.assignment,
                              "notebook": instructor.assignment, "student": student_id}}
    overwrite = OverwriteCells()
    overwrite.add_missing_cells = True
    for preprocessor in (ClearOutput(), DeduplicateIds(), OverwriteKernelspec(), overwrite, CheckCellMetadata()):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    return notebook


def limit_outputs(notebook: nbformat.NotebookNode, max_chars: int) -> None:
    """Cap what is stored of each output (a learner may print megabytes)."""
    notebook, _ = LimitOutput().preprocess(notebook, {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and len(output.get("text", "")) > max_chars:
                cut = len(output["text"]) - max_chars
                output["text"] = output["text"][:max_chars] + f"\n... [{cut} more characters not kept]\n"
            for key, value in list(output.get("data", {}).items()):
                if isinstance(value, str) and len(value) > 4 * max_chars and not key.startswith("image/"):
                    output["data"][key] = value[:max_chars] + " ... [cut]"


def answer_sources(notebook: nbformat.NotebookNode, instructor: InstructorVersion) -> list[tuple[str, str]]:
    """The learner's answer cells, by the instructor's grade_ids, in the instructor's order
    (after :func:`sanitize_metadata`, which finds answer cells whose metadata was stripped)."""
    sources = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in instructor.answer_cells and grade_id not in sources:
            sources[grade_id] = cell.source
    return [(answer, sources[answer]) for answer in instructor.answer_cells if answer in sources]
