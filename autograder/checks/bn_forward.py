"""Checks for ``batchnorm_forward(x, gamma, beta, eps=1e-5) -> y`` (lesson 02_normalization_math).

The contract (the lesson's Exercise 1), and every default these checks rely on:

- ``x`` is a tensor of shape (N, D) with N >= 2 (float32 or float64, possibly non-contiguous);
  ``gamma`` and ``beta`` have shape (D,) and x's dtype; ``eps`` is a float, default 1e-5
  (the checks call both without eps and with ``eps=`` as a keyword).
- ``y`` is a ``torch.Tensor`` (a subclass counts) of shape (N, D) and x's dtype:
  ``gamma * (x - mean) / sqrt(var + eps) + beta`` with each feature's mean and **biased**
  variance over the batch (dim 0), i.e. ``nn.BatchNorm1d`` in training mode with
  ``affine=True`` and the given gamma, beta.  Any spelling of that computation passes
  (loops, ``var_mean``, ``rsqrt``, a float64 computation cast back to x's dtype...).
  Tolerance: 2e-5 absolute and relative for float32 results, 1e-7 for float64, plus 16
  roundings of the intermediate values a correct spelling may go through (gamma * x /
  sqrt(var + eps) in the folded form, E[x^2] in the one-pass variance); gradients likewise.
- y stays connected to autograd: when x, gamma and beta require gradients, the gradients of
  a loss through y with respect to all three match those through ``nn.BatchNorm1d``
  (so the gradient flows through the batch mean and variance: no ``.detach()``,
  ``torch.no_grad()``, ``.item()`` or NumPy round trip), as the lesson's Exercise 1 says.
- From scratch: no normalization built-in (``F.batch_norm``, ``torch.batch_norm``,
  ``nn.BatchNorm*`` and every other ``*Norm*`` layer, ``layer_norm``, ``group_norm``,
  ``instance_norm``, ``rms_norm``, the aten kernels).  They are made to raise while the
  learner's function runs, in the sandbox, and the calls seen are reported as evidence: this
  rule rests on evidence the learner's code could forge; the values and gradients do not.
- ``x``, ``gamma`` and ``beta`` are left unchanged (compared after the call).

Cases: visible (seed 0) a (16, 4) batch with features of different means and spreads, the
same batch shifted by a constant, and eps=0.1 with gamma = 1, beta = 0 (gradients on the first);
hidden (a fresh seed) the same shift pair, another eps, a constant feature column, tiny
variances (float64), huge variances, a batch of 2 and float64 (both with gradients), a
non-contiguous x, and the (4, 3, 4) example of pytorch issue 60528 as (16, 3) rows.
"""
from __future__ import annotations

from typing import Optional

import torch

from autograder.checks import _bn_reference as ref
from autograder.checks import call, lookup, notebook_checks
from autograder.checks._bn_reference import (first_match, output_tensor, require_from_scratch,
                                             require_unchanged, what_for)
from autograder.checks._from_scratch import (ForbiddenBuiltin, as_input, call_from_scratch,  # noqa: F401
                                                  evidence_of_call, forbid_normalization_builtins)
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error
from utils.device import one_thread

__all__ = ["PRELUDE", "cases", "collect", "judge", "visible", "hidden",
           "ForbiddenBuiltin", "forbid_normalization_builtins"]

PRELUDE = (
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
    "from utils.device import get_device, seed_everything\n"
    "device = get_device()\n"
)

NAME = "batchnorm_forward"
INPUTS = ("x", "gamma", "beta")


# --------------------------------------------------------------------------------------------
# Sandbox side (the shared part, and the normalization built-ins refused: _from_scratch).
# --------------------------------------------------------------------------------------------
def _evidence_of_gradients(fn, case: dict) -> dict:
    """The same call with x, gamma, beta requiring gradients, then autograd.grad of <y, dout>."""
    layout = case.get("layout", "plain")
    leaves = [as_input(case[name], layout if name == "x" else "plain").requires_grad_(True) for name in INPUTS]
    kwargs = {} if case.get("eps") is None else {"eps": case["eps"]}
    result, error, calls = call_from_scratch(fn, *leaves, **kwargs)
    record = {"result": error if error is not None else wire.value(result), "builtins": calls, "grads": None}
    if error is None and isinstance(result, torch.Tensor) and result.requires_grad:
        dout = wire.as_tensor(case["grad"]["dout"])
        with forbid_normalization_builtins(calls):
            # a scalar loss <y, dout>: passing dout as grad_outputs would make autograd import sympy
            grads, error = call(lambda: torch.autograd.grad((result * dout.to(result.dtype)).sum(), leaves,
                                                            allow_unused=True))
        record["grads"] = error if error is not None else wire.value(tuple(grads))
        record["builtins"] = calls[:8]
    return record


