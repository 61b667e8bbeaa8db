"""Checks for ``bn_cnn`` (lesson 03): ``class BatchNormCNN(nn.Module)``, graded by equivalence.

The contract, and every default the checks rely on:

- ``BatchNormCNN()`` constructs it with no arguments; it is an ``nn.Module``.
- ``forward(x)`` maps float32 images of shape (N, 3, H, W), any H and W >= 1, to class scores of
  shape (N, 10) by ``Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16) -> ReLU ->
  AdaptiveAvgPool2d(1) -> Flatten -> Linear(16, 10)``, and leaves x unchanged.
- The convolution is an ``nn.Conv2d(3, 16, 3, padding=1)`` module (stride 1, no dilation, one
  group; ``bias=False`` is fine), the head an ``nn.Linear(16, 10)``, the normalization one
  ``nn.BatchNorm2d(16)`` with PyTorch's defaults ``affine=True`` and ``track_running_stats=True``
  (eps and momentum as the learner sets them: the reference uses them).  ReLU, the pooling and
  the flattening may be written in any form that computes the same values (``F.relu``, in
  place, ``x.mean((2, 3))``, ``F.adaptive_avg_pool2d(x, 1)``, ``x.view(N, -1)``...): the average
  over all positions of any image size.
- Training mode: the BatchNorm2d normalizes each channel with the batch's statistics over
  (N, H, W) and updates its running statistics (unbiased variance, PyTorch's momentum
  convention); gradients reach every parameter that matters and the input.
  Eval mode: running statistics, left unchanged.

How: as for ``bn_mlp`` (see :mod:`autograder.checks._models`): training batches of 8 images of
8x8 (visible) or 4 of 12x12 (hidden) with backward, 2 images of 5x5, then eval mode on 4 of 6x6
(visible) or 3 of 7x7 (hidden); everything compared with the computation rebuilt from the
learner's own layers in float64.
"""
from __future__ import annotations

import torch

from autograder.checks import _models as M
from autograder.checks import notebook_checks
from autograder.judge import wire
from utils.device import one_thread

__all__ = ["PRELUDE", "cases", "collect", "judge", "visible", "hidden", "SPEC"]

CLASS = "BatchNormCNN"
PRELUDE = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _conv(m: M.Module) -> bool:
    return (m.kind == "Conv2d" and m.attr("in_channels") == 3 and m.attr("out_channels") == 16
            and m.attr("kernel_size") == (3, 3) and m.attr("padding") == (1, 1) and m.attr("stride") == (1, 1)
            and m.attr("dilation") == (1, 1) and m.attr("groups") == 1 and m.attr("padding_mode") == "zeros")


SPEC = M.Spec(
    class_name=CLASS,
    slots=[
        M.Slot("conv", "Conv2d(3, 16, 3, padding=1)", M.conv2d, _conv),
        M.Slot("bn", "BatchNorm2d(16)", lambda m: M.batch_norm(m, "standard", 4),
               lambda m: m.kind == "BatchNorm2d" and m.attr("num_features") == 16),
        M.Slot("relu", "ReLU", M.relu),
        M.Slot("pool", "AdaptiveAvgPool2d(1)", M.mean_pool),
        M.Slot("flatten", "Flatten", M.flatten),
        M.Slot("lin", "Linear(16, 10)", M.linear,
               lambda m: m.kind == "Linear" and m.attr("in_features") == 16 and m.attr("out_features") == 10),
    ],
    bn_kind="BatchNorm2d", bn_dims=4, num_features=16, after_label="Conv2d(3, 16, 3, padding=1)",
    layer_kind="Conv2d", output_shape=lambda n: (n, 10), output_words="ten class scores per image",
    examples="images",
    substitutions=[
        ("pool", "AdaptiveMaxPool2d(1)", M.max_pool, ": pool with the average over all positions, not the maximum"),
        ("relu", None, M.identity, ": put a ReLU after the BatchNorm2d(16)"),
        ("relu", "Tanh", M.tanh, ": use a ReLU as the activation"),
    ],
    lines=[f"{CLASS} computes Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16) -> ReLU -> AdaptiveAvgPool2d(1) -> "
           f"Flatten -> Linear(16, 10) with your own layers, in training and in eval mode, with the right running "
           f"statistics and gradients"],
)


def _images(generator: torch.Generator, n: int, size: int) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=generator) * 2.0 + 1.0


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)
    shapes = ((4, 12), (2, 5), (3, 7)) if hidden else ((8, 8), (2, 5), (4, 6))
    first = _images(generator, *shapes[0])
    weights = torch.randn(shapes[0][0], 10, generator=generator)
    return {"perturb_seed": int(torch.randint(0, 2**31 - 1, (1,), generator=generator)),
            "runs": [{"mode": "train", "x": wire.tensor(first), "backward": True, "weights": wire.tensor(weights)},
                     {"mode": "train", "x": wire.tensor(_images(generator, *shapes[1]))},
                     {"mode": "eval", "x": wire.tensor(_images(generator, *shapes[2])
                                                       * torch.linspace(1.0, 4.0, shapes[2][0]).reshape(-1, 1, 1, 1))}]}


def collect(namespace: dict, cases: dict) -> dict:
    """Sandbox side: see the module docstring."""
    with one_thread():
        return M.collect_model(namespace, CLASS, cases)


def judge(cases: dict, evidence: dict) -> list[str]:
    with one_thread():
        return M.judge_model(SPEC, cases, evidence)


visible, hidden = notebook_checks(__name__)
