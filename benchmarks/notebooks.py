"""How long each lesson's solution notebook takes to run top to bottom (target: under 30 s).

    python benchmarks/notebooks.py [ASSIGNMENT ...]

Builds each instructor notebook from solutions/<A>/<A>.py and executes it with nbclient in a
fresh python3 kernel, as a learner's "Run All" would; prints the kernel start and the cells'
execution time separately, and their sum.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbclient import NotebookClient  # noqa: E402

from autograder.course import assignments, source_notebook  # noqa: E402


def run(assignment: str) -> tuple[float, float, int]:
    notebook = source_notebook(ROOT, assignment)
    with tempfile.TemporaryDirectory() as folder:
        client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": folder}})
        started = time.perf_counter()
        with client.setup_kernel(cwd=folder):
            kernel_ready = time.perf_counter()
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            finished = time.perf_counter()
    errors = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                 for output in cell.get("outputs", []) if output.get("output_type") == "error")
    return kernel_ready - started, finished - kernel_ready, errors


def main() -> None:
    names = sys.argv[1:] or assignments(ROOT)
    print(f"{'lesson':<26} {'kernel start s':>15} {'cells s':>9} {'total s':>9} {'errors':>7}")
    for name in names:
        start, cells, errors = run(name)
        print(f"{name:<26} {start:>15.1f} {cells:>9.1f} {start + cells:>9.1f} {errors:>7}")
    print("target: every total under 30 s")


if __name__ == "__main__":
    main()
