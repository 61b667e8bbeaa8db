"""Checks for ``bn_cnn`` (lesson 03): ``class BatchNormCNN(nn.Module)``.

Contract: constructible with no arguments; forward maps images (N, 3, H, W) to class scores
(N, 10) by Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16) -> ReLU -> AdaptiveAvgPool2d(1)
-> Flatten -> Linear(16, 10), the BatchNorm2d normalizing with batch statistics (over N, H, W)
in training mode.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.checks import passed, require
from autograder.checks._placement import (
    Stage, build_model, check_bn_stack, check_eval_mode, check_gradient_reaches_bn, check_input_dependence,
    run_forward,
)

CLASS = "BatchNormCNN"
PRELUDE = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
STAGES = [
    Stage("conv", "Conv2d(3, 16, 3, padding=1)", (16, 3, 3, 3)),
    Stage("batch_norm", "BatchNorm2d(16)"),
    Stage("relu", "ReLU"),
    Stage("avg_pool", "AdaptiveAvgPool2d(1)"),
    Stage("linear", "Linear(16, 10)", (10, 16)),
]


def _images(seed: int, n: int = 8, size: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator) * 2.0 + 1.0


def _check(namespace: dict, images: torch.Tensor) -> nn.Module:
    __tracebackhide__ = True
    model = build_model(namespace, CLASS)
    output = run_forward(model, images, CLASS, nn.BatchNorm2d)
    require(tuple(output.shape) == (len(images), 10),
            f"{CLASS} returned shape {tuple(output.shape)} for {len(images)} images; expected ({len(images)}, 10): "
            f"ten class scores per image.")
    check_bn_stack(model, images, class_name=CLASS, stages=STAGES, bn_class=nn.BatchNorm2d, num_features=16,
                   after_label="Conv2d(3, 16, 3, padding=1)", activation_label="ReLU", layer_kind="Conv2d")
    return model


def visible(namespace: dict) -> None:
    """BatchNormCNN puts BatchNorm2d(16) between the Conv2d and its ReLU."""
    __tracebackhide__ = True
    torch.manual_seed(0)
    _check(namespace, _images(0))
    passed(f"{CLASS} computes Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16) -> ReLU -> pool -> Linear(16, 10)")


def hidden(namespace: dict) -> None:
    """The same on other image sizes and batches, in eval mode, and with gradients."""
    __tracebackhide__ = True
    torch.manual_seed(1)
    for seed, n, size in [(21, 2, 5), (22, 4, 12)]:
        model = _check(namespace, _images(seed, n, size))
    check_input_dependence(model, lambda seed: _images(200 + seed, 4), CLASS)
    check_gradient_reaches_bn(model, _images(23, 4), "BatchNorm2d(16)")
    check_eval_mode(model, _images(24, 4), CLASS, nn.BatchNorm2d)
    passed(f"{CLASS} also holds for other images, learns gamma and beta, and uses running statistics in eval mode")
