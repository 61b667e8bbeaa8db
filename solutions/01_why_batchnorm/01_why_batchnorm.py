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
#   signal shrinks towards 0 or saturates (two different failures), and what BN changes
#   about that scale, in the forward pass and in the gradients;
# - tell apart the original explanation of why BN helps ("internal covariate shift",
#   Ioffe & Szegedy 2015) from the later evidence against it (Santurkar et al. 2018).

# %%
import numpy as np
import torch
from torch import nn

from utils.activations import (
    activation_view, as_image, deep_tanh_mlp, drift, histograms_figure, init_scale_sweep,
    layer_table, linear_image_similarity, plot_sweep, plot_training, probe, train_and_track,
    weight_gradient_stds,
)
from utils.answers import learner_or_lesson
from utils.device import get_device, seed_everything

device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. A deep network, layer by layer
#
# Our network is a stack of identical blocks. Each block is a fully connected layer
# (`nn.Linear`, which computes the affine map `x @ W.T + b`) followed by the activation
# function `tanh`,
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
# Two different failures, both visible in the standard deviations (std). Keep them apart:
#
# - **Vanishing scale** (small weights): each layer shrinks the signal a little more, and
#   the std falls layer after layer. Small is not the same as gone, though: the next cell
#   compares layer 10's output with the input pushed through the same 10 Linear layers
#   *without* any tanh (a purely affine map of the input), and rescales it to std 1.
# - **Saturation** (large weights): the pre-activations are large, and tanh maps large
#   numbers to almost exactly -1 or +1. The activations pile up at the two ends, where
#   tanh is flat.

# %%
shrink = small_init[-1].std().item() / small_init[0].std().item()
image = linear_image_similarity(depth=10, init_scale=0.5)
print(f"init_scale 0.5: std of layer 10 / std of layer 1 = {shrink:.4f}")
print(f"layer 10: std {image['std']:.2e} (the 10 Linear layers alone: {image['linear_std']:.2e}); "
      f"divided by its own std: std {image['rescaled_std']:.3f}")
print(f"cosine similarity of layer 10's output with the input's image under the Linear layers "
      f"alone: {image['cosine']:.3f}")
if image["cosine"] > 0.9:
    print(f"So the small-init network has not erased its input: layer 10 is, up to a factor "
          f"{image['std']:.1e}, almost the same affine function of the input as the Linear layers "
          f"compute (cosine {image['cosine']:.3f}). The signal is scaled down, and rescaling brings "
          f"it back - which is what BN does in section 2.")
else:
    print(f"Here the tanh layers changed the signal as well as shrinking it (cosine "
          f"{image['cosine']:.3f} with the Linear layers alone).")
as_image(histograms_figure([("init_scale 0.5, no BN", small_init), ("init_scale 3.0, no BN", large_init)]))

# %% [markdown]
# The histograms show five of the layers (log scale; the red bands mark |t| > 0.97). With
# small weights everything sits in a narrow spike at 0 - a tiny but intact signal, on which
# tanh is almost the identity. With large weights the values pile up at ±1.

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
#   for a batch of N examples and D units, or one dimension, or more), contiguous or not (a
#   transposed or sliced tensor), of dtype `float16`, `float32` or `float64`, on any device.
#   It may have `requires_grad=True` (it may come straight out of a model).
# - `threshold`: a Python float, default `0.97`; it may be passed by keyword or as the
#   second positional argument.
# - Return the fraction of **all** entries whose absolute value is **strictly greater** than
#   `threshold` (entries below `-threshold` count too), as a **Python float** between 0 and 1
#   (not a tensor, not a count, not a percentage), accurate to 1e-5 whatever the dtype: a
#   `float16` mean of many entries is not (its rounding errors add up); count, then divide.
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
# If it is not written yet, raises, or disagrees with the lesson's own version on two probes
# (the example above and a random tensor), the cells below use the lesson's own version,
# defined in the next cell, and say so: the lesson shows its results either way.

# %%
def lesson_saturated_fraction(activations, threshold=0.97):
    """The lesson's own version, used below only when yours is missing or disagrees with it."""
    magnitudes = activations.detach().to(torch.float64).abs().flatten()
    return float(torch.count_nonzero(magnitudes > threshold)) / max(magnitudes.numel(), 1)


