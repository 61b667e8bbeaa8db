"""Plumbing for lesson 02_normalization_math: batches, distribution plots, slider views, running statistics.

Nothing here answers the lesson's graded exercises: wherever a figure needs normalized values
it asks PyTorch's own ``torch.nn.functional.batch_norm`` / ``nn.BatchNorm1d``.
"""
from __future__ import annotations


import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from utils.device import one_thread
from utils.widgets import SliderView

__all__ = [
    "make_batch",
    "issue_60528_example",
    "describe_features",
    "distribution_view",
    "running_stats_trace",
    "running_stats_view",
]

_POOL_SIZE = 512
_MARGINS = dict(left=0.06, right=0.98, bottom=0.16, top=0.84, wspace=0.15)


def _standard_bimodal(num_samples: int, num_features: int, generator: torch.Generator) -> torch.Tensor:
    """Samples from a two-bump distribution with mean 0 and standard deviation 1 (population).

    Half the mass sits around -0.8, half around +0.8, each bump with std 0.6
    (0.8**2 + 0.6**2 = 1).  Deliberately not Gaussian: normalization shifts and rescales a
    feature, it does not change the shape of its distribution.
    """
    signs = torch.randint(0, 2, (num_samples, num_features), generator=generator) * 2 - 1
    return 0.8 * signs + 0.6 * torch.randn(num_samples, num_features, generator=generator)


def make_batch(batch_size: int, num_features: int = 1, shift: float = 0.0, scale: float = 1.0,
               seed: int = 0, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """A batch x of shape (batch_size, num_features) whose population mean is ``shift`` and std ``scale``.

    ``shift`` and ``scale`` may be floats or sequences (one per feature).  The values come from
    a two-bump (bimodal) distribution, seeded by ``seed`` (lesson 02).
    """
    generator = torch.Generator().manual_seed(seed)
    standard = _standard_bimodal(batch_size, num_features, generator).to(torch.float64)
    shift = torch.as_tensor(shift, dtype=torch.float64)
    scale = torch.as_tensor(scale, dtype=torch.float64)
    return (shift + scale * standard).to(dtype=dtype, device=device)


def issue_60528_example(device: torch.device | str | None = None) -> torch.Tensor:
    """The BatchNorm1d example of pytorch issue 60528: X of shape (4, 3, 4) (lesson 02).

    A user's report, filed because PyTorch's documentation of the time did not explain the
    two variances (not an example from the documentation).  Channel 0 holds the rows
    [1..4], [2..5], [3..6], [4..7]; channels 1 and 2 are the same plus 4 and plus 8.
    """
    rows = torch.arange(4.0).unsqueeze(1) + torch.arange(1.0, 5.0)          # (4, 4): sample, position
    channels = torch.stack([rows + 4.0 * channel for channel in range(3)], dim=1)
    return channels.to(device=device)


def describe_features(x: torch.Tensor, label: str = "x") -> str:
    """One line per feature: its batch mean and its (biased) batch standard deviation (lesson 02)."""
    x = x.detach().to("cpu", torch.float64)
    means = x.mean(dim=0)
    stds = x.var(dim=0, correction=0).sqrt()
    lines = [f"{label}: {tuple(x.shape)[0]} examples, {tuple(x.shape)[1]} features"]
    for index, (mean, std) in enumerate(zip(means.tolist(), stds.tolist())):
        lines.append(f"  feature {index}: mean {mean:+9.4f}   std {std:8.4f}")
    return "\n".join(lines)


def _histogram(axes, values: torch.Tensor, limits: tuple[float, float], color: str, title: str) -> None:
    """A filled 40-bin histogram with the mean (black line) and mean +- std (grey band); drawn cheaply."""
    values = values.detach().to("cpu", torch.float64).flatten()
    counts, edges = np.histogram(values.numpy(), bins=40, range=limits)
    axes.stairs(counts, edges, fill=True, color=color, alpha=0.8)
    mean = values.mean().item()
    std = values.var(correction=0).sqrt().item()
    axes.axvline(mean, color="black", linewidth=1)
    axes.axvspan(mean - std, mean + std, color="grey", alpha=0.15)
    axes.set_xlim(*limits)
    axes.set_xticks(np.linspace(limits[0], limits[1], 5))
    axes.set_yticks([])
    axes.set_title(f"{title}\nmean {mean:+.3f}, std {std:.3f}", fontsize=9)
    axes.tick_params(labelsize=8)


def _fast_view(draw, controls: dict) -> SliderView:
    """A SliderView with fixed margins instead of constrained layout (half the redraw time)."""
    view = SliderView(draw, controls, figsize=(8, 2.6))
    view.redraw()
    return view


def distribution_view(seed: int = 0) -> SliderView:
    """Slider view: one feature's batch before and after training-mode batch normalization (lesson 02).

    Sliders: batch size, input shift and scale (the raw feature's population mean and std),
    and gamma and beta (the learned scale and shift).  The right panel is PyTorch's own
    ``F.batch_norm`` in training mode.  The black line marks the batch mean, the grey band
    mean +- one (biased) standard deviation.
    """
    generator = torch.Generator().manual_seed(seed)
    pool = _standard_bimodal(_POOL_SIZE, 1, generator)

    def draw(fig: Figure, batch_size: int, shift: float, scale: float, gamma: float, beta: float) -> None:
        x = shift + scale * pool[:batch_size]
        with one_thread():
            y = F.batch_norm(x, None, None, weight=torch.tensor([gamma]), bias=torch.tensor([beta]),
                             training=True, eps=1e-5)
        before, after = fig.subplots(1, 2, gridspec_kw=_MARGINS)
        _histogram(before, x, (-25.0, 25.0), "tab:blue", f"before: x (batch of {batch_size})")
        _histogram(after, y, (-12.0, 12.0), "tab:orange", f"after: gamma * x_hat + beta (gamma {gamma:.2f}, beta {beta:+.2f})")

    controls = {
        "batch_size": widgets.IntSlider(value=64, min=2, max=_POOL_SIZE, step=2, description="batch size"),
        "shift": widgets.FloatSlider(value=5.0, min=-10.0, max=10.0, step=0.5, description="shift"),
        "scale": widgets.FloatSlider(value=3.0, min=0.1, max=5.0, step=0.1, description="scale"),
        "gamma": widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1, description="gamma"),
        "beta": widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description="beta"),
    }
    return _fast_view(draw, controls)


