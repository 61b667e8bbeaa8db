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
#   variance, `eps` **inside** the square root (and why there), the normalization, then the
#   scale `gamma` and the shift `beta`;
# - say when a BatchNorm layer can give back its input unchanged: exactly in evaluation
#   mode, only approximately (for large batches) in training mode, and not at all for a
#   batch of 2;
# - say what a BatchNorm layer does differently in training and in evaluation mode, and keep
#   its *running statistics* the way PyTorch does (its `momentum` convention, which is not
#   everyone's, the unbiased variance, `momentum=None`);
# - write BatchNorm at inference time as one affine map `y = scale * x + shift`.
#
# Three graded exercises: `batchnorm_forward`, `update_running_stats` and
# `batchnorm_inference`. Each has a test cell you can run as often as you like; it tells
# you in words what is still wrong.
#
# The facts here come from Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep
# Network Training by Reducing Internal Covariate Shift" (Algorithms 1 and 2), from
# PyTorch's documentation of `nn.BatchNorm1d`, and from a user's report on PyTorch's issue
# tracker (pytorch issue 60528, section 4).

# %%
import torch
from torch import nn
import torch.nn.functional as F

from utils.answers import learner_or_lesson
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
# (the *unbiased* estimate, `correction=1`), so for normalization you ask for
# `correction=0` (older code writes `unbiased=False`). The two differ by the factor
# `N / (N - 1)`: barely for 256 examples, a factor of 2 for a batch of 2.

# %%
biased = x.var(dim=0, correction=0)
unbiased = x.var(dim=0, correction=1)
print("biased variance   (divide by N):    ", biased.tolist())
print("unbiased variance (divide by N - 1):", unbiased.tolist())
print(f"ratio unbiased / biased with N = 256: {(unbiased / biased)[0].item():.4f}   (256/255 = {256 / 255:.4f})")
pair = x[:2]
ratio_pair = (pair.var(dim=0, correction=1) / pair.var(dim=0, correction=0))[0].item()
print(f"ratio unbiased / biased with N = 2:   {ratio_pair:.4f}")

# %% [markdown]
# **Step 3, `eps` goes inside the square root.** The denominator is `sqrt(sigma2 + eps)`,
# not `sqrt(sigma2) + eps`. Without any `eps`, a feature that is constant over the batch
# (variance 0) gives `0 / sqrt(0)`, not a number; but `sqrt(var) + eps` would avoid that
# too. Three reasons decide for *inside*, each measured below:
#
# 1. **The gain is bounded by `1 / sqrt(eps)`.** BN multiplies each deviation from the mean
#    by `1 / denominator`. As the variance goes to 0, `1 / sqrt(var + eps)` rises to
#    `1 / sqrt(eps)` (about 316 for `eps = 1e-5`), while `1 / (sqrt(var) + eps)` rises to
#    `1 / eps` (100,000): a nearly constant feature's rounding noise would be blown up to
#    order 1.
# 2. **The gradient stays finite.** Training differentiates the denominator with respect to
#    the variance. The derivative of `sqrt(v)` is `1 / (2 sqrt(v))`, infinite at `v = 0`;
#    `sqrt(v + eps)` has the finite `1 / (2 sqrt(eps))` there. On a constant feature the
#    outside version's backward pass multiplies 0 by infinity and returns NaN.
# 3. **It is the definition.** Algorithm 1 of the paper and PyTorch both put `eps` inside;
#    the outside version disagrees with `nn.BatchNorm1d` exactly where the variance is small.

# %%
eps = 1e-5
print(f"bounds as the variance goes to 0: 1 / sqrt(eps) = {1 / eps ** 0.5:.1f},  1 / eps = {1 / eps:.0f}")
for variance in [0.0, 1e-8, 1e-6, 1e-4, 1.0]:
    v = torch.tensor(variance, dtype=torch.float64)
    inside_gain, outside_gain = 1 / torch.sqrt(v + eps).item(), 1 / (torch.sqrt(v) + eps).item()
    print(f"variance {variance:6g}:  gain 1 / sqrt(var + eps) = {inside_gain:9.1f}   "
          f"gain 1 / (sqrt(var) + eps) = {outside_gain:9.1f}")

# %%
for name, denominator in [("sqrt(v + eps)", lambda v: torch.sqrt(v + eps)),
                          ("sqrt(v) + eps", lambda v: torch.sqrt(v) + eps)]:
    v = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    denominator(v).backward()
    constant = torch.full((4, 1), 3.0, dtype=torch.float64, requires_grad=True)
    centred = constant - constant.mean(dim=0)
    y = centred / denominator(centred.pow(2).mean(dim=0))
    (y * torch.tensor([[1.0], [2.0], [3.0], [4.0]], dtype=torch.float64)).sum().backward()
    print(f"{name}: derivative at v = 0 is {v.grad.item():.1f}; on a constant feature, output "
          f"{y.detach().flatten().tolist()}, gradient {constant.grad.flatten().tolist()}")

