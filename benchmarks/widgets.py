"""How fast each lesson's slider views redraw (target: under 100 ms median per update).

    python benchmarks/widgets.py [--repeats 3]

Finds every slider view factory in ``utils`` (a module-level function whose name ends in
``_view``, callable without arguments, returning a ``utils.widgets.SliderView``), then moves
each of its controls through a few values, timing each ``view.update(...)``: one redraw and
PNG encoding, what a learner waits for after letting go of a slider.  Prints the median and
the 90th percentile, wall time and CPU time, per view.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import utils  # noqa: E402
from utils.widgets import SliderView  # noqa: E402


def view_factories():
    for module_info in pkgutil.iter_modules(utils.__path__):
        module = importlib.import_module(f"utils.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_view") and function.__module__ == module.__name__:
                required = [p for p in inspect.signature(function).parameters.values()
                            if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
                if not required:
                    yield f"{module.__name__}.{name}", function


def control_values(control, count: int = 4) -> list:
    if hasattr(control, "options") and getattr(control, "options", None):
        options = list(control.options)
        values = [option[1] if isinstance(option, tuple) else option for option in options]
        return values[:count]
    if isinstance(control.value, bool):
        return [not control.value, control.value]
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    if low is None or high is None:
        return [control.value]
    values = [low + (high - low) * (index + 1) / (count + 1) for index in range(count)]
    if isinstance(control.value, int):
        values = sorted({int(round(v)) for v in values})
    return values


def measure(view: SliderView, repeats: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(repeats):
        for name, control in view.controls.items():
            original = control.value
            for value in control_values(control) + [original]:
                wall_start, cpu_start = time.perf_counter(), time.process_time()
                view.update(**{name: value})
                wall.append(time.perf_counter() - wall_start)
                cpu.append(time.process_time() - cpu_start)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'view':<45} {'updates':>7} {'median ms':>10} {'p90 ms':>8} {'median CPU ms':>14}")
    worst = 0.0
    for name, factory in view_factories():
        view = factory()
        if not isinstance(view, SliderView):
            continue
        view.redraw()  # warm up caches, fonts
        wall, cpu = measure(view, args.repeats)
        median = statistics.median(wall) * 1000
        worst = max(worst, median)
        p90 = statistics.quantiles(wall, n=10)[-1] * 1000 if len(wall) > 1 else median
        print(f"{name:<45} {len(wall):>7} {median:>10.1f} {p90:>8.1f} {statistics.median(cpu) * 1000:>14.1f}")
    print(f"slowest median: {worst:.1f} ms (target: under 100 ms)")


if __name__ == "__main__":
    main()
