"""Checks for ``update_running_stats(running_mean, running_var, x, momentum=0.1)`` (lesson 02).

The contract (the lesson's Exercise 2), and every default these checks rely on:

- ``running_mean`` and ``running_var`` are tensors of shape (D,); ``x`` is a batch of shape
  (N, D) with N >= 2, all three of one dtype (float32 or float64; x possibly non-contiguous);
  ``momentum`` is a float in [0, 1], default 0.1 (the checks call both without momentum and
  with ``momentum=`` as a keyword, 0 and 1 included).
- It returns a pair (a tuple, or a list of two) of tensors of shape (D,) in the inputs' dtype,
  ``(new_running_mean, new_running_var)``, with PyTorch's convention
  ``new = (1 - momentum) * old + momentum * batch statistic``: each feature's batch mean, and
  its **unbiased** batch variance (divide by N - 1) for running_var; i.e. nn.BatchNorm1d's
  buffers after one training-mode forward of x.  Any spelling passes (``torch.lerp``,
  ``old + momentum * (new - old)``, letting an ``nn.BatchNorm1d`` do the update on copies...):
  this exercise has no from-scratch rule.
  Tolerance: 1e-5 absolute and relative for float32 results, 1e-9 absolute and 1e-7 relative
  for float64 (0.1 absolute for the float32 variances of 1e8), plus 16 roundings of the
  values summed (E[x^2] for the variance, so the one-pass formula passes).
- Gradients are not checked (PyTorch updates its buffers outside autograd).
- The three inputs are left unchanged (compared after the call).

Cases: visible (seed 0) the (4, 3, 4) example of pytorch issue 60528 as (16, 3) rows from the
initial buffers 0 and 1, and a (16, 4) batch with momentum=0.3; hidden (a fresh seed) a
constant feature column, a batch of 2, float64 with tiny and huge variances, huge variances in
float32 with momentum=0.9, momentum 1 and 0, and a non-contiguous x.
"""
from __future__ import annotations

import torch

from autograder.checks import _bn_reference as ref
from autograder.checks import call, lookup, notebook_checks
from autograder.checks._bn_reference import require_unchanged
from autograder.checks._refused_code import refusing_code, require_not_grader_code
from autograder.checks.bn_forward import PRELUDE
from autograder.checks._from_scratch import as_input
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error
from utils.device import one_thread

__all__ = ["PRELUDE", "cases", "collect", "judge", "visible", "hidden"]

NAME = "update_running_stats"
INPUTS = ("running_mean", "running_var", "x")
OUTPUTS = ("new_running_mean", "new_running_var")


# ----------------------------------------------------------------------------- sandbox side
def collect(namespace: dict, cases: dict) -> dict:
    """Sandbox side: update_running_stats on every case; its result and its inputs afterwards."""
    fn = lookup(namespace, NAME)
    with one_thread():
        return {"cases": [_evidence(fn, case) for case in cases["cases"]]}


def _evidence(fn, case: dict) -> dict:
    """One call on fresh copies of the case's tensors: its result, and its inputs afterwards."""
    inputs = {name: as_input(case[name], case["layout"] if name == "x" else "plain") for name in INPUTS}
    kwargs = {} if case["momentum"] is None else {"momentum": case["momentum"]}
    calls: list[str] = []
    with refusing_code(calls):
        result, error = call(fn, *inputs.values(), **kwargs)
    if error is None and isinstance(result, tuple) and type(result) is not tuple:
        result = tuple(result)                    # a namedtuple is a tuple
    return {"result": error if error is not None else wire.value(result), "calls": calls[:5],
            "after": {name: wire.tensor(tensor) for name, tensor in inputs.items()}}


# ------------------------------------------------------------------------------ judge side
def _case(label, running_mean, running_var, x, momentum=None, dtype=torch.float32, layout="plain",
          atol=None) -> dict:
    tensors = dict(zip(INPUTS, (running_mean, running_var, x)))
    return {"label": label, "momentum": momentum, "layout": layout, "atol": atol,
            **{name: wire.tensor(torch.as_tensor(value, dtype=torch.float64).to(dtype))
               for name, value in tensors.items()}}


