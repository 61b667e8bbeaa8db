"""Checks for lesson 01's ``saturated_fraction(activations, threshold=0.97)``.

The contract (stated in the notebook above the answer cell): ``activations`` is a tensor of
tanh outputs of any shape (contiguous or not), floating dtype (float16, float32, float64) and
device, possibly with ``requires_grad=True``; ``threshold`` is a Python float, default 0.97,
passed by keyword or as the second positional argument.  The function returns the fraction of
all entries whose absolute value is *strictly greater* than ``threshold``, as a Python float
(``float``, or NumPy's ``float64``, which is a ``float``; not a tensor, not an int), accurate to
1e-5 whatever the dtype, and leaves ``activations`` unchanged (values, shape, dtype).

Judge side: the expected fraction of every case is counted here in float64 from the case's own
values; random cases keep their entries at least 0.004 away from +-threshold, so comparing in
the tensor's dtype or in float64 gives the same count.  The typical mistakes (one side only, a
count, a mean per row, a percentage, >=, a fixed 0.97, a mean taken in float16) are recomputed
on the same values and named when they match.
"""
from __future__ import annotations

import math

import torch

from autograder.checks import call, lookup, notebook_checks
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error

PRELUDE = "import numpy as np\nimport torch\nfrom torch import nn\n"

NAME = "saturated_fraction"
TOLERANCE = 1e-5
HANDMADE = [[0.99, -0.98, 0.50, 0.00], [0.10, -0.20, 0.90, -0.999]]


# ----------------------------------------------------------------------------- judge side: cases


def _case(what: str, t: torch.Tensor, threshold=None, how: str = "default", **flags) -> dict:
    """``how``: "default" (no threshold), "keyword" or "positional"."""
    return {"what": what, "t": wire.tensor(t), "threshold": threshold, "how": how,
            "requires_grad": bool(flags.get("requires_grad", False)),
            "transpose": bool(flags.get("transpose", False)), "cuda": bool(flags.get("cuda", False))}


def _random_activations(generator: torch.Generator, shape, dtype, threshold: float) -> torch.Tensor:
    """tanh of a wide normal, with values within 0.004 of +-threshold moved away from it."""
    scale = float(torch.empty(1).uniform_(0.3, 4.0, generator=generator))
    t = torch.tanh(torch.randn(*shape, generator=generator, dtype=torch.float64) * scale)
    near = (t.abs() - threshold).abs() < 4e-3
    t = torch.where(near, t * 0.9, t)
    return t.to(dtype)


def cases(seed: int, hidden: bool) -> dict:
    if not hidden:
        return {"hidden": False, "calls": [
            _case(f"{NAME}(t)", torch.tensor(HANDMADE)),
            _case(f"{NAME}(t, threshold=0.5)", torch.tensor([0.5, -0.5, 0.75, -0.25]), 0.5, "keyword"),
        ]}
    generator = torch.Generator().manual_seed(seed)
    calls = [
        # Entries between 0.9 and 0.99 tell the default 0.97 from its neighbours.
        _case(f"{NAME}(t)", torch.tensor([0.91, -0.93, 0.95, 0.965, 0.975, -0.98, 0.985, 0.995],
                                         dtype=torch.float64)),
        _case(f"{NAME}(t, 0.3)", torch.tensor([[0.2, -0.4], [0.6, -0.8]]), 0.3, "positional"),
        _case(f"{NAME}(t) on a (5, 7) tensor full of -0.999", torch.full((5, 7), -0.999)),
        _case(f"{NAME}(t) on a (3, 4) tensor of zeros", torch.zeros(3, 4)),
    ]
    shapes = [(512, 64), (1000,), (7, 3, 5), (2, 3, 4, 5), (1, 1), (64, 1), (1, 257), (33, 17)]
    dtypes = [torch.float32, torch.float64, torch.float16]
    for trial in range(24):
        shape = shapes[trial % len(shapes)]
        dtype = dtypes[trial % len(dtypes)]
        threshold = 0.97 if trial % 4 == 0 else float(torch.empty(1).uniform_(0.2, 0.99, generator=generator))
        threshold = round(threshold, 3)
        t = _random_activations(generator, shape, dtype, threshold)
        label = f"a {str(dtype).replace('torch.', '')} tensor of shape {tuple(shape)}"
        if trial % 4 == 0:
            calls.append(_case(f"{NAME}(t) on {label}", t))
        else:
            calls.append(_case(f"{NAME}(t, threshold={threshold}) on {label}", t, threshold, "keyword"))
    t = _random_activations(generator, (40, 24), torch.float32, 0.97)
    calls.append(_case(f"{NAME}(t) on a non-contiguous tensor (a transposed (24, 40) view)", t, transpose=True))
    t = torch.tanh(3 * torch.randn(256, 32, generator=generator))
    calls.append(_case(f"{NAME}(t) on a tensor with requires_grad=True", t, requires_grad=True))
    t = _random_activations(generator, (300, 40), torch.float32, 0.97)
    calls.append(_case(f"{NAME}(t) on a tensor on the GPU when there is one", t, cuda=True))
    return {"hidden": True, "calls": calls}


