"""One course round on the bnlab JupyterHub (deploy/hub/), in Debian's Chromium, on loopback.

deploy/hub/start (the trial command of docs/deploy.md) runs the hub with throw-away folders,
free ports and three throw-away unix accounts (an instructor and two learners, PAM passwords).
Then:

1. the instructor releases 03_layer_placement (`bnlab release`);
2. each learner logs in, fetches it in JupyterLab's Assignments panel, opens it, runs its first
   cells, moves a slider, answers (one right, one with BatchNorm1d after the ReLU), runs Validate and
   submits from the panel;
3. the instructor collects and grades (`bnlab collect`, `bnlab grade`) and releases the
   feedback through nbgrader's feedback exchange (deploy/hub/release_feedback.py);
4. each learner fetches the feedback in the panel and opens it: their own diagnosis is there,
   and no hidden test or solution text;
5. the instructor opens nbgrader's formgrader in the hub: the scores are the ones bnlab recorded.

Screenshots of every step: test-artifacts/hub/NN-<who>-<step>.png (and the hub's log).
At the end the hub, every user's server and kernel, and the accounts are gone.
"""
from __future__ import annotations

import contextlib
import html
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import source_notebook
from browser_support import CHROMIUM, LAB_SETTINGS, free_port, wait_for
from conftest import ROOT, run_bnlab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ASSIGNMENT = "03_layer_placement"
ARTIFACTS = ROOT / "test-artifacts" / "hub"
START = ROOT / "deploy" / "hub" / "start"
INSTRUCTOR, RIGHT, WRONG = "bnlab-t-teacher", "bnlab-t-alice", "bnlab-t-bob"
USERS = [INSTRUCTOR, RIGHT, WRONG]
PREFIX = "bnlab-hub-test-"
CORPUS = ROOT / "tests" / "corpus"
AFTER_RELU = "BatchNorm1d comes after the ReLU"
PAGE_TIMEOUT_MS = 60_000
SPAWN_TIMEOUT = 240
VALIDATE_TIMEOUT = 900    # s: Validate runs the whole lesson; minutes on a loaded 2-core machine


def answer(path: Path) -> str:
    """A corpus answer without its '# expect:' line."""
    return "".join(line for line in path.read_text(encoding="utf-8").splitlines(True)
                   if not line.startswith("# expect"))


ANSWERS = {
    RIGHT: {"bn_mlp": answer(CORPUS / "bn_mlp" / "sequential.py"), "bn_cnn": answer(CORPUS / "bn_cnn" / "sequential.py")},
    WRONG: {"bn_mlp": answer(CORPUS / "bn_mlp" / "after_relu.py")},
}


# --------------------------------------------------------------------------- the hub

def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return f"pid {pid} (gone)"


