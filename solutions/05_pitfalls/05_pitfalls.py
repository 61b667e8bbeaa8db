# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · BatchNorm pitfalls, and how to avoid them
#
# A BatchNorm layer behaves differently in training and at inference, and it depends on the
# other examples in its batch. Most BatchNorm bugs come from one of those two facts. By the
# end of this lesson you will be able to:
#
# - explain why forgetting `model.eval()` makes a prediction depend on the rest of the batch,
#   and write a `predict` function that cannot make that mistake;
# - recognise the "Expected more than 1 value per channel when training" error, say exactly
#   when PyTorch raises it, and avoid it with `DataLoader(drop_last=True)`;
# - say why very small batches hurt a network with BatchNorm;
# - put dropout where it does not disturb BatchNorm's statistics;
# - fine-tune a pretrained model with its BatchNorm statistics frozen (and know what that
#   does not freeze);
# - fold a BatchNorm layer into the Linear layer in front of it for inference.
#
# Two graded exercises: `predict` and `fold_batchnorm`. Each has a test cell you can run as
# often as you like; it tells you in words what is still wrong.
#
# **A reminder of the two modes.** In *training mode* (`model.train()`), `nn.BatchNorm1d`
# normalizes each feature with the mean and variance **of the current batch**, and updates
# its running averages (`running_mean`, `running_var`) on every forward pass. In *eval mode*
# (`model.eval()`) it normalizes with those stored running averages instead, so every
# example is treated on its own.

# %%
import copy
import math

import torch
from torch import nn
import torch.nn.functional as F

from utils.answers import learner_or_lesson
from utils.device import get_device, seed_everything
from utils import pitfalls

torch.set_num_threads(1)   # the lesson's models are tiny: one CPU thread avoids threading overhead
device = get_device()
print("computing on", device)

# %% [markdown]
# Throughout the lesson we use the classifier you built in lesson 03,
# `Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid`, with no bias in
# the first Linear (BN subtracts the batch mean, which cancels a bias, and BN's `beta` plays
# its role), trained on a synthetic binary task (20 features with different scales and
# offsets). Training starts from seed 0: 2,000 examples, batches of 64, 5 epochs of Adam.

