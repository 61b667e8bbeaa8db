"""The adversarial corpus of the "Grading integrity" issue: hostile and broken submissions of
lesson 03 (``bn_mlp_test``: 5 points, ``bn_cnn_test``: 3 points), each with the status and score
the grader must give it.

Every case is built from the learner's copy ``lessons/03_layer_placement/03_layer_placement.ipynb``
and the corpus answers ``tests/corpus/bn_mlp/sequential.py`` / ``tests/corpus/bn_cnn/sequential.py``
(right) and ``tests/corpus/bn_mlp/no_batchnorm.py`` (wrong).  A trick that tries to raise a score
is paired with the wrong ``bn_mlp`` answer and the right ``bn_cnn`` one, so the right score is 3
(the honest part), never 8.

Hostile code gets what it needs from :class:`Context` through the notebook source: the port of a
loopback listener the test opens, a random token (the names of the files it tries to write, the
argv of the processes it leaves behind), the course folder, ``SUBMITTED`` and ``OUT``.  It prints
``LEAK: <path>`` when it could read something it must not, and ``ESCAPE: <what>`` when it could
write, connect or signal where it must not; the test looks for both in the executed notebooks.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Callable, Optional, Union

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "03_layer_placement"
LESSON = ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.py"
CORPUS = ROOT / "tests" / "corpus"
MAX_SCORE = 8.0
POINTS = {"bn_mlp_test": 5.0, "bn_cnn_test": 3.0}


def _answer(exercise: str, case: str) -> str:
    return (CORPUS / exercise / f"{case}.py").read_text(encoding="utf-8")


RIGHT_MLP = _answer("bn_mlp", "sequential")
RIGHT_CNN = _answer("bn_cnn", "sequential")
WRONG_MLP = _answer("bn_mlp", "no_batchnorm")


@dataclasses.dataclass
class Context:
    """What the hostile submissions are told about the run (through their source)."""

    port: int  # a TCP listener on 127.0.0.1 that must accept no connection
    token: str  # random; names the files hostile code tries to write and the processes it leaves
    root: Path  # the course folder (instructor's solutions, autograder/)
    submitted: Path  # SUBMITTED
    out: Path  # OUT
    home: Path  # the grader's $HOME

    def forbidden_files(self, student_folder: Path) -> list[Path]:
        """Where hostile code tries to write ``pwned-<token>``; none of them may exist afterwards."""
        name = f"pwned-{self.token}"
        return [Path("/tmp") / name, Path("/var/tmp") / name, Path("/dev/shm") / name, self.home / name,
                self.root / name, self.root / "lessons" / name, self.root.parent / name, self.out / name,
                self.submitted / name, student_folder / name, Path("/etc") / name]


Build = Callable[[Context], Union[bytes, nbformat.NotebookNode]]


@dataclasses.dataclass
class Case:
    student_id: str
    build: Build  # the file's bytes, or a notebook
    status: str  # expected status in grades.json
    score: float  # expected total score
    fragment: Optional[str] = None  # expected in the reason or in a cell's feedback
    max_score: float = MAX_SCORE
    cells: Optional[dict] = None  # expected score per graded cell (default: derived from the score)
    assignment: str = ASSIGNMENT  # the assignment folder it is submitted under
    filename: Optional[str] = None  # default <assignment>.ipynb
    extra_files: dict = dataclasses.field(default_factory=dict)  # name -> bytes, next to the notebook
    what: str = ""  # the requirement it covers

    def expected_cells(self) -> dict:
        if self.cells is not None:
            return self.cells
        if self.status in {"graded", "timeout", "memory", "crashed"}:
            return {8.0: {"bn_mlp_test": 5.0, "bn_cnn_test": 3.0}, 3.0: {"bn_mlp_test": 0.0, "bn_cnn_test": 3.0},
                    5.0: {"bn_mlp_test": 5.0, "bn_cnn_test": 0.0}, 0.0: {"bn_mlp_test": 0.0, "bn_cnn_test": 0.0}
                    }[self.score]
        return {"bn_mlp_test": 0.0, "bn_cnn_test": 0.0} if self.max_score else {}


# --------------------------------------------------------------------------- notebook helpers


def lesson() -> nbformat.NotebookNode:
    return nbformat.read(LESSON, as_version=4)


def answered(mlp: str = RIGHT_MLP, cnn: str = RIGHT_CNN) -> nbformat.NotebookNode:
    notebook = lesson()
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "bn_mlp":
            cell.source = mlp
        elif grade_id == "bn_cnn":
            cell.source = cnn
    return notebook


def index_of(notebook, grade_id: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def cell_of(notebook, grade_id: str):
    return notebook.cells[index_of(notebook, grade_id)]


def with_cells(notebook, *sources: str, after: Optional[str] = "imports") -> nbformat.NotebookNode:
    """Insert plain code cells after the lesson's import cell (``after="imports"``), after the
    cell with grade_id ``after``, or at the end (``after=None``)."""
    if after is None:
        position = len(notebook.cells)
    elif after == "imports":
        position = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code") + 1
    else:
        position = index_of(notebook, after) + 1
    for offset, source in enumerate(sources):
        notebook.cells.insert(position + offset, new_code_cell(source))
    return notebook


def to_bytes(notebook) -> bytes:
    return nbformat.writes(notebook).encode("utf-8")


def passing_outputs(test_id: str) -> list:
    """What a passing test cell's output looks like (to pre-fill a failing one)."""
    return [nbformat.v4.new_output("stream", name="stdout", text=f"✓ {test_id}: all checks passed\n")]


