"""The seed lesson's baseline models, without batch normalization (lessons 03, 04, 05).

The versions *with* BatchNorm are what learners write in lesson 03's graded exercises, so
they are not here.
"""
from __future__ import annotations

from torch import nn


class BaselineMLP(nn.Module):
    """The seed's classifier without BN: Linear(20, 64) -> ReLU -> Linear(64, 1) -> Sigmoid.

    x: (N, 20) float -> probabilities (N, 1).
    """

    def __init__(self, in_features: int = 20, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


class BaselineCNN(nn.Module):
    """A small image classifier without BN (lesson 03's ``bn_cnn`` starts from it).

    Conv2d(3, 16, 3, padding=1) -> ReLU -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(16, 10).
    x: (N, 3, H, W) float -> class scores (N, 10).
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.conv(x)))
        return self.head(x.flatten(1))
