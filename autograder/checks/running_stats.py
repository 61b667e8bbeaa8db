"""Checks for ``update_running_stats(running_mean, running_var, x, momentum=0.1)`` (lesson 02_normalization_math).

Returns (new_running_mean, new_running_var) with PyTorch's convention
new = (1 - momentum) * old + momentum * batch statistic, running_var from the unbiased batch
variance.  Judged against the buffers of ``nn.BatchNorm1d`` after one training-mode forward.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.checks import call_learner, fail, lookup, passed, require
from autograder.checks.bn_forward import (PRELUDE, _probe, documented_example_2d, one_thread,
                                          require_unchanged)

__all__ = ["PRELUDE", "visible", "hidden"]

NAME = "update_running_stats"


def torch_running_stats(running_mean, running_var, x, momentum):
    """nn.BatchNorm1d's buffers after one training-mode forward of x, starting from the given ones."""
    layer = nn.BatchNorm1d(x.shape[1], momentum=momentum).to(x.dtype).train()
    with torch.no_grad(), one_thread():
        layer.running_mean.copy_(running_mean)
        layer.running_var.copy_(running_var)
        layer(x)
    return layer.running_mean.clone(), layer.running_var.clone()


def _result_pair(result, what: str, like: torch.Tensor):
    __tracebackhide__ = True
    if type(result) not in (tuple, list) or len(result) != 2:
        fail(f"{what} returned a {type(result).__name__}; return a pair "
             f"(new_running_mean, new_running_var), e.g. return new_mean, new_var.")
    pair = []
    for name, value in zip(("new_running_mean", "new_running_var"), result):
        if type(value) is not torch.Tensor:
            fail(f"{what} returned {name} as a {type(value).__name__}; return torch tensors.")
        require(tuple(value.shape) == tuple(like.shape),
                f"{what} returned {name} of shape {tuple(value.shape)}; expected {tuple(like.shape)}, "
                f"one value per feature (take the statistics over the batch, dim 0).")
        require(value.dtype == like.dtype,
                f"{what} returned {name} as {value.dtype} for {like.dtype} inputs; keep the inputs' dtype.")
        pair.append(torch.as_tensor(value).detach().clone().to("cpu", torch.float64))
    return pair


def _close(a, b, atol):
    return bool(torch.allclose(a.to(torch.float64), b.to(torch.float64), atol=atol, rtol=1e-5))


def check_update(fn, running_mean, running_var, x, momentum=None, atol=1e-5, label=""):
    """Call the learner on copies; compare with nn.BatchNorm1d's buffers; diagnose the usual slips."""
    __tracebackhide__ = True
    args = (running_mean.clone(), running_var.clone(), x.clone())
    what = f"{NAME}(running_mean, running_var, x{'' if momentum is None else f', momentum={momentum:g}'}){label}"
    if momentum is None:
        result = call_learner(fn, *args, what=what)
    else:
        result = call_learner(fn, *args, momentum=momentum, what=what)
    require_unchanged(x, args[2], "x", what)
    for name, original, after in (("running_mean", running_mean, args[0]), ("running_var", running_var, args[1])):
        require(torch.equal(after, original),
                f"{what} changed its input {name} in place; leave the old running statistics "
                f"unchanged and return new tensors.")
    new_mean, new_var = _result_pair(result, what, running_mean)
    m = 0.1 if momentum is None else momentum
    expected_mean, expected_var = torch_running_stats(running_mean, running_var, x, m)
    mean_ok, var_ok = _close(new_mean, expected_mean, atol), _close(new_var, expected_var, atol)
    if mean_ok and var_ok:
        return new_mean, new_var
    x64 = x.to(torch.float64)
    if 0.0 < m < 1.0:
        flipped_mean, flipped_var = torch_running_stats(running_mean, running_var, x, 1.0 - m)
        if _close(new_mean, flipped_mean, atol) and abs(m - 0.5) > 1e-9:
            fail(f"{what} weighted the old running value by momentum; PyTorch's convention is "
                 f"new = (1 - momentum) * old + momentum * batch statistic (with momentum={m:g}, "
                 f"the batch gets weight {m:g}). The paper and CS231n write it the other way round.")
    if not mean_ok:
        fail(f"{what} returned running_mean {[round(v, 5) for v in new_mean.tolist()]}; "
             f"nn.BatchNorm1d gives {[round(v, 5) for v in expected_mean.tolist()]}. Use "
             f"(1 - momentum) * running_mean + momentum * (the batch mean of each feature, over dim 0).")
    biased = (1 - m) * running_var.to(torch.float64) + m * x64.var(dim=0, unbiased=False)
    if _close(new_var, biased, atol):
        fail(f"{what} updated running_var with the biased batch variance; PyTorch normalizes with "
             f"the biased variance but updates running_var with the unbiased one "
             f"(x.var(dim=0, unbiased=True), dividing by N - 1).")
    if _close(new_var, (1 - m) * running_var.to(torch.float64) + m * x64.std(dim=0, unbiased=True), atol):
        fail(f"{what} updated running_var with the standard deviation; use the unbiased variance "
             f"(the square of the std).")
    fail(f"{what} returned running_var {[round(v, 5) for v in new_var.tolist()]}; nn.BatchNorm1d gives "
         f"{[round(v, 5) for v in expected_var.tolist()]}. Use (1 - momentum) * running_var + "
         f"momentum * (the unbiased batch variance of each feature).")


