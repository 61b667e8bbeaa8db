# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Why batch normalization?
#
# Batch normalization (BN) is a layer that, during training, takes each feature of a
# mini-batch, shifts and rescales it to mean 0 and standard deviation 1, and then applies a
# learned scale and shift. Before learning *how* it does that (lesson 02), this lesson
# shows *what goes wrong without it* in a deep network, and what changes when it is there.
#
# By the end of this lesson you will be able to:
#
# - look inside a deep network, layer by layer, at the values its activation functions
#   produce (their histograms, means and spreads);
# - measure how many tanh units are **saturated** (stuck near -1 or +1), with a function you
#   write yourself (the graded exercise);
# - explain how the scale of the initial weights decides whether a deep tanh network's
#   signal dies out or saturates, and why BN makes the network insensitive to that scale;
# - tell apart the original explanation of why BN helps ("internal covariate shift",
#   Ioffe & Szegedy 2015) from the later evidence against it (Santurkar et al. 2018).

# %%
import numpy as np
import torch
from torch import nn

from utils.activations import (
    activation_view, as_image, deep_tanh_mlp, drift, histograms_figure, init_scale_sweep,
    layer_table, plot_sweep, plot_training, probe, train_and_track, weight_gradient_stds,
)
from utils.device import get_device, seed_everything

device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. A deep network, layer by layer
#
# Our network is a stack of identical blocks. Each block is a fully connected layer
# (`nn.Linear`, which computes `x @ W.T + b`) followed by the activation function `tanh`,
# which squashes any number into the range (-1, 1):
#
# `Linear -> Tanh -> Linear -> Tanh -> ...` (10 blocks of 256 units each)
#
# Before training, the weights `W` are random. We draw each weight from a normal
# distribution with standard deviation `init_scale / sqrt(fan_in)`, where `fan_in` is the
# number of inputs of the layer. With `init_scale = 1`, a Linear layer alone keeps the spread
# of its input; smaller values shrink it, larger values grow it. `deep_tanh_mlp` in
# `utils/activations.py` builds such a network. Its first Linear layer alone, on inputs with
# std 1:

# %%
seed_everything(0)
x = torch.randn(512, 256, device=device)
for scale in (0.5, 1.0, 3.0):
    first_linear = deep_tanh_mlp(depth=1, width=256, in_features=256, init_scale=scale)[0].to(device)
    with torch.no_grad():
        print(f"init_scale {scale}: input std {x.std().item():.3f} -> Linear output std "
              f"{first_linear(x).std().item():.3f}")

# %% [markdown]
# `probe` feeds a fresh network of 10 blocks (seed 0) a batch of 512 random inputs and
# returns what every tanh received (its *pre-activation*) and what it produced (its
# *activation*).
#
# Here are the activations of two networks that differ only in `init_scale`:
# 0.5 (small weights) and 3.0 (large weights). The table shows every third layer.

# %%
seed_everything(0)
_, small_init = probe(depth=10, init_scale=0.5)
_, large_init = probe(depth=10, init_scale=3.0)
print("init_scale = 0.5\n" + layer_table(small_init, every=3))
print("\ninit_scale = 3.0\n" + layer_table(large_init, every=3))

# %% [markdown]
# Two different failures, both visible in the standard deviations (std):
#
# - With small weights, each layer shrinks the signal a little more: the std falls layer
#   after layer, and by layer 10 every unit outputs almost exactly 0, whatever the input.
#   The network has forgotten its input.
# - With large weights, the pre-activations are large, and tanh maps large numbers to
#   almost exactly -1 or +1. The activations pile up at the two ends.
#
# The histograms below show the same thing for five of the layers (log scale; the red
# bands mark |t| > 0.97).

# %%
print(f"std, layer 10 / layer 1, init_scale 0.5: {small_init[-1].std().item() / small_init[0].std().item():.4f}")
as_image(histograms_figure([("init_scale 0.5, no BN", small_init), ("init_scale 3.0, no BN", large_init)]))

# %% [markdown]
# Why is piling up at ±1 bad? Training changes each weight in proportion to its gradient,
# and the gradient flowing back through a tanh is multiplied by tanh's slope,
# `1 - tanh(z)**2`. For a unit whose output t is beyond ±0.97, that slope is tiny:

# %%
print(f"slope of tanh where |t| = 0.97: 1 - 0.97**2 = {1 - 0.97**2:.4f}")

# %% [markdown]
# Such a unit is called **saturated**: nudging its input barely changes its output, so it
# passes back less than 6% of the gradient it receives, and the weights feeding it barely
# learn. Counting saturated units is a standard health check for tanh (and sigmoid)
# networks, and it is your exercise.

