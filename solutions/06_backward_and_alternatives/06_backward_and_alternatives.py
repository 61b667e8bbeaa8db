# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The backward pass, scale invariance, and the alternatives
#
# By the end of this lesson you will be able to:
#
# - derive the backward pass of training-mode batch normalization on its computational
#   graph, simplify it to a compact form, and check it against autograd;
# - explain why the gradient must flow through the batch mean and variance, with the
#   example from section 2 of the paper (a bias that grows without bound) computed;
# - show that a BatchNorm layer makes the weights before it *scale invariant*, and say what
#   that does to the gradient, to the effective learning rate and to weight decay;
# - compare BatchNorm with LayerNorm and GroupNorm as the batch shrinks, say over which axes
#   each computes its statistics, and where each is used;
# - fold a `BatchNorm2d` into the convolution before it for inference.
#
# Three graded exercises: `batchnorm_backward`, `batchnorm2d_forward` and `fold_conv_bn`.
# Each has a test cell you can run as often as you like; it tells you in words what is
# still wrong. When an answer is missing or wrong, the cells after it say so and use
# PyTorch's own version, so the rest of the lesson still shows its results.
#
# Sources: Ioffe & Szegedy (2015), "Batch Normalization" (Algorithm 1, section 2); van
# Laarhoven (2017), Hoffer et al. (2018) and Arora, Li & Lyu (2019) on scale invariance;
# Ba et al. (2016) "Layer Normalization"; Wu & He (2018) "Group Normalization"; He et al.
# (2016) "Identity Mappings in Deep Residual Networks"; CS231n's assignment 2.

# %%
import math
import torch
from torch import nn
import torch.nn.functional as F

from utils.data import load_digits_split, make_binary_task
from utils.device import get_device, seed_everything
from utils import backward as bw

torch.set_num_threads(1)   # lesson-sized tensors: one CPU thread avoids threading overhead
device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. The backward pass on the computational graph
#
# Training-mode batch normalization of one feature over a batch of `N` values `x_1..x_N`
# is a small graph of five nodes (Algorithm 1 of the paper):
#
# ```
# x ──> mu = (1/N) sum_i x_i
# x, mu ──> d_i = x_i - mu
# d ──> var = (1/N) sum_i d_i^2          (the biased variance)
# var ──> s = sqrt(var + eps)
# d, s ──> x_hat_i = d_i / s
# x_hat ──> y_i = gamma * x_hat_i + beta
# ```
#
# Every `x_i` reaches every output `y_j`: directly through `d_j` when `i = j`, and through
# the two statistics `mu` and `var` always. The gradient of one example's output with respect
# to the *other* examples is not zero. Autograd shows it on a batch of 4 (seed 0), when only
# the first output has a gradient (`dL/dy = [1, 0, 0, 0]`):

# %%
seed_everything(0)
x4 = bw.make_batch(4, 1, std=2.0, seed=0).requires_grad_()
y4 = F.batch_norm(x4, None, None, training=True, eps=1e-5)
(dx4,) = torch.autograd.grad(y4, x4, torch.tensor([[1.0], [0.0], [0.0], [0.0]], dtype=torch.float64))
print("x      =", [round(v, 4) for v in x4.detach().flatten().tolist()])
print("dy0/dx =", [round(v, 4) for v in dx4.flatten().tolist()])
others = dx4.flatten()[1:].abs()
print(f"the first output depends on the other three examples: |dy0/dx_j| for j = 1..3 is between "
      f"{others.min().item():.3f} and {others.max().item():.3f}")

# %% [markdown]
# **Backward, one node at a time.** Write `dy_i = dL/dy_i` for the gradient that arrives
# from above, and go down the graph, each node passing back its local derivative times what
# it received (and a value used by several nodes adds up what they send back):
#
# 1. `y_i = gamma * x_hat_i + beta`: `dbeta = sum_i dy_i`, `dgamma = sum_i dy_i * x_hat_i`,
#    and `dx_hat_i = gamma * dy_i`.
# 2. `x_hat_i = d_i / s`: `d_i` receives `dx_hat_i / s`; `s` receives
#    `ds = -sum_i dx_hat_i * d_i / s^2`.
# 3. `s = sqrt(var + eps)`: `dvar = ds / (2 s)`.
# 4. `var = (1/N) sum_i d_i^2`: each `d_i` receives a second part, `2 d_i dvar / N`; so
#    `dd_i = dx_hat_i / s + 2 d_i dvar / N`.
# 5. `d_i = x_i - mu`: `x_i` receives `dd_i`, and `mu` receives `dmu = -sum_i dd_i`.
# 6. `mu = (1/N) sum_i x_i`: each `x_i` receives `dmu / N`; so `dx_i = dd_i + dmu / N`.
#
# Steps 2 to 6 are the gradient's paths *through the batch statistics*: drop them and you
# get `dx_i = gamma * dy_i / s`, the gradient of a layer whose mean and variance were fixed
# numbers. Section 2 shows why that is wrong.
#
# ### Exercise 1: `batchnorm_backward`
#
# Write `batchnorm_backward(dout, x, gamma, eps=1e-5) -> (dx, dgamma, dbeta)`:
#
# - `x` is a tensor of shape `(N, D)` with `N >= 2`; `gamma` has shape `(D,)`; `dout` is
#   `dL/dy`, shape `(N, D)`, for `y = gamma * x_hat + beta` in **training mode**: each
#   feature (column) normalized with its batch mean and **biased** batch variance over the
#   `N` rows (`dim=0`), `eps` **inside** the square root.
# - Return a tuple of three tensors `(dx, dgamma, dbeta)` of shapes `(N, D)`, `(D,)`,
#   `(D,)`, in `x`'s dtype (float32 in, float32 out; float64 in, float64 out). `dbeta` needs
#   no `beta`: the gradient does not depend on it.
# - From scratch, with tensor operations: recompute the forward quantities (mean, variance,
#   `x_hat`) and chain the local derivatives above, vectorized over the features. No autograd
#   (`.backward()`, `torch.autograd.grad`, `torch.func`) and no normalization built-ins
#   (`F.batch_norm`, `nn.BatchNorm1d`, ...): the test makes them raise while your function
#   runs.
# - Leave `dout`, `x` and `gamma` unchanged (no `-=` or `_`-methods on them).
#
# The test compares your three gradients with autograd's in float64 at several shapes (a
# batch of 2 among them), with a constant feature, with huge and tiny variances, with
# another `eps`, and in float32, and names the typical mistakes when it recognizes them.

