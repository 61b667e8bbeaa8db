"""Checks for ``train_epoch`` (lesson 04): one epoch of mini-batch training.

Contract: ``train_epoch(model, loader, optimizer, loss_fn) -> float``, where ``model`` is an
``nn.Module`` (possibly in eval mode when received), ``loader`` an iterable of
``(inputs, targets)`` batches already on the model's device, ``optimizer`` a ``torch.optim``
optimizer over the model's parameters, ``loss_fn(outputs, targets)`` a scalar loss.  It puts the
model in training mode (what the checks look at: every BatchNorm and Dropout layer is in
training mode at every forward; the mode of the other layers, and the mode after the call, are
free), and for every batch, in the loader's order, runs the
model once, computes ``loss_fn(model(inputs), targets)``, back-propagates it and calls
``optimizer.step()`` once; the gradients the step uses are that batch's alone: they are zeroed
(``optimizer.zero_grad()`` or ``model.zero_grad()``, either ``set_to_none``) at any point
before that batch's ``backward()`` (before the forward, after it, or after the previous step,
as long as gradients left in ``.grad`` before the call do not reach the first step).  It
uses the optimizer and loss function it is given, and returns the mean loss as a Python
number (``float``, ``int`` or a NumPy scalar; not a tensor): either the mean of the batch losses
or the mean per example (batch losses weighted by batch size); the two differ only when the
last batch is smaller, and both are accepted.

What the judge sees (collected in the learner's process; forgeable, so it only shapes the
diagnosis): every forward of the model with the ``training`` flag of each submodule, the
Dropout masks it drew, the gradients and parameters at each ``optimizer.step()``, the number of
loss calls.  What decides: the parameters and BatchNorm buffers after the call must equal a
reference epoch the judge replays itself in float64 (plain SGD, with momentum in one case) from
the same initial parameters on the same batches (with the recorded Dropout masks), and the
returned mean must equal the mean of the reference losses.  The typical mistakes (eval mode, no
zeroing, zeroing only after the step) are replayed too and named when they match.
"""
from __future__ import annotations

import math

import torch

from autograder.checks import call, lookup, notebook_checks
from autograder.checks import _nets as net
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error

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
TYPE_NAMES = {"linear": "Linear", "bn": "BatchNorm1d", "relu": "ReLU", "sigmoid": "Sigmoid", "dropout": "Dropout"}


# ----------------------------------------------------------------------------- judge side: cases


def _bn_model(generator, hidden: int = 8) -> list:
    return [net.linear(generator, 20, hidden), net.batchnorm(generator, hidden), {"kind": "relu"},
            net.linear(generator, hidden, 1), {"kind": "sigmoid"}]


def _dropout_model(generator) -> list:
    return [net.linear(generator, 20, 12), {"kind": "relu"}, {"kind": "dropout", "p": 0.5},
            net.linear(generator, 12, 1), {"kind": "sigmoid"}]


