"""Where a BatchNorm layer goes, and what it does there (lesson 03).

- :func:`preactivation_view` - slider view: the 64 hidden pre-activations of the seed's
  first layer, with and without BatchNorm1d, as the input's scale and shift change.
- :func:`preactivation_stats` - the numbers behind that view.
- :func:`bias_before_bn_difference` - a bias in front of BN changes nothing.
- :func:`shape_table` - which input shapes BatchNorm1d/2d/3d accept.
- :func:`train_variants` - train several model variants on the same data and seeds.
- :func:`output_bn_demo` - what a BN on the final logit does to the probabilities.
"""
from __future__ import annotations

import functools
from typing import Callable

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from utils.device import get_device, one_thread, seed_everything
from utils.widgets import SliderView


@functools.lru_cache(maxsize=4)
def _first_layer(seed: int, batch: int) -> tuple[torch.Tensor, nn.Linear]:
    """A fixed batch of standard-normal inputs and a freshly initialized Linear(20, 64)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    return torch.randn(batch, 20, generator=generator), nn.Linear(20, 64)


def preactivation_stats(scale: float, shift: float, seed: int = 0, batch: int = 256) -> dict:
    """Pre-activations of Linear(20, 64) on inputs ``x * scale + shift``, with and without BN.

    Returns a dict with ``without_bn`` and ``with_bn`` arrays of shape (batch, 64), and the
    fraction of ReLU units that would be active (> 0) in each case.
    """
    x, linear = _first_layer(seed, batch)
    with torch.no_grad(), one_thread():
        before = linear(x * scale + shift)
        after = nn.BatchNorm1d(64).train()(before)
    return {
        "without_bn": before.numpy(),
        "with_bn": after.numpy(),
        "active_without_bn": float((before > 0).float().mean()),
        "active_with_bn": float((after > 0).float().mean()),
    }


def _draw_preactivations(fig, scale: float, shift: float) -> None:
    """Histograms of 8 of the 64 pre-activations, before and after BN (axes made once, then updated)."""
    stats = preactivation_stats(scale, shift)
    if not fig.axes:
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.8, wspace=0.25)
        for ax, colour in zip(fig.subplots(1, 2), ("tab:red", "tab:blue")):
            ax.stairs([0], [0, 1], fill=True, color=colour, alpha=0.8)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_xlabel("pre-activation value (8 of the 64 units)", fontsize=8)
        fig.axes[0].set_ylabel("count", fontsize=8)
    for ax, key, title in [(fig.axes[0], "without_bn", "Linear(20, 64) output"),
                           (fig.axes[1], "with_bn", "after BatchNorm1d(64)")]:
        values = stats[key]
        counts, edges = np.histogram(values[:, :8].ravel(), bins=40)
        ax.patches[0].set_data(counts, edges)
        ax.set_xlim(min(edges[0], -1.0), max(edges[-1], 1.0))
        ax.set_ylim(0, counts.max() * 1.1)
        ax.set_title(f"{title}\nmean {values.mean():.2f}, std {values.std():.2f}, "
                     f"ReLU active {stats['active_' + key]:.0%}", fontsize=9)


def preactivation_view() -> SliderView:
    """Sliders for the input's scale and shift; histograms of pre-activations with and without BN."""
    return SliderView(_draw_preactivations, clear=False, controls={
        "scale": widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1.5, step=0.1, description="input scale"),
        "shift": widgets.FloatSlider(value=0.0, min=-10.0, max=10.0, step=0.5, description="input shift"),
    })


def bias_before_bn_difference(seed: int = 0) -> float:
    """Largest difference between BN(Linear with bias)(x) and BN(same Linear without bias)(x)."""
    seed_everything(seed)
    with_bias = nn.Linear(20, 64)
    without_bias = nn.Linear(20, 64, bias=False)
    with torch.no_grad():
        without_bias.weight.copy_(with_bias.weight)
        with_bias.bias.uniform_(-5, 5)  # a large bias, to make the point
    bn = nn.BatchNorm1d(64).train()
    x = torch.randn(128, 20)
    with torch.no_grad():
        return float((bn(with_bias(x)) - bn(without_bias(x))).abs().max())