# %% nbgrader={"grade": false, "grade_id": "bn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """Backward pass of training-mode BN. dout, x: (N, D); gamma: (D,). Returns (dx, dgamma, dbeta)."""
    ### BEGIN SOLUTION
    n = x.shape[0]
    mu = x.mean(dim=0)
    d = x - mu
    var = (d * d).mean(dim=0)
    s = torch.sqrt(var + eps)
    x_hat = d / s
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx_hat = gamma * dout
    ds = -(dx_hat * d).sum(dim=0) / s**2
    dvar = ds / (2 * s)
    dd = dx_hat / s + 2 * d * dvar / n
    dmu = -dd.sum(dim=0)
    dx = dd + dmu / n
    return dx, dgamma, dbeta
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn_backward_test", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""Checks batchnorm_backward against autograd in float64, without autograd or normalization built-ins."""
from autograder.checks import bn_backward

bn_backward.visible(globals())
### BEGIN HIDDEN TESTS
bn_backward.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# ### Checking against autograd
#
# The lesson's own version of the backward pass is autograd through PyTorch's
# `F.batch_norm`. CS231n checks its from-scratch backward against numerical gradients and
# expects relative errors of about `1e-8` or smaller; against autograd in float64 we can ask
# for more. The relative error is `max |a - b| / (|a| + |b|)`, elementwise (seed 0 for every
# batch):

# %%
def autograd_backward(dout, x, gamma, eps=1e-5):
    """The lesson's version: autograd through F.batch_norm in training mode."""
    x = x.detach().clone().requires_grad_()
    gamma = gamma.detach().clone().requires_grad_()
    beta = torch.zeros_like(gamma, requires_grad=True)
    y = F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)
    return torch.autograd.grad(y, (x, gamma, beta), dout)


