"""Which bnlab a process runs: the version, a hash of its code, and its environment.

A client refuses cluster workers whose bnlab differs from its own: the same submission must
get the same grade whichever machine ran it.  The version alone would not tell an edited
checkout from a release, so the hash of the grading code (``autograder/`` and ``utils/``, the
Python files only) is compared too, and so is :func:`environment_sha256` (Python, torch,
numpy, nbgrader...).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
from pathlib import Path

ENVIRONMENT_PACKAGES = ["torch", "numpy", "nbgrader", "nbclient", "ipykernel", "jupyter_client", "nbformat", "bnlab"]


def environment_sha256() -> str:
    """A hash of the Python version and the versions of the packages that decide a grade."""
    versions = [platform.python_version()]
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}==missing")
    return hashlib.sha256("\n".join(versions).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """A hash of the grading code this process imports (``autograder`` and ``utils``)."""
    import autograder
    import utils

    digest = hashlib.sha256()
    for package in (autograder, utils):
        folder = Path(package.__file__).resolve().parent
        for path in sorted(folder.rglob("*.py")):
            digest.update(str(path.relative_to(folder.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def bnlab_version() -> str:
    try:
        return importlib.metadata.version("bnlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def identity() -> dict:
    """What a client compares with its own before it sends a worker any submission."""
    return {"bnlab": bnlab_version(), "code": code_sha256(), "environment": environment_sha256()}


def describe_difference(worker: str, theirs: dict, ours: dict) -> str:
    """One line for the instructor: how a worker's bnlab differs from the client's."""
    if theirs.get("bnlab") != ours["bnlab"] or theirs.get("code") != ours["code"]:
        return (f"worker {worker} runs bnlab {theirs.get('bnlab')} (code {str(theirs.get('code'))[:12]}), this client "
                f"bnlab {ours['bnlab']} (code {ours['code'][:12]}): install the same bnlab on every worker")
    return (f"worker {worker} has other versions of Python or of the grading packages (environment "
            f"{str(theirs.get('environment'))[:12]}, this client {ours['environment'][:12]}): install the same "
            f"versions on every worker")


__all__ = ["environment_sha256", "code_sha256", "bnlab_version", "identity", "describe_difference"]
