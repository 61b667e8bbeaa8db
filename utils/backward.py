"""Plumbing for lesson 06_backward_and_alternatives: batches, the paper's bias example, scale
invariance and weight decay, BatchNorm against LayerNorm and GroupNorm, slider views.

Nothing here answers the lesson's graded exercises (a backward pass, a 4-D forward pass, a
folded convolution): where a result needs normalized values or gradients it asks PyTorch
(``nn.BatchNorm1d``, ``F.batch_norm`` and autograd).  Nothing runs at import time.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from torch import nn

from utils.device import one_thread
from utils.widgets import SliderView

__all__ = [
    "make_batch", "relative_error", "bias_drift", "scale_model", "scale_invariance", "weight_decay_run",
    "norm_mlp", "compare_norms", "scale_view", "batch_size_view",
]

SCALES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
WEIGHT_DECAYS = [0.0, 1e-2, 3e-2, 1e-1]
KINDS = ("batch", "group", "layer")
SHORT_NAMES = {"batch": "BN", "group": "GN", "layer": "LN", "none": "none"}
KIND_NAMES = {"batch": "BatchNorm1d(64)", "group": "GroupNorm(8, 64)", "layer": "LayerNorm(64)", "none": "no normalization"}


def make_batch(batch_size: int, num_features: int, mean=0.0, std=1.0, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Gaussian x of shape (batch_size, num_features), per-feature ``mean`` and ``std`` (floats or lists), seeded (lesson 06)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, num_features, generator=generator, dtype=torch.float64)
    x = x * torch.as_tensor(std, dtype=torch.float64) + torch.as_tensor(mean, dtype=torch.float64)
    return x.to(dtype)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """CS231n's gradient-check measure: max |a - b| / max(|a| + |b|), elementwise (0 when both are 0)."""
    a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
    return ((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-300)).max().item()


# --------------------------------------------------------------------------- section 2

def bias_drift(num_steps: int = 1000, lr: float = 0.1, through_mean: bool = False, batch_size: int = 64,
               seed: int = 0) -> dict[str, torch.Tensor]:
    """Ioffe & Szegedy's section 2 example: x = u + b, x_hat = x - mean(x), a loss on x_hat.

    Plain SGD on the bias ``b``. With ``through_mean=False`` the gradient step ignores that the
    mean depends on ``b`` (the normalization is "outside the gradient step": the mean is computed
    without autograd); with ``True`` autograd differentiates through the mean.  The loss is the
    mean of (x_hat - target)^2 for a fixed target whose batch mean is not 0, so its gradient with
    respect to x_hat does not sum to zero.

    Returns ``b`` and ``loss`` after each step (tensors of length ``num_steps + 1``, step 0 first).
    """
    generator = torch.Generator().manual_seed(seed)
    u = torch.randn(batch_size, generator=generator, dtype=torch.float64)
    target = 0.5 * u + 1.0 + 0.3 * torch.randn(batch_size, generator=generator, dtype=torch.float64)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    biases, losses = [], []
    with one_thread():
        for step in range(num_steps + 1):
            x = u + b
            mean = x.mean() if through_mean else x.detach().mean()
            loss = ((x - mean - target) ** 2).mean()
            biases.append(b.item())
            # The loss the network really has: normalized with the mean of this batch.
            with torch.no_grad():
                losses.append((((u + b) - (u + b).mean() - target) ** 2).mean().item())
            if step == num_steps:
                break
            (grad,) = torch.autograd.grad(loss, b)
            with torch.no_grad():
                b -= lr * grad
    return {"b": torch.tensor(biases, dtype=torch.float64), "loss": torch.tensor(losses, dtype=torch.float64)}


# --------------------------------------------------------------------------- section 3

