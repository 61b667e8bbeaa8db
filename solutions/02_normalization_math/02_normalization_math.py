# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The normalization math
#
# By the end of this lesson you will be able to:
#
# - compute batch normalization by hand, step by step: the batch mean, the **biased** batch
#   variance, `eps` **inside** the square root, the normalization, then the scale `gamma`
#   and the shift `beta`;
# - explain why `gamma = sqrt(var + eps)`, `beta = mean` gives back the input unchanged, so
#   normalizing never takes anything away from what a network can represent;
# - say what a BatchNorm layer does differently in training and in evaluation mode, and keep
#   its *running statistics* the way PyTorch does (the `momentum` convention, the unbiased
#   variance, `momentum=None`);
# - write BatchNorm at inference time as one affine map `y = scale * x + shift`.
#
# Three graded exercises: `batchnorm_forward`, `update_running_stats` and
# `batchnorm_inference`. Each has a test cell you can run as often as you like; it tells
# you in words what is still wrong.
#
# The facts here come from Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep
# Network Training by Reducing Internal Covariate Shift" (Algorithms 1 and 2), and from
# PyTorch's documentation of `nn.BatchNorm1d`.

# %%
import torch
from torch import nn
import torch.nn.functional as F

from utils.device import get_device, seed_everything
from utils import normmath

device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. A batch of features
#
# A layer in a network hands the next layer a **batch**: a tensor `x` of shape `(N, D)`,
# `N` examples (the mini-batch) and `D` features per example (for instance the 64 outputs of
# a linear layer). Each feature has its own typical size and offset, and these drift while
# the network trains.
#
# Here is a made-up batch with `N = 256` examples and `D = 3` features whose population
# means are 0, 5 and -2 and whose standard deviations are 1, 3 and 0.5 (seed 0). Each
# feature's values come from a two-bump distribution on purpose: it is easy to see that
# normalization moves and stretches a distribution but does not change its shape.

# %%
seed_everything(0)
x = normmath.make_batch(256, 3, shift=[0.0, 5.0, -2.0], scale=[1.0, 3.0, 0.5], seed=0, device=device)
print(normmath.describe_features(x, "x"))

# %% [markdown]
# ## 2. Algorithm 1, step by step
#
# Batch normalization treats every feature (every column of `x`) separately, and computes
# its statistics **over the batch** (over the `N` rows, `dim=0`):
#
# 1. the batch mean `mu = (1/N) * sum_i x_i`;
# 2. the batch variance `sigma2 = (1/N) * sum_i (x_i - mu)^2`;
# 3. the normalized value `x_hat = (x - mu) / sqrt(sigma2 + eps)`;
# 4. the output `y = gamma * x_hat + beta`.
#
# `gamma` and `beta` are one number per feature, learned like any other weight (PyTorch
# starts them at 1 and 0). `eps` is a small constant (PyTorch's default is `1e-5`).
#
# **Step 1, the mean**, one number per feature:

# %%
mean_per_feature = x.mean(dim=0)
print("batch mean per feature:", mean_per_feature.tolist())

# %% [markdown]
# **Step 2, the variance.** Algorithm 1 divides by `N`: it is the *biased* variance, the
# plain mean of the squared deviations. PyTorch's `x.var()` divides by `N - 1` by default
# (the *unbiased* estimate), so for normalization you ask for `unbiased=False`. The two
# differ by the factor `N / (N - 1)`: barely for 256 examples, a factor of 2 for a batch of 2.

# %%
biased = x.var(dim=0, unbiased=False)
unbiased = x.var(dim=0, unbiased=True)
print("biased variance   (divide by N):    ", biased.tolist())
print("unbiased variance (divide by N - 1):", unbiased.tolist())
print(f"ratio unbiased / biased with N = 256: {(unbiased / biased)[0].item():.4f}   (256/255 = {256 / 255:.4f})")
pair = x[:2]
ratio_pair = (pair.var(dim=0, unbiased=True) / pair.var(dim=0, unbiased=False))[0].item()
print(f"ratio unbiased / biased with N = 2:   {ratio_pair:.4f}")