# --------------------------------------------------------------------------- hostile code

def probe_source(ctx: Context, student_folder: str) -> str:
    """Learner code that tries every way out of the sandbox; prints LEAK:/ESCAPE: on success."""
    return f'''
import os, socket, sqlite3, glob, signal
_TOKEN, _PORT = {ctx.token!r}, {ctx.port}
_ROOT, _SUBMITTED, _OUT, _HOME = {str(ctx.root)!r}, {str(ctx.submitted)!r}, {str(ctx.out)!r}, {str(ctx.home)!r}
_MINE = {student_folder!r}
# network: the loopback listener the test opened, by socket and by urllib
for _host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((_host, _PORT), timeout=2).close()
        print("ESCAPE: connected to", _host, _PORT)
    except OSError:
        pass
try:
    import urllib.request
    urllib.request.urlopen(f"http://127.0.0.1:{{_PORT}}/", timeout=2)
    print("ESCAPE: urllib reached the listener")
except Exception:
    pass
# reading the instructor's files, the gradebook, OUT and other learners' submissions
_secrets = [os.path.join(_ROOT, "solutions", "03_layer_placement", "03_layer_placement.py"),
            os.path.join(_ROOT, "solutions", "03_layer_placement", "03_layer_placement.ipynb"),
            os.path.join(_OUT, "gradebook.db"), os.path.join(_OUT, "grades.json"),
            os.path.join(_SUBMITTED, "honest-right", "03_layer_placement", "03_layer_placement.ipynb")]
_secrets += glob.glob(os.path.join(_ROOT, "solutions", "*", "*.py"))
_secrets += glob.glob(os.path.join(_SUBMITTED, "*", "*", "*.ipynb"))
_secrets += glob.glob(os.path.join(_OUT, "**", "*"), recursive=True)
for _path in _secrets:
    try:
        with open(_path, "rb") as _handle:
            _data = _handle.read(200000)
        if _data:
            print("LEAK:", _path)
    except OSError:
        pass
# writing outside the scratch folder
_name = "pwned-" + _TOKEN
for _folder in ["/tmp", "/var/tmp", "/dev/shm", _HOME, os.path.expanduser("~"), _ROOT, os.path.join(_ROOT, "lessons"),
                os.path.dirname(_ROOT), _OUT, _SUBMITTED, _MINE, "/etc"]:
    try:
        with open(os.path.join(_folder, _name), "w") as _handle:
            _handle.write("pwned")
        print("WROTE:", os.path.join(_folder, _name))  # harmless inside the sandbox's own tmpfs; the test looks outside
    except OSError:
        pass
for _path in [os.path.join(_ROOT, "autograder", "checks", "bn_mlp.py"), os.path.join(_ROOT, "autograder", "trusted.py")]:
    try:
        open(_path, "a").close()  # opening for append changes nothing, but must be refused
        print("ESCAPE: could open for writing", _path)
    except OSError:
        pass
try:
    _db = sqlite3.connect(os.path.join(_OUT, "gradebook.db"), timeout=1)
    _db.execute("CREATE TABLE pwned_{ctx.token} (x)")
    _db.execute("UPDATE grade SET auto_score = 100")
    _db.commit()
    print("ESCAPE: wrote the gradebook")
except Exception:
    pass
# signalling the grader
for _pid in [os.getppid(), 1]:
    try:
        os.kill(_pid, 0)
        if os.getuid() == 0:
            print("ESCAPE: running as root, could signal", _pid)
    except OSError:
        pass
'''


