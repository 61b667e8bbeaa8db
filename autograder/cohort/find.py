"""Finding a cohort's submissions: nbgrader's submitted layout, a folder of named notebooks or an LMS zip."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Optional

from autograder.course.collect import lay_out


def unpack_if_zip(submitted: Path, work: Path, known: Optional[list[str]] = None,
                  zip_regexp: Optional[str] = None) -> Path:
    """``bnlab grade`` accepts an LMS zip as well as a folder: unpack the zip safely; notebooks
    not in the submitted layout are laid out by their names (autograder.course.collect)."""
    if submitted.is_file() and zipfile.is_zipfile(submitted):
        target = work / "unzipped"
        with zipfile.ZipFile(submitted) as archive:
            for member in archive.infolist():
                name = Path(member.filename)
                if member.is_dir() or name.is_absolute() or ".." in name.parts:
                    continue
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        return lay_out(target, work, known or [], zip_regexp)
    return lay_out(submitted, work, known or [], zip_regexp)


def find_submissions(submitted: Path) -> list[tuple[str, str, Optional[Path]]]:
    """(student_id, assignment, notebook path or None) for nbgrader's submitted layout
    ``<student_id>/<assignment>/<assignment>.ipynb``.  A student folder whose assignment
    folder holds no such notebook is listed with ``None``."""
    found = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            notebook = assignment_dir / f"{assignment_dir.name}.ipynb"
            found.append((student_dir.name, assignment_dir.name, notebook if notebook.is_file() else None))
    return found


