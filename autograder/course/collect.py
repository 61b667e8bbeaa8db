"""Submissions that do not come in nbgrader's submitted layout: an LMS download (a zip, or its
unpacked folder) of notebooks named after the student, as ``nbgrader zip_collect`` takes them.

``bnlab grade`` grades ``<student_id>/<assignment>/<assignment>.ipynb``.  When the folder (or
the unpacked zip) has that layout, possibly inside one wrapper folder, it is used as it is.
Otherwise every notebook's path inside it is matched, as nbgrader's ``zip_collect`` does, by
nbgrader's :class:`~nbgrader.plugins.zipcollect.FileNameCollectorPlugin` with a
``named_regexp`` that provides ``(?P<student_id>...)`` and ``(?P<file_id>...)`` (the notebook
name, ``<assignment>`` or ``<assignment>.ipynb``; a ``(?P<assignment>...)`` group may be given
instead) and optionally ``(?P<timestamp>...)``.  The matched notebooks are laid out as
``<student_id>/<assignment>/<assignment>.ipynb`` in the grader's work folder.

The default patterns (:data:`DEFAULT_PATTERNS`, tried in order; ``{assignments}`` stands for
the course's assignment names) take the common LMS conventions::

    alice_03_layer_placement.ipynb             <student_id>_<assignment>[anything].ipynb
    doejane_12345_678_03_layer_placement-1.ipynb   (Canvas: student_id "doejane_12345_678")
    03_layer_placement_alice.ipynb             <assignment>_<student_id>[anything].ipynb
    alice/03_layer_placement.ipynb             a folder per student: <student_id>/.../<assignment>[anything].ipynb

``bnlab grade --zip-regexp REGEXP`` replaces them with one regexp (``{assignments}`` is
expanded there too), matched against the notebook's path inside the zip or folder, with
``/`` between folders.
"""
from __future__ import annotations

import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Optional

from autograder.course.build import CourseError

ASSIGNMENTS = "{assignments}"
_TAIL = r"(?:[-_. (][^/]*)?\.ipynb$"
DEFAULT_PATTERNS = [
    r"(?:.*/)?(?P<student_id>[^/]+?)_(?P<file_id>{assignments})" + _TAIL,
    r"(?:.*/)?(?P<file_id>{assignments})_(?P<student_id>[^/.]+?)(?:[-. (][^/]*)?\.ipynb$",
    r"(?P<student_id>[^/]+)/(?:[^/]+/)*(?P<file_id>{assignments})" + _TAIL,
]
_IGNORED = {"__MACOSX", ".ipynb_checkpoints"}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in _IGNORED


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if p.is_file() and all(_visible(Path(part)) for part in p.relative_to(folder).parts))


def has_submitted_layout(folder: Path, known: list[str]) -> bool:
    """Whether ``folder`` holds ``<student>/<A>/<A>.ipynb`` notebooks or ``<student>/<A>/`` folders
    of the course's assignments (what ``find_submissions`` reads)."""
    for student in (p for p in folder.iterdir() if p.is_dir() and _visible(p)):
        for assignment in (p for p in student.iterdir() if p.is_dir() and _visible(p)):
            if assignment.name in known or (assignment / f"{assignment.name}.ipynb").is_file():
                return True
    return False


def _compile(patterns: list[str], known: list[str]) -> list[str]:
    alternatives = "|".join(re.escape(name) for name in sorted(known, key=len, reverse=True)) or r"(?!)"
    compiled = []
    for pattern in patterns:
        expanded = pattern.replace(ASSIGNMENTS, f"(?:{alternatives})")
        try:
            groups = re.compile(expanded).groupindex
        except re.error as error:
            raise CourseError(f"--zip-regexp {pattern!r} is not a valid regular expression: {error}")
        if "student_id" not in groups or not ({"file_id", "assignment"} & set(groups)):
            raise CourseError(f"--zip-regexp {pattern!r} needs the named groups (?P<student_id>...) "
                              f"and (?P<file_id>...) (or (?P<assignment>...))")
        compiled.append(expanded)
    return compiled


