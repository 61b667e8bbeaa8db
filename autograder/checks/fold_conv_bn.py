"""Checks for ``fold_conv_bn(conv, bn) -> nn.Conv2d`` (lesson 06_backward_and_alternatives).

Contract: ``conv`` is an ``nn.Conv2d`` (any channels, kernel size, stride, padding, dilation;
groups=1; padding_mode "zeros"; with or without bias), ``bn`` an ``nn.BatchNorm2d(conv.out_channels)``
with affine=True and track_running_stats=True, any eps, in either mode.  Returns a new
``nn.Conv2d`` (not ``conv`` itself) with the same in/out channels, kernel size, stride, padding,
dilation and dtype, always with a bias, whose output equals ``bn(conv(x))`` with ``bn`` in eval
mode (running statistics, eps, weight and bias).  ``conv`` and ``bn`` are left unchanged
(parameters, buffers, training mode).  ``torch.nn.utils.fusion``'s functions are refused while
the function runs (seen by a profile hook on their code objects: evidence the learner could
forge by replacing the hook).

The judge computes ``bn(conv(x))`` from the definition (F.conv2d, then the eval-mode formula)
in float64 on the judge's own tensors; it never builds a folded layer.  Typical mistakes tried
on the same inputs: the conv bias forgotten or not scaled, eps left out, no square root, the
weight not scaled or scaled along the input channels, gamma and beta ignored.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checks import call, fail, lookup, notebook_checks, require
from autograder.checks._bn_backward import close, first_difference, refusing
from autograder.checks._refused_code import require_not_grader_code
from autograder.judge import wire
from autograder.judge.verdict import require_no_error

PRELUDE = (
    "import copy\n"
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
)

NAME = "fold_conv_bn"
RTOL = {"float64": 1e-9, "float32": 2e-5}
HYPOTHESIS_RTOL = {"float64": 1e-6, "float32": 1e-4}
HYPER = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")


def _case(label, generator, in_channels, out_channels, kernel_size, *, stride=1, padding=0, dilation=1,
          bias=True, dtype=torch.float64, eps=1e-5, training=False, mean_scale=2.0, var_range=(0.5, 4.0),
          input_shape=(2, 6, 6)):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    rand = lambda *shape: torch.rand(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    randn = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    low, high = var_range
    conv = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": [kh, kw],
            "stride": stride, "padding": padding, "dilation": dilation, "bias": bias,
            "weight": wire.tensor((randn(out_channels, in_channels, kh, kw) * 0.5).to(dtype)),
            "bias_values": wire.tensor((randn(out_channels)).to(dtype))}
    bn = {"eps": eps, "training": training,
          "running_mean": wire.tensor((randn(out_channels) * mean_scale).to(dtype)),
          "running_var": wire.tensor((low + (high - low) * rand(out_channels)).to(dtype)),
          "weight": wire.tensor((0.3 + 1.7 * rand(out_channels)).to(dtype)),
          "bias": wire.tensor(randn(out_channels).to(dtype))}
    batch, height, width = input_shape
    x = randn(batch, in_channels, height, width) * 2.0 + 1.0
    return {"label": label, "conv": conv, "bn": bn, "x": wire.tensor(x.to(dtype))}


def cases(seed: int, hidden: bool) -> dict:
    generator = torch.Generator().manual_seed(int(seed) % 2**63)
    if not hidden:
        made = [
            _case("for Conv2d(3, 4, 3, padding=1) in float32", generator, 3, 4, 3, padding=1, dtype=torch.float32),
            _case("for Conv2d(2, 3, (3, 5), stride=2, padding=(1, 2), bias=False) with bn in training mode",
                  generator, 2, 3, (3, 5), stride=2, padding=[1, 2], bias=False, training=True, input_shape=(2, 7, 9)),
        ]
    else:
        made = [
            _case("for Conv2d(4, 4, 1) with eps=1e-3", generator, 4, 4, 1, eps=1e-3),
            _case("for Conv2d(3, 5, 3, dilation=2, padding=2) in float32, bn in training mode", generator, 3, 5, 3,
                  dilation=2, padding=2, dtype=torch.float32, training=True, input_shape=(3, 8, 8)),
            _case("for Conv2d(1, 2, 2, bias=False) with tiny running variances", generator, 1, 2, 2, bias=False,
                  var_range=(1e-6, 1e-4), input_shape=(2, 5, 4)),
            _case("for Conv2d(6, 8, 3, padding=1) with large running means", generator, 6, 8, 3, padding=1,
                  mean_scale=50.0, input_shape=(2, 5, 5)),
        ]
    return {"cases": made}


# --------------------------------------------------------------------------- sandbox side

def _fusion_codes() -> dict:
    from torch.nn.utils import fusion

    return {value.__code__: f"torch.nn.utils.fusion.{name}" for name, value in vars(fusion).items()
            if callable(value) and hasattr(value, "__code__") and name.startswith("fuse")}


def _build(case: dict):
    from torch import nn

    spec, stats = case["conv"], case["bn"]
    weight = wire.as_tensor(spec["weight"])
    conv = nn.Conv2d(spec["in_channels"], spec["out_channels"], tuple(spec["kernel_size"]), stride=spec["stride"],
                     padding=spec["padding"] if isinstance(spec["padding"], int) else tuple(spec["padding"]),
                     dilation=spec["dilation"], bias=spec["bias"]).to(weight.dtype)
    bn = nn.BatchNorm2d(spec["out_channels"], eps=stats["eps"]).to(weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if spec["bias"]:
            conv.bias.copy_(wire.as_tensor(spec["bias_values"]))
        for name in ("running_mean", "running_var"):
            getattr(bn, name).copy_(wire.as_tensor(stats[name]))
        bn.weight.copy_(wire.as_tensor(stats["weight"]))
        bn.bias.copy_(wire.as_tensor(stats["bias"]))
        bn.num_batches_tracked.fill_(20)
    conv.train(False)
    bn.train(bool(stats["training"]))
    return conv, bn


def _state(module) -> dict:
    return {"training": bool(module.training),
            "tensors": {name: wire.tensor(value) for name, value in module.state_dict().items()}}


def _describe_module(returned, conv, bn, x) -> dict:
    from torch import nn

    found = {"is_conv2d": isinstance(returned, nn.Conv2d), "type": type(returned).__name__,
             "is_conv": returned is conv, "is_bn": returned is bn, "hyper": {}, "bias_is_none": None,
             "output": None}
    if not found["is_conv2d"]:
        return found
    for name in HYPER:
        value, error = call(getattr, returned, name)
        found["hyper"][name] = error if error is not None else wire.value(value)
    bias, error = call(getattr, returned, "bias")
    found["bias_is_none"] = error is None and bias is None
    weight, error = call(getattr, returned, "weight")
    found["weight_dtype"] = wire.value(getattr(weight, "dtype", None)) if error is None else None
    with torch.no_grad():
        output, error = call(returned, x.clone())
    found["output"] = error if error is not None else wire.value(output)
    return found


def collect(namespace: dict, cases: dict) -> dict:
    fn = lookup(namespace, NAME)
    results = []
    for case in cases["cases"]:
        conv, bn = _build(case)
        x = wire.as_tensor(case["x"])
        calls: list[str] = []
        with refusing(calls, autograd=False, normalization=False, codes=_fusion_codes()):
            returned, error = call(fn, conv, bn)
        result = {"calls": calls[:5], "error": error, "conv_after": _state(conv), "bn_after": _state(bn)}
        if error is None:
            result["returned"] = _describe_module(returned, conv, bn, x)
        results.append(result)
    return {"results": results}


# --------------------------------------------------------------------------- the judge

def _eval_block(case: dict, weight=None, bias=None, scale_axis: int = 0, *, use_eps=True, use_sqrt=True,
                use_affine=True, conv_bias=True, scale_conv_bias=True, scale_weight=True):
    """bn(conv(x)) in eval mode from the definition, float64, or a variant of a typical mistake."""
    spec, stats = case["conv"], case["bn"]
    x = wire.as_tensor(case["x"], dtype=torch.float64)
    w = wire.as_tensor(spec["weight"], dtype=torch.float64)
    b = wire.as_tensor(spec["bias_values"], dtype=torch.float64) if spec["bias"] else torch.zeros(spec["out_channels"], dtype=torch.float64)
    mean = wire.as_tensor(stats["running_mean"], dtype=torch.float64)
    var = wire.as_tensor(stats["running_var"], dtype=torch.float64)
    gamma = wire.as_tensor(stats["weight"], dtype=torch.float64) if use_affine else torch.ones_like(mean)
    beta = wire.as_tensor(stats["bias"], dtype=torch.float64) if use_affine else torch.zeros_like(mean)
    padding = spec["padding"] if isinstance(spec["padding"], int) else tuple(spec["padding"])
    denominator = var + stats["eps"] if use_eps else var
    scale = gamma / (denominator.sqrt() if use_sqrt else denominator)
    if scale_axis == 0 and scale_weight and conv_bias and scale_conv_bias and use_eps and use_sqrt:
        # the definition: conv, then BN in eval mode
        out = F.conv2d(x, w, b, stride=spec["stride"], padding=padding, dilation=spec["dilation"])
        return (out - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    if scale_axis == 1:
        folded_w = w * scale.view(1, -1, 1, 1)
    else:
        folded_w = w * scale.view(-1, 1, 1, 1) if scale_weight else w
    b_used = b if conv_bias else torch.zeros_like(b)
    folded_b = (b_used - mean) * scale + beta if scale_conv_bias else b_used - mean * scale + beta
    return F.conv2d(x, folded_w, folded_b, stride=spec["stride"], padding=padding, dilation=spec["dilation"])


def _hypotheses(case: dict) -> list[tuple[str, torch.Tensor]]:
    spec = case["conv"]
    found = [
        ("leaves eps out: the eval-mode scale is gamma / sqrt(running_var + eps), with bn.eps",
         _eval_block(case, use_eps=False)),
        ("divides by running_var + eps without the square root: the scale is gamma / sqrt(running_var + eps)",
         _eval_block(case, use_sqrt=False)),
        ("does not scale the weight: every output channel c of the convolution is multiplied by "
         "gamma_c / sqrt(running_var_c + eps), so its weight conv.weight[c] must be too",
         _eval_block(case, scale_weight=False)),
        ("ignores bn's weight and bias (gamma and beta): the scale is gamma / sqrt(running_var + eps) and the "
         "shift adds beta", _eval_block(case, use_affine=False)),
    ]
    if spec["bias"]:
        found.insert(0, ("forgets the convolution's own bias: the folded bias is "
                         "(conv.bias - running_mean) * scale + beta", _eval_block(case, conv_bias=False)))
        found.insert(1, ("adds the convolution's bias without scaling it: the folded bias is "
                         "(conv.bias - running_mean) * scale + beta, the conv bias is scaled too",
                         _eval_block(case, scale_conv_bias=False)))
    if spec["in_channels"] == spec["out_channels"]:
        found.append(("scales the weight along its input channels (dim 1); the scale belongs to the output "
                      "channels, the weight's first dimension: weight * scale.view(-1, 1, 1, 1)",
                      _eval_block(case, scale_axis=1)))
    return found


def _expected_hyper(spec: dict) -> dict:
    def pair(value):
        return [value, value] if isinstance(value, int) else list(value)
    return {"in_channels": spec["in_channels"], "out_channels": spec["out_channels"],
            "kernel_size": list(spec["kernel_size"]), "stride": pair(spec["stride"]),
            "padding": pair(spec["padding"]), "dilation": pair(spec["dilation"]), "groups": 1,
            "padding_mode": "zeros"}


def _plain(value):
    """A hyperparameter from the evidence as a JSON-like value (tuples become lists)."""
    try:
        found = wire.kind(value)
    except wire.Malformed:
        return None
    if found in {"tuple", "list"}:
        return [_plain(item) for item in wire.items(value)]
    return value if found in {"int", "str", "bool"} else None


def _unchanged(case: dict, after: dict, name: str, what: str) -> None:
    state = wire.field(after, "tensors")
    if name == "conv":
        expected = {"weight": case["conv"]["weight"]}
        if case["conv"]["bias"]:
            expected["bias"] = case["conv"]["bias_values"]
        mode = False
    else:
        expected = {key: case["bn"][key] for key in ("running_mean", "running_var", "weight", "bias")}
        mode = bool(case["bn"]["training"])
    require(bool(wire.field(after, "training")) == mode,
            f"{what} changed {name}'s mode (it was in {'training' if mode else 'eval'} mode); leave {name} as it "
            f"was: read its running statistics directly, or work on a copy (copy.deepcopy).")
    for key, encoded in expected.items():
        require(key in state and torch.equal(wire.as_tensor(state[key]), wire.as_tensor(encoded)),
                f"{what} changed {name}.{key}; leave conv and bn unchanged and build a new nn.Conv2d "
                f"(copy.deepcopy(conv) or nn.Conv2d(...)).")


def judge(cases: dict, evidence: dict) -> list[str]:
    results = wire.field(evidence, "results")
    if not isinstance(results, list) or len(results) != len(cases["cases"]):
        raise wire.Malformed("the evidence does not have one result per case")
    labels = []
    for case, result in zip(cases["cases"], results):
        what = f"{NAME}(conv, bn) {case['label']}"
        dtype = wire.dtype_name(case["x"])
        calls = wire.field(result, "calls")
        if calls:
            require_not_grader_code(what, str(calls[0])[:80])
            fail(f"{what} called {str(calls[0])[:80]}; work out the folded weight and bias yourself from "
                 f"conv's weight and bias and bn's running statistics, eps, weight and bias.")
        error = wire.field(result, "error")
        if error is not None:
            require_no_error(error, what)
        returned = wire.field(result, "returned")
        if not returned["is_conv2d"]:
            fail(f"{what} returned a {str(returned['type'])[:60]}; return one nn.Conv2d (not an nn.Sequential "
                 f"or a tensor) whose weight and bias do the work of both layers.")
        require(not returned["is_conv"], f"{what} returned conv itself, changed; return a new nn.Conv2d and "
                                         f"leave conv as it was (copy.deepcopy(conv) first, or nn.Conv2d(...)).")
        _unchanged(case, wire.field(result, "conv_after"), "conv", what)
        _unchanged(case, wire.field(result, "bn_after"), "bn", what)
        expected_hyper = _expected_hyper(case["conv"])
        for name, value in expected_hyper.items():
            got = _plain(returned["hyper"].get(name))
            require(got == value, f"{what} returned a Conv2d with {name}={got}; it should keep conv's {name}={value}.")
        require(returned["bias_is_none"] is False,
                f"{what} returned a Conv2d without a bias; the folded layer always needs one (bias=True): it "
                f"holds beta - running_mean * scale (plus conv's own bias, scaled).")
        output = returned["output"]
        require_no_error(output, f"the folded Conv2d called on x ({what})")
        if wire.kind(output) != "tensor":
            fail(f"the folded Conv2d returned {wire.describe(output)} on an input; it should return a tensor.")
        require(output["dtype"] == dtype, f"{what} returned a {output['dtype']} Conv2d for {dtype} layers; keep "
                                          f"conv's dtype (.to(conv.weight.dtype)).")
        got = wire.as_tensor(output)
        expected = _eval_block(case)
        require(tuple(got.shape) == tuple(expected.shape),
                f"the folded Conv2d gives outputs of shape {tuple(got.shape)}; conv then bn give "
                f"{tuple(expected.shape)} ({what}).")
        if not close(got, expected, RTOL[dtype]):
            for diagnosis, hypothesis in _hypotheses(case):
                if close(got, hypothesis, HYPOTHESIS_RTOL[dtype]):
                    fail(f"{what} {diagnosis}.")
            mode_hint = (" bn was in training mode here: the fold uses its running statistics, as eval mode does "
                         "(not the statistics of a batch)." if case["bn"]["training"] else "")
            fail(f"{what}: the folded Conv2d's output does not match conv followed by bn in eval mode: "
                 f"{first_difference(got, expected)}.{mode_hint}")
        labels.append(case["label"].removeprefix("for "))
    return [f"{NAME} returns a new nn.Conv2d equal to conv then bn in eval mode: " + "; ".join(labels),
            f"{NAME} leaves conv and bn unchanged and does not call torch.nn.utils.fusion"]


visible, hidden = notebook_checks(__name__)
