"""Where a BatchNorm layer goes, and what it does there (lesson 03).

- :func:`preactivation_view` - slider view: how often each of the 64 hidden units of the
  seed's first layer would pass its input through a ReLU, with and without BatchNorm1d, as
  the input's scale and shift change.
- :func:`preactivation_stats` - the numbers behind that view.
- :func:`bias_before_bn_difference` - a bias in front of BN changes nothing.
- :func:`shape_table` - which input shapes BatchNorm1d/2d/3d accept.
- :func:`train_variants` - train several model variants on the same data and seeds.
- :func:`output_bn_demo` - what a BN on the final logit does, in training and in eval mode.
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


ALWAYS = 0.05   # a unit is "almost always off" when active for < 5% of the batch, "almost always on" above 95%


def preactivation_stats(scale: float, shift: float, seed: int = 0, batch: int = 256) -> dict:
    """Pre-activations of Linear(20, 64) on inputs ``x * scale + shift``, with and without BN.

    Returns a dict with ``without_bn`` and ``with_bn`` arrays of shape (batch, 64); per unit,
    the fraction of the batch for which its ReLU would be active (> 0), ``unit_active_without_bn``
    and ``unit_active_with_bn`` (arrays of 64); the numbers of units that are almost always off
    (active for fewer than 5% of the examples) and almost always on (more than 95%),
    ``always_off_*`` and ``always_on_*``; and the active fraction pooled over all units and
    examples, ``active_*``.
    """
    x, linear = _first_layer(seed, batch)
    with torch.no_grad(), one_thread():
        before = linear(x * scale + shift)
        after = nn.BatchNorm1d(64).train()(before)
    out = {"without_bn": before.numpy(), "with_bn": after.numpy()}
    for key, values in (("without_bn", before), ("with_bn", after)):
        per_unit = (values > 0).float().mean(dim=0)
        out[f"unit_active_{key}"] = per_unit.numpy()
        out[f"always_off_{key}"] = int((per_unit < ALWAYS).sum())
        out[f"always_on_{key}"] = int((per_unit > 1 - ALWAYS).sum())
        out[f"active_{key}"] = float((values > 0).float().mean())
    return out


_BINS = np.linspace(0.0, 1.0, 21)


def _draw_preactivations(fig, scale: float, shift: float) -> None:
    """Per unit, the fraction of examples for which its ReLU is on, without and with BN.

    Fixed axes (0..1 on x, 0..64 units on y): what moves is the data, not the scale.  Axes
    are made on the first call, then only the bars and titles change.
    """
    stats = preactivation_stats(scale, shift)
    if not fig.axes:
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.8, wspace=0.2)
        for ax, colour in zip(fig.subplots(1, 2, sharey=True), ("tab:red", "tab:blue")):
            ax.stairs(np.zeros(len(_BINS) - 1), _BINS, fill=True, color=colour, alpha=0.8)
            ax.axvspan(0, ALWAYS, color="grey", alpha=0.2, linewidth=0)
            ax.axvspan(1 - ALWAYS, 1, color="grey", alpha=0.2, linewidth=0)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 64)
            ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"])
            ax.set_xlabel("fraction of the batch for which the unit's ReLU is on", fontsize=8)
        fig.axes[0].set_ylabel("units (of 64)", fontsize=8)
    for ax, key, title in [(fig.axes[0], "without_bn", "Linear(20, 64) output"),
                           (fig.axes[1], "with_bn", "after BatchNorm1d(64)")]:
        counts, _ = np.histogram(stats["unit_active_" + key], bins=_BINS)
        ax.patches[0].set_data(counts, _BINS)
        ax.set_title(f"{title}\nalmost always off: {stats['always_off_' + key]}, "
                     f"almost always on: {stats['always_on_' + key]} (grey bands)", fontsize=9)


def preactivation_view() -> SliderView:
    """Sliders for the input's scale and shift; per-unit ReLU activity with and without BN."""
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
    with one_thread():      # tiny models: a second thread only adds overhead
        return _train_variants(factories, X, y, seeds=seeds, steps=steps, lr=lr, batch_size=batch_size)


def _train_variants(factories, X, y, *, seeds, steps, lr, batch_size) -> dict:
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
    """A BatchNorm1d(1) on the final logit, in training mode and in eval mode (lesson 03).

    Logits of a confident model: batch A holds 64 confident positives (logits about 3), batch
    B the same first example plus 63 examples of a mixed batch (half about +3, half about -3).
    In training mode BN re-centres each batch's logits on beta (0 at initialization), so in
    batch A about half the confident positives fall below 0.5, and example 0's probability
    depends on its batch.  In eval mode, after 50 training-mode passes over mixed batches
    (the running statistics), BN is one fixed affine map of the logit: the same in every
    batch, order-preserving, something the final Linear could compute itself.
    """
    generator = torch.Generator().manual_seed(seed)
    positives = torch.randn(64, 1, generator=generator) * 0.5 + 3.0

    def mixed() -> torch.Tensor:
        signs = torch.where(torch.arange(64) % 2 == 0, 1.0, -1.0).unsqueeze(1)
        return signs * 3.0 + torch.randn(64, 1, generator=generator) * 0.5

    batch_b = torch.cat([positives[:1], mixed()[1:]])
    bn = nn.BatchNorm1d(1)
    with torch.no_grad():
        bn.train()
        train_a, train_b = torch.sigmoid(bn(positives)), torch.sigmoid(bn(batch_b))
        for _ in range(50):
            bn(mixed())
        bn.eval()
        eval_a, eval_b = torch.sigmoid(bn(positives)), torch.sigmoid(bn(batch_b))
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).item()
        shift = (bn.bias - bn.weight * bn.running_mean / torch.sqrt(bn.running_var + bn.eps)).item()
    plain = torch.sigmoid(positives)
    order_kept = bool(torch.equal(torch.argsort(eval_a.flatten()), torch.argsort(positives.flatten())))
    return {
        "above_half_without_bn": float((plain > 0.5).float().mean()),
        "above_half_with_bn": float((train_a > 0.5).float().mean()),
        "mean_probability_without_bn": float(plain.mean()),
        "mean_probability_with_bn": float(train_a.mean()),
        "example_train": (float(train_a[0]), float(train_b[0])),
        "example_eval": (float(eval_a[0]), float(eval_b[0])),
        "example_without_bn": float(plain[0]),
        "above_half_eval": float((eval_a > 0.5).float().mean()),
        "eval_scale": scale, "eval_shift": shift, "eval_order_kept": order_kept,
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
