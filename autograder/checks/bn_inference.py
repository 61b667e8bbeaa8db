"""Checks for ``batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5) -> y`` (lesson 02).

Evaluation-mode batch normalization: normalize with the running statistics, then scale and
shift.  Judged against ``nn.BatchNorm1d`` in eval mode, with PyTorch's normalization built-ins
refused while the learner's function runs, and the inputs compared to clones.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from autograder.checks import fail, lookup, passed, require
from autograder.checks.bn_forward import (PRELUDE, _affine, _probe, as_learner_tensor, call_from_scratch,
                                          describe_difference, documented_example_2d, one_thread,
                                          require_unchanged)

__all__ = ["PRELUDE", "visible", "hidden"]

NAME = "batchnorm_inference"


def torch_eval_bn(x, running_mean, running_var, gamma, beta, eps):
    layer = nn.BatchNorm1d(x.shape[1], eps=eps).to(x.dtype).eval()
    with torch.no_grad(), one_thread():
        layer.running_mean.copy_(running_mean)
        layer.running_var.copy_(running_var)
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        return layer(x)


def _close(a, b, atol):
    return bool(torch.allclose(a.to(torch.float64), b.to(torch.float64), atol=atol, rtol=1e-5))


def check_inference(fn, x, running_mean, running_var, gamma, beta, eps=None, atol=1e-5, label=""):
    """Call the learner on copies; compare with nn.BatchNorm1d in eval mode; diagnose the usual slips."""
    __tracebackhide__ = True
    inputs = {"x": x, "running_mean": running_mean, "running_var": running_var, "gamma": gamma, "beta": beta}
    copies = {name: value.clone() for name, value in inputs.items()}
    what = (f"{NAME}(x, running_mean, running_var, gamma, beta"
            f"{'' if eps is None else f', eps={eps:g}'}){label}")
    if eps is None:
        result = call_from_scratch(fn, *copies.values(), what=what)
    else:
        result = call_from_scratch(fn, *copies.values(), eps=eps, what=what)
    for name in inputs:
        require_unchanged(inputs[name], copies[name], name, what)
    got = as_learner_tensor(result, what, x).to(torch.float64)
    e = 1e-5 if eps is None else eps
    expected = torch_eval_bn(x, running_mean, running_var, gamma, beta, e).to(torch.float64)
    if _close(got, expected, atol):
        return got
    x64, mean64, var64 = x.to(torch.float64), running_mean.to(torch.float64), running_var.to(torch.float64)
    gamma64, beta64 = gamma.to(torch.float64), beta.to(torch.float64)
    if not torch.isfinite(got).all():
        fail(f"{what} returned NaN or inf values; divide by torch.sqrt(running_var + eps).")
    if x.shape[0] > 1:
        batch_mean, batch_var = x64.mean(0), x64.var(0, unbiased=False)
        from_batch = (x64 - batch_mean) / torch.sqrt(batch_var + e) * gamma64 + beta64
        if _close(got, from_batch, 10 * atol):
            fail(f"{what} normalized with the batch's own mean and variance; at inference use the "
                 f"running_mean and running_var you are given, so each example's output does not "
                 f"depend on the rest of the batch.")
    plain = (x64 - mean64) / torch.sqrt(var64 + e)
    if _close(got, plain, atol):
        fail(f"{what} returned the normalized x_hat but ignored gamma and beta; return gamma * x_hat + beta.")
    if _close(got, (x64 - mean64) / (var64.sqrt() + e) * gamma64 + beta64, 10 * atol):
        fail(f"{what} added eps outside the square root; divide by sqrt(running_var + eps).")
    if _close(got, (x64 - mean64) / (var64 + e) * gamma64 + beta64, 10 * atol):
        fail(f"{what} divided by running_var + eps; running_var is a variance, so divide by its "
             f"square root, sqrt(running_var + eps).")
    if _close(got, (x64 - mean64) / torch.sqrt(var64 * x.shape[0] / max(x.shape[0] - 1, 1) + e) * gamma64 + beta64, 10 * atol) \
            or _close(got, (x64 - mean64) / torch.sqrt(var64 * (x.shape[0] - 1) / x.shape[0] + e) * gamma64 + beta64, 10 * atol):
        fail(f"{what} rescaled running_var by N/(N-1) or (N-1)/N; use running_var exactly as given.")
    fail(f"{what} does not match nn.BatchNorm1d in eval mode: {describe_difference(got, expected)} "
         f"(tolerance {atol:g}). Compute gamma * (x - running_mean) / sqrt(running_var + eps) + beta.")


def visible(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    x = _probe(16, 4, seed=30, mean=[0.0, 5.0, -2.0, 10.0], std=[1.0, 3.0, 0.5, 2.0])
    running_mean = torch.tensor([0.1, 4.5, -1.8, 9.0])
    running_var = torch.tensor([1.2, 8.0, 0.3, 5.0])
    gamma, beta = _affine(4, seed=31)
    check_inference(fn, x, running_mean, running_var, gamma, beta)
    passed(f"{NAME} matches nn.BatchNorm1d in eval mode on a (16, 4) batch and leaves its inputs unchanged")
    check_inference(fn, x, running_mean, running_var, gamma, beta, eps=0.5)
    passed(f"{NAME} uses its eps argument inside the square root")


def hidden(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    # One example at a time gives the same rows as the whole batch: no batch statistics.
    x = _probe(6, 3, seed=32, mean=2.0, std=3.0)
    running_mean, running_var = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 9.0, 0.25])
    gamma, beta = _affine(3, seed=33)
    whole = check_inference(fn, x, running_mean, running_var, gamma, beta, label=" on a batch of 6")
    single = check_inference(fn, x[:1], running_mean, running_var, gamma, beta, label=" on a batch of 1")
    require(torch.allclose(single, whole[:1], atol=1e-5),
            f"{NAME} gave a different output for an example alone than inside its batch; at inference "
            f"use only the running statistics.")
    check_inference(fn, _probe(2, 3, seed=34), running_mean, running_var, gamma, beta, label=" on a batch of 2")
    # A constant column, a zero running variance (eps keeps it finite), tiny and huge variances.
    x = _probe(8, 3, seed=35)
    x[:, 0] = 0.7
    check_inference(fn, x, torch.tensor([0.7, 0.0, 0.0]), torch.tensor([0.0, 1.0, 2.0]), gamma, beta,
                    atol=1e-4, label=" with a constant column and a zero running variance")
    x = _probe(32, 2, seed=36, dtype=torch.float64, mean=[5.0, 0.0], std=[1e-3, 1e4])
    gamma64, beta64 = _affine(2, seed=37, dtype=torch.float64)
    check_inference(fn, x, torch.tensor([5.0, 10.0], dtype=torch.float64), torch.tensor([1e-6, 1e8], dtype=torch.float64),
                    gamma64, beta64, atol=1e-9, label=" (float64, tiny and huge variances)")
    # PyTorch's documented example: the buffers after one training step, then eval mode.
    x = documented_example_2d()
    running_mean = torch.tensor([0.4, 0.8, 1.2])
    running_var = torch.full((3,), 0.9 + 0.1 * 8.0 / 3.0)
    y = check_inference(fn, x, running_mean, running_var, torch.ones(3), torch.zeros(3),
                        label=" on PyTorch's documented example")
    expected_first = (1.0 - 0.4) / math.sqrt(running_var[0].item() + 1e-5)
    require(abs(y[0, 0].item() - expected_first) < 1e-4,
            f"On PyTorch's documented example the first output should be {expected_first:.4f}; "
            f"you returned {y[0, 0].item():.4f}.")
    passed(f"{NAME} uses only the running statistics (an example alone gets the same output), handles "
           f"constant columns, float64, tiny and huge variances, and PyTorch's documented example")
