"""Checks for lesson 01's ``saturated_fraction(activations, threshold=0.97)``.

The contract (stated in the notebook above the answer cell): ``activations`` is a tensor of
tanh outputs of any shape, floating dtype (float16, float32, float64) and device, possibly
with ``requires_grad=True``; the function returns the fraction of its entries whose absolute
value is *strictly greater* than ``threshold``, as a Python float (accurate to 1e-5), and
leaves ``activations`` unchanged.

Judged by behaviour only: hand-made tensors whose answer is known, then many random ones.
The expected value of a random probe is counted here inline with torch built-ins.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from autograder.checks import CheckFailed, call_learner, fail, lookup, passed, require

PRELUDE = "import numpy as np\nimport torch\nfrom torch import nn\n"

NAME = "saturated_fraction"
TOLERANCE = 1e-5


def _as_fraction(result, what: str) -> float:
    """The learner's result as a float we own, or a diagnosis."""
    if isinstance(result, torch.Tensor):
        fail(f"{what} returned a tensor; return a Python float instead (for a one-element tensor, "
             f"call .item() on it).")
    if type(result) is not float and type(result) is not np.float64:
        hint = (" Integer division (//) rounds the fraction down to 0 or 1: divide with /."
                if type(result) is int else "")
        fail(f"{what} returned a value of type {type(result).__name__}; expected a Python float such "
             f"as 0.25 (the fraction, not a count or a percentage).{hint}")
    value = float(result)
    require(not math.isnan(value), f"{what} returned nan; expected a fraction between 0 and 1.")
    return value


def _run(fn, activations: torch.Tensor, what: str, *args, **kwargs) -> float:
    """Call the learner on ``activations``, check it was left unchanged, return the float."""
    original = activations.detach().clone()
    try:
        result = call_learner(fn, activations, *args, what=what, **kwargs)
    except CheckFailed as failure:
        if " raised NotImplementedError" in failure.message:
            fail(f"Not answered yet: {NAME} still raises NotImplementedError; replace "
                 f"`raise NotImplementedError()` in its answer cell with your code.")
        raise
    require(activations.shape == original.shape and activations.dtype == original.dtype
            and torch.equal(activations.detach(), original),
            f"{what} changed the tensor it was given; compute on a copy (for example "
            f"activations.abs() rather than activations.abs_()) and leave the input as it was.")
    return _as_fraction(result, what)


def _show(t: torch.Tensor) -> list:
    """The values of a small probe tensor, rounded for a readable message."""
    return t.double().round(decimals=4).tolist()


def _expect(value: float, expected: float, message: str) -> None:
    require(abs(value - expected) <= TOLERANCE, message)


def visible(namespace):
    fn = lookup(namespace, NAME)

    t = torch.tensor([[0.99, -0.98, 0.50, 0.00],
                      [0.10, -0.20, 0.90, -0.999]])
    what = f"{NAME}(t)"
    value = _run(fn, t, what)
    if abs(value - 1 / 8) <= TOLERANCE:
        fail(f"{what} returned 0.125 for t = {_show(t)}: it counted only 0.99, but -0.98 and -0.999 "
             f"are saturated too; count |t| > threshold so that negative values near -1 count "
             f"(use .abs()).")
    if abs(value - 3) <= TOLERANCE:
        fail(f"{what} returned 3, the number of saturated entries; divide by the number of entries "
             f"(t.numel()) to get a fraction.")
    if abs(value - 3 / 2) <= TOLERANCE:
        fail(f"{what} returned 1.5: that is the count divided by the number of rows (2); divide by "
             f"the number of all entries (t.numel() = 8) instead.")
    if abs(value - 300 / 8) <= 1e-3:
        fail(f"{what} returned a percentage (37.5); return the fraction 0.375 instead.")
    _expect(value, 3 / 8,
            f"{what} returned {value:.6g} for t = {_show(t)}; expected 0.375 (3 of its 8 entries "
            f"have |t| > 0.97).")
    passed(f"{NAME} counts |t| > 0.97 on both sides and returns a fraction")

    t = torch.tensor([0.5, -0.5, 0.75, -0.25])
    value = _run(fn, t, f"{NAME}(t, threshold=0.5)", threshold=0.5)
    if abs(value - 0.75) <= TOLERANCE:
        fail(f"{NAME}(t, threshold=0.5) counted entries equal to 0.5 as saturated; the contract is "
             f"strictly greater (|t| > threshold), so 0.5 and -0.5 do not count.")
    _expect(value, 0.25,
            f"{NAME}(t, threshold=0.5) returned {value:.6g} for t = {_show(t)}; expected 0.25 "
            f"(only 0.75 has |t| > 0.5). Use the threshold argument rather than a fixed 0.97.")
    passed(f"{NAME} uses its threshold argument, strictly greater than")