def saturation_problem(candidate):
    """None when `candidate` agrees with the lesson's version on two probes, else what differs."""
    probes = [torch.tensor([0.99, -0.98, 0.5, 0.0]),
              torch.tanh(3 * torch.randn(64, 32, generator=torch.Generator().manual_seed(0)))]
    for t in probes:
        given = t.clone()
        got, expected = candidate(given), lesson_saturated_fraction(t)
        if not torch.equal(given, t):
            return "changes the tensor it is given"
        if not isinstance(got, (float, int)) or abs(got - expected) > 1e-5:
            return f"returns {got!r} for a probe whose answer is {expected:.4f}"
    return None


saturation = learner_or_lesson(globals(), "saturated_fraction", lesson_saturated_fraction, saturation_problem)

# %% [markdown]
# The same pair of networks with the saturation column:

# %%
print("init_scale = 0.5\n" + layer_table(small_init, saturation, every=3))
print("\ninit_scale = 3.0\n" + layer_table(large_init, saturation, every=3))
small_saturated, large_saturated = saturation(small_init[-1]), saturation(large_init[-1])
print(f"\nLayer 10: {small_saturated:.1%} of the units saturated with init_scale 0.5 (std "
      f"{small_init[-1].std().item():.1e}), {large_saturated:.1%} with init_scale 3.0 (std "
      f"{large_init[-1].std().item():.2f}).")

# %% [markdown]
# The two failures differ. With small weights the units are far from saturated - tanh is
# almost linear near 0 - and the signal is tiny but intact (measured above). With large
# weights the units' outputs are stuck near ±1, where nudging an input barely changes the
# output: a saturated unit passes back less than 6% of the gradient it receives (the slope
# computed above).

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
print("\ninit_scale = 0.5, with BN\n" + layer_table(bn_small_init, saturation, every=3))
print("\ninit_scale = 3.0, with BN\n" + layer_table(bn_large_init, saturation, every=3))
same = max((a - b).abs().max().item() for a, b in zip(bn_small_init, bn_large_init))
print(f"\nlargest difference between the two BN networks' tanh outputs, any layer: {same:.1e}")

# %% [markdown]
# Both networks now look the same in every layer, and that holds **by construction**: with
# seed 0 the two networks' weights are the same random draws times 0.5 or times 3.0, and
# training-mode BN divides each feature by its own batch std, so BN(a·Wx) = BN(Wx) for any
# a > 0 (the small difference printed comes from `eps`, which matters more when the
# variance is small). The few saturated units left are what a standard normal input gives:
# tanh(z) exceeds 0.97 in absolute value when |z| > atanh(0.97), and a standard normal z
# lands there with probability

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
    "no BN": init_scale_sweep(scales, saturation, norm="none"),
    "with BN": init_scale_sweep(scales, saturation, norm="batchnorm"),
}
print(f"{'init scale':>10} | {'std':>7} {'saturated':>9} (no BN) | {'std':>7} {'saturated':>9} (with BN)")
for i, scale in enumerate(scales):
    a, b = sweeps["no BN"], sweeps["with BN"]
    print(f"{scale:>10.3f} | {a['std'][i]:>7.4f} {a['saturated'][i]:>9.3f}         | "
          f"{b['std'][i]:>7.4f} {b['saturated'][i]:>9.3f}")
as_image(plot_sweep(sweeps))

# %%
no_bn, with_bn = sweeps["no BN"], sweeps["with BN"]
tiny = [s for s, std in zip(scales, no_bn["std"]) if std < 0.02]
saturating = [s for s, fraction in zip(scales, no_bn["saturated"]) if fraction >= 0.2]
print(f"Without BN: the last layer's std is below 0.02 at {len(tiny)} of the {len(scales)} init scales"
      + (f" (the largest of them {max(tiny):.2f})" if tiny else "")
      + f", and a fifth or more of its units saturate at {len(saturating)}"
      + (f" (the smallest of them {min(saturating):.2f})" if saturating else "")
      + f" ({max(no_bn['saturated']):.0%} at the largest).")