def _plugin(regexp: str):
    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

    quiet = logging.getLogger("bnlab.collect")
    quiet.setLevel(logging.CRITICAL)
    return FileNameCollectorPlugin(named_regexp=regexp, log=quiet)


def match(relative: str, plugins) -> Optional[tuple[str, str, Optional[str]]]:
    """(student_id, assignment, timestamp or None) for a notebook's relative path, or None."""
    for plugin in plugins:
        found = plugin.collect(relative)
        if not found:
            continue
        student_id = (found.get("student_id") or "").strip()
        file_id = found.get("assignment") or found.get("file_id") or ""
        assignment = Path(file_id).name
        if assignment.endswith(".ipynb"):
            assignment = assignment[: -len(".ipynb")]
        if not student_id or not assignment or "/" in student_id or student_id in {".", ".."} \
                or student_id.startswith("."):
            continue
        return student_id, assignment, found.get("timestamp") or None
    return None


def lay_out(folder: Path, work: Path, known: list[str], regexp: Optional[str] = None) -> Path:
    """The folder to grade: ``folder`` itself (or its one wrapper folder) when it has nbgrader's
    submitted layout, else a copy of its notebooks laid out by their names under ``work``."""
    if not folder.is_dir():
        return folder
    current = folder
    while not has_submitted_layout(current, known):
        entries = [p for p in current.iterdir() if _visible(p)]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        current = entries[0]
    if has_submitted_layout(current, known):
        return current
    notebooks = _notebooks(folder)
    if not notebooks:
        return folder  # nothing to grade either way; find_submissions says so
    patterns = [regexp] if regexp else DEFAULT_PATTERNS
    plugins = [_plugin(pattern) for pattern in _compile(patterns, known)]
    chosen: dict[tuple[str, str], tuple[Path, Optional[str]]] = {}
    unmatched, replaced = [], []
    # Without timestamps the last copy wins: names in order of length, then alphabetical, so that a
    # resubmission's suffix (Canvas's "-1", a browser's " (1)", "-10" after "-9") comes last.
    for path in sorted(notebooks, key=lambda p: (len(p.as_posix()), p.as_posix())):
        relative = path.relative_to(folder).as_posix()
        found = match(relative, plugins)
        if found is None:
            unmatched.append(relative)
            continue
        student_id, assignment, timestamp = found
        key = (student_id, assignment)
        if key in chosen:
            older = chosen[key]
            if _newer(timestamp, older[1]):
                replaced.append(older[0].relative_to(folder).as_posix())
            else:
                replaced.append(relative)
                continue
        chosen[key] = (path, timestamp)
    if not chosen:
        shown = ", ".join(unmatched[:3]) + (", ..." if len(unmatched) > 3 else "")
        raise CourseError(f"{folder} is not in the submitted layout (<student_id>/<assignment>/<assignment>.ipynb) "
                          f"and none of its {len(unmatched)} notebooks ({shown}) has a name that matches "
                          f"{'--zip-regexp' if regexp else 'the default patterns'}; see `bnlab grade --help`")
    if unmatched:
        print(f"bnlab: not graded, no student and assignment in the file name: {', '.join(unmatched)}", file=sys.stderr)
    if replaced:
        print(f"bnlab: not graded, an older or duplicate copy of a submission: {', '.join(replaced)}", file=sys.stderr)
    target = work / "collected"
    for (student_id, assignment), (path, _) in sorted(chosen.items()):
        destination = target / student_id / assignment / f"{assignment}.ipynb"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    return target


def _newer(timestamp: Optional[str], other: Optional[str]) -> bool:
    """Whether a duplicate with ``timestamp`` replaces one seen before with ``other`` (the later
    timestamp wins; without timestamps the one seen last, see :func:`lay_out`)."""
    if timestamp and other:
        from nbgrader.utils import parse_utc

        try:
            return parse_utc(timestamp) >= parse_utc(other)
        except (ValueError, OverflowError):
            return True
    return True


__all__ = ["lay_out", "has_submitted_layout", "match", "DEFAULT_PATTERNS"]
