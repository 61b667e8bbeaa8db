"""What goes wrong in a deep tanh network without BN, and what BN changes (lesson 01).

- :func:`deep_tanh_mlp` - a deep stack of ``Linear -> [BatchNorm1d | noisy BN] -> Tanh``
  blocks whose weights are drawn with a chosen *init scale*.
- :func:`record_tanh` - the input and output of every ``Tanh`` for one batch (forward hooks).
- :func:`layer_table`, :func:`plot_layer_histograms` - per-layer statistics and histograms.
- :func:`init_scale_sweep`, :func:`plot_sweep` - the last layer's statistics across init scales.
- :func:`weight_gradient_stds` - how big each Linear layer's weight gradient is.
- :func:`train_and_track` - train on the bundled digits while tracking one layer's inputs.
- :func:`NoisyBatchNorm1d` - BN followed by random noise that changes every step
  (Santurkar et al. 2018's "noisy BN").
- :func:`activation_view` - the slider view: depth, init scale, with/without BN.

Functions that need the fraction of saturated units take it as an argument
(``saturation=``): the lesson passes in the learner's own ``saturated_fraction``, which is
the lesson's graded exercise and is deliberately not defined here.  Nothing runs at import.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import torch
from torch import nn

from utils.device import get_device, one_thread
from utils.widgets import SliderView

SaturationFunction = Callable[[torch.Tensor], float]
NORMS = ("none", "batchnorm", "noisy_batchnorm")


class NoisyBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` followed by noise that changes every training step (lesson 01).

    After normalizing (and the learned scale and shift), each unit j gets a random scale
    ``s_j`` and a random shift ``m_j``: ``y = s_j * bn(x) + m_j``.  ``s_j`` is drawn
    log-uniformly from ``[1 / max_scale, max_scale]`` and ``m_j`` uniformly from
    ``[-max_shift, max_shift]``, so the noise has non-zero mean and non-unit variance.
    :meth:`resample` draws new values; :func:`train_and_track` calls it once per step, so
    the distribution every later layer sees keeps moving - on purpose.  In ``eval()`` mode the
    noise is off and the layer is an ordinary ``BatchNorm1d``.
    """

    def __init__(self, num_features: int, max_scale: float = 1.5, max_shift: float = 0.5, **kwargs):
        super().__init__(num_features, **kwargs)
        self.max_scale = max_scale
        self.max_shift = max_shift
        self.register_buffer("noise_scale", torch.ones(num_features))
        self.register_buffer("noise_shift", torch.zeros(num_features))

    @torch.no_grad()
    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw a new scale and shift for every unit (call once per training step)."""
        log_max = torch.log(torch.tensor(self.max_scale))
        u = torch.rand(2, self.num_features, generator=generator)
        self.noise_scale.copy_(torch.exp((2 * u[0] - 1) * log_max))
        self.noise_shift.copy_((2 * u[1] - 1) * self.max_shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            y = y * self.noise_scale + self.noise_shift
        return y


def deep_tanh_mlp(depth: int, width: int, in_features: int, out_features: int | None = None,
                  init_scale: float = 1.0, norm: str = "none",
                  output_scale: float | None = None) -> nn.Sequential:
    """``depth`` hidden blocks ``Linear -> [norm] -> Tanh``, then an optional output Linear.

    Every hidden Linear weight is drawn from N(0, init_scale**2 / fan_in) and biases start at
    0, so ``init_scale=1`` keeps the spread of a Linear layer's output (an affine map,
    ``x @ W.T + b``) equal to its input's.  The output Linear uses ``output_scale`` instead
    when it is given (else ``init_scale``).  With a fixed seed, the weights for two init
    scales are the same random draws times the scale.
    ``norm`` is "none", "batchnorm" (``nn.BatchNorm1d`` after each hidden Linear) or
    "noisy_batchnorm" (:class:`NoisyBatchNorm1d`).  A Linear followed by BN has no bias
    (BN's shift replaces it).  Parameters are created on the CPU; move the model yourself.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, width, bias=(norm == "none")))
        if norm == "batchnorm":
            layers.append(nn.BatchNorm1d(width))
        elif norm == "noisy_batchnorm":
            layers.append(NoisyBatchNorm1d(width))
        layers.append(nn.Tanh())
        fan_in = width
    if out_features is not None:
        layers.append(nn.Linear(fan_in, out_features))
    model = nn.Sequential(*layers)
    linears = [module for module in model if isinstance(module, nn.Linear)]
    with torch.no_grad():
        for index, module in enumerate(linears):
            scale = init_scale
            if out_features is not None and index == len(linears) - 1 and output_scale is not None:
                scale = output_scale
            module.weight.normal_(0.0, scale / module.in_features ** 0.5)
            if module.bias is not None:
                module.bias.zero_()
    return model


def record_tanh(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run ``model(x)`` once; return (inputs, outputs) of every ``nn.Tanh``, detached, in order.

    ``inputs[k]`` is what the k-th tanh receives (the *pre-activation*), ``outputs[k]`` what
    it produces (values in (-1, 1)), each of shape (N, width).
    """
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []

    def hook(module, args, output):
        inputs.append(args[0].detach())
        outputs.append(output.detach())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Tanh)]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def random_inputs(batch_size: int, in_features: int, seed: int = 0, device=None) -> torch.Tensor:
    """A batch of standard-normal inputs of shape (batch_size, in_features), from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, in_features, generator=generator)
    return x.to(device if device is not None else get_device())


@one_thread()
def probe(depth: int, init_scale: float, norm: str = "none", width: int = 256, batch_size: int = 512,
          seed: int = 0, device=None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Build a fresh :func:`deep_tanh_mlp` (seed ``seed``), feed it random inputs; return
    :func:`record_tanh`'s (pre-activations, tanh outputs).  The model is in training mode, as
    at the first step of training, so BN uses the statistics of this batch."""
    device = device if device is not None else get_device()
    torch.manual_seed(seed)
    model = deep_tanh_mlp(depth, width, width, init_scale=init_scale, norm=norm).to(device)
    x = random_inputs(batch_size, width, seed=seed + 1, device=device)
    with torch.no_grad():
        return record_tanh(model, x)


@one_thread()
def linear_image_similarity(depth: int, init_scale: float, width: int = 256, batch_size: int = 512,
                            seed: int = 0) -> dict[str, float]:
    """Is a small-init network's last layer erased, or only scaled down?  (lesson 01, no BN)

    Builds the network :func:`probe` builds (seed ``seed``, same inputs) and compares the last
    tanh layer's output ``t`` with the input pushed through the same Linear layers without the
    tanh (``lin``).  Returns ``std`` (of ``t``), ``linear_std`` (of ``lin``),
    ``rescaled_std`` (of ``t / t.std()``, 1 by construction) and ``cosine``, the cosine
    similarity of ``t`` and ``lin`` over all entries (1 means the same up to a scale).
    """
    torch.manual_seed(seed)
    model = deep_tanh_mlp(depth, width, width, init_scale=init_scale, norm="none")
    x = random_inputs(batch_size, width, seed=seed + 1, device="cpu")
    with torch.no_grad():
        _, outputs = record_tanh(model, x)
        linear = x
        for module in model:
            if isinstance(module, nn.Linear):
                linear = module(linear)
    t = outputs[-1]
    cosine = torch.nn.functional.cosine_similarity(t.flatten(), linear.flatten(), dim=0)
    return {"std": t.std().item(), "linear_std": linear.std().item(),
            "rescaled_std": (t / t.std()).std().item(), "cosine": cosine.item()}


def layer_table(outputs: list[torch.Tensor], saturation: SaturationFunction | None = None,
                every: int = 1) -> str:
    """A text table: for every ``every``-th layer, the tanh outputs' mean, std and saturation.

    ``saturation`` maps a tensor of tanh outputs to the fraction of saturated units
    (the lesson passes its ``saturated_fraction``); without it the column is left out.
    The last layer is always included.
    """
    rows = [f"{'layer':>5} {'mean':>8} {'std':>7}" + (f" {'saturated':>10}" if saturation else "")]
    chosen = list(range(0, len(outputs), every))
    if chosen[-1] != len(outputs) - 1:
        chosen.append(len(outputs) - 1)
    for k in chosen:
        t = outputs[k]
        row = f"{k + 1:>5} {t.mean().item():>8.3f} {t.std().item():>7.3f}"
        if saturation is not None:
            row += f" {100 * saturation(t):>9.1f}%"
        rows.append(row)
    return "\n".join(rows)


def as_image(fig):
    """A matplotlib Figure as an IPython PNG image (display it as a cell's last expression)."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return Image(data=buffer.getvalue())


def _histogram(t: torch.Tensor, bins: int = 50, low: float = -1.0, high: float = 1.0):
    """(density, edges) of the values of ``t`` in [low, high] (values outside go to the end bins)."""
    values = t.detach().flatten().float().cpu()
    index = ((values - low) * (bins / (high - low))).long().clamp(0, bins - 1)
    counts = torch.bincount(index, minlength=bins).float()
    density = counts / counts.sum().clamp(min=1) / ((high - low) / bins)
    edges = torch.linspace(low, high, bins + 1)
    return density.numpy(), edges.numpy()


def _choose_layers(depth: int, how_many: int = 5) -> list[int]:
    if depth <= how_many:
        return list(range(depth))
    step = (depth - 1) / (how_many - 1)
    return sorted({round(i * step) for i in range(how_many)})


VIEW_MARGINS = dict(left=0.075, right=0.98, bottom=0.15, top=0.9, wspace=0.2)
DENSITY_TICKS = (-2, 0, 2)     # log10 of the density: 0.01, 1, 100


def plot_layer_histograms(ax, outputs: list[torch.Tensor], layers: list[int] | None = None,
                          title: str = "", legend: bool = True) -> None:
    """Overlay the histograms of the tanh outputs of some layers (0-based indices) on ``ax``.

    The density is drawn on a log scale (computed here, with fixed ticks, which redraws much
    faster than matplotlib's log axis); the red bands mark |t| > 0.97.
    """
    from matplotlib import colormaps

    layers = layers if layers is not None else _choose_layers(len(outputs))
    colors = colormaps["viridis"]
    low = DENSITY_TICKS[0] - 0.5
    for i, k in enumerate(layers):
        density, edges = _histogram(outputs[k])
        log_density = torch.log10(torch.as_tensor(density).clamp(min=10.0 ** low)).numpy()
        # A step line (Line2D) rather than ax.stairs (a patch): far cheaper to add and draw.
        steps = torch.as_tensor(log_density).tolist()
        ax.plot(edges, steps + steps[-1:], drawstyle="steps-post", color=colors(i / max(1, len(layers) - 1)),
                label=f"layer {k + 1}", linewidth=1.5)
    ax.set_xlim(-1, 1)
    ax.set_ylim(low, DENSITY_TICKS[-1] + 1.6)      # room for the legend above the curves (density <= 25)
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks(DENSITY_TICKS, [f"{10.0 ** d:g}" for d in DENSITY_TICKS])
    ax.set_xlabel("tanh output")
    ax.set_ylabel("density (log scale)")
    ax.axvspan(-1, -0.97, color="tab:red", alpha=0.15, linewidth=0)
    ax.axvspan(0.97, 1, color="tab:red", alpha=0.15, linewidth=0)
    if legend:
        ax.legend(fontsize=7, loc="upper center", ncol=3, handlelength=1.2, columnspacing=1.0)
    else:   # one line of text instead of a legend box: much faster to redraw
        ax.text(0.5, 0.97, "layers " + ", ".join(str(k + 1) for k in layers) + "  (dark \u2192 light)",
                transform=ax.transAxes, ha="center", va="top", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)


def histograms_figure(panels: list[tuple[str, list[torch.Tensor]]], figsize=(10, 3)):
    """A matplotlib Figure with one histogram panel per (title, tanh outputs) pair."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=80, layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True)
    for ax, (title, outputs) in zip(list(axes) if len(panels) > 1 else [axes], panels):
        plot_layer_histograms(ax, outputs, title=title)
    return fig


def init_scale_sweep(scales, saturation: SaturationFunction, depth: int = 10, width: int = 256,
                     norm: str = "none", seed: int = 0) -> dict[str, list[float]]:
    """For each init scale, the *last* hidden layer's tanh-output std and saturated fraction.

    Returns ``{"scale": [...], "std": [...], "saturated": [...]}`` (Python floats).
    """
    result: dict[str, list[float]] = {"scale": [], "std": [], "saturated": []}
    for scale in scales:
        _, outputs = probe(depth, float(scale), norm=norm, width=width, seed=seed)
        result["scale"].append(float(scale))
        result["std"].append(outputs[-1].std().item())
        result["saturated"].append(float(saturation(outputs[-1])))
    return result


def plot_sweep(sweeps: dict[str, dict[str, list[float]]], figsize=(9, 3)):
    """Two panels (std, saturated fraction of the last layer) vs init scale, one line per sweep."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=80, layout="constrained")
    ax_std, ax_sat = fig.subplots(1, 2)
    for label, sweep in sweeps.items():
        ax_std.plot(sweep["scale"], sweep["std"], marker=".", label=label)
        ax_sat.plot(sweep["scale"], sweep["saturated"], marker=".", label=label)
    for ax, name in ((ax_std, "std of last layer's tanh output"), (ax_sat, "saturated fraction, last layer")):
        ax.set_xscale("log")
        ax.set_xlabel("init scale")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=8)
    ax_sat.set_ylim(-0.02, 1.02)
    return fig


@one_thread()
def weight_gradient_stds(depth: int, init_scale: float, norm: str = "none", width: int = 256,
                         batch_size: int = 512, seed: int = 0, output_scale: float = 1.0) -> list[float]:
    """Backpropagate a random-target loss through a fresh deep MLP; return the std of every
    hidden Linear layer's weight gradient, first layer first (Python floats).

    Only the hidden layers' weights follow ``init_scale``; the output Linear (to 10 classes)
    is drawn with ``output_scale`` (1 by default), so with BN two init scales give networks
    that compute the same function (BN(a W x) = BN(W x)) and differ only in the size of the
    weights in front of each BN."""
    device = get_device()
    torch.manual_seed(seed)
    model = deep_tanh_mlp(depth, width, width, out_features=10, init_scale=init_scale, norm=norm,
                          output_scale=output_scale).to(device)
    x = random_inputs(batch_size, width, seed=seed + 1, device=device)
    generator = torch.Generator().manual_seed(seed + 2)
    target = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
    nn.functional.cross_entropy(model(x), target).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)][:depth]
    return [m.weight.grad.std().item() for m in linears]