probes = {
    "(8, 3), means 0, 5, -2": bw.make_batch(8, 3, mean=[0.0, 5.0, -2.0], std=[1.0, 3.0, 0.5], seed=0),
    "a batch of 2": bw.make_batch(2, 4, std=2.0, seed=0),
    "a constant feature": bw.make_batch(10, 3, seed=0).index_fill(1, torch.tensor([1]), 3.0),
    "tiny variance (mean 5, std 1e-3)": bw.make_batch(64, 2, mean=5.0, std=1e-3, seed=0),
}
learner = globals().get("batchnorm_backward")
for label, x_probe in probes.items():
    gamma_probe = 0.5 + torch.rand(x_probe.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    dout_probe = bw.make_batch(*x_probe.shape, mean=0.5, seed=1)
    grads, sentence = bw.learner_or_reference("batchnorm_backward", learner, autograd_backward,
                                              dout_probe, x_probe, gamma_probe)
    reference = autograd_backward(dout_probe, x_probe, gamma_probe)
    errors = ", ".join(f"{name} {bw.relative_error(g, r):.1e}" for name, g, r in zip(("dx", "dgamma", "dbeta"), grads, reference))
    print(f"{label:>34}: relative error {errors}")
print(sentence)

# %% [markdown]
# ### The compact form
#
# Substituting steps 2 to 6 into each other (using `sum_i d_i = 0`) collapses the chain to
#
# `dx = (gamma / s) * (dy - mean(dy) - x_hat * mean(dy * x_hat))`,
#
# with both means over the batch, per feature. Read it as geometry: per feature, `dx` is
# `gamma / s` times what is left of `dy` after removing its components along the constant
# vector `(1, ..., 1)` and along `x_hat`. Those are the two directions in which moving `x`
# does not change BN's output (adding a constant to a feature, or scaling it around its
# mean), so the gradient has no component along them. Two consequences, for any `dy`:
# `sum_i dx_i = 0` holds **by construction**; `sum_i dx_i * x_hat_i = 0` holds by
# construction when `eps = 0`, and only up to `eps` otherwise (with `eps` the output does
# change a little when a feature is scaled, and `sum_i x_hat_i^2 = N var / (var + eps)` is a
# little less than `N`).
#
# We check the geometry with a least-squares projection, a different computation from the
# chain above (on the first probe batch), once with PyTorch's `eps = 1e-5` and once with
# `eps = 1e-30`, as good as 0 here (PyTorch's `F.batch_norm` refuses `eps = 0` in training):

# %%
x_probe = probes["(8, 3), means 0, 5, -2"]
gamma_probe = 0.5 + torch.rand(3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
dout_probe = bw.make_batch(8, 3, mean=0.5, seed=1)
geometry = {}
for eps_probe in (1e-5, 1e-30):
    dx = bw.learner_or_reference("batchnorm_backward", learner, autograd_backward,
                                 dout_probe, x_probe, gamma_probe, eps=eps_probe)[0][0]
    s_probe = torch.sqrt(x_probe.var(dim=0, unbiased=False) + eps_probe)
    x_hat_probe = (x_probe - x_probe.mean(dim=0)) / s_probe
    projection_gap = 0.0
    for feature in range(3):
        basis = torch.stack([torch.ones(8, dtype=torch.float64), x_hat_probe[:, feature]], dim=1)
        along = basis @ torch.linalg.lstsq(basis, dout_probe[:, feature:feature + 1]).solution
        residual = dout_probe[:, feature] - along.flatten()
        projection_gap = max(projection_gap, (gamma_probe[feature] / s_probe[feature] * residual - dx[:, feature]).abs().max().item())
    geometry[eps_probe] = (dx.sum(dim=0).abs().max().item(), (dx * x_hat_probe).sum(dim=0).abs().max().item(), projection_gap)
    print(f"eps = {eps_probe:g}: largest |sum_i dx_i| = {geometry[eps_probe][0]:.1e}, largest |sum_i dx_i x_hat_i| = "
          f"{geometry[eps_probe][1]:.1e}, largest |(gamma / s) (dy minus its projection on 1 and x_hat) - dx| = "
          f"{geometry[eps_probe][2]:.1e}")
exact = max(geometry[1e-30]) < 1e-10
print(f"With eps = 1e-30 all three are {'at rounding level' if exact else 'not at rounding level'} "
      f"(at most {max(geometry[1e-30]):.0e}): dx is {'exactly' if exact else 'not exactly'} the projection. With eps = 1e-5, sum_i dx_i is still "
      f"{geometry[1e-5][0]:.0e}, while the two x_hat terms grow to {max(geometry[1e-5][1:]):.0e}, the size of the eps effect.")

# %% [markdown]
# **A batch of 2 has (almost) no gradient.** With two examples, `1` and `x_hat` (which is
# about `(-1, +1)`) span the whole 2-dimensional space, so nothing is left of `dy` after the
# projection: `dx` is zero except for the small effect of `eps`. Measured on the batch of 2:

# %%
x_pair = probes["a batch of 2"]
gamma_pair = torch.ones(4, dtype=torch.float64)
dout_pair = bw.make_batch(2, 4, mean=0.5, seed=1)
dx_pair = bw.learner_or_reference("batchnorm_backward", learner, autograd_backward, dout_pair, x_pair, gamma_pair)[0][0]
dx_fixed_stats = gamma_pair / torch.sqrt(x_pair.var(dim=0, unbiased=False) + 1e-5) * dout_pair
print(f"batch of 2: largest |dx| = {dx_pair.abs().max().item():.1e}; with the statistics held fixed it "
      f"would be {dx_fixed_stats.abs().max().item():.2f}")

# %% [markdown]
# ## 2. Why the gradient must flow through the mean and the variance
#
# Section 2 of the paper explains what goes wrong if the normalization is left *outside*
# the gradient step, that is, if the optimizer treats the batch statistics as constants.
# Their example: a layer adds a learned bias, `x = u + b`, and is normalized by subtracting
# the mean, `x_hat = x - mean(x)`. If the gradient step ignores that `mean(x)` depends on `b`,
# it updates `b` by `-lr * sum_i dL/dx_hat_i`; but `b` cancels in `x - mean(x)`, so the output,
# and with it the loss, does not change, and the same update repeats every step: `b` grows
# without bound while nothing is learned.
#
# We run it: 64 values `u` (seed 0), a loss `mean((x_hat - target)^2)` with a target whose
# batch mean is not 0, plain SGD on `b` with learning rate 0.1 for 1000 steps, once with the
# mean left outside the gradient (computed without autograd) and once with autograd through
# the mean.

# %%
outside = bw.bias_drift(num_steps=1000, lr=0.1, through_mean=False, seed=0)
through = bw.bias_drift(num_steps=1000, lr=0.1, through_mean=True, seed=0)
for name, run in (("mean outside the gradient", outside), ("gradient through the mean", through)):
    print(f"{name:>26}: b after 0, 10, 100, 1000 steps = "
          + ", ".join(f"{run['b'][step].item():.4g}" for step in (0, 10, 100, 1000))
          + f";  loss {run['loss'][0].item():.4f} -> {run['loss'][-1].item():.4f}")
growth = outside["b"][-1].item() - outside["b"][-2].item()
loss_change = (outside["loss"] - outside["loss"][0]).abs().max().item()
print(f"Outside the gradient, b moves by {growth:.4f} every step "
      f"({'the same amount each time' if abs(growth - (outside['b'][1] - outside['b'][0]).item()) < 1e-9 else 'by varying amounts'}), "
      f"while the loss changes by at most {loss_change:.1e}: "
      + ("b grows without bound and nothing is learned." if outside["b"][-1].abs().item() > 100 * max(loss_change, 1e-12)
         else "here b stays bounded."))
print(f"Through the mean, |b| stays at most {through['b'].abs().max().item():.1e}: the gradient with respect to b "
      f"is zero by construction, since sum_i dx_i = 0 (section 1).")

# %% [markdown]
# That is why BN's backward pass must include the paths through `mu` and `var` of
# section 1, as autograd's does: then the gradient with respect to anything the
# normalization undoes is zero, and such a parameter stays where it is.
#
# ## 3. Scale invariance: the weights before a BatchNorm
#
# In training mode BN divides each feature by its batch standard deviation, so multiplying
# the weights `W` of the layer before it by any `a > 0` changes nothing: the batch mean and
# the standard deviation of `a * W x` are `a` times those of `W x`, and `x_hat` is the same
# (up to `eps`, which matters once the variance gets near it). The loss is then a function
# of the direction of `W` only: `L(a W) = L(W)`. Two consequences follow by construction
# (van Laarhoven 2017; Hoffer et al. 2018; Arora, Li & Lyu 2019):
#
# - differentiating `L(a W) = L(W)` gives `a * dL/dW(a W) = dL/dW(W)`: the gradient scales as
#   `1 / a`;
# - an SGD step changes `W` by `lr * |dL/dW|`, relative to `|W|`; that ratio, the step that
#   matters for a function of the direction, scales as `1 / a^2`.
#
# Measured on a small version of the seed's classifier without the pre-BN bias,
# `Linear(20, 32, bias=False) -> BatchNorm1d(32) -> ReLU -> Linear(32, 1) -> Sigmoid`
# (seed 0), on a batch of 256 of the course's binary task, in training mode, with `W`
# multiplied by `a`:

# %%
X_task, y_task = make_binary_task(1000, seed=0)
scaling = bw.scale_invariance(X_task[:256], y_task[:256], lr=0.1, seed=0)
one = scaling["scales"].index(1.0)
print(f"{'a':>7} {'output change':>14} {'std of Wx':>10} {'|dL/dW|':>9} {'a |dL/dW| / at a=1':>19} "
      f"{'a^2 rel. update / at a=1':>25}")
for i, a in enumerate(scaling["scales"]):
    print(f"{a:>7g} {scaling['output_change'][i]:>14.1e} {scaling['pre_bn_std'][i]:>10.3g} {scaling['grad_norm'][i]:>9.3g} "
          f"{a * scaling['grad_norm'][i] / scaling['grad_norm'][one]:>19.4f} "
          f"{a * a * scaling['relative_update'][i] / scaling['relative_update'][one]:>25.4f}")
holds = [a for i, a in enumerate(scaling["scales"])
         if abs(a * scaling["grad_norm"][i] / scaling["grad_norm"][one] - 1) < 0.01]
broken = [a for a in scaling["scales"] if a not in holds]
print(f"a * |dL/dW| stays within 1% of its value at a = 1 for a from {min(holds):g} to {max(holds):g}"
      + (f"; it departs for a = {', '.join(f'{a:g}' for a in broken)}, where the std of W x "
         f"({scaling['pre_bn_std'][scaling['scales'].index(max(broken))]:.2g} at a = {max(broken):g}) is no longer large "
         f"next to sqrt(eps) = {math.sqrt(1e-5):.4f}, and eps starts to count." if broken else "."))

# %% [markdown]
# **The gradient is orthogonal to `W`.** Since `L` does not change along `W` itself,
# `sum(W * dL/dW) = 0` (by construction again). So a plain SGD step, `W - lr * dL/dW`, can
# only make `|W|` longer: `|W_new|^2 = |W|^2 + lr^2 |dL/dW|^2`. As `|W|` grows, the
# effective step `lr * |dL/dW| / |W|` shrinks, on its own: an automatic learning-rate decay.
#
# **Weight decay.** Weight decay pulls `|W|` back towards 0. For weights before a BN it
# cannot limit what the network computes (that depends on `W / |W|` only); what it does is
# keep `|W|` small, and so keep the effective step **large**. Training the same model for
# 200 SGD steps (learning rate 0.1, batches of 64, seed 0) with weight decay on `W` only:

# %%
decay_runs = {decay: bw.weight_decay_run(X_task, y_task, decay, num_steps=200, lr=0.1, seed=0)
              for decay in bw.WEIGHT_DECAYS}
model_probe = bw.scale_model(0).train()
probe_loss = F.binary_cross_entropy(model_probe(X_task[:256]), y_task[:256])
(grad_W,) = torch.autograd.grad(probe_loss, model_probe[0].weight)
orthogonality = (model_probe[0].weight.detach() * grad_W).sum().item()
print(f"sum(W * dL/dW) at initialization: {orthogonality:.1e}, against |W| |dL/dW| = "
      f"{model_probe[0].weight.norm().item() * grad_W.norm().item():.3f} (the cosine of the angle is "
      f"{orthogonality / (model_probe[0].weight.norm().item() * grad_W.norm().item()):.0e})")
for decay, run in decay_runs.items():
    first, last = run["effective_step"][:20].mean().item(), run["effective_step"][-20:].mean().item()
    print(f"weight decay {decay:<5g}: |W| {run['weight_norm'][0].item():.3f} -> {run['weight_norm'][-1].item():.3f};  "
          f"effective step {first:.4f} (first 20 steps) -> {last:.4f} (last 20), x{last / first:.2f};  "
          f"training loss (last 50 steps) {run['loss'][-50:].mean().item():.3f}")
plain, strongest = decay_runs[0.0], decay_runs[max(bw.WEIGHT_DECAYS)]
print(f"Without weight decay |W| went {'up' if plain['weight_norm'][-1] > plain['weight_norm'][0] else 'down'} "
      f"({plain['weight_norm'][0].item():.3f} -> {plain['weight_norm'][-1].item():.3f}); with weight decay "
      f"{max(bw.WEIGHT_DECAYS):g} it fell to {strongest['weight_norm'][-1].item():.3f} and the effective step grew "
      f"{strongest['effective_step'][-20:].mean().item() / plain['effective_step'][-20:].mean().item():.1f} times "
      f"larger than without decay.")
trained = strongest["model"].train()
with torch.no_grad():
    before_rescale = trained(X_task[:256])
    trained[0].weight.mul_(1 / strongest["weight_norm"][-1].item())
    after_rescale = trained(X_task[:256])
print(f"The trained network with W rescaled to |W| = 1: largest output change {(after_rescale - before_rescale).abs().max().item():.1e} "
      f"(the function depends on W / |W| only, up to eps).")

# %% [markdown]
# ### Try it: scale and weight decay
#
# Left, against the scale `a` of `W` (log-log, fixed axes): the gradient `|dL/dW|` (slope
# -1), the effective step `lr |dL/dW| / |W|` (slope -2), and the standard deviation of `W x`
# (slope +1); the title gives the network's output change against `a = 1`. Move **scale a**
# down to 0.001 to see `eps` break the invariance. Right: `|W|` and the effective step over
# training for the chosen **weight decay**: the more decay, the smaller `|W|` and the larger
# the step.

# %%
view = bw.scale_view(scaling, decay_runs)
view

# %% [markdown]
# ## 4. Which axes: BatchNorm, LayerNorm, GroupNorm, InstanceNorm
#
# All four compute `(x - mean) / sqrt(var + eps)` and then a per-channel `gamma`, `beta`.
# They differ in **which values share a mean and a variance**. For a feature map `x` of
# shape `(N, C, H, W)`:
#
# - `BatchNorm2d(C)`: one mean per **channel**, over the batch and all positions
#   `(N, H, W)`, `N * H * W` values (the paper's "effective mini-batch" for convolutions);
# - `LayerNorm([C, H, W])` (Ba et al. 2016): one mean per **example**, over `(C, H, W)`;
# - `GroupNorm(G, C)` (Wu & He 2018): one mean per example and **group** of `C / G`
#   channels; `G = 1` is LayerNorm over `(C, H, W)`, `G = C` is InstanceNorm (Ulyanov et
#   al. 2016), one mean per example and channel, over `(H, W)`.
#
# Only BatchNorm mixes examples; the others treat every example on its own, so they behave
# the same in training and in evaluation mode and do not care how large the batch is. The
# check below asks, for each of PyTorch's layers, over which axes its output has mean 0
# (a batch of shape (4, 6, 5, 5), seed 0):

# %%
feature_map = bw.make_batch(4 * 6 * 5 * 5, 1, mean=3.0, std=2.0, seed=0, dtype=torch.float32).view(4, 6, 5, 5)
layers = {"BatchNorm2d(6)": nn.BatchNorm2d(6).train(), "LayerNorm([6, 5, 5])": nn.LayerNorm([6, 5, 5]),
          "GroupNorm(3, 6)": nn.GroupNorm(3, 6), "InstanceNorm2d(6)": nn.InstanceNorm2d(6)}
groupings = {"per channel over (N, H, W)": lambda t: t.mean(dim=(0, 2, 3)),
             "per example over (C, H, W)": lambda t: t.mean(dim=(1, 2, 3)),
             "per example and group of 2 channels": lambda t: t.view(4, 3, 2, 5, 5).mean(dim=(2, 3, 4)),
             "per example and channel over (H, W)": lambda t: t.mean(dim=(2, 3))}
with torch.no_grad():
    for name, layer in layers.items():
        out = layer(feature_map)
        zero = [grouping for grouping, mean_of in groupings.items() if mean_of(out).abs().max().item() < 1e-4]
        print(f"{name:>21}: mean 0 {'; '.join(zero) if zero else 'over none of these'}")

# %% [markdown]
# (A normalization with finer groups also has mean 0 over every coarser grouping made of
# whole groups: InstanceNorm's output has mean 0 per group and per example too. BatchNorm's
# statistics are the only ones that cross examples.)
#
# ### Exercise 2: `batchnorm2d_forward`
#
# Write `batchnorm2d_forward(x, gamma, beta, eps=1e-5) -> y`, the training-mode forward pass
# of `nn.BatchNorm2d`:
#
# - `x` is a tensor of shape `(N, C, H, W)` with `N * H * W >= 2`; `gamma` and `beta` have
#   shape `(C,)`; `eps` is a float.
# - Return `y`, a tensor of the same shape and dtype as `x`: each channel normalized with its
#   mean and **biased** variance over the batch and all positions (`N`, `H` and `W`
#   together), `eps` inside the square root, then multiplied by that channel's `gamma` and
#   shifted by its `beta`. No running statistics: only the output is checked.
# - From scratch, with tensor operations; no normalization built-ins (`F.batch_norm`,
#   `nn.BatchNorm2d`, `F.group_norm`, `F.instance_norm`, `F.layer_norm`, ...: the test makes
#   them raise). Leave `x`, `gamma` and `beta` unchanged.
#
# The test compares your output with `nn.BatchNorm2d` in training mode: square and
# non-square maps, one image (`N = 1`), `H = W = 1`, a channel count equal to the width,
# a constant channel, tiny variances in float64, and float32.

# %% nbgrader={"grade": false, "grade_id": "bn2d_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    """Training-mode BatchNorm2d. x: (N, C, H, W); gamma, beta: (C,). Returns y: (N, C, H, W)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma.view(1, -1, 1, 1) * x_hat + beta.view(1, -1, 1, 1)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn2d_forward_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Checks batchnorm2d_forward against nn.BatchNorm2d in training mode, without normalization built-ins."""
from autograder.checks import bn2d_forward

bn2d_forward.visible(globals())
### BEGIN HIDDEN TESTS
bn2d_forward.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# **One image trains.** PyTorch refuses a training-mode batch only when each channel has a
# single value, `N * H * W = 1`. A single 5x5 image gives every channel 25 values. The
# same image through your function (or PyTorch's, if yours is not there yet) and through
# `nn.BatchNorm2d(6)`:

# %%
def reference_batchnorm2d(x, gamma, beta, eps=1e-5):
    """The lesson's version: PyTorch's F.batch_norm in training mode."""
    return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)


one_image = feature_map[:1]
gamma6, beta6 = torch.linspace(0.5, 2.0, 6), torch.linspace(-1.0, 1.0, 6)
out_one, sentence = bw.learner_or_reference("batchnorm2d_forward", globals().get("batchnorm2d_forward"),
                                            reference_batchnorm2d, one_image, gamma6, beta6, rtol=1e-5)
print(sentence)
layer = nn.BatchNorm2d(6).train()
with torch.no_grad():
    layer.weight.copy_(gamma6)
    layer.bias.copy_(beta6)
    print(f"one image, (1, 6, 5, 5): largest |y - nn.BatchNorm2d| = {(out_one - layer(one_image)).abs().max().item():.1e}; "
          f"values per channel: {one_image.shape[0] * one_image.shape[2] * one_image.shape[3]}")
    try:
        nn.BatchNorm2d(6).train()(feature_map[:1, :, :1, :1])
        print("a (1, 6, 1, 1) input trained as well")
    except ValueError as error:
        print(f"a (1, 6, 1, 1) input (one value per channel) raises: {error}")

# %% [markdown]
# ## 5. As the batch shrinks: BatchNorm against LayerNorm and GroupNorm
#
# With small batches BN's batch statistics are noisy estimates, and at inference the
# running averages of those noisy statistics stand in for them. LayerNorm and GroupNorm do
# not use the batch at all. Wu & He (2018) report for ResNet-50 on ImageNet that BN's
# validation error goes from 23.6% at 32 images per GPU to 34.7% at 2, while GroupNorm
# stays at about 24.1% for every batch size.
#
# The same comparison on this course's data, scikit-learn's 8x8 digits (lesson 04; 64 pixel
# features, 10 classes): `Linear(64, 64) -> norm -> ReLU -> Linear(64, 10)` with the norm
# `BatchNorm1d(64)`, `GroupNorm(8, 64)` (8 groups of 8 hidden features) or `LayerNorm(64)`.
# Every run sees the same 1500 training examples (so smaller batches take more steps), SGD
# with momentum 0.9 and a learning rate of `0.02 * batch size / 32`, seed 0; test accuracy in
# evaluation mode, and in training mode on test batches of the same size (this takes a few
# seconds):

# %%
X_train, y_train, X_test, y_test = load_digits_split(seed=0)
comparison = bw.compare_norms(X_train, y_train, X_test, y_test, batch_sizes=(2, 4, 8, 16, 64),
                              num_examples=1500, lr=0.02, seed=0)
print(f"{'batch size':>10} " + " ".join(f"{bw.KIND_NAMES[kind]:>17}" for kind in comparison["kinds"])
      + "    (test accuracy, eval mode / training mode)")
for i, size in enumerate(comparison["batch_sizes"]):
    print(f"{size:>10} " + " ".join(f"{comparison['eval'][kind][i]:>9.3f} / {comparison['train_mode'][kind][i]:.3f}"
                                    for kind in comparison["kinds"]))
bn_eval = comparison["eval"]["batch"]
best_other = [max(comparison["eval"]["group"][i], comparison["eval"]["layer"][i]) for i in range(len(bn_eval))]
smallest, largest = comparison["batch_sizes"][0], comparison["batch_sizes"][-1]
spread = {kind: max(values) - min(values) for kind, values in comparison["eval"].items()}
print(f"BatchNorm: {bn_eval[-1]:.3f} at batch {largest}, {bn_eval[0]:.3f} at batch {smallest} "
      f"({'a drop of' if bn_eval[0] < bn_eval[-1] else 'a change of'} {abs(bn_eval[-1] - bn_eval[0]):.3f}); "
      f"at batch {smallest} the better of GroupNorm and LayerNorm reaches {best_other[0]:.3f}, "
      f"{'above' if best_other[0] > bn_eval[0] else 'not above'} BatchNorm.")
print(f"Across batch sizes the accuracy of GroupNorm spans {spread['group']:.3f} and LayerNorm {spread['layer']:.3f}, "
      f"BatchNorm {spread['batch']:.3f}.")
gap = [abs(comparison["eval"][kind][i] - comparison["train_mode"][kind][i]) for kind in ("group", "layer")
       for i in range(len(comparison["batch_sizes"]))]
print(f"Training mode against eval mode: GroupNorm and LayerNorm differ by at most {max(gap):.3f}; they use no "
      f"batch statistics, so each example's output is the same in both modes by construction, and the accuracies "
      f"differ only because training mode is counted on whole test batches ({len(X_test)} test examples). "
      f"BatchNorm at batch {smallest}: {comparison['train_mode']['batch'][0]:.3f} in training mode against "
      f"{bn_eval[0]:.3f} in eval mode.")

# %% [markdown]
# One run per setting, on a small data set: differences of a percent or two between
# settings are within the noise of a different seed; the large ones are not.
#
# ### Try it: the batch size
#
# Left, each normalization's test accuracy (eval mode) against the batch size, the slider's
# batch size marked; right, at that batch size, eval mode against training mode (in
# training mode at batch 2, each BatchNorm prediction depends on one other test example).

# %%
batch_view = bw.batch_size_view(comparison)
batch_view

# %% [markdown]
# ## 6. Where each is used, and folding BatchNorm away
#
# - **BatchNorm** is the default in convolutional networks for images trained with batches
#   of tens of examples per device (ResNets and their descendants). At inference it is a
#   fixed affine map per channel, so it can be **folded** into the convolution before it and
#   costs nothing.
# - **LayerNorm** is the normalization of transformers and recurrent networks: it normalizes
#   each token's features on their own, so it works with any batch size, with sequences of
#   any length, and identically in training and at inference.
# - **GroupNorm** is used where the batch per device is tiny: detection, segmentation and
#   video models that fit one or two images per GPU (the setting it was proposed for).
# - **InstanceNorm** normalizes each channel of each image on its own, which removes
#   per-image contrast; it is used in style transfer.
#
# LayerNorm and GroupNorm cannot be folded: their statistics come from the example itself at
# inference too, so they are not an affine map of `x`. An affine map `f` with a non-zero
# shift has `f(2x) != 2 f(x)`; GroupNorm has `GN(2x) = GN(x)` (the first image, seed 0):

# %%
group_norm = nn.GroupNorm(3, 6)
with torch.no_grad():
    gn_x, gn_2x = group_norm(feature_map[:1]), group_norm(2 * feature_map[:1])
print(f"GroupNorm: largest |GN(2x) - GN(x)| = {(gn_2x - gn_x).abs().max().item():.1e}, "
      f"largest |GN(2x) - 2 GN(x)| = {(gn_2x - 2 * gn_x).abs().max().item():.2f}")

# %% [markdown]
# ### Exercise 3: `fold_conv_bn`
#
# In eval mode, `BatchNorm2d` after a convolution computes, per output channel `c`,
# `gamma_c * (conv(x)_c - running_mean_c) / sqrt(running_var_c + eps) + beta_c`. Work out how
# that changes the convolution's weight (shape `(C_out, C_in, kH, kW)`) and bias, then write
# `fold_conv_bn(conv, bn) -> nn.Conv2d`:
#
# - `conv` is an `nn.Conv2d` (any channels, kernel size, stride, padding and dilation;
#   `groups=1`; `padding_mode="zeros"`; with or without a bias); `bn` is an
#   `nn.BatchNorm2d(conv.out_channels)` with PyTorch's defaults `affine=True` and
#   `track_running_stats=True` (any `eps`, in either mode).
# - Return a **new** `nn.Conv2d` with the same in and out channels, kernel size, stride,
#   padding, dilation and dtype, always with a bias, whose output equals
#   `bn(conv(x))` with `bn` in **eval mode** (its running statistics, its `eps`, its `weight`
#   and `bias`) for every input `x`, whatever mode `bn` is in.
# - Leave `conv` and `bn` unchanged: parameters, buffers and training mode. Do not call
#   `torch.nn.utils.fusion` (`fuse_conv_bn_eval`, `fuse_conv_bn_weights`): the test makes
#   them raise.
#
# The test compares your folded convolution with `conv` followed by `bn` in eval mode, on
# several shapes, without a conv bias, with `bn` in training mode, with another `eps`, and
# in float64.

# %% nbgrader={"grade": false, "grade_id": "fold_conv_bn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fold_conv_bn(conv, bn):
    """A new nn.Conv2d computing bn(conv(x)) with bn in eval mode."""
    ### BEGIN SOLUTION
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    conv_bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, bias=True).to(conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        folded.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias.detach())
    return folded
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "fold_conv_bn_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Checks fold_conv_bn against conv followed by bn in eval mode, without torch.nn.utils.fusion."""
from autograder.checks import fold_conv_bn as fold_conv_bn_checks

