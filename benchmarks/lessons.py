"""Each lesson's two speed targets: the solution notebook runs top to bottom in under 30 s, and
every slider view redraws in under 100 ms (median).

    python benchmarks/lessons.py [ASSIGNMENT ...] [--repeats 3]

For each lesson: builds the instructor's notebook from solutions/<A>/<A>.py, executes it with
nbclient in a fresh python3 kernel as "Run All" would (kernel start and cells timed apart),
then, in that same kernel, finds every ``utils.widgets.SliderView`` the lesson displayed and
moves each of its controls through a few values, timing each ``view.update(...)``: one redraw
and PNG encoding, what a learner waits for after letting go of a slider.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbclient import NotebookClient  # noqa: E402
from nbformat.v4 import new_code_cell  # noqa: E402

from autograder.course.build import assignments, source_notebook  # noqa: E402

MEASURE_VIEWS = r'''
import gc, json, statistics, time
from utils.widgets import SliderView

def _values(control, count=4):
    options = getattr(control, "options", None)
    if options:
        return [o[1] if isinstance(o, tuple) else o for o in list(options)][:count]
    if isinstance(control.value, bool):
        return [not control.value, control.value]
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    if low is None or high is None:
        return [control.value]
    values = [low + (high - low) * (i + 1) / (count + 1) for i in range(count)]
    return sorted({int(round(v)) for v in values}) if isinstance(control.value, int) else values

_report = []
for _view in [o for o in gc.get_objects() if isinstance(o, SliderView)]:
    _wall, _cpu = [], []
    for _ in range(REPEATS):
        for _name, _control in _view.controls.items():
            _original = _control.value
            for _value in _values(_control) + [_original]:
                _w, _c = time.perf_counter(), time.process_time()
                _view.update(**{_name: _value})
                _wall.append(time.perf_counter() - _w)
                _cpu.append(time.process_time() - _c)
    _report.append({"controls": sorted(_view.controls), "updates": len(_wall),
                    "median_ms": 1000 * statistics.median(_wall),
                    "p90_ms": 1000 * sorted(_wall)[int(0.9 * (len(_wall) - 1))],
                    "median_cpu_ms": 1000 * statistics.median(_cpu)})
print(json.dumps(_report))
'''


def run(assignment: str, repeats: int) -> dict:
    notebook = source_notebook(ROOT, assignment)
    with tempfile.TemporaryDirectory() as folder:
        client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": folder}})
        started = time.perf_counter()
        with client.setup_kernel(cwd=folder):
            ready = time.perf_counter()
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            finished = time.perf_counter()
            probe = new_code_cell(MEASURE_VIEWS.replace("REPEATS", str(repeats)))
            notebook.cells.append(probe)
            client.execute_cell(probe, len(notebook.cells) - 1)
    errors = sum(1 for cell in notebook.cells[:-1] if cell.cell_type == "code"
                 for output in cell.get("outputs", []) if output.get("output_type") == "error")
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    views = json.loads(text.strip().splitlines()[-1]) if text.strip() else []
    return {"start": ready - started, "cells": finished - ready, "errors": errors, "views": views}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    names = args.assignments or assignments(ROOT)
    results = {name: run(name, args.repeats) for name in names}
    print(f"{'lesson':<24} {'kernel start s':>14} {'cells s':>8} {'total s':>8} {'errors':>6}   (target: total < 30 s)")
    for name, result in results.items():
        total = result["start"] + result["cells"]
        print(f"{name:<24} {result['start']:>14.1f} {result['cells']:>8.1f} {total:>8.1f} {result['errors']:>6}")
    print()
    print(f"{'lesson':<24} {'slider view (controls)':<44} {'updates':>7} {'median ms':>9} {'p90 ms':>7} "
          f"{'CPU ms':>7}   (target: median < 100 ms)")
    for name, result in results.items():
        for view in result["views"]:
            controls = ", ".join(view["controls"])
            print(f"{name:<24} {controls[:44]:<44} {view['updates']:>7} {view['median_ms']:>9.1f} "
                  f"{view['p90_ms']:>7.1f} {view['median_cpu_ms']:>7.1f}")


if __name__ == "__main__":
    main()
