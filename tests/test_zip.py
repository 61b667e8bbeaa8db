"""`bnlab grade` takes an LMS download as well as nbgrader's submitted folder: a zip of the
submitted layout, or a zip (or its unpacked folder) of notebooks named after the student, as
nbgrader's zip_collect takes them.  The grades are the same as for the submitted folder."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course.collect import lay_out
from autograder.course.build import CourseError, assignments
from conftest import ROOT, grade, released, run_bnlab, with_answers, write_submission

ASSIGNMENT = "03_layer_placement"
CORPUS = ROOT / "tests" / "corpus"
KNOWN = assignments(ROOT)


def notebooks() -> dict[str, nbformat.NotebookNode]:
    right = {"bn_mlp": (CORPUS / "bn_mlp" / "sequential.py").read_text(encoding="utf-8"),
             "bn_cnn": (CORPUS / "bn_cnn" / "sequential.py").read_text(encoding="utf-8")}
    base = released(ASSIGNMENT)
    return {"alice": with_answers(base, right),                        # full marks
            "bob": base,                                               # untouched: zero
            "carol": with_answers(base, {"bn_mlp": right["bn_mlp"]})}  # one exercise of two


def zip_folder(folder: Path, archive: Path, junk: bool = False) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(folder).as_posix())
        if junk:  # what LMS and macOS zips carry besides the notebooks
            handle.writestr(f"__MACOSX/._alice_{ASSIGNMENT}.ipynb", b"\x00\x05\x16\x07")
            handle.writestr("index.html", "<html>download summary</html>")
    return archive


def scores(grades: dict) -> dict:
    return {key: (record["status"], record["score"], record["max_score"],
                  {cell: value["score"] for cell, value in record["cells"].items()})
            for key, record in grades.items()}


@pytest.mark.slow
def test_zip_and_flat_lms_download_grade_like_the_submitted_folder(tmp_path):
    submitted = tmp_path / "submitted"
    for student, notebook in notebooks().items():
        write_submission(submitted, student, ASSIGNMENT, notebook)
    reference = scores(grade(submitted, tmp_path / "out-folder"))
    assert sorted(reference) == [(s, ASSIGNMENT) for s in ("alice", "bob", "carol")]
    alice, bob, carol = (reference[(s, ASSIGNMENT)] for s in ("alice", "bob", "carol"))
    assert alice[1] == alice[2] > 0 and bob[1] == 0 and 0 < carol[1] < carol[2]

    # 1. A zip of the submitted layout.
    layout_zip = zip_folder(submitted, tmp_path / "submitted.zip")
    assert scores(grade(layout_zip, tmp_path / "out-layout-zip")) == reference

    # 2. An LMS-style download: flat files named after student and assignment, in the usual conventions.
    flat = tmp_path / "lms"
    flat.mkdir()
    shutil.copyfile(submitted / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", flat / f"alice_{ASSIGNMENT}.ipynb")
    shutil.copyfile(submitted / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", flat / f"{ASSIGNMENT}_bob.ipynb")
    (flat / "carol").mkdir()
    shutil.copyfile(submitted / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", flat / "carol" / f"{ASSIGNMENT}.ipynb")
    flat_zip = zip_folder(flat, tmp_path / "lms.zip", junk=True)
    assert scores(grade(flat_zip, tmp_path / "out-lms-zip")) == reference
    # ... and its unpacked folder.
    unpacked = tmp_path / "lms-unpacked"
    with zipfile.ZipFile(flat_zip) as archive:
        archive.extractall(unpacked)
    assert scores(grade(unpacked, tmp_path / "out-lms-folder")) == reference


def _touch(folder: Path, *names: str) -> Path:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return folder


def _laid_out(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.ipynb"))}


def test_lay_out_default_patterns(tmp_path):
    folder = _touch(tmp_path / "in", f"alice_{ASSIGNMENT}.ipynb", f"{ASSIGNMENT}_bob.ipynb",
                    f"carol/{ASSIGNMENT}.ipynb", f"dave_{ASSIGNMENT}.ipynb", f"dave_{ASSIGNMENT}-1.ipynb",
                    "05_pitfalls_erin-2.ipynb", "random.ipynb", f"__MACOSX/._alice_{ASSIGNMENT}.ipynb", "notes.txt")
    result = lay_out(folder, tmp_path / "work", KNOWN)
    assert _laid_out(result) == {
        f"alice/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"alice_{ASSIGNMENT}.ipynb",
        f"bob/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"{ASSIGNMENT}_bob.ipynb",
        f"carol/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"carol/{ASSIGNMENT}.ipynb",
        f"dave/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"dave_{ASSIGNMENT}-1.ipynb",  # Canvas's resubmission
        "erin/05_pitfalls/05_pitfalls.ipynb": "05_pitfalls_erin-2.ipynb",
    }


def test_lay_out_keeps_the_submitted_layout_and_one_wrapper_folder(tmp_path):
    folder = _touch(tmp_path / "in", f"alice/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    assert lay_out(folder, tmp_path / "work", KNOWN) == folder
    wrapped = _touch(tmp_path / "wrapped", f"submitted/alice/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    assert lay_out(wrapped, tmp_path / "work", KNOWN) == wrapped / "submitted"


def test_lay_out_with_zip_regexp_and_timestamps(tmp_path):
    # Canvas-like names: <name>_[LATE_]<user id>_<submission id>_<file>; the later timestamp wins.
    folder = _touch(tmp_path / "in", f"smithjo_123_4_2024-01-03-10-00-00_{ASSIGNMENT}.ipynb",
                    f"smithjo_123_5_2024-01-02-10-00-00_{ASSIGNMENT}.ipynb",
                    f"doeja_LATE_456_6_2024-01-01-09-00-00_{ASSIGNMENT}.ipynb")
    regexp = (r"(?P<first_name>[a-z]+)_(?:LATE_)?(?P<student_id>\d+)_\d+_(?P<timestamp>[0-9\-]+)_"
              r"(?P<file_id>{assignments})\.ipynb")
    result = lay_out(folder, tmp_path / "work", KNOWN, regexp)
    assert _laid_out(result) == {
        f"123/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"smithjo_123_4_2024-01-03-10-00-00_{ASSIGNMENT}.ipynb",
        f"456/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": f"doeja_LATE_456_6_2024-01-01-09-00-00_{ASSIGNMENT}.ipynb",
    }


def test_lay_out_errors_are_course_errors(tmp_path):
    folder = _touch(tmp_path / "in", "random.ipynb", "other.ipynb")
    with pytest.raises(CourseError, match="none of its 2 notebooks"):
        lay_out(folder, tmp_path / "work", KNOWN)
    with pytest.raises(CourseError, match="not a valid regular expression"):
        lay_out(folder, tmp_path / "work", KNOWN, "(?P<student_id>[")
    with pytest.raises(CourseError, match="needs the named groups"):
        lay_out(folder, tmp_path / "work", KNOWN, r"(?P<name>\w+)\.ipynb")


def test_grade_with_a_bad_zip_regexp_is_a_one_line_error(tmp_path):
    _touch(tmp_path / "lms", f"alice_{ASSIGNMENT}.ipynb")
    result = run_bnlab("grade", str(tmp_path / "lms"), "--out", str(tmp_path / "out"), "--quiet",
                       "--zip-regexp", "(?P<student_id>[", check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "--zip-regexp" in result.stderr