# %% [markdown]
# **Step 3, `eps` goes inside the square root.** The denominator is `sqrt(sigma2 + eps)`,
# not `sqrt(sigma2) + eps`. The two only differ when the variance is small, which is exactly
# when it matters: a feature that is constant over the batch has variance 0, and
# `0 / sqrt(0)` is not a number, while `0 / sqrt(0 + eps)` is 0.

# %%
eps = 1e-5
for variance in [0.0, 1e-6, 1e-4, 1.0, 100.0]:
    v = torch.tensor(variance, dtype=torch.float64)
    inside, outside = torch.sqrt(v + eps).item(), (torch.sqrt(v) + eps).item()
    print(f"variance {variance:8g}:  sqrt(var + eps) = {inside:.6f}   sqrt(var) + eps = {outside:.6f}"
          f"   ratio {outside / inside:.3f}")
zero = torch.tensor(0.0)
print("a constant feature: 0 / sqrt(0) =", (zero / torch.sqrt(zero)).item(),
      "   0 / sqrt(0 + eps) =", (zero / torch.sqrt(zero + eps)).item())

# %% [markdown]
# **Steps 3 and 4 together** are your first exercise.
#
# ### Exercise 1: `batchnorm_forward`
#
# Write `batchnorm_forward(x, gamma, beta, eps=1e-5) -> y`:
#
# - `x` is a tensor of shape `(N, D)`; `gamma` and `beta` are tensors of shape `(D,)`;
#   `eps` is a float.
# - Return `y`, a `torch.Tensor` of shape `(N, D)` and the same dtype as `x` (float32 in,
#   float32 out; float64 in, float64 out): training-mode batch normalization, each feature
#   normalized with its own batch mean and **biased** batch variance over the `N` examples
#   (`dim=0`), `eps` inside the square root, then multiplied by `gamma` and shifted by `beta`.
# - Write it from scratch with tensor operations (`mean`, `var`, `sqrt`, arithmetic). It must
#   **not** call `F.batch_norm`, `torch.batch_norm`, any `nn.BatchNorm*` layer or any other
#   normalization built-in (`layer_norm`, `group_norm`, `instance_norm`, ...): the test makes
#   those raise while your function runs.
# - It must not modify `x` (no `x -= ...` or `x.sub_(...)`): the test compares `x` with a copy.
#
# The test compares your output with `nn.BatchNorm1d` in training mode, on ordinary data,
# a constant feature column, tiny and huge variances, a batch of 2, float64, and PyTorch's
# documented example (section 4).

