"""Checks for ``train_epoch`` (lesson 04): one epoch of mini-batch training.

Contract: ``train_epoch(model, loader, optimizer, loss_fn) -> float`` puts ``model`` in
training mode, and for every ``(inputs, targets)`` batch of ``loader``: zeroes the gradients,
computes ``loss_fn(model(inputs), targets)``, back-propagates it and calls
``optimizer.step()``.  It returns the mean of the batch losses as a Python number.

Everything is judged by what happens at run time: forward pre-hooks record each module's
``training`` flag, optimizer step hooks count the steps and look at the gradients the step
uses, and a recording loss function remembers each batch's loss.
"""
from __future__ import annotations

import copy
import numbers

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autograder.checks import call_learner, fail, lookup, passed, require
from utils.device import get_device

PRELUDE = (
    "import numpy as np\n"
    "import torch\n"
    "from torch import nn\n"
    "from torch.utils.data import DataLoader, TensorDataset\n"
    "from utils.device import get_device, seed_everything\n"
    "device = get_device()\n"
)

NAME = "train_epoch"
CALL = "train_epoch(model, loader, optimizer, loss_fn)"


class RecordingLoss:
    """A loss function that remembers every value it returned (and nothing else changes)."""

    def __init__(self, loss_fn: nn.Module):
        self.loss_fn = loss_fn
        self.values: list[float] = []

    def __call__(self, outputs, targets):
        loss = self.loss_fn(outputs, targets)
        self.values.append(float(loss.detach().float().cpu()))
        return loss


class Watch:
    """Hooks that record, while the learner's function runs, the modes and the optimizer steps."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.forwards = 0
        self.eval_modules: list[str] = []
        self.step_grads: list[list[torch.Tensor | None]] = []
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.handles = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._forward_hook(name or "model")))
        self.handles.append(optimizer.register_step_pre_hook(self._step_hook))

    def _forward_hook(self, name):
        def hook(module, inputs):
            if name == "model":
                self.forwards += 1
            label = type(module).__name__
            if not module.training and label not in self.eval_modules:
                self.eval_modules.append(label)
        return hook

    def _step_hook(self, optimizer, args, kwargs):
        self.step_grads.append([None if p.grad is None else p.grad.detach().clone() for p in self.params])

    def remove(self):
        for handle in self.handles:
            handle.remove()


def _bn_model(seed: int, hidden: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), nn.Sigmoid())


def _dropout_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 1), nn.Sigmoid())


def _data(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 20, generator=generator) * 2.0 + 1.0
    y = (X[:, :1] + X[:, 1:2] > 2.0).float()
    return X, y


def _loader(X, y, batch_size: int) -> DataLoader:
    device = get_device()
    return DataLoader(TensorDataset(X.to(device), y.to(device)), batch_size=batch_size, shuffle=False)


def _run(namespace, model, loader, optimizer, loss_fn):
    """Call the learner's train_epoch with hooks in place; return (result, watch)."""
    __tracebackhide__ = True
    train_epoch = lookup(namespace, NAME)
    watch = Watch(model, optimizer)
    try:
        result = call_learner(train_epoch, model, loader, optimizer, loss_fn, what=CALL)
    finally:
        watch.remove()
    return result, watch


def _as_number(result) -> float:
    __tracebackhide__ = True
    if isinstance(result, torch.Tensor):
        fail(f"{NAME} returned a tensor; return a plain Python number instead: add up "
             "loss.item() for each batch (a float, detached from the graph) and return the mean.")
    require(isinstance(result, numbers.Real) and not isinstance(result, bool),
            f"{NAME} returned {type(result).__name__} ({result!r:.60}); it should return the "
            "mean batch loss as a Python float.")
    try:
        value = float(result)
    except Exception:  # a hostile number-like object
        fail(f"{NAME} returned a {type(result).__name__} that cannot be turned into a float; "
             "return the mean batch loss as a Python float.")
    require(value == value and abs(value) != float("inf"),
            f"{NAME} returned {value}; the mean of the batch losses should be a finite number.")
    return value