# %%
tiny = normmath.make_batch(64, 1, shift=5.0, scale=1e-3, seed=0, dtype=torch.float64)
reference = nn.BatchNorm1d(1, dtype=torch.float64).train()(tiny).detach()
centred = tiny - tiny.mean(dim=0)
variance = tiny.var(dim=0, correction=0)
inside, outside = centred / torch.sqrt(variance + eps), centred / (torch.sqrt(variance) + eps)
print(f"a feature with std 1e-3 (float64): largest |inside - nn.BatchNorm1d| = "
      f"{(inside - reference).abs().max().item():.1e},  largest |outside - nn.BatchNorm1d| = "
      f"{(outside - reference).abs().max().item():.1e}")

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
#   (`dim=0`; `x.var(dim=0, correction=0)`), `eps` inside the square root, then multiplied
#   by `gamma` and shifted by `beta`. `gamma` and `beta` have `x`'s dtype and device.
# - Write it from scratch with tensor operations (`mean`, `var`, `sqrt`, arithmetic). It must
#   **not** call `F.batch_norm`, `torch.batch_norm`, any `nn.BatchNorm*` layer or any other
#   normalization built-in (`layer_norm`, `group_norm`, `instance_norm`, ...): the test makes
#   those raise while your function runs.
# - `y` must stay connected to autograd, **through the batch mean and variance too**: when
#   `x`, `gamma` and `beta` require gradients, `y.backward(...)` must give them the same
#   gradients as `nn.BatchNorm1d` does. So no `.detach()`, `torch.no_grad()`, `.item()` or
#   NumPy round trip, not even for the statistics (section 2 of lesson 06 shows why the
#   gradient through the mean and variance matters).
# - `x` may be non-contiguous (a transposed or sliced tensor); `eps` may be passed by keyword.
# - It must not modify `x` (no `x -= ...` or `x.sub_(...)`): the test compares `x` with a copy.
#
# The test compares your output, and the gradients with respect to `x`, `gamma` and `beta`,
# with `nn.BatchNorm1d` in training mode (affine, with these `gamma` and `beta`), on ordinary
# data, a constant feature column, tiny and huge variances, a batch of 2, float64, a
# non-contiguous `x`, and the (4, 3, 4) example of pytorch issue 60528 (section 4).

# %% nbgrader={"grade": false, "grade_id": "bn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalization. x: (N, D); gamma, beta: (D,). Returns y: (N, D)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    var = x.var(dim=0, correction=0)
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
# batch (float32 rounding is about `1e-6`); if your function is not written yet or raises,
# the cell says so and the lesson goes on without it:

# %%
layer = nn.BatchNorm1d(3).to(device).train()
with torch.no_grad():
    reference = layer(x)
try:
    mine = batchnorm_forward(x, torch.ones(3, device=device), torch.zeros(3, device=device))
    print(f"largest |your output - nn.BatchNorm1d|: {(torch.as_tensor(mine) - reference).abs().max().item():.2e}")
except Exception as error:
    print(f"your batchnorm_forward raised {type(error).__name__} ({error}); the rest of the lesson "
          f"uses nn.BatchNorm1d and does not need it")

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
# **Can the layer give back its input?** The paper argues that inserting BN does not cost
# expressiveness, because `gamma = sqrt(Var[x] + eps)`, `beta = E[x]` undo the normalization.
# Setting `gamma` and `beta` from *the same batch's* statistics would prove nothing: the
# parameters are learned once, and must work for every batch. So take fixed parameters,
# the population statistics of our features (means 0, 5, -2; stds 1, 3, 0.5, known because
# we made the data), and check new batches:
#
# - in **evaluation mode**, with those values as running statistics, BN is a fixed affine
#   map, and these `gamma` and `beta` make it the identity for every batch, exactly (up to
#   float rounding);
# - in **training mode** BN uses each batch's own statistics, so the output equals the input
#   only when the batch's mean and variance equal the population's: approximately, for large
#   batches; for small ones, not at all.

# %%
population_mean = torch.tensor([0.0, 5.0, -2.0], device=device)
population_var = torch.tensor([1.0, 3.0, 0.5], device=device) ** 2
identity = nn.BatchNorm1d(3).to(device)
with torch.no_grad():
    identity.running_mean.copy_(population_mean)
    identity.running_var.copy_(population_var)
    identity.weight.copy_(torch.sqrt(population_var + identity.eps))
    identity.bias.copy_(population_mean)