# %% nbgrader={"grade": false, "grade_id": "bn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalization. x: (N, D); gamma, beta: (D,). Returns y: (N, D)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma * x_hat + beta
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn_forward_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Checks batchnorm_forward against nn.BatchNorm1d in training mode, without normalization built-ins."""
from autograder.checks import bn_forward

bn_forward.visible(globals())
### BEGIN HIDDEN TESTS
bn_forward.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 3. What normalization does, measured
#
# From here on the lesson measures with PyTorch's own `nn.BatchNorm1d` (in training mode), so
# the numbers do not depend on your answer. First, how far your function is from it on our
# batch (float32 rounding is about `1e-6`):

# %%
layer = nn.BatchNorm1d(3).to(device).train()
with torch.no_grad():
    reference = layer(x)
mine = batchnorm_forward(x, torch.ones(3, device=device), torch.zeros(3, device=device))
print(f"largest |your output - nn.BatchNorm1d|: {(mine - reference).abs().max().item():.2e}")

# %% [markdown]
# With `gamma = 1` and `beta = 0` every feature comes out with mean 0 and standard
# deviation 1, whatever its mean and spread were before:

# %%
print(normmath.describe_features(reference, "after BN"))

# %% [markdown]
# `gamma` and `beta` then choose the output's spread and centre: with `gamma = [1, 2, 3]`
# and `beta = [11, 12, 13]` (the values CS231n's assignment uses) each feature's standard
# deviation becomes its `gamma` and its mean becomes its `beta`:

# %%
with torch.no_grad():
    layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
    layer.bias.copy_(torch.tensor([11.0, 12.0, 13.0]))
    print(normmath.describe_features(layer(x), "gamma = [1, 2, 3], beta = [11, 12, 13]"))

# %% [markdown]
# **Normalizing takes nothing away.** If the network learns `gamma = sqrt(var + eps)` and
# `beta = mean` (the batch's own statistics), the layer gives back exactly its input: the
# scale and shift undo the normalization. So inserting batch normalization never makes a
# network less expressive; it only changes how the numbers are parametrized.

# %%
with torch.no_grad():
    layer.weight.copy_(torch.sqrt(x.var(dim=0, unbiased=False) + layer.eps))
    layer.bias.copy_(x.mean(dim=0))
    recovered = layer(x)
print(f"gamma = sqrt(var + eps), beta = mean:  largest |y - x| = {(recovered - x).abs().max().item():.2e}")

# %% [markdown]
# **Shift and scale of the input do not matter.** Training-mode BN subtracts this batch's
# mean and divides by this batch's standard deviation, so multiplying a feature by a
# positive number or adding a constant to it leaves the output unchanged (up to float
# rounding and the effect of `eps`, which grows as the variance shrinks towards it). The
# same seed with four different shifts and scales:

# %%
base = F.batch_norm(normmath.make_batch(256, 1, seed=0), None, None, training=True)
for shift, scale in [(0.0, 1.0), (100.0, 1.0), (-3.0, 50.0), (7.0, 0.1)]:
    moved = F.batch_norm(normmath.make_batch(256, 1, shift=shift, scale=scale, seed=0), None, None, training=True)
    print(f"shift {shift:6.1f}, scale {scale:5.1f}:  largest change of the output {(moved - base).abs().max().item():.2e}")

# %% [markdown]
# **A batch of 2 is an extreme case.** With two examples the mean is their midpoint and the
# biased standard deviation is half their distance, so every feature comes out as exactly
# -1 and +1 (slightly less, because of `eps`) whatever the inputs were:

# %%
print(F.batch_norm(x[:2], None, None, training=True))

# %% [markdown]
# ### Try it: the distribution before and after
#
# The left panel is one feature over a batch; the right panel is the same batch after
# training-mode batch normalization (PyTorch's `F.batch_norm`) followed by `gamma` and
# `beta`. The black line is the batch mean, the grey band the mean plus or minus one
# standard deviation.
#
# - Move **shift** and **scale**: the left histogram moves and stretches, the right one does
#   not change at all.
# - Move **gamma** and **beta**: the right histogram's standard deviation follows `gamma`
#   and its mean follows `beta`.
# - Move **batch size** down to 2: the right panel collapses to two spikes at
#   `beta - gamma` and `beta + gamma`. Small batches give noisy statistics.
# - In every setting, the two bumps stay two bumps: normalization does not make a feature
#   Gaussian.

# %%
view = normmath.distribution_view(seed=0)
view

# %% [markdown]
# ## 4. Training mode and evaluation mode
#
# In training mode each example's output depends on the statistics of its batch. That is
# fine while learning, but a trained model must give one example the same answer whatever
# else is in the batch, including in a batch of one. So during training a BatchNorm layer
# also keeps **running estimates** of each feature's mean and variance in two buffers,
# `running_mean` (starting at 0) and `running_var` (starting at 1); `model.eval()` switches
# the layer to use those instead of the batch's statistics.
#
# **PyTorch's convention.** After every training-mode forward pass (even with no optimizer
# step) PyTorch updates, per feature,
#
# `running_mean = (1 - momentum) * running_mean + momentum * batch_mean`
#
# `running_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased`
#
# with `momentum = 0.1` by default: the new batch gets weight 0.1. The paper's
# formulation and many courses (CS231n, for one) name the *old* value's weight "momentum"
# instead, and use 0.9; it is the same average written the other way round. Carrying a 0.9
# from such a source into `nn.BatchNorm1d(momentum=0.9)` makes the running statistics
# follow almost only the latest batch.
#
# **Two variances.** The normalization uses the biased batch variance (divide by `N`), but
# `running_var` is updated with the unbiased one (divide by `N - 1`), the better estimate of
# the population variance (Algorithm 2 of the paper uses the same `N/(N-1)` correction).
#
# PyTorch's documentation illustrates both with a small input `X` of shape `(4, 3, 4)`
# (pytorch issue 60528): `(N, C, L)` = 4 examples, 3 channels, 4 positions. Channel 0 holds
# the rows `[1..4], [2..5], [3..6], [4..7]`; channels 1 and 2 are the same plus 4 and plus 8.
# `BatchNorm1d` computes each channel's statistics over the examples **and** the positions.

# %%
X = normmath.documented_example(device=device)
print("X[:, 0, :] =\n", X[:, 0, :])
documented = nn.BatchNorm1d(3).to(device).train()
with torch.no_grad():
    out = documented(X)
channel0 = X[:, 0, :].flatten()
print("out[0, 0] =", [round(v, 4) for v in out[0, 0].tolist()])
print(f"channel 0: mean {channel0.mean().item():.4f}, biased variance {channel0.var(unbiased=False).item():.4f}, "
      f"unbiased variance {channel0.var(unbiased=True).item():.4f}")
print("running_mean after one step:", [round(v, 4) for v in documented.running_mean.tolist()])
print("running_var after one step: ", [round(v, 4) for v in documented.running_var.tolist()])
print(f"0.9 * 1 + 0.1 * unbiased variance = {0.9 + 0.1 * channel0.var(unbiased=True).item():.4f};"
      f"  with the biased variance it would be {0.9 + 0.1 * channel0.var(unbiased=False).item():.4f}")

# %% [markdown]
# The normalized values `[-1.8974, -1.2649, -0.6325, 0.0000]` use the biased variance 2.5,
# the running variance 1.1667 uses the unbiased 2.6667, and the running means are a tenth
# of the channel means 4, 8 and 12. The same example with `momentum=0.9`, as someone
# following the paper-style convention might write it:

# %%
confused = nn.BatchNorm1d(3, momentum=0.9).to(device).train()
with torch.no_grad():
    confused(X)
print("momentum=0.9: running_mean after one step:", [round(v, 4) for v in confused.running_mean.tolist()])

# %% [markdown]
# ### Exercise 2: `update_running_stats`
#
# Write `update_running_stats(running_mean, running_var, x, momentum=0.1) -> (new_running_mean, new_running_var)`:
#
# - `running_mean` and `running_var` are tensors of shape `(D,)`; `x` is a batch of shape
#   `(N, D)` with `N >= 2`; `momentum` is a float between 0 and 1.
# - Return a tuple of two tensors of shape `(D,)` (same dtype as the inputs), following
#   PyTorch's convention: `new = (1 - momentum) * old + momentum * batch statistic`, where the
#   batch statistics are each feature's mean over the batch and its **unbiased** variance
#   (divide by `N - 1`).
# - Do not modify `running_mean`, `running_var` or `x` in place: return new tensors.
#
# The test compares your result with the buffers of `nn.BatchNorm1d` after one
# training-mode forward pass, including PyTorch's documented example above (as rows: each
# channel's values over the examples and positions, `X.transpose(1, 2).reshape(-1, 3)`).

# %% nbgrader={"grade": false, "grade_id": "running_stats", "locked": false, "schema_version": 3, "solution": true, "task": false}
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    """PyTorch's running-statistics update. running_mean, running_var: (D,); x: (N, D)."""
    ### BEGIN SOLUTION
    batch_mean = x.mean(dim=0)
    batch_var = x.var(dim=0, unbiased=True)
    new_running_mean = (1 - momentum) * running_mean + momentum * batch_mean
    new_running_var = (1 - momentum) * running_var + momentum * batch_var
    return new_running_mean, new_running_var
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "running_stats_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Checks update_running_stats against nn.BatchNorm1d's running buffers (PyTorch's momentum convention)."""
from autograder.checks import running_stats

