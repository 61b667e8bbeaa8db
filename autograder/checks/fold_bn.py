"""Checks for ``fold_batchnorm(linear, bn)`` (lesson 05_pitfalls).

Contract: returns a new ``nn.Linear`` (same in/out features, same dtype, always with a bias)
whose output equals ``bn(linear(x))`` with ``bn`` in eval mode (running statistics, eps,
affine weight and bias when present), whatever mode ``bn`` is in; ``linear`` and ``bn`` are
left unchanged (parameters, buffers, modes).

The expected outputs come from running copies of the given ``nn.Linear`` and
``nn.BatchNorm1d`` in eval mode: nothing here computes a folded layer.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import CheckFailed, call_learner, fail, lookup, passed, require

PRELUDE = (
    "import copy\n"
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)


def _pair(seed: int, in_features: int, out_features: int, *, linear_bias: bool = True,
          mean: float = 0.0, var: tuple[float, float] | None = None, eps: float = 1e-5,
          gamma: bool = False, beta: bool = False, affine: bool = True, bn_training: bool = False,
          dtype: torch.dtype = torch.float64):
    """A Linear and a BatchNorm1d with explicitly set running statistics and affine parameters.

    ``mean`` scales random running means (0 keeps them at 0); ``var`` is a (low, high) range for
    random running variances (None: all 1); ``gamma``/``beta`` make the affine weight/bias random
    (else 1 and 0).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        linear = nn.Linear(in_features, out_features, bias=linear_bias)
        bn = nn.BatchNorm1d(out_features, eps=eps, affine=affine)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(out_features, in_features, generator=generator))
        if linear_bias:
            linear.bias.copy_(torch.randn(out_features, generator=generator) * 2)
        bn.running_mean.copy_(torch.randn(out_features, generator=generator) * mean)
        if var is None:
            bn.running_var.fill_(1.0)
        else:
            low, high = var
            bn.running_var.copy_(low + (high - low) * torch.rand(out_features, generator=generator))
        bn.num_batches_tracked.fill_(50)
        if affine:
            bn.weight.copy_(torch.rand(out_features, generator=generator) * 2 + 0.2 if gamma
                            else torch.ones(out_features))
            bn.bias.copy_(torch.randn(out_features, generator=generator) if beta else torch.zeros(out_features))
    linear, bn = linear.to(dtype), bn.to(dtype)
    bn.train(bn_training)
    return linear, bn


def _snapshot(module: nn.Module) -> tuple:
    return ({name: t.detach().clone() for name, t in module.state_dict().items()}, module.training)


def _unchanged(module: nn.Module, snapshot: tuple, label: str) -> None:
    __tracebackhide__ = True
    state, training = snapshot
    now = module.state_dict()
    for name, before in state.items():
        after = now.get(name)
        if after is None or after.shape != before.shape or after.dtype != before.dtype \
                or not torch.equal(after.detach(), before):
            fail(f"fold_batchnorm changed {label}.{name}: build a new nn.Linear and leave {label} as it was "
                 f"(the original model must keep working). Compute new tensors instead of modifying "
                 f"{label}'s in place.")
    require(module.training == training,
            f"fold_batchnorm changed {label}'s mode (training was {training}, now {module.training}): "
            f"read bn.running_mean and bn.running_var directly instead of switching modes.")