def _check_calls(watch: Watch, loss: RecordingLoss, batches: int) -> None:
    """The given loss function and optimizer were used once per batch."""
    __tracebackhide__ = True
    require(watch.forwards > 0,
            f"{NAME} never called the model: loop over the loader with "
            "`for inputs, targets in loader:` and compute `outputs = model(inputs)`.")
    require(len(loss.values) > 0,
            f"{NAME} did not call the loss_fn it was given; compute each batch's loss with "
            "`loss = loss_fn(outputs, targets)` (do not create a loss function of your own).")
    require(len(watch.step_grads) > 0,
            f"{NAME} never called optimizer.step() on the optimizer it was given; call "
            "`optimizer.step()` after `loss.backward()` for every batch (do not create a new optimizer).")
    require(watch.forwards == batches and len(loss.values) == batches and len(watch.step_grads) == batches,
            f"The loader had {batches} batches, but {NAME} ran the model {watch.forwards} times, "
            f"the loss {len(loss.values)} times and optimizer.step() {len(watch.step_grads)} times; "
            "do each of them exactly once per batch, and go through the whole loader once.")


def _check_train_mode(watch: Watch) -> None:
    __tracebackhide__ = True
    if watch.eval_modules:
        names = ", ".join(watch.eval_modules[:3])
        fail(f"The model was in evaluation mode when it ran (layers in eval mode: {names}), "
             "so its BatchNorm layers used their running statistics instead of the batch's (and did not update them) and Dropout dropped nothing. "
             "Call model.train() at the start of train_epoch; setting model.training = True "
             "changes only the outer module, not the layers inside it.")


def _check_steps_had_gradients(watch: Watch) -> None:
    __tracebackhide__ = True
    for index, grads in enumerate(watch.step_grads):
        if all(g is None or torch.count_nonzero(g) == 0 for g in grads):
            fail(f"When optimizer.step() ran (step {index + 1}), all gradients were zero or missing, "
                 "so the step changed nothing. The order per batch is: optimizer.zero_grad(), "
                 "forward, loss.backward(), optimizer.step() - zero the gradients before "
                 "backward, not between backward and step.")


def _check_gradients(watch: Watch, expected: list[torch.Tensor], which_steps: str) -> None:
    """The gradients at every optimizer step are those of that batch's loss alone."""
    __tracebackhide__ = True
    _check_steps_had_gradients(watch)
    for index, grads in enumerate(watch.step_grads):
        found = torch.cat([(torch.zeros_like(e) if g is None else g).flatten().double()
                           for g, e in zip(grads, expected)])
        target = torch.cat([e.flatten().double() for e in expected])
        if not torch.allclose(found, target, rtol=1e-4, atol=1e-6):
            ratio = float(found @ target / (target @ target))
            if index > 0 and abs(ratio - (index + 1)) < 0.05:
                fail(f"At step {index + 1} the gradients were {index + 1} times this batch's: they "
                     "accumulate over the batches, because .backward() adds to .grad. Call "
                     "optimizer.zero_grad() (or model.zero_grad()) for every batch, before loss.backward().")
            if index == 0 and abs(ratio - 2.0) < 0.05:
                fail("At the first step the gradients were twice the first batch's: gradients left over "
                     f"from before {NAME} was called were added to them. Zero the gradients at the start "
                     "of every batch, before loss.backward(), not only after optimizer.step().")
            fail(f"At step {index + 1} the gradients were not those of the batch's loss ({which_steps}). "
                 "For each batch compute loss = loss_fn(model(inputs), targets), call loss.backward() "
                 "once, and zero the gradients before it.")


def _expected_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn) -> list[torch.Tensor]:
    """The gradient of loss_fn(model(X), y) in training mode, on a copy of the model."""
    twin = copy.deepcopy(model).train()
    for p in twin.parameters():
        p.grad = None
    loss = loss_fn(twin(X), y)
    return [g.detach() for g in torch.autograd.grad(loss, list(twin.parameters()))]


def _check_mean(value: float, loss: RecordingLoss) -> None:
    __tracebackhide__ = True
    values = torch.tensor(loss.values, dtype=torch.float64)
    mean = float(values.mean())
    if abs(value - mean) <= 1e-4 * abs(mean) + 1e-6:
        return
    hint = ""
    if abs(value - values[-1]) <= 1e-6 + 1e-4 * abs(values[-1]):
        hint = " (that is the last batch's loss)"
    elif abs(value - float(values.sum())) <= 1e-6 + 1e-4 * abs(float(values.sum())):
        hint = " (that is the sum, not the mean)"
    fail(f"{NAME} returned {value:.6f}{hint}, but the mean of the {len(values)} batch losses was "
         f"{mean:.6f}; add up loss.item() for every batch and divide by the number of batches.")