print(f"{'batch size':>10} {'eval mode: largest |y - x|':>27} {'training mode: mean |y - x| / std':>34}")
SIZES, train_errors, eval_errors = [2, 8, 32, 128, 512, 2048], [], []
for size in SIZES:
    eval_error, train_error = 0.0, []
    for seed in range(1, 6):
        batch = normmath.make_batch(size, 3, shift=[0.0, 5.0, -2.0], scale=[1.0, 3.0, 0.5], seed=seed, device=device)
        with torch.no_grad():
            eval_error = max(eval_error, (identity.eval()(batch) - batch).abs().max().item())
            trained = F.batch_norm(batch, None, None, identity.weight, identity.bias, training=True, eps=identity.eps)
            train_error.append(((trained - batch).abs() / population_var.sqrt()).mean().item())
    train_errors.append(sum(train_error) / len(train_error))
    eval_errors.append(eval_error)
    print(f"{size:>10} {eval_error:>27.1e} {train_errors[-1]:>34.4f}")
print("(five batches per size, seeds 1-5; training mode with the same gamma and beta, F.batch_norm)")
shrinking = all(later < earlier for earlier, later in zip(train_errors, train_errors[1:]))
print(f"\nEval mode: largest |y - x| {max(eval_errors):.1e} at every batch size. Training mode: the error "
      f"{'shrinks at every step' if shrinking else 'does not shrink at every step'}, from "
      f"{train_errors[0]:.3f} of a std at batch {SIZES[0]} to {train_errors[-1]:.3f} at batch {SIZES[-1]}.")

# %% [markdown]
# The eval-mode column is float rounding: exact, by construction (an affine map with these
# parameters is the identity). The training-mode error depends on how far each batch's
# statistics are from the population's, which shrinks as the batch grows: for large batches
# the layer can approximately give back its input, for small ones it cannot. The extreme
# case follows.

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
# -1 and +1 (slightly less, because of `eps`) whatever the inputs were. With *any* fixed
# `gamma` and `beta` the output is `beta - gamma` and `beta + gamma`: no choice of
# parameters gives back a batch of 2 in training mode unless its two values happen to be
# exactly `beta ± gamma`. With the parameters above:

# %%
print(F.batch_norm(x[:2], None, None, training=True))
with torch.no_grad():
    pair_out = F.batch_norm(x[:2], None, None, identity.weight, identity.bias, training=True, eps=identity.eps)
print("input x[:2]: ", [[round(v, 3) for v in row] for row in x[:2].tolist()])
print("output:      ", [[round(v, 3) for v in row] for row in pair_out.tolist()])
print(f"largest |y - x| for this batch of 2 in training mode: {(pair_out - x[:2]).abs().max().item():.3f}")

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
# with `momentum = 0.1` by default: the new batch gets weight 0.1. This is PyTorch's
# convention, not everyone's. CS231n's assignment (momentum 0.9) and Keras/TensorFlow
# (momentum 0.99) name the *old* value's weight "momentum": the same kind of average, written
# the other way round. The paper has no momentum at all: its Algorithm 2 takes the
# population statistics as averages over mini-batches, `E[x] = E_B[mu_B]` and
# `Var[x] = m/(m-1) E_B[sigma2_B]`, and mentions moving averages only in passing. Carrying a
# 0.9 from CS231n or Keras into `nn.BatchNorm1d(momentum=0.9)` makes the running statistics
# follow almost only the latest batch.
#
# **Two variances.** The normalization uses the biased batch variance (divide by `N`), but
# `running_var` is updated with the unbiased one (divide by `N - 1`), the better estimate of
# the population variance (Algorithm 2 of the paper uses the same `N/(N-1)` correction).
#
# A user's report, pytorch issue 60528, filed because the documentation of the time did not
# explain the two variances, works through a small input `X` of shape `(4, 3, 4)`:
# `(N, C, L)` = 4 examples, 3 channels, 4 positions. Channel 0 holds the rows
# `[1..4], [2..5], [3..6], [4..7]`; channels 1 and 2 are the same plus 4 and plus 8.
# `BatchNorm1d` computes each channel's statistics over the examples **and** the positions.

# %%
X = normmath.issue_60528_example(device=device)
print("X[:, 0, :] =\n", X[:, 0, :])
reported = nn.BatchNorm1d(3).to(device).train()
with torch.no_grad():
    out = reported(X)
channel0 = X[:, 0, :].flatten()
print("out[0, 0] =", [round(v, 4) for v in out[0, 0].tolist()])
print(f"channel 0: mean {channel0.mean().item():.4f}, biased variance {channel0.var(correction=0).item():.4f}, "
      f"unbiased variance {channel0.var(correction=1).item():.4f}")
