# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Where the BatchNorm layer goes
#
# By the end of this lesson you will be able to:
#
# - explain why a BatchNorm layer sits **after a linear (or convolutional) layer and before
#   its activation**, and why the bias of that layer becomes redundant;
# - add `nn.BatchNorm1d(64)` to the seed's classifier
#   `Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid`;
# - pick `BatchNorm1d`, `BatchNorm2d` or `BatchNorm3d` from the shape of your data, with
#   `num_features` equal to the number of channels;
# - say what a BatchNorm on the final output before a sigmoid does, in training mode and in
#   evaluation mode, and why it does not belong there.
#
# Two graded exercises: `BatchNormMLP` and `BatchNormCNN`. Each has a test cell you can run
# as often as you like; it tells you in words what is still wrong.

# %%
import torch
import torch.nn.functional as F
from torch import nn

from utils.answers import learner_or_lesson
from utils.data import make_binary_task
from utils.device import get_device, seed_everything
from utils.models import BaselineCNN, BaselineMLP
from utils import placement

device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. What a layer's pre-activations look like
#
# A Linear layer's outputs (the *pre-activations*, `x @ W.T + b`, an affine map of the
# input) inherit the scale and the offset of its inputs. Shift the inputs and each of the 64
# outputs is shifted by its own amount; then a unit's ReLU may be on for almost every
# example, or off for almost every example: a ReLU that is always on passes its input
# through unchanged (it might as well not be there), one that is always off outputs 0 and
# passes back no gradient. Pooled over all units, the fraction of active ReLUs can stay near
# 50% while every single unit is stuck, so we count, **per unit**, the fraction of the batch
# for which it is on.
#
# Batch normalization (Ioffe & Szegedy, 2015) takes each of the 64 features, computes its
# mean and variance **over the mini-batch**, and rescales it to mean 0 and standard
# deviation 1, followed by a learned scale `gamma` and shift `beta`. The view shows, for the
# 64 units of `Linear(20, 64)` on 256 random inputs (seed 0) scaled and shifted by the
# sliders, how many units are on for what fraction of the batch; the axes are fixed, and
# the grey bands mark "almost always off" (on for fewer than 5% of the examples) and
# "almost always on" (more than 95%). Move the sliders, the shift especially.

# %%
view = placement.preactivation_view()
view

# %% [markdown]
# The same in numbers, for a few settings of the input: the mean and standard deviation of
# the pre-activations (over the batch and the 64 units), the pooled fraction of active ReLUs,
# and the numbers of units that are almost always off and almost always on:

# %%
SETTINGS = [(1.0, 0.0), (10.0, 0.0), (0.1, 0.0), (1.0, 8.0), (0.1, -8.0)]
print(f"{'':>20} {'without BN':^40} | {'with BN':^40}")
print(f"{'scale, shift':>20} " + f"{'mean':>6} {'std':>6} {'pooled':>7} {'off':>4} {'on':>4}        | " * 2)
stuck = {}
for scale, shift in SETTINGS:
    stats = placement.preactivation_stats(scale, shift)
    row = f"{scale:>9}, {shift:>8} "
    for key in ("without_bn", "with_bn"):
        row += (f"{stats[key].mean():6.2f} {stats[key].std():6.2f} {stats['active_' + key]:7.0%} "
                f"{stats['always_off_' + key]:>4} {stats['always_on_' + key]:>4}        | ")
    print(row)
    stuck[scale, shift] = {key: stats["always_off_" + key] + stats["always_on_" + key] for key in ("without_bn", "with_bn")}
worst = max(stuck, key=lambda setting: stuck[setting]["without_bn"])
print(f"\nWithout BN, up to {stuck[worst]['without_bn']} of the 64 units are stuck (almost always off or on), "
      f"at scale {worst[0]}, shift {worst[1]}, while the pooled active fraction stays between "
      f"{min(placement.preactivation_stats(*s)['active_without_bn'] for s in SETTINGS):.0%} and "
      f"{max(placement.preactivation_stats(*s)['active_without_bn'] for s in SETTINGS):.0%}. "
      + ("With BN, no unit is stuck in any of these settings." if max(v["with_bn"] for v in stuck.values()) == 0
         else f"With BN, up to {max(v['with_bn'] for v in stuck.values())} units are stuck."))

