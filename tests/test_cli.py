"""The instructor's own mistakes give a one-line message and a non-zero exit, with nothing written."""
from __future__ import annotations

from conftest import run_bnlab, write_submission, released


def test_missing_submitted_folder(tmp_path):
    result = run_bnlab("grade", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_assignment(tmp_path):
    result = run_bnlab("grade", str(tmp_path), "--out", str(tmp_path / "out"), "--assignment", "99_nope", check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "unknown assignment '99_nope'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_every_subcommand_has_help():
    for command in ("build", "check", "grade"):
        result = run_bnlab(command, "--help")
        assert "usage: bnlab" in result.stdout


def test_submission_for_an_assignment_the_course_lacks_gets_a_row(tmp_path):
    write_submission(tmp_path / "submitted", "carol", "07_not_in_course", released("03_layer_placement"))
    result = run_bnlab("grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 0
    import json

    records = json.loads((tmp_path / "out" / "grades.json").read_text())
    assert [(r["student_id"], r["status"]) for r in records] == [("carol", "unknown_assignment")]
