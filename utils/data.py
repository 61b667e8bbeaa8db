"""Small data sets the lessons train on; generated or bundled with scikit-learn, never downloaded.

- :func:`make_binary_task` - the seed lesson's 20-feature binary classification task
  (lessons 03 and 04).
- :func:`load_digits_split` - scikit-learn's bundled 8x8 handwritten digits, split into
  train and test tensors (lesson 04's small reproduction of the paper's Figure 1).

Nothing here runs at import time; every function takes its seed as an argument.
"""
from __future__ import annotations

import torch

NUM_FEATURES = 20


def make_binary_task(n_samples: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic binary classification task with 20 features (lessons 03, 04).

    Made with scikit-learn's ``make_classification``: 10 informative features, 5 redundant
    ones (linear mixtures of the informative ones), 5 pure-noise features, two clusters per
    class, and 5% of labels flipped at random, so no model reaches 100% accuracy.  The same
    ``seed`` always gives the same data.

    Returns
    -------
    X: float32 tensor of shape (n_samples, 20)
    y: float32 tensor of shape (n_samples, 1) holding 0.0 or 1.0 (the class), ready for
       ``nn.BCELoss`` against a sigmoid output of shape (N, 1).
    """
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=n_samples, n_features=NUM_FEATURES, n_informative=10, n_redundant=5,
        n_repeated=0, n_classes=2, n_clusters_per_class=2, class_sep=1.0, flip_y=0.05,
        shuffle=True, random_state=seed,
    )
    X = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32).reshape(-1, 1)
    return X, y


def train_test_split(X: torch.Tensor, y: torch.Tensor, test_fraction: float = 0.25,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle the rows with ``seed`` and split them: ``X_train, y_train, X_test, y_test``."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(X), generator=generator)
    n_test = int(round(len(X) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def load_digits_split(test_fraction: float = 0.25, seed: int = 0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (1797 images of 8x8 pixels, 10 classes), split (lesson 04).

    Pixels (0..16) are divided by 16, so every feature lies in [0, 1].

    Returns
    -------
    X_train: float32 (N_train, 64), y_train: int64 (N_train,) class labels 0..9,
    X_test:  float32 (N_test, 64),  y_test:  int64 (N_test,)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.as_tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(digits.target, dtype=torch.int64)
    return train_test_split(X, y, test_fraction=test_fraction, seed=seed)
