"""The course on disk: lesson sources, the build that makes the learners' copies, and the
instructor's version of each assignment that grading restores cells from.

    solutions/<A>/<A>.py      the instructor's source (jupytext percent format, in git)
    solutions/<A>/<A>.ipynb   built from it: nbgrader's "source" notebook (not in git)
    lessons/<A>/<A>.ipynb     nbgrader generate_assignment's "release": the learner's copy (in git)
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import jupytext
import nbformat

SOLUTIONS = "solutions"
LESSONS = "lessons"


class CourseError(Exception):
    """A problem with the instructor's own input (a missing folder, an unknown assignment...)."""


def find_root(start: Optional[Path] = None) -> Path:
    """The course root: the nearest folder, from ``start`` (default: cwd) upwards, or from this
    package's location, that holds ``nbgrader_config.py`` and ``solutions/``."""
    candidates = []
    here = Path(start or Path.cwd()).resolve()
    candidates.extend([here, *here.parents])
    package_root = Path(__file__).resolve().parent.parent
    candidates.extend([package_root, *package_root.parents])
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file() and (folder / SOLUTIONS).is_dir():
            return folder
    raise CourseError("no bnlab course found (a folder with nbgrader_config.py and solutions/); "
                      "run bnlab from the repository or pass --course")


def assignments(root: Path) -> list[str]:
    """Names of the course's assignments (folders of solutions/ holding <A>/<A>.py)."""
    return sorted(p.parent.name for p in (root / SOLUTIONS).glob("*/*.py") if p.stem == p.parent.name)


def _clean(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Deterministic, output-free notebook: stable cell ids, no jupytext bookkeeping."""
    notebook.metadata.pop("jupytext", None)
    used: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell_id = grade_id or f"cell-{index:03d}"
        while cell_id in used:
            cell_id += "-x"
        used.add(cell_id)
        cell["id"] = cell_id
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.setdefault("language_info", {"name": "python"})
    return notebook


def source_notebook(root: Path, assignment: str) -> nbformat.NotebookNode:
    """The instructor's notebook for ``assignment``, built in memory from its jupytext source."""
    path = root / SOLUTIONS / assignment / f"{assignment}.py"
    if not path.is_file():
        raise CourseError(f"unknown assignment {assignment!r}: {path} does not exist "
                          f"(the course has {', '.join(assignments(root)) or 'none'})")
    notebook = jupytext.read(path, fmt="py:percent")
    return _clean(notebook)


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(notebook, version=4)
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text, encoding="utf-8")


def ensure_tools_on_path() -> None:
    """nbgrader shells out to `alembic` (installed next to this interpreter) when it creates a
    gradebook; make sure it is found even when the virtualenv is not activated."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def nbgrader_command(args: list[str], cwd: Path, db_url: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run an nbgrader command in the course root (with an optional other gradebook)."""
    command = [sys.executable, "-m", "nbgrader", *args]
    if db_url:
        command.append(f"--CourseDirectory.db_url={db_url}")
    ensure_tools_on_path()
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def generate(root: Path, assignment: str, release_dir: Path, db_url: str) -> Path:
    """Build the source notebook and run ``nbgrader generate_assignment`` into ``release_dir``.

    Returns the released notebook's path.  ``db_url`` is the gradebook that receives the
    instructor's cells (hidden tests included) and checksums.
    """
    notebook = source_notebook(root, assignment)
    write_notebook(notebook, root / SOLUTIONS / assignment / f"{assignment}.ipynb")
    (root / ".nbgrader").mkdir(exist_ok=True)
    result = nbgrader_command(
        ["generate_assignment", assignment, "--force", "--create",
         f"--CourseDirectory.release_directory={release_dir}"], cwd=root, db_url=db_url)
    released = release_dir / assignment / f"{assignment}.ipynb"
    if result.returncode != 0 or not released.is_file():
        raise CourseError(f"nbgrader generate_assignment {assignment} failed:\n{result.stdout}\n{result.stderr}")
    # Normalize the released copy so that rebuilding an unchanged source changes no byte.
    write_notebook(_clean(nbformat.read(released, as_version=4)), released)
    return released


def build(root: Path, names: Optional[list[str]] = None, release_dir: Optional[Path] = None) -> list[Path]:
    """Build ``lessons/<A>/<A>.ipynb`` for each assignment (all by default)."""
    names = names or assignments(root)
    release_dir = release_dir or root / LESSONS
    db_url = "sqlite:///" + str(root / ".nbgrader" / "gradebook.db")
    return [generate(root, name, release_dir, db_url) for name in names]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclasses.dataclass
class InstructorVersion:
    """What grading needs to know about one assignment, from the instructor's notebook."""

    assignment: str
    notebook: nbformat.NotebookNode  # the source (solutions and hidden tests included)
    sha256: str

    @property
    def graded_cells(self) -> dict[str, float]:
        """grade_id -> points, for every graded cell, in notebook order."""
        cells = {}
        for cell in self.notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                cells[meta["grade_id"]] = float(meta.get("points", 0))
        return cells

    @property
    def answer_cells(self) -> list[str]:
        return [cell.metadata.nbgrader["grade_id"] for cell in self.notebook.cells
                if cell.metadata.get("nbgrader", {}).get("solution")]

    @property
    def max_score(self) -> float:
        return sum(self.graded_cells.values())


def instructor_version(root: Path, assignment: str) -> InstructorVersion:
    notebook = source_notebook(root, assignment)
    digest = hashlib.sha256(nbformat.writes(notebook).encode()).hexdigest()
    return InstructorVersion(assignment=assignment, notebook=notebook, sha256=digest)


def stale_lessons(root: Path) -> list[str]:
    """Assignments whose committed lessons/ copy differs from a fresh build of solutions/."""
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db_url = "sqlite:///" + str(tmp_path / "gradebook.db")
        for name in assignments(root):
            fresh = generate(root, name, tmp_path / "release", db_url)
            committed = root / LESSONS / name / f"{name}.ipynb"
            if not committed.is_file() or committed.read_bytes() != fresh.read_bytes():
                stale.append(name)
    return stale


__all__ = ["CourseError", "find_root", "assignments", "source_notebook", "generate", "build",
           "instructor_version", "InstructorVersion", "stale_lessons", "write_notebook", "file_hash"]