running_stats.visible(globals())
### BEGIN HIDDEN TESTS
running_stats.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# **`momentum=None`: a plain average.** With `momentum=None` PyTorch keeps a cumulative
# average instead: after `k` batches, `running_mean` is the plain mean of the `k` batch
# means (and `running_var` of the `k` unbiased batch variances), each batch counting
# equally; `num_batches_tracked` counts the batches. Five batches of 32 examples (seeds
# 1 to 5):

# %%
cumulative = nn.BatchNorm1d(1, momentum=None).train()
batch_means = []
with torch.no_grad():
    for seed in range(1, 6):
        batch = normmath.make_batch(32, 1, shift=5.0, scale=3.0, seed=seed)
        cumulative(batch)
        batch_means.append(batch.mean().item())
print("batch means:", [round(v, 4) for v in batch_means])
print(f"plain average of the batch means: {sum(batch_means) / len(batch_means):.4f}")
print(f"running_mean with momentum=None:  {cumulative.running_mean.item():.4f}"
      f"   (num_batches_tracked = {cumulative.num_batches_tracked.item()})")

# %% [markdown]
# **How fast the running statistics settle.** Over 100 training steps on batches of 32 from
# a feature with population mean 5 and variance 9 (seed 0), starting from PyTorch's initial
# buffers (mean 0, variance 1):

