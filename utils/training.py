"""Training experiments for lesson 04 (training dynamics): loops, sweeps, Figure 1, slider view.

Every function takes the model (or a function that builds one), so the same code trains a
network with or without batch normalization; the lesson defines the models itself.
Experiments run on the device the data lives on (``utils.device.get_device()`` in the lesson)
and seed themselves from their ``seed``/``seeds`` arguments.

What lives here is plumbing for the experiments (a step-based loop over tensors with its own
SGD optimizer); the lesson's graded exercise, a ``train_epoch`` over a DataLoader with the
learner's optimizer, is the learner's to write.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import ipywidgets as widgets
from matplotlib.collections import LineCollection
import numpy as np
import torch
from torch import nn

from utils.device import seed_everything
from utils.widgets import SliderView

ModelBuilder = Callable[[], nn.Module]

# ---------------------------------------------------------------------------------------
# The loop the experiments use
# ---------------------------------------------------------------------------------------


def train_steps(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                batch_size: int = 64, seed: int = 0,
                loss_fn: Callable | None = None) -> np.ndarray:
    """Train ``model`` with plain SGD for ``steps`` mini-batch steps; return each step's loss.

    X: (N, D) inputs, y: targets (``(N, 1)`` floats in {0, 1} for the default ``nn.BCELoss``).
    Mini-batches are drawn by shuffling the rows each epoch (seeded by ``seed``) and dropping
    the last incomplete batch, so every step uses a full batch.  The model is in
    training mode throughout.  If the output stops being finite (the run diverged), the
    remaining losses are ``nan``.

    Returns a float array of shape (steps,): the loss of the mini-batch at each step.
    """
    loss_fn = loss_fn or nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = len(X)
    batch_size = min(batch_size, n)
    batches_per_epoch = n // batch_size
    losses = np.full(steps, np.nan)
    order = torch.empty(0, dtype=torch.long)
    model.train()
    for step in range(steps):
        position = step % batches_per_epoch
        if position == 0:
            order = torch.randperm(n, generator=generator).to(X.device)
        rows = order[position * batch_size:(position + 1) * batch_size]
        output = model(X[rows])
        if not torch.isfinite(output).all():
            break  # diverged: BCELoss refuses nan inputs, and nothing useful comes after
        loss = loss_fn(output, y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses[step] = loss.item()
    return losses


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable | None = None) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on all of X in evaluation mode (BN uses running stats).

    For a single sigmoid output (y of shape (N, 1)) accuracy thresholds at 0.5; for class
    scores (y of shape (N,) class indices) it takes the argmax.  A diverged model gives
    ``(nan, nan)``.
    """
    was_training = model.training
    model.eval()
    try:
        output = model(X)
        if not torch.isfinite(output).all():
            return math.nan, math.nan
        if y.ndim == 2:
            loss = (loss_fn or nn.BCELoss())(output, y).item()
            accuracy = ((output > 0.5).float() == y).float().mean().item()
        else:
            loss = (loss_fn or nn.CrossEntropyLoss())(output, y).item()
            accuracy = (output.argmax(dim=1) == y).float().mean().item()
    finally:
        model.train(was_training)
    return loss, accuracy


