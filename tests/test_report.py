"""OUT/report.html, the instructor's dashboard: its content from generated records, and in
Chromium (from the file system, no server) with 1,000 learners: search, sort and filter.

Its load time with 1,000 learners is benchmarks/dashboard.py's figure (docs/deploy.md).
"""
from __future__ import annotations

import re

import pytest

from autograder.cohort.dashboard import STATUS_ADVICE, feedback_href, render_report, write_report
from cohort_records import generated_records, record, write_results
from conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "report"


def small_cohort() -> list[dict]:
    after_relu = "✗ BatchNorm1d comes after the ReLU: move it between the Linear layer and the activation."
    bob, carol = (record(name, "03_layer_placement", "graded", {"bn_cnn": True}, seconds)
                  for name, seconds in (("bob", 4.0), ("carol", 5.0)))
    for learner in (bob, carol):
        learner["cells"]["bn_mlp"]["feedback"] = after_relu
    return [record("alice", "03_layer_placement", "graded", {"bn_mlp": True, "bn_cnn": True}, 3.0), bob, carol,
            record("dan </script>", "03_layer_placement", "timeout", {"bn_mlp": True}, 61.0),
            record("eve", "03_layer_placement", "malformed", {}, 0.1)]


def test_dashboard_has_statuses_with_advice_item_analysis_and_run(tmp_path):
    records = small_cohort()
    write_results(tmp_path, records)
    page = render_report(tmp_path, records)
    assert "http://" not in page and "https://" not in page  # nothing loaded from a network
    # statuses, each non-graded one with what to do
    assert "data-status='timeout'" in page and STATUS_ADVICE["timeout"][:40] in page
    assert "data-status='malformed'" in page and STATUS_ADVICE["malformed"][:40] in page
    # item analysis: passes per exercise and the diagnosis group listing its learners
    item = re.search(r"data-grade-id='bn_mlp'.*?</div></div>", page, re.S).group(0)
    assert "<b class='pass'>2</b> of 5 passed" in item
    group = re.search(r"BatchNorm1d comes after the ReLU.*?</details>", item, re.S).group(0)
    assert all(f">{name}<" in group for name in ("bob", "carol"))
    assert "[malformed]" in item
    alice_checks = "✓ BatchNormMLP maps (N, 20) to (N, 1)\n✓ BatchNormMLP also holds for other batches"
    records[0]["cells"]["bn_mlp"]["feedback"] = alice_checks
    checks = re.search(r"<table class='checks'>.*?</table>", render_report(tmp_path, records), re.S).group(0)
    assert "<td class='num'>1</td><td>✓ BatchNormMLP maps (N, #) to (N, #)</td>" in checks
    # the run: isolation, limits, slowest submission first
    assert "Isolation: bubblewrap" in page and "60 s per cell" in page
    slowest = re.search(r"<table id='slowest'>.*?</table>", page, re.S).group(0)
    assert slowest.index("dan") < slowest.index("carol") < slowest.index("bob")
    # a learner id cannot close the embedded data's script element
    assert "dan </script>" not in page


def test_feedback_links_point_at_the_feedback_pages(tmp_path):
    assert feedback_href("alice", "03_layer_placement") == "feedback/alice/03_layer_placement.html"
    # safe_name quotes the file name; the link quotes it once more so the browser finds that file
    assert feedback_href("jo sé/x", "A") == "feedback/jo%2520s%25C3%25A9%252Fx/A.html"