def shape_table() -> list[dict]:
    """For each BatchNorm kind and input shape: the output shape, or the error it raises."""
    cases = [
        ("BatchNorm1d", nn.BatchNorm1d(16), (32, 16), "(N, C): features of an MLP"),
        ("BatchNorm1d", nn.BatchNorm1d(16), (32, 16, 50), "(N, C, L): sequences / 1-D signals"),
        ("BatchNorm2d", nn.BatchNorm2d(16), (32, 16, 28, 28), "(N, C, H, W): conv feature maps"),
        ("BatchNorm3d", nn.BatchNorm3d(16), (8, 16, 4, 28, 28), "(N, C, D, H, W): volumes, video"),
        ("BatchNorm2d", nn.BatchNorm2d(16), (32, 16), "(N, C) given to BatchNorm2d"),
        ("BatchNorm1d", nn.BatchNorm1d(16), (32, 16, 28, 28), "an image batch given to BatchNorm1d"),
        ("BatchNorm1d", nn.BatchNorm1d(16), (32, 8), "C = 8 but num_features = 16"),
    ]
    rows = []
    for kind, layer, shape, meaning in cases:
        try:
            out = layer(torch.randn(*shape))
            result = f"ok -> {tuple(out.shape)}, {tuple(layer.running_mean.shape)[0]} means/vars"
        except (ValueError, RuntimeError) as error:
            result = f"{type(error).__name__}: {str(error).splitlines()[0][:70]}"
        rows.append({"layer": f"{kind}(16)", "input": str(shape), "meaning": meaning, "result": result})
    return rows


def per_channel_statistics_demo(seed: int = 0) -> dict:
    """BatchNorm2d normalizes each channel over N, H and W: the numbers that show it."""
    seed_everything(seed)
    maps = torch.randn(8, 3, 5, 5) * torch.tensor([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1) + torch.tensor(
        [0.0, 3.0, -2.0]).reshape(1, 3, 1, 1)
    bn = nn.BatchNorm2d(3).train()
    with torch.no_grad():
        out = bn(maps)
    return {
        "channel_means_before": maps.mean(dim=(0, 2, 3)).tolist(),
        "channel_stds_before": maps.std(dim=(0, 2, 3), correction=0).tolist(),
        "channel_means_after": out.mean(dim=(0, 2, 3)).tolist(),
        "channel_stds_after": out.std(dim=(0, 2, 3), correction=0).tolist(),
        "values_per_statistic": maps.shape[0] * maps.shape[2] * maps.shape[3],
        "gamma_shape": tuple(bn.weight.shape),
    }


def train_variants(factories: dict[str, Callable[[], nn.Module]], X: torch.Tensor, y: torch.Tensor, *,
                   seeds=(0, 1, 2), steps: int = 150, lr: float = 0.1, batch_size: int = 64) -> dict:
    """Train each model variant with SGD on (X, y) for each seed; report final training loss and accuracy.

    Returns {name: {"loss": [per seed], "accuracy": [per seed]}}; the same seed gives the same
    initial weights and the same mini-batches to every variant.
    """
    device = get_device()
    X, y = X.to(device), y.to(device)
    results: dict = {}
    for name, factory in factories.items():
        losses, accuracies = [], []
        for seed in seeds:
            seed_everything(seed)
            model = factory().to(device)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            loss_fn = nn.BCELoss()
            order = torch.Generator().manual_seed(seed)
            model.train()
            for _ in range(steps):
                index = torch.randint(0, len(X), (batch_size,), generator=order).to(device)
                optimizer.zero_grad()
                loss = loss_fn(model(X[index]), y[index])
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                probabilities = model(X)
                losses.append(float(loss_fn(probabilities, y)))
                accuracies.append(float(((probabilities > 0.5).float() == y).float().mean()))
        results[name] = {"loss": losses, "accuracy": accuracies}
    return results


def output_bn_demo(seed: int = 0) -> dict:
    """A BatchNorm1d(1) on the final logit, in training mode, on a batch where every label is 1.

    Whatever the logits were, BN re-centres them on beta (0 at initialization): about half the
    batch is pushed below probability 0.5.  Returns the fractions above 0.5 with and without it.
    """
    seed_everything(seed)
    logits = torch.randn(64, 1) * 0.5 + 3.0  # a confident model: every example clearly positive
    with torch.no_grad():
        normalized = nn.BatchNorm1d(1).train()(logits)
    return {
        "above_half_without_bn": float((torch.sigmoid(logits) > 0.5).float().mean()),
        "above_half_with_bn": float((torch.sigmoid(normalized) > 0.5).float().mean()),
        "mean_probability_without_bn": float(torch.sigmoid(logits).mean()),
        "mean_probability_with_bn": float(torch.sigmoid(normalized).mean()),
    }


def summarize(results: dict) -> str:
    """One line per variant: mean +- spread of the final loss and accuracy over seeds."""
    lines = []
    for name, values in results.items():
        loss = np.array(values["loss"])
        accuracy = np.array(values["accuracy"])
        lines.append(f"{name:<24} loss {loss.mean():.3f} (min {loss.min():.3f}, max {loss.max():.3f})   "
                     f"accuracy {accuracy.mean():.1%}")
    return "\n".join(lines)