class Hub:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.exchange = base / "exchange"
        self.env = dict(os.environ,
                        BNLAB_HUB_STATE=str(base / "state"), BNLAB_HUB_HOMES=str(base / "home"),
                        BNLAB_HUB_USERENV=str(base / "userenv"), BNLAB_EXCHANGE=str(self.exchange),
                        BNLAB_HUB_IP="127.0.0.1", BNLAB_HUB_PORT=str(self.port),
                        BNLAB_HUB_API_PORT=str(free_port()), BNLAB_PROXY_API_PORT=str(free_port()),
                        BNLAB_INSTRUCTOR=INSTRUCTOR, BNLAB_LEARNERS=f"{RIGHT},{WRONG}",
                        BNLAB_HUB_PASSWORD=self.password, BNLAB_PYTHON=sys.executable)
        self.log_path = ARTIFACTS / "jupyterhub.log"
        self.process = None
        self.uids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    @property
    def course(self) -> Path:
        return self.home(INSTRUCTOR) / "bnlab-course"

    def start(self) -> None:
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen([str(START)], env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(self._ready, 180, interval=0.5, what=lambda: f"the hub on {self.url} (log: {self.log_path})")
        self.uids = {pwd.getpwnam(user).pw_uid for user in USERS}
        for user in USERS:  # a quiet, deterministic JupyterLab (as tests/browser_support.py sets it)
            entry = pwd.getpwnam(user)
            for relative, content in LAB_SETTINGS.items():
                path = self.home(user) / ".jupyter" / "lab" / "user-settings" / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(content), encoding="utf-8")
            for folder, _, files in os.walk(self.home(user) / ".jupyter"):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.chown(name, entry.pw_uid, entry.pw_gid)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the hub exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.url + "/hub/api", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Stop the hub (it stops the users' servers), then anything left of the accounts, then
        remove them.  Returns what had to be killed by force."""
        forced = []
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                forced.append("the hub")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        # The users' kernels notice their server is gone by polling for their parent (ipykernel's
        # ParentPoller, about once a second) and then shut down: give them that time before
        # anything left counts as leaked.
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not processes_of(self.uids), 20, interval=0.5, what="the accounts' processes to end")
        left = processes_of(self.uids)
        if left:
            forced.append(f"{len(left)} process(es) of the test accounts ({'; '.join(map(command_of, left))})")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not processes_of(self.uids), 30, what="the test accounts' processes to end")
        subprocess.run([str(START), "down"], env=self.env, capture_output=True, timeout=120)
        if hasattr(self, "_log"):
            self._log.close()
        return forced


@contextlib.contextmanager
def reachable_by_the_accounts(*paths: Path):
    """The learners' servers run bnlab's checkout and packages as their own users: a folder above
    them closed to others (a checkout in a ``mktemp -d`` folder, 0700) is opened for traversal
    (o+x, no listing) during the round, and closed again after."""
    opened = {}
    for path in paths:
        for folder in [path.resolve(), *path.resolve().parents]:
            mode = folder.stat().st_mode
            if not mode & 0o001 and folder not in opened:
                opened[folder] = mode
                folder.chmod((mode & 0o7777) | 0o001)
    try:
        yield
    finally:
        for folder, mode in opened.items():
            folder.chmod(mode & 0o7777)


def remove_leftovers() -> None:
    """Accounts a killed earlier run left behind (only ours: their home is in a test folder)."""
    for user in USERS:
        if account_exists(user):
            home = pwd.getpwnam(user).pw_dir
            assert f"/{PREFIX}" in home, f"the account {user} exists and is not this test's: not touching it"
            for pid in processes_of({pwd.getpwnam(user).pw_uid}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["userdel", "--remove", user], capture_output=True)


@pytest.fixture(scope="module")
def hub():
    if os.geteuid() != 0:
        pytest.skip("the hub round creates unix accounts: run it as root (CI does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it", pytrace=False)
    if not (ROOT / "deploy" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy").exists() \
            and not shutil.which("npm"):
        pytest.fail("configurable-http-proxy is not installed and npm is missing: `make browser` installs both",
                    pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    remove_leftovers()
    base = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/tmp"))
    base.chmod(0o755)  # the learners' servers read their homes and the exchange below it
    server = Hub(base)
    with reachable_by_the_accounts(ROOT, Path(sys.prefix)):
        try:
            server.start()
            yield server
        finally:
            forced = server.stop()
            shutil.rmtree(base, ignore_errors=True)
            assert not [u for u in USERS if account_exists(u)], "the test accounts were not removed"
            assert not forced, f"had to kill {', '.join(forced)} at the end:\n{server.log_tail()}"


# --------------------------------------------------------------------------- the browser

class Shots:
    def __init__(self):
        self.count = 0
        self.names: list[str] = []

    def take(self, page, who: str, what: str, full_page: bool = False) -> str:
        self.count += 1
        name = f"{self.count:02d}-{who}-{what}.png"
        page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)
        self.names.append(name)
        return name


@contextlib.contextmanager
def step(page, who: str, what: str):
    try:
        yield
    except Exception as error:
        shot = ARTIFACTS / f"FAILED-{who}-{what}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{who}: {what}: {type(error).__name__}: {error}\nscreenshot: {shot}") from error


def log_in(browser, hub: Hub, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto(hub.url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{re.escape(user)}/lab.*"), timeout=SPAWN_TIMEOUT * 1000)
    # A workspace of its own for each visit: nothing restored from an earlier one, and no
    # "?reset" that could close the panels opened meanwhile.
    page.goto(f"{hub.url}/user/{user}/lab/workspaces/visit-{secrets.token_hex(4)}")
    page.wait_for_selector(".jp-LabShell", timeout=SPAWN_TIMEOUT * 1000)
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Nbgrader", timeout=120_000)
    page.wait_for_selector(".lm-DockPanel-tabBar .lm-TabBar-tab >> text=Launcher", timeout=120_000)
    time.sleep(2)
    return context, page


def kernel_status(page) -> str:
    return page.evaluate("""() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
        .map(e => e.textContent).find(t => t.includes(' | ')) || ''""")


def prompts(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim())""")


