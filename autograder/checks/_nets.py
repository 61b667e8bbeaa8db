"""Small ``nn.Sequential`` models as plain data, for ``train_epoch`` and ``predict``.

A *spec* lists the layers with their parameters and buffers as wire tensors:

    {"dtype": "float32", "layers": [
        {"kind": "linear", "weight": T, "bias": T or None},
        {"kind": "bn", "weight": T or None, "bias": T or None, "running_mean": T, "running_var": T,
         "num_batches_tracked": int, "eps": float, "momentum": float},
        {"kind": "relu"}, {"kind": "sigmoid"}, {"kind": "dropout", "p": float}]}

The sandbox builds the real model from it (:func:`build`); the judge recomputes the same model
in float64 from the same numbers (:func:`forward`), never from anything the learner returned
except the values it reads with ``wire``.  Parameters are listed in ``model.parameters()``
order: each layer's weight, then its bias.
"""
from __future__ import annotations

import math

import torch

from autograder.judge import wire

# ----------------------------------------------------------------------------- judge side: specs


def linear(generator: torch.Generator, fan_in: int, fan_out: int, bias: bool = True, scale: float = 1.0) -> dict:
    bound = scale / math.sqrt(fan_in)
    weight = (torch.rand(fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    b = (torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound if bias else None
    return {"kind": "linear", "weight": weight, "bias": b}


def batchnorm(generator: torch.Generator, size: int, trained: bool = False, eps: float = 1e-5,
              momentum: float = 0.1) -> dict:
    """Fresh (gamma 1, beta 0, running 0 and 1) or trained-looking (all random)."""
    if trained:
        return {"kind": "bn", "weight": torch.rand(size, generator=generator, dtype=torch.float64) + 0.5,
                "bias": torch.randn(size, generator=generator, dtype=torch.float64) * 0.3,
                "running_mean": torch.randn(size, generator=generator, dtype=torch.float64) * 0.7,
                "running_var": torch.rand(size, generator=generator, dtype=torch.float64) * 2 + 0.3,
                "num_batches_tracked": 37, "eps": eps, "momentum": momentum}
    return {"kind": "bn", "weight": torch.ones(size, dtype=torch.float64), "bias": torch.zeros(size, dtype=torch.float64),
            "running_mean": torch.zeros(size, dtype=torch.float64), "running_var": torch.ones(size, dtype=torch.float64),
            "num_batches_tracked": 0, "eps": eps, "momentum": momentum}


def spec(layers: list[dict], dtype: torch.dtype = torch.float32) -> dict:
    """A spec whose tensors are rounded to ``dtype`` (so the judge computes on exactly the model's values)."""
    encoded = []
    for layer in layers:
        out = {}
        for key, value in layer.items():
            out[key] = wire.tensor(value.to(dtype)) if isinstance(value, torch.Tensor) else value
        encoded.append(out)
    return {"dtype": str(dtype).replace("torch.", ""), "layers": encoded}


# ----------------------------------------------------------------------------- sandbox side


def build(model_spec: dict):
    """The real nn.Sequential the learner's code receives."""
    from torch import nn

    dtype = getattr(torch, model_spec["dtype"])
    modules = []
    for layer in model_spec["layers"]:
        kind = layer["kind"]
        if kind == "linear":
            weight = wire.as_tensor(layer["weight"])
            module = nn.Linear(weight.shape[1], weight.shape[0], bias=layer["bias"] is not None, dtype=dtype)
            with torch.no_grad():
                module.weight.copy_(weight)
                if layer["bias"] is not None:
                    module.bias.copy_(wire.as_tensor(layer["bias"]))
        elif kind == "bn":
            mean = wire.as_tensor(layer["running_mean"])
            module = nn.BatchNorm1d(mean.shape[0], eps=layer["eps"], momentum=layer["momentum"],
                                    affine=layer["weight"] is not None, dtype=dtype)
            with torch.no_grad():
                module.running_mean.copy_(mean)
                module.running_var.copy_(wire.as_tensor(layer["running_var"]))
                module.num_batches_tracked.fill_(int(layer["num_batches_tracked"]))
                if layer["weight"] is not None:
                    module.weight.copy_(wire.as_tensor(layer["weight"]))
                    module.bias.copy_(wire.as_tensor(layer["bias"]))
        elif kind == "relu":
            module = nn.ReLU()
        elif kind == "sigmoid":
            module = nn.Sigmoid()
        elif kind == "dropout":
            module = nn.Dropout(layer["p"])
        else:
            raise ValueError(f"unknown layer {kind!r}")
        modules.append(module)
    return nn.Sequential(*modules)


# ----------------------------------------------------------------------------- judge side: float64


def parameters(model_spec: dict) -> list[torch.Tensor]:
    """The spec's parameters in model.parameters() order, as float64 tensors."""
    found = []
    for layer in model_spec["layers"]:
        for key in ("weight", "bias"):
            if layer["kind"] in ("linear", "bn") and layer.get(key) is not None:
                found.append(wire.as_tensor(layer[key], dtype=torch.float64))
    return found


def parameter_names(model_spec: dict) -> list[str]:
    return [f"{index}.{key}" for index, layer in enumerate(model_spec["layers"]) for key in ("weight", "bias")
            if layer["kind"] in ("linear", "bn") and layer.get(key) is not None]


def buffers(model_spec: dict) -> list[dict]:
    """Per BatchNorm layer: running_mean, running_var (float64) and num_batches_tracked."""
    return [{"running_mean": wire.as_tensor(layer["running_mean"], dtype=torch.float64),
             "running_var": wire.as_tensor(layer["running_var"], dtype=torch.float64),
             "num_batches_tracked": int(layer["num_batches_tracked"])}
            for layer in model_spec["layers"] if layer["kind"] == "bn"]


def forward(model_spec: dict, params: list[torch.Tensor], state: list[dict], x: torch.Tensor, *,
            training, masks: dict | None = None, upto: int | None = None):
    """(output, new BatchNorm state) of the model on ``x``, in float64.

    ``training``: BatchNorm with batch statistics (and updating the running ones) and Dropout
    multiplying by ``masks[layer index]``; otherwise running statistics and no dropout.  A list
    gives each layer's own mode.
    ``upto``: stop before that layer (for the logits).
    """
    h = x.to(torch.float64)
    next_param = iter(params)
    new_state = []
    bn_index = 0
    for index, layer in enumerate(model_spec["layers"]):
        if upto is not None and index >= upto:
            break
        kind = layer["kind"]
        mode = training[index] if isinstance(training, (list, tuple)) else training
        if kind == "linear":
            weight = next(next_param)
            bias = next(next_param) if layer["bias"] is not None else None
            h = h @ weight.T + (bias if bias is not None else 0)
        elif kind == "bn":
            gamma = next(next_param) if layer["weight"] is not None else None
            beta = next(next_param) if layer["bias"] is not None else None
            buffer = state[bn_index]
            bn_index += 1
            if mode:
                mean = h.mean(0)
                var = ((h - mean) ** 2).mean(0)
                n = h.shape[0]
                m = layer["momentum"]
                new_state.append({
                    "running_mean": (1 - m) * buffer["running_mean"] + m * mean.detach(),
                    "running_var": (1 - m) * buffer["running_var"] + m * var.detach() * n / max(n - 1, 1),
                    "num_batches_tracked": buffer["num_batches_tracked"] + 1})
            else:
                mean, var = buffer["running_mean"], buffer["running_var"]
                new_state.append(dict(buffer))
            h = (h - mean) / torch.sqrt(var + layer["eps"])
            if gamma is not None:
                h = h * gamma + beta
        elif kind == "relu":
            h = torch.relu(h)
        elif kind == "sigmoid":
            h = torch.sigmoid(h)
        elif kind == "dropout":
            if mode and layer["p"] > 0:
                h = h * masks[index]
    return h, new_state


def loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    targets = targets.to(torch.float64)
    if name == "bce":
        log_p = torch.clamp(torch.log(outputs), min=-100)
        log_q = torch.clamp(torch.log(1 - outputs), min=-100)
        return -(targets * log_p + (1 - targets) * log_q).mean()
    if name == "mse":
        return ((outputs - targets) ** 2).mean()
    raise ValueError(name)
