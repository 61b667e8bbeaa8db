"""The learners' bundle, for courses that hand out files instead of using nbgrader's exchange.

``bnlab bundle --out bnlab-lessons.zip`` writes a zip with

    lessons/<A>/<A>.ipynb            the learners' copies (as built and committed)
    utils/                           the lessons' helpers
    autograder/__init__.py, autograder/checks/, autograder/judge/
                                     what the visible test cells import
    pyproject.toml, README.md        `pip install .` installs utils and autograder.checks

and nothing of solutions/, tests/, the gradebooks or git.  The hidden tests are the cells
between nbgrader's HIDDEN TESTS markers in solutions/; the released lessons never hold them,
and the bundle refuses to be written if any file it would hold has a solution or hidden-test
marker.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from autograder.course.build import LESSONS, CourseError, assignments

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

# What the lessons need at run time (versions are taken from the course's pyproject.toml).
LEARNER_PACKAGES = ["torch", "numpy", "matplotlib", "ipywidgets", "jupyterlab", "scikit-learn", "nbgrader"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # a reproducible zip: the same course gives the same bytes

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "bnlab-lessons"
version = "{version}"
description = "bnlab's lessons on batch normalization: the helpers and the visible checks the notebooks use."
requires-python = ">=3.10"
dependencies = [
{dependencies}
]

[tool.setuptools.packages.find]
include = ["utils*", "autograder*"]
"""

README = """\
# bnlab: batch normalization lessons

Five Jupyter notebooks in `lessons/` that teach batch normalization with PyTorch.

## Install (once)

```bash
python -m venv .venv && . .venv/bin/activate   # Windows: .venv\\Scripts\\activate
pip install torch --index-url https://download.pytorch.org/whl/cpu   # optional: PyTorch's small CPU build
pip install .
jupyter lab lessons/
```

`pip install .` installs `utils` (the lessons' helpers) and `autograder.checks` (what the
test cells under each exercise call) with everything they need.

## Work

Open a lesson, read, run the cells and move the sliders. Each exercise says exactly what to
write (names, shapes, what must not be used); write your answer in the cell under it, in
place of `raise NotImplementedError()`.

## Check your work yourself

1. Run the test cell under each exercise as often as you like: it says in words what is
   still wrong (`✗ BatchNorm1d comes after the ReLU: ...`), or nothing when it passes.
2. Before handing in, make sure the notebook runs from top to bottom in a fresh kernel:
   *Kernel > Restart Kernel and Run All Cells*. A cell that only worked because of
   something you ran earlier (and later deleted) shows up here.
3. Press **Validate** in the notebook's toolbar (or run
   `nbgrader validate lessons/<lesson>/<lesson>.ipynb` in a terminal). It runs every visible
   test in a fresh kernel; "Success! Your notebook passes all the tests." means every
   visible check holds.

Your instructor's grader runs more checks than the visible ones (other batch sizes, eval
mode, gradients), with the same plain-words messages, so passing the visible tests is
necessary, not a guarantee of full marks.

## What to hand in

- The notebook only: `lessons/<lesson>/<lesson>.ipynb` (for example
  `03_layer_placement.ipynb`), **saved** (Ctrl-S) after your last change, under its
  original name (no "copy", no renamed file), in the way your course asks for (an LMS
  upload, an e-mail...). Hand in one file per lesson; the grader reads nothing else.
- Leave the test cells and the read-only cells as they are: the grader puts the
  instructor's version of them back anyway, and runs your answer cells only.
- Keep the names the exercise asks for (`BatchNormMLP`, `bn_forward`...): the checks look
  them up by name.
- Keep the file small: clear large outputs (*Edit > Clear Outputs of All Cells*) if it
  grows past a few MiB; above 32 MiB it is not graded.
"""


def _dependencies(root: Path) -> list[str]:
    specs = {}
    if tomllib is not None and (root / "pyproject.toml").is_file():
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
        for spec in project.get("dependencies", []):
            name = spec.split(";")[0]
            for separator in "<>=!~[ ":
                name = name.split(separator)[0]
            specs[name.strip().lower()] = spec
    return [specs.get(name, name) for name in LEARNER_PACKAGES]


def _version(root: Path) -> str:
    if tomllib is not None and (root / "pyproject.toml").is_file():
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
        return str(project.get("version", "0"))
    return "0"


def _keep(path: Path, base: Path) -> bool:
    parts = path.relative_to(base).parts
    return path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in parts) \
        and path.suffix not in {".pyc", ".pyo", ".db"}


def bundle_files(root: Path) -> dict[str, bytes]:
    """The bundle's contents: zip path -> bytes."""
    files: dict[str, Path] = {}
    names = assignments(root)
    for name in names:
        notebook = root / LESSONS / name / f"{name}.ipynb"
        if not notebook.is_file():
            raise CourseError(f"{LESSONS}/{name}/{name}.ipynb does not exist; run `bnlab build` first")
    for folder in (root / LESSONS, root / "utils", root / "autograder" / "checks", root / "autograder" / "judge"):
        for path in sorted(folder.rglob("*")):
            if _keep(path, root):
                files[path.relative_to(root).as_posix()] = path
    for name in ("autograder/__init__.py",):
        files[name] = root / name
    contents = {name: path.read_bytes() for name, path in sorted(files.items())}
    dependencies = ",\n".join(f"    {spec!r}".replace("'", '"') for spec in _dependencies(root))
    contents["pyproject.toml"] = PYPROJECT.format(version=_version(root), dependencies=dependencies).encode()
    contents["README.md"] = README.encode()
    for name, data in contents.items():
        text = data.decode("utf-8", errors="replace")
        for marker in MARKERS:
            if marker in text:
                raise CourseError(f"{name} contains {marker!r}; the learners' bundle must hold no solution or "
                                  f"hidden test (run `bnlab build` and check lessons/)")
    return contents


def write_bundle(root: Path, out: Path) -> Path:
    """Write the learners' zip to ``out`` (a .zip file; a folder gets ``bnlab-lessons.zip`` inside)."""
    if out.is_dir():
        out = out / "bnlab-lessons.zip"
    if not out.parent.is_dir():
        raise CourseError(f"--out {out}: the folder {out.parent} does not exist")
    contents = bundle_files(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    try:
        out.write_bytes(buffer.getvalue())
    except OSError as error:
        raise CourseError(f"cannot write --out {out}: {error.strerror}")
    return out


__all__ = ["write_bundle", "bundle_files", "LEARNER_PACKAGES"]
