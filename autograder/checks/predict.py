"""Checks for ``predict(model, x)`` (lesson 05_pitfalls).

Contract: ``model`` is an ``nn.Module`` classifier ending in ``nn.Sigmoid()`` (here an
``nn.Sequential`` of Linear, BatchNorm1d with PyTorch's defaults (affine, running statistics),
ReLU, Dropout and Sigmoid, float32 or float64), in any mix of modes; ``x`` a float tensor
``(N, num_features)`` of the model's dtype, N >= 1.  ``predict`` returns a ``torch.Tensor`` of
shape ``(N, 1)`` holding the model's output computed in eval mode (BatchNorm's running
statistics, no dropout), accurate to 1e-5 (any dtype), that does not require grad, having run
the model with gradient tracking off (``torch.no_grad()``, ``torch.inference_mode()`` or the
decorator); afterwards each submodule's ``training`` flag, every parameter and buffer (values
and dtype), ``x`` and the global gradient mode (``torch.is_grad_enabled()``) are as they were.
Working on a copy of the model is fine.

What the judge sees (collected in the learner's process; the gradient mode at each forward and
the modes are forgeable evidence): the result of every call, the gradient mode at each
forward of the model or of any of its layers (or of a copy of them), and after each call the
modes, the state_dict, ``x`` and the gradient mode.  The judge recomputes the eval-mode output
in float64 from the model's own parameters; the typical mistakes (training-mode BatchNorm,
logits, a second sigmoid, labels) are recomputed on the same inputs and named when they match.
"""
from __future__ import annotations

import torch

from autograder.checks import call, lookup, notebook_checks
from autograder.checks import _nets as net
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error

PRELUDE = (
    "import copy\n"
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)

NAME = "predict"
TYPE_NAMES = {"linear": "Linear", "bn": "BatchNorm1d", "relu": "ReLU", "sigmoid": "Sigmoid", "dropout": "Dropout"}


# ----------------------------------------------------------------------------- judge side: cases


def _layers(generator, in_features: int = 20, dropout: float = 0.0, two_bn: bool = False) -> list:
    """A trained-looking BN classifier ending in Sigmoid, with non-trivial running statistics."""
    layers = [net.linear(generator, in_features, 32), net.batchnorm(generator, 32, trained=True), {"kind": "relu"}]
    if two_bn:
        layers += [net.linear(generator, 32, 16), net.batchnorm(generator, 16, trained=True), {"kind": "relu"}]
    if dropout:
        layers.append({"kind": "dropout", "p": dropout})
    layers += [net.linear(generator, 16 if two_bn else 32, 1), {"kind": "sigmoid"}]
    return layers


def _inputs(generator, rows: int, features: int, dtype=torch.float32) -> torch.Tensor:
    return (torch.randn(rows, features, generator=generator) * 1.5 + 0.4).to(dtype)


def _probe(what: str, layers: list, modes: str, calls: list, dtype=torch.float32) -> dict:
    """``modes``: "train", "eval" or "frozen" (training, with every BatchNorm in eval mode)."""
    flags = [modes != "eval"] + [modes == "train" or (modes == "frozen" and layer["kind"] != "bn")
                                 for layer in layers]
    return {"what": what, "model": net.spec(layers, dtype), "modes": flags,
            "calls": [{"what": label, "x": wire.tensor(x.to(dtype))} for label, x in calls]}


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)
    if not hidden:
        x = _inputs(generator, 16, 20)
        return {"hidden": False, "probes": [
            _probe("the model in training mode", _layers(generator), "train",
                   [("predict(model, x) with the model in training mode", x)])]}
    probes = []
    x = _inputs(generator, 12, 20)
    probes.append(_probe("the model in eval mode", _layers(generator), "eval",
                         [("predict(model, x) with the model in eval mode", x)]))
    probes.append(_probe("a training model with its BatchNorm layers frozen (eval)", _layers(generator, two_bn=True),
                         "frozen", [("predict(model, x) with the model training and its BatchNorm layers frozen "
                                     "(eval)", x)]))
    x = _inputs(generator, 10, 20)
    order = torch.randperm(10, generator=generator)
    same = x[:1].repeat(2, 1)
    probes.append(_probe("a model in training mode, batches of other sizes", _layers(generator), "train", [
        ("predict(model, x)", x),
        ("predict(model, x[3:4]) (a batch of one row, model in training mode)", x[3:4]),
        ("predict(model, x[order]) (rows shuffled)", x[order]),
        ("predict(model, x) on a batch of two identical rows", same)]))
    x = _inputs(generator, 20, 7, torch.float64)
    probes.append(_probe("a float64 model with Dropout", _layers(generator, in_features=7, dropout=0.5, two_bn=True),
                         "train", [("predict(model, x) with a float64 model that has Dropout", x),
                                   ("predict(model, x) called a second time", x)], dtype=torch.float64))
    return {"hidden": True, "probes": probes}


# ----------------------------------------------------------------------------- sandbox side: evidence


def _state(model) -> dict:
    return {name: wire.tensor(tensor) for name, tensor in model.state_dict().items()}