def collect(namespace: dict, cases: dict) -> dict:
    """Sandbox side: batchnorm_forward on every case; gradients where the case asks for them."""
    fn = lookup(namespace, NAME)
    with one_thread():
        records = [evidence_of_call(fn, case, INPUTS) for case in cases["cases"]]
        for case, record in zip(cases["cases"], records):       # values first, then gradients
            if case.get("grad"):
                record["grad"] = _evidence_of_gradients(fn, case)
    return {"cases": records}


# --------------------------------------------------------------------------------------------
# Judge side: the cases.
# --------------------------------------------------------------------------------------------
def _case(ident: str, label: str, x, gamma, beta, eps=None, dtype=torch.float32, layout="plain",
          partner=None, dout=None) -> dict:
    return {"id": ident, "label": label, "x": wire.tensor(x.to(dtype)), "gamma": wire.tensor(gamma.to(dtype)),
            "beta": wire.tensor(beta.to(dtype)), "eps": eps, "layout": layout, "partner": partner,
            "grad": None if dout is None else {"dout": wire.tensor(dout.to(dtype))}}


def cases(seed: int, hidden: bool) -> dict:
    g = torch.Generator().manual_seed(seed)
    if not hidden:
        x = ref.draw(g, (16, 4), mean=[0.0, 5.0, -2.0, 10.0], std=[1.0, 3.0, 0.5, 2.0])
        gamma, beta = ref.draw_affine(g, 4)
        shift = torch.tensor([7.0, -3.0, 2.0, 0.5], dtype=torch.float64)
        return {"cases": [
            _case("main", "on a (16, 4) batch", x, gamma, beta, dout=ref.draw(g, (16, 4))),
            _case("shifted", "on the same batch shifted by a constant", x + shift, gamma, beta, partner="main"),
            _case("eps", "with eps=0.1, gamma = 1, beta = 0", x, torch.ones(4), torch.zeros(4), eps=0.1),
        ]}
    x = ref.draw(g, (32, 3), std=[2.0, 1.0, 0.5])
    gamma, beta = ref.draw_affine(g, 3)
    shift = ref.draw(g, (3,), std=5.0)
    constant = ref.draw(g, (8, 3))
    constant[:, 1] = 3.0
    gamma_c, beta_c = ref.draw_affine(g, 3)
    tiny = ref.draw(g, (64, 3), mean=[5.0, -5.0, 2.0], std=[1e-3, 1e-2, 1e-3])
    gamma_t, beta_t = ref.draw_affine(g, 3)
    huge = ref.draw(g, (64, 2), std=[1e4, 3e3])
    gamma_h, beta_h = ref.draw_affine(g, 2)
    pair = ref.draw(g, (2, 5), std=3.0)
    gamma_p, beta_p = ref.draw_affine(g, 5)
    double = ref.draw(g, (20, 4), mean=1.0, std=2.0)
    gamma_d, beta_d = ref.draw_affine(g, 4)
    strided = ref.draw(g, (12, 5), mean=-1.0, std=[1.0, 2.0, 0.5, 4.0, 1.0])
    gamma_s, beta_s = ref.draw_affine(g, 5)
    rows = ref.issue_60528_rows()
    eps = round(float(0.05 + 0.45 * torch.rand(1, generator=g, dtype=torch.float64)), 3)
    return {"cases": [
        _case("batch", "on a (32, 3) batch", x, gamma, beta),
        _case("eps", "on the same batch", x, gamma, beta, eps=eps),
        _case("shifted", "on the same batch shifted by a constant", x + shift, gamma, beta, partner="batch"),
        _case("constant", "with a constant feature column", constant, gamma_c, beta_c),
        _case("tiny", "(float64, features with tiny variance)", tiny, gamma_t, beta_t, dtype=torch.float64),
        _case("huge", "(features with huge variance)", huge, gamma_h, beta_h),
        _case("pair", "with a batch of 2", pair, gamma_p, beta_p, dout=ref.draw(g, (2, 5))),
        _case("double", "for float64 x", double, gamma_d, beta_d, dtype=torch.float64,
              dout=ref.draw(g, (20, 4))),
        _case("strided", "on a non-contiguous x (a transposed view)", strided, gamma_s, beta_s,
              layout="transposed"),
        _case("issue", f"on {ref.ISSUE_60528}", rows, torch.ones(3), torch.zeros(3)),
    ]}


