"""The lessons as a learner meets them: JupyterLab in Debian's Chromium, driven by Playwright.

For every lesson (``autograder.course.assignments``) the instructor's notebook (solutions
included) is opened in a real JupyterLab, run with Run > Run All Cells, saved, and read back
from disk: no cell may have an error output and every code cell must have run.  Then the
first slider of the first slider view is moved with the keyboard and the figure under it
must be redrawn.  On lesson 03, nbgrader's Validate button must pass the solved notebook and
fail the learner's untouched copy with the plain-words diagnosis.

Screenshots (and the server's log) are kept in ``test-artifacts/browser/``.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import assignments, source_notebook, write_notebook
from browser_support import JupyterLab, wait_for
from conftest import ROOT

pytestmark = pytest.mark.browser

ASSIGNMENTS = assignments(ROOT)
ARTIFACTS = ROOT / "test-artifacts" / "browser"
VALIDATED = "03_layer_placement"
UNSOLVED_NAME = f"{VALIDATED}_unsolved.ipynb"

KERNEL_START_TIMEOUT = 180   # s: the first kernel start and JupyterLab's first load are slow
RUN_ALL_TIMEOUT = 180        # s: a lesson runs in < 30 s on 2 cores
SLIDER_TIMEOUT = 60          # s: one redraw (< 100 ms) plus the round trip
VALIDATE_TIMEOUT = 240       # s: nbgrader runs the whole notebook in a fresh kernel
PAGE_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder with the solved notebook of every lesson (tmp/<A>/<A>.ipynb), plus the
    learner's untouched copy of lesson 03.  Returns (folder, {lesson: build error})."""
    root = tmp_path_factory.mktemp("lab-root")
    errors = {}
    for assignment in ASSIGNMENTS:
        try:
            write_notebook(source_notebook(ROOT, assignment), root / assignment / f"{assignment}.ipynb")
        except Exception as error:  # noqa: BLE001 - reported by that lesson's test
            errors[assignment] = f"{type(error).__name__}: {error}"
    # The course's nbgrader config, as in `make lab` (the Validate handler reads it from the server's cwd).
    shutil.copyfile(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    released = ROOT / "lessons" / VALIDATED / f"{VALIDATED}.ipynb"
    if released.is_file():
        (root / VALIDATED).mkdir(exist_ok=True)
        shutil.copyfile(released, root / VALIDATED / UNSOLVED_NAME)
    return root, errors


@pytest.fixture(scope="session")
def lab(lab_root, tmp_path_factory, artifacts):
    """JupyterLab serving ``lab_root`` on a free loopback port, stopped (kernels too) at the end."""
    root, _ = lab_root
    server = JupyterLab(root, home=tmp_path_factory.mktemp("jupyter-home"), log_path=artifacts / "jupyterlab.log")
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture
def page(browser, lab):
    """A fresh browser context (no cookies, no storage) per test; its kernels are shut down after."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(f"{message.type}: {message.text}")
            if message.type == "error" else None)
    yield page
    context.close()
    lab.shutdown_kernels()


# --------------------------------------------------------------------------- helpers

@contextlib.contextmanager
def step(page, name: str, what: str):
    """Run one step; on failure save a screenshot and say where it is."""
    try:
        yield
    except Exception as error:
        shot = ARTIFACTS / f"{name}-FAILED.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f"screenshot: {shot}"
        except Exception as shot_error:  # noqa: BLE001
            where = f"(no screenshot: {shot_error})"
        console = "\n".join(getattr(page, "console_messages", [])[-10:])
        pytest.fail(f"{name}: {what} failed: {type(error).__name__}: {error}\n{where}"
                    + (f"\nbrowser console errors:\n{console}" if console else ""), pytrace=False)


def kernel_status(page) -> str:
    """The status bar's kernel text, e.g. 'Python 3 (ipykernel) | Idle'."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
        .map(e => e.textContent).find(t => t.includes(' | ')) || ''""")


def prompts(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim())""")


