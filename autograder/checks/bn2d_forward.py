"""Checks for ``batchnorm2d_forward(x, gamma, beta, eps=1e-5) -> y`` (lesson 06_backward_and_alternatives).

Contract: x has shape (N, C, H, W) with N * H * W >= 2, gamma and beta (C,); y has x's shape
and dtype: training-mode BatchNorm2d, each channel normalized with its mean and biased
variance over (N, H, W) together, eps inside the square root, then gamma * x_hat + beta per
channel.  No running statistics are checked.  From scratch: normalization built-ins are
refused while the function runs (evidence the learner could forge by switching the modes
off); x, gamma and beta are left unchanged.

The judge's reference is ``F.batch_norm`` in training mode, in float64, on the judge's own
tensors; the typical mistakes (statistics over the wrong axes, i.e. another normalization;
channels mixed by a reshape; gamma and beta along the width; the unbiased variance; eps
outside the square root) are tried on the same inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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

NAME = "batchnorm2d_forward"
RTOL = {"float64": 1e-9, "float32": 1e-5}
HYPOTHESIS_RTOL = {"float64": 1e-6, "float32": 1e-4}


def _case(label, generator, shape, *, mean=0.0, std=1.0, eps=None, dtype=torch.float64, constant_channel=None):
    n, c, h, w = shape
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    x = x * torch.as_tensor(std, dtype=torch.float64).reshape(-1, 1, 1) + \
        torch.as_tensor(mean, dtype=torch.float64).reshape(-1, 1, 1)
    if constant_channel is not None:
        x[:, constant_channel] = -2.0
    gamma = 0.5 + 1.5 * torch.rand(c, generator=generator, dtype=torch.float64)
    beta = torch.randn(c, generator=generator, dtype=torch.float64)
    return {"label": label, "x": wire.tensor(x.to(dtype)), "gamma": wire.tensor(gamma.to(dtype)),
            "beta": wire.tensor(beta.to(dtype)), "eps": eps}


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(int(seed) % 2**63)
    if not hidden:
        made = [
            _case("on a (4, 3, 5, 5) float32 batch", generator, (4, 3, 5, 5), mean=[0.0, 5.0, -2.0],
                  std=[1.0, 3.0, 0.5], dtype=torch.float32),
            _case("on one image of shape (1, 2, 3, 4)", generator, (1, 2, 3, 4), mean=1.0, std=2.0),
            _case("on a (2, 3, 4, 3) batch (as many channels as columns)", generator, (2, 3, 4, 3), mean=[1.0, -1.0, 4.0]),
        ]
    else:
        made = [
            _case("on an (8, 4, 3, 3) batch", generator, (8, 4, 3, 3), mean=[2.0, 0.0, -3.0, 10.0], std=[1.0, 2.0, 0.3, 4.0]),
            _case("with H = W = 1", generator, (6, 3, 1, 1), mean=1.0, std=[1.0, 2.0, 3.0]),
            _case("on one (1, 3, 7, 5) image", generator, (1, 3, 7, 5), mean=[0.0, 1.0, 2.0]),
            _case("with a constant channel", generator, (4, 3, 2, 2), constant_channel=2),
            _case("with eps=0.1", generator, (3, 2, 3, 3), std=0.3, eps=0.1),
            _case("on a (3, 5, 2, 5) batch (as many channels as columns)", generator, (3, 5, 2, 5),
                  mean=[0.0, 1.0, 2.0, 3.0, 4.0]),
            _case("with channels of tiny variance (float64, mean 5, std 1e-3)", generator, (16, 2, 4, 4),
                  mean=[5.0, -5.0], std=[1e-3, 1e-2]),
            _case("with channels of huge variance (float32)", generator, (4, 2, 4, 4), std=[1e4, 3e3],
                  dtype=torch.float32),
        ]
    return {"cases": made}


def collect(namespace: dict, cases: dict) -> dict:
    fn = lookup(namespace, NAME)
    results = []
    for case in cases["cases"]:
        x, gamma, beta = (wire.as_tensor(case[name]) for name in ("x", "gamma", "beta"))
        given = (x.clone(), gamma.clone(), beta.clone())
        calls: list[str] = []
        with refusing(calls, autograd=False):
            if case["eps"] is None:
                returned, error = call(fn, *given)
            else:
                returned, error = call(fn, *given, eps=case["eps"])
        results.append({"returned": error if error is not None else wire.value(returned), "calls": calls[:5],
                        "after": {name: wire.tensor(t) for name, t in zip(("x", "gamma", "beta"), given)}})
    return {"results": results}


def _normalize(x, dims, eps, unbiased=False, eps_outside=False):
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=unbiased, keepdim=True)
    return (x - mean) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt())


def _hypotheses(x, gamma, beta, eps, given_eps):
    n, c, h, w = x.shape
    per_channel = lambda t: t.view(1, -1, 1, 1)  # noqa: E731
    affine = lambda x_hat: per_channel(gamma) * x_hat + per_channel(beta)  # noqa: E731
    found = []
    if n > 1:
        found.append(("normalizes each position of each channel separately (statistics over the batch, "
                      "dim 0, only); BatchNorm2d's statistics are per channel over the batch and all "
                      "positions together, dim=(0, 2, 3)", affine(_normalize(x, (0,), eps))))
    found += [
        ("normalizes each image over all its channels and positions (dim=(1, 2, 3)): that is LayerNorm; "
         "BatchNorm2d's statistics are per channel over the batch and the positions, dim=(0, 2, 3)",
         affine(_normalize(x, (1, 2, 3), eps))),
        ("normalizes each image and channel over its positions only (dim=(2, 3)): that is InstanceNorm; "
         "BatchNorm2d's statistics also run over the batch, dim=(0, 2, 3)", affine(_normalize(x, (2, 3), eps))),
        ("reshapes x to (-1, C) directly, which mixes channels (in memory the channel axis is not last); "
         "reduce over dim=(0, 2, 3) instead, or move the channels last first: x.permute(0, 2, 3, 1).reshape(-1, C)",
         (gamma * _normalize(x.reshape(-1, c), (0,), eps) + beta).reshape(n, c, h, w)),
        ("uses the unbiased variance (dividing by N*H*W - 1); BatchNorm2d normalizes with the biased variance, "
         "the mean of squared deviations", affine(_normalize(x, (0, 2, 3), eps, unbiased=True))),
        ("puts eps outside the square root; the denominator is sqrt(var + eps), not sqrt(var) + eps",
         affine(_normalize(x, (0, 2, 3), eps, eps_outside=True))),
        ("ignores gamma and beta: return gamma * x_hat + beta, with gamma and beta shaped (1, C, 1, 1)",
         _normalize(x, (0, 2, 3), eps)),
    ]
    if w == c:
        found.append(("applies gamma and beta along the last axis (the width): a (C,) tensor broadcasts "
                      "against the last dimension; reshape them to (1, C, 1, 1) (gamma.view(1, -1, 1, 1))",
                      gamma * _normalize(x, (0, 2, 3), eps) + beta))
    if given_eps:
        found.append((f"ignores its eps argument (it used 1e-5 where eps={eps:g} was passed)",
                      affine(_normalize(x, (0, 2, 3), 1e-5))))
    return found


def judge(cases: dict, evidence: dict) -> list[str]:
    labels = []
    for case, result in wire.per_case(cases, evidence, "results"):
        x, gamma, beta = (wire.as_tensor(case[name]) for name in ("x", "gamma", "beta"))
        eps = 1e-5 if case["eps"] is None else case["eps"]
        dtype = wire.dtype_name(case["x"])
        what = f"{NAME}(x, gamma, beta{'' if case['eps'] is None else f', eps={eps:g}'}) {case['label']}"
        calls = wire.field(result, "calls")
        if calls:
            require_not_grader_code(what, str(calls[0])[:80])
            fail(f"{what} called {str(calls[0])[:80]}, a PyTorch normalization built-in; compute the mean and "
                 f"variance yourself with tensor operations (mean over several dims, arithmetic, sqrt).")
        returned = wire.field(result, "returned")
        if wire.kind(returned) == "error" and "must match the size of tensor" in str(returned.get("message")):
            fail(f"{what} raised {returned.get('type')}: {returned.get('message')}. A tensor of shape (C,) "
                 f"broadcasts against the last dimension (the width) of an (N, C, H, W) tensor; reshape gamma, "
                 f"beta and the per-channel statistics to (1, C, 1, 1), or use keepdim=True.")
        require_no_error(returned, what)
        if wire.kind(returned) != "tensor" or returned.get("numpy"):
            fail(f"{what} returned {wire.describe(returned)}; return a torch.Tensor of x's shape.")
        require(tuple(returned["shape"]) == tuple(x.shape),
                f"{what} returned shape {tuple(returned['shape'])}; expected {tuple(x.shape)}, the shape of x "
                f"(keep the (N, C, H, W) layout).")
        require(returned["dtype"] == dtype, f"{what} returned {returned['dtype']} for a {dtype} x; keep x's dtype.")
        after = wire.field(result, "after")
        for name, original in (("x", x), ("gamma", gamma), ("beta", beta)):
            changed = wire.as_tensor(wire.field(after, name))
            require(changed.shape == original.shape and torch.equal(changed, original),
                    f"{what} changed its input {name} in place; leave it unchanged and build new tensors "
                    f"(x - mean, not x -= mean).")
        got = wire.as_tensor(returned)
        x64, gamma64, beta64 = (t.to(torch.float64) for t in (x, gamma, beta))
        expected = F.batch_norm(x64, None, None, weight=gamma64, bias=beta64, training=True, eps=eps)
        if not close(got, expected, RTOL[dtype]):
            if not torch.isfinite(got.to(torch.float64)).all():
                fail(f"{what} returned NaN or inf (for example for a constant channel); keep eps inside the "
                     f"square root: (x - mean) / torch.sqrt(var + eps).")
            for diagnosis, hypothesis in _hypotheses(x64, gamma64, beta64, eps, case["eps"] is not None):
                if close(got, hypothesis, HYPOTHESIS_RTOL[dtype]):
                    fail(f"{what} {diagnosis}.")
            fail(f"{what} does not match nn.BatchNorm2d in training mode: {first_difference(got, expected)}. "
                 f"Per channel: mean and biased variance over (N, H, W), eps inside the square root, then "
                 f"that channel's gamma and beta.")
        labels.append(case["label"].removeprefix("on ").removeprefix("with "))
    return [f"{NAME} matches nn.BatchNorm2d in training mode: " + "; ".join(labels),
            f"{NAME} calls no normalization built-in and leaves x, gamma and beta unchanged"]


visible, hidden = notebook_checks(__name__)