def _random_activations(generator: torch.Generator, shape, dtype, threshold: float) -> torch.Tensor:
    """tanh of a wide normal, with values within 0.004 of +-threshold moved away from it."""
    scale = float(torch.empty(1).uniform_(0.3, 4.0, generator=generator))
    t = torch.tanh(torch.randn(*shape, generator=generator, dtype=torch.float64) * scale)
    near = (t.abs() - threshold).abs() < 4e-3
    t = torch.where(near, t * 0.9, t)
    return t.to(dtype)


def hidden(namespace):
    fn = lookup(namespace, NAME)
    generator = torch.Generator().manual_seed(20240601)

    # The default threshold is 0.97: entries between 0.9 and 0.99 tell 0.97 from neighbours.
    t = torch.tensor([0.91, -0.93, 0.95, 0.965, 0.975, -0.98, 0.985, 0.995], dtype=torch.float64)
    value = _run(fn, t, f"{NAME}(t)")
    _expect(value, 4 / 8,
            f"{NAME}(t) returned {value:.6g} for t = {_show(t)}; expected 0.5 with the default "
            f"threshold 0.97 (def {NAME}(activations, threshold=0.97)).")

    # Threshold passed positionally too.
    t = torch.tensor([[0.2, -0.4], [0.6, -0.8]])
    value = _run(fn, t, f"{NAME}(t, 0.3)", 0.3)
    _expect(value, 3 / 4,
            f"{NAME}(t, 0.3) returned {value:.6g} for t = {_show(t)}; expected 0.75: the second "
            f"positional argument is the threshold.")

    # Everything saturated, nothing saturated.
    t = torch.full((5, 7), -0.999)
    value = _run(fn, t, f"{NAME}(t)")
    _expect(value, 1.0, f"{NAME}(t) returned {value:.6g} for a (5, 7) tensor full of -0.999; expected 1.0.")
    t = torch.zeros(3, 4)
    value = _run(fn, t, f"{NAME}(t)")
    _expect(value, 0.0, f"{NAME}(t) returned {value:.6g} for a (3, 4) tensor of zeros; expected 0.0.")

    # Many random tensors: shapes, dtypes, thresholds, keyword or default.
    shapes = [(512, 64), (1000,), (7, 3, 5), (2, 3, 4, 5), (1, 1), (64, 1), (1, 257), (33, 17)]
    dtypes = [torch.float32, torch.float64, torch.float16]
    for trial in range(24):
        shape = shapes[trial % len(shapes)]
        dtype = dtypes[trial % len(dtypes)]
        threshold = 0.97 if trial % 4 == 0 else float(torch.empty(1).uniform_(0.2, 0.99, generator=generator))
        threshold = round(threshold, 3)
        t = _random_activations(generator, shape, dtype, threshold)
        expected = (t.double().abs() > threshold).double().mean().item()
        if trial % 4 == 0:
            what = f"{NAME}(t) on a {str(dtype).replace('torch.', '')} tensor of shape {tuple(shape)}"
            value = _run(fn, t, what)
        else:
            what = (f"{NAME}(t, threshold={threshold}) on a {str(dtype).replace('torch.', '')} tensor "
                    f"of shape {tuple(shape)}")
            value = _run(fn, t, what, threshold=threshold)
        if dtype == torch.float16 and abs(value - expected) > TOLERANCE:
            fail(f"{what} returned {value:.7f}; expected {expected:.7f} (within {TOLERANCE}). Count in "
                 f"float32, float64 or integers: a mean taken in float16 is rounded to about 3 digits.")
        _expect(value, expected, f"{what} returned {value:.7f}; expected {expected:.7f} (within {TOLERANCE}).")

    # Activations straight out of a model still carry the autograd graph.
    x = torch.randn(256, 32, generator=generator, requires_grad=True)
    t = torch.tanh(3 * x)
    expected = (t.detach().abs() > 0.97).double().mean().item()
    value = _run(fn, t, f"{NAME}(t) on a tensor with requires_grad=True")
    _expect(value, expected,
            f"{NAME}(t) returned {value:.7f} for tanh outputs that require grad; expected {expected:.7f}.")

    if torch.cuda.is_available():
        t = _random_activations(generator, (300, 40), torch.float32, 0.97).cuda()
        expected = (t.double().abs() > 0.97).double().mean().item()
        value = _run(fn, t, f"{NAME}(t) on a CUDA tensor")
        _expect(value, expected,
                f"{NAME}(t) returned {value:.7f} for a CUDA tensor; expected {expected:.7f}.")
    passed(f"{NAME} agrees on random tensors of many shapes, dtypes and thresholds, and leaves them unchanged")
