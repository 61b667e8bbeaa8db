"""Plumbing for lesson 05_pitfalls: data, the seed model, training, and the pitfall experiments.

Every function here is used by ``solutions/05_pitfalls``.  None of them is an answer to the
lesson's graded exercises (``predict`` and ``fold_batchnorm``): the folding demo takes the
learner's own fold function as an argument.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from utils.device import get_device, seed_everything
from utils.widgets import SliderView

NUM_FEATURES = 20
HIDDEN = 64
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
DROPOUT_RATES = tuple(round(0.1 * i, 1) for i in range(9))


# ----------------------------------------------------------------------------- data and model
def make_data(n: int, seed: int, rule: int = 0, device: torch.device | None = None):
    """A binary classification set: ``x`` (n, 20) float32, ``y`` (n, 1) float32 in {0, 1}.

    Features have different scales and offsets (so normalization matters).  ``rule`` picks
    the labelling: 0 is the pretraining task, 1 a related task for the fine-tuning demo.
    The same ``rule`` always uses the same hidden weights; ``seed`` only draws the examples.
    """
    device = device or get_device()
    rules = torch.Generator().manual_seed(1234)
    scales = torch.linspace(0.5, 3.0, NUM_FEATURES)
    offsets = torch.randn(NUM_FEATURES, generator=rules) * 2
    w_a = torch.randn(NUM_FEATURES, generator=rules)
    w_b = torch.randn(NUM_FEATURES, generator=rules)
    w_rule = w_a if rule == 0 else 0.5 * w_a + w_b
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, NUM_FEATURES, generator=generator)
    x = z * scales + offsets
    score = z @ w_rule + 0.8 * torch.sin(2 * z[:, 0]) * z[:, 1]
    y = (score > 0).float().unsqueeze(1)
    return x.to(device), y.to(device)


def set_bn_eval(model: nn.Module) -> int:
    """Put every BatchNorm module of ``model`` in eval mode ("freeze" its statistics).

    In eval mode a BN layer normalizes with its stored running statistics and stops updating
    them; its gamma and beta are still parameters with ``requires_grad=True``, so an
    optimizer keeps training them.  Call it *after* ``model.train()``, which switches every
    submodule back to training mode.  Returns how many BN modules were put in eval mode.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            count += 1
    return count


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
          epochs: int = 5, lr: float = 0.01, seed: int = 0, drop_last: bool = True,
          freeze_bn: bool = False) -> list[float]:
    """Train ``model`` with Adam and binary cross-entropy; return the loss of every step.

    ``freeze_bn=True`` keeps every BN layer in eval mode (running statistics not updated,
    normalization with the stored ones) while the rest of the model, BN's gamma and beta
    included, trains.
    """
    seed_everything(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        drop_last=drop_last, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCELoss()
    losses = []
    for _ in range(epochs):
        model.train()
        if freeze_bn:
            set_bn_eval(model)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    return losses


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model`` in eval mode (the model's own modes are restored afterwards)."""
    modes = [m.training for m in model.modules()]
    model.eval()
    with torch.no_grad():
        acc = ((model(x) > 0.5).float() == y).float().mean().item()
    for module, mode in zip(model.modules(), modes):
        module.training = mode
    return acc


def trained_seed_model(make_model, seed: int = 0, device: torch.device | None = None):
    """``make_model()`` (the seed's BN model, defined in the lesson) trained on 2,000 examples
    (batch 64, 5 epochs); returns (model, x_test, y_test)."""
    device = device or get_device()
    x, y = make_data(2000, seed=seed, device=device)
    x_test, y_test = make_data(1000, seed=seed + 1, device=device)
    seed_everything(seed)
    model = make_model().to(device)
    train(model, x, y, batch_size=64, epochs=5, seed=seed)
    return model, x_test, y_test


# ----------------------------------------------------------------------------- pitfall 1: eval()
def batch_dependence(model: nn.Module, rows: torch.Tensor, others: torch.Tensor, trials: int = 5,
                     seed: int = 0) -> dict:
    """Predict the same ``rows`` inside ``trials`` batches padded with different ``others``.

    Works on a copy of ``model``.  Returns the largest change of any row's probability across
    the batches in training mode and in eval mode, and ``train_vs_eval``, the largest
    difference between a train-mode and the eval-mode prediction.
    """
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for mode in ("train", "eval"):
        work = copy.deepcopy(model)
        work.train(mode == "train")
        predictions = []
        with torch.no_grad():
            for _ in range(trials):
                pick = torch.randperm(len(others), generator=generator)[: 3 * len(rows)]
                batch = torch.cat([rows, others[pick.to(others.device)]])
                predictions.append(work(batch)[: len(rows)])
        stacked = torch.stack(predictions)
        results[mode] = stacked
    spread = lambda p: (p.max(0).values - p.min(0).values).max().item()  # noqa: E731
    return {"train_spread": spread(results["train"]), "eval_spread": spread(results["eval"]),
            "train_vs_eval": (results["train"] - results["eval"][0]).abs().max().item(),
            "train_predictions": results["train"][:, :, 0].cpu(),
            "eval_predictions": results["eval"][:, :, 0].cpu()}


def running_stats_drift(model: nn.Module, x: torch.Tensor) -> float:
    """Forward ``x`` once through a copy of ``model`` in training mode, no optimizer step.

    Returns the largest change of the first BN layer's running_mean: train mode updates the
    buffers on every forward.
    """
    work = copy.deepcopy(model).train()
    bn = next(m for m in work.modules() if isinstance(m, nn.BatchNorm1d))
    before = bn.running_mean.clone()
    with torch.no_grad():
        work(x)
    return (bn.running_mean - before).abs().max().item()


def batch_statistics(model: nn.Module, x: torch.Tensor, probe: torch.Tensor,
                     batch_sizes=BATCH_SIZES, trials: int = 200, feature: int = 0,
                     seed: int = 0) -> dict:
    """For each batch size: ``trials`` random batches of ``x`` with ``probe`` (one row) in each.

    Returns, per batch size, the batch mean of BN's input feature ``feature`` in each batch,
    and the train-mode probability of ``probe`` in each batch; plus the population mean of
    that feature and the probe's eval-mode probability (the values they scatter around).
    """
    generator = torch.Generator().manual_seed(seed)
    work = copy.deepcopy(model)
    linear = work[0]
    with torch.no_grad():
        population_mean = linear(x)[:, feature].mean().item()
        work.eval()
        eval_probability = work(probe).item()
        work.train()
        out = {"population_mean": population_mean, "eval_probability": eval_probability,
               "batch_means": {}, "probabilities": {}}
        for size in batch_sizes:
            means, probabilities = [], []
            for _ in range(trials):
                pick = torch.randperm(len(x), generator=generator)[: size - 1].to(x.device)
                batch = torch.cat([probe, x[pick]])
                means.append(linear(batch)[:, feature].mean().item())
                probabilities.append(work(batch)[0, 0].item())
            out["batch_means"][size] = np.array(means)
            out["probabilities"][size] = np.array(probabilities)
    return out


def batch_view(stats: dict) -> SliderView:
    """Slider view: batch size -> spread of the batch mean, and drift of one example's prediction.

    ``stats`` comes from :func:`batch_statistics` (computed once; the view only draws).
    """
    sizes = sorted(stats["batch_means"])
    all_means = np.concatenate(list(stats["batch_means"].values()))
    mean_range = (all_means.min(), all_means.max())

    bins_means = np.linspace(mean_range[0], mean_range[1], 31)
    bins_probabilities = np.linspace(0, 1, 31)
    counts = {size: (np.histogram(stats["batch_means"][size], bins_means)[0],
                     np.histogram(stats["probabilities"][size], bins_probabilities)[0]) for size in sizes}
    top = max(max(a.max(), b.max()) for a, b in counts.values()) * 1.05

    def draw(fig, batch_size):
        left, right = _two_axes(fig)
        means, probabilities = stats["batch_means"][batch_size], stats["probabilities"][batch_size]
        left.stairs(counts[batch_size][0], bins_means, fill=True, color="tab:blue")
        left.axvline(stats["population_mean"], color="k", ls="--")
        left.set(title=f"batch mean of one BN input (B={batch_size}), std {means.std():.3f}",
                 xlabel="batch mean (dashed: mean over all data)", ylabel="batches", ylim=(0, top))
        right.stairs(counts[batch_size][1], bins_probabilities, fill=True, color="tab:orange")
        right.axvline(stats["eval_probability"], color="k", ls="--")
        right.set(title=f"one example's P(y=1), train mode: {probabilities.min():.2f}..{probabilities.max():.2f}",
                  xlabel="probability (dashed: eval mode)", ylim=(0, top))

    slider = widgets.SelectionSlider(options=sizes, value=sizes[0], description="batch size")
    return SliderView(draw, {"batch_size": slider})


def _two_axes(fig, sharey: bool = False):
    """Two side-by-side axes at fixed positions (no constrained layout: keeps redraws fast)."""
    fig.set_layout_engine("none")
    left = fig.add_axes((0.07, 0.16, 0.42, 0.72))
    right = fig.add_axes((0.56, 0.16, 0.42, 0.72), sharey=left if sharey else None)
    for ax in (left, right):
        ax.locator_params(nbins=5)
    return left, right


# ----------------------------------------------------------------------------- pitfall 2: batch of one
def one_value_per_channel_cases() -> list[dict]:
    """Which training-mode batches PyTorch's BatchNorm refuses: one value per channel.

    BatchNorm raises "Expected more than 1 value per channel when training" when
    N * (product of the spatial sizes) == 1, not whenever N == 1.  For each case: the layer,
    the input shape, the number of values per channel, and the result in training mode and
    in eval mode ("ok" or the error's type).
    """
    cases = [(nn.BatchNorm1d(64), (1, 64)), (nn.BatchNorm1d(64), (2, 64)),
             (nn.BatchNorm1d(4), (1, 4, 10)), (nn.BatchNorm2d(16), (1, 16, 8, 8)),
             (nn.BatchNorm2d(16), (1, 16, 1, 1))]
    rows = []
    for layer, shape in cases:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        per_channel = shape[0] * int(torch.tensor(shape[2:]).prod()) if len(shape) > 2 else shape[0]
        result = {}
        for mode in ("train", "eval"):
            layer.train(mode == "train")
            try:
                with torch.no_grad():
                    layer(x)
                result[mode] = "ok"
            except ValueError as error:
                result[mode] = f"{type(error).__name__}"
        rows.append({"layer": f"{type(layer).__name__}({layer.num_features})", "shape": shape,
                     "values_per_channel": per_channel, "train": result["train"], "eval": result["eval"]})
    return rows


def batch_of_one_error(model: nn.Module, x: torch.Tensor) -> str:
    """Forward one row through a copy of ``model`` in training mode; return the error message ('' if none)."""
    work = copy.deepcopy(model).train()
    try:
        with torch.no_grad():
            work(x[:1])
    except ValueError as error:
        return str(error)
    return ""


def last_batch_sizes(n: int, batch_size: int, drop_last: bool) -> list[int]:
    """The sizes of the batches a DataLoader makes from ``n`` examples."""
    loader = DataLoader(TensorDataset(torch.zeros(n, 1)), batch_size=batch_size, drop_last=drop_last)
    return [len(batch[0]) for batch in loader]


# ----------------------------------------------------------------------------- pitfall 3: small batches
def two_row_batch_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BN's normalized output (before gamma/beta) for a batch of two rows, in training mode.

    Returns (2, 64).  With two values per feature, normalization always gives about -1 and +1.
    """
    work = copy.deepcopy(model).train()
    bn = work[1]
    with torch.no_grad():
        h = work[0](x[:2])
        return (bn(h) - bn.bias) / bn.weight


def batch_size_sweep(make_model, x, y, x_test, y_test, batch_sizes=(2, 4, 16, 64), examples: int = 8000,
                     seed: int = 0) -> dict:
    """Train a fresh ``make_model()`` per batch size on the same number of examples (``examples``), same learning rate.

    Returns batch size -> {"accuracy": eval-mode test accuracy, "steps": optimizer steps,
    "train_eval_gap": mean |train-mode - eval-mode| test probability of the trained model}.
    """
    results = {}
    for size in batch_sizes:
        seed_everything(seed)
        model = make_model().to(x.device)
        epochs = max(1, examples // len(x))
        steps = len(train(model, x, y, batch_size=size, epochs=epochs, lr=0.01, seed=seed))
        with torch.no_grad():
            model.eval()
            p_eval = model(x_test)
        gaps = []
        work = copy.deepcopy(model).train()
        with torch.no_grad():
            for start in range(0, len(x_test) - size + 1, size):
                gaps.append((work(x_test[start:start + size]) - p_eval[start:start + size]).abs().mean().item())
        results[size] = {"accuracy": accuracy(model, x_test, y_test), "steps": steps,
                         "train_eval_gap": float(np.mean(gaps))}
    return results


# ----------------------------------------------------------------------------- pitfall 4: dropout and BN
def dropout_model(p: float, dropout_first: bool) -> nn.Sequential:
    """Linear(20,64) -> ReLU -> [Dropout] -> Linear(64,64) -> BN(64) -> [Dropout] -> ReLU -> Linear(64,1) -> Sigmoid.

    ``dropout_first=True`` puts the Dropout before the second Linear and its BN (the risky
    order); otherwise it comes after the BN.
    """
    first = [nn.Dropout(p)] if dropout_first else []
    after = [] if dropout_first else [nn.Dropout(p)]
    return nn.Sequential(nn.Linear(NUM_FEATURES, HIDDEN), nn.ReLU(), *first,
                         nn.Linear(HIDDEN, HIDDEN), nn.BatchNorm1d(HIDDEN, momentum=None), *after,
                         nn.ReLU(), nn.Linear(HIDDEN, 1), nn.Sigmoid())


def variance_shift(x: torch.Tensor, rates=DROPOUT_RATES, passes: int = 20, batch_size: int = 128,
                   seed: int = 0) -> dict:
    """For each dropout rate and order: per-feature ratio (variance of BN's input at test) / running_var.

    The running variance is what BN learned in training mode (dropout on); at test dropout is
    off.  A ratio of 1 means BN normalizes test data as it did in training.  Returns
    ``{"dropout_first": {p: ratios}, "dropout_after": {p: ratios}}`` with numpy arrays (64,).
    """
    out = {"dropout_first": {}, "dropout_after": {}}
    for dropout_first in (True, False):
        key = "dropout_first" if dropout_first else "dropout_after"
        for p in rates:
            seed_everything(seed)
            model = dropout_model(p, dropout_first).to(x.device)
            bn = model[4] if dropout_first else model[3]
            captured = {}
            hook = bn.register_forward_hook(lambda module, inputs, output: captured.update(h=inputs[0]))
            model.train()
            with torch.no_grad():
                for i in range(passes):
                    start = (i * batch_size) % (len(x) - batch_size)
                    model(x[start:start + batch_size])
                model.eval()
                model(x)
            hook.remove()
            test_variance = captured["h"].var(0, correction=1)
            out[key][p] = (test_variance / bn.running_var).cpu().numpy()
    return out


def dropout_view(shift: dict) -> SliderView:
    """Slider view: dropout rate -> test/training variance ratio of BN's input, both orders."""
    rates = sorted(shift["dropout_first"])
    upper = max(1.3, max(r.max() for r in shift["dropout_after"].values()) * 1.05)

    bins = np.linspace(0, upper, 26)
    counts = {key: {p: np.histogram(shift[key][p], bins)[0] for p in rates} for key in shift}
    top = max(c.max() for per_rate in counts.values() for c in per_rate.values()) * 1.05

    def draw(fig, p):
        axes = _two_axes(fig, sharey=True)
        for ax, key, title, color in ((axes[0], "dropout_first", "Dropout before BN", "tab:red"),
                                      (axes[1], "dropout_after", "Dropout after BN", "tab:green")):
            ax.stairs(counts[key][p], bins, fill=True, color=color)
            ax.axvline(1.0, color="k", ls="--")
            ax.set(title=f"{title}, p={p}: mean ratio {shift[key][p].mean():.2f}",
                   xlabel="test variance / running_var", ylim=(0, top))
        axes[0].set_ylabel("BN features")

    slider = widgets.SelectionSlider(options=rates, value=0.5 if 0.5 in rates else rates[0],
                                     description="dropout p")
    return SliderView(draw, {"p": slider})


# ----------------------------------------------------------------------------- pitfall 5: fine-tuning
def fine_tune_comparison(pretrained: nn.Module, x_new, y_new, x_new_test, y_new_test,
                         batch_size: int = 4, epochs: int = 3, seed: int = 0) -> dict:
    """Fine-tune two copies of ``pretrained`` on a small new-task set, with BN live or frozen.

    Returns per variant ("pretrained" before fine-tuning, "bn_live", "bn_frozen"): eval-mode test
    accuracy on the new task, how far the first BN layer's running_mean moved and how far its
    gamma (``weight``) moved (largest changes).  Frozen BN keeps its running statistics, but
    its gamma and beta still train.
    """
    results = {"pretrained": {"accuracy": accuracy(pretrained, x_new_test, y_new_test),
                              "running_mean_change": 0.0, "gamma_change": 0.0}}
    for name, freeze in (("bn_live", False), ("bn_frozen", True)):
        model = copy.deepcopy(pretrained)
        before, gamma_before = model[1].running_mean.clone(), model[1].weight.detach().clone()
        train(model, x_new, y_new, batch_size=batch_size, epochs=epochs, lr=0.003, seed=seed, freeze_bn=freeze)
        results[name] = {"accuracy": accuracy(model, x_new_test, y_new_test),
                         "running_mean_change": (model[1].running_mean - before).abs().max().item(),
                         "gamma_change": (model[1].weight.detach() - gamma_before).abs().max().item()}
    return results


def modes(model: nn.Module) -> dict:
    """Each submodule's mode by name ('' is the model itself): True = training, False = eval."""
    return {name: module.training for name, module in model.named_modules()}


# ----------------------------------------------------------------------------- pitfall 6: folding
def fold_model(model: nn.Sequential, fold: Callable[[nn.Linear, nn.BatchNorm1d], nn.Linear]) -> nn.Sequential:
    """A copy of ``model`` with every Linear immediately followed by a BatchNorm1d replaced by ``fold(linear, bn)``.

    ``fold`` is the learner's ``fold_batchnorm``.  The result is in eval mode.
    """
    layers = list(model)
    folded: list[nn.Module] = []
    i = 0
    while i < len(layers):
        if (isinstance(layers[i], nn.Linear) and i + 1 < len(layers)
                and isinstance(layers[i + 1], nn.BatchNorm1d)):
            folded.append(fold(layers[i], layers[i + 1]))
            i += 2
        else:
            folded.append(copy.deepcopy(layers[i]))
            i += 1
    return nn.Sequential(*folded).eval()


def forward_time(model: nn.Module, x: torch.Tensor, repeats: int = 200) -> float:
    """Median seconds of one eval-mode forward pass of ``model`` on ``x`` (no_grad)."""
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times))