def open_notebook(page, lab, path: str, workspace: str) -> None:
    """Open ``path`` in a workspace of its own and wait until its kernel is idle."""
    page.goto(lab.lab_url(path, workspace))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=KERNEL_START_TIMEOUT * 1000)
    wait_for(lambda: kernel_status(page).endswith("| Idle"), KERNEL_START_TIMEOUT,
             what=lambda: f"the kernel of {path} to be idle (status bar: {kernel_status(page)!r})")


def settled(probe, seconds: float = 1.0):
    """A condition: ``probe()`` is truthy (a tuple: its last item is) and has not changed for ``seconds``."""
    state = {"value": None, "since": None}

    def condition() -> bool:
        value = probe()
        ok = value[-1] if isinstance(value, tuple) else value
        if not ok or value != state["value"]:
            state["value"], state["since"] = value, time.monotonic()
            return False
        return time.monotonic() - state["since"] >= seconds

    return condition


def run_all_cells(page, expected_code_cells: int) -> None:
    """Run > Run All Cells, then wait until nothing is queued or running and the kernel is idle."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    # Started: the first code cell is queued, running or done.
    wait_for(lambda: prompts(page) and prompts(page)[0] not in ("[ ]:", ""), 30,
             what="Run All Cells to start")

    def finished():
        current = prompts(page)
        return tuple(current), (len(current) == expected_code_cells and not any("*" in p for p in current)
                                and kernel_status(page).endswith("| Idle"))

    wait_for(settled(finished), RUN_ALL_TIMEOUT, interval=0.25,
             what=lambda: f"all cells to finish (prompts: {prompts(page)}, kernel: {kernel_status(page)!r})")


def save(page, path: Path) -> nbformat.NotebookNode:
    """Save with the toolbar's Save button and read the notebook back from disk."""
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) [data-command='docmanager:save']").first.click()
    wait_for(lambda: path.stat().st_mtime_ns != before
             and not page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count(), 60,
             what=f"{path.name} to be saved")
    return nbformat.read(path, as_version=4)


def errors_in(notebook: nbformat.NotebookNode) -> list[str]:
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "error":
                found.append(f"cell {index} ({cell.source.splitlines()[0] if cell.source else ''!r}): "
                             f"{output.ename}: {output.evalue}")
    return found


SLIDER_VIEW_JS = """() => {
    // The first output area holding a box of sliders followed by an image: a SliderView.
    for (const area of document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea')) {
        const children = [...area.querySelectorAll(':scope > .jp-OutputArea-child')];
        for (let i = 0; i + 1 < children.length; i++) {
            const handle = children[i].querySelector('.widget-vbox .noUi-handle');
            const image = children[i + 1].querySelector('img');
            if (handle && image) {
                area.setAttribute('data-bnlab-view', '1');
                return true;
            }
        }
    }
    return false;
}"""


def image_src(view) -> str:
    return view.evaluate("""area => {
        const children = [...area.querySelectorAll(':scope > .jp-OutputArea-child')];
        for (let i = 0; i + 1 < children.length; i++) {
            if (children[i].querySelector('.widget-vbox .noUi-handle')) {
                const image = children[i + 1].querySelector('img');
                return image ? image.getAttribute('src') : '';
            }
        }
        return '';
    }""")


def code_cell_count(path: Path) -> int:
    return sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)


# --------------------------------------------------------------------------- tests

