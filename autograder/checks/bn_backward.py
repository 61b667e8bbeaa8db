"""Checks for ``batchnorm_backward(dout, x, gamma, eps=1e-5) -> (dx, dgamma, dbeta)`` (lesson 06).

Contract: x has shape (N, D) (N >= 2), gamma (D,), dout = dL/dy (N, D) for training-mode batch
normalization y = gamma * x_hat + beta, x_hat = (x - mean) / sqrt(var + eps), mean and the
biased variance over the batch (dim 0).  Returns a tuple (dx, dgamma, dbeta) of tensors of
shapes (N, D), (D,), (D,) in x's dtype.  Written from scratch: no autograd (``.backward()``,
``torch.autograd.grad``, ``torch.func``, forward-mode AD) and no normalization built-ins, both
refused while the function runs (evidence the learner could forge by switching the modes off);
dout, x and gamma are left unchanged.

The judge computes the reference with autograd in float64 on the judge's own tensors, and
tries the typical mistakes (statistics treated as constants, a path through the mean or the
variance forgotten, the unbiased variance, eps outside the square root, statistics over the
wrong axis, dgamma without x_hat, sums and means swapped) on the same inputs.
"""
from __future__ import annotations

import torch

from autograder.checks import call, fail, lookup, notebook_checks, require
from autograder.checks._bn_backward import close, first_difference, refusing
from autograder.checks._refused_code import require_not_grader_code
from autograder.judge import wire
from autograder.judge.verdict import require_no_error

PRELUDE = (
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)

NAME = "batchnorm_backward"
RTOL = {"float64": 1e-7, "float32": 1e-4}
HYPOTHESIS_RTOL = {"float64": 1e-5, "float32": 1e-3}


# --------------------------------------------------------------------------- cases (judge side)

def _case(label: str, generator: torch.Generator, n: int, d: int, *, mean=0.0, std=1.0, eps=None,
          dtype=torch.float64, constant_column: int | None = None) -> dict:
    x = torch.randn(n, d, generator=generator, dtype=torch.float64) * torch.as_tensor(std, dtype=torch.float64) \
        + torch.as_tensor(mean, dtype=torch.float64)
    if constant_column is not None:
        x[:, constant_column] = 3.0
    gamma = 0.5 + 1.5 * torch.rand(d, generator=generator, dtype=torch.float64)
    dout = torch.randn(n, d, generator=generator, dtype=torch.float64) + 0.5
    return {"label": label, "x": wire.tensor(x.to(dtype)), "gamma": wire.tensor(gamma.to(dtype)),
            "dout": wire.tensor(dout.to(dtype)), "eps": eps}


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(int(seed) % 2**63)
    if not hidden:
        made = [
            _case("on a (8, 3) batch", generator, 8, 3, mean=[0.0, 5.0, -2.0], std=[1.0, 3.0, 0.5]),
            _case("on a batch of 2", generator, 2, 4, std=2.0),
            _case("on a float32 (16, 4) batch", generator, 16, 4, mean=1.0, std=2.0, dtype=torch.float32),
        ]
    else:
        made = [
            _case("on a (32, 5) batch", generator, 32, 5, mean=2.0, std=[1.0, 2.0, 0.3, 4.0, 1.0]),
            _case("with eps=0.1", generator, 12, 3, std=0.5, eps=0.1),
            _case("with a constant feature", generator, 10, 3, constant_column=1),
            _case("with features of huge variance", generator, 64, 2, std=[1e4, 3e3]),
            _case("with features of tiny variance (mean 5, std 1e-3)", generator, 64, 3,
                  mean=[5.0, -5.0, 100.0], std=[1e-3, 1e-2, 1e-3]),
            _case("on a batch of 2", generator, 2, 3, mean=1.0, std=3.0),
            _case("on a (5, 5) batch", generator, 5, 5, std=1.5),
            _case("on a batch of 64 with one feature", generator, 64, 1, mean=-3.0, std=0.2),
            _case("on a float32 (64, 3) batch", generator, 64, 3, std=2.0, dtype=torch.float32),
        ]
    return {"cases": made}


# --------------------------------------------------------------------------- evidence (sandbox side)

def collect(namespace: dict, cases: dict) -> dict:
    fn = lookup(namespace, NAME)
    results = []
    for case in cases["cases"]:
        dout, x, gamma = (wire.as_tensor(case[name]) for name in ("dout", "x", "gamma"))
        given = (dout.clone(), x.clone(), gamma.clone())
        calls: list[str] = []
        with refusing(calls):
            if case["eps"] is None:
                returned, error = call(fn, *given)
            else:
                returned, error = call(fn, *given, eps=case["eps"])
        results.append({"returned": error if error is not None else wire.value(returned),
                        "calls": calls[:5],
                        "after": {name: wire.tensor(tensor) for name, tensor in zip(("dout", "x", "gamma"), given)}})
    return {"results": results}