print("running_mean after one step:", [round(v, 4) for v in reported.running_mean.tolist()])
print("running_var after one step: ", [round(v, 4) for v in reported.running_var.tolist()])
print(f"0.9 * 1 + 0.1 * unbiased variance = {0.9 + 0.1 * channel0.var(correction=1).item():.4f};"
      f"  with the biased variance it would be {0.9 + 0.1 * channel0.var(correction=0).item():.4f}")

# %% [markdown]
# The normalized values printed above use the biased variance, the running variance uses
# the unbiased one, and the running means are a tenth of the channel means (momentum 0.1,
# starting from 0). The same example with `momentum=0.9`, as someone carrying over CS231n's
# or Keras's convention might write it:

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
# - `running_mean`, `running_var` and `x` share one dtype (float32 or float64) and device.
# - Return a tuple of two tensors of shape `(D,)` (same dtype as the inputs), following
#   PyTorch's convention: `new = (1 - momentum) * old + momentum * batch statistic`, where the
#   batch statistics are each feature's mean over the batch and its **unbiased** variance
#   (divide by `N - 1`: `correction=1`, the default of `x.var`).
# - When `momentum` is not passed, use 0.1, PyTorch's default.
# - Do not modify `running_mean`, `running_var` or `x` in place: return new tensors.
#
# The test compares your result with the buffers of `nn.BatchNorm1d` after one
# training-mode forward pass (`track_running_stats=True`, the default), including the
# issue-60528 example above (as rows: each channel's values over the examples and
# positions, `X.transpose(1, 2).reshape(-1, 3)`).

# %% nbgrader={"grade": false, "grade_id": "running_stats", "locked": false, "schema_version": 3, "solution": true, "task": false}
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    """PyTorch's running-statistics update. running_mean, running_var: (D,); x: (N, D)."""
    ### BEGIN SOLUTION
    batch_mean = x.mean(dim=0)
    batch_var = x.var(dim=0, correction=1)
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
# equally; `num_batches_tracked` counts the batches. This is the closest PyTorch comes to the
# paper's Algorithm 2, which averages the statistics over mini-batches. Five batches of 32
# examples (seeds 1 to 5):

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
# - All tensors share `x`'s dtype (float32 or float64) and device.
# - Return `y`, a `torch.Tensor` of shape `(N, D)` and the same dtype as `x`: each feature
#   normalized with the given running mean and running variance (`eps` inside the square
#   root), then multiplied by `gamma` and shifted by `beta`. No batch statistics: an
#   example's output must not depend on the rest of the batch.
# - Write it with tensor operations: like Exercise 1, it must not call `F.batch_norm`,
#   `nn.BatchNorm*` or any other normalization built-in, and must not modify its inputs.
#
# The test compares your output with `nn.BatchNorm1d` in evaluation mode, on batches of 1,
# 2 and 6, a constant column with a zero running variance, float64 with tiny and huge
# variances, and the running statistics of the issue-60528 example.

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
# A Linear layer computes an affine map (`x @ W.T + b`), and an affine map followed by this
# affine map is again an affine map, so at inference the BatchNorm layer can be folded into
# the Linear layer before it (lesson 05 does it). Check it on a layer with
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
#   `eps` inside the root also bounds the gain by `1 / sqrt(eps)` and keeps the gradient
#   finite, as Algorithm 1 and PyTorch define it.
# - The output's mean and standard deviation are `beta` and `gamma` whatever the input's
#   were. With fixed `gamma = sqrt(Var + eps)`, `beta = E[x]` the layer gives back its input
#   exactly in evaluation mode, approximately for large batches in training mode, and not
#   for a batch of 2 (always `beta ± gamma`). It keeps the shape of a distribution; with
#   tiny batches the statistics are noisy.
# - During training PyTorch keeps running statistics, `new = (1 - momentum) * old +
#   momentum * batch`, with `momentum = 0.1` by default (CS231n, 0.9, and Keras, 0.99, weight
#   the old value by "momentum" instead; the paper's Algorithm 2 averages over mini-batches
#   and has no momentum), and `running_var` from the **unbiased** batch variance;
#   `momentum=None` keeps a plain cumulative average.
# - In evaluation mode BatchNorm uses the running statistics, so it is one fixed affine map
#   per feature that can be folded into the preceding linear layer, and an example's output
#   no longer depends on its batch.
#
# **Next:** lesson `03_layer_placement` puts `nn.BatchNorm1d` and `nn.BatchNorm2d` into
# real networks: where the layer goes (after the linear layer, before the activation), why
# that layer's bias becomes redundant, and how to pick `num_features`.