print(f"With BN: across all {len(scales)} init scales the last layer's std ranges from "
      f"{min(with_bn['std']):.4f} to {max(with_bn['std']):.4f} and its saturated fraction from "
      f"{min(with_bn['saturated']):.1%} to {max(with_bn['saturated']):.1%}.")

# %% [markdown]
# With BN the forward pass is the same for every init scale, by construction (BN(a·Wx) =
# BN(Wx)). The **gradients** are another matter. For a fresh network and a random
# classification loss, here is the std of the weight gradient of the first and the last of
# the 10 hidden Linear layers, for five init scales. Only the hidden layers' weights follow
# the init scale; the output layer (to 10 classes) is the same in every network, so with BN
# all five networks compute the same function. The column "x init scale" multiplies the
# gradient std by the init scale, and the last column is layer 1's gradient std divided by
# layer 10's.

# %%
GRAD_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
gradients = {(norm, scale): weight_gradient_stds(10, scale, norm=norm)
             for norm in ("none", "batchnorm") for scale in GRAD_SCALES}
print(f"{'BN':>4} {'init scale':>10} {'layer 1':>10} {'layer 10':>10} {'layer 1 x init scale':>21} "
      f"{'layer 1 / layer 10':>19}")
for (norm, scale), grads in gradients.items():
    print(f"{'with' if norm == 'batchnorm' else 'no':>4} {scale:>10.2f} {grads[0]:>10.2e} {grads[-1]:>10.2e} "
          f"{grads[0] * scale:>21.4e} {grads[0] / grads[-1]:>19.2f}")

# %%
def spread(values):
    """max / min of a list of positive numbers."""
    return max(values) / min(values)


plain_first = [gradients["none", s][0] for s in GRAD_SCALES]
bn_first = [gradients["batchnorm", s][0] for s in GRAD_SCALES]
bn_times_scale = [gradients["batchnorm", s][0] * s for s in GRAD_SCALES]
bn_depth_ratio = [gradients["batchnorm", s][0] / gradients["batchnorm", s][-1] for s in GRAD_SCALES]
per_layer = gradients["batchnorm", 1.0]
growing = sum(earlier > later for earlier, later in zip(per_layer, per_layer[1:]))
print(f"Without BN, layer 1's gradient std spans a factor {spread(plain_first):.1e} over these init scales.")
print(f"With BN it spans a factor {spread(bn_first):.1f} - the init scales span {spread(GRAD_SCALES):.0f} - "
      f"while gradient std x init scale varies by a factor {spread(bn_times_scale):.6f}: "
      + ("the weight gradient scales as 1 / init scale." if spread(bn_times_scale) < 1.01
         else "not exactly 1 / init scale here."))
print(f"With BN, layer 1's gradient is {min(bn_depth_ratio):.2f} to {max(bn_depth_ratio):.2f} times "
      f"layer 10's; at init scale 1, the gradient std grows from one layer to the one before it "
      f"in {growing} of the {len(per_layer) - 1} steps from layer 10 back to layer 1 "
      + ("(it grows towards the input)." if growing == len(per_layer) - 1 else "."))

# %% [markdown]
# Two facts about BN, both in the numbers above:
#
# - **Scale invariance.** Since BN(a·Wx) = BN(Wx), the loss does not change when the weights
#   in front of a BN are multiplied by a > 0, and the gradient with respect to those weights
#   is divided by a: it scales as 1 / init scale. A step `lr * gradient` is therefore large
#   relative to small weights and small relative to large ones (the relative update scales as
#   1 / init scale²), so BN does not make the learning rate independent of the weights' size.
#   (Lesson 06 works this out.)
# - **Depth.** In a deep BN network without skip connections the gradient is not the same in
#   every layer: it grows towards the input (here from layer 10 back to layer 1, as printed),
#   so BN does not give every layer a gradient of the same size either.
#
# Without BN, in contrast, the gradient's size is tied to the forward signal: tiny when the
# signal has shrunk, and, with large weights, very different from layer to layer.