# --------------------------------------------------------------------------------------------
# Judge side: the verdict.
# --------------------------------------------------------------------------------------------
def _conditioning(x, eps):
    """1 + E[x^2] / (var + eps) per feature: how much the one-pass variance E[x^2] - E[x]^2, a
    correct but less accurate spelling, may lose to cancellation."""
    _, var = ref.batch_stats(x)
    return 1 + (x.to(ref.F64) ** 2).mean(dim=0) / (var + eps)


def rounding_scale(x, gamma, beta, eps):
    """The size of the intermediate values a correct spelling may round (see ref.slack)."""
    mean, var = ref.batch_stats(x)
    inv_std = 1 / torch.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return (gamma.abs() * (x.abs() + mean.abs()) * inv_std + beta.abs()
            + gamma.abs() * x_hat.abs() * _conditioning(x, eps))


def _gradient_scales(x, gamma, eps, dout):
    """Per input, the size of the terms its gradient sums (times the conditioning above)."""
    mean, var = ref.batch_stats(x)
    inv_std = 1 / torch.sqrt(var + eps)
    x_hat, dy = (x - mean) * inv_std, dout.to(ref.F64).abs()
    cond = _conditioning(x, eps)
    dx = gamma.abs() * inv_std * (dy + dy.mean(0) + x_hat.abs() * (dy * x_hat.abs()).mean(0)) * cond
    return dx, (dy * x_hat.abs()).sum(0) * cond, dy.sum(0)


def _inputs(case: dict) -> dict:
    return {name: wire.as_tensor(case[name], name) for name in INPUTS}


def _hypotheses(x, gamma, beta, eps, what):
    """(diagnosis, what that mistake computes) for the typical mistakes, most specific first."""
    n = x.shape[0]
    mean, var = ref.batch_stats(x)
    centred = x - mean
    x_hat = centred / torch.sqrt(var + eps)
    flat_mean, flat_var = x.mean(), ((x - x.mean()) ** 2).mean()
    row_mean = x.mean(dim=1, keepdim=True)
    row_var = ((x - row_mean) ** 2).mean(dim=1, keepdim=True)
    std = torch.sqrt(var)
    yield (f"{what} returned the normalized x_hat but ignored gamma and beta; return gamma * x_hat + beta.",
           x_hat)
    yield f"{what} scaled by gamma but ignored beta; return gamma * x_hat + beta.", gamma * x_hat
    yield f"{what} shifted by beta but ignored gamma; return gamma * x_hat + beta.", x_hat + beta
    yield f"{what} swapped gamma and beta; gamma scales x_hat and beta shifts it: gamma * x_hat + beta.", \
        beta * x_hat + gamma
    if n > 1:
        yield (f"{what} divided by the unbiased standard deviation (dividing by N - 1); batch "
               f"normalization uses the biased batch variance, the mean of squared deviations "
               f"(x.var(dim=0, unbiased=False), or correction=0)."), \
            gamma * centred / torch.sqrt(var * n / (n - 1) + eps) + beta
    yield (f"{what} added eps outside the square root; the denominator is sqrt(var + eps), "
           f"not sqrt(var) + eps."), gamma * centred / (std + eps) + beta
    if eps != 1e-5:
        yield (f"{what} ignored its eps argument: it returned what eps=1e-5 (or no eps at all) gives; "
               f"use the eps it is given, inside the square root."), \
            gamma * centred / torch.sqrt(var + 1e-5) + beta
    yield f"{what} left eps out; divide by sqrt(var + eps).", gamma * centred / std + beta
    yield (f"{what} divided by the variance; divide by its square root, the standard deviation "
           f"sqrt(var + eps)."), gamma * centred / (var + eps) + beta
    yield (f"{what} took the square root of the standard deviation; use the variance inside the "
           f"square root: sqrt(var + eps)."), gamma * centred / torch.sqrt(std + eps) + beta
    yield (f"{what} normalized each example over its features (dim 1); batch normalization "
           f"normalizes each feature over the batch: statistics over dim 0, one mean and "
           f"variance per feature."), gamma * (x - row_mean) / torch.sqrt(row_var + eps) + beta
    yield (f"{what} normalized with one mean and variance for the whole tensor; batch normalization "
           f"takes the statistics of each feature over the batch (dim 0), one mean and variance per "
           f"feature."), gamma * (x - flat_mean) / torch.sqrt(flat_var + eps) + beta
    yield (f"{what} normalized with fixed statistics (mean 0 and variance 1, the initial running "
           f"statistics); in training mode use this batch's own mean and variance."), \
        gamma * x / torch.sqrt(torch.tensor(1.0 + eps, dtype=x.dtype)) + beta