def train_and_track(norm: str, init_scale: float = 1.0, depth: int = 6, width: int = 64,
                    steps: int = 600, batch_size: int = 60, lr: float = 0.1, seed: int = 0,
                    track_every: int = 10) -> dict:
    """Train a :func:`deep_tanh_mlp` on the bundled digits with plain SGD; track its last layer.

    Every ``track_every`` steps the model sees a fixed probe batch (the first 500 training
    images, BN in training mode with the running statistics left untouched) and records the
    inputs of the *last* hidden tanh layer: every unit's median (what :func:`drift` and
    :func:`plot_training` use) and the 15th/50th/85th percentiles of unit 0.  (Lesson 04
    reproduces the paper's Figure 1 itself, with its own measure; this is lesson 01's.)

    Returns a dict with ``steps`` (tracked steps), ``loss`` (the training loss of every step),
    ``percentiles`` (tracked x 3), ``unit_medians`` (tracked x width), ``test_accuracy``
    (float, at the end), ``n_train`` and ``n_test`` (image counts) and ``seconds`` (wall time).
    """
    import time

    start = time.perf_counter()
    history = _train_and_track(norm, init_scale, depth, width, steps, batch_size, lr, seed, track_every)
    history["seconds"] = time.perf_counter() - start
    return history


@one_thread()
def _train_and_track(norm, init_scale, depth, width, steps, batch_size, lr, seed, track_every) -> dict:
    from utils.data import load_digits_split

    device = get_device()
    X_train, y_train, X_test, y_test = load_digits_split(seed=0)
    X_train, y_train = X_train.to(device), y_train.to(device)
    X_test, y_test = X_test.to(device), y_test.to(device)
    X_probe = X_train[:500]
    torch.manual_seed(seed)
    model = deep_tanh_mlp(depth, width, X_train.shape[1], out_features=10,
                          init_scale=init_scale, norm=norm).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed + 1)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    noisy = [m for m in batch_norms if isinstance(m, NoisyBatchNorm1d)]

    history: dict = {"steps": [], "loss": [], "percentiles": [], "unit_medians": [],
                     "n_train": len(X_train), "n_test": len(X_test)}
    quantiles = torch.tensor([0.15, 0.50, 0.85], device=device)

    def track(step: int) -> None:
        momenta = [m.momentum for m in batch_norms]
        for m in batch_norms:
            m.momentum = 0.0        # running = 1 * running + 0 * batch: the probe changes nothing
        with torch.no_grad():
            inputs, _ = record_tanh(model, X_probe)
        for m, momentum in zip(batch_norms, momenta):
            m.momentum = momentum
        last = inputs[-1]
        history["steps"].append(step)
        history["percentiles"].append(torch.quantile(last[:, 0], quantiles).tolist())
        history["unit_medians"].append(last.median(dim=0).values.tolist())

    model.train()
    for step in range(steps):
        for m in noisy:
            m.resample(generator)
        if step % track_every == 0:
            track(step)
        index = torch.randint(0, len(X_train), (batch_size,), generator=generator).to(device)
        loss = nn.functional.cross_entropy(model(X_train[index]), y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
    track(steps)
    model.eval()
    with torch.no_grad():
        history["test_accuracy"] = (model(X_test).argmax(1) == y_test).float().mean().item()
    return history


def drift(history: dict) -> float:
    """How far the last layer's inputs wander during training: the std over tracked steps of
    each unit's median, averaged over units (0 means the distribution never moved)."""
    medians = torch.tensor(history["unit_medians"])        # (tracked, width)
    return medians.std(dim=0).mean().item()


def smoothed(values: list[float], window: int = 25) -> list[float]:
    """The running mean of ``values`` over the last ``window`` entries (for loss curves)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_training(histories: dict[str, dict], figsize=(10, 3)):
    """Smoothed training loss, then, per run, the median input of each of the last hidden
    layer's units over training (one thin line per unit: what :func:`drift` measures), on
    shared axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=80, layout="constrained")
    axes = fig.subplots(1, 1 + len(histories))
    for label, history in histories.items():
        axes[0].plot(smoothed(history["loss"]), label=label, linewidth=1.2)
    axes[0].set_xlabel("step")
    axes[0].set_title("training loss (running mean of 25 steps)", fontsize=9)
    axes[0].legend(fontsize=8)
    for ax, (label, history) in zip(axes[1:], histories.items()):
        medians = torch.tensor(history["unit_medians"])       # (tracked, width)
        ax.plot(history["steps"], medians.numpy(), color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.set_title(f"{label}: median input of each unit,\ndrift {drift(history):.3f}", fontsize=9)
        ax.set_xlabel("step")
    lows = [min(min(r) for r in h["unit_medians"]) for h in histories.values()]
    highs = [max(max(r) for r in h["unit_medians"]) for h in histories.values()]
    for ax in axes[1:]:
        ax.set_ylim(min(lows) - 0.1, max(highs) + 0.1)
    axes[1].set_ylabel("last hidden layer: tanh input")
    return fig


def activation_view(saturation: SaturationFunction | None = None, width: int = 128,
                    batch_size: int = 256) -> SliderView:
    """The slider view: depth, init scale and with/without BN of a fresh deep tanh MLP.

    Left: histograms of the tanh outputs of up to five layers (log density; the red bands
    are |t| > 0.97).  Right: the std of each layer's outputs (black line) and, when a
    ``saturation`` function is given (the lesson passes the learner's ``saturated_fraction``),
    each layer's saturated fraction (red).  The model is rebuilt from seed 0 for every redraw.
    """
    controls = {
        "depth": widgets.IntSlider(value=10, min=2, max=30, step=1, description="depth"),
        "init_scale": widgets.FloatLogSlider(value=3.0, base=10, min=-1, max=1, step=0.05,
                                             description="init scale", readout_format=".2f"),
        "batchnorm": widgets.Checkbox(value=False, description="BatchNorm1d after each Linear"),
    }

    def draw(fig, depth: int, init_scale: float, batchnorm: bool) -> None:
        norm = "batchnorm" if batchnorm else "none"
        _, outputs = probe(depth, init_scale, norm=norm, width=width, batch_size=batch_size)
        ax_hist, ax_layers = fig.subplots(1, 2, gridspec_kw=VIEW_MARGINS)
        plot_layer_histograms(ax_hist, outputs, legend=False,
                              title=f"depth {depth}, init scale {init_scale:.2f}, "
                                    f"{'with' if batchnorm else 'without'} BN")
        layers = torch.arange(1, depth + 1).numpy()
        stds = [t.std().item() for t in outputs]
        summary = f"last layer: std {stds[-1]:.3f}"
        if saturation is not None:
            fractions = [float(saturation(t)) for t in outputs]
            edges = (torch.arange(depth + 1) + 0.5).tolist()
            ax_layers.fill_between(edges, fractions + fractions[-1:], step="post", color="tab:red",
                                   alpha=0.5, linewidth=0)
            summary = f"last layer: {100 * fractions[-1]:.1f}% saturated, std {stds[-1]:.3f}"
        ax_layers.plot(layers, stds, color="black")
        ax_layers.set_xlim(0.5, depth + 0.5)
        ax_layers.set_ylim(0, 1.05)
        ax_layers.set_yticks([0, 0.5, 1])
        ax_layers.set_xticks(sorted({1, (depth + 1) // 2, depth}))
        ax_layers.set_xlabel("layer   (red: saturated fraction, black: std of output)" if saturation is not None
                             else "layer   (black: std of output)")
        ax_layers.set_title(summary, fontsize=9)

    view = SliderView(draw, controls, figsize=(9, 3.2))
    view.redraw()
    return view