# %%
def seed_mlp():
    """The seed's classifier with BatchNorm, as in lesson 03 (no bias in front of the BN)."""
    return nn.Sequential(nn.Linear(20, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())


model, x_test, y_test = pitfalls.trained_seed_model(seed_mlp, seed=0, device=device)
print(model)
print(f"test accuracy (eval mode): {pitfalls.accuracy(model, x_test, y_test):.3f}")

# %% [markdown]
# ## 1. Forgetting `model.eval()`: predictions that depend on the batch
#
# Take 8 test examples and predict them several times, each time in a batch together with 24
# other, randomly chosen examples. In eval mode the 8 probabilities never change. In training
# mode BatchNorm normalizes with the statistics of whichever batch the examples landed in,
# so the same example gets a different probability every time:

# %%
dependence = pitfalls.batch_dependence(model, x_test[:8], x_test[8:], trials=5, seed=0)
print(f"largest change of one example's probability across 5 batches, training mode: "
      f"{dependence['train_spread']:.3f}")
print(f"largest change of one example's probability across 5 batches, eval mode:     "
      f"{dependence['eval_spread']:.3f}")
print(f"largest difference between a training-mode and the eval-mode probability:    "
      f"{dependence['train_vs_eval']:.3f}")
print(f"So in training mode the same example's probability moved by up to {dependence['train_spread']:.3f} "
      f"with its batch-mates; in eval mode by {dependence['eval_spread']:.3f}"
      + (" (not at all: eval mode uses only the running statistics, by construction)."
         if dependence["eval_spread"] == 0 else "."))

# %% [markdown]
# There is a second, quieter effect. A forward pass in training mode **updates the running
# statistics**, even without any optimizer step. So "just looking" at some data in training
# mode changes the model. Here is how far one forward pass of 64 test examples moves the
# first BatchNorm layer's `running_mean`:

# %%
print(f"largest change of running_mean after one training-mode forward pass: "
      f"{pitfalls.running_stats_drift(model, x_test[:64]):.4f}")

# %% [markdown]
# How bad the batch dependence is depends on the batch size: the batch mean is an estimate
# of the feature's mean over all the data, and a small batch gives a noisy estimate. The
# slider view puts one fixed test example into 200 random batches of the chosen size (seed 0).
# On the left: the batch mean of one of BatchNorm's input features, in each batch. On the
# right: the example's predicted probability in training mode, in each batch; the dashed line
# is its eval-mode prediction. Move the slider from 2 to 256. (At the smallest sizes the left
# histogram sits off the dashed line: the fixed example is a large part of every batch.)

# %%
batch_stats = pitfalls.batch_statistics(model, x_test, x_test[:1], trials=200, seed=0)
view = pitfalls.batch_view(batch_stats)
view

# %% [markdown]
# The same in numbers. If the batch mean behaved like the mean of B independent draws, its
# standard deviation across batches would shrink like 1/sqrt(B), and the column "times
# sqrt(B)" would stay constant (at B = 2 we expect it lower: half of every batch is the same
# fixed example).

# %%
scaled, ranges = {}, {}
for size in pitfalls.BATCH_SIZES:
    means, probabilities = batch_stats["batch_means"][size], batch_stats["probabilities"][size]
    scaled[size] = means.std() * math.sqrt(size)
    ranges[size] = probabilities.max() - probabilities.min()
    print(f"B = {size:3d}: std of the batch mean {means.std():.3f}  "
          f"(times sqrt(B): {scaled[size]:.2f});  "
          f"training-mode probability from {probabilities.min():.3f} to {probabilities.max():.3f}  "
          f"(eval mode: {batch_stats['eval_probability']:.3f})")
rest = [scaled[size] for size in pitfalls.BATCH_SIZES if size > 2]
print(f"\nFrom B = 4 up, std x sqrt(B) stays between {min(rest):.2f} and {max(rest):.2f} (a factor "
      f"{max(rest) / min(rest):.2f}); the range of the training-mode probability goes from "
      f"{ranges[pitfalls.BATCH_SIZES[0]]:.3f} at B = {pitfalls.BATCH_SIZES[0]} to "
      f"{ranges[pitfalls.BATCH_SIZES[-1]]:.3f} at B = {pitfalls.BATCH_SIZES[-1]}.")

# %% [markdown]
# ### Exercise: `predict`
#
# Write `predict(model, x)` that a training loop can safely call at any time (for example
# to report validation accuracy every epoch).
#
# - `model` is an `nn.Module` classifier whose last layer is `nn.Sigmoid()`, so its output
#   is already a probability; it may hold several BatchNorm layers and Dropout, in float32
#   or float64. `x` is a tensor `(N, num_features)` of the model's dtype, on its device.
# - Return the model's output for `x` computed **in eval mode** and **under
#   `torch.no_grad()`** (or `torch.inference_mode()`): a tensor of shape `(N, 1)` with
#   values in (0, 1), as `model(x)` returns them (no thresholding, no extra sigmoid), that
#   does not require grad.
# - A row's prediction must not depend on the other rows (one row alone works too).
# - Leave the model exactly as it was: **each submodule's** mode (`module.training`) is
#   restored, whatever it was (all training, all eval, or training with the BatchNorm layers
#   frozen in eval mode, as in section 5), and no parameter or buffer (`running_mean`,
#   `running_var`, `num_batches_tracked`) changes, in value or dtype. Working on a copy of
#   the model is fine.
# - Leave `x` unchanged, and the gradient mode as you found it: after the call,
#   `torch.is_grad_enabled()` is what it was before (a `with torch.no_grad():` block or the
#   `@torch.no_grad()` decorator restores it; a bare call `torch.set_grad_enabled(False)` does not).
# - The result must be accurate to 1e-5 in the model's dtype.

# %% nbgrader={"grade": false, "grade_id": "predict", "locked": false, "schema_version": 3, "solution": true, "task": false}
def predict(model, x):
    """Eval-mode probabilities (N, 1) for x (N, num_features); the model is left as it was."""
    ### BEGIN SOLUTION
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        for module, mode in modes:
            module.training = mode
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "predict_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Checks predict: eval-mode probabilities under no_grad, batch-invariant, model left as it was."""
from autograder.checks import predict as predict_checks
predict_checks.visible(globals())
### BEGIN HIDDEN TESTS
predict_checks.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# The cells below use your `predict`. If it is not written yet, raises, or differs from the
# lesson's own version (defined in the next cell) on a probe, they use the lesson's version
# and say so.

# %%
def lesson_predict(model, x):
    """The lesson's own version, used below only when yours is missing or disagrees with it."""
    saved = {name: module.training for name, module in model.named_modules()}
    model.eval()
    with torch.inference_mode():
        probabilities = model(x).clone()
    for name, module in model.named_modules():
        module.training = saved[name]
    return probabilities


def predict_problem(candidate):
    """None when `candidate` gives the lesson's eval-mode probabilities and restores every mode."""
    for mixed in (False, True):
        probe = copy.deepcopy(model).train()
        if mixed:
            pitfalls.set_bn_eval(probe)        # a mixed mode, as in section 5
        before = pitfalls.modes(probe)
        got = candidate(probe, x_test[:16])
        if pitfalls.modes(probe) != before:
            return "did not restore every submodule's mode"
        if not isinstance(got, torch.Tensor) or got.requires_grad or tuple(got.shape) != (16, 1):
            return "did not return a (16, 1) tensor without grad"
        if not torch.allclose(got, lesson_predict(probe, x_test[:16]), atol=1e-6):
            return "returned other probabilities than the eval-mode ones"
    return None


predict_fn = learner_or_lesson(globals(), "predict", lesson_predict, predict_problem)

# %% [markdown]
# `predict` on the trained model, while the model is in training mode (as it is in the
# middle of a training loop): the 8 examples alone and inside a batch of 1,000, and the
# model's mode afterwards.

# %%
model.train()
alone = predict_fn(model, x_test[:8])
in_batch = predict_fn(model, x_test)[:8]
still_training = model.training
model.eval()   # back to eval mode for the rest of the lesson
print(f"largest difference, alone vs in a batch of {len(x_test)}: {(alone - in_batch).abs().max().item():.2e}")
print(f"model still in training mode after predict: {still_training}")

# %% [markdown]
# ## 2. The batch of one
#
# In training mode a BatchNorm layer needs more than one value per channel to compute a
# variance. For our MLP, a batch with a single example gives one value per feature, and
# raises an error:

# %%
print(pitfalls.batch_of_one_error(model, x_test))

# %% [markdown]
# The rule is about values per channel, not examples: PyTorch raises when N times the
# spatial size is 1. A `BatchNorm2d` on one 8x8 image has 64 values per channel and trains;
# on one 1x1 "image" it raises. In eval mode nothing raises:

# %%
for row in pitfalls.one_value_per_channel_cases():
    print(f"{row['layer']:<16} input {str(row['shape']):<16} {row['values_per_channel']:>3} value(s) per channel:  "
          f"training mode {row['train']:<11} eval mode {row['eval']}")

# %% [markdown]
# This usually appears by surprise: the dataset size is not a multiple of the batch size, and
# the **last** batch of an epoch happens to hold exactly one example. With 961 examples and
# batches of 64, the `DataLoader`'s last three batches are:

# %%
print("drop_last=False:", pitfalls.last_batch_sizes(961, 64, drop_last=False)[-3:])
print("drop_last=True: ", pitfalls.last_batch_sizes(961, 64, drop_last=True)[-3:])

# %% [markdown]
# `DataLoader(..., drop_last=True)` drops the incomplete last batch, which is harmless when
# the data is shuffled every epoch (a different example is left out each time). At inference
# a batch of one is fine, **in eval mode** - one more reason for `predict`:

# %%
print("predict on one example:", predict_fn(model, x_test[:1]))

# %% [markdown]
# ## 3. Small batches
#
# Even with two examples the layer runs, but look at what it computes. With two values per
# feature, subtracting their mean and dividing by their standard deviation gives -1 and +1,
# whatever the inputs were (only when the two values are almost equal does `eps` in the
# denominator make them smaller). Here is BatchNorm's normalized output (before `gamma` and
# `beta`) for a batch of two, first five features, and how many of all 2 x 64 values are
# within 0.01 of -1 or +1:

# %%
two_rows = pitfalls.two_row_batch_output(model, x_test[:2])
print(two_rows[:, :5])
print(f"{(two_rows.abs() > 0.99).float().mean().item():.0%} of the normalized values are within 0.01 of -1 or +1")

# %% [markdown]
# More generally the batch statistics get noisier as the batch shrinks (section 1), so
# training sees a noisy version of each example, and the running statistics used at
# inference are averages of noisy estimates. Dive into Deep Learning notes that BatchNorm
# works best with moderate batch sizes (50-100) and that with a batch of one it learns
# nothing. The experiment below trains a fresh model (seed 0) per batch size, on the same
# 8,000 examples' worth of data (4 epochs of 2,000) with the same learning rate, and then
# measures the eval-mode test accuracy and how far training-mode predictions of test batches
# of that size are from the eval-mode ones (mean absolute difference). Takes a few seconds.

# %%
x_train, y_train = pitfalls.make_data(2000, seed=0, device=device)
sweep = pitfalls.batch_size_sweep(seed_mlp, x_train, y_train, x_test, y_test, batch_sizes=(2, 4, 16, 64),
                                  examples=8000, seed=0)
for size, result in sweep.items():
    print(f"batch {size:2d}: {result['steps']:4d} steps, test accuracy {result['accuracy']:.3f}, "
          f"train-vs-eval gap {result['train_eval_gap']:.3f}")

# %%
sizes = list(sweep)
worst_accuracy = min(sizes, key=lambda size: sweep[size]["accuracy"])
largest_gap = max(sizes, key=lambda size: sweep[size]["train_eval_gap"])
print(f"Lowest test accuracy at batch {worst_accuracy} ({sweep[worst_accuracy]['accuracy']:.3f}), highest at "
      f"batch {max(sizes, key=lambda size: sweep[size]['accuracy'])}; largest train-vs-eval gap at batch "
      f"{largest_gap} ({sweep[largest_gap]['train_eval_gap']:.3f}).")
if worst_accuracy == sizes[0]:
    print(f"So the smallest batch gave the worst accuracy, though it took the most steps ({sweep[sizes[0]]['steps']}).")
else:
    print(f"So the smallest batch was not the worst here: batch {worst_accuracy} was.")
findings = {"small batches": f"lowest accuracy at batch {worst_accuracy}, largest train-vs-eval gap at batch {largest_gap}"}

# %% [markdown]
# The train-versus-eval gap shrinks with the batch size by construction (bigger batches give
# batch statistics closer to the running ones); how the accuracy comes out is what this run
# measured. If memory forces tiny batches, consider a normalization that does not use the
# batch (LayerNorm or GroupNorm).
#
# ## 4. Dropout before BatchNorm: the variance shift
#
# Dropout zeroes each value with probability `p` in training and scales the survivors by
# `1 / (1 - p)`; in eval mode it does nothing. The mean is the same in both modes, but the
# **variance is not**: in training, dropout adds noise. If a dropout layer comes *before* a
# BatchNorm, BatchNorm's `running_var` is learned from those noisy training activations; at
# test time dropout is off, the activations vary less, and BatchNorm divides by a variance
# that is too large. Li et al. (2019) call this the *variance shift*; they recommend putting
# dropout after the last BatchNorm layer.
#
# The view compares two small networks: one with `Dropout -> Linear -> BatchNorm1d`, one with
# `Linear -> BatchNorm1d -> Dropout`. For each of BatchNorm's 64 features it shows the ratio
# of the variance of BatchNorm's input on test data to the `running_var` it learned in
# training mode (20 batches of 128, seed 0). A ratio of 1 means BatchNorm normalizes test
# data the way it did in training.

# %%
shift = pitfalls.variance_shift(x_test, passes=20, batch_size=128, seed=0)
dropout_view = pitfalls.dropout_view(shift)
dropout_view

# %%
RATES = (0.0, 0.1, 0.3, 0.5)
for p in RATES:
    print(f"p = {p}: mean ratio with dropout before BN {shift['dropout_first'][p].mean():.2f}, "
          f"with dropout after BN {shift['dropout_after'][p].mean():.2f}")
before = [shift["dropout_first"][p].mean() for p in RATES]
after = [shift["dropout_after"][p].mean() for p in RATES]
falling = all(later < earlier for earlier, later in zip(before, before[1:]))
print(f"\nDropout after BN: the mean ratio stays between {min(after):.2f} and {max(after):.2f}. Dropout before "
      f"BN: it {'falls at every step' if falling else 'does not fall at every step'}, from {before[0]:.2f} at "
      f"p = {RATES[0]} to {before[-1]:.2f} at p = {RATES[-1]}.")
findings["dropout"] = f"mean ratio {before[-1]:.2f} with dropout before BN, {after[-1]:.2f} after (p = {RATES[-1]})"

# %% [markdown]
# With dropout after BatchNorm, BatchNorm's input never sees dropout, so its training and
# test statistics agree by construction (the ratio's spread around 1 is sampling noise).
# With dropout before it, the training-mode variance includes dropout's noise and the
# test-time one does not.
#
# ## 5. Fine-tuning with frozen BatchNorm statistics
#
# A common job: take a pretrained model and fine-tune it on a small new data set, often with
# small batches. In training mode, every batch of the new data overwrites BatchNorm's running
# statistics bit by bit with noisy small-batch estimates, and BatchNorm normalizes with those
# noisy batch statistics while the weights adapt. A common remedy is to **freeze** the
# BatchNorm layers' statistics: keep them in eval mode (they use, and keep, the pretrained
# running statistics) while the rest of the model trains. Eval mode freezes only the
# statistics: BN's `gamma` and `beta` are still parameters with `requires_grad=True`, and
# the optimizer keeps training them (set `requires_grad_(False)` on them to freeze those
# too).
#
# One trap: `model.train()` switches *every* submodule back to training mode, so the freeze
# has to be redone after each `model.train()`:

# %%
finetune_model = copy.deepcopy(model)
finetune_model.train()
frozen = pitfalls.set_bn_eval(finetune_model)
print(f"froze {frozen} BatchNorm layer(s); modes now: {pitfalls.modes(finetune_model)}")
finetune_model.train()
print(f"after model.train() again:               {pitfalls.modes(finetune_model)}")

# %% [markdown]
# The model is now in a *mixed* mode: training overall, BatchNorm in eval. That is why your
# `predict` restores each submodule's own mode rather than one flag for the whole model.
#
# The experiment: the pretrained model is fine-tuned on 200 examples of a related task (a
# different labelling rule on the same kind of inputs), batches of 4, 3 epochs, seed 0; once
# with BatchNorm live and once with BatchNorm frozen. Accuracy is measured in eval mode on
# 1,000 test examples of the new task.

# %%
x_new, y_new = pitfalls.make_data(200, seed=5, rule=1, device=device)
x_new_test, y_new_test = pitfalls.make_data(1000, seed=6, rule=1, device=device)
comparison = pitfalls.fine_tune_comparison(model, x_new, y_new, x_new_test, y_new_test,
                                           batch_size=4, epochs=3, seed=0)
for name, result in comparison.items():
    print(f"{name:10s}: new-task test accuracy {result['accuracy']:.3f}, "
          f"largest change of running_mean {result['running_mean_change']:.3f}, of gamma {result['gamma_change']:.3f}")
live, frozen = comparison["bn_live"], comparison["bn_frozen"]
better = ("frozen" if frozen["accuracy"] > live["accuracy"] else
          "live" if live["accuracy"] > frozen["accuracy"] else None)
print(f"\nFrozen BN: running_mean moved by {frozen['running_mean_change']:.3f} "
      f"({'not at all, by construction' if frozen['running_mean_change'] == 0 else 'a little'}), gamma by "
      f"{frozen['gamma_change']:.3f} (it still trains). Live BN: running_mean moved by {live['running_mean_change']:.3f}.")
print(f"New-task test accuracy: frozen {frozen['accuracy']:.3f}, live {live['accuracy']:.3f}: "
      + (f"here the {better} version learned the new task better." if better else "the same here."))
findings["fine-tuning"] = f"accuracy {frozen['accuracy']:.3f} with frozen BN statistics, {live['accuracy']:.3f} live"

# %% [markdown]
# Freezing is not always right: if the new data's inputs are distributed very differently
# from the pretraining data, and batches are large enough, letting the statistics adapt can
# help. It is one seed and one small task here: treat it as something to measure, as in
# this cell.
#
# ## 6. Folding BatchNorm into the Linear layer before it
#
# In eval mode a BatchNorm layer is a fixed affine map of each feature (Ioffe & Szegedy 2015,
# Algorithm 2):
#
# $$\mathrm{BN}(z)_j = \gamma_j \frac{z_j - \mu_j}{\sqrt{\sigma^2_j + \epsilon}} + \beta_j
#   = s_j z_j + (\beta_j - s_j \mu_j), \qquad s_j = \frac{\gamma_j}{\sqrt{\sigma^2_j + \epsilon}},$$
#
# with $\mu$ = `running_mean`, $\sigma^2$ = `running_var`, $\epsilon$ = `eps`, $\gamma$ =
# `weight`, $\beta$ = `bias`. If $z = W x + b$ comes from a Linear layer, then
# $\mathrm{BN}(z)_j = \sum_i s_j W_{ji} x_i + s_j (b_j - \mu_j) + \beta_j$: one Linear layer
# with weight $s_j W_{ji}$ (row $j$ of $W$ multiplied by $s_j$) and bias
# $s_j (b_j - \mu_j) + \beta_j$. Deployed models often do this "folding" to save a layer at
# inference. It is only valid in eval mode: in training mode the statistics change with every
# batch.
#
# ### Exercise: `fold_batchnorm`
#
# Write `fold_batchnorm(linear, bn)`.
#
# - `linear` is an `nn.Linear(in_features, out_features)`, **with or without** a bias;
#   `bn` is an `nn.BatchNorm1d(out_features)` with any `eps`, with or without affine
#   parameters (`affine=False` means `bn.weight` and `bn.bias` are `None`: use 1 and 0), in
#   either mode. Parameters may be float32 or float64.
# - Return a **new** `nn.Linear(in_features, out_features)` **with a bias** (even if
#   `linear` has none), with the same dtype (and device) as `linear`'s weight, such that
#   `folded(x)` equals `bn(linear(x))` **with bn in eval mode** (running statistics, `eps`
#   inside the square root, `gamma` and `beta`), for any `x` of shape `(N, in_features)`.
# - The new layer's weight and bias hold **their own memory**: changing them later must not
#   change `linear` (so no `folded.weight = linear.weight`; copy or compute new tensors).
# - Do not modify `linear` or `bn` (no in-place changes to their parameters or buffers, no
#   change of dtype or mode), and do not return a `Sequential` or the original `linear`.
# - The test compares the folded weight and bias with the fold computed from `linear` and
#   `bn`, to 1e-5 relative in float32 and 1e-9 in float64, and calls your layer on an input.

# %% nbgrader={"grade": false, "grade_id": "fold_bn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fold_batchnorm(linear, bn):
    """One nn.Linear equal to linear followed by bn (eval mode); linear and bn are left unchanged."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        weight = linear.weight
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_mean)
        folded_bias = (bias - bn.running_mean) * scale
        if bn.bias is not None:
            folded_bias = folded_bias + bn.bias
        folded = nn.Linear(linear.in_features, linear.out_features, bias=True,
                           dtype=weight.dtype, device=weight.device)
        folded.weight.copy_(weight * scale[:, None])
        folded.bias.copy_(folded_bias)
    return folded
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fold_bn_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Checks fold_batchnorm: one new nn.Linear equal to linear followed by bn in eval mode."""
from autograder.checks import fold_bn as fold_bn_checks
fold_bn_checks.visible(globals())
### BEGIN HIDDEN TESTS
fold_bn_checks.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# The next cells use your `fold_batchnorm`. If it is not written yet, raises, or does not
# reproduce `bn(linear(x))` in eval mode on a probe, they use the lesson's own version
# (defined in the next cell) and say so.

# %%
def lesson_fold_batchnorm(linear, bn):
    """The lesson's own version, used below only when yours is missing or wrong."""
    with torch.no_grad():
        gamma = torch.ones_like(bn.running_var) if bn.weight is None else bn.weight
        beta = torch.zeros_like(bn.running_mean) if bn.bias is None else bn.bias
        factor = gamma / torch.sqrt(bn.running_var + bn.eps)
        old_bias = torch.zeros_like(bn.running_mean) if linear.bias is None else linear.bias
        result = nn.Linear(linear.in_features, linear.out_features).to(linear.weight)
        result.weight.copy_(factor.unsqueeze(1) * linear.weight)
        result.bias.copy_(beta + factor * (old_bias - bn.running_mean))
    return result


def fold_problem(candidate):
    """None when `candidate` reproduces the eval-mode layer pair on a probe, else what differs."""
    linear, bn = copy.deepcopy(model[0]), copy.deepcopy(model[1]).eval()
    saved = [t.detach().clone() for t in [*linear.state_dict().values(), *bn.state_dict().values()]]
    probe_x = x_test[:16]
    with torch.no_grad():
        expected = bn(linear(probe_x))
        folded = candidate(linear, bn)
        after = [t.detach() for t in [*linear.state_dict().values(), *bn.state_dict().values()]]
        if not all(torch.equal(a, b) for a, b in zip(saved, after)):
            return "changed the Linear or the BatchNorm it was given"
        if not isinstance(folded, nn.Linear):
            return f"returned a {type(folded).__name__}, not an nn.Linear"
        gap = (folded(probe_x) - expected).abs().max().item()
    return None if gap < 1e-4 else f"differs from bn(linear(x)) in eval mode by up to {gap:.2e}"


fold_fn = learner_or_lesson(globals(), "fold_batchnorm", lesson_fold_batchnorm, fold_problem)

# %% [markdown]
# `pitfalls.fold_model` replaces every `Linear -> BatchNorm1d` pair of the trained
# classifier with the Linear that fold function returns. Does the folded model, with one
# layer fewer, give the same probabilities as the original in eval mode?

# %%
model.eval()
folded_model = pitfalls.fold_model(model, fold_fn)
print(folded_model)
with torch.no_grad():
    difference = (folded_model(x_test) - model(x_test)).abs().max().item()
print(f"layers: {len(model)} -> {len(folded_model)}; largest difference in probability: {difference:.2e}")
findings["folding"] = f"{len(model)} -> {len(folded_model)} layers, largest difference in probability {difference:.1e}"
print(f"median forward time for 1,000 examples: original {pitfalls.forward_time(model, x_test) * 1e6:.0f} us, "
      f"folded {pitfalls.forward_time(folded_model, x_test) * 1e6:.0f} us (on this machine)")

# %% [markdown]
# ## Summary
#
# - In training mode BatchNorm uses the batch's statistics, so a prediction depends on the
#   rest of the batch, and every forward pass moves the running statistics. Predict in eval
#   mode under `torch.no_grad()`, and restore each submodule's mode afterwards (`predict`).
# - A training-mode batch with one value per channel (N times the spatial size equal to 1)
#   raises "Expected more than 1 value per channel when training"; for an MLP that is a
#   batch of one, which `drop_last=True` avoids. `BatchNorm2d` on one image trains; in eval
#   mode one example is always fine.
# - Small batches give noisy statistics: with two examples every normalized value is about
#   -1 or +1.
# - Dropout before BatchNorm makes the test-time variance differ from the `running_var`
#   learned in training (the variance shift); put dropout after BatchNorm.
# - When fine-tuning on small batches, freezing BatchNorm's statistics (eval mode for the BN
#   layers, re-applied after every `model.train()`) keeps the pretrained running statistics;
#   `gamma` and `beta` still train.
# - At inference a BatchNorm layer is an affine map that folds into the Linear before it
#   (`fold_batchnorm`), with one layer fewer.
#
# What this lesson's runs showed:

# %%
for topic, finding in findings.items():
    print(f"- {topic}: {finding}")

# %% [markdown]
# ## The end of the course
#
# This was the last lesson. Over the five lessons you have seen why batch normalization was
# proposed (to stabilise the distribution of each layer's inputs, the "internal covariate
# shift" hypothesis of Ioffe & Szegedy 2015, since questioned by Santurkar et al. 2018, who
# found that BatchNorm mainly makes the loss landscape smoother); how it computes (per
# feature over the batch: subtract the mean, divide by the standard deviation, then scale by
# `gamma` and shift by `beta`); where it goes (after a Linear or convolution, before the
# activation, with `BatchNorm1d`, `BatchNorm2d` or `BatchNorm3d` to match the data); what it
# does to training; and, here, the mistakes to avoid when you use it. A good next step is to
# take a model of your own, add BatchNorm where lesson 03 says, and check each of the six
# pitfalls above against it.