def _diagnose(got, x, gamma, beta, eps, expected, atol, rtol, extra, what, partner_outputs):
    x, gamma, beta = x.to(ref.F64), gamma.to(ref.F64), beta.to(ref.F64)
    if not bool(torch.isfinite(got).all()):
        _, var = ref.batch_stats(x)
        if bool((var == 0).any()):
            fail(f"{what} returned NaN or inf values where a feature has zero variance; add eps inside "
                 f"the square root: (x - mean) / torch.sqrt(var + eps).")
        fail(f"{what} returned NaN or inf values; nn.BatchNorm1d's output is finite here.")
    first_match(got, expected, _hypotheses(x, gamma, beta, eps, what), max(10 * atol, 1e-4),
                max(10 * rtol, 1e-4), 10 * extra)
    for other in partner_outputs:
        if other is not None and other.shape == got.shape and not ref.close(other, got, 1e-3, 1e-3):
            fail(f"{NAME} gives different outputs for a batch and the same batch shifted by a constant; "
                 f"in training mode normalize with this batch's own mean and variance (not running or "
                 f"fixed statistics), so such a shift cancels out.")
    index, mine, theirs = ref.first_difference(got, expected)
    fail(f"{what} does not match nn.BatchNorm1d in training mode: at {ref.where(index)} you returned "
         f"{mine:.6g} where nn.BatchNorm1d gives {theirs:.6g} (tolerance {atol:g}). Normalize each "
         f"feature with its batch mean and biased batch variance, eps inside the square root, then "
         f"scale by gamma and shift by beta.")


def _reference_gradients(x, gamma, beta, eps, dout, detach_mean=False, detach_var=False):
    """Gradients of <y, dout> w.r.t. x, gamma, beta through Algorithm 1 (or a detached variant)."""
    leaves = [t.to(ref.F64).clone().requires_grad_(True) for t in (x, gamma, beta)]
    x64, gamma64, beta64 = leaves
    mean = x64.mean(dim=0)
    mean_used = mean.detach() if detach_mean else mean
    var = ((x64 - mean) ** 2).mean(dim=0)
    var_used = var.detach() if detach_var else var
    y = gamma64 * (x64 - mean_used) / torch.sqrt(var_used + eps) + beta64
    return torch.autograd.grad((y * dout.to(ref.F64)).sum(), leaves)


def _judge_gradients(record, case, x, gamma, beta, eps, expected, extra, what):
    what_grad = f"{what}, with x, gamma and beta requiring gradients,"
    result = wire.field(record, "result")
    require_from_scratch(record, what_grad)
    if wire.kind(result) == "error":
        fail(f"{what_grad} raised {result.get('type')}: {result.get('message')}. Training backpropagates "
             f"through batch normalization, so compute y with torch operations autograd can follow "
             f"(no in-place changes of the inputs, no .numpy()).")
    got = output_tensor(result, what_grad, case["x"])
    atol, rtol = ref.tolerance(wire.dtype_name(case["x"]))
    require(ref.close(got, expected, atol, rtol, extra),
            f"{what_grad} returned other values than without gradients; compute the same y either way.")
    grads = wire.field(record, "grads")
    if not result.get("requires_grad") or grads is None:
        fail(f"{what} is cut off from autograd: when x, gamma and beta require gradients, y must require "
             f"gradients too, so training can backpropagate through batch normalization. Keep every step "
             f"in torch operations on x, gamma and beta (no .detach(), torch.no_grad(), .item(), "
             f".tolist(), .numpy() or torch.tensor(...) of intermediate results).")
    if wire.kind(grads) == "error":
        hint = (" Training needs that gradient: don't change in place a tensor autograd saved (write "
                "y = y - mean, not y -= mean)." if "inplace" in str(grads.get("message")) else "")
        fail(f"Backpropagating through the y of {what} raised {grads.get('type')}: "
             f"{grads.get('message')}{hint}")
    grads = wire.items(grads, "the gradients")
    if len(grads) != 3:
        raise wire.Malformed("not three gradients")
    dout = wire.as_tensor(case["grad"]["dout"], "dout")
    reference = _reference_gradients(x, gamma, beta, eps, dout)
    dtype = wire.dtype_name(case["x"])
    g_atol, g_rtol = ref.tolerance(dtype)
    for name, grad, want, scale in zip(INPUTS, grads, reference, _gradient_scales(x, gamma, eps, dout)):
        if grad is None:
            fail(f"{what} does not pass gradients back to {name}: y must depend on {name} through "
                 f"torch operations (no .detach(), .item() or .tolist() of {name}).")
        mine = wire.as_tensor(grad, f"the gradient with respect to {name}", dtype=ref.F64)
        require(tuple(mine.shape) == tuple(want.shape),
                f"{what}: the gradient with respect to {name} has shape {tuple(mine.shape)}; expected "
                f"{tuple(want.shape)}.")
        extra = ref.slack(dtype, scale)
        if ref.close(mine, want, g_atol, g_rtol, extra):
            continue
        if name == "x":
            for detach_mean, detach_var, which in ((True, True, "the batch mean and variance were"),
                                                   (True, False, "the batch mean was"),
                                                   (False, True, "the batch variance was")):
                variant = _reference_gradients(x, gamma, beta, eps, dout, detach_mean, detach_var)[0]
                if ref.close(mine, variant, max(10 * g_atol, 1e-4), 1e-4, 10 * extra):
                    fail(f"{what} gives the right y, but its gradient with respect to x is the one you get "
                         f"when {which} treated as constants (detached, or computed outside autograd "
                         f"with .item(), .tolist() or NumPy). In training the gradient must flow through "
                         f"the batch statistics too (Ioffe & Szegedy, section 2): compute them with torch "
                         f"operations on x itself.")
        index, value, wanted = ref.first_difference(mine, want)
        fail(f"{what} gives the right y, but the gradient of a loss with respect to {name} differs from "
             f"the one through nn.BatchNorm1d: at {ref.where(index)} {value:.6g} instead of {wanted:.6g}.")