def smooth(losses: np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing moving average of ``losses`` over ``window`` steps (shorter at the start)."""
    losses = np.asarray(losses, dtype=float)
    cumulative = np.cumsum(np.insert(losses, 0, 0.0))
    ends = np.arange(1, len(losses) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def steps_to_reach(losses: np.ndarray, threshold: float, window: int = 20) -> int | None:
    """First step (1-based count) at which the ``window``-step average loss is <= ``threshold``.

    ``None`` when the run never gets there (or diverged first).
    """
    below = np.nonzero(smooth(losses, window) <= threshold)[0]
    return int(below[0]) + 1 if len(below) else None


# ---------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------


def compare_models(builders: dict[str, ModelBuilder], X: torch.Tensor, y: torch.Tensor, *,
                   lr: float, steps: int, batch_size: int, seeds: Sequence[int],
                   threshold: float) -> dict[str, dict]:
    """Train every model with every seed on the same data; collect curves and summaries.

    For seed ``s`` the model is built right after ``seed_everything(s)``, so both models of a
    seed start from the generator in the same state and see the same mini-batches.

    Returns ``{name: {"losses": (len(seeds), steps) array, "steps_to_threshold": list,
    "final_loss": (len(seeds),) array of the full-data loss in eval mode after training}}``.
    """
    results = {}
    for name, build in builders.items():
        curves, reached, finals = [], [], []
        for seed in seeds:
            seed_everything(seed)
            model = build().to(X.device)
            losses = train_steps(model, X, y, lr=lr, steps=steps, batch_size=batch_size, seed=seed)
            curves.append(losses)
            reached.append(steps_to_reach(losses, threshold))
            finals.append(evaluate(model, X, y)[0])
        results[name] = {"losses": np.array(curves), "steps_to_threshold": reached,
                         "final_loss": np.array(finals)}
    return results


def learning_rate_sweep(builders: dict[str, ModelBuilder], X: torch.Tensor, y: torch.Tensor, *,
                        learning_rates: Sequence[float], steps: int, batch_size: int,
                        seeds: Sequence[int]) -> dict:
    """Train each model at each learning rate with each seed.

    Returns ``{"learning_rates": array, "steps": steps, name: {"losses": (L, S, steps) array
    of mini-batch losses, "final_loss": (L, S) array of the full-data eval-mode loss}}``.
    A diverged run has ``nan`` for its final loss.
    """
    sweep = {"learning_rates": np.array(learning_rates, dtype=float), "steps": steps}
    for name, build in builders.items():
        curves = np.full((len(learning_rates), len(seeds), steps), np.nan)
        finals = np.full((len(learning_rates), len(seeds)), np.nan)
        for i, lr in enumerate(learning_rates):
            for j, seed in enumerate(seeds):
                seed_everything(seed)
                model = build().to(X.device)
                curves[i, j] = train_steps(model, X, y, lr=lr, steps=steps,
                                           batch_size=batch_size, seed=seed)
                finals[i, j] = evaluate(model, X, y)[0]
        sweep[name] = {"losses": curves, "final_loss": finals}
    return sweep


def tolerated_learning_rates(sweep: dict, name: str, max_loss: float) -> np.ndarray:
    """The swept learning rates at which *every* seed of ``name`` ended below ``max_loss``."""
    finals = sweep[name]["final_loss"]
    ok = np.all(np.nan_to_num(finals, nan=np.inf) <= max_loss, axis=1)
    return sweep["learning_rates"][ok]


def decades(learning_rates: np.ndarray) -> float:
    """Width of a set of learning rates in powers of ten (0 for one rate, nan for none)."""
    if len(learning_rates) == 0:
        return math.nan
    return float(np.log10(np.max(learning_rates) / np.min(learning_rates)))


def batch_size_experiment(builders: dict[str, ModelBuilder], X: torch.Tensor, y: torch.Tensor,
                          X_test: torch.Tensor, y_test: torch.Tensor, *,
                          batch_sizes: Sequence[int], steps: int, lr: float,
                          seeds: Sequence[int]) -> dict:
    """Train each model for the same number of SGD ``steps`` at each batch size.

    Smaller batches therefore see fewer examples, and BN's per-batch statistics get noisier.
    After training, the model is evaluated in eval mode (BN with its running statistics) on
    the training data and on the test data.

    Returns ``{"batch_sizes": array, "steps": steps, name: {"train_loss": (B, S) array,
    "test_accuracy": (B, S) array}}``.
    """
    results = {"batch_sizes": np.array(batch_sizes), "steps": steps}
    for name, build in builders.items():
        train_loss = np.full((len(batch_sizes), len(seeds)), np.nan)
        test_accuracy = np.full((len(batch_sizes), len(seeds)), np.nan)
        for i, batch_size in enumerate(batch_sizes):
            for j, seed in enumerate(seeds):
                seed_everything(seed)
                model = build().to(X.device)
                train_steps(model, X, y, lr=lr, steps=steps, batch_size=batch_size, seed=seed)
                train_loss[i, j] = evaluate(model, X, y)[0]
                test_accuracy[i, j] = evaluate(model, X_test, y_test)[1]
        results[name] = {"train_loss": train_loss, "test_accuracy": test_accuracy}
    return results


# ---------------------------------------------------------------------------------------
# A small reproduction of Ioffe & Szegedy (2015), Figure 1
# ---------------------------------------------------------------------------------------


def init_small_gaussian(model: nn.Module, std: float = 0.1) -> nn.Module:
    """Draw every Linear weight from N(0, std^2) and set its bias to 0 ("small Gaussian init")."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def last_sigmoid(model: nn.Module) -> nn.Sigmoid:
    """The last ``nn.Sigmoid`` module in ``model`` (the last hidden layer's nonlinearity)."""
    sigmoids = [module for module in model.modules() if isinstance(module, nn.Sigmoid)]
    if not sigmoids:
        raise ValueError("the model has no nn.Sigmoid module to watch")
    return sigmoids[-1]


def figure1_run(model: nn.Module, X_train: torch.Tensor, y_train: torch.Tensor,
                X_test: torch.Tensor, y_test: torch.Tensor, *, steps: int, lr: float,
                batch_size: int = 60, eval_every: int = 50, unit: int = 0,
                seed: int = 0) -> dict:
    """Train a classifier with cross-entropy and SGD, watching it as the paper's Figure 1 does.

    Every ``eval_every`` steps (and before the first) the model is put in eval mode and
    run on the test set; we record the test accuracy and the 15th, 50th and 85th
    percentiles, over the test examples, of the *input* of sigmoid unit ``unit`` in the
    model's last ``nn.Sigmoid`` (captured with a forward hook).

    Returns ``{"steps": (E,), "test_accuracy": (E,), "percentiles": (E, 3)}`` arrays.
    """
    watched = last_sigmoid(model)
    captured = {}

    def capture_input(module, inputs):
        captured["input"] = inputs[0].detach()

    recorded_steps, accuracies, percentiles = [], [], []

    def record(step):
        handle = watched.register_forward_pre_hook(capture_input)
        try:
            accuracy = evaluate(model, X_test, y_test)[1]
        finally:
            handle.remove()
        values = captured["input"][:, unit].float().cpu()
        quantiles = torch.tensor([0.15, 0.50, 0.85])
        recorded_steps.append(step)
        accuracies.append(accuracy)
        percentiles.append(torch.quantile(values, quantiles).numpy())

    loss_fn = nn.CrossEntropyLoss()
    record(0)
    done = 0
    while done < steps:
        chunk = min(eval_every, steps - done)
        # Each chunk continues with a new shuffle; seeding by position keeps runs repeatable.
        train_steps(model, X_train, y_train, lr=lr, steps=chunk, batch_size=batch_size,
                    seed=seed * 100_003 + done, loss_fn=loss_fn)
        done += chunk
        record(done)
    return {"steps": np.array(recorded_steps), "test_accuracy": np.array(accuracies),
            "percentiles": np.array(percentiles)}


def first_step_reaching(run: dict, accuracy: float) -> int | None:
    """The first recorded step at which the test accuracy was at least ``accuracy`` (or None)."""
    reached = np.nonzero(run["test_accuracy"] >= accuracy)[0]
    return int(run["steps"][reached[0]]) if len(reached) else None


def percentile_drift(run: dict, after_step: int) -> float:
    """How far the median sigmoid input moved from ``after_step`` to the end of the run.

    The paper's claim is about the input distribution changing *during* training; this is
    the absolute change of the 50th percentile between the first record at or after
    ``after_step`` and the last record.
    """
    start = int(np.searchsorted(run["steps"], after_step))
    medians = run["percentiles"][:, 1]
    return float(abs(medians[-1] - medians[start]))


# ---------------------------------------------------------------------------------------
# Plots and the slider view
# ---------------------------------------------------------------------------------------

COLORS = {0: "tab:blue", 1: "tab:orange"}


def _color(index: int) -> str:
    return COLORS.get(index, f"C{index}")


def plot_loss_curves(ax, results: dict[str, dict], window: int = 20, threshold: float | None = None,
                     title: str = "") -> None:
    """Smoothed mini-batch loss, mean over seeds with the min-max band, one colour per model."""
    for index, (name, result) in enumerate(results.items()):
        curves = np.array([smooth(losses, window) for losses in result["losses"]])
        steps = np.arange(1, curves.shape[1] + 1)
        with np.errstate(all="ignore"):
            ax.plot(steps, np.nanmean(curves, axis=0), color=_color(index), label=name)
            ax.fill_between(steps, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0),
                            color=_color(index), alpha=0.2, linewidth=0)
    if threshold is not None:
        ax.axhline(threshold, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("SGD step")
    ax.set_ylabel(f"training loss ({window}-step average)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def plot_learning_rate_sweep(ax, sweep: dict, names: Sequence[str], max_loss: float | None = None) -> None:
    """Final full-data loss against learning rate (log axis), median over seeds; x marks divergence."""
    learning_rates = sweep["learning_rates"]
    for index, name in enumerate(names):
        finals = sweep[name]["final_loss"]
        with np.errstate(all="ignore"):
            median = np.nanmedian(np.where(np.isnan(finals), np.inf, finals), axis=1)
        shown = np.where(np.isfinite(median), median, np.nan)
        ax.plot(learning_rates, shown, "o-", color=_color(index), label=name)
        diverged = ~np.isfinite(median)
        if diverged.any():
            ax.plot(learning_rates[diverged], np.full(diverged.sum(), 1.0), "x",
                    color=_color(index), markersize=9)
    if max_loss is not None:
        ax.axhline(max_loss, color="gray", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")  # a saturated model's loss (up to 100) would flatten everything else
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final loss (median over seeds)")
    ax.legend(fontsize=8)


def plot_batch_sizes(axes, results: dict, names: Sequence[str]) -> None:
    """Two panels: final training loss and test accuracy against batch size, mean over seeds."""
    batch_sizes = results["batch_sizes"]
    for index, name in enumerate(names):
        for ax, key in zip(axes, ["train_loss", "test_accuracy"]):
            values = results[name][key]
            ax.errorbar(batch_sizes, np.nanmean(values, axis=1), yerr=np.nanstd(values, axis=1),
                        marker="o", color=_color(index), label=name, capsize=3)
    for ax, label in zip(axes, ["final training loss (eval mode)", "test accuracy"]):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
        ax.set_xlabel("batch size (same number of steps)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)


def plot_figure1(axes, runs: dict[str, dict]) -> None:
    """The paper's Figure 1, three panels: (a) test accuracy over steps; (b) without BN, (c) with BN: sigmoid-input percentiles."""
    accuracy_ax, *percentile_axes = axes
    for index, (name, run) in enumerate(runs.items()):
        accuracy_ax.plot(run["steps"], run["test_accuracy"], color=_color(index), label=name)
    accuracy_ax.set_xlabel("SGD step")
    accuracy_ax.set_ylabel("test accuracy")
    accuracy_ax.set_title("(a) test accuracy", fontsize=10)
    accuracy_ax.legend(fontsize=8)
    low = min(run["percentiles"].min() for run in runs.values())
    high = max(run["percentiles"].max() for run in runs.values())
    margin = 0.05 * (high - low + 1e-9)
    for ax, (index, (name, run)), letter in zip(percentile_axes, enumerate(runs.items()), "bc"):
        for column, style in zip(range(3), [":", "-", ":"]):
            ax.plot(run["steps"], run["percentiles"][:, column], style, color=_color(index))
        ax.set_ylim(low - margin, high + margin)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("sigmoid input")
        ax.set_title(f"({letter}) {name}: 15/50/85th pct", fontsize=10)


def learning_rate_view(sweep: dict, names: Sequence[str], window: int = 20,
                       start_index: int | None = None) -> SliderView:
    """A slider over the swept learning rates showing both models' loss curves at that rate.

    Nothing is trained while the slider moves: the curves come from ``sweep`` (made by
    :func:`learning_rate_sweep`), smoothed once here.
    """
    learning_rates = sweep["learning_rates"]
    smoothed = {name: np.array([[smooth(run, window) for run in runs]
                                for runs in sweep[name]["losses"]]) for name in names}
    steps = np.arange(1, sweep["steps"] + 1)
    finite = np.concatenate([curves[np.isfinite(curves)].ravel() for curves in smoothed.values()])
    top = float(min(np.percentile(finite, 99.5), 2.0)) if finite.size else 1.0

    x_ticks = np.linspace(0, sweep["steps"], 5).round().astype(int)
    y_ticks = np.linspace(0, top, 5)

    def draw(fig, learning_rate):
        index = int(np.argmin(np.abs(np.log(learning_rates) - np.log(learning_rate))))
        # Fixed margins, one artist per model for the seeds, text instead of a legend and
        # fixed ticks: the redraw stays well under 100 ms.
        fig.set_layout_engine("none")
        ax = fig.add_axes((0.11, 0.15, 0.85, 0.76))
        for model_index, name in enumerate(names):
            curves = smoothed[name][index]
            color = _color(model_index)
            seeds = [np.column_stack([steps, run]) for run in curves]
            ax.add_collection(LineCollection(seeds, colors=color, alpha=0.35, linewidths=0.8))
            with np.errstate(all="ignore"):
                ax.plot(steps, np.nanmean(curves, axis=0), color=color, linewidth=2)
            diverged = int(np.sum(np.isnan(curves[:, -1])))
            label = name if diverged == 0 else f"{name} ({diverged} of {len(curves)} seeds diverged)"
            ax.text(0.98, 0.92 - 0.1 * model_index, label, color=color, fontsize=9,
                    ha="right", va="top", transform=ax.transAxes)
        ax.set_xlim(0, steps[-1])
        ax.set_ylim(0, top)
        ax.set_xticks(x_ticks)
        ax.set_yticks(y_ticks, [f"{tick:.2f}" for tick in y_ticks])
        ax.set_xlabel("SGD step")
        ax.set_ylabel(f"training loss ({window}-step avg.)")
        ax.set_title(f"learning rate {learning_rates[index]:g}: thin lines are seeds, thick the mean",
                     fontsize=10)

    start = learning_rates[len(learning_rates) // 2 if start_index is None else start_index]
    slider = widgets.SelectionSlider(options=[(f"{lr:g}", float(lr)) for lr in learning_rates],
                                     value=float(start), description="learning rate")
    return SliderView(draw, {"learning_rate": slider}, figsize=(6.5, 3.0))