def cases(seed: int, hidden: bool) -> dict:
    g = torch.Generator().manual_seed(seed)
    if not hidden:
        x = ref.draw(g, (16, 4), mean=[1.0, -2.0, 0.5, 3.0], std=[1.0, 2.0, 0.5, 3.0])
        return {"cases": [
            _case(f"on {ref.ISSUE_60528}", torch.zeros(3), torch.ones(3), ref.issue_60528_rows()),
            _case("on a (16, 4) batch", [0.5, -1.0, 0.0, 2.0], [1.5, 3.0, 0.2, 8.0], x, momentum=0.3),
        ]}
    running_mean = ref.draw(g, (3,))
    running_var = 0.2 + 2.0 * torch.rand(3, generator=g, dtype=torch.float64)
    constant = ref.draw(g, (8, 3), std=[1.0, 2.0, 3.0])
    constant[:, 2] = -1.5
    return {"cases": [
        _case("with a constant feature column", running_mean, running_var, constant),
        _case("with a batch of 2", running_mean, running_var, ref.draw(g, (2, 3), std=2.0), momentum=0.05),
        _case("(float64, tiny and huge variances)", [4.0, 0.0], [1e-6, 1e8],
              ref.draw(g, (64, 2), mean=[5.0, 1e3], std=[1e-3, 1e4]), momentum=0.1, dtype=torch.float64),
        _case("(huge variances)", torch.zeros(3), torch.ones(3), ref.draw(g, (32, 3), std=[1e4, 1.0, 3e3]),
              momentum=0.9, atol=1e-1),
        _case("with momentum=1", running_mean, running_var, ref.draw(g, (16, 3)), momentum=1.0),
        _case("with momentum=0", running_mean, running_var, ref.draw(g, (16, 3)), momentum=0.0),
        _case("on a non-contiguous x (a transposed view)", running_mean, running_var,
              ref.draw(g, (12, 3), mean=1.0, std=2.0), momentum=0.2, layout="transposed"),
    ]}


def _pair(result, what: str, like: dict) -> list[torch.Tensor]:
    """The learner's (new_running_mean, new_running_var) in float64, after the checks of their form."""
    if wire.kind(result) not in {"tuple", "list"} or len(wire.items(result)) != 2:
        fail(f"{what} returned {wire.describe(result)}; return a pair (new_running_mean, new_running_var), "
             f"e.g. return new_mean, new_var.")
    shape, dtype = tuple(like["shape"]), wire.dtype_name(like)
    pair = []
    for name, value in zip(OUTPUTS, wire.items(result)):
        if wire.kind(value) != "tensor" or value.get("numpy"):
            fail(f"{what} returned {name} as {wire.describe(value)}; return torch tensors.")
        got = wire.as_tensor(value, name)
        require(tuple(got.shape) == shape,
                f"{what} returned {name} of shape {tuple(got.shape)}; expected {shape}, one value per "
                f"feature (take the statistics over the batch, dim 0).")
        require(wire.dtype_name(value) == dtype,
                f"{what} returned {name} as torch.{wire.dtype_name(value)} for torch.{dtype} inputs; keep "
                f"the inputs' dtype.")
        pair.append(got.to(ref.F64))
    return pair


def _tolerance(case: dict) -> tuple[float, float]:
    if case.get("atol") is not None:
        return float(case["atol"]), 1e-5
    return (1e-9, 1e-7) if wire.dtype_name(case["x"]) == "float64" else (1e-5, 1e-5)


def _slack(case: dict, old_mean, old_var, x, m) -> tuple[torch.Tensor, torch.Tensor]:
    """Rounding room for the mean and the variance (the one-pass E[x^2] - E[x]^2 variance, a correct
    but less accurate spelling, loses to cancellation what E[x^2] is larger than the variance)."""
    n = x.shape[0]
    dtype = wire.dtype_name(case["x"])
    return (ref.slack(dtype, (1 - m) * old_mean.abs() + m * x.abs().mean(dim=0)),
            ref.slack(dtype, (1 - m) * old_var.abs() + m * (x ** 2).mean(dim=0) * n / (n - 1)))


