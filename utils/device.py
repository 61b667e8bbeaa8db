"""Where the lessons compute: CUDA when present, otherwise the CPU (all lessons)."""
from __future__ import annotations

import contextlib
import random
from typing import Iterator

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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run lesson-sized tensor work on one CPU thread, then restore the thread count.

    Works as ``with one_thread():`` and as a decorator ``@one_thread()``.  Small layers gain
    nothing from a thread pool, and on a busy 2-core machine waking the second thread made a
    single tiny ``F.batch_norm`` take ~50 ms and small training steps 10-20 times slower
    (measured while writing lessons 01 and 02).  CUDA work is not affected.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
