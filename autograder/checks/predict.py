"""Checks for ``predict(model, x)`` (lesson 05_pitfalls).

Contract: returns the model's output (probabilities: the models end in Sigmoid) computed in
eval mode with gradient tracking off, for every row independently of the other rows; the
model's mode (per submodule) and all its parameters and buffers are as they were before.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from autograder.checks import call_learner, fail, lookup, passed, require

PRELUDE = (
    "import copy\n"
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)


def _model(seed: int, in_features: int = 20, dropout: float = 0.0, two_bn: bool = False,
           dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """A trained-looking BN classifier ending in Sigmoid, with non-trivial running statistics."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Linear(in_features, 32), nn.BatchNorm1d(32), nn.ReLU()]
        if two_bn:
            layers += [nn.Linear(32, 16), nn.BatchNorm1d(16), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(16 if two_bn else 32, 1), nn.Sigmoid()]
        model = nn.Sequential(*layers)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.7)
                module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.3)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.3)
                module.num_batches_tracked.fill_(37)
    return model.to(dtype)


def _inputs(seed: int, rows: int, features: int, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, features, generator=generator) * 1.5 + 0.4).to(dtype)


def _state(model: nn.Module) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _modes(model: nn.Module) -> list:
    return [(f"{name} ({type(module).__name__})" if name else "the model", module.training)
            for name, module in model.named_modules()]


def _describe(modes: list) -> str:
    in_eval = [name for name, mode in modes if not mode]
    if not in_eval:
        return "everything in training mode"
    if len(in_eval) == len(modes):
        return "everything in eval mode"
    return f"training mode except {', '.join(in_eval[:4])} in eval mode"


class _GradProbe:
    """Forward pre-hook recording whether gradient tracking was on when the model ran."""

    def __init__(self, model: nn.Module):
        self.grad_enabled: list[bool] = []
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, module, inputs):
        self.grad_enabled.append(torch.is_grad_enabled())

    def remove(self):
        self.handle.remove()


def _reference(model: nn.Module, x: torch.Tensor) -> dict:
    """The eval-mode output, and the outputs of the typical mistakes, from copies of the model."""
    out = {}
    with torch.no_grad():
        work = copy.deepcopy(model).eval()
        out["eval"] = work(x)
        out["logits"] = work[:-1](x)
        out["double_sigmoid"] = torch.sigmoid(out["eval"])
        train_copy = copy.deepcopy(model).train()
        out["train"] = train_copy(x) if len(x) > 1 else None
    return out