@pytest.mark.timeout(900)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_lesson_runs_and_its_slider_redraws(assignment, lab_root, lab, page, artifacts):
    root, build_errors = lab_root
    if assignment in build_errors:
        pytest.fail(f"{assignment}: the solution notebook could not be built: {build_errors[assignment]}",
                    pytrace=False)
    path = root / assignment / f"{assignment}.ipynb"
    code_cells = code_cell_count(path)

    with step(page, assignment, "opening the notebook and starting its kernel"):
        open_notebook(page, lab, f"{assignment}/{assignment}.ipynb", workspace=f"ws-{assignment}")

    start = time.monotonic()
    with step(page, assignment, "Run > Run All Cells"):
        run_all_cells(page, code_cells)
    run_seconds = time.monotonic() - start
    page.screenshot(path=str(artifacts / f"{assignment}-after-run.png"), full_page=True)

    with step(page, assignment, "saving the notebook"):
        saved = save(page, path)
    errors = errors_in(saved)
    assert not errors, (f"{assignment}: error output after Run All Cells ({run_seconds:.0f} s):\n"
                        + "\n".join(errors) + f"\nscreenshot: {artifacts / f'{assignment}-after-run.png'}")
    not_run = [index for index, cell in enumerate(saved.cells)
               if cell.cell_type == "code" and cell.execution_count is None]
    assert not not_run, (f"{assignment}: code cells {not_run} did not run"
                         f"\nscreenshot: {artifacts / f'{assignment}-after-run.png'}")

    with step(page, assignment, "finding a slider view (sliders followed by a figure)"):
        wait_for(lambda: page.evaluate(SLIDER_VIEW_JS), 30, what="a slider view in the outputs")
    view = page.locator("[data-bnlab-view='1']").first
    view.scroll_into_view_if_needed()
    handle = view.locator(".widget-vbox .noUi-handle").first
    readout = view.locator(".widget-vbox .widget-readout").first
    before_src, before_value = image_src(view), readout.text_content()

    with step(page, assignment, "moving the first slider and waiting for the figure to change"):
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        for _ in range(3):
            handle.press("ArrowLeft" if at_max else "ArrowRight")
        wait_for(lambda: readout.text_content() != before_value, 10,
                 what=f"the slider's readout to change from {before_value!r}")
        wait_for(lambda: image_src(view) not in ("", before_src), SLIDER_TIMEOUT,
                 what=lambda: f"the figure to be redrawn after the slider moved to {readout.text_content()!r}")
        # Each key press redraws once: wait until the last redraw is shown and nothing is pending.
        wait_for(settled(lambda: (image_src(view), kernel_status(page).endswith("| Idle"))), SLIDER_TIMEOUT,
                 what="the kernel to be idle and the figure to stop changing")
    view.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"{assignment}-after-slider.png"))
    assert readout.text_content() != before_value
    assert image_src(view).startswith("data:image/png")