def visible(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    # PyTorch's documented (4, 3, 4) example as (16, 3) rows, from the initial buffers 0 and 1.
    x = documented_example_2d()
    new_mean, new_var = check_update(fn, torch.zeros(3), torch.ones(3), x,
                                     label=" on PyTorch's documented example")
    passed(f"{NAME} reproduces PyTorch's documented example: running_mean "
           f"{[round(v, 4) for v in new_mean.tolist()]}, running_var {[round(v, 4) for v in new_var.tolist()]}")
    x = _probe(16, 4, seed=20, mean=[1.0, -2.0, 0.5, 3.0], std=[1.0, 2.0, 0.5, 3.0])
    running_mean, running_var = torch.tensor([0.5, -1.0, 0.0, 2.0]), torch.tensor([1.5, 3.0, 0.2, 8.0])
    check_update(fn, running_mean, running_var, x, momentum=0.3)
    passed(f"{NAME} matches nn.BatchNorm1d's running buffers with momentum=0.3 and leaves its inputs unchanged")


def hidden(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    running_mean, running_var = torch.tensor([0.2, -0.4, 1.0]), torch.tensor([0.9, 2.0, 0.5])
    x = _probe(8, 3, seed=21, std=[1.0, 2.0, 3.0])
    x[:, 2] = -1.5                                                     # a constant feature column
    check_update(fn, running_mean, running_var, x, label=" with a constant feature column")
    x = _probe(2, 3, seed=22, std=2.0)
    check_update(fn, running_mean, running_var, x, momentum=0.05, label=" with a batch of 2")
    x = _probe(64, 2, seed=23, dtype=torch.float64, mean=[5.0, 1e3], std=[1e-3, 1e4])
    check_update(fn, torch.tensor([4.0, 0.0], dtype=torch.float64), torch.tensor([1e-6, 1e8], dtype=torch.float64),
                 x, momentum=0.1, atol=1e-9, label=" (float64, tiny and huge variances)")
    x = _probe(32, 3, seed=24, std=[1e4, 1.0, 3e3])
    check_update(fn, torch.zeros(3), torch.ones(3), x, momentum=0.9, atol=1e-1, label=" (huge variances)")
    check_update(fn, running_mean, running_var, _probe(16, 3, seed=25), momentum=1.0, label=" with momentum=1")
    check_update(fn, running_mean, running_var, _probe(16, 3, seed=26), momentum=0.0, label=" with momentum=0")
    passed(f"{NAME} handles a constant column, a batch of 2, float64, tiny and huge variances, and momentum 0 and 1")
