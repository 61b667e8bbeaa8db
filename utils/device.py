"""Where the lessons compute: CUDA when present, otherwise the CPU (all lessons)."""
from __future__ import annotations

import random

import numpy as np
import torch


def get_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``. Lesson-sized models run well on either."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (call it where an experiment starts)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