def _run(predict, model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    """Call predict on ``model`` and check the result; returns it (detached)."""
    __tracebackhide__ = True
    reference = _reference(model, x)
    modes_before = _modes(model)
    state_before = _state(model)
    probe = _GradProbe(model)
    try:
        result = call_learner(predict, model, x, what=what)
    finally:
        probe.remove()
    require(type(result) is torch.Tensor,
            f"{what} returned a {type(result).__name__}; return a torch.Tensor (the model's output).")
    expected = reference["eval"]
    if tuple(result.shape) != tuple(expected.shape):
        fail(f"{what} returned shape {tuple(result.shape)}; expected {tuple(expected.shape)}, the shape of "
             f"model(x). Return the model's output as it is (one probability per row, no squeeze or argmax).")
    requires_grad = result.requires_grad
    values = result.detach().to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        fail(f"{what} returned values that are not finite (nan or inf); return the model's output.")
    close = lambda a, b: a is not None and bool(torch.allclose(values, b.to(torch.float64), atol=1e-5, rtol=1e-4))  # noqa: E731
    if not close(values, expected):
        gap = (values - expected.to(torch.float64)).abs().max().item()
        if bool(((values == 0) | (values == 1)).all()):
            fail(f"{what} returned labels (only 0s and 1s); return the probabilities themselves, "
                 f"the model's output (it ends in Sigmoid), not thresholded predictions.")
        if close(values, reference["train"]):
            fail(f"{what} matches the model's output in training mode: BatchNorm used the batch's own "
                 f"statistics, so each prediction depends on the other rows. Call model.eval() before the "
                 f"forward pass.")
        if close(values, reference["logits"]):
            fail(f"{what} returned logits (the values before the final Sigmoid); the model already ends in "
                 f"Sigmoid, so return its output: probabilities in (0, 1).")
        if close(values, reference["double_sigmoid"]):
            fail(f"{what} applied a sigmoid to the model's output, which is already a probability; "
                 f"return the model's output as it is.")
        fail(f"{what} differs from the model's eval-mode output by up to {gap:.3g}. Return model(x) computed "
             f"after model.eval() (BatchNorm then uses its running statistics and dropout is off).")
    require(not requires_grad,
            f"{what} returned a tensor that requires grad: compute the output inside "
            f"`with torch.no_grad():` so no graph is built at inference.")
    require(not any(probe.grad_enabled),
            f"{what} ran the model with gradient tracking on (then detached the result?): run the forward "
            f"pass inside `with torch.no_grad():` (or torch.inference_mode()) so no graph is built.")
    modes_after = _modes(model)
    if modes_after != modes_before:
        before_all = [mode for _, mode in modes_before]
        after_all = [mode for _, mode in modes_after]
        if all(before_all) and not any(after_all):
            fail(f"{what} left the model in eval mode; it was in training mode before the call. Save each "
                 f"module's mode first and restore it before returning: training code that calls predict "
                 f"would otherwise silently stop updating BatchNorm's statistics and turn dropout off.")
        if not any(before_all) and all(after_all):
            fail(f"{what} switched the model to training mode, but it was in eval mode before the call. "
                 f"Restore the mode the model had instead of calling model.train() unconditionally.")
        fail(f"{what} did not restore each submodule's own mode: before the call the model had "
             f"{_describe(modes_before)}; after it, {_describe(modes_after)}. Record module.training for "
             f"every module in model.modules() and set each one back (model.train(flag) sets all of them).")
    state_after = _state(model)
    for name, before in state_before.items():
        after = state_after.get(name)
        if after is None or after.shape != before.shape or not torch.equal(after, before):
            fail(f"{what} changed the model's {name}: a forward pass in training mode updates BatchNorm's "
                 f"running statistics. Call model.eval() before the forward pass and don't train inside predict.")
    return values


def visible(namespace):
    predict = lookup(namespace, "predict")
    model = _model(seed=1).train()
    x = _inputs(seed=2, rows=16, features=20)
    _run(predict, model, x, what="predict(model, x) with the model in training mode")
    passed("predict returns the eval-mode probabilities under no_grad and leaves the model in training mode")


def hidden(namespace):
    predict = lookup(namespace, "predict")
    # A model that is already in eval mode must stay in eval mode.
    model = _model(seed=3).eval()
    x = _inputs(seed=4, rows=12, features=20)
    _run(predict, model, x, what="predict(model, x) with the model in eval mode")
    passed("a model in eval mode stays in eval mode")

    # Fine-tuning with frozen BN: training mode with the BN layers in eval mode.
    model = _model(seed=5, two_bn=True).train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.eval()
    _run(predict, model, x, what="predict(model, x) with the model training and its BatchNorm layers frozen (eval)")
    passed("each submodule's mode is restored (training model with frozen BatchNorm)")

    # Batch invariance: one row alone, and rows in another order, give the same probabilities.
    model = _model(seed=6).train()
    x = _inputs(seed=7, rows=10, features=20)
    full = _run(predict, model, x, what="predict(model, x)")
    one = _run(predict, model, x[3:4], what="predict(model, x[3:4]) (a batch of one row, model in training mode)")
    require(bool(torch.allclose(one, full[3:4], atol=1e-6)),
            "predict(model, x[3:4]) differs from row 3 of predict(model, x): a row's prediction must not "
            "depend on the other rows of the batch. Use eval mode (BatchNorm's running statistics).")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    shuffled = _run(predict, model, x[order], what="predict(model, x[order]) (rows shuffled)")
    require(bool(torch.allclose(shuffled, full[order], atol=1e-6)),
            "predict gives different probabilities for the same rows when they come in another order: "
            "a row's prediction must not depend on the others. Use eval mode.")
    passed("predictions are batch-invariant (one row alone, shuffled rows)")

    # Dropout and float64: eval mode turns dropout off, so the output is deterministic.
    model = _model(seed=8, in_features=7, dropout=0.5, two_bn=True, dtype=torch.float64).train()
    x = _inputs(seed=9, rows=20, features=7, dtype=torch.float64)
    first = _run(predict, model, x, what="predict(model, x) with a float64 model that has Dropout")
    second = _run(predict, model, x, what="predict(model, x) called a second time")
    require(bool(torch.equal(first, second)),
            "predict gave different results on two calls with the same input: in eval mode dropout is off "
            "and BatchNorm uses its running statistics, so predictions are deterministic.")
    passed("works with Dropout and float64 models; repeated calls agree")
