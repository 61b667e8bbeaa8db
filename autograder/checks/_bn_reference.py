"""The judge side shared by lesson 02's checks (bn_forward, bn_inference, running_stats).

Everything here is computed from the judge's own cases, in float64, with plain tensor
operations: no learner code, no normalization built-in.  The inputs the checks use come from
:func:`draw` and :func:`issue_60528_rows`; the formulas are those of the fact sheet
(Ioffe & Szegedy's Algorithm 1, PyTorch's running-statistics update).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch

from autograder.checks._refused_code import require_not_grader_code
from autograder.judge import wire
from autograder.judge.verdict import fail, require

F64 = torch.float64
Numbers = Union[float, Sequence[float], None]


# ------------------------------------------------------------------------------------ inputs
def draw(generator: torch.Generator, shape: tuple, mean: Numbers = None, std: Numbers = None) -> torch.Tensor:
    """Gaussian values in float64 (convert them to the case's dtype yourself)."""
    x = torch.randn(*shape, generator=generator, dtype=F64)
    if std is not None:
        x = x * torch.as_tensor(std, dtype=F64)
    if mean is not None:
        x = x + torch.as_tensor(mean, dtype=F64)
    return x


def draw_affine(generator: torch.Generator, num_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """gamma in [0.5, 2) (never 0, so x_hat can be read back from y), beta standard normal."""
    gamma = 0.5 + 1.5 * torch.rand(num_features, generator=generator, dtype=F64)
    beta = torch.randn(num_features, generator=generator, dtype=F64)
    return gamma, beta


def issue_60528_rows() -> torch.Tensor:
    """The (4, 3, 4) example of pytorch issue 60528 (a user's report on the two variances), as
    (N * L, C) = (16, 3) rows: channel 0 holds [1..4], [2..5], [3..6], [4..7], channels 1 and 2
    the same plus 4 and plus 8."""
    rows = torch.arange(4.0).unsqueeze(1) + torch.arange(1.0, 5.0)                    # (4, 4)
    example = torch.stack([rows + 4.0 * channel for channel in range(3)], dim=1)     # (4, 3, 4)
    return example.transpose(1, 2).reshape(-1, 3)


ISSUE_60528 = "the (4, 3, 4) example of pytorch issue 60528"


# --------------------------------------------------------------------------------- references
def batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature batch mean and biased batch variance (two-pass, float64)."""
    x = x.to(F64)
    mean = x.mean(dim=0)
    return mean, ((x - mean) ** 2).mean(dim=0)


def unbiased_var(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    return batch_stats(x)[1] * n / (n - 1)


def training(x, gamma, beta, eps: float) -> torch.Tensor:
    """Algorithm 1 (what nn.BatchNorm1d computes in training mode), differentiable."""
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def inference(x, running_mean, running_var, gamma, beta, eps: float) -> torch.Tensor:
    """nn.BatchNorm1d in eval mode."""
    return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta


def running_update(running_mean, running_var, x, momentum: float) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.BatchNorm1d's buffers after one training-mode forward: new = (1 - m) * old + m * batch,
    running_var from the unbiased batch variance."""
    mean, _ = batch_stats(x)
    return ((1 - momentum) * running_mean.to(F64) + momentum * mean,
            (1 - momentum) * running_var.to(F64) + momentum * unbiased_var(x))


# -------------------------------------------------------------------------------- comparisons
def tolerance(dtype_name: str, scale: float = 1.0) -> tuple[float, float]:
    """(atol, rtol) for a learner's result in this dtype against a float64 reference of size ~scale."""
    if dtype_name == "float64":
        return 1e-7 * scale, 1e-7
    return 2e-5 * scale, 2e-5


UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}


def slack(dtype_name: str, magnitude: torch.Tensor) -> torch.Tensor:
    """What rounding in the learner's dtype may cost, elementwise, for a result computed through
    intermediate values of size ``magnitude`` (e.g. gamma * x / sqrt(var + eps) in the folded
    form ``x * scale + shift``: a constant column in float32 amplifies x's rounding 1/sqrt(eps)
    times).  16 roundings' worth: two correct spellings differ by about this much."""
    return 16 * UNIT_ROUNDOFF.get(dtype_name, 2.0 ** -24) * magnitude.to(F64).abs()


def close(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, extra=None) -> bool:
    """|got - expected| <= atol + rtol * |expected| (+ extra, elementwise) everywhere, NaN never."""
    got, expected = got.to(F64), expected.to(F64)
    if got.shape != expected.shape:
        return False
    allowed = atol + rtol * expected.abs()
    if extra is not None:
        allowed = allowed + extra
    return bool(((got - expected).abs() <= allowed).all())


def first_difference(got: torch.Tensor, expected: torch.Tensor) -> tuple[tuple[int, ...], float, float]:
    """(index, got, expected) where the two differ most (a NaN counts as the largest)."""
    difference = torch.nan_to_num((got.to(F64) - expected.to(F64)).abs(), nan=math.inf)
    index = tuple(int(i) for i in torch.nonzero(difference == difference.max())[0])
    return index, float(got[index]), float(expected[index])


def where(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]"


def rounded(values: torch.Tensor, digits: int = 5) -> list[float]:
    return [round(float(v), digits) for v in values.flatten().tolist()]


# ------------------------------------------------------------------------- evidence decoding
def builtins_called(record: dict, field: str = "builtins") -> list[str]:
    """The normalization built-ins (or grader references) the evidence step saw the learner's code reach."""
    calls = wire.field(record, field)
    if not isinstance(calls, list) or not all(isinstance(call, str) for call in calls):
        raise wire.Malformed("the list of built-ins called is not a list of names")
    return [call[:80] for call in calls]


# -------------------------------------------------------------------- diagnoses shared by the checks
def what_for(name: str, args: str, case: dict) -> str:
    eps = case.get("eps")
    return f"{name}({args}{'' if eps is None else f', eps={eps:g}'}) {case['label']}"


def require_from_scratch(record: dict, what: str) -> None:
    """The built-in diagnosis, from the calls the evidence step saw (forgeable evidence)."""
    calls = builtins_called(record)
    if calls:
        require_not_grader_code(what, calls[0])
    if calls and wire.kind(wire.field(record, "result")) == "error":
        fail(f"{what} called {calls[0]}, a PyTorch normalization built-in; compute the normalization "
             f"yourself with tensor operations (mean, var, sqrt, arithmetic).")
    if calls:
        fail(f"{what} called {calls[0]} (and caught the error it raised); compute the normalization "
             f"yourself with tensor operations instead of calling a normalization built-in.")


def require_unchanged(record: dict, inputs: dict, what: str, advice: Optional[str] = None) -> None:
    """Fail when the learner changed one of the tensors it was given."""
    after = wire.field(record, "after")
    for name, original in inputs.items():
        now = wire.as_tensor(wire.field(after, name), f"{name} after the call")
        unchanged = now.dtype == original.dtype and now.shape == original.shape and torch.equal(now, original)
        example = "x - mean, not x -= mean or x.sub_(mean)" if name == "x" else "a + b, not a += b or a.add_(b)"
        require(unchanged, f"{what} changed its input {name} in place; "
                + (advice or f"leave {name} unchanged and build new tensors ({example})."))


def output_tensor(result, what: str, x_encoded: dict) -> torch.Tensor:
    """The learner's y in float64, after the checks of its type, shape and dtype."""
    if wire.kind(result) != "tensor" or result.get("numpy"):
        fail(f"{what} returned {wire.describe(result)}; return a torch.Tensor (keep the whole "
             f"computation in torch, no .numpy() or .tolist()).")
    got = wire.as_tensor(result, what)
    shape, dtype = tuple(x_encoded["shape"]), wire.dtype_name(x_encoded)
    require(tuple(got.shape) == shape,
            f"{what} returned shape {tuple(got.shape)}; expected {shape}, the same shape as x.")
    require(wire.dtype_name(result) == dtype,
            f"{what} returned dtype torch.{wire.dtype_name(result)} for a torch.{dtype} x; keep x's dtype "
            f"(don't convert with .float() or a new torch.tensor).")
    return got.to(F64)


def first_match(got: torch.Tensor, expected: torch.Tensor, hypotheses, atol: float, rtol: float,
                extra=None) -> None:
    """Fail with the diagnosis of the first hypothesis whose output matches the learner's (only
    hypotheses that this case tells apart from the reference count)."""
    for message, candidate in hypotheses:
        if candidate is None or not bool(torch.isfinite(candidate).all()):
            continue
        if close(candidate, expected, atol, rtol, extra):
            continue
        if close(got, candidate, atol, rtol, extra):
            fail(message)