def orphan_source(ctx: Context) -> str:
    """Leave processes behind: detached (setsid, double fork) and as many as the cap allows."""
    return f'''
import os, subprocess, time
os.environ["BNLAB_ADVERSARIAL"] = {ctx.token!r}
def _sleeper():
    os.execv("/bin/sleep", ["bnlab-orphan-{ctx.token}", "600"])
# a detached daemon by subprocess
try:
    subprocess.Popen(["/bin/sleep", "600"], executable="/bin/sleep", start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
except OSError:
    pass
# a double fork with setsid: the grandchild is reparented away from the kernel
try:
    if os.fork() == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _sleeper()
        finally:
            os._exit(0)
except OSError:
    pass
# as many processes as the cap allows
_started = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            try:
                _sleeper()
            finally:
                os._exit(0)
        _started += 1
    except OSError:
        break
print("started", _started, "processes")
'''


# --------------------------------------------------------------------------- tricks that try to raise a score

CUSTOM_EXC = '''
def _swallow(shell, etype, evalue, tb, tb_offset=None):
    return None
get_ipython().set_custom_exc((BaseException,), _swallow)
'''

INPUT_TRANSFORMER = '''
def _empty_the_rest(lines):
    return []
get_ipython().input_transformers_cleanup.append(_empty_the_rest)
'''

SHOWTRACEBACK = '''
_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None
_ip._showtraceback = lambda *args, **kwargs: None
_ip.showsyntaxerror = lambda *args, **kwargs: None
'''

PATCH_CHECKS = '''
import sys
import autograder.checks
import autograder.checks.bn_mlp, autograder.checks.bn_cnn, autograder.checks._placement
for _module in (autograder.checks.bn_mlp, autograder.checks.bn_cnn):
    _module.visible = lambda ns: None
    _module.hidden = lambda ns: None
autograder.checks.fail = lambda *a, **k: None
autograder.checks.require = lambda *a, **k: None
autograder.checks._placement.fail = lambda *a, **k: None
autograder.checks._placement.require = lambda *a, **k: None
for _name in dir(autograder.checks._placement):
    if _name.startswith("check_"):
        setattr(autograder.checks._placement, _name, lambda *a, **k: None)
'''

PATCH_BUILTINS = '''
import builtins
builtins.isinstance = lambda obj, cls: True
builtins.issubclass = lambda a, b: True
builtins.hasattr = lambda obj, name: True
'''

PATCH_TORCH = '''
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(a, dtype=torch.bool)
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
'''

FAKE_BATCHNORM = '''
class FakeBatchNorm1d(nn.Module):
    """A BatchNorm1d that does nothing."""
    def __init__(self, num_features, *args, **kwargs):
        super().__init__()
        self.num_features = num_features
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
    def forward(self, x):
        return x
nn.BatchNorm1d = FakeBatchNorm1d
torch.nn.modules.batchnorm.BatchNorm1d = FakeBatchNorm1d

class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), FakeBatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
'''