fold_conv_bn_checks.visible(globals())
### BEGIN HIDDEN TESTS
fold_conv_bn_checks.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# The fold on a small convolutional block with trained-looking statistics (running
# statistics from 20 training-mode batches, seed 0), compared with the block in eval mode,
# and with PyTorch's `torch.nn.utils.fusion.fuse_conv_bn_eval` (the lesson's version):

# %%
from torch.nn.utils.fusion import fuse_conv_bn_eval

seed_everything(0)
conv = nn.Conv2d(6, 8, 3, padding=1)
bn = nn.BatchNorm2d(8)
with torch.no_grad():
    bn.weight.uniform_(0.5, 2.0)
    bn.bias.uniform_(-1.0, 1.0)
    bn.train()
    for _ in range(20):
        bn(conv(3.0 + 2.0 * torch.randn(16, 6, 5, 5)))
conv.eval()
bn.eval()


def same_output(got, expected):
    with torch.no_grad():
        return isinstance(got, nn.Conv2d) and bw.agree(got(feature_map), expected(feature_map), rtol=1e-5)


folded, sentence = bw.learner_or_reference("fold_conv_bn", globals().get("fold_conv_bn"), fuse_conv_bn_eval,
                                           conv, bn, compare=same_output)
print(sentence)
with torch.no_grad():
    block = bn(conv(feature_map))
    print(f"largest |folded(x) - bn(conv(x))| in eval mode: {(folded(feature_map) - block).abs().max().item():.1e} "
          f"(float32); one convolution instead of a convolution and a BatchNorm")

