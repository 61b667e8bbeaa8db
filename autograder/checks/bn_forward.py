"""Checks for ``batchnorm_forward(x, gamma, beta, eps=1e-5) -> y`` (lesson 02_normalization_math).

Training-mode batch normalization of x of shape (N, D) over the batch, written from scratch.
Judged against ``nn.BatchNorm1d`` in training mode, with PyTorch's normalization built-ins made
to raise (and recorded) while the learner's function runs, and with x compared to a clone.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from utils.device import one_thread
from autograder.checks import CheckFailed, call_learner, fail, lookup, passed, require

PRELUDE = (
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
    "from utils.device import get_device, seed_everything\n"
    "device = get_device()\n"
)

NAME = "batchnorm_forward"

# --------------------------------------------------------------------------------------------
# Normalization built-ins: made to raise while learner code runs (shared with bn_inference).
# --------------------------------------------------------------------------------------------
_KERNEL_WORDS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm")


class ForbiddenBuiltin(RuntimeError):
    """Raised by a normalization built-in while the learner's function runs."""


def _module_forwards() -> list[tuple[type, object]]:
    """(class, original forward) for every torch.nn normalization layer class that defines forward."""
    classes = set()
    for value in vars(nn).values():
        if isinstance(value, type) and issubclass(value, nn.Module) and "Norm" in value.__name__:
            for klass in value.__mro__:
                if klass.__module__.startswith("torch.nn.modules") and "Norm" in klass.__name__:
                    classes.add(klass)
    return [(klass, klass.__dict__["forward"]) for klass in classes if "forward" in klass.__dict__]


def _function_targets() -> list[tuple[object, str]]:
    """(owner, attribute) pairs for the functional normalization built-ins."""
    targets = []
    for owner, names in ((F, dir(F)), (torch, dir(torch))):
        for name in names:
            if any(word in name for word in _KERNEL_WORDS) or name == "local_response_norm":
                if callable(getattr(owner, name, None)):
                    targets.append((owner, name))
    return targets


class _KernelWatch(TorchDispatchMode):
    """Records (and refuses) normalization kernels reached by any route, e.g. torch.ops.aten."""

    def __init__(self, calls: list[str]):
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__
        if any(word in name for word in _KERNEL_WORDS):
            self.calls.append(f"torch.ops.aten.{name.split('.')[0]}")
            raise ForbiddenBuiltin(f"{name} is a normalization built-in; it is not allowed here")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid_normalization_builtins(calls: list[str]) -> Iterator[None]:
    """While active, PyTorch's normalization built-ins raise ForbiddenBuiltin and are appended to ``calls``.

    Covers torch.nn.functional.{batch,layer,instance,group,rms}_norm, torch.batch_norm,
    torch.native_batch_norm and friends, and the forward of every nn.*Norm* layer; a dispatch
    mode catches the same kernels reached any other way.  Everything is restored in ``finally``.
    """
    saved_functions = [(owner, name, getattr(owner, name)) for owner, name in _function_targets()]
    saved_forwards = _module_forwards()

    def refusing(label):
        def refuse(*args, **kwargs):
            calls.append(label)
            raise ForbiddenBuiltin(f"{label} is a normalization built-in; it is not allowed here")
        return refuse

    def refusing_forward():
        def refuse(module, *args, **kwargs):
            label = f"nn.{type(module).__name__}"
            calls.append(label)
            raise ForbiddenBuiltin(f"{label} is a normalization built-in; it is not allowed here")
        return refuse

    try:
        for owner, name, _ in saved_functions:
            prefix = "torch.nn.functional" if owner is F else "torch"
            setattr(owner, name, refusing(f"{prefix}.{name}"))
        for klass, _ in saved_forwards:
            klass.forward = refusing_forward()
        with _KernelWatch(calls):
            yield
    finally:
        for owner, name, original in saved_functions:
            setattr(owner, name, original)
        for klass, original in saved_forwards:
            klass.forward = original