# %%
for momentum in [0.01, 0.1, 0.5, None]:
    trace = normmath.running_stats_trace(num_steps=100, batch_size=32, momentum=momentum, seed=0)
    print(f"momentum {str(momentum):>4}: running_mean after 1, 10, 100 steps: "
          f"{trace['running_mean'][0].item():.3f}, {trace['running_mean'][9].item():.3f}, "
          f"{trace['running_mean'][99].item():.3f};  running_var after 100: {trace['running_var'][99].item():.3f}")

# %% [markdown]
# A small momentum averages over many batches (smooth, but slow to forget the initial 0 and
# 1); a large one follows the latest batches (fast, but noisy). `momentum=None` weighs all
# batches equally, which suits a model that has stopped changing (for instance, to
# recompute the statistics after training) rather than one whose features are still
# moving.
#
# ### Try it: running statistics over training
#
# Dots are each step's batch mean and unbiased batch variance, the orange line is
# PyTorch's running estimate with the slider's momentum, the dashed green line is the
# cumulative average (`momentum=None`), and the grey line the population value. Try a
# momentum of 0.01 and of 0.9, and batch sizes 2 and 128.

# %%
running_view = normmath.running_stats_view(num_steps=100, seed=0)
running_view

# %% [markdown]
# ## 5. Inference: one affine map
#
# In evaluation mode the layer normalizes with the running statistics instead of the
# batch's:
#
# `y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta`
#
# ### Exercise 3: `batchnorm_inference`
#
# Write `batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5) -> y`:
#
# - `x` is a tensor of shape `(N, D)` (any `N >= 1`); `running_mean`, `running_var`,
#   `gamma`, `beta` are tensors of shape `(D,)`; `eps` is a float.
# - Return `y`, a `torch.Tensor` of shape `(N, D)` and the same dtype as `x`: each feature
#   normalized with the given running mean and running variance (`eps` inside the square
#   root), then multiplied by `gamma` and shifted by `beta`. No batch statistics: an
#   example's output must not depend on the rest of the batch.
# - Write it with tensor operations: like Exercise 1, it must not call `F.batch_norm`,
#   `nn.BatchNorm*` or any other normalization built-in, and must not modify its inputs.
#
# The test compares your output with `nn.BatchNorm1d` in evaluation mode, on batches of 1,
# 2 and 6, a constant column with a zero running variance, float64 with tiny and huge
# variances, and the running statistics of PyTorch's documented example.