def open_assignment_list(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-item", has_text="Assignment List").click()
    page.wait_for_selector("#released_assignments_list", state="attached")


def assignment_row(page, section: str):
    """The 03_layer_placement row of a section of the panel (released, fetched, submitted)."""
    return page.locator(f"#{section}_assignments_list > .list_item", has_text=ASSIGNMENT).first


def set_answer(page, index: int, source: str) -> None:
    """Replace the source of the notebook's cell ``index`` with ``source`` (typed as one insert,
    so that the editor adds no indentation or brackets)."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)


def move_a_slider(page) -> None:
    """Move the first slider of the first slider view and wait for its figure to be redrawn."""
    view = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea",
                        has=page.locator(".noUi-handle")).first
    view.scroll_into_view_if_needed()
    handle = view.locator(".noUi-handle").first
    readout = view.locator(".widget-readout").first
    image = view.locator("img").first
    before_value, before_src = readout.text_content(), image.get_attribute("src")
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    for _ in range(2):
        handle.press("ArrowLeft" if at_max else "ArrowRight")
    wait_for(lambda: readout.text_content() != before_value, 20, what="the slider's readout to change")
    wait_for(lambda: image.get_attribute("src") not in (None, "", before_src), 60, what="the figure to be redrawn")
    wait_for(lambda: kernel_status(page).endswith("| Idle"), 60, what="the kernel to be idle after the redraw")


def validate(page) -> tuple[str, str]:
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible", timeout=VALIDATE_TIMEOUT * 1000)
    body = dialog.locator(".jp-Dialog-body")
    result = body.evaluate("""body => {
        for (const node of [body, ...body.querySelectorAll('*')]) {
            const found = [...node.classList].find(c => c.startsWith('validation-'));
            if (found) return found;
        }
        return '';
    }""")
    return result, body.inner_text()


def tab(page, label: str) -> None:
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=label).first.click()


# --------------------------------------------------------------------------- the round

def learner_works_and_submits(browser, hub: Hub, user: str, shots: Shots, answer_cells: dict[str, int]) -> dict:
    context, page = log_in(browser, hub, user)
    seen = {}
    try:
        with step(page, user, "the Assignments panel lists the released assignment"):
            open_assignment_list(page)
            assignment_row(page, "released").locator("button", has_text="Fetch").wait_for()
            shots.take(page, user, "assignments-released")
        with step(page, user, "Fetch"):
            assignment_row(page, "released").locator("button", has_text="Fetch").click()
            assignment_row(page, "fetched").wait_for()
            copy = hub.home(user) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            wait_for(copy.is_file, 30, what=f"{copy} to be fetched")
            assert copy.read_bytes() == (ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
            shots.take(page, user, "fetched")
        with step(page, user, "open the notebook from the panel"):
            row = assignment_row(page, "fetched")
            row.locator("a.assignment-notebooks-link").click()
            row.locator(".assignment-notebooks a", has_text=ASSIGNMENT).click()
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
            wait_for(lambda: kernel_status(page).endswith("| Idle"), 180,
                     what=lambda: f"the kernel to be idle ({kernel_status(page)!r})")
        with step(page, user, "run the first cells (Shift+Enter) and move a slider"):
            first = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(1)
            first.locator(".jp-InputArea-prompt").click()  # selects the imports cell, in command mode
            for _ in range(3):  # the imports, the section's text, the pre-activation view
                page.keyboard.press("Shift+Enter")
            page.wait_for_selector(".jp-NotebookPanel .noUi-handle", timeout=180_000)
            wait_for(lambda: kernel_status(page).endswith("| Idle") and not any("*" in p for p in prompts(page)),
                     240, what=lambda: f"the cells to finish (prompts {prompts(page)})")
            move_a_slider(page)
            shots.take(page, user, "slider-moved")
        with step(page, user, "answer and save"):
            for grade_id, source in ANSWERS[user].items():
                set_answer(page, answer_cells[grade_id], source)
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) [data-command='docmanager:save']").first.click()

            def saved():
                notebook = nbformat.read(copy, as_version=4)
                sources = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in notebook.cells}
                return all(sources.get(g, "").strip() == s.strip() for g, s in ANSWERS[user].items())
            wait_for(saved, 30, what="the answers to be saved")
            cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(answer_cells["bn_mlp"])
            cell.scroll_into_view_if_needed()
            shots.take(page, user, "answered")
        with step(page, user, "Validate"):
            result, text = validate(page)
            seen["validate"] = (result, text)
            shots.take(page, user, "validate")
            page.locator(".jp-Dialog .jp-Dialog-button").last.click()
        with step(page, user, "Submit from the panel"):
            tab(page, "Assignments")
            assignment_row(page, "fetched").locator("button", has_text="Submit").click()
            assignment_row(page, "submitted").wait_for(timeout=60_000)
            shots.take(page, user, "submitted")
    finally:
        context.close()
    return seen


def learner_reads_feedback(browser, hub: Hub, user: str, shots: Shots) -> tuple[str, Path]:
    context, page = log_in(browser, hub, user)
    try:
        with step(page, user, "Fetch Feedback in the panel"):
            open_assignment_list(page)
            row = assignment_row(page, "submitted")
            row.locator("button", has_text="Fetch Feedback").click()
            assignment_row(page, "submitted").locator("a", has_text="view feedback").wait_for(timeout=60_000)
            shots.take(page, user, "feedback-fetched")
        with step(page, user, "open the feedback"):
            assignment_row(page, "submitted").locator("a", has_text="view feedback").click()
            item = page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html")
            item.wait_for(timeout=30_000)
            item.dblclick()
            frame = page.frame_locator(".jp-HTMLViewer iframe, iframe").first
            frame.locator("body").wait_for(timeout=30_000)
            wait_for(lambda: "feedback" in frame.locator("body").inner_text().lower()
                     or "bn_mlp" in frame.locator("body").inner_text(), 30, what="the feedback page to render")
            shown = frame.locator("body").inner_text()
            shots.take(page, user, "feedback-opened")
        files = list((hub.home(user) / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(files) == 1, f"fetched feedback files: {files}"
        return shown, files[0]
    finally:
        context.close()


ROWS_JS = "() => [...document.querySelectorAll('table tbody tr')].map(r => r.textContent.replace(/\\s+/g, ' ').trim())"


def formgrader_rows(page, users) -> dict[str, str]:
    """The text of the formgrader table's row of each user (names may be hidden: textContent)."""
    def found():
        rows = page.evaluate(ROWS_JS)
        by_user = {user: next((row for row in rows if user in row), None) for user in users}
        return by_user if all(by_user.values()) else None
    return wait_for(found, 60, what=lambda: f"rows for {users} in {page.evaluate(ROWS_JS)}")


def instructor_opens_formgrader(browser, hub: Hub, shots: Shots) -> dict[str, str]:
    context, page = log_in(browser, hub, INSTRUCTOR)
    try:
        with step(page, INSTRUCTOR, "the formgrader's gradebook of the assignment"):
            page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}")
            by_student = formgrader_rows(page, (RIGHT, WRONG))
            shots.take(page, INSTRUCTOR, "formgrader-gradebook", full_page=True)
        with step(page, INSTRUCTOR, "the formgrader's students"):
            page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/manage_students")
            students = formgrader_rows(page, (RIGHT, WRONG))
            shots.take(page, INSTRUCTOR, "formgrader-students", full_page=True)
            by_student.update({f"{user} (students)": row for user, row in students.items()})
        return by_student
    finally:
        context.close()


