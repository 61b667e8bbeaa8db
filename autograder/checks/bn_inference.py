"""Checks for ``batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5) -> y`` (lesson 02).

The contract (the lesson's Exercise 3), and every default these checks rely on:

- ``x`` is a tensor of shape (N, D), any N >= 1 (float32 or float64, possibly non-contiguous);
  ``running_mean``, ``running_var``, ``gamma``, ``beta`` have shape (D,) and x's dtype;
  ``eps`` is a float, default 1e-5 (the checks call both without eps and with ``eps=``).
- ``y`` is a ``torch.Tensor`` (a subclass counts) of shape (N, D) and x's dtype:
  ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``, i.e. ``nn.BatchNorm1d`` in
  eval mode with these buffers and parameters, running_var used exactly as given.  Any
  spelling passes (the folded affine map ``scale * x + shift``, ``rsqrt``, a loop over rows...).
  No batch statistics: each example's output depends on that example only.
  Tolerance: 2e-5 absolute and relative for float32 results, 1e-7 for float64, plus 16
  roundings of gamma * x / sqrt(running_var + eps) (the folded form, amplified by a zero
  running variance).
- Gradients are not checked: at inference nothing is trained, so a result computed under
  ``torch.no_grad()`` or detached is accepted.
- From scratch, as in Exercise 1: no normalization built-in (made to raise in the sandbox;
  the calls seen are evidence the learner's code could forge; the values are not).
- None of the five input tensors is changed (compared after the call).

Cases: visible (seed 0) a (16, 4) batch with given running statistics, and eps=0.5; hidden
(a fresh seed) a batch of 6 (with the default eps and another one) and its first example
alone, a batch of 2, a constant column with a zero running variance, float64 with tiny and
huge variances, a non-contiguous x, and the buffers of the (4, 3, 4) example of pytorch issue
60528 after one training step.
"""
from __future__ import annotations

from typing import Optional

import torch

from autograder.checks import _bn_reference as ref
from autograder.checks import lookup, notebook_checks
from autograder.checks._bn_reference import (first_match, output_tensor, require_from_scratch,
                                             require_unchanged, what_for)
from autograder.checks.bn_forward import PRELUDE
from autograder.checks._from_scratch import evidence_of_call
from autograder.judge import wire
from autograder.judge.verdict import fail, require_no_error
from utils.device import one_thread

__all__ = ["PRELUDE", "cases", "collect", "judge", "visible", "hidden"]

NAME = "batchnorm_inference"
INPUTS = ("x", "running_mean", "running_var", "gamma", "beta")


# ----------------------------------------------------------------------------- sandbox side
def collect(namespace: dict, cases: dict) -> dict:
    """Sandbox side: batchnorm_inference on every case, with normalization built-ins refused."""
    fn = lookup(namespace, NAME)
    with one_thread():
        return {"cases": [evidence_of_call(fn, case, INPUTS) for case in cases["cases"]]}


# ------------------------------------------------------------------------------ judge side
def _case(ident, label, x, running_mean, running_var, gamma, beta, eps=None, dtype=torch.float32,
          layout="plain", alone_of=None) -> dict:
    tensors = dict(zip(INPUTS, (x, running_mean, running_var, gamma, beta)))
    return {"id": ident, "label": label, "eps": eps, "layout": layout, "alone_of": alone_of,
            **{name: wire.tensor(torch.as_tensor(value, dtype=torch.float64).to(dtype))
               for name, value in tensors.items()}}