def _data(generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.randn(n, 20, generator=generator) * 2.0 + 1.0
    y = (X[:, :1] + X[:, 1:2] > 2.0).float()
    return X, y


def _probe(what: str, layers: list, X, y, batch_size: int, loss: str, lr: float, momentum: float = 0.0,
           stale: bool = False, generator=None) -> dict:
    model = net.spec(layers)
    stale_grads = None
    if stale:  # what a previous epoch (or a forgotten backward) leaves in .grad
        stale_grads = [wire.tensor((torch.randn(p.shape, generator=generator) * 0.5).float())
                       for p in net.parameters(model)]
    return {"what": what, "model": model, "X": wire.tensor(X), "y": wire.tensor(y), "batch_size": batch_size,
            "loss": loss, "lr": lr, "momentum": momentum, "stale": stale_grads}


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)
    probes = []
    if not hidden:
        X, y = _data(generator, 64)
        probes.append(_probe("a BatchNorm model starting in eval mode, 4 batches of 16, BCELoss, SGD(lr=0.1)",
                             _bn_model(generator), X, y, 16, "bce", 0.1))
        X, y = _data(generator, 16)
        probes.append(_probe("the same batch of 16 three times, SGD(lr=0), gradients left in .grad before the call",
                             _bn_model(generator), X.repeat(3, 1), y.repeat(3, 1), 16, "bce", 0.0, stale=True,
                             generator=generator))
        return {"hidden": False, "probes": probes}
    X, y = _data(generator, 90)
    probes.append(_probe("a BatchNorm model, batches of 32, 32 and 26, SGD(lr=0.05, momentum=0.9)",
                         _bn_model(generator, 5), X, y, 32, "bce", 0.05, momentum=0.9))
    X, y = _data(generator, 40)
    probes.append(_probe("a model with Dropout, 5 batches of 8, MSELoss, SGD(lr=0.2)",
                         _dropout_model(generator), X, y, 8, "mse", 0.2))
    X, y = _data(generator, 12)
    probes.append(_probe("a loader with a single batch of 12", _bn_model(generator), X, y, 12, "bce", 0.1))
    X, y = _data(generator, 16)
    probes.append(_probe("the same batch of 16 twice, SGD(lr=0), gradients left in .grad before the call",
                         _bn_model(generator), X.repeat(2, 1), y.repeat(2, 1), 16, "bce", 0.0, stale=True,
                         generator=generator))
    return {"hidden": True, "probes": probes}


# ----------------------------------------------------------------------------- sandbox side: evidence


class RecordingLoss:
    """The loss function the learner is given: the real one, counting its calls."""

    def __init__(self, loss_fn, record: dict):
        self.loss_fn = loss_fn
        self.record = record

    def __call__(self, outputs, targets):
        self.record["loss_calls"] += 1
        self.record["detached_outputs"] += int(isinstance(outputs, torch.Tensor) and outputs.grad_fn is None)
        return self.loss_fn(outputs, targets)


def _observe(train_epoch, probe: dict) -> dict:
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from utils.device import get_device

    device = get_device()
    model = net.build(probe["model"]).to(device).eval()
    modules = [module for _, module in model.named_modules()]
    params = list(model.parameters())
    if probe["stale"] is not None:
        for p, g in zip(params, probe["stale"]):
            p.grad = wire.as_tensor(g).to(device=device, dtype=p.dtype)
    optimizer = torch.optim.SGD(params, lr=probe["lr"], momentum=probe["momentum"])
    X = wire.as_tensor(probe["X"]).to(device)
    y = wire.as_tensor(probe["y"]).to(device)
    loader = DataLoader(TensorDataset(X, y), batch_size=probe["batch_size"], shuffle=False)
    record: dict = {"forwards": [], "steps": [], "loss_calls": 0, "detached_outputs": 0}

    def on_forward(module, inputs):
        record["forwards"].append({"modes": [bool(m.training) for m in modules], "masks": {}})

    def on_dropout(index):
        def hook(module, inputs, output):
            if record["forwards"] and inputs and isinstance(inputs[0], torch.Tensor):
                x = inputs[0].detach()
                ratio = torch.where(x != 0, output.detach() / torch.where(x != 0, x, 1), 0)
                record["forwards"][-1]["masks"][str(index)] = wire.tensor(ratio)
        return hook

    def on_step(optimizer, args, kwargs):
        record["steps"].append({"grads": [None if p.grad is None else wire.tensor(p.grad) for p in params],
                                "params": [wire.tensor(p) for p in params]})

    # A forward is counted when the first layer runs, so a slice (model[:]) or the layers one by one count too.
    handles = [model[0].register_forward_pre_hook(on_forward), optimizer.register_step_pre_hook(on_step)]
    for index, module in enumerate(model):
        if isinstance(module, nn.Dropout):
            handles.append(module.register_forward_hook(on_dropout(index)))
    loss_fn = RecordingLoss(nn.BCELoss() if probe["loss"] == "bce" else nn.MSELoss(), record)
    result, error = call(train_epoch, model, loader, optimizer, loss_fn)
    for handle in handles:
        handle.remove()
    record["result"] = error or wire.value(result)
    record["params_after"] = [wire.tensor(p) for p in params]
    record["buffers_after"] = [{"running_mean": wire.tensor(m.running_mean), "running_var": wire.tensor(m.running_var),
                                "num_batches_tracked": int(m.num_batches_tracked)}
                               for m in model if isinstance(m, nn.BatchNorm1d)]
    return record


