"""`bnlab bundle`: the learners' zip holds the lessons, utils and the visible checks, and nothing
of the solutions or the hidden tests; the visible tests run from the unzipped bundle alone."""
from __future__ import annotations

import json
import re
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import assignments, source_notebook
from conftest import ROOT, run_bnlab

BEGIN = re.compile(r"BEGIN (SOLUTION|HIDDEN TESTS)")
END = re.compile(r"END (SOLUTION|HIDDEN TESTS)")

# Single lines of a solution that are generic Python/PyTorch idioms, legitimately found in the
# lessons' helpers or in the checks (a training loop in utils, try/finally in the checks).
GENERIC = {
    "try:", "finally:", ")",
    "optimizer.zero_grad()", "loss.backward()", "optimizer.step()",  # utils' own training loops
    "self.head = nn.Linear(16, 10)",  # utils.models' baseline CNN has the same classifier head
    "module.training = mode",  # utils.pitfalls restores modes after measuring accuracy
    # one-liners every batch-norm computation has, the judge's float64 references included
    "n = x.shape[0]", "mean = x.mean(dim=0)",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path_factory.mktemp("bundle")
    run_bnlab("bundle", "--out", str(folder / "bnlab-lessons.zip"))
    with zipfile.ZipFile(folder / "bnlab-lessons.zip") as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
        archive.extractall(folder / "unzipped")
    return folder / "unzipped", contents


def regions(source: str, kind: str) -> list[str]:
    """The stripped, non-empty lines between the BEGIN/END markers of ``kind`` in a cell's source."""
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN.search(line):
            inside = BEGIN.search(line).group(1) == kind
            continue
        if END.search(line):
            inside = False
            continue
        if inside and line.strip():
            lines.append(line.strip())
    return lines


def test_bundle_layout(bundle):
    _, contents = bundle
    names = sorted(contents)
    for name in names:
        assert not name.startswith(("solutions/", "tests/", ".git", ".nbgrader", "/")), name
        assert "gradebook" not in name and ".." not in name, name
    for assignment in assignments(ROOT):
        assert f"lessons/{assignment}/{assignment}.ipynb" in names
    assert {"utils/__init__.py", "autograder/__init__.py", "autograder/checks/__init__.py", "autograder/judge/wire.py",
            "pyproject.toml", "README.md"} <= set(names)
    # Only what the visible checks import from autograder (the checks and the judge they share with
    # the grader): no grader, no sandbox, no course build.
    judge = {f"autograder/judge/{path.name}" for path in (ROOT / "autograder" / "judge").glob("*.py")}
    assert {n for n in names if n.startswith("autograder/") and not n.startswith("autograder/checks/")} == \
        {"autograder/__init__.py"} | judge


def test_bundle_holds_no_solution_and_no_hidden_test(bundle):
    _, contents = bundle
    texts = {name: data.decode("utf-8") for name, data in contents.items()}
    lines = {name: {line.strip() for line in text.splitlines()} for name, text in texts.items()}
    public = set()  # what the learner's copy shows anyway (scaffolds, demos)
    for name, text in texts.items():
        if name.startswith("lessons/") and name.endswith(".ipynb"):
            for cell in nbformat.reads(text, as_version=4).cells:
                public.update(line.strip() for line in cell.source.splitlines())
    for name, text in texts.items():
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{name} contains {marker}"
    checked = 0
    for assignment in assignments(ROOT):
        for cell in source_notebook(ROOT, assignment).cells:
            for line in regions(cell.source, "HIDDEN TESTS"):
                checked += 1
                leaks = [name for name, text in texts.items() if line in text]
                assert not leaks, f"hidden test line {line!r} of {assignment} is in {leaks}"
            for line in regions(cell.source, "SOLUTION"):
                checked += 1
                if line in public or line in GENERIC:
                    continue
                leaks = [name for name, found in lines.items() if line in found]
                assert not leaks, f"solution line {line!r} of {assignment} is in {leaks}"
    assert checked > 50


SCRIPT = r"""
import json, sys
bundle, root, site_dirs, lessons = json.loads(sys.stdin.read())
sys.path[:0] = [bundle]
sys.path.extend(site_dirs)
import nbformat
import autograder.checks as checks
results = {}
for lesson in lessons:
    notebook = nbformat.read(f"{bundle}/lessons/{lesson['name']}/{lesson['name']}.ipynb", as_version=4)
    tests = [cell.source for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    namespace = {"__name__": "__main__"}
    for answer in lesson["answers"]:
        exec(getattr(checks.exercise_module(answer), "PRELUDE", ""), namespace)
    for source in lesson["sources"]:
        exec(compile(source, "<answer>", "exec"), namespace)
    for source in tests:
        exec(compile(source, "<visible test>", "exec"), namespace)
    results[lesson["name"]] = len(tests)
outside = sorted(name for name, module in list(sys.modules.items())
                 if (getattr(module, "__file__", None) or "").startswith(root + "/")
                 and not any(module.__file__.startswith(d + "/") for d in site_dirs))
print(json.dumps({"results": results, "outside": outside,
                  "autograder": checks.__file__, "utils": sys.modules["utils"].__file__}))
"""


@pytest.mark.slow
def test_visible_tests_run_from_the_unzipped_bundle(bundle):
    folder, _ = bundle
    lessons = []
    for assignment in assignments(ROOT):
        notebook = source_notebook(ROOT, assignment)
        solution_cells = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")]
        lessons.append({"name": assignment,
                        "answers": [cell.metadata.nbgrader["grade_id"] for cell in solution_cells],
                        "sources": [cell.source for cell in solution_cells]})
    site_dirs = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # -I -S: no current folder, no PYTHONPATH, no .pth files (so not the editable install of this repository).
    result = subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT], cwd=folder, capture_output=True, text=True,
                            input=json.dumps([str(folder), str(ROOT), site_dirs, lessons]), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["autograder"].startswith(str(folder)) and report["utils"].startswith(str(folder))
    assert report["outside"] == [], f"imported from the repository, not the bundle: {report['outside']}"
    assert all(report["results"][a] >= 1 for a in assignments(ROOT)), report["results"]


def test_bundle_readme_says_how_to_self_check_and_what_to_hand_in(bundle):
    _, contents = bundle
    readme = contents["README.md"].decode("utf-8")
    assert "## Check your work yourself" in readme and "## What to hand in" in readme
    assert "Restart Kernel and Run All Cells" in readme and "Validate" in readme
    assert "nbgrader validate lessons/<lesson>/<lesson>.ipynb" in readme
    assert "03_layer_placement.ipynb" in readme and "original name" in readme