# %% [markdown]
# ### Try it: depth, init scale, with and without BN
#
# Move the sliders: each setting builds a fresh network (128 units per layer, seed 0) and
# feeds it 256 random inputs. The left panel shows the histograms of the tanh outputs of up
# to five layers (red bands: |t| > 0.97); the right panel shows, for every layer, the
# saturated fraction (red, computed by your `saturated_fraction`, or by the lesson's own
# version if the cell after the exercise said so) and the std of the outputs
# (black line). Things to try: a small init scale (0.3) with depth 30; a large one (5) with
# depth 2 and then 30; then tick the BN box for each.

# %%
activation_view(saturation)

# %% [markdown]
# ## 3. During training: the distributions drift
#
# So far we looked at freshly initialized networks. During training, every layer's weights
# change, so the distribution of the inputs each later layer receives changes too. Ioffe &
# Szegedy's Figure 1 (three panels, reproduced in lesson 04) shows this for one sigmoid of
# an MNIST network. Here we measure it differently, over *all* the units of a layer, because
# section 4 needs one number per network.
#
# The setup: scikit-learn's bundled 8x8 handwritten digits (split
# into training and test images, 10 classes), a network of 6 tanh blocks of 64 units with a
# small initial scale (0.5) and a final Linear layer to the 10 classes, trained with plain
# SGD (learning rate 0.1, mini-batches of 60, 600 steps, seed 0). Every 10 steps we feed a
# fixed set of 500 training images and record the inputs of the last hidden tanh layer
# (BN stays in training mode for this probe; its running statistics are left untouched).
# The **drift** of a network is, for each of the 64 units of that layer, the std over the 61
# probes of the median of its input, averaged over the units: 0 if the distributions never
# moved.

# %%
seed_everything(0)
runs = {
    "no BN": train_and_track("none", init_scale=0.5, seed=0),
    "with BN": train_and_track("batchnorm", init_scale=0.5, seed=0),
}
print(f"{runs['no BN']['n_train']} training images, {runs['no BN']['n_test']} test images; "
      f"{len(runs['no BN']['steps'])} probes per run")
for label, run in runs.items():
    first, last = np.array(run["unit_medians"][0]), np.array(run["unit_medians"][-1])
    print(f"{label:>8}: the 64 units' medians span {first.min():+.3f} .. {first.max():+.3f} at the start, "
          f"{last.min():+.3f} .. {last.max():+.3f} at the end")
for label, run in runs.items():
    print(f"{label:>8}: mean loss, first 25 steps {np.mean(run['loss'][:25]):.3f}, last 50 steps "
          f"{np.mean(run['loss'][-50:]):.4f}; test accuracy {run['test_accuracy']:.3f}; "
          f"drift of the last layer's inputs {drift(run):.3f}")
as_image(plot_training(runs))

# %%
drifts = {label: drift(run) for label, run in runs.items()}
early = {label: np.mean(run["loss"][:25]) for label, run in runs.items()}
late = {label: np.mean(run["loss"][-50:]) for label, run in runs.items()}
steadier = min(drifts, key=drifts.get)
print(f"The last hidden layer's inputs drifted less {steadier} ({drifts[steadier]:.3f} vs "
      f"{max(drifts.values()):.3f}).")
print(f"The network with BN had a lower loss in the first 25 steps "
      f"({'yes' if early['with BN'] < early['no BN'] else 'no'}) and in the last 50 "
      f"({'yes' if late['with BN'] < late['no BN'] else 'no'}); test accuracy "
      f"{runs['with BN']['test_accuracy']:.3f} with BN vs {runs['no BN']['test_accuracy']:.3f} without.")
for label, run in runs.items():
    start, end = np.ptp(run["unit_medians"][0]), np.ptp(run["unit_medians"][-1])
    print(f"{label}: the units' medians spread over {start:.3f} at the start and {end:.3f} at the end "
          f"({'spreading out' if end > start else 'drawing together'} during training).")
findings = {"drift": f"{drifts['no BN']:.3f} without BN, {drifts['with BN']:.3f} with BN (lower: {steadier})"}