def _fold(fold, linear: nn.Linear, bn: nn.BatchNorm1d, what: str, affine_hint: bool = False):
    """Call the learner's fold on (linear, bn); check the result's form; return (weight, bias) tensors."""
    __tracebackhide__ = True
    linear_before, bn_before = _snapshot(linear), _snapshot(bn)
    try:
        result = call_learner(fold, linear, bn, what=what)
    except CheckFailed as error:
        if affine_hint:
            fail(f"{error.message}. With nn.BatchNorm1d(..., affine=False), bn.weight and bn.bias are None: "
                 f"use 1 for a missing weight and 0 for a missing bias.")
        raise
    _unchanged(linear, linear_before, "linear")
    _unchanged(bn, bn_before, "bn")
    if isinstance(result, nn.Sequential):
        fail(f"{what} returned an nn.Sequential; return one nn.Linear whose weight and bias do the work of "
             f"both layers (that is the point of folding).")
    require(isinstance(result, nn.Linear),
            f"{what} returned a {type(result).__name__}; return an nn.Linear.")
    require(result is not linear,
            f"{what} returned linear itself; build a new nn.Linear so the original model keeps working.")
    weight, bias = getattr(result, "weight", None), getattr(result, "bias", None)
    require(isinstance(weight, torch.Tensor),
            f"the Linear returned by {what} has no weight tensor; create it with nn.Linear(in_features, out_features).")
    expected_shape = tuple(linear.weight.shape)
    require(tuple(weight.shape) == expected_shape,
            f"the Linear returned by {what} has a weight of shape {tuple(weight.shape)}; expected "
            f"{expected_shape} (out_features, in_features), like linear's.")
    require(isinstance(bias, torch.Tensor),
            f"the Linear returned by {what} has no bias; the folded layer needs one (bias=True) even when "
            f"linear has none, because BatchNorm's shift ends up there.")
    require(tuple(bias.shape) == (expected_shape[0],),
            f"the Linear returned by {what} has a bias of shape {tuple(bias.shape)}; expected ({expected_shape[0]},).")
    require(weight.dtype == linear.weight.dtype and bias.dtype == linear.weight.dtype,
            f"the Linear returned by {what} holds {weight.dtype} parameters but linear's are "
            f"{linear.weight.dtype}; create it with dtype=linear.weight.dtype (and device=linear.weight.device).")
    return weight.detach().clone(), bias.detach().clone()


def _inputs(seed: int, rows: int, features: int, dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, features, generator=generator) * 1.3 + 0.5).to(dtype)