# %% [markdown]
# Read the two kinds of setting apart. Scaling the (centred) inputs up or down changes the
# spread of the pre-activations but not which side of 0 each unit is on, except where the
# layer's small initial bias takes over (tiny inputs). Shifting the inputs moves each unit's
# pre-activations by its own amount, and many units end up on one side of 0 for the whole
# batch. With BN each unit is centred on its own batch mean, so it is on for about half the
# batch whatever the input's scale and shift: by construction, since BN subtracts each
# unit's batch mean (for a symmetric distribution, half the batch lies above it).

# %% [markdown]
# ## 2. Why after the linear layer and before the activation
#
# The paper applies BN to `Wu`, the linear layer's output, *before* the nonlinearity: that is
# the quantity whose distribution shifts with the weights and the inputs, and normalizing it
# puts the activation's input where the activation is useful (for a ReLU, half the units on;
# for a sigmoid, away from the flat tails).
#
# A consequence: the linear layer's bias `b` is redundant. BN subtracts the batch mean of
# each feature, and a constant added to every example moves that mean by exactly the same
# amount, so it cancels; BN's own `beta` plays the bias's role. That is why you often see
# `nn.Linear(20, 64, bias=False)` in front of a BatchNorm. Here is the largest difference
# between BN's output with a bias of up to ±5 and without any bias:

# %%
difference = placement.bias_before_bn_difference()
print(f"max |BN(Wx + b) - BN(Wx)| = {difference:.2e}")

# %% [markdown]
# ## 3. The seed's classifier, without BatchNorm
#
# The binary classifier this course grew from maps 20 features to one probability:
# `Linear(20, 64) -> ReLU -> Linear(64, 1) -> Sigmoid`. `utils.models.BaselineMLP` is that
# model, without BN:

# %%
seed_everything(0)
X, y = make_binary_task(n_samples=1000, seed=0)
baseline = BaselineMLP()
print(baseline)
print("output shape for 5 examples:", tuple(baseline(X[:5]).shape))

# %% [markdown]
# ## 4. Exercise: `BatchNormMLP`
#
# Write `class BatchNormMLP(nn.Module)`:
#
# - constructible with no arguments: `BatchNormMLP()`;
# - `forward(x)` takes a float tensor `x` of shape `(N, 20)` and returns probabilities of
#   shape `(N, 1)`;
# - the forward computation is `Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1)
#   -> Sigmoid`: exactly one `nn.BatchNorm1d(64)`, after the first linear layer and before
#   the ReLU, normalizing with the batch's statistics in training mode;
# - the `BatchNorm1d(64)` keeps PyTorch's defaults, on which the test relies: `affine=True`
#   (a learned `gamma` and `beta`: the test checks that a gradient reaches `gamma`) and
#   `track_running_stats=True` (running statistics, which the test uses in evaluation mode:
#   one example alone must get the same output as inside a batch); any `eps` and `momentum`
#   are fine;
# - the two linear layers are `nn.Linear` modules (`nn.Linear(20, 64)` and `nn.Linear(64, 1)`);
# - parameters in PyTorch's default dtype, float32 (the test feeds float32 inputs);
# - in training mode (`model.train()`) the BatchNorm uses the batch's statistics and updates
#   its running statistics, and gradients reach every layer's parameters and the input:
#   nothing detached, no `torch.no_grad()` or NumPy round trip inside `forward`;
# - in evaluation mode (`model.eval()`) it uses the running statistics and leaves them alone;
# - `forward` does not modify `x`.
#
# Any style is fine: `nn.Sequential`, named layers, `F.relu`, `clamp(min=0)` or
# `torch.sigmoid`, `bias=False` on the first layer (the BatchNorm's mean subtraction cancels
# that bias anyway). The grader follows what your forward pass actually computes, not how it
# is written: the test runs your model in training and in evaluation mode and compares its
# outputs, running statistics and gradients with the same computation rebuilt from your own
# layers' parameters.