def validate(page, name: str) -> tuple[str, str]:
    """Click nbgrader's Validate button; return (the dialog's result class, its text)."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible", timeout=VALIDATE_TIMEOUT * 1000)
    body = dialog.locator(".jp-Dialog-body")
    text = body.inner_text()
    result = body.evaluate("""body => {
        for (const node of [body, ...body.querySelectorAll('*')]) {
            const found = [...node.classList].find(c => c.startsWith('validation-'));
            if (found) return found;
        }
        return '';
    }""")
    page.screenshot(path=str(ARTIFACTS / f"{name}-validate.png"))
    return result, text


@pytest.mark.timeout(900)
def test_validate_passes_the_solved_lesson_and_fails_the_unsolved_one(lab_root, lab, page, artifacts):
    root, build_errors = lab_root
    if VALIDATED not in ASSIGNMENTS or VALIDATED in build_errors:
        pytest.fail(f"{VALIDATED} is missing or does not build: {build_errors.get(VALIDATED)}", pytrace=False)
    assert (root / VALIDATED / UNSOLVED_NAME).is_file(), f"lessons/{VALIDATED}/{VALIDATED}.ipynb is missing"

    solved = f"{VALIDATED}-solved"
    with step(page, solved, "opening the solved notebook"):
        open_notebook(page, lab, f"{VALIDATED}/{VALIDATED}.ipynb", workspace="ws-validate-solved")
    with step(page, solved, "Validate"):
        result, text = validate(page, solved)
    assert result == "validation-success" and "Success! Your notebook passes all the tests." in text, (
        f"Validate did not pass the solved {VALIDATED} ({result}):\n{text[:3000]}"
        f"\nscreenshot: {ARTIFACTS / f'{solved}-validate.png'}")
    page.locator(".jp-Dialog .jp-Dialog-button").last.click()

    unsolved = f"{VALIDATED}-unsolved"
    with step(page, unsolved, "opening the learner's untouched copy"):
        open_notebook(page, lab, f"{VALIDATED}/{UNSOLVED_NAME}", workspace="ws-validate-unsolved")
    with step(page, unsolved, "Validate"):
        result, text = validate(page, unsolved)
    assert result == "validation-failed", (
        f"Validate should fail the unsolved {VALIDATED} but reported {result!r}:\n{text[:3000]}"
        f"\nscreenshot: {ARTIFACTS / f'{unsolved}-validate.png'}")
    assert "BatchNormMLP is not defined" in text, (
        f"Validate's failure does not show the diagnosis 'BatchNormMLP is not defined':\n{text[:3000]}"
        f"\nscreenshot: {ARTIFACTS / f'{unsolved}-validate.png'}")


# --------------------------------------------------------------------------- lesson 06

BACKWARD = "06_backward_and_alternatives"

MARK_VIEWS_JS = """() => {
    // Every output area holding a box of sliders followed by an image, numbered in notebook order.
    let count = 0;
    for (const area of document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea')) {
        const children = [...area.querySelectorAll(':scope > .jp-OutputArea-child')];
        for (let i = 0; i + 1 < children.length; i++) {
            if (children[i].querySelector('.widget-vbox .noUi-handle') && children[i + 1].querySelector('img')) {
                area.setAttribute('data-bnlab-view06', String(count++));
                break;
            }
        }
    }
    return count;
}"""


def _move(page, view, slider_index: int, name: str) -> None:
    """Move slider ``slider_index`` of ``view`` three steps and wait for the figure under it to change."""
    handle = view.locator(".widget-vbox .noUi-handle").nth(slider_index)
    readout = view.locator(".widget-vbox .widget-readout").nth(slider_index)
    view.scroll_into_view_if_needed()
    before_src, before_value = image_src(view), readout.text_content()
    with step(page, name, f"moving slider {slider_index} and waiting for the figure to change"):
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        for _ in range(3):
            handle.press("ArrowLeft" if at_max else "ArrowRight")
        wait_for(lambda: readout.text_content() != before_value, 10,
                 what=f"the slider's readout to change from {before_value!r}")
        wait_for(lambda: image_src(view) not in ("", before_src), SLIDER_TIMEOUT,
                 what=lambda: f"the figure to be redrawn after the slider moved to {readout.text_content()!r}")
        wait_for(settled(lambda: (image_src(view), kernel_status(page).endswith("| Idle"))), SLIDER_TIMEOUT,
                 what="the kernel to be idle and the figure to stop changing")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    assert readout.text_content() != before_value and image_src(view).startswith("data:image/png")


@pytest.mark.timeout(900)
def test_backward_lesson_passes_its_checks_and_both_views_redraw(lab_root, lab, page, artifacts):
    """Lesson 06 in JupyterLab: Run All passes the three graded test cells (their ✓ lines are in the
    saved notebook), then the scale view's weight-decay slider and the batch-size view's slider
    each redraw their figure."""
    root, build_errors = lab_root
    if BACKWARD not in ASSIGNMENTS or BACKWARD in build_errors:
        pytest.fail(f"{BACKWARD} is missing or does not build: {build_errors.get(BACKWARD)}", pytrace=False)
    path = root / BACKWARD / f"{BACKWARD}.ipynb"
    with step(page, f"{BACKWARD}-06", "opening the notebook and starting its kernel"):
        open_notebook(page, lab, f"{BACKWARD}/{BACKWARD}.ipynb", workspace="ws-backward-views")
    with step(page, f"{BACKWARD}-06", "Run > Run All Cells"):
        run_all_cells(page, code_cell_count(path))
    with step(page, f"{BACKWARD}-06", "saving the notebook"):
        saved = save(page, path)
    assert not errors_in(saved), errors_in(saved)
    for grade_id in ("bn_backward_test", "bn2d_forward_test", "fold_conv_bn_test"):
        cell = next(c for c in saved.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert text.count("✓") >= 2, f"{grade_id} printed no ✓ lines: {text[:500]!r}"
    with step(page, f"{BACKWARD}-06", "finding the two slider views"):
        wait_for(lambda: page.evaluate(MARK_VIEWS_JS) >= 2, 30, what="two slider views in the outputs")
    scale_view = page.locator("[data-bnlab-view06='0']").first
    batch_view = page.locator("[data-bnlab-view06='1']").first
    _move(page, scale_view, 1, f"{BACKWARD}-weight-decay-slider")
    _move(page, batch_view, 0, f"{BACKWARD}-batch-size-slider")