ALWAYS_EQUAL = '''
class Anything:
    """Equal to everything, any shape, any attribute."""
    shape = property(lambda self: self)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __bool__(self): return True
    def __len__(self): return 1
    def __iter__(self): return iter([self])
    def __getitem__(self, key): return self
    def __getattr__(self, name): return self
    def __call__(self, *args, **kwargs): return self
    def __float__(self): return 0.5
    def __int__(self): return 1
    def __index__(self): return 1
    def __hash__(self): return 0

class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64))  # "looks" right to a naive check
    def forward(self, x):
        return Anything()
'''

FIND_INSTRUCTOR = '''
import glob, os, re, sqlite3
_found = None
_candidates = glob.glob("/**/solutions/03_layer_placement/03_layer_placement.py", recursive=False)
_candidates += [os.path.join({root!r}, "solutions", "03_layer_placement", "03_layer_placement.py")]
for _path in _candidates:
    try:
        _text = open(_path, encoding="utf-8").read()
    except OSError:
        continue
    print("LEAK:", _path)
    _match = re.search(r"class BatchNormMLP.*?### END SOLUTION", _text, re.S)
    if _match:
        _found = _match.group(0).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
        break
for _db in glob.glob(os.path.join({out!r}, "*.db")):
    try:
        _rows = sqlite3.connect(f"file:{{_db}}?mode=ro", uri=True).execute("SELECT source FROM source_cell").fetchall()
        print("LEAK:", _db)
        for (_source,) in _rows:
            if "class BatchNormMLP" in _source and "BEGIN SOLUTION" in _source:
                _found = _source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
    except Exception:
        pass
for _nb in glob.glob(os.path.join({submitted!r}, "*", "03_layer_placement", "*.ipynb")):
    try:
        import json
        for _cell in json.load(open(_nb, encoding="utf-8"))["cells"]:
            _source = "".join(_cell["source"]) if isinstance(_cell["source"], list) else _cell["source"]
            if "class BatchNormMLP" in _source and "BatchNorm1d(64)" in _source:
                print("LEAK:", _nb)
                _found = _found or _source
    except Exception:
        pass
if _found:
    exec(_found, globals())
    print("ESCAPE: used the instructor's or another learner's answer")
else:
{wrong}
'''

# In the trusted re-check, learner code runs in the same interpreter as the checks: these reach
# for the checker's own state (a module it did not snapshot, its local variables, its token).
TRUSTED_JSON = '''
import json as _json
_real_dump = _json.dump
def _forged_dump(obj, handle, *args, **kwargs):
    if isinstance(obj, dict) and "verdicts" in obj:
        obj = {**obj, "verdicts": {test: {"passed": True, "feedback": "All checks passed."} for test in obj["verdicts"]}}
    return _real_dump(obj, handle, *args, **kwargs)
_json.dump = _forged_dump
_json.dumps = lambda obj, *a, **k: __import__("json").JSONEncoder().encode(
    {**obj, "verdicts": {t: {"passed": True, "feedback": "ok"} for t in obj["verdicts"]}}
    if isinstance(obj, dict) and "verdicts" in obj else obj)
'''

TRUSTED_CODE_OBJECTS = '''
import autograder.checks.bn_mlp as _bn_mlp
import autograder.checks._placement as _placement
_nothing = (lambda *args, **kwargs: None).__code__
for _function in (_bn_mlp.visible, _bn_mlp.hidden, _bn_mlp._check, _placement.check_bn_stack):
    try:
        _function.__code__ = _nothing.replace(co_name=_function.__code__.co_name)
    except (AttributeError, TypeError, ValueError):
        pass
'''

TRUSTED_FRAMES = '''
import sys as _sys
_frame = _sys._getframe()
while _frame is not None:
    _checks = _frame.f_locals.get("checks")
    if isinstance(_checks, dict):
        for _key in list(_checks):
            _checks[_key] = (lambda ns: None, lambda ns: None)
    _frame = _frame.f_back
'''

TRUSTED_FORGE = '''
import sys as _sys, json as _json, os as _os
_frame = _sys._getframe()
_request = _result_path = None
while _frame is not None:
    _locals = _frame.f_locals
    if isinstance(_locals.get("request"), dict) and "token" in _locals["request"]:
        _request = _locals["request"]
    if isinstance(_locals.get("result_path"), str):
        _result_path = _locals["result_path"]
    _frame = _frame.f_back
if _request is not None and _result_path is not None:
    with open(_result_path, "w") as _handle:
        _json.dump({"token": _request["token"], "verdicts": {e["test"]: {"passed": True, "feedback": "All checks passed."}
                                                              for e in _request["exercises"]}}, _handle)
    _os._exit(0)
'''