def _expected(linear: nn.Linear, bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return copy.deepcopy(bn).eval()(copy.deepcopy(linear)(x))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype == torch.float64:
        return bool(torch.allclose(a, b, atol=1e-9, rtol=1e-9))
    return bool(torch.allclose(a, b, atol=1e-5, rtol=1e-4))


def _compare(fold, linear, bn, x, what: str, message: str, affine_hint: bool = False) -> None:
    __tracebackhide__ = True
    expected = _expected(linear, bn, x)
    weight, bias = _fold(fold, linear, bn, what, affine_hint=affine_hint)
    got = F.linear(x, weight, bias)
    if not _close(got, expected):
        gap = (got - expected).abs().max().item()
        fail(f"{message} (largest difference {gap:.3g})")


# One ingredient of the fold at a time (square layers, float64): the first that fails names the mistake.
_PROBES = (
    ("scale", dict(var=(0.2, 5.0), eps=0.0), None),
    ("eps", dict(eps=0.5), "with running_var = 1 and eps = 0.5, BatchNorm divides by sqrt(running_var + eps) "
                           "= sqrt(1.5), eps inside the square root; your folded layer does not. Use bn.eps."),
    ("mean", dict(mean=1.5), "with non-zero running_mean, the folded layer does not match: BatchNorm "
                             "subtracts running_mean before scaling, so the folded bias must include "
                             "-running_mean * scale."),
    ("gamma", dict(gamma=True), "with a BatchNorm weight (gamma) other than 1, the folded layer does not "
                                "match: multiply the scale by bn.weight, scale = bn.weight / sqrt(running_var + eps)."),
    ("beta", dict(beta=True), "with a BatchNorm bias (beta) other than 0, the folded layer does not match: "
                              "add bn.bias to the folded bias."),
    ("linear bias", dict(linear_bias=True), "when linear has a bias, the folded layer does not match: "
                                            "linear.bias passes through BatchNorm too, so the folded bias "
                                            "is (linear.bias - running_mean) * scale + beta."),
)


def _probe(fold) -> None:
    __tracebackhide__ = True
    for index, (name, options, message) in enumerate(_PROBES):
        settings = dict(linear_bias=False)
        settings.update(options)
        linear, bn = _pair(100 + index, 6, 6, **settings)
        x = _inputs(200 + index, 9, 6, torch.float64)
        what = f"fold_batchnorm(linear, bn) [probe: {name}]"
        expected = _expected(linear, bn, x)
        weight, bias = _fold(fold, linear, bn, what)
        got = F.linear(x, weight, bias)
        if _close(got, expected):
            continue
        if name == "scale":
            scale = 1 / bn.running_var.sqrt()
            columns = F.linear(x * scale, linear.weight)
            if _close(got, columns):
                fail("the folded weight is scaled along its columns (input features) instead of its rows "
                     "(output features): BatchNorm scales output feature j, which is row j of the weight. "
                     "Use scale[:, None] * linear.weight (or scale.unsqueeze(1)), not linear.weight * scale.")
            fail("with running_mean 0, gamma 1 and beta 0, BatchNorm divides output feature j by "
                 "sqrt(running_var[j] + eps); your folded layer does not. Multiply row j of linear.weight "
                 "by 1 / sqrt(running_var[j] + eps) (a square root of the variance, not the variance).")
        gap = (got - expected).abs().max().item()
        fail(f"{message} (largest difference {gap:.3g})")


def visible(namespace):
    fold = lookup(namespace, "fold_batchnorm")
    _probe(fold)
    linear, bn = _pair(1, 20, 64, mean=0.8, var=(0.3, 3.0), gamma=True, beta=True, dtype=torch.float32)
    x = _inputs(2, 32, 20, torch.float32)
    _compare(fold, linear, bn, x, "fold_batchnorm(Linear(20, 64), BatchNorm1d(64))",
             "fold_batchnorm(Linear(20, 64), BatchNorm1d(64)) does not match bn(linear(x)) with bn in eval mode")
    passed("the folded Linear matches Linear(20, 64) followed by BatchNorm1d(64) in eval mode")


def hidden(namespace):
    fold = lookup(namespace, "fold_batchnorm")
    # float64, linear without bias, a larger eps, and a BN that is in training mode.
    linear, bn = _pair(3, 12, 7, linear_bias=False, mean=2.0, var=(0.01, 4.0), eps=1e-3, gamma=True,
                       beta=True, bn_training=True)
    x = _inputs(4, 25, 12, torch.float64)
    _compare(fold, linear, bn, x, "fold_batchnorm(Linear(12, 7, bias=False), bn) (float64, bn in training mode)",
             "with a float64 Linear(12, 7, bias=False) and a BatchNorm1d in training mode, the folded layer "
             "does not match bn(linear(x)) in eval mode; fold with the running statistics whatever bn's mode")
    passed("float64, bias=False, eps=1e-3, bn in training mode: running statistics are used")

    # A BatchNorm without affine parameters (bn.weight and bn.bias are None).
    linear, bn = _pair(5, 10, 10, mean=1.0, var=(0.2, 3.0), affine=False)
    x = _inputs(6, 15, 10, torch.float64)
    _compare(fold, linear, bn, x, "fold_batchnorm(linear, BatchNorm1d(10, affine=False))",
             "with nn.BatchNorm1d(10, affine=False) the folded layer does not match: there is no gamma/beta, "
             "so use scale = 1 / sqrt(running_var + eps) and no beta", affine_hint=True)
    passed("BatchNorm1d(affine=False) folds too")

    # The result is an ordinary, independent nn.Linear that runs by itself.
    linear, bn = _pair(7, 5, 3, mean=0.5, var=(0.5, 2.0), gamma=True, beta=True, dtype=torch.float32)
    result = call_learner(fold, linear, bn, what="fold_batchnorm(linear, bn)")
    x = _inputs(8, 4, 5, torch.float32)
    y = call_learner(result, x, what="calling the folded Linear on x")
    require(type(y) is torch.Tensor and tuple(y.shape) == (4, 3),
            "calling the folded Linear on x (4, 5) did not give a (4, 3) tensor; return an ordinary nn.Linear.")
    require(_close(y.detach(), _expected(linear, bn, x)),
            "calling the folded Linear does not give bn(linear(x)); return an ordinary nn.Linear holding the "
            "folded weight and bias.")
    with torch.no_grad():
        result.weight.add_(1.0)
    require(not torch.equal(linear.weight.detach(), result.weight.detach()),
            "the folded Linear's weight is linear's own weight tensor; give it new tensors so changing one "
            "layer does not change the other.")
    passed("the result is an independent nn.Linear")