# --------------------------------------------------------------------------- the judge

def _forward(x, gamma, eps, dim=0, unbiased=False, eps_outside=False):
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, unbiased=unbiased, keepdim=True)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return gamma * (x - mean) / std


def autograd_reference(dout, x, gamma, eps, **variant):
    """(dx, dgamma, dbeta) of ``_forward`` by autograd, in float64 (variants: dim, unbiased, eps_outside)."""
    x = x.detach().to(torch.float64).requires_grad_()
    gamma = gamma.detach().to(torch.float64).requires_grad_()
    dout = dout.detach().to(torch.float64)
    with torch.enable_grad():
        y = _forward(x, gamma, eps, **variant)
        dx, dgamma = torch.autograd.grad(y, (x, gamma), dout)
    return dx.detach(), dgamma.detach(), dout.sum(dim=0)


def _dx_hypotheses(dout, x, gamma, eps) -> list[tuple[str, torch.Tensor]]:
    """(diagnosis, dx) for the typical mistakes, computed on the same inputs in float64."""
    n = x.shape[0]
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    std = (var + eps).sqrt()
    x_hat = (x - mean) / std
    mean_dy = dout.mean(dim=0)
    mean_dy_xhat = (dout * x_hat).mean(dim=0)
    var_u = x.var(dim=0, unbiased=True) if n > 1 else var
    std_u = (var_u + eps).sqrt()
    x_hat_u = (x - mean) / std_u
    std_out = var.sqrt() + eps
    x_hat_out = (x - mean) / std_out
    right = gamma / std * (dout - mean_dy - x_hat * mean_dy_xhat)
    found = [
        ("dx treats the batch mean and variance as constants (dx = gamma * dout / sqrt(var + eps)): the "
         "missing mean terms. In training mode every x_i also moves the batch mean and variance, so dx "
         "must subtract the batch mean of dout and x_hat times the batch mean of dout * x_hat",
         gamma / std * dout),
        ("dx forgets the path through the batch mean: every x_i moves the mean, which is subtracted from "
         "every example; the term - mean(dout) (the batch mean of dout, per feature) is missing",
         gamma / std * (dout - x_hat * mean_dy_xhat)),
        ("dx forgets the path through the batch variance: the term - x_hat * mean(dout * x_hat) (per "
         "feature, over the batch) is missing",
         gamma / std * (dout - mean_dy)),
        ("dx is missing the factor gamma: y = gamma * x_hat + beta, so dL/dx_hat = gamma * dout",
         right / gamma),
        (f"dx is {n} (= N) times too large: the two terms through the statistics are batch means "
         f"(divide the sums by N), or multiply the whole dx by 1/N if you wrote it with sums",
         right * n),
        ("dx uses the unbiased variance (dividing by N - 1); the forward pass normalizes with the biased "
         "batch variance, the mean of squared deviations (divide by N), and so does its gradient",
         autograd_reference(dout, x, gamma, eps, unbiased=True)[0] if n > 1 else right + 1e300),
        ("dx uses the unbiased variance (dividing by N - 1); the forward pass normalizes with the biased "
         "batch variance, the mean of squared deviations (divide by N), and so does its gradient",
         gamma / std_u * (dout - mean_dy - x_hat_u * (dout * x_hat_u).mean(dim=0))),
        ("dx puts eps outside the square root; the forward pass divides by sqrt(var + eps), not "
         "sqrt(var) + eps", autograd_reference(dout, x, gamma, eps, eps_outside=True)[0]),
        ("dx puts eps outside the square root; the forward pass divides by sqrt(var + eps), not "
         "sqrt(var) + eps", gamma / std_out * (dout - mean_dy - x_hat_out * (dout * x_hat_out).mean(dim=0))),
        ("dx takes the statistics over the wrong axis: batch normalization's mean and variance are per "
         "feature, over the batch (dim 0), so are the means in its gradient; you used dim 1 (per example)",
         autograd_reference(dout, x, gamma, eps, dim=1)[0]),
    ]
    wrong_axis_mean = x.mean(dim=1, keepdim=True)
    wrong_axis_std = (x.var(dim=1, unbiased=False, keepdim=True) + eps).sqrt()
    x_hat_rows = (x - wrong_axis_mean) / wrong_axis_std
    found.append(("dx takes the means in the gradient over the wrong axis: they are per feature, over the "
                  "batch (dim 0, mean(dim=0)); you used dim 1 (per example)",
                  gamma / std * (dout - dout.mean(dim=1, keepdim=True)
                                 - x_hat * (dout * x_hat).mean(dim=1, keepdim=True))))
    found.append(("dx takes the statistics over the wrong axis: batch normalization's mean and variance are "
                  "per feature, over the batch (dim 0); you used dim 1 (per example)",
                  gamma / wrong_axis_std * (dout - dout.mean(dim=1, keepdim=True)
                                            - x_hat_rows * (dout * x_hat_rows).mean(dim=1, keepdim=True))))
    return found