def _running(g: torch.Generator, num_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = ref.draw(g, (num_features,), std=2.0)
    return mean, 0.25 + 4.0 * torch.rand(num_features, generator=g, dtype=torch.float64)


def cases(seed: int, hidden: bool) -> dict:
    g = torch.Generator().manual_seed(seed)
    if not hidden:
        x = ref.draw(g, (16, 4), mean=[0.0, 5.0, -2.0, 10.0], std=[1.0, 3.0, 0.5, 2.0])
        running_mean, running_var = [0.1, 4.5, -1.8, 9.0], [1.2, 8.0, 0.3, 5.0]
        gamma, beta = ref.draw_affine(g, 4)
        return {"cases": [
            _case("main", "on a (16, 4) batch", x, running_mean, running_var, gamma, beta),
            _case("eps", "on the same batch", x, running_mean, running_var, gamma, beta, eps=0.5),
        ]}
    whole = ref.draw(g, (6, 3), mean=2.0, std=3.0)
    mean6, var6 = _running(g, 3)
    gamma, beta = ref.draw_affine(g, 3)
    pair = ref.draw(g, (2, 3))
    constant = ref.draw(g, (8, 3))
    constant[:, 0] = 0.7
    gamma_c, beta_c = ref.draw_affine(g, 3)
    wide = ref.draw(g, (32, 2), mean=[5.0, 0.0], std=[1e-3, 1e4])
    gamma_w, beta_w = ref.draw_affine(g, 2)
    strided = ref.draw(g, (10, 4), mean=1.0, std=2.0)
    mean_s, var_s = _running(g, 4)
    gamma_s, beta_s = ref.draw_affine(g, 4)
    rows = ref.issue_60528_rows()
    eps = round(float(0.05 + 0.45 * torch.rand(1, generator=g, dtype=torch.float64)), 3)
    return {"cases": [
        _case("whole", "on a batch of 6", whole, mean6, var6, gamma, beta),
        _case("eps", "on the same batch", whole, mean6, var6, gamma, beta, eps=eps),
        _case("alone", "on the first example of that batch alone", whole[:1], mean6, var6, gamma, beta,
              alone_of="whole"),
        _case("pair", "on a batch of 2", pair, mean6, var6, gamma, beta),
        _case("constant", "with a constant column and a zero running variance", constant,
              [0.7, 0.0, 0.0], [0.0, 1.0, 2.0], gamma_c, beta_c),
        _case("float64", "(float64, tiny and huge variances)", wide, [5.0, 10.0], [1e-6, 1e8],
              gamma_w, beta_w, dtype=torch.float64),
        _case("strided", "on a non-contiguous x (a transposed view)", strided, mean_s, var_s,
              gamma_s, beta_s, layout="transposed"),
        _case("issue", f"on the buffers of {ref.ISSUE_60528} after one training step", rows,
              [0.4, 0.8, 1.2], [0.9 + 0.1 * 8.0 / 3.0] * 3, [1.0] * 3, [0.0] * 3),
    ]}


def _hypotheses(x, running_mean, running_var, gamma, beta, eps, what):
    n = x.shape[0]
    scale = torch.sqrt(running_var + eps)
    x_hat = (x - running_mean) / scale
    if n > 1:
        batch_mean, batch_var = ref.batch_stats(x)
        message = (f"{what} normalized with the batch's own mean and variance; at inference use the "
                   f"running_mean and running_var you are given, so each example's output does not "
                   f"depend on the rest of the batch.")
        yield message, (x - batch_mean) / torch.sqrt(batch_var + eps) * gamma + beta
        yield message, (x - batch_mean) / torch.sqrt(batch_var * n / (n - 1) + eps) * gamma + beta
        yield (f"{what} subtracted the batch's own mean; at inference subtract the running_mean you are "
               f"given, so each example's output does not depend on the rest of the batch.",
               (x - batch_mean) / scale * gamma + beta)
        yield (f"{what} divided by the batch's own standard deviation; at inference use the running_var "
               f"you are given, so each example's output does not depend on the rest of the batch.",
               (x - running_mean) / torch.sqrt(batch_var + eps) * gamma + beta)
    yield (f"{what} returned the normalized x_hat but ignored gamma and beta; return gamma * x_hat + beta.",
           x_hat)
    yield f"{what} scaled by gamma but ignored beta; return gamma * x_hat + beta.", gamma * x_hat
    yield f"{what} shifted by beta but ignored gamma; return gamma * x_hat + beta.", x_hat + beta
    yield (f"{what} swapped gamma and beta; gamma scales x_hat and beta shifts it: gamma * x_hat + beta.",
           beta * x_hat + gamma)
    yield (f"{what} added eps outside the square root; divide by sqrt(running_var + eps).",
           (x - running_mean) / (running_var.sqrt() + eps) * gamma + beta)
    yield (f"{what} divided by running_var + eps; running_var is a variance, so divide by its "
           f"square root, sqrt(running_var + eps).", (x - running_mean) / (running_var + eps) * gamma + beta)
    if eps != 1e-5:
        yield (f"{what} ignored its eps argument: it returned what eps=1e-5 (or no eps at all) gives; "
               f"use the eps it is given, inside the square root.",
               (x - running_mean) / torch.sqrt(running_var + 1e-5) * gamma + beta)
    yield (f"{what} left eps out; divide by sqrt(running_var + eps).",
           (x - running_mean) / running_var.sqrt() * gamma + beta)
    if n > 1:
        for factor in (n / (n - 1), (n - 1) / n):
            yield (f"{what} rescaled running_var by N/(N-1) or (N-1)/N; use running_var exactly as given "
                   f"(PyTorch already stores the unbiased estimate).",
                   (x - running_mean) / torch.sqrt(running_var * factor + eps) * gamma + beta)
    yield (f"{what} swapped running_mean and running_var; subtract running_mean, divide by "
           f"sqrt(running_var + eps).", (x - running_var) / torch.sqrt(running_mean + eps) * gamma + beta)


def judge(cases: dict, evidence: dict) -> list[str]:
    with one_thread():
        return _judge(cases, evidence)


def _judge(cases: dict, evidence: dict) -> list[str]:
    outputs: dict[str, Optional[torch.Tensor]] = {}
    for case, record in wire.per_case(cases, evidence):
        what = what_for(NAME, "x, running_mean, running_var, gamma, beta", case)
        inputs = {name: wire.as_tensor(case[name], name) for name in INPUTS}
        eps = 1e-5 if case["eps"] is None else float(case["eps"])
        result = wire.field(record, "result")
        require_from_scratch(record, what)
        require_no_error(result, what)
        require_unchanged(record, inputs, what)
        got = output_tensor(result, what, case["x"])
        x, mean, var, gamma, beta = (inputs[name].to(ref.F64) for name in INPUTS)
        expected = ref.inference(x, mean, var, gamma, beta, eps)
        atol, rtol = ref.tolerance(wire.dtype_name(case["x"]))
        # a zero running variance: 1/sqrt(eps) amplifies the rounding of x in the folded form
        extra = ref.slack(wire.dtype_name(case["x"]),
                          gamma.abs() * (x.abs() + mean.abs()) / torch.sqrt(var + eps) + beta.abs())
        if not ref.close(got, expected, atol, rtol, extra):
            if not bool(torch.isfinite(got).all()):
                fail(f"{what} returned NaN or inf values; divide by torch.sqrt(running_var + eps).")
            first_match(got, expected, _hypotheses(x, mean, var, gamma, beta, eps, what),
                        max(10 * atol, 1e-4), max(10 * rtol, 1e-4), 10 * extra)
            whole = outputs.get(case.get("alone_of"))
            if whole is not None and not ref.close(got, whole[:1], 1e-5, 1e-5):
                fail(f"{NAME} gave a different output for an example alone than inside its batch; at "
                     f"inference use only the running statistics.")
            index, mine, theirs = ref.first_difference(got, expected)
            fail(f"{what} does not match nn.BatchNorm1d in eval mode: at {ref.where(index)} you returned "
                 f"{mine:.6g} where nn.BatchNorm1d gives {theirs:.6g} (tolerance {atol:g}). Compute "
                 f"gamma * (x - running_mean) / sqrt(running_var + eps) + beta.")
        outputs[case["id"]] = got
    if "main" in outputs:
        return [f"{NAME} matches nn.BatchNorm1d in eval mode on a (16, 4) batch and leaves its inputs "
                f"unchanged",
                f"{NAME} uses its eps argument inside the square root"]
    first = (1.0 - 0.4) / (0.9 + 0.1 * 8.0 / 3.0 + 1e-5) ** 0.5
    return [f"{NAME} uses only the running statistics (an example alone gets the same output), handles "
            f"another eps, a batch of 2, a constant column, float64 with tiny and huge variances, a "
            f"non-contiguous x, and the buffers of {ref.ISSUE_60528} (first output {first:.4f})"]


visible, hidden = notebook_checks(__name__)