def scale_model(seed: int = 0) -> nn.Sequential:
    """Linear(20, 32, bias=False) -> BatchNorm1d(32) -> ReLU -> Linear(32, 1) -> Sigmoid, seeded (lesson 06).

    The Linear before the BatchNorm has no bias (beta replaces it); its weight is the one
    whose scale the lesson varies.  (32 hidden units: lesson 03's exercise asks for 64.)
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(20, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def _loss_and_grad(model: nn.Sequential, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out = model(X)
    loss = F.binary_cross_entropy(out, y)
    loss.backward()
    return out.detach(), loss.detach(), model[0].weight.grad.detach().clone()


def scale_invariance(X: torch.Tensor, y: torch.Tensor, scales=SCALES, lr: float = 0.1, seed: int = 0) -> dict:
    """Multiply the pre-BN weight W by each ``a`` in ``scales``; measure what changes (training mode).

    Returns lists (one value per scale): ``scales``; ``output_change`` = max |out(a) - out(1)|;
    ``pre_bn_std`` = std of W x over the batch (unit 0); ``grad_norm`` = |dL/dW|; ``weight_norm``
    = |W|; ``relative_update`` = lr * |dL/dW| / |W|.  The model is :func:`scale_model` (seed).
    """
    model = scale_model(seed).train()
    base = model[0].weight.detach().clone()
    result = {name: [] for name in ("scales", "output_change", "pre_bn_std", "grad_norm", "weight_norm",
                                    "relative_update", "loss")}
    reference = None
    with one_thread():
        with torch.no_grad():
            model[0].weight.copy_(base)
        reference, _, _ = _loss_and_grad(model, X, y)
        for a in scales:
            with torch.no_grad():
                model[0].weight.copy_(base * a)
            out, loss, grad = _loss_and_grad(model, X, y)
            weight_norm = (base * a).norm().item()
            with torch.no_grad():
                pre = model[0](X)[:, 0]
            result["scales"].append(a)
            result["output_change"].append((out - reference).abs().max().item())
            result["pre_bn_std"].append(pre.std(unbiased=False).item())
            result["grad_norm"].append(grad.norm().item())
            result["weight_norm"].append(weight_norm)
            result["relative_update"].append(lr * grad.norm().item() / weight_norm)
            result["loss"].append(loss.item())
    return result


def weight_decay_run(X: torch.Tensor, y: torch.Tensor, weight_decay: float, num_steps: int = 200, lr: float = 0.1,
                     batch_size: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """SGD on :func:`scale_model` with ``weight_decay`` on the pre-BN weight W only (lesson 06).

    Batches of ``batch_size`` drawn with ``seed``. Returns per step (length ``num_steps``):
    ``weight_norm`` |W| after the step, ``effective_step`` lr * |dL/dW| / |W| (the relative size
    of the gradient part of the update), ``loss`` (the batch's training loss), and ``direction``:
    the final W / |W| as a tensor; and ``model``, the trained model.
    """
    model = scale_model(seed).train()
    decays = [(parameter, weight_decay if parameter is model[0].weight else 0.0) for parameter in model.parameters()]
    generator = torch.Generator().manual_seed(seed)
    trace = {name: torch.empty(num_steps) for name in ("weight_norm", "effective_step", "loss")}
    with one_thread():
        for step in range(num_steps):
            rows = torch.randint(0, len(X), (batch_size,), generator=generator)
            model.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy(model(X[rows]), y[rows])
            loss.backward()
            weight = model[0].weight
            trace["effective_step"][step] = lr * weight.grad.norm() / weight.detach().norm()
            with torch.no_grad():  # plain SGD, as torch.optim.SGD(weight_decay=...) computes it
                for parameter, decay in decays:
                    parameter -= lr * (parameter.grad + decay * parameter)
            trace["weight_norm"][step] = weight.detach().norm()
            trace["loss"][step] = loss.detach()
    trace["direction"] = (model[0].weight.detach() / model[0].weight.detach().norm()).clone()
    trace["model"] = model
    return trace


# --------------------------------------------------------------------------- section 4

def norm_mlp(kind: str, in_features: int = 64, hidden: int = 64, num_classes: int = 10, groups: int = 8,
             seed: int = 0) -> nn.Sequential:
    """Linear(in, hidden) -> norm -> ReLU -> Linear(hidden, classes), seeded (lesson 06).

    ``kind``: "batch" (BatchNorm1d), "layer" (LayerNorm over the hidden features of each example),
    "group" (GroupNorm with ``groups`` groups of hidden features), or "none".
    """
    norms = {"batch": lambda: nn.BatchNorm1d(hidden), "layer": lambda: nn.LayerNorm(hidden),
             "group": lambda: nn.GroupNorm(groups, hidden), "none": lambda: nn.Identity()}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(in_features, hidden), norms[kind](), nn.ReLU(), nn.Linear(hidden, num_classes))


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def compare_norms(X_train, y_train, X_test, y_test, batch_sizes=(2, 4, 8, 16, 64), kinds=KINDS,
                  num_examples: int = 1500, lr: float = 0.02, seed: int = 0) -> dict:
    """Train :func:`norm_mlp` of each kind at each batch size on the same number of examples.

    Every run sees ``num_examples`` training examples (so ``num_examples // batch_size`` SGD steps
    with momentum 0.9 and learning rate ``lr * batch_size / 32``, the linear scaling rule), from
    the same seed.  Returns {"batch_sizes", "kinds", "eval": {kind: [test accuracy in eval mode per
    batch size]}, "train_mode": {kind: [test accuracy in training mode, in test batches of that
    size]}}: for LayerNorm and GroupNorm the two are equal by construction (no batch statistics).
    """
    results = {"batch_sizes": list(batch_sizes), "kinds": list(kinds), "eval": {}, "train_mode": {}}
    with one_thread():
        for kind in kinds:
            results["eval"][kind], results["train_mode"][kind] = [], []
            for batch_size in batch_sizes:
                model = norm_mlp(kind, in_features=X_train.shape[1], seed=seed).train()
                parameters = list(model.parameters())
                velocities = [torch.zeros_like(parameter) for parameter in parameters]
                step_size = lr * batch_size / 32
                generator = torch.Generator().manual_seed(seed)
                steps = num_examples // batch_size
                order = torch.cat([torch.randperm(len(X_train), generator=generator)
                                   for _ in range(math.ceil(steps * batch_size / len(X_train)) + 1)])
                for step in range(steps):
                    rows = order[step * batch_size:(step + 1) * batch_size]
                    model.zero_grad(set_to_none=True)
                    F.cross_entropy(model(X_train[rows]), y_train[rows]).backward()
                    with torch.no_grad():  # SGD with momentum 0.9, as torch.optim.SGD computes it
                        for parameter, velocity in zip(parameters, velocities):
                            velocity.mul_(0.9).add_(parameter.grad)
                            parameter -= step_size * velocity
                model.eval()
                results["eval"][kind].append(_accuracy(model, X_test, y_test))
                model.train()
                usable = len(X_test) - len(X_test) % batch_size
                with torch.no_grad():
                    hits = sum((model(X_test[i:i + batch_size]).argmax(1) == y_test[i:i + batch_size]).sum().item()
                               for i in range(0, usable, batch_size))
                results["train_mode"][kind].append(hits / usable)
                model.eval()
    return results


# --------------------------------------------------------------------------- slider views

_MARGINS = dict(left=0.07, right=0.98, bottom=0.17, top=0.83, wspace=0.3)
_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def _plain_log_axis(axis, ticks) -> None:
    """Fixed ticks with plain labels on a log axis: no minor ticks, no mathtext (several times faster)."""
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(_PLAIN)
    axis.set_minor_locator(NullLocator())


def scale_view(scaling: dict, decay_runs: dict) -> SliderView:
    """Slider view: what the scale of the pre-BN weight changes, and what weight decay does to it (lesson 06).

    ``scaling`` is :func:`scale_invariance`'s result, ``decay_runs`` maps weight decay -> a
    :func:`weight_decay_run` trace.  Left: against the scale a (log-log, fixed axes), the
    network's output change, |dL/dW| and lr |dL/dW| / |W|, with the slider's a marked.  Right:
    |W| and the effective step over training for the slider's weight decay.
    """
    scales = np.array(scaling["scales"])
    series = {
        "|dL/dW|": np.array(scaling["grad_norm"]),
        "lr |dL/dW| / |W|": np.array(scaling["relative_update"]),
        "std of W x (unit 0)": np.array(scaling["pre_bn_std"]),
    }
    colors = {"|dL/dW|": "tab:blue", "lr |dL/dW| / |W|": "tab:red", "std of W x (unit 0)": "tab:grey"}
    decays = sorted(decay_runs)
    steps = np.arange(1, len(decay_runs[decays[0]]["weight_norm"]) + 1)
    norm_top = max(run["weight_norm"].max().item() for run in decay_runs.values()) * 1.1
    step_bottom = min(run["effective_step"].min().item() for run in decay_runs.values()) * 0.7
    state: dict = {}

    def draw(fig: Figure, scale: float, weight_decay: float) -> None:
        index = int(np.argmin(np.abs(scales - scale)))
        run = decay_runs[weight_decay]
        if not fig.axes:
            left, right = fig.subplots(1, 2, gridspec_kw=_MARGINS)
            for name, values in series.items():
                left.loglog(scales, values, "-", color=colors[name], label=name, linewidth=1.5)
            state["markers"] = {name: left.plot([scale], [values[index]], "o", color=colors[name])[0]
                                for name, values in series.items()}
            _plain_log_axis(left.xaxis, [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2])
            _plain_log_axis(left.yaxis, [1e-6, 1e-4, 1e-2, 1.0, 1e2])
            left.set_xlabel("scale a of the pre-BN weight W", fontsize=8, labelpad=1)
            left.legend(fontsize=7, loc="lower left")
            left.tick_params(labelsize=8)
            state["left"] = left
            state["norm"], = right.semilogy(steps, run["weight_norm"].numpy(), color="tab:green", label="|W|")
            state["step"], = right.semilogy(steps, run["effective_step"].numpy(), color="tab:red", linewidth=0.8,
                                            label="lr |dL/dW| / |W|")
            right.set_ylim(step_bottom, norm_top)
            _plain_log_axis(right.yaxis, [v for v in (1e-3, 1e-2, 1e-1, 1.0, 1e1) if step_bottom <= v <= norm_top])
            right.set_xlabel("training step", fontsize=8, labelpad=1)
            right.legend(fontsize=7, loc="center right")
            right.tick_params(labelsize=8)
            state["right"] = right
        for name, values in series.items():
            state["markers"][name].set_data([scales[index]], [values[index]])
        state["left"].set_title(f"a = {scales[index]:g}: output change {scaling['output_change'][index]:.1e}, "
                                f"|dL/dW| {series['|dL/dW|'][index]:.2g}", fontsize=9)
        state["norm"].set_ydata(run["weight_norm"].numpy())
        state["step"].set_ydata(run["effective_step"].numpy())
        state["right"].set_title(f"weight decay {weight_decay:g}: |W| {run['weight_norm'][0].item():.2f} -> "
                                 f"{run['weight_norm'][-1].item():.2f}, step x"
                                 f"{run['effective_step'][-20:].mean().item() / run['effective_step'][:20].mean().item():.2f}",
                                 fontsize=9)

    controls = {
        "scale": widgets.SelectionSlider(options=[float(a) for a in scales], value=1.0, description="scale a"),
        "weight_decay": widgets.SelectionSlider(options=[float(d) for d in decays], value=float(decays[0]),
                                                  description="weight decay"),
    }
    return SliderView(draw, controls, figsize=(8.5, 2.8), clear=False)


def batch_size_view(results: dict) -> SliderView:
    """Slider view: test accuracy of BatchNorm, GroupNorm and LayerNorm against the batch size (lesson 06).

    ``results`` is :func:`compare_norms`'s.  Left: accuracy in eval mode against the batch size
    (fixed axes), the slider's batch size marked; right: at that batch size, each kind's accuracy
    in eval mode and in training mode (test batches of that size).
    """
    sizes = results["batch_sizes"]
    kinds = results["kinds"]
    colors = {"batch": "tab:orange", "group": "tab:green", "layer": "tab:purple", "none": "tab:grey"}
    state: dict = {}

    def draw(fig: Figure, batch_size: int) -> None:
        index = sizes.index(batch_size)
        if not fig.axes:
            left, right = fig.subplots(1, 2, gridspec_kw=_MARGINS)
            for kind in kinds:
                left.semilogx(sizes, results["eval"][kind], "o-", color=colors[kind], label=KIND_NAMES[kind],
                              base=2)
            state["line"] = left.axvline(batch_size, color="black", linewidth=0.8)
            left.set_ylim(0, 1)
            _plain_log_axis(left.xaxis, sizes)
            left.set_xlabel("batch size", fontsize=8, labelpad=1)
            left.set_title("test accuracy (eval mode)", fontsize=9)
            left.legend(fontsize=7, loc="lower right")
            positions = np.arange(len(kinds))
            state["eval_bars"] = right.bar(positions - 0.2, [0] * len(kinds), 0.4, color="tab:blue", label="eval mode")
            state["train_bars"] = right.bar(positions + 0.2, [0] * len(kinds), 0.4, color="tab:cyan",
                                            label="training mode")
            right.set_xticks(positions)
            right.set_xticklabels([KIND_NAMES[kind].split("(")[0] for kind in kinds], fontsize=8)
            right.set_ylim(0, 1)
            right.legend(fontsize=7, loc="lower right")
            for axes in (left, right):
                axes.tick_params(labelsize=8)
            state["right"] = right
        state["line"].set_xdata([batch_size, batch_size])
        for bar, kind in zip(state["eval_bars"], kinds):
            bar.set_height(results["eval"][kind][index])
        for bar, kind in zip(state["train_bars"], kinds):
            bar.set_height(results["train_mode"][kind][index])
        state["right"].set_title(f"batch {batch_size}, eval / train mode: " + ", ".join(
            f"{SHORT_NAMES[kind]} {results['eval'][kind][index]:.2f} / {results['train_mode'][kind][index]:.2f}"
            for kind in kinds), fontsize=8)

    controls = {"batch_size": widgets.SelectionSlider(options=sizes, value=sizes[0], description="batch size")}
    return SliderView(draw, controls, figsize=(8.5, 2.8), clear=False)


# --------------------------------------------------------------------------- the learner's answers, or PyTorch's

def _tensors_of(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for part in value for item in _tensors_of(part)]
    return [None]


def agree(got, expected, rtol: float = 1e-6) -> bool:
    """Do ``got`` and ``expected`` (tensors, or tuples of tensors) have the same shapes and values,
    within ``rtol`` of the largest expected magnitude (at least 1)?"""
    got_list, expected_list = _tensors_of(got), _tensors_of(expected)
    if len(got_list) != len(expected_list):
        return False
    for a, b in zip(got_list, expected_list):
        if not isinstance(a, torch.Tensor) or a.shape != b.shape:
            return False
        a, b = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
        if not torch.isfinite(a).all() or ((a - b).abs() > rtol * max(1.0, b.abs().max().item())).any():
            return False
    return True


def learner_or_reference(name: str, learner, reference, *args, rtol: float = 1e-6, compare=None, **kwargs):
    """``(result, sentence)``: the learner's ``learner(*args)`` when it runs and agrees with PyTorch's
    ``reference(*args)``, otherwise PyTorch's result; the sentence says which one the lesson uses.

    ``compare(got, expected) -> bool`` replaces :func:`agree` (e.g. for modules).  ``learner`` may be
    None (not defined).  Lets the cells after an exercise show their results whatever the answer.
    """
    expected = reference(*args, **kwargs)
    if learner is None:
        return expected, f"{name} is not defined yet: the cells below use PyTorch's version instead."
    try:
        got = learner(*args, **kwargs)
    except NotImplementedError:
        return expected, f"{name} is not answered yet: the cells below use PyTorch's version instead."
    except Exception as error:  # noqa: BLE001 - any error in the learner's code
        return expected, (f"{name} raised {type(error).__name__}: {error}; the cells below use PyTorch's "
                          f"version instead.")
    same = compare(got, expected) if compare is not None else agree(got, expected, rtol)
    if not same:
        return expected, f"{name} does not agree with PyTorch yet: the cells below use PyTorch's version instead."
    return got, f"{name} agrees with PyTorch: the cells below use your version."