def judge(cases: dict, evidence: dict) -> list[str]:
    with one_thread():
        return _judge(cases, evidence)


def _judge(cases: dict, evidence: dict) -> list[str]:
    outputs: dict[str, Optional[torch.Tensor]] = {}
    for case, record in wire.per_case(cases, evidence):         # first what was returned, for the shift pairs
        result = wire.field(record, "result")
        if wire.kind(result) == "tensor":
            output = wire.as_tensor(result, dtype=ref.F64)
            if tuple(output.shape) == tuple(case["x"]["shape"]):
                outputs[case["id"]] = output
    shown, checked = {}, []
    for case, record in wire.per_case(cases, evidence):
        what = what_for(NAME, "x, gamma, beta", case)
        inputs = _inputs(case)
        eps = 1e-5 if case["eps"] is None else float(case["eps"])
        require_from_scratch(record, what)
        require_no_error(wire.field(record, "result"), what)
        require_unchanged(record, inputs, what)
        got = output_tensor(wire.field(record, "result"), what, case["x"])
        x, gamma, beta = (inputs[name].to(ref.F64) for name in INPUTS)
        expected = ref.training(x, gamma, beta, eps)
        atol, rtol = ref.tolerance(wire.dtype_name(case["x"]))
        extra = ref.slack(wire.dtype_name(case["x"]), rounding_scale(x, gamma, beta, eps))
        if not ref.close(got, expected, atol, rtol, extra):
            partners = [outputs.get(other["id"]) for other in cases["cases"]
                        if other.get("partner") == case["id"] or other["id"] == case.get("partner")]
            _diagnose(got, x, gamma, beta, eps, expected, atol, rtol, extra, what, partners)
        shown[case["id"]] = got
        checked.append((case, record, x, gamma, beta, eps, expected, extra, what))
    for case, record, x, gamma, beta, eps, expected, extra, what in checked:   # then the gradients
        if case.get("grad"):
            _judge_gradients(wire.field(record, "grad"), case, x, gamma, beta, eps, expected, extra, what)
    if "main" in shown:
        main = _inputs(cases["cases"][0])
        hat = (shown["main"] - main["beta"].to(ref.F64)) / main["gamma"].to(ref.F64)
        return [f"{NAME} matches nn.BatchNorm1d in training mode on a (16, 4) batch, and leaves x, gamma "
                f"and beta unchanged",
                f"(y - beta) / gamma has mean 0 and standard deviation 1 in every feature (largest |mean| "
                f"{float(hat.mean(dim=0).abs().max()):.1e})",
                f"{NAME} gives the same output when the whole batch is shifted by a constant "
                f"(batch statistics)",
                f"{NAME} uses its eps argument inside the square root",
                "its gradients with respect to x, gamma and beta match those through nn.BatchNorm1d"]
    first = ref.rounded(shown["issue"][:4, 0], 4)
    return [f"{NAME} handles a shifted batch, another eps, a constant column, tiny and huge variances, "
            f"a batch of 2, float64 (with gradients) and a non-contiguous x",
            f"{NAME} reproduces {ref.ISSUE_60528}: the first four outputs of channel 0 are {first}"]


visible, hidden = notebook_checks(__name__)