def collect(namespace: dict, cases: dict) -> dict:
    train_epoch = lookup(namespace, NAME)
    return {"probes": [_observe(train_epoch, probe) for probe in cases["probes"]]}


# ----------------------------------------------------------------------------- judge side: reference


def _batches(probe: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    X = wire.as_tensor(probe["X"], dtype=torch.float64)
    y = wire.as_tensor(probe["y"], dtype=torch.float64)
    size = probe["batch_size"]
    return [(X[start:start + size], y[start:start + size]) for start in range(0, len(X), size)]


def _gradient(probe: dict, params: list[torch.Tensor], batch, masks: dict) -> list[torch.Tensor]:
    """The gradient of one batch's loss in training mode at ``params``."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    out, _ = net.forward(probe["model"], leaves, net.buffers(probe["model"]), batch[0], training=True, masks=masks)
    loss = net.loss(probe["loss"], out, batch[1])
    return [g.detach() for g in torch.autograd.grad(loss, leaves)]


def _replay(probe: dict, masks: list[dict], *, training: bool = True, zero: str = "each",
            keep_stale: bool = True) -> tuple[list, list, list]:
    """(parameters, BatchNorm state, batch losses) after an epoch of the optimizer, in float64.

    ``zero``: "each" (before every backward), "never", or "after" (only after each step).
    """
    spec = probe["model"]
    params = [p.clone() for p in net.parameters(spec)]
    state = net.buffers(spec)
    grads = None
    if probe["stale"] is not None and keep_stale:
        grads = [wire.as_tensor(g, dtype=torch.float64) for g in probe["stale"]]
    momentum_buffers = [None] * len(params)
    losses = []
    for index, (xb, yb) in enumerate(_batches(probe)):
        if zero == "each":
            grads = None
        leaves = [p.clone().requires_grad_(True) for p in params]
        out, state = net.forward(spec, leaves, state, xb, training=training,
                                 masks=masks[index] if index < len(masks) else {})
        loss = net.loss(probe["loss"], out, yb)
        new = [g.detach() for g in torch.autograd.grad(loss, leaves)]
        grads = new if grads is None else [a + b for a, b in zip(grads, new)]
        losses.append(loss.item())
        for i, g in enumerate(grads):
            if probe["momentum"]:
                buffer = momentum_buffers[i]
                momentum_buffers[i] = g.clone() if buffer is None else probe["momentum"] * buffer + g
                g = momentum_buffers[i]
            params[i] = params[i] - probe["lr"] * g
        if zero == "after":
            grads = None
    return params, state, losses


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    if a.shape != b.shape:
        return False
    a, b = a.to(torch.float64), b.to(torch.float64)
    return bool(torch.isfinite(a).all()) and _maxabs(a - b) <= rtol * _maxabs(b) + atol


def _maxabs(t: torch.Tensor) -> float:
    return float(t.abs().max()) if t.numel() else 0.0


def _all_close(found: list, expected: list, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    return len(found) == len(expected) and all(_close(f, e, rtol, atol) for f, e in zip(found, expected))


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.flatten().to(torch.float64) for t in tensors])


# ----------------------------------------------------------------------------- judge side: verdict


def _masks(probe: dict, forwards: list) -> list[dict]:
    found = []
    for forward in forwards:
        masks = {}
        recorded = wire.field(forward, "masks")
        if not isinstance(recorded, dict) or not all(isinstance(key, str) and key.isdigit() for key in recorded):
            raise wire.Malformed("the Dropout masks of a forward")
        for key, value in recorded.items():
            masks[int(key)] = wire.as_tensor(value, dtype=torch.float64)
        found.append(masks)
    dropouts = [i for i, layer in enumerate(probe["model"]["layers"]) if layer["kind"] == "dropout"]
    for index, masks in enumerate(found):
        for layer in dropouts:
            if layer not in masks:
                raise wire.Malformed(f"no Dropout mask for forward {index + 1}")
    return found


def _check_calls(probe: dict, record: dict, batches: int) -> None:
    forwards = wire.field(record, "forwards")
    steps = wire.field(record, "steps")
    loss_calls = wire.field(record, "loss_calls")
    if not isinstance(forwards, list) or not isinstance(steps, list) or not isinstance(loss_calls, int):
        raise wire.Malformed("the record of calls")
    require(len(forwards) > 0,
            f"{NAME} never called the model: loop over the loader with "
            "`for inputs, targets in loader:` and compute `outputs = model(inputs)`.")
    require(loss_calls > 0,
            f"{NAME} did not call the loss_fn it was given; compute each batch's loss with "
            "`loss = loss_fn(outputs, targets)` (do not create a loss function of your own).")
    require(len(steps) > 0,
            f"{NAME} never called optimizer.step() on the optimizer it was given; call "
            "`optimizer.step()` after `loss.backward()` for every batch (do not create a new optimizer).")
    require(len(forwards) == batches and loss_calls == batches and len(steps) == batches,
            f"The loader had {batches} batches, but {NAME} ran the model {len(forwards)} times, "
            f"the loss {loss_calls} times and optimizer.step() {len(steps)} times; "
            "do each of them exactly once per batch, and go through the whole loader once.")


def _check_modes(probe: dict, forwards: list) -> None:
    names = ["model"] + [TYPE_NAMES[layer["kind"]] for layer in probe["model"]["layers"]]
    for forward in forwards:
        modes = wire.field(forward, "modes")
        if not isinstance(modes, list) or len(modes) != len(names):
            raise wire.Malformed("the modes of a forward")
        # Only the layers whose mode changes what they compute; the others may be in either mode.
        in_eval = [name for name, mode in zip(names, modes) if name in ("BatchNorm1d", "Dropout") and not mode]
        if in_eval:
            labels = ", ".join(dict.fromkeys(in_eval))
            fail(f"The model was in evaluation mode when it ran (layers in eval mode: {labels}), "
                 "so its BatchNorm layers used their running statistics instead of the batch's (and did not "
                 "update them) and Dropout dropped nothing. Call model.train() at the start of train_epoch; "
                 "setting model.training = True changes only the outer module, not the layers inside it.")


def _step_tensors(step: dict, key: str, like: list[torch.Tensor]) -> list[torch.Tensor]:
    values = wire.field(step, key)
    if not isinstance(values, list) or len(values) != len(like):
        raise wire.Malformed(f"the {key} at a step")
    out = []
    for value, reference in zip(values, like):
        tensor = torch.zeros_like(reference) if value is None else wire.as_tensor(value, dtype=torch.float64)
        if tensor.shape != reference.shape:
            raise wire.Malformed(f"the {key} at a step have the wrong shape")
        out.append(tensor)
    return out


def _check_gradients(probe: dict, record: dict, masks: list[dict]) -> None:
    """The gradients at every step are those of that batch's loss alone, at the step's parameters."""
    steps = wire.field(record, "steps")
    initial = net.parameters(probe["model"])
    stale = None if probe["stale"] is None else [wire.as_tensor(g, dtype=torch.float64) for g in probe["stale"]]
    detached = wire.field(record, "detached_outputs")
    require(not detached,
            f"The outputs {NAME} gave to loss_fn were cut off from the model's graph ({detached} of "
            f"{wire.field(record, 'loss_calls')} calls): detached, computed under torch.no_grad(), or passed "
            "through NumPy, so loss.backward() cannot reach the model's parameters. Pass model(inputs) to "
            "loss_fn as it is.")
    for index, step in enumerate(steps):
        grads = _step_tensors(step, "grads", initial)
        if all(_maxabs(g) == 0 for g in grads):
            fail(f"When optimizer.step() ran (step {index + 1}), all gradients were zero or missing, "
                 "so the step changed nothing. The order per batch is: optimizer.zero_grad(), "
                 "forward, loss.backward(), optimizer.step() - zero the gradients before "
                 "backward, not between backward and step.")
    batches = _batches(probe)
    history = []
    for index, step in enumerate(steps):
        grads = _flat(_step_tensors(step, "grads", initial))
        params = _step_tensors(step, "params", initial)
        expected = _flat(_gradient(probe, params, batches[index], masks[index]))
        history.append(expected)
        tolerance = 1e-4 * float(expected.norm()) + 1e-6
        if float((grads - expected).norm()) <= tolerance:
            continue
        accumulated = torch.stack(history).sum(0)
        candidates = [accumulated]
        if stale is not None:
            candidates.append(accumulated + _flat(stale))
        if index > 0 and any(float((grads - c).norm()) <= 1e-4 * float(c.norm()) + 1e-6 for c in candidates):
            fail(f"At step {index + 1} the gradients were the sum of this batch's and the earlier batches': they "
                 "accumulate over the batches, because .backward() adds to .grad. Call "
                 "optimizer.zero_grad() (or model.zero_grad()) for every batch, before loss.backward().")
        if index == 0 and stale is not None and float((grads - candidates[1]).norm()) <= tolerance + 1e-4 * float(
                candidates[1].norm()):
            fail("At the first step the gradients were the first batch's plus those left in .grad from before "
                 f"{NAME} was called: gradients left over from before the call leaked into the first step. Zero "
                 "the gradients at the start of every batch, before loss.backward(), not only after "
                 "optimizer.step().")
        for other, batch in enumerate(batches):
            if other != index:
                guess = _flat(_gradient(probe, params, batch, masks[index]))
                if float((grads - guess).norm()) <= 1e-4 * float(guess.norm()) + 1e-6:
                    fail(f"At step {index + 1} the gradients were those of batch {other + 1} of the loader, not of "
                         f"batch {index + 1}: go through the batches in the loader's order, once "
                         "(for inputs, targets in loader: ...).")
        fail(f"At step {index + 1} the gradients were not those of the batch's loss ({probe['what']}). "
             "For each batch compute loss = loss_fn(model(inputs), targets), call loss.backward() "
             "once, and zero the gradients before it.")


def _as_number(outcome) -> float:
    found = wire.kind(outcome)
    if found == "tensor":
        fail(f"{NAME} returned a tensor; return a plain Python number instead: add up "
             "loss.item() for each batch (a float, detached from the graph) and return the mean.")
    if found == "numpy_scalar" and outcome.get("type", "").startswith(("float", "int")):
        found = "number"
    if found not in {"int", "number", "float"}:
        shown = "NoneType" if found == "none" else wire.describe(outcome)
        fail(f"{NAME} returned {shown}; it should return the mean batch loss as a Python float.")
    value = wire.as_number(outcome)
    require(math.isfinite(value), f"{NAME} returned {value}; the mean of the batch losses should be a finite number.")
    return value


def _check_parameters(probe: dict, record: dict, masks: list[dict]) -> list[float]:
    """The parameters and buffers after the call are those of the reference epoch; its losses."""
    initial = net.parameters(probe["model"])
    after = _step_tensors(record, "params_after", initial)
    expected, state, losses = _replay(probe, masks)
    if not _all_close(after, expected):
        if probe["lr"] > 0 and _all_close(after, initial, 0, 0):
            fail(f"{NAME} ran without changing any parameter of the model; for every batch call "
                 "loss.backward() and then optimizer.step().")
        mistakes = [
            (dict(training=False),
             "The parameters after the epoch are those of an epoch in evaluation mode: BatchNorm used its running "
             "statistics instead of the batch's. Call model.train() at the start of train_epoch (for every "
             "submodule: model.train() sets them all)."),
            (dict(zero="never"), "they accumulate over the batches, because .backward() adds to .grad: the "
                                 "parameters after the epoch are those of steps that never zero the gradients. Call "
                                 "optimizer.zero_grad() for every batch, before loss.backward()."),
            (dict(zero="never", keep_stale=False),
             "they accumulate over the batches, because .backward() adds to .grad: the parameters after the epoch "
             "are those of steps that zero the gradients only once. Call optimizer.zero_grad() for every batch."),
            (dict(zero="after"), "gradients left over from before the call leaked into the first step: zero the "
                                 "gradients before every loss.backward(), not only after optimizer.step()."),
        ]
        for options, message in mistakes:
            guess, _, _ = _replay(probe, masks, **options)
            if _all_close(after, guess):
                fail(message)
        names = net.parameter_names(probe["model"])
        gaps = [_maxabs(a - e) for a, e in zip(after, expected)]
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        fail(f"After {NAME} ({probe['what']}) the parameters differ from those of one epoch of optimizer.step() on "
             f"the loader's batches in order (largest difference {gaps[worst]:.3g}, in model.{names[worst]}). "
             "For every batch: zero the gradients, loss_fn(model(inputs), targets), loss.backward(), "
             "optimizer.step().")
    buffers_after = wire.field(record, "buffers_after")
    if not isinstance(buffers_after, list) or len(buffers_after) != len(state):
        raise wire.Malformed("the BatchNorm buffers")
    batches = len(_batches(probe))
    for found, reference in zip(buffers_after, state):
        tracked = wire.field(found, "num_batches_tracked")
        if not isinstance(tracked, int):
            raise wire.Malformed("num_batches_tracked")
        require(tracked == reference["num_batches_tracked"],
                f"BatchNorm's running statistics were updated {tracked - (reference['num_batches_tracked'] - batches)} "
                f"times for the loader's {batches} batches; run the model once per batch, in training mode.")
        for key in ("running_mean", "running_var"):
            require(_close(wire.as_tensor(wire.field(found, key), dtype=torch.float64), reference[key]),
                    f"BatchNorm's {key} after the epoch is not what one training-mode forward per batch gives; run "
                    "the model exactly once per batch, in training mode, on the loader's batches.")
    return losses


def _check_mean(probe: dict, value: float, losses: list[float]) -> None:
    sizes = [len(xb) for xb, _ in _batches(probe)]
    mean = sum(losses) / len(losses)
    weighted = sum(l * s for l, s in zip(losses, sizes)) / sum(sizes)
    near = lambda a, b: abs(a - b) <= 1e-4 * abs(b) + 1e-6  # noqa: E731
    if near(value, mean) or near(value, weighted):
        return
    hint = ""
    if near(value, losses[-1]):
        hint = " (that is the last batch's loss)"
    elif near(value, sum(losses)):
        hint = " (that is the sum, not the mean)"
    elif near(value, sum(losses) / sum(sizes)):
        hint = " (that is the sum of the batch losses divided by the number of examples)"
    fail(f"{NAME} returned {value:.6f}{hint}, but the mean of the {len(losses)} batch losses was "
         f"{mean:.6f}; add up loss.item() for every batch and divide by the number of batches.")


def judge(cases: dict, evidence: dict) -> list[str]:
    records = wire.field(evidence, "probes")
    if not isinstance(records, list) or len(records) != len(cases["probes"]):
        raise wire.Malformed("one record per probe")
    for probe, record in zip(cases["probes"], records):
        require_no_error(wire.field(record, "result"), CALL)
        batches = len(_batches(probe))
        _check_calls(probe, record, batches)
        forwards = wire.field(record, "forwards")
        _check_modes(probe, forwards)
        masks = _masks(probe, forwards)
        _check_gradients(probe, record, masks)
        value = _as_number(wire.field(record, "result"))
        losses = _check_parameters(probe, record, masks)
        _check_mean(probe, value, losses)
    if not cases["hidden"]:
        return [f"{NAME} runs every batch in training mode, steps the optimizer once per batch and returns the "
                "mean batch loss",
                "each optimizer step uses the gradient of its own batch only (gradients are zeroed per batch)"]
    return [f"{NAME} also works for other loaders (a smaller last batch, one batch), losses, optimizers "
            "(momentum) and models (Dropout), and ignores gradients left over from before"]


visible, hidden = notebook_checks(__name__)