# %% nbgrader={"grade": false, "grade_id": "bn_inference", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    """Evaluation-mode batch normalization with running statistics. x: (N, D); the rest: (D,)."""
    ### BEGIN SOLUTION
    x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
    return gamma * x_hat + beta
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn_inference_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Checks batchnorm_inference against nn.BatchNorm1d in evaluation mode, without normalization built-ins."""
from autograder.checks import bn_inference

bn_inference.visible(globals())
### BEGIN HIDDEN TESTS
bn_inference.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# Everything in that formula except `x` is fixed once training is over, so it collapses to
# one multiply and one add per feature (Algorithm 2 of the paper):
#
# `scale = gamma / sqrt(running_var + eps)`, `shift = beta - scale * running_mean`,
# `y = scale * x + shift`.
#
# A linear map followed by this affine map is again a linear map, so at inference the
# BatchNorm layer can be folded into the linear layer before it. Check it on a layer with
# non-trivial parameters and running statistics (seed 0):

# %%
seed_everything(0)
trained = nn.BatchNorm1d(3).to(device)
with torch.no_grad():
    trained.weight.copy_(torch.tensor([0.5, 2.0, 1.5]))
    trained.bias.copy_(torch.tensor([0.1, -1.0, 3.0]))
    trained.train()
    for seed in range(20):
        trained(normmath.make_batch(64, 3, shift=[0.0, 5.0, -2.0], scale=[1.0, 3.0, 0.5], seed=seed, device=device))
    trained.eval()
    scale = trained.weight / torch.sqrt(trained.running_var + trained.eps)
    shift = trained.bias - scale * trained.running_mean
    as_layer = trained(x)
    as_affine = scale * x + shift
print("scale:", [round(v, 4) for v in scale.tolist()], " shift:", [round(v, 4) for v in shift.tolist()])
print(f"largest |eval-mode BatchNorm1d - (scale * x + shift)|: {(as_layer - as_affine).abs().max().item():.2e}")

# %% [markdown]
# **Why `model.eval()` matters.** In training mode an example's output depends on which
# other examples share its batch; in evaluation mode it does not. The first example of `x`,
# normalized inside two different batches:

# %%
first, others_a, others_b = x[:1], x[1:32], x[100:131]
with torch.no_grad():
    for mode in ("train", "eval"):
        trained.train(mode == "train")
        in_a = trained(torch.cat([first, others_a]))[0]
        in_b = trained(torch.cat([first, others_b]))[0]
        print(f"{mode:>5} mode: output of the same example in batch A {[round(v, 4) for v in in_a.tolist()]}, "
              f"in batch B {[round(v, 4) for v in in_b.tolist()]}")

# %% [markdown]
# (Those two training-mode passes also moved the running statistics a little, as every
# training-mode forward does.)
#
# ## Summary
#
# - Training-mode batch normalization works per feature, over the batch: subtract the batch
#   mean, divide by `sqrt(biased batch variance + eps)` (`eps` inside the root keeps a
#   constant feature finite), then scale by `gamma` and shift by `beta`.
# - The output's mean and standard deviation are `beta` and `gamma` whatever the input's
#   were, and `gamma = sqrt(var + eps)`, `beta = mean` gives the input back: normalization
#   never costs expressiveness. It keeps the shape of a distribution; with tiny batches the
#   statistics are noisy (a batch of 2 always gives -1 and +1).
# - During training PyTorch keeps running statistics, `new = (1 - momentum) * old +
#   momentum * batch`, with `momentum = 0.1` by default (the paper and CS231n weight the old
#   value by "momentum" instead), and `running_var` from the **unbiased** batch variance;
#   `momentum=None` keeps a plain cumulative average.
# - In evaluation mode BatchNorm uses the running statistics, so it is one fixed affine map
#   per feature that can be folded into the preceding linear layer, and an example's output
#   no longer depends on its batch.
#
# **Next:** lesson `03_layer_placement` puts `nn.BatchNorm1d` and `nn.BatchNorm2d` into
# real networks: where the layer goes (after the linear layer, before the activation), why
# that layer's bias becomes redundant, and how to pick `num_features`.
