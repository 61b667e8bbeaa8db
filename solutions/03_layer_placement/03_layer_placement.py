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
# - say why a BatchNorm does not belong on the final output before a sigmoid.
#
# Two graded exercises: `BatchNormMLP` and `BatchNormCNN`. Each has a test cell you can run
# as often as you like; it tells you in words what is still wrong.

# %%
import torch
import torch.nn.functional as F
from torch import nn

from utils.data import make_binary_task
from utils.device import get_device, seed_everything
from utils.models import BaselineCNN, BaselineMLP
from utils import placement

device = get_device()
print("computing on", device)

# %% [markdown]
# ## 1. What a layer's pre-activations look like
#
# A linear layer's outputs (the *pre-activations*) inherit the scale and the offset of its
# inputs. Feed it inputs that are large or shifted and its 64 outputs are large or shifted
# too; then a ReLU is either almost always on or almost always off, and the next layer sees
# a distribution that moves whenever anything upstream changes.
#
# Batch normalization (Ioffe & Szegedy, 2015) takes each of the 64 features, computes its
# mean and variance **over the mini-batch**, and rescales it to mean 0 and standard
# deviation 1, followed by a learned scale `gamma` and shift `beta`. Move the sliders: the
# left histogram follows the input, the right one stays put.

# %%
view = placement.preactivation_view()
view

# %% [markdown]
# The same in numbers, for a few settings of the input (mean and standard deviation over the
# batch and the 64 units, and the fraction of ReLUs that would let their input through):

# %%
for scale, shift in [(1.0, 0.0), (10.0, 0.0), (1.0, 8.0), (0.1, -8.0)]:
    stats = placement.preactivation_stats(scale, shift)
    print(f"scale {scale:>4}, shift {shift:>4}:  without BN mean {stats['without_bn'].mean():6.2f} "
          f"std {stats['without_bn'].std():5.2f} active {stats['active_without_bn']:4.0%}   |   "
          f"with BN mean {stats['with_bn'].mean():5.2f} std {stats['with_bn'].std():4.2f} "
          f"active {stats['active_with_bn']:4.0%}")

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
#   the ReLU, normalizing with the batch's statistics in training mode.
#
# Any style is fine: `nn.Sequential`, named layers, `F.relu` or `torch.sigmoid`,
# `bias=False` on the first layer. The grader follows what your forward pass actually
# computes, not how it is written.

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
# Your model still outputs probabilities in (0, 1), and in training mode each example's
# output now depends on the other examples in its batch (they share the batch statistics):

# %%
seed_everything(0)
model = BatchNormMLP().to(device)
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
    {"no BN": BaselineMLP, "BN before ReLU (yours)": BatchNormMLP, "BN after ReLU": BatchNormAfterReLU},
    X, y, seeds=(0, 1, 2), steps=150, lr=0.1,
)
print(placement.summarize(results))
best = min(results, key=lambda name: sum(results[name]["loss"]))
gap = abs(sum(results["BN before ReLU (yours)"]["loss"]) - sum(results["BN after ReLU"]["loss"])) / 3
print(f"lowest mean training loss here: {best}; the two BN placements differ by {gap:.3f} in mean loss")

# %% [markdown]
# Read the numbers above rather than a rule of thumb: on this task the gap between the two
# placements is what the printout says, over three seeds, and a different task, depth or
# learning rate can change it. Lesson 04 looks at training speed and learning rates in more
# detail.
#
# ## 6. Not on the final output
#
# A BatchNorm on the last layer's logit, just before the sigmoid, re-centres the logits of
# every batch on `beta` (0 at initialization). Take a batch in which every example is
# confidently positive:

# %%
demo = placement.output_bn_demo()
print(f"examples predicted positive: {demo['above_half_without_bn']:.0%} without BN on the output, "
      f"{demo['above_half_with_bn']:.0%} with it")
print(f"mean probability: {demo['mean_probability_without_bn']:.3f} without, "
      f"{demo['mean_probability_with_bn']:.3f} with")

# %% [markdown]
# The printout shows how many of a batch of confident positives the BN pushed below 0.5:
# the output's scale and offset carry the answer, and a BN on the logit removes exactly
# those, whatever the data. Keep BN inside the network, on the hidden layers.
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
#   statistics in training mode.

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
# - In training mode an example's output depends on its batch.
# - Placing BN after the activation instead is an empirical choice; putting it on the final
#   logit before a sigmoid removes the information the output carries.
#
# **Next:** lesson 04, *Training dynamics*, trains the seed's MLP with and without BN and
# tests the claims that the loss falls faster and that BN tolerates a wider range of learning
# rates.
