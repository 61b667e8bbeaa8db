"""How fast the instructor's dashboard (OUT/report.html) is written and shown with many learners.

    python benchmarks/dashboard.py [--learners 1000] [--loads 5]

Generates the records of a cohort (two assignments per learner, the mix of statuses and
diagnoses of tests/cohort_records.py), writes the dashboard with `bnlab grade`'s own
`write_report`, then opens it from the file system in Debian's Chromium (Playwright, offline)
``--loads`` times, each in a fresh browser context, and prints

- the time to write the page and its size;
- the time from the navigation's start to the learners table drawn (``body[data-ready]``):
  each load, and their median.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from autograder.cohort.dashboard import write_report  # noqa: E402
from browser_support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from cohort_records import generated_records, write_results  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bnlab-dashboard-") as folder:
        out = Path(folder)
        records = generated_records(args.learners)
        write_results(out, records)
        started = time.perf_counter()
        path = write_report(out, records)
        written = time.perf_counter() - started
        print(f"{args.learners} learners ({len(records)} submissions): page written in {written:.2f} s, "
              f"{path.stat().st_size / 1e6:.2f} MB")
        loads = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for _ in range(args.loads):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    page.route(re.compile(r"^https?://"), lambda route: route.abort())
                    page.goto(path.as_uri())
                    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                    loads.append(page.evaluate("performance.now()") / 1000)
                    context.close()
            finally:
                browser.close()
        print("shown in Chromium (navigation start to learners table drawn): "
              + ", ".join(f"{load:.2f}" for load in loads) + f" s; median {statistics.median(loads):.2f} s")


if __name__ == "__main__":
    main()