# ----------------------------------------------------------------------------- sandbox side: evidence


def collect(namespace: dict, cases: dict) -> dict:
    fn = lookup(namespace, NAME)
    calls = []
    for case in cases["calls"]:
        t = wire.as_tensor(case["t"])
        if case["transpose"]:
            t = t.T.contiguous().T  # the same values, as a view with swapped strides
        if case["cuda"] and torch.cuda.is_available():
            t = t.cuda()
        if case["requires_grad"]:
            t = t.clone().requires_grad_(True)
        if case["how"] == "default":
            result, error = call(fn, t)
        elif case["how"] == "keyword":
            result, error = call(fn, t, threshold=case["threshold"])
        else:
            result, error = call(fn, t, case["threshold"])
        calls.append({"result": error or wire.value(result), "after": wire.tensor(t)})
    return {"calls": calls}


# ----------------------------------------------------------------------------- judge side: verdict


def _fraction(outcome, what: str, expected: float) -> float:
    """The learner's result as a number, or the diagnosis of its type."""
    found = wire.kind(outcome)
    if found == "tensor":
        fail(f"{what} returned a tensor; return a Python float instead (for a one-element tensor, "
             f"call .item() on it).")
    if found == "numpy_scalar" and outcome.get("type") == "float64":
        found = "number"  # np.float64 is a subclass of float
    if found == "int":
        if outcome == expected:
            fail(f"{what} returned the int {outcome}; return a Python float ({float(outcome)}), the "
                 f"fraction, for every input.")
        fail(f"{what} returned a value of type int ({outcome}); expected a Python float such as 0.25 "
             f"(the fraction, not a count or a percentage). Integer division (//) rounds the fraction "
             f"down to 0 or 1: divide with /.")
    if found == "numpy_scalar":
        fail(f"{what} returned a NumPy {outcome.get('type')}; return a Python float (float(...) of it).")
    if found not in {"number", "float"}:
        fail(f"{what} returned {wire.describe(outcome)}; expected a Python float such as 0.25 "
             f"(the fraction, not a count or a percentage).")
    value = wire.as_number(outcome, what)
    require(not math.isnan(value), f"{what} returned nan; expected a fraction between 0 and 1.")
    return value


def _show(t: torch.Tensor) -> list:
    return t.double().round(decimals=4).tolist()


def _close(value: float, expected: float, tolerance: float = TOLERANCE) -> bool:
    return abs(value - expected) <= tolerance


def _hypotheses(case: dict, t: torch.Tensor, expected: float) -> list[tuple[str, float, float, str]]:
    """(name, value, tolerance, diagnosis) of each typical mistake on this case."""
    what = case["what"]
    threshold = 0.97 if case["threshold"] is None else float(case["threshold"])
    a = t.double()
    count = float((a.abs() > threshold).sum())
    rows = t.shape[0] if t.dim() > 0 else 1
    shown = _show(t) if t.numel() <= 16 else "these values"
    found = [
        ("one side", float((a > threshold).double().mean()) if t.numel() else 0.0, TOLERANCE,
         f"{what} returned {{value:.6g}} for t = {shown}: it counted only values above +{threshold}, but "
         f"values below -{threshold} are saturated too; count |t| > threshold so that negative values "
         f"near -1 count (use .abs())."),
        ("count", count, TOLERANCE,
         f"{what} returned {{value:.6g}}, the number of saturated entries; divide by the number of "
         f"entries (t.numel()) to get a fraction."),
        ("per row", count / rows, TOLERANCE,
         f"{what} returned {{value:.6g}}: that is the count divided by the number of rows ({rows}); "
         f"divide by the number of all entries (t.numel() = {t.numel()}) instead."),
        ("percentage", 100 * expected, 1e-3,
         f"{what} returned a percentage ({{value:.6g}}); return the fraction {expected:.6g} instead."),
        (">=", float((a.abs() >= threshold).double().mean()) if t.numel() else 0.0, TOLERANCE,
         f"{what} counted entries equal to {threshold} as saturated; the contract is strictly greater "
         f"(|t| > threshold), so entries equal to +-{threshold} do not count."),
    ]
    if case["how"] != "default":
        found.append(("fixed 0.97", float((a.abs() > 0.97).double().mean()) if t.numel() else 0.0, TOLERANCE,
                      f"{what} returned {{value:.6g}}; expected {expected:.6g}. Use the threshold argument "
                      f"rather than a fixed 0.97."))
    return found