# %% nbgrader={"grade": false, "grade_id": "bn_mlp", "locked": false, "schema_version": 3, "solution": true, "task": false}
class BatchNormMLP(nn.Module):
    """Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid."""

    ### BEGIN SOLUTION
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(20, 64, bias=False),  # BN's beta replaces this bias
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.Linear(64, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn_mlp_test", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
"""Checks that BatchNormMLP computes Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid."""
from autograder.checks import bn_mlp

bn_mlp.visible(globals())
### BEGIN HIDDEN TESTS
bn_mlp.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# The cells below use your `BatchNormMLP`. If it is not written yet, or fails one of a few
# quick probes (output shape and range, one `BatchNorm1d(64)`, batch statistics in training
# mode, ReLU right after the BN and into the last Linear, a gradient for gamma, running
# statistics in eval mode), they use the lesson's own version, defined in the next cell,
# and say so.

# %%
class LessonBatchNormMLP(nn.Module):
    """The lesson's own version, used below only when yours is missing or fails the probes."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 64, bias=False)    # BN's beta plays the bias's role
        self.norm = nn.BatchNorm1d(64)
        self.output = nn.Linear(64, 1)

    def forward(self, x):
        return torch.sigmoid(self.output(F.relu(self.norm(self.hidden(x)))))


def mlp_problem(candidate):
    """None when `candidate` passes the lesson's quick probes, else what went wrong."""
    model = candidate()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if len(norms) != 1 or not isinstance(norms[0], nn.BatchNorm1d) or norms[0].num_features != 64:
        return f"has {len(norms)} BatchNorm layer(s) instead of one BatchNorm1d(64)"
    batch = torch.randn(8, 20, generator=torch.Generator().manual_seed(0))
    model.train()
    out = model(batch)
    if tuple(out.shape) != (8, 1) or not bool(((out > 0) & (out < 1)).all()):
        return f"returns shape {tuple(out.shape)} or values outside (0, 1) for 8 examples"
    if torch.allclose(model(torch.cat([batch[:1], batch[4:]]))[0], out[0]):
        return "gives an example the same output in two different training-mode batches (no batch statistics)"
    seen = {}
    hooks = [norms[0].register_forward_hook(lambda module, args, output: seen.update(bn=output))]
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 1]
    hooks += [m.register_forward_hook(lambda module, args, output: seen.update(head=args[0], logit=output))
              for m in heads]
    out = model(batch)
    out.sum().backward()
    for hook in hooks:
        hook.remove()
    if "head" not in seen or not torch.allclose(seen["head"], F.relu(seen["bn"]), atol=1e-6):
        return "does not feed relu(BatchNorm1d's output) to the Linear(64, 1)"
    if not torch.allclose(out, torch.sigmoid(seen["logit"]), atol=1e-6):
        return "does not end with a sigmoid of the Linear(64, 1)'s output"
    if norms[0].weight is None or norms[0].weight.grad is None or not bool(norms[0].weight.grad.abs().sum() > 0):
        return "lets no gradient reach BatchNorm1d's gamma"
    model.eval()
    if not torch.allclose(model(batch[:1]), model(batch)[:1], atol=1e-6):
        return "does not use running statistics in eval mode"
    return None


mlp_class = learner_or_lesson(globals(), "BatchNormMLP", LessonBatchNormMLP, mlp_problem)

# %% [markdown]
# The model still outputs probabilities in (0, 1), and in training mode each example's
# output now depends on the other examples in its batch (they share the batch statistics):

# %%
seed_everything(0)
model = mlp_class().to(device)
model.train()
probabilities = model(X[:8].to(device))
print("probabilities in (0, 1):", bool(((probabilities > 0) & (probabilities < 1)).all()))
first_alone_in_other_batch = model(torch.cat([X[:1], X[100:107]]).to(device))[0]
print(f"example 0 in two different batches (training mode): {probabilities[0].item():.4f} vs "
      f"{first_alone_in_other_batch.item():.4f}")

# %% [markdown]
# ## 5. Before or after the activation? An empirical question
#
# The paper puts BN before the nonlinearity, and so does this course. In practice people
# also put it after the ReLU, and which works better depends on the model and the data: it
# is an empirical question. Here is one small experiment on the course's data: the same
# seeds, the same mini-batches, 150 SGD steps with learning rate 0.1, three variants.