UNBIASED = ("uses the unbiased variance (dividing by N - 1); the forward pass normalizes with the biased "
            "batch variance, the mean of squared deviations (divide by N), and so does its gradient")
EPS_OUTSIDE = "puts eps outside the square root; the forward pass divides by sqrt(var + eps), not sqrt(var) + eps"
WRONG_AXIS = ("takes the statistics over the wrong axis: batch normalization's mean and variance are per "
              "feature, over the batch (dim 0); you used dim 1 (per example)")


def _x_hat_variants(x, eps, given_eps) -> list[tuple[str, torch.Tensor]]:
    """(diagnosis, x_hat) for the forward-pass mistakes that show in dgamma = sum(dout * x_hat)."""
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    found = [(UNBIASED, (x - mean) / (x.var(dim=0, unbiased=True) + eps).sqrt()),
             (EPS_OUTSIDE, (x - mean) / (var.sqrt() + eps)),
             (WRONG_AXIS, (x - x.mean(dim=1, keepdim=True)) / (x.var(dim=1, unbiased=False, keepdim=True) + eps).sqrt())]
    if given_eps:
        found.append((f"ignores the eps argument (it used 1e-5 where eps={eps:g} was passed); use the eps you are given",
                      (x - mean) / (var + 1e-5).sqrt()))
    return found


def _dgamma_hypotheses(dout, x, eps, given_eps) -> list[tuple[str, torch.Tensor]]:
    mean = x.mean(dim=0)
    std = (x.var(dim=0, unbiased=False) + eps).sqrt()
    x_hat = (x - mean) / std
    return [(f"dgamma {diagnosis}", (dout * variant).sum(dim=0)) for diagnosis, variant in _x_hat_variants(x, eps, given_eps)] + [
        ("dgamma is computed without x_hat: y = gamma * x_hat + beta, so dgamma = sum over the batch of "
         "dout * x_hat (the normalized input), not dout * x", (dout * x).sum(dim=0)),
        ("dgamma is computed without x_hat: y = gamma * x_hat + beta, so dgamma = sum over the batch of "
         "dout * x_hat; you used the centred x - mean without dividing by sqrt(var + eps)",
         (dout * (x - mean)).sum(dim=0)),
        ("dgamma is computed without x_hat: y = gamma * x_hat + beta, so dgamma = sum over the batch of "
         "dout * x_hat; you returned the sum of dout (that is dbeta)", dout.sum(dim=0)),
        ("dgamma is the batch mean of dout * x_hat; it should be the sum over the batch (every example "
         "contributes its own gradient)", (dout * x_hat).mean(dim=0)),
    ]


def _dbeta_hypotheses(dout) -> list[tuple[str, torch.Tensor]]:
    return [("dbeta is the batch mean of dout; it should be the sum over the batch (dim 0)", dout.mean(dim=0))]


def _compare(what: str, name: str, got: torch.Tensor, expected: torch.Tensor, hypotheses, dtype: str) -> None:
    if close(got, expected, RTOL[dtype]):
        return
    if not torch.isfinite(got.to(torch.float64)).all():
        fail(f"{what} returned NaN or inf in {name} (for example where a feature is constant over the batch); "
             f"keep eps inside the square root, sqrt(var + eps), and divide by it, never by the bare variance.")
    for diagnosis, hypothesis in hypotheses:
        if close(got, hypothesis, HYPOTHESIS_RTOL[dtype]):
            fail(f"{what}: {diagnosis}.")
    fail(f"{what}: {name} does not match autograd (float64): {first_difference(got, expected)}. "
         f"Derive it on the graph x -> mean, var -> x_hat -> y, one node at a time, and check each step.")


