"""The sandbox hides the course wherever it lives (also under /tmp, as CI's clone may)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.run import sandbox
from conftest import ROOT

pytestmark = pytest.mark.skipif(not sandbox.probe().available, reason="no bubblewrap sandbox on this machine")


def _inside(prefix: list[str], code: str) -> str:
    result = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_course_solutions_out_and_tmp_are_hidden_but_packages_importable(tmp_path):
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "gradebook.db").write_text("secret")
    scratch = Path(tmp_path / "scratch")
    scratch.mkdir()
    prefix = sandbox.bwrap_prefix(ROOT, [out], scratch)
    code = ("import os, autograder.checks, utils.widgets\n"
            f"print(os.path.exists({str(ROOT / 'solutions')!r}), os.path.exists({str(ROOT / 'tests')!r}),"
            f" os.path.exists({str(out / 'gradebook.db')!r}), os.path.exists({str(ROOT / '.git')!r}))")
    assert _inside(prefix, code).split() == ["False", "False", "False", "False"]


def test_a_course_inside_tmp_stays_hidden(tmp_path):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "answer.py").write_text("secret")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    prefix = sandbox.bwrap_prefix(course, [], scratch)
    code = f"import os; print(os.path.exists({str(course / 'solutions' / 'answer.py')!r}))"
    assert _inside(prefix, code).strip() == "False"


def test_no_network_inside(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import socket\ns = socket.socket()\ns.settimeout(2)\n"
            "try:\n    s.connect(('127.0.0.1', 22)); print('connected')\nexcept OSError as e:\n    print('refused')")
    assert _inside(sandbox.bwrap_prefix(ROOT, [], scratch), code).strip() == "refused"


def test_overlapping_runs_never_share_a_sandbox_user():
    """Two grader runs on one machine (here two in one process, and one in another process, with
    the same place to start from) hold disjoint blocks of user ids until they release them."""
    if os.geteuid() != 0:
        pytest.skip("sandbox users exist only for a grader run as root")
    first, second = sandbox.UidBlock(2), sandbox.UidBlock(70)   # 70 ids: two blocks
    try:
        ids = [set(range(block.first, block.first + block.count)) for block in (first, second)]
        assert not ids[0] & ids[1]
        assert all(uid >= sandbox.FIRST_UID for uid in ids[0] | ids[1])
        other = subprocess.run([sys.executable, "-c",
                                "from autograder.run import sandbox; b = sandbox.UidBlock(4); print(b.first)"],
                               capture_output=True, text=True, cwd=ROOT, check=True)
        assert int(other.stdout) not in ids[0] | ids[1]
    finally:
        first.release()
        second.release()
    again = sandbox.UidBlock(2)   # released blocks are free again
    try:
        assert again.first == first.first
    finally:
        again.release()


def test_the_scratch_is_a_tmpfs_of_its_own_and_a_killed_run_leaves_none_behind(tmp_path):
    """Learner files fill the run's own tmpfs, not the machine's disk; a root a killed grader left
    mounted (its pid in the name, no such process) is unmounted by the next run."""
    if os.geteuid() != 0:
        pytest.skip("the scratch tmpfs needs root (as the sandbox does)")
    root = sandbox.make_scratch_root(1, isolated=True)
    try:
        assert root in sandbox._scratch_mounts(root.parent)
        with pytest.raises(OSError):  # No space left on device, long before the disk's end
            with open(root / "fill.bin", "wb") as handle:
                for _ in range(sandbox.SCRATCH_MB_PER_SLOT + 1):
                    handle.write(bytes(1 << 20))
    finally:
        (root / "fill.bin").unlink(missing_ok=True)
    dead = Path("/tmp") / f"{sandbox.SCRATCH_PREFIX}4194302-left"  # a pid above any live one here
    dead.mkdir(mode=0o711)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(dead)], check=True)
    other = sandbox.make_scratch_root(1, isolated=True)       # the next run cleans up
    try:
        assert dead not in sandbox._scratch_mounts(dead.parent) and not dead.exists()
        assert root in sandbox._scratch_mounts(root.parent)   # a live run's root is left alone
    finally:
        for path in (root, other):
            sandbox.remove_scratch_root(path)
    assert not root.exists() and root not in sandbox._scratch_mounts(root.parent)