def running_stats_trace(num_steps: int = 100, batch_size: int = 32, momentum: float | None = 0.1,
                        shift: float = 5.0, scale: float = 3.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Feed ``num_steps`` batches of one feature through ``nn.BatchNorm1d(1, momentum=momentum)`` in train mode.

    Returns per step (tensors of length ``num_steps``): ``batch_mean``, ``batch_var_unbiased``,
    ``running_mean`` and ``running_var`` after the step.  The buffers start at PyTorch's
    initial values, mean 0 and variance 1; the population mean is ``shift`` and variance
    ``scale ** 2`` (lesson 02).
    """
    generator = torch.Generator().manual_seed(seed)
    batches = shift + scale * _standard_bimodal(num_steps * batch_size, 1, generator)
    batches = batches.view(num_steps, batch_size, 1)
    layer = nn.BatchNorm1d(1, momentum=momentum).train()
    trace = {name: torch.empty(num_steps) for name in ("batch_mean", "batch_var_unbiased", "running_mean", "running_var")}
    with torch.no_grad(), one_thread():
        for step, batch in enumerate(batches):
            layer(batch)
            trace["batch_mean"][step] = batch.mean()
            trace["batch_var_unbiased"][step] = batch.var(correction=1)
            trace["running_mean"][step] = layer.running_mean[0]
            trace["running_var"][step] = layer.running_var[0]
    return trace


def running_stats_view(num_steps: int = 100, shift: float = 5.0, scale: float = 3.0, seed: int = 0) -> SliderView:
    """Slider view: running_mean and running_var over training steps, for a momentum and a batch size (lesson 02).

    Each panel shows the batch statistic of every step (blue dots), PyTorch's running estimate
    with the slider's momentum (orange line), the cumulative average that ``momentum=None``
    keeps (dashed green), and the population value (grey).  Traces are computed once per
    (batch size, momentum) and cached.
    """
    batch_sizes = [2, 4, 8, 16, 32, 64, 128]
    momenta = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
    cache: dict[tuple[int, float | None], dict[str, torch.Tensor]] = {}

    def trace(batch_size: int, momentum: float | None) -> dict[str, torch.Tensor]:
        key = (batch_size, momentum)
        if key not in cache:
            cache[key] = running_stats_trace(num_steps, batch_size, momentum, shift, scale, seed)
        return cache[key]

    steps = torch.arange(1, num_steps + 1).numpy()

    def draw(fig: Figure, batch_size: int, momentum: float) -> None:
        chosen = trace(batch_size, momentum)
        cumulative = trace(batch_size, None)
        panels = fig.subplots(1, 2, gridspec_kw=_MARGINS)
        for axes, batch_key, running_key, population, name in (
            (panels[0], "batch_mean", "running_mean", shift, "mean"),
            (panels[1], "batch_var_unbiased", "running_var", scale ** 2, "variance"),
        ):
            axes.plot(steps, chosen[batch_key].numpy(), ".", color="tab:blue", markersize=3, label=f"batch {name}")
            axes.plot(steps, chosen[running_key].numpy(), color="tab:orange", label=f"running, momentum {momentum:.2f}")
            axes.plot(steps, cumulative[running_key].numpy(), "--", color="tab:green", label="running, momentum=None")
            axes.axhline(population, color="grey", linewidth=1, label=f"population {name}")
            axes.set_xticks([0, num_steps // 2, num_steps])
            axes.yaxis.set_major_locator(MaxNLocator(4))
            axes.set_xlabel("training step", fontsize=8, labelpad=1)
            axes.set_title(f"running_{'var' if name == 'variance' else name} after {num_steps} steps: "
                           f"{chosen[running_key][-1].item():.3f}", fontsize=9)
            axes.tick_params(labelsize=8)

    controls = {
        "batch_size": widgets.SelectionSlider(options=batch_sizes, value=16, description="batch size"),
        "momentum": widgets.SelectionSlider(options=momenta, value=0.1, description="momentum"),
    }
    return _fast_view(draw, controls)