# %% [markdown]
# ### Exercise: the fraction of saturated units
#
# Write `saturated_fraction(activations, threshold=0.97)`.
#
# - `activations`: a `torch.Tensor` of tanh outputs, of **any shape** (for example (N, D)
#   for a batch of N examples and D units, or one dimension, or more), of dtype `float16`,
#   `float32` or `float64`, on any device. It may have `requires_grad=True` (it may come
#   straight out of a model).
# - `threshold`: a Python float, default `0.97`; it may be passed by keyword or as the
#   second positional argument.
# - Return the fraction of **all** entries whose absolute value is **strictly greater** than
#   `threshold` (entries below `-threshold` count too), as a **Python float** between 0 and 1
#   (not a tensor, not a count, not a percentage), accurate to 1e-5 whatever the dtype.
# - Do not change `activations` (no in-place operations on it).
#
# For example, for `torch.tensor([0.99, -0.98, 0.5, 0.0])` the answer is `0.5`.

# %% nbgrader={"grade": false, "grade_id": "saturation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saturated_fraction(activations, threshold=0.97):
    """The fraction of entries of `activations` with |t| > threshold, as a Python float."""
    ### BEGIN SOLUTION
    saturated = activations.detach().abs() > threshold
    return saturated.sum().item() / saturated.numel()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "saturation_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Checks saturated_fraction on hand-made and random tensors of many shapes and dtypes."""
from autograder.checks import saturation
saturation.visible(globals())
### BEGIN HIDDEN TESTS
saturation.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# From here on, the lesson uses your `saturated_fraction` in its tables, sweeps and sliders.
# Here is the same pair of networks with the saturation column:

# %%
print("init_scale = 0.5\n" + layer_table(small_init, saturated_fraction, every=3))
print("\ninit_scale = 3.0\n" + layer_table(large_init, saturated_fraction, every=3))

# %% [markdown]
# With small weights nothing saturates, but nothing is left of the signal either. With large
# weights a large share of the units in every layer is saturated.

# %% [markdown]
# ## 2. Adding BN after every Linear
#
# Now put a BN layer between each Linear and its tanh, as Ioffe & Szegedy (2015) do (BN is
# applied to the Linear layer's output, before the nonlinearity):
#
# `Linear -> BatchNorm1d -> Tanh -> Linear -> BatchNorm1d -> Tanh -> ...`
#
# In training mode, `nn.BatchNorm1d(256)` takes each of the 256 features, computes its mean
# and standard deviation over the examples of the mini-batch, and rescales it to mean 0 and
# std 1; then it multiplies by a learned scale γ and adds a learned shift β (γ = 1 and β = 0
# at the start). (The Linear layers lose their bias: BN's β does its job.) So, at the start of
# training, every tanh receives inputs with mean 0 and std 1, **whatever** the scale of the
# weights before it. Let's check on the same two init scales:

# %%
bn_pre_small, bn_small_init = probe(depth=10, init_scale=0.5, norm="batchnorm")
bn_pre_large, bn_large_init = probe(depth=10, init_scale=3.0, norm="batchnorm")
print(f"pre-activations of layer 10: mean {bn_pre_small[-1].mean().item():.4f}, "
      f"std {bn_pre_small[-1].std().item():.4f} (init 0.5); "
      f"mean {bn_pre_large[-1].mean().item():.4f}, std {bn_pre_large[-1].std().item():.4f} (init 3.0)")
print("\ninit_scale = 0.5, with BN\n" + layer_table(bn_small_init, saturated_fraction, every=3))
print("\ninit_scale = 3.0, with BN\n" + layer_table(bn_large_init, saturated_fraction, every=3))

# %% [markdown]
# Both networks now look the same in every layer. The few saturated units left are what a
# standard normal input gives: tanh(z) exceeds 0.97 in absolute value when |z| > atanh(0.97),
# and a standard normal z lands there with probability

# %%
z_limit = torch.atanh(torch.tensor(0.97, dtype=torch.float64))
print(f"atanh(0.97) = {z_limit.item():.3f};  P(|z| > {z_limit.item():.3f}) for z ~ N(0, 1) = "
      f"{(1 - torch.erf(z_limit / 2 ** 0.5)).item():.4f}")
as_image(histograms_figure([("init_scale 0.5, with BN", bn_small_init), ("init_scale 3.0, with BN", bn_large_init)]))

# %% [markdown]
# ### How much does the init scale matter?
#
# A sweep over 13 init scales from 0.1 to 10 (evenly spaced on a log scale), with and
# without BN, recording the last (10th) layer's std and saturated fraction. (CS231n's
# batch-normalization assignment runs a similar sweep on an 8-layer network.)