def call_from_scratch(function, *args, what: str, **kwargs):
    """call_learner, with normalization built-ins refused; a refused call becomes its own diagnosis."""
    __tracebackhide__ = True
    calls: list[str] = []
    try:
        with forbid_normalization_builtins(calls):
            result = call_learner(function, *args, what=what, **kwargs)
    except CheckFailed:
        if calls:
            fail(f"{what} called {calls[0]}, a PyTorch normalization built-in; compute the "
                 f"normalization yourself with tensor operations "
                 f"(mean, var, sqrt, arithmetic).")
        raise
    if calls:
        fail(f"{what} called {calls[0]} (and caught the error it raised); compute the normalization "
             f"yourself with tensor operations instead of calling a normalization built-in.")
    return result


def as_learner_tensor(result, what: str, like: torch.Tensor) -> torch.Tensor:
    """The learner's result as a tensor we can trust, or a diagnosis about its type, shape or dtype."""
    __tracebackhide__ = True
    if type(result) is not torch.Tensor:
        kind = type(result).__module__ + "." + type(result).__name__ if type(result).__module__ != "builtins" else type(result).__name__
        fail(f"{what} returned a {kind}; return a torch.Tensor (keep the whole computation in torch, "
             f"no .numpy() or .tolist()).")
    require(tuple(result.shape) == tuple(like.shape),
            f"{what} returned shape {tuple(result.shape)}; expected {tuple(like.shape)}, the same shape as x.")
    require(result.dtype == like.dtype,
            f"{what} returned dtype {result.dtype} for a {like.dtype} x; keep x's dtype "
            f"(don't convert with .float() or a new torch.tensor).")
    return torch.as_tensor(result).detach().clone().to("cpu")


def require_unchanged(original: torch.Tensor, after: torch.Tensor, name: str, what: str) -> None:
    """Fail when the learner changed one of our input tensors in place."""
    __tracebackhide__ = True
    require(after.shape == original.shape and torch.equal(after, original),
            f"{what} changed its input {name} in place; leave {name} unchanged and build new tensors "
            f"(use x - mean, not x -= mean or x.sub_(mean)).")


def describe_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    difference = (got.to(torch.float64) - expected.to(torch.float64)).abs()
    difference = torch.nan_to_num(difference, nan=math.inf)
    index = tuple(int(i) for i in torch.nonzero(difference == difference.max())[0])
    return (f"at [{', '.join(map(str, index))}] you returned {got[index].item():.6g} where "
            f"nn.BatchNorm1d gives {expected[index].item():.6g}")


# --------------------------------------------------------------------------------------------
# The expected values come from nn.BatchNorm1d in training mode.
# --------------------------------------------------------------------------------------------
def torch_training_bn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    layer = nn.BatchNorm1d(x.shape[1], eps=eps).to(x.dtype).train()
    with torch.no_grad(), one_thread():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        return layer(x)


def _close(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float = 1e-5) -> bool:
    return bool(torch.allclose(got.to(torch.float64), expected.to(torch.float64), atol=atol, rtol=rtol))