# %% [markdown]
# ## 7. Two more things, in words
#
# **SyncBatchNorm.** In data-parallel training every process (GPU) sees only its share of
# the batch, and a plain `BatchNorm` normalizes with that share's statistics: with 2 images
# per GPU you are back in the small-batch regime of section 5, however large the global
# batch. `nn.SyncBatchNorm` computes the batch mean and variance across all processes at
# every forward pass (it needs `torch.distributed`; convert a model with
# `nn.SyncBatchNorm.convert_sync_batchnorm(model)`). The price is a communication between
# the processes in every BN layer's forward and backward pass. See PyTorch's documentation of `torch.nn.SyncBatchNorm`.
#
# **Pre-activation residual blocks.** He et al. (2016), "Identity Mappings in Deep Residual
# Networks", reorder each residual block as BN -> ReLU -> conv (BN before the convolution,
# twice per block) and leave the skip connection a pure identity, which lets signals and
# gradients pass through a deep stack unchanged. Goyal et al. (2017) initialize the last
# BN's `gamma` of each residual block to zero, so every block starts as the identity. In
# PyTorch's `torchvision.models.resnet` this is the `zero_init_residual=True` option.
#
# ## Summary
#
# - Training-mode BN is a graph in which every example reaches every output through the
#   batch mean and variance. Its backward pass, derived node by node, collapses to
#   `dx = (gamma / s) (dy - mean(dy) - x_hat mean(dy x_hat))`: per feature, `dy` with its
#   components along `1` and `x_hat` removed, so `sum dx = 0` and `sum dx x_hat = 0` by
#   construction, and a batch of 2 passes back almost no gradient.
# - The gradient must flow through the statistics: with the mean left outside the gradient
#   step, the paper's bias grew by the same amount every step while the loss did not move.
# - BN makes the weights before it scale invariant: the gradient scales as `1 / a`, the
#   effective step as `1 / a^2`, the gradient is orthogonal to `W`, and weight decay on those
#   weights raises the effective learning rate instead of limiting the function.
# - BatchNorm normalizes per channel over the batch; LayerNorm, GroupNorm and InstanceNorm
#   per example, so only BN's results depend on the batch; the table in section 5 shows by
#   how much on the digits, from batch 64 down to batch 2.
# - At inference BN is affine and folds into the convolution before it; LayerNorm and
#   GroupNorm are not affine in `x` and cannot be folded. Across GPUs, `SyncBatchNorm`
#   shares the statistics; pre-activation residual blocks put BN before each convolution.
#
# **Next:** this is the last lesson. Lesson `05_pitfalls` collects the mistakes to avoid in
# practice, and lesson `02_normalization_math` the forward pass this lesson differentiated.