def _diagnose(new_mean, new_var, old_mean, old_var, x, m, expected, atol, rtol, slack, what):
    expected_mean, expected_var = expected
    both = torch.maximum(*slack)

    def close(a, b, extra=both):
        return ref.close(a, b, atol, rtol, extra)

    mean_ok = close(new_mean, expected_mean, slack[0])
    batch_mean, biased = ref.batch_stats(x)
    unbiased = ref.unbiased_var(x)
    swapped = close(new_mean, expected_var) and close(new_var, expected_mean)
    if swapped and not close(expected_mean, expected_var):
        fail(f"{what} returned the pair in the wrong order; return (new_running_mean, new_running_var).")
    if 0.0 < m < 1.0 and abs(m - 0.5) > 1e-9:
        flipped = ref.running_update(old_mean, old_var, x, 1.0 - m)
        if close(new_mean, flipped[0]):
            fail(f"{what} weighted the old running value by momentum; PyTorch's convention is "
                 f"new = (1 - momentum) * old + momentum * batch statistic (with momentum={m:g}, the batch "
                 f"gets weight {m:g}). CS231n (momentum=0.9) and Keras/TensorFlow (momentum=0.99) use "
                 f"the opposite convention, where momentum weights the old value; the paper itself has "
                 f"no momentum (its Algorithm 2 averages over mini-batches).")
    if close(new_mean, old_mean) and close(new_var, old_var) and not close(old_mean, expected_mean):
        fail(f"{what} returned the old running statistics unchanged; move them towards this batch's: "
             f"(1 - momentum) * old + momentum * batch statistic.")
    if m != 1.0 and close(new_mean, batch_mean) and not close(batch_mean, expected_mean):
        fail(f"{what} returned the batch statistics themselves; the running statistics are a moving "
             f"average: (1 - momentum) * old + momentum * batch statistic.")
    if m != 0.1:
        fixed = ref.running_update(old_mean, old_var, x, 0.1)
        if close(new_mean, fixed[0]) and not close(fixed[0], expected_mean):
            fail(f"{what} ignored its momentum argument (it used 0.1): it returned running_mean "
                 f"{ref.rounded(new_mean)} where nn.BatchNorm1d gives {ref.rounded(expected_mean)}; use "
                 f"the momentum it is given.")
    if not mean_ok:
        fail(f"{what} returned running_mean {ref.rounded(new_mean)}; nn.BatchNorm1d gives "
             f"{ref.rounded(expected_mean)}. Use (1 - momentum) * running_mean + momentum * (the batch mean "
             f"of each feature, over dim 0).")
    for message, statistic in (
            (f"{what} updated running_var with the biased batch variance; PyTorch normalizes with the biased "
             f"variance but updates running_var with the unbiased one (x.var(dim=0, unbiased=True), or "
             f"correction=1: dividing by N - 1).", biased),
            (f"{what} updated running_var with the standard deviation; use the unbiased variance (the square "
             f"of the std).", torch.sqrt(unbiased)),
            (f"{what} updated running_var with the biased standard deviation; use the unbiased variance.",
             torch.sqrt(biased))):
        candidate = (1 - m) * old_var + m * statistic
        if close(new_var, candidate) and not close(candidate, expected_var):
            fail(message)
    fail(f"{what} returned running_var {ref.rounded(new_var)}; nn.BatchNorm1d gives "
         f"{ref.rounded(expected_var)}. Use (1 - momentum) * running_var + momentum * (the unbiased batch "
         f"variance of each feature).")


def judge(cases: dict, evidence: dict) -> list[str]:
    with one_thread():
        return _judge(cases, evidence)


def _judge(cases: dict, evidence: dict) -> list[str]:
    found = []
    for case, record in wire.per_case(cases, evidence):
        m = 0.1 if case["momentum"] is None else float(case["momentum"])
        what = (f"{NAME}(running_mean, running_var, x"
                f"{'' if case['momentum'] is None else f', momentum={m:g}'}) {case['label']}")
        inputs = {name: wire.as_tensor(case[name], name) for name in INPUTS}
        for label in ref.builtins_called(record, "calls"):
            require_not_grader_code(what, label)
        result = wire.field(record, "result")
        require_no_error(result, what)
        require_unchanged(record, {"x": inputs["x"]}, what)
        require_unchanged(record, {name: inputs[name] for name in ("running_mean", "running_var")},
                          what, "leave the old running statistics unchanged and return new tensors.")
        new_mean, new_var = _pair(result, what, case["running_mean"])
        old_mean, old_var, x = (inputs[name].to(ref.F64) for name in INPUTS)
        expected = ref.running_update(old_mean, old_var, x, m)
        atol, rtol = _tolerance(case)
        slack = _slack(case, old_mean, old_var, x, m)
        if not (ref.close(new_mean, expected[0], atol, rtol, slack[0])
                and ref.close(new_var, expected[1], atol, rtol, slack[1])):
            _diagnose(new_mean, new_var, old_mean, old_var, x, m, expected, atol, rtol, slack, what)
        found.append((new_mean, new_var))
    if len(cases["cases"]) == 2:
        mean, var = found[0]
        return [f"{NAME} reproduces {ref.ISSUE_60528}: running_mean {ref.rounded(mean, 4)}, running_var "
                f"{ref.rounded(var, 4)}",
                f"{NAME} matches nn.BatchNorm1d's running buffers with momentum=0.3 and leaves its inputs "
                f"unchanged"]
    return [f"{NAME} handles a constant column, a batch of 2, float64, tiny and huge variances, momentum 0 "
            f"and 1, and a non-contiguous x"]


visible, hidden = notebook_checks(__name__)
