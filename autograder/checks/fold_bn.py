"""Checks for ``fold_batchnorm(linear, bn)`` (lesson 05_pitfalls).

Contract: ``linear`` is an ``nn.Linear(in_features, out_features)`` with or without a bias;
``bn`` an ``nn.BatchNorm1d(out_features)`` with running statistics, any ``eps``, with or
without affine parameters (``affine=False``: no gamma/beta, use 1 and 0), in either mode; both
float32 or both float64.  The function returns a *new* ``nn.Linear`` (an instance of it; not
a Sequential, not ``linear`` itself) with a bias (even when ``linear`` has none), whose weight
and bias have ``linear.weight``'s dtype and the shapes ``(out_features, in_features)`` and
``(out_features,)``, hold their own memory (changing them does not change ``linear``), and
compute ``bn(linear(x))`` with ``bn`` in eval mode:
``weight = s[:, None] * linear.weight``, ``bias = s * (linear.bias - running_mean) + beta``
with ``s = gamma / sqrt(running_var + eps)``, to 1e-5 relative in float32 and 1e-9 in float64.
``linear`` and ``bn`` are left unchanged (parameters, buffers, dtype, modes).

Judge side: the reference fold is computed here in float64 from the given modules' own
parameters (the case); the learner's returned weight and bias are compared with it, and the
typical mistakes (scaling the columns, no square root, eps missing or outside the square root,
running_mean, gamma, beta or linear's bias forgotten) are folded too and named when they match.
The folded layer is also called on an input in the sandbox, and its output compared with the
reference, so a Linear whose forward was changed does not pass.
"""
from __future__ import annotations

import torch

from autograder.checks import call, lookup, notebook_checks
from autograder.judge import wire
from autograder.judge.verdict import fail, require, require_no_error

PRELUDE = (
    "import copy\n"
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)

NAME = "fold_batchnorm"


# ----------------------------------------------------------------------------- judge side: cases


def _pair(generator, in_features: int, out_features: int, *, what: str, linear_bias: bool = True,
          mean: float = 0.0, var: tuple[float, float] | None = None, eps: float = 1e-5, gamma: bool = False,
          beta: bool = False, affine: bool = True, bn_training: bool = False, dtype=torch.float64,
          probe: str = "", run: bool = False) -> dict:
    """A Linear and a BatchNorm1d, as plain data.

    ``mean`` scales random running means (0 keeps them at 0); ``var`` is a (low, high) range for
    random running variances (None: all 1); ``gamma``/``beta`` make the affine weight/bias random
    (else 1 and 0).
    """
    f64 = dict(generator=generator, dtype=torch.float64)
    weight = torch.randn(out_features, in_features, **f64)
    bias = torch.randn(out_features, **f64) * 2 if linear_bias else None
    running_mean = torch.randn(out_features, **f64) * mean
    if var is None:
        running_var = torch.ones(out_features, dtype=torch.float64)
    else:
        low, high = var
        running_var = low + (high - low) * torch.rand(out_features, **f64)
    g = torch.rand(out_features, **f64) * 2 + 0.2 if gamma else torch.ones(out_features, dtype=torch.float64)
    b = torch.randn(out_features, **f64) if beta else torch.zeros(out_features, dtype=torch.float64)
    encode = lambda t: None if t is None else wire.tensor(t.to(dtype))  # noqa: E731
    x = torch.randn(4, in_features, **f64) * 1.3 + 0.5
    return {"what": what, "probe": probe, "dtype": str(dtype).replace("torch.", ""),
            "linear": {"weight": encode(weight), "bias": encode(bias)},
            "bn": {"running_mean": encode(running_mean), "running_var": encode(running_var), "eps": eps,
                   "weight": encode(g) if affine else None, "bias": encode(b) if affine else None,
                   "training": bn_training},
            "run": run, "x": encode(x)}