def _observe(predict, probe: dict) -> dict:
    from utils.device import get_device

    device = get_device()
    model = net.build(probe["model"]).to(device)
    for module, flag in zip(model.modules(), probe["modes"]):
        module.training = bool(flag)
    forwards: list = []

    def on_forward(module, inputs):  # a closure: a deepcopy of the model keeps calling it
        forwards.append({"grad_enabled": torch.is_grad_enabled()})

    # On every module, so that running a slice (model[:]) or the layers one by one is seen too.
    handles = [module.register_forward_pre_hook(on_forward) for module in model.modules()]
    calls = []
    for case in probe["calls"]:
        x = wire.as_tensor(case["x"]).to(device)
        forwards.clear()
        result, error = call(predict, model, x)
        grad_enabled_after = torch.is_grad_enabled()
        torch.set_grad_enabled(True)
        calls.append({"result": error or wire.value(result), "forwards": list(forwards),
                      "grad_enabled_after": grad_enabled_after, "x_after": wire.tensor(x),
                      "modes_after": [bool(m.training) for m in model.modules()], "state_after": _state(model)})
    for handle in handles:
        handle.remove()
    return {"calls": calls}


def collect(namespace: dict, cases: dict) -> dict:
    predict = lookup(namespace, NAME)
    return {"probes": [_observe(predict, probe) for probe in cases["probes"]]}


# ----------------------------------------------------------------------------- judge side: verdict


def _module_names(probe: dict) -> list[str]:
    return ["the model"] + [f"{index} ({TYPE_NAMES[layer['kind']]})"
                            for index, layer in enumerate(probe["model"]["layers"])]


def _describe(names: list[str], modes: list) -> str:
    in_eval = [name for name, mode in zip(names, modes) if not mode]
    if not in_eval:
        return "everything in training mode"
    if len(in_eval) == len(modes):
        return "everything in eval mode"
    return f"training mode except {', '.join(in_eval[:4])} in eval mode"


def _expected_state(probe: dict) -> dict:
    state = {}
    for index, layer in enumerate(probe["model"]["layers"]):
        if layer["kind"] == "linear":
            keys = ["weight"] + (["bias"] if layer["bias"] is not None else [])
        elif layer["kind"] == "bn":
            keys = (["weight", "bias"] if layer["weight"] is not None else []) + ["running_mean", "running_var"]
        else:
            continue
        for key in keys:
            state[f"{index}.{key}"] = wire.as_tensor(layer[key])
        if layer["kind"] == "bn":
            state[f"{index}.num_batches_tracked"] = torch.tensor(int(layer["num_batches_tracked"]))
    return state


def _references(probe: dict, x: torch.Tensor) -> dict:
    """The eval-mode output, and what the typical mistakes give, in float64."""
    spec = probe["model"]
    params, state = net.parameters(spec), net.buffers(spec)
    layer_modes = probe["modes"][1:]
    has_dropout = any(layer["kind"] == "dropout" for layer in spec["layers"])
    out = {"eval": net.forward(spec, params, state, x, training=False)[0]}
    out["logits"] = net.forward(spec, params, state, x, training=False, upto=len(spec["layers"]) - 1)[0]
    out["double_sigmoid"] = torch.sigmoid(out["eval"])
    if len(x) > 1 and not has_dropout:
        out["as_given"] = net.forward(spec, params, state, x, training=layer_modes)[0]
        out["train"] = net.forward(spec, params, state, x, training=True)[0]
    return out


def _close(values: torch.Tensor, expected) -> bool:
    return expected is not None and values.shape == expected.shape and bool(
        torch.allclose(values, expected, atol=1e-5, rtol=1e-4))