def secret_lines(notebook: nbformat.NotebookNode) -> tuple[list[str], list[str]]:
    """(hidden test lines, solution lines) of the instructor's notebook, the telling ones."""
    hidden, solution = [], []
    for cell in notebook.cells:
        for kind, begin, end, bucket in (("hidden", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", hidden),
                                         ("solution", "### BEGIN SOLUTION", "### END SOLUTION", solution)):
            inside = False
            for line in cell.source.splitlines():
                if begin in line:
                    inside = True
                    bucket.append(begin)
                elif end in line:
                    inside = False
                elif inside and len(line.strip()) > 12:
                    bucket.append(line.strip())
    return hidden, solution


@pytest.mark.timeout(2400)
def test_course_round_on_the_hub(hub, browser, tmp_path):
    started = time.monotonic()
    shots = Shots()
    instructor_notebook = source_notebook(ROOT, ASSIGNMENT)
    lesson = nbformat.read(ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answer_cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): index for index, cell in enumerate(lesson.cells)}

    # 1. the instructor releases the lesson into the hub's exchange
    run_bnlab("release", ASSIGNMENT, "--exchange", str(hub.exchange), "--no-build")
    assert (hub.exchange / "bnlab" / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    # 2. each learner fetches, works, validates and submits in JupyterLab
    seen = {user: learner_works_and_submits(browser, hub, user, shots, answer_cells) for user in (RIGHT, WRONG)}
    result, text = seen[RIGHT]["validate"]
    assert result == "validation-success", f"Validate on the right answers: {result}: {text[:2000]}"
    result, text = seen[WRONG]["validate"]
    assert result == "validation-failed" and AFTER_RELU in text, f"Validate on the wrong answer: {result}: {text[:2000]}"

    # 3. the instructor collects, grades and releases the feedback
    submitted, graded = hub.course / "submitted", hub.course / "graded"
    collected = run_bnlab("collect", ASSIGNMENT, "--exchange", str(hub.exchange), "--to", str(submitted))
    assert f"{RIGHT}, {WRONG}" in collected.stdout or f"{WRONG}, {RIGHT}" in collected.stdout, collected.stdout
    run_bnlab("grade", str(submitted), "--out", str(graded), "--quiet", "--workers", "2")
    grades = {r["student_id"]: r for r in json.loads((graded / "grades.json").read_text(encoding="utf-8"))}
    assert grades[RIGHT]["status"] == "graded" and grades[RIGHT]["score"] == grades[RIGHT]["max_score"] > 0, grades[RIGHT]
    assert grades[WRONG]["status"] == "graded" and grades[WRONG]["score"] == 0, grades[WRONG]
    assert AFTER_RELU in grades[WRONG]["cells"]["bn_mlp_test"]["feedback"]
    released = subprocess.run([sys.executable, str(ROOT / "deploy" / "hub" / "release_feedback.py"), ASSIGNMENT,
                               "--course", str(hub.course), "--exchange", str(hub.exchange)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert released.returncode == 0 and "released for 2 learner(s)" in released.stdout, released.stderr

    # 4. each learner fetches and opens their feedback: their own diagnosis, nothing secret
    hidden, solution = secret_lines(instructor_notebook)
    assert hidden and solution
    for user in (RIGHT, WRONG):
        shown, path = learner_reads_feedback(browser, hub, user, shots)
        page_text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))  # the page's text
        if user == WRONG:
            assert AFTER_RELU in shown and AFTER_RELU in page_text, shown[:2000]
        else:
            full = f"{grades[user]['score']:g} / {grades[user]['max_score']:g}"
            assert AFTER_RELU not in page_text and full in shown and "✗" not in shown, shown[:2000]
        # What the learner had anyway (the released lesson, their own answers) is not a leak.
        public = "\n".join(cell.source for cell in lesson.cells) + "\n" + "\n".join(ANSWERS[user].values())
        public += "\n" + public.replace("`", "")  # markdown as rendered: `code` shows without its backticks
        leaked = [line for line in hidden + solution
                  if (line in page_text or line in shown) and line not in public]
        assert not leaked, f"{user}'s feedback shows instructor-only text: {leaked}"

    # 5. the formgrader in the hub shows the scores bnlab recorded
    rows = instructor_opens_formgrader(browser, hub, shots)
    for user in (RIGHT, WRONG):
        expected = f"{grades[user]['score']:g} / {grades[user]['max_score']:g}"
        for key in (user, f"{user} (students)"):
            numbers = re.sub(r"\.0\b", "", rows[key])
            assert expected in numbers, f"formgrader row for {key}: {rows[key]!r}, bnlab recorded {expected}"

    print(f"\nhub round: {time.monotonic() - started:.0f} s; screenshots in {ARTIFACTS}: {', '.join(shots.names)}")