# %%
scales = torch.logspace(-1, 1, 13).tolist()
sweeps = {
    "no BN": init_scale_sweep(scales, saturated_fraction, norm="none"),
    "with BN": init_scale_sweep(scales, saturated_fraction, norm="batchnorm"),
}
print(f"{'init scale':>10} | {'std':>7} {'saturated':>9} (no BN) | {'std':>7} {'saturated':>9} (with BN)")
for i, scale in enumerate(scales):
    a, b = sweeps["no BN"], sweeps["with BN"]
    print(f"{scale:>10.3f} | {a['std'][i]:>7.4f} {a['saturated'][i]:>9.3f}         | "
          f"{b['std'][i]:>7.4f} {b['saturated'][i]:>9.3f}")
as_image(plot_sweep(sweeps))

# %% [markdown]
# Without BN, the last layer's behaviour depends strongly on the init scale: below 1 its
# std shrinks fast towards 0 (already under 0.02 at 0.68), and from about 2 upwards a fifth
# or more of its units saturate, most of them at the largest scales. With BN, every init
# scale gives the same std and the same small saturated fraction.
#
# The gradients tell the same story. For a fresh network and a random classification
# loss, here is the std of each hidden Linear layer's weight gradient, for the first and
# the last of the 10 layers:

# %%
print(f"{'init scale':>10} {'BN':>5} {'grad std, layer 1':>18} {'grad std, layer 10':>19}")
for scale in (0.5, 1.0, 3.0):
    for norm in ("none", "batchnorm"):
        grads = weight_gradient_stds(10, scale, norm=norm)
        print(f"{scale:>10.1f} {'with' if norm == 'batchnorm' else 'no':>5} {grads[0]:>18.2e} {grads[-1]:>19.2e}")

# %% [markdown]
# Without BN, the gradient size swings by orders of magnitude with the init scale (tiny
# with small weights; with large weights, much bigger in the first layer than in the last).
# With BN it stays at the same order of magnitude for every init scale and every layer, so
# one learning rate can suit all layers.

# %% [markdown]
# ### Try it: depth, init scale, with and without BN
#
# Move the sliders: each setting builds a fresh network (128 units per layer, seed 0) and
# feeds it 256 random inputs. The left panel shows the histograms of the tanh outputs of up
# to five layers (red bands: |t| > 0.97); the right panel shows, for every layer, the
# saturated fraction (red, computed by your `saturated_fraction`) and the std of the outputs
# (black line). Things to try: a small init scale (0.3) with depth 30; a large one (5) with
# depth 2 and then 30; then tick the BN box for each.

# %%
activation_view(saturated_fraction)

# %% [markdown]
# ## 3. During training: the distributions drift
#
# So far we looked at freshly initialized networks. During training, every layer's weights
# change, so the distribution of the inputs each later layer receives changes too.
# Ioffe & Szegedy's Figure 1 shows this on MNIST: the 15th, 50th and 85th percentiles of
# the input to one sigmoid of the last hidden layer, over training, drifting without BN
# and stable with it.
#
# We repeat the idea on a small scale: scikit-learn's bundled 8x8 handwritten digits (split
# into training and test images, 10 classes), a network of 6 tanh blocks of 64 units with a
# small initial scale (0.5) and a final Linear layer to the 10 classes, trained with plain
# SGD (learning rate 0.1, mini-batches of 60, 600 steps, seed 0). Every 10 steps we feed a
# fixed set of 500 training images and record the inputs of the last hidden tanh layer
# (BN stays in training mode for this probe; its running statistics are left untouched).

# %%
seed_everything(0)
runs = {
    "no BN": train_and_track("none", init_scale=0.5, seed=0),
    "with BN": train_and_track("batchnorm", init_scale=0.5, seed=0),
}
print(f"{runs['no BN']['n_train']} training images, {runs['no BN']['n_test']} test images; "
      f"{len(runs['no BN']['steps'])} probes per run")
for label, run in runs.items():
    first, last = run["percentiles"][0], run["percentiles"][-1]
    print(f"{label:>8}: unit 0's 15/50/85th percentiles  start {np.round(first, 3)}  end {np.round(last, 3)}")
for label, run in runs.items():
    print(f"{label:>8}: mean loss, first 25 steps {np.mean(run['loss'][:25]):.3f}, last 50 steps "
          f"{np.mean(run['loss'][-50:]):.4f}; test accuracy {run['test_accuracy']:.3f}; "
          f"drift of the last layer's inputs {drift(run):.3f}")
as_image(plot_training(runs))

# %% [markdown]
# Here "drift" is, for each of the 64 units of the last hidden layer, how much the median
# of its input moves during training (the std of that median over the probes), averaged
# over the units. Without BN the unit's input distribution starts squeezed near 0 (the
# small-init collapse from section 1) and spreads out as training goes on; with BN it starts
# at mean 0, std 1 and moves less. The network with BN also learns much faster here.