def _indent(source: str) -> str:
    return "\n".join("    " + line for line in source.splitlines())


# --------------------------------------------------------------------------- builders


def build_honest_right(ctx):
    return answered()


def build_honest_wrong(ctx):
    return answered(mlp=WRONG_MLP)


def build_cell_trick(*sources: str) -> Build:
    """Wrong bn_mlp, right bn_cnn, and plain code cells with the trick after the imports."""
    return lambda ctx: with_cells(answered(mlp=WRONG_MLP), *sources)


def build_answer_trick(trick: str, answer: str = WRONG_MLP) -> Build:
    """The trick inside the bn_mlp answer cell (so it also runs in the trusted re-check)."""
    return lambda ctx: answered(mlp=trick + "\n\n" + answer)


def build_prefilled(ctx):
    notebook = answered(mlp=WRONG_MLP)
    for test_id in ("bn_mlp_test", "bn_cnn_test"):
        cell = cell_of(notebook, test_id)
        cell.outputs = passing_outputs(test_id)
        cell.execution_count = 7
    notebook.cells.insert(0, new_markdown_cell("**Score: 8 / 8**"))
    return notebook


def build_metadata_points(ctx):
    notebook = answered()
    for test_id in ("bn_mlp_test", "bn_cnn_test"):
        cell_of(notebook, test_id).metadata.nbgrader["points"] = 100
    bonus = new_code_cell("print('bonus')")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus_test", "locked": True, "points": 50,
                                  "schema_version": 3, "solution": False, "task": False}
    notebook.cells.append(bonus)
    return notebook


def build_metadata_ungraded(ctx):
    notebook = answered(mlp=WRONG_MLP)
    test = cell_of(notebook, "bn_mlp_test")
    test.metadata.nbgrader.update({"grade": False, "locked": False, "solution": True, "points": 0})
    test.source = "pass"
    answer = cell_of(notebook, "bn_mlp")
    answer.metadata.nbgrader.update({"grade": True, "points": 5})
    return notebook


def build_deleted_tests(mlp: str) -> Build:
    def build(ctx):
        notebook = answered(mlp=mlp)
        notebook.cells = [c for c in notebook.cells
                          if c.metadata.get("nbgrader", {}).get("grade_id") not in {"bn_mlp_test", "bn_cnn_test"}]
        return notebook
    return build


def build_duplicated_tests(ctx):
    notebook = answered(mlp=WRONG_MLP)
    test = cell_of(notebook, "bn_mlp_test")
    fake = copy.deepcopy(test)
    fake.source = "print('✓ all checks passed')"
    fake.outputs, fake.execution_count = passing_outputs("bn_mlp_test"), 3
    for position in (0, index_of(notebook, "bn_mlp_test"), len(notebook.cells)):
        clone = copy.deepcopy(fake)
        clone["id"] = f"dup-{position}"
        notebook.cells.insert(position, clone)
    return notebook


def build_duplicated_answers(ctx):
    notebook = answered()
    answer = copy.deepcopy(cell_of(notebook, "bn_mlp"))
    answer["id"] = "bn_mlp-copy"
    notebook.cells.insert(index_of(notebook, "bn_mlp"), answer)
    return notebook


def build_retyped_tests(ctx):
    notebook = answered(mlp=WRONG_MLP)
    for test_id, maker in (("bn_mlp_test", new_markdown_cell), ("bn_cnn_test", new_raw_cell)):
        index = index_of(notebook, test_id)
        old = notebook.cells[index]
        new = maker("✓ all checks passed")
        new.metadata = old.metadata
        new["id"] = old["id"]
        notebook.cells[index] = new
    return notebook


def build_retyped_answer(ctx):
    notebook = answered()
    index = index_of(notebook, "bn_mlp")
    old = notebook.cells[index]
    new = new_markdown_cell(old.source)
    new.metadata, new["id"] = old.metadata, old["id"]
    notebook.cells[index] = new
    return notebook