# One ingredient of the fold at a time (square layers, float64): the first that fails names the mistake.
_PROBES = (
    ("scale", dict(var=(0.2, 5.0), eps=0.0)),
    ("eps", dict(var=(0.5, 2.0), eps=0.5)),
    ("mean", dict(mean=1.5)),
    ("gamma", dict(gamma=True)),
    ("beta", dict(beta=True)),
    ("linear bias", dict(linear_bias=True)),
)


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)
    if not hidden:
        pairs = []
        for name, options in _PROBES:
            settings = dict(linear_bias=False)
            settings.update(options)
            pairs.append(_pair(generator, 6, 6, what=f"{NAME}(linear, bn) [probe: {name}]", probe=name, **settings))
        pairs.append(_pair(generator, 20, 64, what=f"{NAME}(Linear(20, 64), BatchNorm1d(64))", mean=0.8,
                           var=(0.3, 3.0), gamma=True, beta=True, dtype=torch.float32))
        return {"hidden": False, "pairs": pairs}
    pairs = [
        _pair(generator, 12, 7, what=f"{NAME}(Linear(12, 7, bias=False), bn) (float64, bn in training mode)",
              linear_bias=False, mean=2.0, var=(0.01, 4.0), eps=1e-3, gamma=True, beta=True, bn_training=True),
        _pair(generator, 10, 10, what=f"{NAME}(linear, BatchNorm1d(10, affine=False))", probe="affine",
              mean=1.0, var=(0.2, 3.0), affine=False),
        _pair(generator, 9, 5, what=f"{NAME}(linear, bn) with tiny running variances (1e-7 to 1e-5, float64)",
              mean=0.3, var=(1e-7, 1e-5), gamma=True, beta=True),
        _pair(generator, 3, 8, what=f"{NAME}(linear, bn) with large running variances (1e3 to 1e5, float64)",
              mean=50.0, var=(1e3, 1e5), eps=1e-2, gamma=True, beta=True),
        _pair(generator, 1, 4, what=f"{NAME}(Linear(1, 4), BatchNorm1d(4)) (float32)", mean=0.5, var=(0.5, 2.0),
              gamma=True, beta=True, dtype=torch.float32),
        _pair(generator, 5, 3, what=f"{NAME}(linear, bn) (float32), the result called on x", mean=0.5,
              var=(0.5, 2.0), gamma=True, beta=True, dtype=torch.float32, run=True),
    ]
    return {"hidden": True, "pairs": pairs}


# ----------------------------------------------------------------------------- sandbox side: evidence