def _diagnose(case: dict, t: torch.Tensor, value: float, expected: float, others: list) -> None:
    """The typical mistake that explains the learner's results, or where this one departs.

    ``others``: (case, tensor, value) of every call that returned a number.  A mistake is
    named only when it explains all of them (and this one), so a coincidence names nothing.
    """
    what = case["what"]
    threshold = 0.97 if case["threshold"] is None else float(case["threshold"])
    for index, (name, guess, tolerance, message) in enumerate(_hypotheses(case, t, expected)):
        if not _close(value, guess, tolerance):
            continue
        explains_all = True
        for other_case, other_t, other_value in others:
            other_expected = float((other_t.double().abs() > (0.97 if other_case["threshold"] is None else
                                    float(other_case["threshold"]))).double().mean()) if other_t.numel() else 0.0
            other = {h[0]: h for h in _hypotheses(other_case, other_t, other_expected)}
            if name in other and not _close(other_value, other[name][1], other[name][2]):
                explains_all = False
                break
        if explains_all:
            fail(message.format(value=value))
    if t.dtype == torch.float16:
        fail(f"{what} returned {value:.7f}; expected {expected:.7f} (within {TOLERANCE}). Count in float32, "
             f"float64 or integers: a mean taken in float16 is rounded to about 3 digits.")
    shown = _show(t) if t.numel() <= 16 else "these values"
    if case["how"] == "default" and t.numel() <= 16:
        fail(f"{what} returned {value:.6g} for t = {shown}; expected {expected:.6g} with the default "
             f"threshold 0.97 (def {NAME}(activations, threshold=0.97)), counting |t| > 0.97.")
    if case["how"] == "positional":
        fail(f"{what} returned {value:.6g} for t = {shown}; expected {expected:.6g}: the second "
             f"positional argument is the threshold.")
    fail(f"{what} returned {value:.7f}; expected {expected:.7f} (within {TOLERANCE}), the fraction of "
         f"entries with |t| > {threshold}.")


def _numbers(cases: dict, calls: list) -> list:
    """(case, tensor, value) of every call whose result is a plain number."""
    found = []
    for case, record in zip(cases["calls"], calls):
        outcome = record.get("result") if isinstance(record, dict) else None
        try:
            if wire.kind(outcome) in {"int", "number", "float", "numpy_scalar"}:
                found.append((case, wire.as_tensor(case["t"]), wire.as_number(outcome)))
        except wire.Malformed:
            pass
    return found


def judge(cases: dict, evidence: dict) -> list[str]:
    calls = wire.field(evidence, "calls")
    if not isinstance(calls, list) or len(calls) != len(cases["calls"]):
        raise wire.Malformed("the evidence does not hold one record per call")
    for case, record in zip(cases["calls"], calls):
        what = case["what"]
        t = wire.as_tensor(case["t"])
        outcome = wire.field(record, "result")
        if wire.kind(outcome) == "error" and "view size is not compatible" in str(outcome.get("message")):
            fail(f"{what} raised RuntimeError: {outcome.get('message')[:120]}... The tensor it was given is "
                 f"not contiguous, so .view(-1) cannot flatten it: use .reshape(-1) or .flatten(), or "
                 f"count without flattening.")
        require_no_error(outcome, what)
        after = wire.as_tensor(wire.field(record, "after"))
        require(after.shape == t.shape and after.dtype == t.dtype and torch.equal(after, t),
                f"{what} changed the tensor it was given; compute on a copy (for example "
                f"activations.abs() rather than activations.abs_()) and leave the input as it was.")
        threshold = 0.97 if case["threshold"] is None else float(case["threshold"])
        expected = float((t.double().abs() > threshold).double().mean()) if t.numel() else 0.0
        value = _fraction(outcome, what, expected)
        if not _close(value, expected):
            _diagnose(case, t, value, expected, _numbers(cases, calls))
    if not cases["hidden"]:
        return [f"{NAME} counts |t| > threshold on both sides, strictly greater, and returns a fraction"]
    return [f"{NAME} agrees on hand-made and random tensors of many shapes, dtypes and thresholds "
            f"(non-contiguous, requiring grad), and leaves them unchanged"]


visible, hidden = notebook_checks(__name__)