# %% [markdown]
# ## 4. Why does BN help? The original hypothesis, and the later evidence
#
# **The original hypothesis (Ioffe & Szegedy 2015).** The paper's title says it: BN
# accelerates training "by reducing internal covariate shift". Internal covariate shift is
# the change in each layer's input distribution as the earlier layers learn - the drift you
# just measured. The reasoning: each layer has to keep adapting to a moving target, which
# slows training; normalizing each layer's inputs per mini-batch keeps the target still,
# stabilizes training and allows higher learning rates. The paper reports that on ImageNet
# an Inception network with BN matched the original's accuracy in 14 times fewer
# training steps.
#
# **The later evidence (Santurkar et al. 2018, "How Does Batch Normalization Help
# Optimization?").** They tested the hypothesis directly: after every BN layer, they
# injected random noise with non-zero mean and non-unit variance, redrawn at every training
# step. This "noisy BN" network has *more* covariate shift than a network without BN - its
# layers' input distributions are deliberately shaken every step - yet it trained about as
# well as standard BN and better than no BN. So reducing covariate shift is not what makes
# BN work. What they found instead is that BN makes the loss landscape smoother: along the
# gradient direction the loss changes more gently and the gradient stays more predictive,
# so larger steps are safe. (Dive into Deep Learning, too, calls "internal covariate
# shift" a misnomer.)
#
# We can run a small experiment in the same spirit. `NoisyBatchNorm1d` (in
# `utils/activations.py`) is `BatchNorm1d` followed, during training, by a random scale
# (between 1/1.5 and 1.5) and a random shift (between -0.5 and 0.5) for each unit, redrawn
# at every step. (Santurkar et al. drew their noise independently for every example; one
# scale and shift per unit and step is a simpler way to move the whole distribution each
# later layer sees.) Same digits, same network, same training as above, seed 0:

# %%
seed_everything(0)
runs["noisy BN"] = train_and_track("noisy_batchnorm", init_scale=0.5, seed=0)
print(f"{'':>8}  {'drift':>6} {'loss, last 50 steps':>20} {'test accuracy':>14}")
for label, run in runs.items():
    print(f"{label:>8}  {drift(run):>6.3f} {np.mean(run['loss'][-50:]):>20.4f} {run['test_accuracy']:>14.3f}")
print(f"noisy BN drifts {drift(runs['noisy BN']) / drift(runs['no BN']):.1f} times as much as no BN, "
      f"and {drift(runs['noisy BN']) / drift(runs['with BN']):.1f} times as much as BN")
as_image(plot_training({"no BN": runs["no BN"], "noisy BN": runs["noisy BN"]}))

# %% [markdown]
# The noisy-BN network's last-layer inputs move more than those of either other network,
# yet it ends with a far lower training loss and higher test accuracy than the network
# without BN, close to the one with BN - the same pattern Santurkar et al. report. Keep the
# two ideas apart: internal covariate shift is the **original hypothesis**; the noisy-BN
# experiment and the smoother loss landscape are the **later evidence**, and they point
# away from it. (We did not measure the loss landscape here; that part of the evidence is
# theirs.) What nobody disputes is the practical effect you measured in sections 1-3:
# with BN, each layer's inputs start normalized whatever the init scale, few units saturate,
# gradients stay at a usable size, and training gets going quickly.

# %% [markdown]
# ## Summary
#
# - In a deep tanh network without BN, the scale of the initial weights decides everything:
#   too small and the signal shrinks to 0 layer after layer; too large and the units saturate
#   at ±1, where tanh's slope (below 0.06 beyond |t| = 0.97) blocks the gradient.
# - `saturated_fraction` (your function) measures the fraction of units with |t| > 0.97;
#   per-layer histograms, stds and saturated fractions are the quick health check.
# - A `BatchNorm1d` after each Linear (before the tanh) rescales every feature of a
#   mini-batch to mean 0 and std 1, so at the start every tanh sees the same distribution
#   whatever the init scale: about 3.6% of units saturated, gradients of a steady size.
# - During training, layers' input distributions drift; BN keeps them steadier and trains
#   faster here.
# - Ioffe & Szegedy explained BN by "reducing internal covariate shift"; Santurkar et al.
#   showed that noisy BN, with more shift, trains about as well as BN, and that BN smooths the
#   loss landscape instead.
#
# **Next:** lesson 02, `02_normalization_math`, works out exactly what BN computes -
# the mini-batch mean and variance, the normalization, the learned scale and shift - and
# what changes at inference time.