def build_find_instructor(ctx):
    source = FIND_INSTRUCTOR.format(root=str(ctx.root), out=str(ctx.out), submitted=str(ctx.submitted),
                                    wrong=_indent(WRONG_MLP))
    return answered(mlp=source)


def build_probe(ctx, student_id: str):
    folder = str(ctx.submitted / student_id / ASSIGNMENT)
    probe = probe_source(ctx, folder)
    # In a plain cell (the kernel) and in the answer cell (the trusted re-check) both.
    return with_cells(answered(mlp=probe + "\n\n" + RIGHT_MLP), probe)


def build_signal(ctx):
    source = '''
import os, signal
# Only processes of other users (the grader, the zygote, other submissions): never a process of
# this sandbox user, which a concurrent run on this machine may share.
for _entry in os.listdir("/proc"):
    if not _entry.isdigit() or int(_entry) == os.getpid():
        continue
    try:
        _uid = int(next(l for l in open(f"/proc/{_entry}/status") if l.startswith("Uid:")).split()[1])
    except (OSError, StopIteration, ValueError):
        continue
    if _uid == os.getuid():
        continue
    try:
        os.kill(int(_entry), signal.SIGKILL)
        print("ESCAPE: killed", _entry)
    except OSError:
        pass
'''
    return with_cells(answered(), source, after=None)


def build_end_cells(*sources: str, mlp: str = RIGHT_MLP) -> Build:
    return lambda ctx: with_cells(answered(mlp=mlp), *sources, after=None)


def build_processes(ctx):
    orphans = orphan_source(ctx)
    notebook = answered(cnn=RIGHT_CNN + "\n" + orphans)  # also from the trusted re-check
    return with_cells(notebook, orphans, after=None)


def build_truncated(ctx):
    data = to_bytes(answered())
    return data[: len(data) // 2]


def build_invalid_utf8(ctx):
    data = to_bytes(answered())
    marker = "By the end of this lesson".encode()
    return data.replace(marker, b"By the end of this \xff\xfe lesson", 1)


def build_v3(ctx):
    notebook = nbformat.convert(answered(), 3)
    return nbformat.writes(notebook, version=3).encode("utf-8")


def build_stripped(ctx):
    notebook = answered()
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
    return notebook


def build_missing_answer(ctx):
    notebook = answered()
    del notebook.cells[index_of(notebook, "bn_cnn")]
    return notebook


def build_kernelspec(ctx):
    notebook = answered()
    notebook.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    notebook.metadata["language_info"] = {"name": "R"}
    return notebook


def build_huge_file(ctx):
    notebook = answered()
    cell_of(notebook, "bn_mlp").outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (33 * 2**20))]
    return notebook


HUGE_PRINT = "print('y' * 5_000_000)\nfrom IPython.display import HTML\nHTML('<b>z</b>' * 300_000)"

EXTRA_FILES = {
    "notes.txt": b"my notes\n",
    "helper.py": b"raise SystemExit('imported the helper')\n",
    "torch.py": b"raise SystemExit('shadowed torch')\n",
    "other.ipynb": b"{not json",
    "gradebook.db": b"SQLite format 3\x00" + bytes(100),
}


# --------------------------------------------------------------------------- the corpus