def _diagnose(fn, got, x, gamma, beta, eps, expected, atol, what):
    """A plain-words reason why got differs from training-mode BN (called only when it does)."""
    __tracebackhide__ = True
    x64, gamma64, beta64 = x.to(torch.float64), gamma.to(torch.float64), beta.to(torch.float64)
    got64, expected64 = got.to(torch.float64), expected.to(torch.float64)
    n = x.shape[0]
    if not torch.isfinite(got64).all():
        fail(f"{what} returned NaN or inf values (for example where a feature has zero variance); "
             f"add eps inside the square root: (x - mean) / torch.sqrt(var + eps).")
    plain = torch_training_bn(x64, torch.ones_like(gamma64), torch.zeros_like(beta64), eps)
    if _close(got64, plain, atol):
        fail(f"{what} returned the normalized x_hat but ignored gamma and beta; "
             f"return gamma * x_hat + beta.")
    hat = (expected64 - beta64) / gamma64
    if n > 1 and _close(got64, hat * math.sqrt((n - 1) / n) * gamma64 + beta64, 10 * atol, 1e-4):
        fail(f"{what} divided by the unbiased standard deviation (dividing by N - 1); batch "
             f"normalization uses the biased batch variance, the mean of squared deviations "
             f"(x.var(dim=0, unbiased=False)).")
    mean = x64.mean(dim=0)
    var = x64.var(dim=0, unbiased=False)
    outside = (x64 - mean) / (var.sqrt() + eps) * gamma64 + beta64
    if _close(got64, outside, 10 * atol, 1e-4):
        fail(f"{what} added eps outside the square root; the denominator is sqrt(var + eps), "
             f"not sqrt(var) + eps.")
    with one_thread():
        rows = F.layer_norm(x64, (x.shape[1],), eps=eps)
    if _close(got64, rows * gamma64 + beta64, 10 * atol, 1e-4) or _close((got64 - beta64) / gamma64, rows, 10 * atol, 1e-4):
        fail(f"{what} normalized each example over its features (dim 1); batch normalization "
             f"normalizes each feature over the batch: statistics over dim 0, one mean and "
             f"variance per feature.")
    shift = 3.0 * x.abs().max().item() + 1.0
    moved = call_from_scratch(fn, x.clone() + shift, gamma.clone(), beta.clone(), eps=eps, what=f"{NAME}(x + c, gamma, beta)")
    if type(moved) is torch.Tensor and moved.shape == got.shape:
        moved = moved.detach().to("cpu", torch.float64)
        if not torch.allclose(moved, got64, atol=1e-3, rtol=1e-3):
            fail(f"{what} changes when the whole batch is shifted by a constant; in training mode "
                 f"normalize with this batch's own mean and variance (not running or fixed "
                 f"statistics), so such a shift cancels out.")
    fail(f"{what} does not match nn.BatchNorm1d in training mode: {describe_difference(got, expected)} "
         f"(tolerance {atol:g}). Normalize each feature with its batch mean and biased batch "
         f"variance, eps inside the square root, then scale by gamma and shift by beta.")


def check_against_torch(fn, x, gamma, beta, eps=None, atol=1e-5, label="") -> torch.Tensor:
    """Call the learner on copies of (x, gamma, beta); compare with nn.BatchNorm1d in training mode."""
    __tracebackhide__ = True
    x_arg, gamma_arg, beta_arg = x.clone(), gamma.clone(), beta.clone()
    eps_used = 1e-5 if eps is None else eps
    what = f"{NAME}(x, gamma, beta{'' if eps is None else f', eps={eps:g}'}){label}"
    if eps is None:
        result = call_from_scratch(fn, x_arg, gamma_arg, beta_arg, what=what)
    else:
        result = call_from_scratch(fn, x_arg, gamma_arg, beta_arg, eps=eps, what=what)
    require_unchanged(x, x_arg, "x", what)
    require_unchanged(gamma, gamma_arg, "gamma", what)
    require_unchanged(beta, beta_arg, "beta", what)
    got = as_learner_tensor(result, what, x)
    expected = torch_training_bn(x, gamma, beta, eps_used).detach()
    if not _close(got, expected, atol):
        _diagnose(fn, got, x, gamma, beta, eps_used, expected, atol, what)
    return got


def _probe(batch_size, num_features, seed, dtype=torch.float32, mean=None, std=None):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, num_features, generator=generator, dtype=torch.float64)
    if std is not None:
        x = x * torch.as_tensor(std, dtype=torch.float64)
    if mean is not None:
        x = x + torch.as_tensor(mean, dtype=torch.float64)
    return x.to(dtype)