def _modules(pair: dict):
    from torch import nn

    dtype = getattr(torch, pair["dtype"])
    weight = wire.as_tensor(pair["linear"]["weight"])
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=pair["linear"]["bias"] is not None, dtype=dtype)
    spec = pair["bn"]
    bn = nn.BatchNorm1d(weight.shape[0], eps=spec["eps"], affine=spec["weight"] is not None, dtype=dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if linear.bias is not None:
            linear.bias.copy_(wire.as_tensor(pair["linear"]["bias"]))
        bn.running_mean.copy_(wire.as_tensor(spec["running_mean"]))
        bn.running_var.copy_(wire.as_tensor(spec["running_var"]))
        bn.num_batches_tracked.fill_(50)
        if spec["weight"] is not None:
            bn.weight.copy_(wire.as_tensor(spec["weight"]))
            bn.bias.copy_(wire.as_tensor(spec["bias"]))
    bn.train(spec["training"])
    return linear, bn


def _snapshot(module) -> dict:
    return {"state": {name: wire.tensor(t) for name, t in module.state_dict().items()}, "training": module.training}


def _observe(fold, pair: dict) -> dict:
    from torch import nn

    linear, bn = _modules(pair)
    result, error = call(fold, linear, bn)
    record = {"error": error, "result": None, "linear_after": _snapshot(linear), "bn_after": _snapshot(bn)}
    if error is not None:
        return record
    weight, bias = getattr(result, "weight", None), getattr(result, "bias", None)
    record["result"] = {"type": type(result).__name__, "sequential": isinstance(result, nn.Sequential),
                        "linear": isinstance(result, nn.Linear), "is_given_linear": result is linear,
                        "weight": wire.value(weight), "bias": wire.value(bias)}
    if pair["run"] and isinstance(result, nn.Linear):
        x = wire.as_tensor(pair["x"])
        output, problem = call(result, x)
        record["output"] = problem or wire.value(output)
        before = linear.weight.detach().clone()
        if isinstance(weight, torch.Tensor):
            with torch.no_grad():
                weight.add_(1.0)
        record["linear_weight_follows"] = not torch.equal(linear.weight.detach(), before)
    return record


def collect(namespace: dict, cases: dict) -> dict:
    fold = lookup(namespace, NAME)
    return {"pairs": [_observe(fold, pair) for pair in cases["pairs"]]}


# ----------------------------------------------------------------------------- judge side: verdict


def _ingredients(pair: dict) -> dict:
    f64 = lambda t: None if t is None else wire.as_tensor(t, dtype=torch.float64)  # noqa: E731
    W = f64(pair["linear"]["weight"])
    out = W.shape[0]
    b = f64(pair["linear"]["bias"])
    spec = pair["bn"]
    return {"W": W, "b": torch.zeros(out, dtype=torch.float64) if b is None else b, "has_bias": b is not None,
            "mean": f64(spec["running_mean"]), "var": f64(spec["running_var"]), "eps": float(spec["eps"]),
            "gamma": torch.ones(out, dtype=torch.float64) if spec["weight"] is None else f64(spec["weight"]),
            "beta": torch.zeros(out, dtype=torch.float64) if spec["bias"] is None else f64(spec["bias"])}


def _fold(p: dict, *, scale=None, columns: bool = False, mean: bool = True, beta: bool = True,
          linear_bias: bool = True, scale_bias: bool = True):
    """A fold in float64 (the right one with the defaults; a typical mistake otherwise)."""
    s = p["gamma"] / torch.sqrt(p["var"] + p["eps"]) if scale is None else scale
    W = p["W"] * s[None, :] if columns else s[:, None] * p["W"]
    b = p["b"] if linear_bias else torch.zeros_like(p["b"])
    shift = (b - (p["mean"] if mean else 0)) * s if scale_bias else b - (p["mean"] if mean else 0) * s
    return W, shift + (p["beta"] if beta else 0)


def _mistakes(p: dict) -> list[tuple[str, dict]]:
    g, var, eps = p["gamma"], p["var"], p["eps"]
    found = []
    if p["W"].shape[0] == p["W"].shape[1]:
        found.append(("the folded weight is scaled along its columns (input features) instead of its rows "
                      "(output features): BatchNorm scales output feature j, which is row j of the weight. "
                      "Use scale[:, None] * linear.weight (or scale.unsqueeze(1)), not linear.weight * scale.",
                      dict(columns=True)))
    found += [
        ("BatchNorm divides output feature j by sqrt(running_var[j] + eps); your fold divides by the variance "
         "itself. Multiply row j of linear.weight by gamma / sqrt(running_var[j] + eps) (a square root of the "
         "variance, not the variance).", dict(scale=g / (var + eps))),
        (f"BatchNorm divides by sqrt(running_var + eps), eps = {eps:g} inside the square root; your folded layer "
         "leaves eps out. Use bn.eps.", dict(scale=g / torch.sqrt(var))),
        ("your fold adds eps outside the square root (sqrt(running_var) + eps); BatchNorm divides by "
         "sqrt(running_var + eps). Use bn.eps inside the square root.", dict(scale=g / (torch.sqrt(var) + eps))),
        ("your fold uses eps = 1e-5 (PyTorch's default) instead of this BatchNorm's own eps "
         f"({eps:g}): use bn.eps.", dict(scale=g / torch.sqrt(var + 1e-5))),
        ("with non-zero running_mean, the folded layer does not match: BatchNorm subtracts running_mean before "
         "scaling, so the folded bias must include -running_mean * scale.", dict(mean=False)),
        ("with a BatchNorm weight (gamma) other than 1, the folded layer does not match: multiply the scale by "
         "bn.weight, scale = bn.weight / sqrt(running_var + eps).", dict(scale=1 / torch.sqrt(var + eps))),
        ("with a BatchNorm bias (beta) other than 0, the folded layer does not match: add bn.bias to the folded "
         "bias.", dict(beta=False)),
        ("when linear has a bias, the folded layer does not match: linear.bias passes through BatchNorm too, so "
         "the folded bias is (linear.bias - running_mean) * scale + beta.", dict(linear_bias=False)),
        ("the folded bias adds linear.bias unscaled: linear.bias passes through BatchNorm too, so the folded bias "
         "is (linear.bias - running_mean) * scale + beta.", dict(scale_bias=False)),
    ]
    return found


def _close(found: torch.Tensor, expected: torch.Tensor, dtype: str) -> bool:
    rtol = 1e-9 if dtype == "float64" else 1e-5
    if found.shape != expected.shape or not bool(torch.isfinite(found).all()):
        return False
    scale = max(float(expected.abs().max()) if expected.numel() else 0.0, 1e-300)
    return float((found - expected).abs().max()) <= rtol * scale


def _unchanged(pair: dict, record: dict, label: str, expected: dict, training: bool) -> None:
    snapshot = wire.field(record, f"{label}_after")
    state = wire.field(snapshot, "state")
    if not isinstance(state, dict):
        raise wire.Malformed("a state_dict")
    for name, before in expected.items():
        after = wire.as_tensor(state[name]) if name in state else None
        if after is None or after.shape != before.shape or after.dtype != before.dtype or not torch.equal(after, before):
            fail(f"{NAME} changed {label}.{name}: build a new nn.Linear and leave {label} as it was "
                 f"(the original model must keep working). Compute new tensors instead of modifying "
                 f"{label}'s in place.")
    now = wire.field(snapshot, "training")
    require(now == training,
            f"{NAME} changed {label}'s mode (training was {training}, now {now}): read bn.running_mean and "
            f"bn.running_var directly instead of switching modes.")


def _given_state(pair: dict) -> tuple[dict, dict]:
    linear = {"weight": wire.as_tensor(pair["linear"]["weight"])}
    if pair["linear"]["bias"] is not None:
        linear["bias"] = wire.as_tensor(pair["linear"]["bias"])
    spec = pair["bn"]
    bn = {}
    if spec["weight"] is not None:
        bn["weight"], bn["bias"] = wire.as_tensor(spec["weight"]), wire.as_tensor(spec["bias"])
    bn["running_mean"] = wire.as_tensor(spec["running_mean"])
    bn["running_var"] = wire.as_tensor(spec["running_var"])
    bn["num_batches_tracked"] = torch.tensor(50)
    return linear, bn


def _check_pair(pair: dict, record: dict) -> None:
    what = pair["what"]
    error = wire.field(record, "error")
    if error is not None:
        if wire.kind(error) != "error":
            raise wire.Malformed("the error")
        if pair["probe"] == "affine" and error.get("type") != "NotImplementedError":
            fail(f"{what} raised {error.get('type')}: {error.get('message')}. With nn.BatchNorm1d(..., "
                 f"affine=False), bn.weight and bn.bias are None: use 1 for a missing weight and 0 for a missing "
                 f"bias.")
        require_no_error(error, what)
    outcome = wire.field(record, "result")
    linear_state, bn_state = _given_state(pair)
    _unchanged(pair, record, "linear", linear_state, True)
    _unchanged(pair, record, "bn", bn_state, bool(pair["bn"]["training"]))
    if not isinstance(outcome, dict):
        raise wire.Malformed("the result")
    if wire.field(outcome, "sequential") is True:
        fail(f"{what} returned an nn.Sequential; return one nn.Linear whose weight and bias do the work of "
             f"both layers (that is the point of folding).")
    require(wire.field(outcome, "linear") is True,
            f"{what} returned a {str(wire.field(outcome, 'type'))[:60]}; return an nn.Linear.")
    require(wire.field(outcome, "is_given_linear") is False,
            f"{what} returned linear itself; build a new nn.Linear so the original model keeps working.")
    weight, bias = wire.field(outcome, "weight"), wire.field(outcome, "bias")
    require(wire.kind(weight) == "tensor",
            f"the Linear returned by {what} has no weight tensor; create it with nn.Linear(in_features, out_features).")
    W = wire.as_tensor(weight)
    expected_shape = tuple(linear_state["weight"].shape)
    require(tuple(W.shape) == expected_shape,
            f"the Linear returned by {what} has a weight of shape {tuple(W.shape)}; expected "
            f"{expected_shape} (out_features, in_features), like linear's.")
    require(wire.kind(bias) == "tensor",
            f"the Linear returned by {what} has no bias; the folded layer needs one (bias=True) even when "
            f"linear has none, because BatchNorm's shift ends up there.")
    b = wire.as_tensor(bias)
    require(tuple(b.shape) == (expected_shape[0],),
            f"the Linear returned by {what} has a bias of shape {tuple(b.shape)}; expected ({expected_shape[0]},).")
    dtype = pair["dtype"]
    require(wire.dtype_name(weight) == dtype and wire.dtype_name(bias) == dtype,
            f"the Linear returned by {what} holds {wire.dtype_name(weight)} parameters but linear's are "
            f"{dtype}; create it with dtype=linear.weight.dtype (and device=linear.weight.device).")
    p = _ingredients(pair)
    W_ref, b_ref = _fold(p)
    W, b = W.to(torch.float64), b.to(torch.float64)
    if not (_close(W, W_ref, dtype) and _close(b, b_ref, dtype)):
        for message, options in _mistakes(p):
            W_guess, b_guess = _fold(p, **options)
            differs = not (_close(W_guess, W_ref, dtype) and _close(b_guess, b_ref, dtype))
            if differs and _close(W, W_guess, dtype) and _close(b, b_guess, dtype):
                fail(f"{what}: {message}")
        if dtype == "float64" and _close(W, W_ref, "float32") and _close(b, b_ref, "float32"):
            fail(f"{what} matches only to float32 precision (about 1e-7), but linear and bn are float64: "
                 f"compute the fold in linear.weight's dtype, without converting to float32 on the way.")
        gap_w, gap_b = float((W - W_ref).abs().max()), float((b - b_ref).abs().max())
        part = "weight" if gap_w / max(float(W_ref.abs().max()), 1e-300) >= gap_b / max(
            float(b_ref.abs().max()), 1e-300) else "bias"
        fail(f"{what} does not match bn(linear(x)) with bn in eval mode: the folded {part} differs from "
             f"s[:, None] * linear.weight and s * (linear.bias - running_mean) + beta, s = gamma / "
             f"sqrt(running_var + eps) (largest difference {max(gap_w, gap_b):.3g}); fold with the running "
             f"statistics whatever bn's mode.")
    if pair["run"]:
        output = wire.field(record, "output")
        require_no_error(output, "calling the folded Linear on x")
        x = wire.as_tensor(pair["x"], dtype=torch.float64)
        expected = x @ W_ref.T + b_ref
        found = wire.as_tensor(output, dtype=torch.float64) if wire.kind(output) == "tensor" else None
        require(found is not None and tuple(found.shape) == tuple(expected.shape),
                f"calling the folded Linear on x {tuple(x.shape)} did not give a {tuple(expected.shape)} tensor; "
                f"return an ordinary nn.Linear.")
        require(_close(found, expected, dtype),
                "calling the folded Linear does not give bn(linear(x)); return an ordinary nn.Linear holding the "
                "folded weight and bias.")
        require(wire.field(record, "linear_weight_follows") is False,
                "the folded Linear's weight is linear's own weight tensor; give it new tensors so changing one "
                "layer does not change the other.")


def judge(cases: dict, evidence: dict) -> list[str]:
    records = wire.field(evidence, "pairs")
    if not isinstance(records, list) or len(records) != len(cases["pairs"]):
        raise wire.Malformed("one record per pair")
    for pair, record in zip(cases["pairs"], records):
        _check_pair(pair, record)
    if not cases["hidden"]:
        return ["the folded Linear matches Linear(20, 64) followed by BatchNorm1d(64) in eval mode"]
    return ["float64, bias=False, eps=1e-3, bn in training mode: running statistics are used",
            "BatchNorm1d(affine=False) folds too; tiny and large variances; a single input feature",
            "the result is an independent nn.Linear"]


visible, hidden = notebook_checks(__name__)