@pytest.mark.browser
def test_thousand_learners_search_and_sort_work(tmp_path, browser):
    """The dashboard of 1,000 learners in Chromium, offline: the first rows, search, sort, filter.
    (How fast it loads is benchmarks/dashboard.py's figure, not an assertion here.)"""
    records = generated_records(1000)
    write_results(tmp_path, records)
    path = write_report(tmp_path, records)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.route(re.compile(r"^https?://"), lambda route: route.abort())  # offline: nothing may be fetched
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        rows = page.locator("#learners tbody tr")
        assert "2000 of 2000 submissions; the first 250 shown" in page.inner_text("#learner-count")
        assert rows.count() == 250
        page.screenshot(path=str(ARTIFACTS / "01-dashboard-1000-learners.png"))

        # search: one learner, both assignments, each row a link to the feedback page
        page.fill("#learner-search", "learner0042")
        assert rows.count() == 2
        hrefs = [rows.nth(i).locator("a").get_attribute("href") for i in range(2)]
        assert sorted(hrefs) == ["feedback/learner0042/03_layer_placement.html",
                                 "feedback/learner0042/05_pitfalls.html"]
        page.fill("#learner-search", "")

        # sort by score: highest first, then lowest first
        page.select_option("#learner-assignment", "05_pitfalls")
        page.click("#learners th[data-key='score'] button")

        def scores():
            return [float(t.split("/")[0]) for t in page.locator("#learners tbody td:nth-child(4)").all_inner_texts()]
        page.click("#learner-more")
        first = scores()
        assert len(first) == 1000 and first == sorted(first, reverse=True) and first[0] == 3
        page.click("#learners th[data-key='score'] button")
        assert scores() == sorted(first)

        # sort by status, filter by status
        page.click("#learners th[data-key='status'] button")
        statuses = page.locator("#learners tbody td:nth-child(3)").all_inner_texts()
        assert statuses == sorted(statuses)
        page.select_option("#learner-status", "timeout")
        assert set(page.locator("#learners tbody td:nth-child(3)").all_inner_texts()) == {"timeout"}
        page.screenshot(path=str(ARTIFACTS / "02-dashboard-sorted-filtered.png"))
    finally:
        context.close()


def test_an_unisolated_run_is_flagged_at_the_top(tmp_path):
    records = small_cohort()
    write_results(tmp_path, records, run={"isolation": {"available": False, "description": "bubblewrap is missing"},
                                          "limits": {}, "workers": 1})
    page = render_report(tmp_path, records)
    assert page.index("WARNING: the last run had no isolation") < page.index("<section")
    assert "WARNING: no isolation." in page and "bubblewrap is missing" in page


HOSTILE = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'><a href='javascript:window.pwned=3'>x</a>"


@pytest.mark.browser
def test_learner_html_runs_no_script_on_the_feedback_page_or_the_dashboard(tmp_path, browser):
    """Learner outputs and markdown, and a learner-chosen id, are hostile: opened by the instructor,
    neither page runs a script of theirs nor fetches anything; the lesson's own markdown stays markdown."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from autograder.cohort.feedback import write_feedback
    from autograder.submission.result import CellResult, Result

    notebook = new_notebook(cells=[
        new_markdown_cell("# The lesson\n\nSome *text*, a [link](https://pytorch.org).\n\n" + HOSTILE),
        new_code_cell("display(HTML(...))", outputs=[
            new_output("display_data", data={"text/html": HOSTILE + "<meta http-equiv='refresh' content='0;url=https://x'>",
                                             "text/plain": "html"}),
            new_output("display_data", data={"application/javascript": "window.pwned = 4"}),
            new_output("display_data", data={"image/svg+xml": "<svg onload='window.pwned = 5'></svg>"}),
            new_output("display_data", data={"text/markdown": HOSTILE})])])
    notebook.metadata["language_info"] = {"name": "python"}
    student = "mallory</script><script>window.pwned = 6</script>"
    diagnosis = "No BatchNorm1d(64)</script><script>window.pwned = 7</script>"
    result = Result(student, "03_layer_placement", "graded", None, 0.0, 5.0,
                    {"bn_mlp_test": CellResult(0.0, 5.0, diagnosis)}, notebook=notebook)
    feedback = write_feedback(tmp_path, result)
    records = [record(student, "03_layer_placement", "graded", {}, 3.0)]
    records[0]["cells"]["bn_mlp"]["feedback"] = diagnosis
    write_results(tmp_path, records)
    dashboard = write_report(tmp_path, records)

    context = browser.new_context()
    fetched, dialogs = [], []
    try:
        page = context.new_page()
        page.route(re.compile(r"^https?://"), lambda route: (fetched.append(route.request.url), route.abort()))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(feedback.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("window.pwned") is None
        assert page.locator("h1", has_text="The lesson").count() == 1   # markdown still rendered
        assert "window.pwned = 7" in page.inner_text("body")             # the diagnosis shown as text
        if page.locator("a:text-is('x')").count():                   # the javascript: link, if it survived
            page.click("a:text-is('x')", timeout=2_000)
        assert page.evaluate("window.pwned") is None
        page.goto(dashboard.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        assert page.evaluate("window.pwned") is None
        page.fill("#learner-search", "mallory")
        assert "mallory</script>" in page.inner_text("#learners")        # the id shown as text
        assert page.evaluate("window.pwned") is None
    finally:
        context.close()
    assert not fetched and not dialogs