def _probe_training(namespace: dict, *, seed: int, n: int, batch_size: int, model: nn.Module,
                    loss_fn: nn.Module, lr: float) -> tuple[nn.Module, float]:
    """A real epoch: the model starts in eval mode; every batch must be trained in train mode."""
    __tracebackhide__ = True
    device = get_device()
    X, y = _data(seed, n)
    model = model.to(device).eval()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = RecordingLoss(loss_fn)
    loader = _loader(X, y, batch_size)
    result, watch = _run(namespace, model, loader, optimizer, loss)
    _check_calls(watch, loss, len(loader))
    _check_train_mode(watch)
    _check_steps_had_gradients(watch)
    value = _as_number(result)
    changed = any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
    require(changed, f"{NAME} ran without changing any parameter of the model; for every batch call "
                     "loss.backward() and then optimizer.step().")
    _check_mean(value, loss)
    return model, value


def _probe_zero_grad(namespace: dict, *, seed: int, model: nn.Module, loss_fn: nn.Module,
                     repeats: int, stale_grads: bool) -> None:
    """The same batch several times with lr=0: every step must see exactly that batch's gradient."""
    __tracebackhide__ = True
    device = get_device()
    X, y = _data(seed, 16)
    model = model.to(device)
    X, y = X.to(device), y.to(device)
    expected = _expected_gradients(model, X, y, loss_fn)
    if stale_grads:  # what a previous epoch (or a forgotten backward) leaves behind
        for p, g in zip(model.parameters(), expected):
            p.grad = g.clone()
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(TensorDataset(X.repeat(repeats, 1), y.repeat(repeats, 1)), batch_size=len(X))
    loss = RecordingLoss(loss_fn)
    result, watch = _run(namespace, model, loader, optimizer, loss)
    _check_calls(watch, loss, repeats)
    _check_train_mode(watch)
    _check_gradients(watch, expected, "the same batch repeated, learning rate 0")
    _as_number(result)


def visible(namespace: dict) -> None:
    """train_epoch trains in training mode, zeroes gradients per batch and returns the mean loss."""
    __tracebackhide__ = True
    model, _ = _probe_training(namespace, seed=0, n=64, batch_size=16, model=_bn_model(0),
                               loss_fn=nn.BCELoss(), lr=0.1)
    bn = model[1]
    require(int(bn.num_batches_tracked) == 4,
            f"BatchNorm's running statistics were updated {int(bn.num_batches_tracked)} times for the "
            "loader's 4 batches; run the model once per batch, in training mode.")
    passed(f"{NAME} runs every batch in training mode, steps the optimizer once per batch and "
           "returns the mean batch loss")
    _probe_zero_grad(namespace, seed=1, model=_bn_model(1), loss_fn=nn.BCELoss(), repeats=3,
                     stale_grads=False)
    passed("each optimizer step uses the gradient of its own batch only (gradients are zeroed per batch)")


def hidden(namespace: dict) -> None:
    """Other batch counts, a model with Dropout, another loss, leftover gradients, one-batch loaders."""
    __tracebackhide__ = True
    _probe_training(namespace, seed=2, n=90, batch_size=30, model=_bn_model(2, hidden=5),
                    loss_fn=nn.BCELoss(), lr=0.05)
    _probe_training(namespace, seed=3, n=40, batch_size=8, model=_dropout_model(3),
                    loss_fn=nn.MSELoss(), lr=0.2)
    _probe_training(namespace, seed=4, n=12, batch_size=12, model=_bn_model(4),
                    loss_fn=nn.BCELoss(), lr=0.1)
    _probe_zero_grad(namespace, seed=5, model=_bn_model(5), loss_fn=nn.BCELoss(), repeats=2,
                     stale_grads=True)
    passed(f"{NAME} also works for other loaders, losses and models, and ignores gradients left over "
           "from before")