def _check_call(probe: dict, case: dict, record: dict) -> None:
    what = case["what"]
    outcome = wire.field(record, "result")
    require_no_error(outcome, what)
    found = wire.kind(outcome)
    if found == "tensor" and outcome.get("numpy"):
        fail(f"{what} returned a NumPy array; return a torch.Tensor (the model's output).")
    require(found == "tensor", f"{what} returned {wire.describe(outcome)}; return a torch.Tensor (the model's output).")
    x = wire.as_tensor(case["x"])
    refs = _references(probe, x)
    expected = refs["eval"]
    result = wire.as_tensor(outcome)
    if tuple(result.shape) != tuple(expected.shape):
        fail(f"{what} returned shape {tuple(result.shape)}; expected {tuple(expected.shape)}, the shape of "
             f"model(x). Return the model's output as it is (one probability per row, no squeeze or argmax).")
    if not result.is_floating_point():
        fail(f"{what} returned a tensor of {outcome.get('dtype')}; return the probabilities themselves, the "
             f"model's output (it ends in Sigmoid), not thresholded predictions.")
    values = result.to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        fail(f"{what} returned values that are not finite (nan or inf); return the model's output.")
    if not _close(values, expected):
        gap = (values - expected).abs().max().item()
        if bool(((values == 0) | (values == 1)).all()):
            fail(f"{what} returned labels (only 0s and 1s); return the probabilities themselves, "
                 f"the model's output (it ends in Sigmoid), not thresholded predictions.")
        if _close(values, refs.get("as_given")) or _close(values, refs.get("train")):
            fail(f"{what} matches the model's output in training mode: BatchNorm used the batch's own "
                 f"statistics, so each prediction depends on the other rows. Call model.eval() before the "
                 f"forward pass.")
        if _close(values, refs["logits"]):
            fail(f"{what} returned logits (the values before the final Sigmoid); the model already ends in "
                 f"Sigmoid, so return its output: probabilities in (0, 1).")
        if _close(values, refs["double_sigmoid"]):
            fail(f"{what} applied a sigmoid to the model's output, which is already a probability; "
                 f"return the model's output as it is.")
        fail(f"{what} differs from the model's eval-mode output by up to {gap:.3g}. Return model(x) computed "
             f"after model.eval() (BatchNorm then uses its running statistics and dropout is off).")
    require(not outcome.get("requires_grad"),
            f"{what} returned a tensor that requires grad: compute the output inside "
            f"`with torch.no_grad():` so no graph is built at inference.")
    forwards = wire.field(record, "forwards")
    if not isinstance(forwards, list):
        raise wire.Malformed("the forwards")
    require(not any(wire.field(forward, "grad_enabled") is not False for forward in forwards),
            f"{what} ran the model with gradient tracking on (then detached the result?): run the forward "
            f"pass inside `with torch.no_grad():` (or torch.inference_mode()) so no graph is built.")
    require(wire.field(record, "grad_enabled_after") is True,
            f"{what} left gradient tracking switched off after it returned (torch.set_grad_enabled(False) "
            f"without setting it back?), so the training code that calls it would stop computing gradients. "
            f"Use `with torch.no_grad():`, which restores the mode when the block ends.")
    names = _module_names(probe)
    before = [bool(flag) for flag in probe["modes"]]
    after = wire.field(record, "modes_after")
    if not isinstance(after, list) or len(after) != len(before):
        raise wire.Malformed("the modes after the call")
    if after != before:
        if all(before) and not any(after):
            fail(f"{what} left the model in eval mode; it was in training mode before the call. Save each "
                 f"module's mode first and restore it before returning: training code that calls predict "
                 f"would otherwise silently stop updating BatchNorm's statistics and turn dropout off.")
        if not any(before) and all(after):
            fail(f"{what} switched the model to training mode, but it was in eval mode before the call. "
                 f"Restore the mode the model had instead of calling model.train() unconditionally.")
        fail(f"{what} did not restore each submodule's own mode: before the call the model had "
             f"{_describe(names, before)}; after it, {_describe(names, after)}. Record module.training for "
             f"every module in model.modules() and set each one back (model.train(flag) sets all of them).")
    state = wire.field(record, "state_after")
    if not isinstance(state, dict):
        raise wire.Malformed("the state after the call")
    for name, expected_tensor in _expected_state(probe).items():
        found_tensor = wire.as_tensor(state[name]) if name in state else None
        if found_tensor is None:
            fail(f"{what} removed the model's {name} from its state_dict; leave the model as it was.")
        if found_tensor.dtype != expected_tensor.dtype:
            fail(f"{what} changed the model's {name} from {expected_tensor.dtype} to {found_tensor.dtype}: "
                 f".double(), .float() and .to(dtype) convert a model in place. Leave the model's dtype as it "
                 f"was (convert a copy, or not at all: x already has the model's dtype).")
        if found_tensor.shape != expected_tensor.shape or not torch.equal(found_tensor, expected_tensor):
            if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                fail(f"{what} changed the model's {name}: a forward pass in training mode updates BatchNorm's "
                     f"running statistics. Call model.eval() before the forward pass and don't train inside "
                     f"predict.")
            fail(f"{what} changed the model's {name}; predict must leave every parameter as it was (no "
                 f"optimizer step, no in-place change).")
    x_after = wire.as_tensor(wire.field(record, "x_after"))
    require(x_after.dtype == x.dtype and x_after.shape == x.shape and torch.equal(x_after, x),
            f"{what} changed the x it was given; leave the caller's data as it was (no in-place operations on x).")


def judge(cases: dict, evidence: dict) -> list[str]:
    records = wire.field(evidence, "probes")
    if not isinstance(records, list) or len(records) != len(cases["probes"]):
        raise wire.Malformed("one record per probe")
    for probe, record in zip(cases["probes"], records):
        calls = wire.field(record, "calls")
        if not isinstance(calls, list) or len(calls) != len(probe["calls"]):
            raise wire.Malformed("one record per call")
        for case, call_record in zip(probe["calls"], calls):
            _check_call(probe, case, call_record)
    if not cases["hidden"]:
        return ["predict returns the eval-mode probabilities under no_grad and leaves the model in training mode"]
    return ["a model in eval mode stays in eval mode",
            "each submodule's mode is restored (training model with frozen BatchNorm)",
            "predictions are batch-invariant (one row alone, shuffled rows, two identical rows)",
            "works with Dropout and float64 models; repeated calls agree"]


visible, hidden = notebook_checks(__name__)
