"""The evidence step, in the sandbox: the learner's answer cells run as written, then their
objects are called on the judge's inputs and described as plain data.

A process forked from the fork server (or ``python -m autograder.run.kernel --evidence R W``),
inside the sandbox and limits, as the submission's user, in a fresh folder.  It talks to the
grader over two pipes the grader created (never files):

1. in:  ``{"preludes": [source...], "answers": [[grade_id, source]...], "exercises": [grade_id...]}``
2. the exercises' preludes and the learner's answer cells run as plain Python (no IPython),
   exactly as written: whatever they patch stays patched for their own code;
3. out: ``{"running": grade_id}`` before each answer cell, then
   ``{"ran": {grade_id: null or "ExceptionName: message"}}``;
4. in:  ``{"cases": {grade_id: {"visible": cases, "hidden": cases}}}``: only now does this
   process see the inputs (the hidden ones come from a seed drawn after step 3);
5. out: ``{"checking": grade_id}`` before each exercise calls into the learner's objects, then
   ``{"evidence": {grade_id: {"visible": gathered, "hidden": gathered}}}``, and exit.

The progress lines of steps 3 and 5 let the grader give each answer cell, and each exercise's
calls, the notebook's cell time limit (:func:`autograder.run.stage.run_evidence`) without
touching this process' signals or timers, which are the learner's.

Nothing here is trusted: learner code can rewrite any of it, write anything to the pipe, or
never answer.  The grader reads at most a capped number of bytes before a deadline, and the
judge (outside) accepts only evidence of the documented form.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import sys

MAX_LINE = 64 * 1024 * 1024


class _Discard(io.TextIOBase):
    """Where the answer cells' prints go (the notebook stage already showed them to the learner)."""

    def write(self, text):
        return len(text)

    def writable(self):
        return True


def read_message(descriptor: int) -> dict:
    chunks = []
    total = 0
    while True:
        chunk = os.read(descriptor, 1 << 16)
        if not chunk:
            raise EOFError("the grader closed the request")
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_LINE:
            raise ValueError("request too large")
    return json.loads(b"".join(chunks))


def write_message(descriptor: int, message: dict) -> None:
    data = (json.dumps(message, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def serve(request_fd: int, result_fd: int) -> None:
    import autograder.checks as checks

    request = read_message(request_fd)
    modules = {grade_id: checks.exercise_module(grade_id) for grade_id in request["exercises"]}
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    sys.stdout = sys.stderr = _Discard()
    for source in request["preludes"]:
        exec(compile(source, "<prelude>", "exec"), namespace)
    ran = {}
    for grade_id, source in request["answers"]:
        write_message(result_fd, {"running": grade_id})
        try:
            exec(compile(source, f"<answer cell {grade_id}>", "exec"), namespace)
            ran[grade_id] = None
        except BaseException as error:  # noqa: B902 - SystemExit and KeyboardInterrupt are answers too
            ran[grade_id] = f"{type(error).__name__}: {error}"[:300]
    write_message(result_fd, {"ran": ran})
    cases = read_message(request_fd)["cases"]
    evidence = {}
    for grade_id, module in modules.items():
        write_message(result_fd, {"checking": grade_id})
        evidence[grade_id] = {which: checks.roundtrip_safe(checks.gather(module, namespace, cases[grade_id][which]))
                              for which in ("visible", "hidden")}
    write_message(result_fd, {"evidence": evidence})


def main(request_fd: int, result_fd: int) -> None:
    """Serve one request, then leave at once: no atexit handlers or finalizers of learner code run
    after the evidence is written."""
    try:
        serve(request_fd, result_fd)
    finally:
        os._exit(0)