def _tensors(returned, what: str, x_shape: tuple, dtype: str) -> tuple:
    require_no_error(returned, what)
    kind = wire.kind(returned)
    if kind not in {"tuple", "list"}:
        fail(f"{what} returned {wire.describe(returned)}; return a tuple of three tensors (dx, dgamma, dbeta).")
    items = wire.items(returned)
    require(len(items) == 3, f"{what} returned {len(items)} values; return exactly three: (dx, dgamma, dbeta).")
    for name, item in zip(("dx", "dgamma", "dbeta"), items):
        if wire.kind(item) != "tensor" or item.get("numpy"):
            fail(f"{what} returned {wire.describe(item)} as {name}; return torch tensors (keep the whole "
                 f"computation in torch, no .numpy(), .item() or .tolist()).")
    n, d = x_shape
    shapes = [tuple(item["shape"]) for item in items]
    if shapes == [(d,), (d,), (n, d)] and (n, d) != (d,):
        fail(f"{what} returned (dgamma, dbeta, dx); return them in the order (dx, dgamma, dbeta).")
    require(shapes[0] == (n, d), f"{what} returned dx of shape {shapes[0]}; expected {(n, d)}, the shape of x.")
    for name, shape in zip(("dgamma", "dbeta"), shapes[1:]):
        if shape == (n,) and n != d:
            fail(f"{what} returned {name} of shape {shape}: you summed over the features (dim 1); gamma and "
                 f"beta are per feature, so sum over the batch (dim 0), giving shape {(d,)}.")
        require(shape == (d,), f"{what} returned {name} of shape {shape}; expected {(d,)}, one value per "
                               f"feature (sum over the batch, dim 0, without keepdim).")
    for name, item in zip(("dx", "dgamma", "dbeta"), items):
        require(item["dtype"] == dtype, f"{what} returned {name} as {item['dtype']} for a {dtype} x; keep x's "
                                        f"dtype (don't convert with .float(), .double() or a new torch.tensor).")
    return tuple(wire.as_tensor(item) for item in items)


def judge(cases: dict, evidence: dict) -> list[str]:
    labels = []
    for case, result in wire.per_case(cases, evidence, "results"):
        dout, x, gamma = (wire.as_tensor(case[name]) for name in ("dout", "x", "gamma"))
        eps = 1e-5 if case["eps"] is None else case["eps"]
        dtype = wire.dtype_name(case["x"])
        what = f"{NAME}(dout, x, gamma{'' if case['eps'] is None else f', eps={eps:g}'}) {case['label']}"
        calls = wire.field(result, "calls")
        if calls:
            call_name = str(calls[0])[:80]
            require_not_grader_code(what, call_name)
            if any(word in call_name for word in ("backward", "grad", "dual")):
                fail(f"{what} called {call_name}: autograd is what this exercise checks you against; compute "
                     f"dx, dgamma and dbeta yourself from the chain rule, with tensor operations.")
            fail(f"{what} called {call_name}, a PyTorch normalization built-in; recompute the forward "
                 f"quantities (mean, var, x_hat) yourself with tensor operations.")
        dx, dgamma, dbeta = _tensors(wire.field(result, "returned"), what, tuple(x.shape), dtype)
        after = wire.field(result, "after")
        for name, original in (("dout", dout), ("x", x), ("gamma", gamma)):
            changed = wire.as_tensor(wire.field(after, name))
            require(changed.shape == original.shape and torch.equal(changed, original),
                    f"{what} changed its input {name} in place; leave it unchanged and build new tensors "
                    f"(x - mean, not x -= mean or x.sub_(mean)).")
        x64, gamma64, dout64 = x.to(torch.float64), gamma.to(torch.float64), dout.to(torch.float64)
        ref_dx, ref_dgamma, ref_dbeta = autograd_reference(dout64, x64, gamma64, eps)
        _compare(what, "dbeta", dbeta, ref_dbeta, _dbeta_hypotheses(dout64), dtype)
        _compare(what, "dgamma", dgamma, ref_dgamma, _dgamma_hypotheses(dout64, x64, eps, case["eps"] is not None), dtype)
        dx_hypotheses = _dx_hypotheses(dout64, x64, gamma64, eps)
        if case["eps"] is not None:
            dx_hypotheses.append((f"dx ignores the eps argument (it used 1e-5 where eps={eps:g} was passed); "
                                  f"use the eps you are given",
                                  autograd_reference(dout64, x64, gamma64, 1e-5)[0]))
        _compare(what, "dx", dx, ref_dx, dx_hypotheses, dtype)
        labels.append(case["label"].removeprefix("on ").removeprefix("with "))
    return [f"{NAME} matches autograd (float64 reference) for dx, dgamma and dbeta: " + "; ".join(labels),
            f"{NAME} uses no autograd and no normalization built-in, and leaves dout, x and gamma unchanged"]


visible, hidden = notebook_checks(__name__)