def _affine(num_features, seed, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    gamma = (0.5 + 1.5 * torch.rand(num_features, generator=generator, dtype=torch.float64)).to(dtype)
    beta = torch.randn(num_features, generator=generator, dtype=torch.float64).to(dtype)
    return gamma, beta


def documented_example_2d() -> torch.Tensor:
    """PyTorch's documented (4, 3, 4) example (issue 60528) as (N*L, C) = (16, 3) rows."""
    rows = torch.arange(4.0).unsqueeze(1) + torch.arange(1.0, 5.0)
    example = torch.stack([rows + 4.0 * channel for channel in range(3)], dim=1)    # (4, 3, 4)
    return example.transpose(1, 2).reshape(-1, 3)


def visible(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    x = _probe(16, 4, seed=0, mean=[0.0, 5.0, -2.0, 10.0], std=[1.0, 3.0, 0.5, 2.0])
    gamma, beta = _affine(4, seed=1)
    y = check_against_torch(fn, x, gamma, beta)
    passed(f"{NAME} matches nn.BatchNorm1d in training mode on a (16, 4) batch, and leaves x unchanged")
    hat = (y.to(torch.float64) - beta.to(torch.float64)) / gamma.to(torch.float64)
    require(torch.allclose(hat.mean(dim=0), torch.zeros(4, dtype=torch.float64), atol=1e-4),
            f"(y - beta) / gamma should have mean 0 in every feature; got {hat.mean(dim=0).tolist()}.")
    passed("(y - beta) / gamma has mean 0 and standard deviation about 1 in every feature")
    ones, zeros = torch.ones(4), torch.zeros(4)
    check_against_torch(fn, x, ones, zeros, eps=0.1, label=" with gamma = 1, beta = 0")
    passed(f"{NAME} uses its eps argument inside the square root")


def hidden(namespace: dict) -> None:
    fn = lookup(namespace, NAME)
    # Shift invariance: training mode uses this batch's own statistics.
    x = _probe(32, 3, seed=2, std=[2.0, 1.0, 0.5])
    gamma, beta = _affine(3, seed=3)
    shifted = x + torch.tensor([7.0, -3.0, 2.0])
    got = as_learner_tensor(call_from_scratch(fn, x.clone(), gamma.clone(), beta.clone(), what=f"{NAME}(x, gamma, beta)"), f"{NAME}(x, gamma, beta)", x)
    got_shifted = as_learner_tensor(call_from_scratch(fn, shifted.clone(), gamma.clone(), beta.clone(), what=f"{NAME}(x + c, gamma, beta)"), f"{NAME}(x + c, gamma, beta)", x)
    require(torch.allclose(got, got_shifted, atol=1e-4),
            f"{NAME} gave different outputs when every feature of the batch was shifted by a constant; "
            f"in training mode normalize with this batch's own mean and variance (not running or "
            f"fixed statistics), so a shift of the whole batch cancels out.")
    # A constant feature column: x_hat = 0 there, so y = beta, and nothing is NaN.
    x = _probe(8, 3, seed=4)
    x[:, 1] = 3.0
    gamma, beta = _affine(3, seed=5)
    check_against_torch(fn, x, gamma, beta, label=" with a constant feature column")
    # Tiny variance relative to the mean, in float64 (float32 would be ill-conditioned).
    x = _probe(64, 3, seed=6, dtype=torch.float64, mean=[5.0, -5.0, 100.0], std=[1e-3, 1e-2, 1e-3])
    gamma, beta = _affine(3, seed=7, dtype=torch.float64)
    check_against_torch(fn, x, gamma, beta, atol=1e-9, label=" (float64, features with tiny variance)")
    # Huge variance.
    x = _probe(64, 2, seed=8, std=[1e4, 3e3])
    gamma, beta = _affine(2, seed=9)
    check_against_torch(fn, x, gamma, beta, atol=1e-4, label=" (features with huge variance)")
    # Batch size 2.
    x = _probe(2, 5, seed=10, std=3.0)
    gamma, beta = _affine(5, seed=11)
    check_against_torch(fn, x, gamma, beta, label=" with a batch of 2")
    # float64 in, float64 out.
    x = _probe(20, 4, seed=12, dtype=torch.float64, mean=1.0, std=2.0)
    gamma, beta = _affine(4, seed=13, dtype=torch.float64)
    check_against_torch(fn, x, gamma, beta, atol=1e-10, label=" for float64 x")
    # PyTorch's documented (4, 3, 4) example, per channel over N and L.
    x = documented_example_2d()
    y = check_against_torch(fn, x, torch.ones(3), torch.zeros(3), label=" on PyTorch's documented (4, 3, 4) example")
    documented = torch.tensor([-1.8974, -1.2649, -0.6325, 0.0000])
    require(torch.allclose(y[:4, 0], documented, atol=1e-4),
            f"On PyTorch's documented example the first four outputs of channel 0 should be "
            f"{documented.tolist()}; you returned {[round(v, 4) for v in y[:4, 0].tolist()]}.")
    passed(f"{NAME} handles a constant column, tiny and huge variances, a batch of 2, float64, "
           f"and reproduces PyTorch's documented example")
