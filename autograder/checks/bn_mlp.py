"""Checks for ``bn_mlp`` (lesson 03): ``class BatchNormMLP(nn.Module)``, graded by equivalence.

The contract, and every default the checks rely on:

- ``BatchNormMLP()`` constructs it with no arguments; it is an ``nn.Module``.
- ``forward(x)`` maps a float32 tensor of shape (N, 20) to probabilities of shape (N, 1) by
  ``Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid``, and leaves x unchanged.
- The two linear layers are ``nn.Linear`` modules (subclasses too; ``bias=False`` on the first
  is fine: BatchNorm's mean subtraction cancels that bias) and the normalization is one
  ``nn.BatchNorm1d(64)`` module with PyTorch's defaults ``affine=True`` and
  ``track_running_stats=True``; its eps and momentum are the learner's choice (the reference uses
  them; ``momentum=None`` is the cumulative average).  Containers, helper functions and
  subclasses are all fine; ReLU and the sigmoid may be written in any form that computes the same
  values (``F.relu``, ``clamp(min=0)``, ``torch.maximum(x, 0)``, ``x * (x > 0)``, in place,
  ``1 / (1 + exp(-x))``...).
- Training mode (``model.train()``): the BatchNorm normalizes with the batch's mean and biased
  variance and updates its running statistics, ``new = (1 - momentum) * old + momentum * batch``
  with the unbiased batch variance, on every forward; gradients flow to every parameter that
  matters and to the input (nothing detached, no ``torch.no_grad()`` or NumPy round trip).
- Eval mode (``model.eval()``): it normalizes with the running statistics and leaves them alone.

How: the evidence step (``collect``, in the sandbox) perturbs the BatchNorm's gamma, beta and
running statistics, records the module tree and every parameter and buffer, and runs the model
on the judge's batches: training (N = 32 visible, 64 hidden, with backward of a weighted sum of
the outputs), training again (N = 8 visible, 2 hidden), eval (N = 16 / 5).  The judge rebuilds
the computation in float64 from the learner's own parameters and compares outputs, running
statistics after each forward, gradients and the inputs (tolerance 2e-4 of the reference's
scale plus 1e-3 relative); see :mod:`autograder.checks._models` for the catalogue of mistakes it
names.
"""
from __future__ import annotations

import torch

from autograder.checks import _models as M
from autograder.checks import notebook_checks
from autograder.judge import wire
from utils.device import one_thread

__all__ = ["PRELUDE", "cases", "collect", "judge", "visible", "hidden", "SPEC"]

CLASS = "BatchNormMLP"
PRELUDE = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _linear(n_in: int, n_out: int):
    return lambda m: m.kind in {"Linear"} and m.attr("in_features") == n_in and m.attr("out_features") == n_out


SPEC = M.Spec(
    class_name=CLASS,
    slots=[
        M.Slot("lin1", "Linear(20, 64)", M.linear, _linear(20, 64)),
        M.Slot("bn", "BatchNorm1d(64)", lambda m: M.batch_norm(m, "standard", 2),
               lambda m: m.kind == "BatchNorm1d" and m.attr("num_features") == 64),
        M.Slot("relu", "ReLU", M.relu),
        M.Slot("lin2", "Linear(64, 1)", M.linear, _linear(64, 1)),
        M.Slot("sigmoid", "Sigmoid", M.sigmoid),
    ],
    bn_kind="BatchNorm1d", bn_dims=2, num_features=64, after_label="Linear(20, 64)", layer_kind="Linear",
    output_shape=lambda n: (n, 1), output_words="one probability per example", examples="examples",
    substitutions=[
        ("relu", "Tanh", M.tanh, ": use a ReLU as the activation"),
        ("relu", "Sigmoid", M.sigmoid, ": use a ReLU as the activation"),
        ("relu", None, M.identity, ": put a ReLU after the BatchNorm1d(64)"),
        ("sigmoid", None, M.identity, ": end with a Sigmoid so that the outputs are "
                                      "probabilities"),
        ("sigmoid", "Tanh", M.tanh, ": end with a Sigmoid so that the outputs are probabilities in (0, 1)"),
    ],
    lines=[f"{CLASS} computes Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid with your own "
           f"layers, in training and in eval mode, with the right running statistics and gradients"],
)


def _batch(generator: torch.Generator, n: int) -> torch.Tensor:
    # Shifted and scaled so that the hidden pre-activations are far from normalized.
    return torch.randn(n, 20, generator=generator) * 3.0 + 2.0


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)
    sizes = (64, 2, 5) if hidden else (32, 8, 16)
    first = _batch(generator, sizes[0])
    weights = torch.randn(sizes[0], 1, generator=generator)
    return {"perturb_seed": int(torch.randint(0, 2**31 - 1, (1,), generator=generator)),
            "runs": [{"mode": "train", "x": wire.tensor(first), "backward": True, "weights": wire.tensor(weights)},
                     {"mode": "train", "x": wire.tensor(_batch(generator, sizes[1]))},
                     {"mode": "eval", "x": wire.tensor(_spread(_batch(generator, sizes[2])))}]}


def _spread(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled by 1 to 4: in eval mode each example stands alone, and large pre-activations
    tell a ReLU from a clipped one (ReLU6, hardtanh)."""
    return x * torch.linspace(1.0, 4.0, x.shape[0]).unsqueeze(1)


def collect(namespace: dict, cases: dict) -> dict:
    """Sandbox side: see the module docstring."""
    with one_thread():
        return M.collect_model(namespace, CLASS, cases)


def judge(cases: dict, evidence: dict) -> list[str]:
    with one_thread():
        return M.judge_model(SPEC, cases, evidence)


visible, hidden = notebook_checks(__name__)