# %% [markdown]
# The sentences above are built from the measured numbers. Without BN the units' inputs
# start squeezed near 0 (the small-init shrinking of section 1); with BN every unit's input
# starts centred with std 1, by construction. Note that this drift is measured in training
# mode on the *input* of the tanh, that is, after BN: with BN it is the learned scale γ and
# shift β (and the batch's statistics) that move it.

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

# %%
loss = {label: np.mean(run["loss"][-50:]) for label, run in runs.items()}
accuracy = {label: run["test_accuracy"] for label, run in runs.items()}
drifts = {label: drift(run) for label, run in runs.items()}
most_drift = max(drifts, key=drifts.get)
noisy_beats_plain = loss["noisy BN"] < loss["no BN"] and accuracy["noisy BN"] > accuracy["no BN"]
gap_to_bn = accuracy["with BN"] - accuracy["noisy BN"]
gap_to_plain = accuracy["noisy BN"] - accuracy["no BN"]
print(f"Most drift: {most_drift}. Noisy BN {'beat' if noisy_beats_plain else 'did not beat'} no BN on both "
      f"the final training loss ({loss['noisy BN']:.4f} vs {loss['no BN']:.4f}) and the test accuracy "
      f"({accuracy['noisy BN']:.3f} vs {accuracy['no BN']:.3f}).")
closer = "BN" if abs(gap_to_bn) < abs(gap_to_plain) else "no BN"
print(f"Its test accuracy is {abs(gap_to_bn):.3f} {'below' if gap_to_bn > 0 else 'above'} BN's and "
      f"{abs(gap_to_plain):.3f} {'above' if gap_to_plain > 0 else 'below'} no BN's: closer to {closer}. "
      f"Final training loss: {loss['noisy BN']:.4f} (noisy BN), {loss['with BN']:.4f} (BN).")
pattern = most_drift == "noisy BN" and noisy_beats_plain
print("This is the pattern Santurkar et al. report: more drift, yet training better than no BN."
      if pattern else "This run does not show the pattern Santurkar et al. report (more drift, yet better than no BN).")
findings["noisy BN"] = (f"drift {drifts['noisy BN']:.3f} (most: {most_drift}); test accuracy "
                        f"{accuracy['noisy BN']:.3f} vs {accuracy['with BN']:.3f} (BN) and {accuracy['no BN']:.3f} (no BN)")

# %% [markdown]
# The sentences above are built from this run's numbers (seed 0, one run per network: a
# small experiment, not a proof). Keep the two ideas apart: internal covariate shift is the
# **original hypothesis**; the noisy-BN experiment and the smoother loss landscape are the
# **later evidence**, and they point away from it. (We did not measure the loss landscape
# here; that part of the evidence is theirs.) What holds by construction, whatever the run,
# is what you measured in sections 1 and 2: with BN, each layer's inputs start normalized
# whatever the init scale, and the weight gradients scale as 1 / init scale.

# %% [markdown]
# ## Summary
#
# - In a deep tanh network without BN, the scale of the initial weights matters in two
#   different ways: too small and the signal is scaled down layer after layer (tiny, but not
#   erased); too large and the units saturate at ±1, where tanh's slope (below 0.06 beyond
#   |t| = 0.97) blocks the gradient.
# - `saturated_fraction` (your function) measures the fraction of units with |t| > 0.97;
#   per-layer histograms, stds and saturated fractions are the quick health check.
# - A `BatchNorm1d` after each Linear (before the tanh) rescales every feature of a
#   mini-batch to mean 0 and std 1, so at the start every tanh sees the same distribution
#   whatever the init scale (by construction: BN(a·Wx) = BN(Wx)). The weight gradients then
#   scale as 1 / init scale, and in a deep BN network without skips they grow towards the
#   input.
# - Ioffe & Szegedy explained BN by "reducing internal covariate shift"; Santurkar et al.
#   showed that noisy BN, with more shift, trains about as well as BN, and that BN smooths the
#   loss landscape instead. What this lesson's runs showed:

# %%
for topic, finding in findings.items():
    print(f"- {topic}: {finding}")

# %% [markdown]
# **Next:** lesson 02, `02_normalization_math`, works out exactly what BN computes -
# the mini-batch mean and variance, the normalization, the learned scale and shift - and
# what changes at inference time.