# %%
class BatchNormAfterReLU(nn.Module):
    """The other placement: Linear(20, 64) -> ReLU -> BatchNorm1d(64) -> Linear(64, 1) -> Sigmoid."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.BatchNorm1d(64), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


results = placement.train_variants(
    {"no BN": BaselineMLP, "BN before ReLU": mlp_class, "BN after ReLU": BatchNormAfterReLU},
    X, y, seeds=(0, 1, 2), steps=150, lr=0.1,
)
print(placement.summarize(results))
best = min(results, key=lambda name: sum(results[name]["loss"]))
gap = abs(sum(results["BN before ReLU"]["loss"]) - sum(results["BN after ReLU"]["loss"])) / 3
print(f"lowest mean training loss here: {best}; the two BN placements differ by {gap:.3f} in mean loss")

# %% [markdown]
# Read the numbers above rather than a rule of thumb: on this task the gap between the two
# placements is what the printout says, over three seeds, and a different task, depth or
# learning rate can change it. Lesson 04 looks at training speed and learning rates in more
# detail.
#
# ## 6. Not on the final output
#
# What a `BatchNorm1d(1)` on the last layer's logit, just before the sigmoid, does depends
# on the mode. Take the logits of a confident model (seed 0): batch A holds 64 confident
# positives (logits around 3); batch B holds the same first example and 63 others from a
# mixed batch (half around +3, half around -3).
#
# - In **training mode** BN re-centres every batch's logits on `beta` (0 at
#   initialization) and rescales them to std `gamma`: an example's probability depends on
#   the rest of its batch, and a batch of confident positives cannot all be predicted
#   positive.
# - In **evaluation mode** (here after 50 training-mode passes over mixed batches, which set
#   the running statistics) BN is one fixed affine map of the logit, the same for every
#   batch and order-preserving: nothing the final Linear layer could not compute itself.

# %%
demo = placement.output_bn_demo()
print(f"training mode: examples of batch A predicted positive: {demo['above_half_without_bn']:.0%} without BN "
      f"on the output, {demo['above_half_with_bn']:.0%} with it (mean probability "
      f"{demo['mean_probability_without_bn']:.3f} vs {demo['mean_probability_with_bn']:.3f})")
print(f"training mode: example 0 gets probability {demo['example_train'][0]:.3f} in batch A and "
      f"{demo['example_train'][1]:.3f} in batch B (without BN: {demo['example_without_bn']:.3f} in both)")
print(f"eval mode:     example 0 gets {demo['example_eval'][0]:.3f} in batch A and {demo['example_eval'][1]:.3f} "
      f"in batch B; BN is logit -> {demo['eval_scale']:.3f} * logit + {demo['eval_shift']:.3f}; "
      f"{demo['above_half_eval']:.0%} of batch A predicted positive; order of the examples kept: "
      f"{demo['eval_order_kept']}")
moved_train = abs(demo["example_train"][0] - demo["example_train"][1])
moved_eval = abs(demo["example_eval"][0] - demo["example_eval"][1])
print(f"\nExample 0's probability moved by {moved_train:.3f} between the two batches in training mode, by "
      f"{moved_eval:.3f} in eval mode; in training mode BN on the logit turned "
      f"{demo['above_half_without_bn'] - demo['above_half_with_bn']:.0%} of batch A's confident positives into "
      f"predicted negatives.")

# %% [markdown]
# In training mode, the printout shows how many of a batch of confident positives the BN
# pushed below 0.5, and how much example 0's probability moved with its batch-mates: the
# logit's offset and scale carry the answer, and a training-mode BN on the logit takes them
# from the batch. In eval mode the layer is harmless but useless (a fixed rescaling of the
# logit), and it computes something different from what the model was trained with. Keep BN
# inside the network, on the hidden layers.
#
# ## 7. BatchNorm2d and BatchNorm3d
#
# All three layers normalize **per channel**, the tensor's dimension 1, and `num_features`
# is the number of channels `C`. What differs is the shape they accept:
#
# - `BatchNorm1d`: `(N, C)` or `(N, C, L)`,
# - `BatchNorm2d`: `(N, C, H, W)`, conv feature maps,
# - `BatchNorm3d`: `(N, C, D, H, W)`, volumes or video.
#
# Each row below is a real call:

# %%
for row in placement.shape_table():
    print(f"{row['layer']:<15} input {row['input']:<20} {row['meaning']:<38} {row['result']}")

# %% [markdown]
# For images, the statistics of a channel are taken over the batch **and** all spatial
# positions (the paper's "effective mini-batch" of m·p·q values), with one `gamma` and one
# `beta` per channel:

# %%
channel_stats = placement.per_channel_statistics_demo()
print("values per statistic (N*H*W):", channel_stats["values_per_statistic"])
print("gamma's shape:", channel_stats["gamma_shape"])
for key in ["channel_means_before", "channel_stds_before", "channel_means_after", "channel_stds_after"]:
    print(f"{key:<22}", [round(value, 3) for value in channel_stats[key]])

# %% [markdown]
# ## 8. Exercise: `BatchNormCNN`
#
# `utils.models.BaselineCNN` is a small image classifier:
# `Conv2d(3, 16, 3, padding=1) -> ReLU -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(16, 10)`.

# %%
print(BaselineCNN())

# %% [markdown]
# Write `class BatchNormCNN(nn.Module)`:
#
# - constructible with no arguments;
# - `forward(x)` maps images of shape `(N, 3, H, W)` to class scores of shape `(N, 10)`;
# - the same layers as `BaselineCNN`, with **one** `nn.BatchNorm2d(16)` inserted after the
#   `Conv2d(3, 16, 3, padding=1)` and before its ReLU, normalizing with the batch's
#   statistics (over N, H and W) in training mode;
# - the convolution is an `nn.Conv2d(3, 16, 3, padding=1)` module (its defaults: stride 1,
#   no dilation, one group; `bias=False` is fine) and the head an `nn.Linear(16, 10)`;
# - as in the first exercise, the `BatchNorm2d(16)` keeps `affine=True` and
#   `track_running_stats=True` (the test checks that gamma learns and that eval mode uses
#   the running statistics), and the parameters are float32;
# - the pooling is the **average** over all positions, for any image size `H, W >= 1`
#   (`nn.AdaptiveAvgPool2d(1)`, `F.adaptive_avg_pool2d(x, 1)` or `x.mean((2, 3))` all do);
#   ReLU and the flattening may be written in any form;
# - as in the first exercise, gradients reach every parameter and the input in training
#   mode, eval mode leaves the running statistics alone, and `x` is not modified.

# %% nbgrader={"grade": false, "grade_id": "bn_cnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
class BatchNormCNN(nn.Module):
    """Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16) -> ReLU -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(16, 10)."""

    ### BEGIN SOLUTION
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bn_cnn_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Checks that BatchNormCNN puts BatchNorm2d(16) between the Conv2d and its ReLU."""
from autograder.checks import bn_cnn

bn_cnn.visible(globals())
### BEGIN HIDDEN TESTS
bn_cnn.hidden(globals())
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - BN goes after a linear or convolutional layer and before its activation; the bias of
#   that layer is redundant (`bias=False`), BN's `beta` replaces it.
# - `nn.BatchNorm1d(num_features)` for `(N, C)` / `(N, C, L)`, `nn.BatchNorm2d` for
#   `(N, C, H, W)`, `nn.BatchNorm3d` for `(N, C, D, H, W)`; `num_features` is `C`.
# - Per unit, BN keeps each ReLU on for about half the batch whatever the input's scale and
#   shift; without it, shifted inputs leave many units almost always on or off.
# - In training mode an example's output depends on its batch.
# - Placing BN after the activation instead is an empirical choice. On the final logit
#   before a sigmoid, BN in training mode takes the logit's offset and scale from the batch
#   (an example's probability depends on its batch-mates); in eval mode it is a fixed
#   affine map that adds nothing.
#
# **Next:** lesson 04, *Training dynamics*, trains the seed's MLP with and without BN and
# tests the claims that the loss falls faster and that BN tolerates a wider range of learning
# rates.
