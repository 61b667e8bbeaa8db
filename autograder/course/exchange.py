"""Releasing and collecting through nbgrader's exchange (one shared machine, or a JupyterHub).

    bnlab release [A...] [--exchange DIR]     build, then `nbgrader release_assignment` each lesson
    (learners)  Assignments panel, or `nbgrader fetch_assignment A --course bnlab`
                                        and `nbgrader submit A --course bnlab`
    bnlab collect [A...] [--exchange DIR] --to SUBMITTED
                                              `nbgrader collect` into SUBMITTED/<student>/<A>/
    bnlab grade SUBMITTED --out OUT

Everything goes through nbgrader's own apps (``python -m nbgrader ...``); bnlab only chooses
the folders.  Without ``--exchange`` the exchange is nbgrader's ``Exchange.root`` as
configured (``nbgrader_config.py``, ``/etc/jupyter/nbgrader_config.py``...), which is
``/usr/local/share/nbgrader/exchange`` in nbgrader 0.9 when nothing sets it.  Learners'
JupyterLab must see the same ``c.Exchange.root`` (see :func:`learner_config`).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional

from autograder.course.build import LESSONS, CourseError, assignments, build, nbgrader_command

COURSE_ID = "bnlab"


def learner_config(exchange: Optional[Path] = None) -> str:
    """The ``nbgrader_config.py`` a learner's Jupyter needs (e.g. ``/etc/jupyter/nbgrader_config.py``
    on the shared machine or in the JupyterHub image) for the Assignments panel to find the course."""
    lines = ["c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {COURSE_ID!r}"]
    if exchange is not None:
        lines.append(f"c.Exchange.root = {str(exchange)!r}")
    return "\n".join(lines) + "\n"


def _nbgrader_error(result: subprocess.CompletedProcess) -> str:
    """The one line of an nbgrader failure worth showing (its last ERROR/CRITICAL message)."""
    lines = (result.stderr + "\n" + result.stdout).splitlines()
    messages = [re.sub(r"^\[[^\]]*\]\s*", "", line).strip() for line in lines
                if re.match(r"^\[\S+ \| (ERROR|CRITICAL)\]", line)]
    messages = [m for m in messages if m and not m.startswith("nbgrader ") and m != "Traceback (most recent call last):"]
    if messages:
        return messages[0]
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else f"exit status {result.returncode}"


def _check_names(root: Path, names: Optional[list[str]]) -> list[str]:
    known = assignments(root)
    for name in names or []:
        if name not in known:
            raise CourseError(f"unknown assignment {name!r}; the course has {', '.join(known)}")
    return list(names or known)


def _exchange_args(exchange: Optional[Path]) -> list[str]:
    return [f"--Exchange.root={exchange}"] if exchange is not None else []


def _check_exchange(exchange: Optional[Path], must_exist: bool) -> Optional[Path]:
    if exchange is None:
        return None
    exchange = exchange.resolve()
    if exchange.exists() and not exchange.is_dir():
        raise CourseError(f"--exchange {exchange} exists and is not a folder")
    if must_exist and not (exchange / COURSE_ID / "inbound").is_dir():
        raise CourseError(f"no bnlab course in the exchange {exchange} (no {COURSE_ID}/inbound); "
                          f"run `bnlab release --exchange {exchange}` first")
    if not must_exist and not exchange.exists() and not exchange.parent.is_dir():
        raise CourseError(f"--exchange {exchange}: its parent folder {exchange.parent} does not exist")
    return exchange


def release(root: Path, names: Optional[list[str]] = None, exchange: Optional[Path] = None, *,
            build_first: bool = True, force: bool = False) -> list[Path]:
    """Build ``lessons/<A>`` (unless ``build_first`` is false) and release it into the exchange.

    Returns the released folders (``<exchange>/bnlab/outbound/<A>``)."""
    names = _check_names(root, names)
    exchange = _check_exchange(exchange, must_exist=False)
    if build_first:
        build(root, names)
    released = []
    for name in names:
        if not (root / LESSONS / name / f"{name}.ipynb").is_file():
            raise CourseError(f"{LESSONS}/{name}/{name}.ipynb does not exist; run `bnlab build {name}` first")
        command = ["release_assignment", name, f"--CourseDirectory.root={root}",
                   f"--CourseDirectory.course_id={COURSE_ID}", f"--CourseDirectory.release_directory={LESSONS}",
                   *_exchange_args(exchange)]
        if force:
            command.append("--force")
        result = nbgrader_command(command, cwd=root)
        if result.returncode != 0:
            message = _nbgrader_error(result)
            if "--force" in message:
                message = f"{name} is already released; `bnlab release --force {name}` replaces it"
            raise CourseError(f"nbgrader release_assignment {name} failed: {message}")
        found = re.findall(r"Destination: (.+)", result.stderr + result.stdout)
        released.append(Path(found[-1].strip()) if found else
                        (exchange or Path("<exchange>")) / COURSE_ID / "outbound" / name)
    return released


def collect(root: Path, names: Optional[list[str]], to: Path, exchange: Optional[Path] = None) -> dict[str, list[str]]:
    """``nbgrader collect`` each assignment's latest submissions into ``to/<student>/<A>/``
    (nbgrader's submitted layout, which ``bnlab grade to --out OUT`` grades).

    Returns assignment -> the students now in ``to`` for it."""
    names = _check_names(root, names)
    exchange = _check_exchange(exchange, must_exist=True)
    to = to.resolve()
    if to.exists() and not to.is_dir():
        raise CourseError(f"--to {to} exists and is not a folder")
    try:
        to.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(f"cannot create --to {to}: {error.strerror}")
    (root / ".nbgrader").mkdir(exist_ok=True)  # nbgrader collect reads due dates from the course's gradebook
    collected = {}
    for name in names:
        # The submitted layout is CourseDirectory.root/submitted_directory/<student>/<A>: point both at `to`.
        command = ["collect", name, "--update", f"--CourseDirectory.root={to.parent}",
                   f"--CourseDirectory.submitted_directory={to.name}", f"--CourseDirectory.course_id={COURSE_ID}",
                   *_exchange_args(exchange)]
        result = nbgrader_command(command, cwd=root)
        if result.returncode != 0:
            raise CourseError(f"nbgrader collect {name} failed: {_nbgrader_error(result)}")
        collected[name] = sorted(p.parent.parent.name for p in to.glob(f"*/{name}/{name}.ipynb"))
    return collected


__all__ = ["release", "collect", "learner_config", "COURSE_ID"]
