"""Reading a submitted file: the ways a file can fail to be a notebook, each with a status."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024


class Unreadable(Exception):
    """The submission cannot be read as a notebook; ``status`` and ``reason`` say why."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a notebook file, telling apart the ways a file can fail to be one."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise Unreadable("unreadable", f"The notebook file could not be read ({error.strerror}).")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Unreadable("too_large", f"The notebook file is {len(data) / 2**20:.0f} MiB; the limit is "
                                      f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB (clear large outputs and resubmit).")
    if not data.strip():
        raise Unreadable("empty", "The notebook file is empty.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("unreadable", "The file is not UTF-8 text: it may be binary or saved in another encoding.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable("malformed", f"The notebook is not valid JSON (line {error.lineno}): it may be truncated "
                                      f"or edited outside Jupyter.")
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Unreadable("malformed", "The file is JSON but not a Jupyter notebook.")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook, relax_add_props=True)
    except Exception as error:  # nbformat raises many kinds for broken structure
        message = str(error).splitlines()[0][:160]
        raise Unreadable("malformed", f"The notebook's structure is invalid ({message}).")
    return notebook