def cases() -> list[Case]:
    trick = "a trick must not raise the score (wrong bn_mlp + right bn_cnn = 3)"
    sandbox = "learner code: no network, no writes outside its scratch folder, no reading the course/OUT/others"
    limits = "limits: a status and a reason, the points of the graded cells passed kept"
    broken = "hostile and broken input: a row with a status and a clear reason"
    return [
        # baselines
        Case("honest-right", build_honest_right, "graded", 8.0, "BatchNormMLP", what="baseline"),
        Case("honest-wrong", build_honest_wrong, "graded", 3.0, "No BatchNorm1d(64) normalizes the hidden layer",
             what="baseline"),
        # tricks
        Case("trick-custom-exc", build_cell_trick(CUSTOM_EXC), "graded", 3.0, "No BatchNorm1d(64)", what=trick),
        Case("trick-input-transformer", build_cell_trick(INPUT_TRANSFORMER), "graded", 3.0, what=trick),
        Case("trick-showtraceback", build_cell_trick(SHOWTRACEBACK), "graded", 3.0, what=trick),
        Case("trick-patch-checks", lambda ctx: with_cells(build_answer_trick(PATCH_CHECKS)(ctx), PATCH_CHECKS),
             "graded", 3.0, what=trick),
        # the patched builtins kill the learner's own kernel: crashed, the honest points kept
        # Learner code runs as written: builtins patched in an answer cell stay patched for the
        # evidence step too, which then cannot describe anything; no points, never more.
        Case("trick-patch-builtins", lambda ctx: with_cells(build_answer_trick(PATCH_BUILTINS)(ctx), PATCH_BUILTINS),
             "crashed", 0.0, what=trick + " (it breaks its own program: nothing is repaired)"),
        Case("trick-patch-torch", lambda ctx: with_cells(build_answer_trick(PATCH_TORCH)(ctx), PATCH_TORCH),
             "graded", 3.0, what=trick),
        Case("trick-fake-batchnorm", lambda ctx: answered(mlp=FAKE_BATCHNORM), "graded", 3.0, what=trick),
        Case("trick-always-equal", lambda ctx: answered(mlp=ALWAYS_EQUAL), "graded", 3.0, what=trick),
        Case("trick-prefilled-outputs", build_prefilled, "graded", 3.0, what=trick),
        Case("trick-metadata-points", build_metadata_points, "graded", 8.0, what=trick + " (points from the instructor)"),
        Case("trick-metadata-ungraded", build_metadata_ungraded, "graded", 3.0, what=trick),
        Case("trick-deleted-tests", build_deleted_tests(WRONG_MLP), "graded", 3.0, what=trick),
        Case("deleted-tests-right", build_deleted_tests(RIGHT_MLP), "graded", 8.0,
             what="deleted test cells are restored and the answer graded on its merits"),
        Case("trick-duplicated-tests", build_duplicated_tests, "graded", 3.0, what=trick),
        Case("duplicated-answer", build_duplicated_answers, "graded", 8.0, what=broken),
        Case("trick-retyped-tests", build_retyped_tests, "graded", 3.0, what=trick),
        # nbgrader restores the instructor's cell type: the answer runs as code, graded on its merits
        Case("retyped-answer", build_retyped_answer, "graded", 8.0, what=broken),
        Case("trick-find-instructor", build_find_instructor, "graded", 3.0, what=trick + "; " + sandbox),
        Case("trick-trusted-json-dump", build_answer_trick(TRUSTED_JSON), "graded", 3.0, what=trick),
        Case("trick-trusted-code-objects", build_answer_trick(TRUSTED_CODE_OBJECTS), "graded", 3.0, what=trick),
        Case("trick-trusted-frames", build_answer_trick(TRUSTED_FRAMES), "graded", 3.0, what=trick),
        Case("trick-trusted-forge-result", build_answer_trick(TRUSTED_FORGE), "graded", 3.0, what=trick),
        Case("harmless-trick-right", lambda ctx: with_cells(answered(mlp=PATCH_TORCH + "\n" + RIGHT_MLP), CUSTOM_EXC),
             "graded", 8.0, what="a right answer + a harmless trick keeps its points"),
        # the sandbox
        Case("sandbox-escape", lambda ctx: build_probe(ctx, "sandbox-escape"), "graded", 8.0, what=sandbox),
        Case("sandbox-signal", build_signal, "graded", 8.0, what=sandbox),
        # limits
        Case("limit-cell-timeout", build_end_cells("while True:\n    pass"), "timeout", 8.0, "20", what=limits),
        Case("limit-answer-loops", lambda ctx: answered(mlp="while True:\n    pass\n" + WRONG_MLP), "timeout", 0.0,
             what=limits),
        Case("limit-notebook-timeout", build_end_cells(*["import time\ntime.sleep(18)"] * 6), "timeout", 8.0, "90",
             what=limits),
        Case("limit-memory", build_end_cells("_hog = bytearray(3 * 2**30)"), "memory", 8.0, "2048", what=limits),
        Case("limit-memory-touched", build_end_cells(
            "import numpy as np\n_hogs = []\nwhile True:\n    _hogs.append(np.ones(2**26))"), "memory", 8.0,
            what=limits),
        Case("limit-os-exit", build_end_cells("import os\nos._exit(3)"), "crashed", 8.0, "kernel died", what=limits),
        Case("limit-segfault", build_end_cells("import ctypes\nctypes.string_at(0)"), "crashed", 8.0, what=limits),
        Case("limit-processes", build_processes, "graded", 8.0, what=limits + " (every child process ended)"),
        # broken input
        Case("input-truncated", build_truncated, "malformed", 0.0, "not valid JSON", what=broken),
        Case("input-json-not-notebook", lambda ctx: b"[1, 2, 3]", "malformed", 0.0, "not a Jupyter notebook",
             what=broken),
        Case("input-bad-structure", lambda ctx: json.dumps({"cells": "none", "nbformat": 4, "nbformat_minor": 5,
                                                            "metadata": {}}).encode(), "malformed", 0.0, what=broken),
        Case("input-empty", lambda ctx: b"", "empty", 0.0, "empty", what=broken),
        Case("input-whitespace", lambda ctx: b"  \n\t\n", "empty", 0.0, "empty", what=broken),
        Case("input-binary", lambda ctx: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "unreadable", 0.0, "UTF-8",
             what=broken),
        Case("input-invalid-utf8", build_invalid_utf8, "unreadable", 0.0, "UTF-8", what=broken),
        Case("input-nbformat-v3", build_v3, "graded", 8.0, what=broken + " (v3 is upgraded and graded)"),
        Case("input-stripped-metadata", build_stripped, "graded", 8.0, what=broken),
        Case("input-missing-answer", build_missing_answer, "graded", 5.0, what=broken),
        Case("input-kernelspec", build_kernelspec, "graded", 8.0, what=broken),
        Case("input-huge-file", build_huge_file, "too_large", 0.0, "MiB", what=broken),
        Case("output-huge-printed", build_end_cells(HUGE_PRINT), "graded", 8.0, what=broken + " (stored output capped)"),
        Case("input-extra-files", build_honest_right, "graded", 8.0, extra_files=EXTRA_FILES, what=broken),
        Case("José Müller", build_honest_right, "graded", 8.0, what=broken + " (student id)"),
        Case("学生 01 ünïcode", build_honest_wrong, "graded", 3.0, what=broken + " (student id)"),
        Case("unknown-assignment", build_honest_right, "unknown_assignment", 0.0, "99_no_such_lesson", max_score=0.0,
             assignment="99_no_such_lesson", what=broken),
        Case("missing-notebook", build_honest_right, "missing", 0.0, "No 03_layer_placement.ipynb",
             filename="my_answers.ipynb", what=broken),
    ]


def write_cohort(submitted: Path, ctx: Context, selected: Optional[list[Case]] = None) -> dict[str, Path]:
    """Write every case into ``submitted`` (nbgrader's layout); return student_id -> its folder."""
    folders = {}
    for case in selected or cases():
        folder = submitted / case.student_id / case.assignment
        folder.mkdir(parents=True, exist_ok=True)
        content = case.build(ctx)
        data = content if isinstance(content, bytes) else to_bytes(content)
        (folder / (case.filename or f"{case.assignment}.ipynb")).write_bytes(data)
        for name, extra in case.extra_files.items():
            (folder / name).write_bytes(extra)
        folders[case.student_id] = folder
    return folders


def solution_lines(min_length: int = 12) -> list[str]:
    """The lines of the instructor's solution regions (stripped, long enough to be distinctive)."""
    lines, inside = [], False
    for line in SOLUTION.read_text(encoding="utf-8").splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) >= min_length:
            lines.append(line.strip())
    return lines


def hidden_test_lines() -> list[str]:
    lines, inside = [], False
    for line in SOLUTION.read_text(encoding="utf-8").splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "### END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines
