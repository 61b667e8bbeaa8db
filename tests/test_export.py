"""`bnlab export`: the recorded grades as a Canvas gradebook import file, or a plain CSV."""
from __future__ import annotations

import csv
import io
import json

from cohort_records import record, write_results
from conftest import run_bnlab

ALICE = record("alice", "03_layer_placement", "graded", {"bn_mlp": True, "bn_cnn": True}, 3.0)
BOB = record("bob", "03_layer_placement", "graded", {"bn_mlp": False, "bn_cnn": True}, 3.0)
BOB_05 = record("bob", "05_pitfalls", "timeout", {"predict": True}, 60.0)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_file_has_canvas_columns_points_possible_and_scores(tmp_path):
    write_results(tmp_path, [ALICE, BOB, BOB_05])
    result = run_bnlab("export", str(tmp_path), "--format", "canvas")
    path = tmp_path / "canvas_grades.csv"
    assert str(path) in result.stdout
    table = rows(path.read_text(encoding="utf-8"))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "03_layer_placement", "05_pitfalls"]
    assert table[1][0] == "Points Possible" and table[1][5:] == ["2", "3"]
    by_login = {row[3]: row for row in table[2:]}
    assert by_login["alice"][5:] == ["2", ""]  # no record for 05: an empty cell, Canvas keeps the grade as is
    assert by_login["bob"][5:] == ["1", "1"]   # a timeout keeps the points of the cells that had passed


def test_canvas_roster_supplies_canvas_ids_and_leaves_out_unknown_learners(tmp_path):
    write_results(tmp_path, [ALICE, BOB])
    roster = tmp_path / "export.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,03_layer_placement (123)\n"
                      "    Points Possible,,,,,2\n"
                      "\"Liddell, Alice\",1001,S1,alice,BN 101,\n"
                      "\"Carroll, Lewis\",1002,S2,lewis,BN 101,\n", encoding="utf-8")
    result = run_bnlab("export", str(tmp_path), "--roster", str(roster), "--to", str(tmp_path / "import.csv"))
    table = rows((tmp_path / "import.csv").read_text(encoding="utf-8"))
    assert table[2] == ["Liddell, Alice", "1001", "S1", "alice", "BN 101", "2"]
    assert table[3] == ["Carroll, Lewis", "1002", "S2", "lewis", "BN 101", ""]
    assert len(table) == 4
    assert "not on the roster" in result.stderr and "bob" in result.stderr


def test_plain_csv_has_one_row_per_learner_with_status_and_total(tmp_path):
    write_results(tmp_path, [ALICE, BOB, BOB_05])
    run_bnlab("export", str(tmp_path), "--format", "csv")
    table = rows((tmp_path / "gradebook.csv").read_text(encoding="utf-8"))
    assert table[0] == ["student_id", "03_layer_placement score", "03_layer_placement max_score",
                        "03_layer_placement status", "05_pitfalls score", "05_pitfalls max_score",
                        "05_pitfalls status", "total", "total max_score"]
    assert table[1] == ["alice", "2", "2", "graded", "", "3", "not submitted", "2", "5"]
    assert table[2] == ["bob", "1", "2", "graded", "1", "3", "timeout", "2", "5"]


def test_export_reads_grades_json_when_results_are_gone(tmp_path):
    (tmp_path / "grades.json").write_text(json.dumps([ALICE]), encoding="utf-8")
    run_bnlab("export", str(tmp_path), "--format", "csv")
    assert rows((tmp_path / "gradebook.csv").read_text(encoding="utf-8"))[1][:4] == ["alice", "2", "2", "graded"]


def test_export_without_grades_is_a_one_line_error(tmp_path):
    result = run_bnlab("export", str(tmp_path), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "run `bnlab grade" in result.stderr


def test_export_has_help_naming_both_formats():
    result = run_bnlab("export", "--help")
    assert "usage: bnlab export" in result.stdout and "canvas" in result.stdout and "csv" in result.stdout


def test_unknown_roster_is_a_one_line_error(tmp_path):
    write_results(tmp_path, [ALICE])
    (tmp_path / "roster.csv").write_text("name,email\nAlice,a@example.org\n", encoding="utf-8")
    result = run_bnlab("export", str(tmp_path), "--roster", str(tmp_path / "roster.csv"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "not a Canvas gradebook export" in result.stderr
