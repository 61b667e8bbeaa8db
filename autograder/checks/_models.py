"""Grading "put a BatchNorm layer here" exercises (bn_mlp, bn_cnn) by equivalence.

Sandbox side, :func:`collect_model`: construct the learner's class with no arguments, describe
its module tree (qualified names, class and MRO names, key attributes), its parameters and
buffers, then call it on the judge's inputs: a training batch (with ``backward`` of a weighted
sum the judge chose: the gradients of every parameter and of the input), a second training
batch of another size, an eval-mode batch; the buffers after each, the inputs afterwards, the
train/eval flags.  Before that it perturbs the gamma, beta and running statistics of every
normalization layer (from the judge's seed), so that hypotheses that coincide at PyTorch's
initial values (gamma 1, beta 0, running statistics 0 and 1) come apart.  A last traced
forward records which modules and torch functions ran: only to word a diagnosis.

Judge side, :func:`judge_model`: identify the learner's layers by the module tree, rebuild the
exercise's computation in float64 from *those* parameters (and buffers, eps, momentum), and
compare everything: outputs in training and eval mode, running statistics after each forward,
gradients, inputs unchanged.  When something differs, a catalogue of typical mistakes, each
simulated from the same parameters (the BatchNorm elsewhere, unused, thrown away, twice,
frozen, skipped or batch-statistics in eval mode, detached, another activation...), gives the
diagnosis; otherwise it says where the evidence first departs from the reference.

Nothing here is a model a learner could call for an answer: every reference runs on fresh
float64 copies of decoded evidence, so its result carries no gradient back to the caller.
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
from typing import Callable, Optional

import torch

from autograder.checks import call
from autograder.judge import wire
from autograder.judge.verdict import fail

F64 = torch.float64
ATTRIBUTES = ("in_features", "out_features", "num_features", "eps", "momentum", "affine", "track_running_stats",
              "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
              "padding_mode", "normalized_shape", "elementwise_affine", "num_groups", "p", "output_size")
NORM_KINDS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm",
              "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
              "RMSNorm")
KNOWN = ("Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", *NORM_KINDS, "ReLU", "ReLU6",
         "LeakyReLU", "Sigmoid", "Tanh", "GELU", "ELU", "Softmax", "Dropout", "Dropout1d", "Dropout2d",
         "AlphaDropout", "AdaptiveAvgPool2d", "AvgPool2d", "AdaptiveMaxPool2d", "MaxPool2d", "Flatten",
         "Identity", "Sequential", "ModuleList", "ModuleDict")
BN_STAT_FUNCTIONS = {"mean", "var", "std", "var_mean", "std_mean", "sqrt", "rsqrt", "sub", "__sub__", "div",
                     "__truediv__"}


# ============================================================================= sandbox side
def _record_module(name: str, module) -> dict:
    mro = [cls.__name__ for cls in type(module).__mro__][:12]
    attrs = {}
    for key in ATTRIBUTES:
        found = module.__dict__.get(key)
        if isinstance(found, (bool, int, float, str, tuple)) or (found is None and key == "momentum"
                                                                  and "momentum" in module.__dict__):
            attrs[key] = wire.value(found)
    return {"name": name, "class": type(module).__name__, "mro": mro, "attrs": attrs,
            "training": bool(module.__dict__.get("training", True))}


def _perturb(model, seed: int) -> None:
    """New gamma, beta and running statistics for every normalization layer (see the docstring)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, module in model.named_modules():
            if not any(cls.__name__ in NORM_KINDS for cls in type(module).__mro__):
                continue
            for key, make in (("weight", lambda s: 1.0 + 0.3 * torch.randn(s, generator=generator)),
                              ("bias", lambda s: 0.2 * torch.randn(s, generator=generator)),
                              ("running_mean", lambda s: 0.3 * torch.randn(s, generator=generator)),
                              ("running_var", lambda s: 0.6 + torch.rand(s, generator=generator))):
                tensor = module.__dict__.get("_parameters", {}).get(key)
                if tensor is None:
                    tensor = module.__dict__.get("_buffers", {}).get(key)
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                    tensor.copy_(make(tuple(tensor.shape)).to(tensor.dtype))


def _tensors(pairs) -> list:
    return [{"name": name, "tensor": wire.tensor(tensor), "requires_grad": bool(tensor.requires_grad)}
            for name, tensor in pairs if isinstance(tensor, torch.Tensor)]


def _buffers(model) -> list:
    return _tensors(list(model.named_buffers())[:64])


def _flags(model) -> dict:
    return {name or "(model)": bool(module.__dict__.get("training", True))
            for name, module in list(model.named_modules())[:64]}


def collect_model(namespace: dict, class_name: str, cases: dict) -> dict:
    """Sandbox side: the evidence described in the module docstring, as plain data."""
    from torch import nn

    if class_name not in namespace:
        return {"defined": False}
    cls = namespace[class_name]
    evidence: dict = {"defined": True, "is_class": inspect.isclass(cls), "type": type(cls).__name__}
    if not evidence["is_class"]:
        return evidence
    evidence["bases"] = [base.__name__ for base in cls.__bases__][:8]
    evidence["is_module"] = issubclass(cls, nn.Module)
    if not evidence["is_module"]:
        return evidence
    model, error = call(cls)
    if error is not None:
        evidence["construct"] = error
        return evidence
    if not isinstance(model, nn.Module):
        evidence["construct"] = {"kind": "object", "type": type(model).__name__, "repr": ""}
        return evidence
    evidence["construct"] = None
    _perturb(model, int(cases["perturb_seed"]))
    evidence["modules"] = [_record_module(name, module) for name, module in list(model.named_modules())[:64]]
    evidence["parameters"] = _tensors(list(model.named_parameters())[:64])
    evidence["buffers"] = _buffers(model)
    runs = []
    for run in cases["runs"]:
        x = wire.as_tensor(run["x"], "x")
        mode = run["mode"]
        if run.get("backward"):
            x.requires_grad_(True)
            for parameter in model.parameters():
                parameter.grad = None
        _, mode_error = call(model.train if mode == "train" else model.eval)
        record: dict = {"mode_error": mode_error, "flags": _flags(model)}
        output, error = call(model, x)
        record["output"] = error if error is not None else wire.value(output)
        if run.get("backward") and error is None:
            weights = wire.as_tensor(run["weights"], "weights")

            def backward():
                if isinstance(output, torch.Tensor) and output.numel() == weights.numel():
                    loss = (output * weights.reshape(output.shape).to(output.dtype)).sum()
                else:
                    loss = output.sum()
                loss.backward()

            _, problem = call(backward)
            record["backward"] = problem
            record["grads"] = [{"name": name, "grad": None if p.grad is None else wire.tensor(p.grad)}
                               for name, p in list(model.named_parameters())[:64]]
            record["input_grad"] = None if x.grad is None else wire.tensor(x.grad)
        record["buffers"] = _buffers(model)
        record["input_after"] = wire.tensor(x)
        runs.append(record)
    evidence["runs"] = runs
    evidence["trace"] = _trace(model, wire.as_tensor(cases["runs"][0]["x"], "x"))
    return evidence


def _trace(model, x: torch.Tensor) -> dict:
    """Which modules (in call order) and torch functions one more training forward ran: for the
    wording of a diagnosis only."""
    from torch.overrides import TorchFunctionMode

    calls: list = []
    functions: set = set()
    names = {id(module): name for name, module in model.named_modules()}

    class Names(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if len(functions) < 200:
                functions.add(str(getattr(func, "__name__", "?"))[:40])
            return func(*args, **(kwargs or {}))

    def pre_hook(module, inputs):
        if len(calls) < 64:
            calls.append(names.get(id(module), "?"))

    handles = [module.register_forward_pre_hook(pre_hook) for module in model.modules()]
    try:
        call(model.train)
        with Names():
            call(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return {"calls": calls, "functions": sorted(functions)}


# =============================================================================== judge side
@dataclasses.dataclass
class Module:
    name: str
    kind: Optional[str]  # the first known torch.nn class in its MRO ("Linear", "BatchNorm1d"...)
    classes: list  # the names of its MRO
    attrs: dict

    def attr(self, key, default=None):
        return self.attrs.get(key, default)


@dataclasses.dataclass
class Run:
    mode: str
    output: object  # wire encoding
    buffers: dict
    flags: dict
    input_after: torch.Tensor
    grads: Optional[dict] = None  # name -> tensor or None
    input_grad: Optional[torch.Tensor] = None
    backward: object = None


@dataclasses.dataclass
class Evidence:
    modules: list
    params: dict
    buffers: dict
    runs: list
    calls: list
    functions: set

    def module(self, name: str) -> Optional[Module]:
        return next((m for m in self.modules if m.name == name), None)

    def of_kind(self, *kinds) -> list:
        return [m for m in self.modules if m.kind in kinds]


def _attr_value(value):
    found = wire.kind(value)
    if found in {"none", "bool", "int", "number", "str"}:
        return value
    if found in {"float", "numpy_scalar"}:
        return wire.as_number(value)
    if found in {"tuple", "list"}:
        return tuple(_attr_value(item) for item in wire.items(value))
    return None


def _named_tensors(records, what: str) -> dict:
    if not isinstance(records, list):
        raise wire.Malformed(f"{what} is not a list")
    found = {}
    for record in records:
        name = wire.field(record, "name", what)
        if not isinstance(name, str):
            raise wire.Malformed(f"{what}: a name that is not text")
        found[name] = wire.as_tensor(wire.field(record, "tensor", what), name)
    return found


def decode(evidence: dict) -> Evidence:
    modules = []
    for record in wire.field(evidence, "modules"):
        mro = wire.field(record, "mro", "a module")
        name = wire.field(record, "name", "a module")
        attrs = wire.field(record, "attrs", "a module")
        if not isinstance(mro, list) or not all(isinstance(n, str) for n in mro) or not isinstance(name, str) \
                or not isinstance(attrs, dict):
            raise wire.Malformed("a module record")
        kind = next((n for n in mro if n in KNOWN), None)
        modules.append(Module(name, kind, mro, {key: _attr_value(value) for key, value in attrs.items()}))
    runs = []
    for record in wire.field(evidence, "runs"):
        flags = wire.field(record, "flags", "a run")
        if not isinstance(flags, dict):
            raise wire.Malformed("flags")
        run = Run(mode="", output=wire.field(record, "output", "a run"),
                  buffers=_named_tensors(wire.field(record, "buffers", "a run"), "buffers"),
                  flags={str(k): bool(v) for k, v in flags.items()},
                  input_after=wire.as_tensor(wire.field(record, "input_after", "a run"), "an input"))
        if "grads" in record:
            grads = {}
            for item in wire.field(record, "grads"):
                grad = wire.field(item, "grad", "a gradient")
                grads[str(wire.field(item, "name", "a gradient"))] = None if grad is None else wire.as_tensor(grad)
            run.grads = grads
            found = wire.field(record, "input_grad")
            run.input_grad = None if found is None else wire.as_tensor(found, "the input's gradient")
            run.backward = wire.field(record, "backward")
        runs.append(run)
    trace = wire.field(evidence, "trace")
    calls, functions = wire.field(trace, "calls", "the trace"), wire.field(trace, "functions", "the trace")
    if not isinstance(calls, list) or not isinstance(functions, list):
        raise wire.Malformed("the trace")
    return Evidence(modules, _named_tensors(wire.field(evidence, "parameters"), "parameters"),
                    _named_tensors(wire.field(evidence, "buffers"), "buffers"), runs,
                    [str(c) for c in calls], {str(f) for f in functions})


# --------------------------------------------------------------------------- the simulation
class State:
    """What a simulated forward reads and writes: the parameters (float64 leaves), the running
    buffers (updated in place of the dict), and the mode."""

    def __init__(self, params: dict, buffers: dict, flips: frozenset = frozenset()):
        self.params = params
        self.buffers = buffers
        self.mode = "train"
        self.backward = False
        self.flips = flips  # (ReLU call, element) whose side of the kink is taken the other way
        self.kinks: list = []  # (distance from 0, (ReLU call, element)) within KINK_BAND of the kink
        self.relu_calls = 0

    def param(self, name: str):
        return self.params.get(name)


Stage = Callable[[torch.Tensor, State], torch.Tensor]


def linear(module: Module) -> Stage:
    def run(x, state):
        weight, bias = state.param(f"{module.name}.weight"), state.param(f"{module.name}.bias")
        if weight is None or x.shape[-1] != weight.shape[1]:
            raise ValueError("shapes")
        y = x @ weight.T
        return y + bias if bias is not None else y
    return run


def conv2d(module: Module) -> Stage:
    def run(x, state):
        weight, bias = state.param(f"{module.name}.weight"), state.param(f"{module.name}.bias")
        return torch.nn.functional.conv2d(x, weight, bias, module.attr("stride", (1, 1)),
                                          module.attr("padding", (0, 0)), module.attr("dilation", (1, 1)),
                                          module.attr("groups", 1))
    return run


KINK_BAND = 1e-4


def relu(x, state):
    """ReLU; in the backward run it notes the inputs float32 cannot place on a side of the kink
    (within KINK_BAND of 0, relative to the largest), and takes the other side for ``state.flips``."""
    y = x.clamp(min=0)
    if not state.backward:
        return y
    call, state.relu_calls = state.relu_calls, state.relu_calls + 1
    values = x.detach().reshape(-1)
    band = KINK_BAND * max(1.0, float(values.abs().max())) if values.numel() else 0.0
    near = (values.abs() <= band).nonzero().flatten().tolist()
    state.kinks.extend((float(values[i].abs()), (call, i)) for i in near)
    flipped = [i for c, i in state.flips if c == call]
    if not flipped:
        return y
    mask = torch.zeros(values.numel(), dtype=torch.bool)
    mask[flipped] = True
    return torch.where(mask.reshape(x.shape), torch.where(x > 0, x * 0, x), y)


def sigmoid(x, state):
    return 1 / (1 + torch.exp(-x))


def tanh(x, state):
    return torch.tanh(x)


def identity(x, state):
    return x


def mean_pool(x, state):
    return x.mean(dim=(2, 3), keepdim=True)


def max_pool(x, state):
    return x.amax(dim=(2, 3), keepdim=True)


def flatten(x, state):
    return x.reshape(x.shape[0], -1)


BEHAVIOURS = ("standard", "frozen", "skip_eval", "batch_always", "thrown_away", "detached_stats", "no_running")


def batch_norm(module: Optional[Module], behaviour: str = "standard", dims: int = 2) -> Stage:
    """A BatchNorm of ``dims`` input dimensions (2: (N, C) for BatchNorm1d, 4 for BatchNorm2d),
    with PyTorch's semantics unless ``behaviour`` names a mistake (see BEHAVIOURS).  ``module``
    None: F.batch_norm without running statistics, gamma or beta."""

    def run(x, state):
        if x.dim() != dims and not (dims == 2 and x.dim() == 3):
            raise ValueError("shapes")
        prefix = module.name if module is not None else None
        gamma = state.param(f"{prefix}.weight") if prefix is not None else None
        beta = state.param(f"{prefix}.bias") if prefix is not None else None
        keys = [f"{prefix}.running_mean", f"{prefix}.running_var", f"{prefix}.num_batches_tracked"]
        tracking = prefix is not None and behaviour != "no_running" and keys[0] in state.buffers \
            and keys[1] in state.buffers and module.attr("track_running_stats", True) is not False
        train = state.mode == "train"
        if gamma is not None and gamma.shape[0] != x.shape[1]:
            raise ValueError("shapes")
        if tracking and state.buffers[keys[0]].shape[0] != x.shape[1]:
            raise ValueError("shapes")
        if behaviour == "thrown_away" or (behaviour == "skip_eval" and not train):
            if behaviour == "thrown_away" and train and tracking:
                _update(x, state, module, keys)
            return x
        use_batch = not tracking or (train and behaviour != "frozen") or behaviour == "batch_always"
        shape = [1, -1] + [1] * (x.dim() - 2)
        if use_batch:
            axes = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=axes, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
            if behaviour == "detached_stats":
                mean, var = mean.detach(), var.detach()
            if tracking and (train or behaviour == "batch_always"):
                _update(x, state, module, keys)
        else:
            mean = state.buffers[keys[0]].reshape(shape)
            var = state.buffers[keys[1]].reshape(shape)
        eps = float(module.attr("eps", 1e-5)) if module is not None else 1e-5
        y = (x - mean) / torch.sqrt(var + eps)
        if gamma is not None:
            y = y * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape)
        return y

    return run


def _update(x, state, module: Module, keys) -> None:
    axes = [0] + list(range(2, x.dim()))
    values = x.detach()
    count = values.numel() // values.shape[1]
    mean = values.mean(dim=axes)
    unbiased = ((values - values.mean(dim=axes, keepdim=True)) ** 2).sum(dim=axes) / max(count - 1, 1)
    momentum = module.attr("momentum", 0.1)
    if keys[2] in state.buffers:
        state.buffers[keys[2]] = state.buffers[keys[2]] + 1
    if momentum is None:
        tracked = float(state.buffers[keys[2]].item()) if keys[2] in state.buffers else 1.0
        momentum = 1.0 / max(tracked, 1.0)
    momentum = float(momentum)
    state.buffers[keys[0]] = (1 - momentum) * state.buffers[keys[0]] + momentum * mean
    state.buffers[keys[1]] = (1 - momentum) * state.buffers[keys[1]] + momentum * unbiased


@dataclasses.dataclass
class Prediction:
    outputs: list  # one float64 tensor per run
    buffers: list  # one {name: tensor} per run
    grads: dict  # parameter name -> tensor (None: no gradient)
    input_grad: Optional[torch.Tensor]
    kinks: list = dataclasses.field(default_factory=list)  # ReLU inputs near 0, nearest first: see relu


def simulate(stages: list, ev: Evidence, cases: dict, flips: frozenset = frozenset()) -> Optional[Prediction]:
    """The evidence the computation ``stages`` would have produced from the learner's own
    parameters and buffers on the cases; None when it cannot run on them (shapes).  ``flips``:
    see :func:`relu` and :func:`agrees`."""
    params = {name: tensor.to(F64).requires_grad_(True) for name, tensor in ev.params.items()
              if tensor.is_floating_point()}
    buffers = {name: tensor.to(F64) if tensor.is_floating_point() else tensor.clone()
               for name, tensor in ev.buffers.items()}
    state = State(params, buffers, flips)
    outputs, after, grads, input_grad = [], [], {}, None
    try:
        for run in cases["runs"]:
            state.mode = run["mode"]
            x = wire.as_tensor(run["x"], "x", dtype=F64)
            backward = bool(run.get("backward"))
            state.backward = backward
            if backward:
                x.requires_grad_(True)
            with torch.enable_grad() if backward else torch.no_grad():
                y = x
                for stage in stages:
                    y = stage(y, state)
            if backward:
                weights = wire.as_tensor(run["weights"], "weights", dtype=F64).reshape(y.shape)
                leaves = list(params.items())
                found = torch.autograd.grad((y * weights).sum(), [x] + [p for _, p in leaves], allow_unused=True)
                input_grad = found[0]
                grads = {name: grad for (name, _), grad in zip(leaves, found[1:])}
            outputs.append(y.detach())
            after.append({name: tensor.detach().clone() for name, tensor in buffers.items()})
    except (ValueError, RuntimeError, IndexError):
        return None
    return Prediction(outputs, after, grads, input_grad, sorted(state.kinks))


# ------------------------------------------------------------------------------- comparing
def close(found, expected, floor: float = 0.1) -> bool:
    """float32 evidence against a float64 reference: relative to the reference's scale."""
    if found is None or expected is None:
        return found is None and expected is None
    if tuple(found.shape) != tuple(expected.shape):
        return False
    found = found.to(F64)
    if found.numel() == 0:
        return True
    if not bool(torch.isfinite(found).all()):
        return False
    scale = max(float(expected.abs().max()), floor)
    return bool(((found - expected).abs() <= 5e-5 * scale + 1e-4 * expected.abs()).all())


def output_tensor(encoded) -> Optional[torch.Tensor]:
    return wire.as_tensor(encoded, "an output") if wire.kind(encoded) == "tensor" else None


def outputs_match(pred: Prediction, ev: Evidence) -> bool:
    for expected, run in zip(pred.outputs, ev.runs):
        if not close(output_tensor(run.output), expected):
            return False
    return True


def running_statistics(name: str) -> bool:
    """The buffers compared: running means and variances (num_batches_tracked only counts; with
    momentum=None it weights the updates, and those show in the running statistics)."""
    return name.rpartition(".")[2] in {"running_mean", "running_var"}


def buffers_match(pred: Prediction, ev: Evidence) -> bool:
    for expected, run in zip(pred.buffers, ev.runs):
        for name, value in expected.items():
            if not running_statistics(name):
                continue
            found = run.buffers.get(name)
            if found is None or not close(found, value, floor=1.0):
                return False
    return True


def matches(pred: Optional[Prediction], ev: Evidence) -> bool:
    return pred is not None and outputs_match(pred, ev) and buffers_match(pred, ev)


KINKS_TRIED = 8


def agrees(stages: list, ev: Evidence, cases: dict) -> bool:
    """``ev`` is what ``stages`` compute: outputs, running statistics and gradients.

    A ReLU input within float32's rounding of 0 can land on either side of the kink in the
    learner's float32 run, and one such element moves a whole channel's weight gradient through
    the batch statistics (right bn_cnn answers failed 3 of 1,739 random draws so): when the
    gradients differ, the same computation is tried with one or two of those elements (of the
    KINKS_TRIED nearest to 0) on the other side.  Only the side of inputs float32 cannot place is
    chosen: nothing else is loosened."""
    pred = simulate(stages, ev, cases)
    if pred is None or not matches(pred, ev):
        return False
    if _gradients_agree(pred, ev):
        return True
    near = [element for _, element in pred.kinks[:KINKS_TRIED]]
    for size in (1, 2):
        for flips in itertools.combinations(near, size):
            other = simulate(stages, ev, cases, frozenset(flips))
            if other is not None and _gradients_agree(other, ev):
                return True
    return False


def _gradients_agree(pred: Prediction, ev: Evidence) -> bool:
    missing, wrong, _ = grad_problems(pred, ev)
    return not missing and not wrong


def largest_difference(found, expected) -> str:
    if found is None or tuple(found.shape) != tuple(expected.shape):
        return ""
    return f" (largest difference {float((found.to(F64) - expected).abs().max()):.3g})"


def grad_problems(pred: Prediction, ev: Evidence) -> tuple[list, list, bool]:
    """(names without a gradient that should get one, names with a wrong gradient, input ok)."""
    run = ev.runs[0]
    missing, wrong = [], []
    for name, expected in pred.grads.items():
        found = run.grads.get(name) if run.grads is not None else None
        if expected is None or float(expected.abs().max()) < 1e-7:
            if found is not None and not close(found, torch.zeros_like(expected) if expected is not None
                                              else found.to(F64) * 0):
                wrong.append(name)
            continue
        if found is None or float(found.abs().max()) == 0.0:
            missing.append(name)
        elif not close(found, expected):
            wrong.append(name)
    expected = pred.input_grad
    found = run.input_grad
    if expected is None:
        input_ok = True
    elif found is None or float(found.abs().max()) == 0.0:
        input_ok = False
        missing.append("the input x")
    else:
        input_ok = close(found, expected)
        if not input_ok:
            wrong.append("the input x")
    return missing, wrong, input_ok


def label(module: Module) -> str:
    """How the learner reads one of their layers: Linear(20, 64), BatchNorm1d(64)..."""
    a = module.attr
    if module.kind in {"Linear", "LazyLinear"}:
        return f"Linear({a('in_features')}, {a('out_features')})"
    if module.kind and module.kind.startswith("Conv"):
        kernel = a("kernel_size", ("?",))
        text = f"{module.kind}({a('in_channels')}, {a('out_channels')}, {kernel[0] if kernel else '?'}"
        padding = a("padding", (0,))
        if isinstance(padding, tuple) and any(padding):
            text += f", padding={padding[0]}"
        return text + ")"
    if module.kind and "BatchNorm" in module.kind or module.kind in {"InstanceNorm1d", "InstanceNorm2d"}:
        return f"{module.kind}({a('num_features')})"
    if module.kind == "LayerNorm":
        shape = a("normalized_shape", ())
        return f"LayerNorm({shape[0] if len(shape) == 1 else shape})"
    if module.kind == "Dropout":
        return f"Dropout({a('p')})"
    if module.kind == "AdaptiveAvgPool2d":
        return "AdaptiveAvgPool2d(1)"
    return module.kind or module.classes[0]


def layers_called(ev: Evidence) -> str:
    """The layers forward called, in order (containers left out), from the trace."""
    names = []
    for name in ev.calls:
        module = ev.module(name)
        if module is None or not name or module.kind in {None, "Sequential", "ModuleList", "ModuleDict"}:
            continue
        names.append(label(module))
    return " -> ".join(names)


# ------------------------------------------------------------------------------ exercises
@dataclasses.dataclass
class Slot:
    """One stage of the exercise's computation: a layer found in the module tree by ``find``
    (``stage`` builds its simulation from the module), or a function of the values (``find``
    None, ``stage`` the simulation itself: ReLU in any spelling is the same values)."""

    key: str
    label: str
    stage: Callable
    find: Optional[Callable[[Module], bool]] = None


@dataclasses.dataclass
class Spec:
    class_name: str
    slots: list  # in order; exactly one has key "bn"
    bn_kind: str  # "BatchNorm1d"
    bn_dims: int  # 2 for (N, C), 4 for (N, C, H, W)
    num_features: int
    after_label: str  # "Linear(20, 64)"
    layer_kind: str  # "Linear" / "Conv2d"
    output_shape: Callable[[int], tuple]
    output_words: str  # "one probability per example"
    examples: str  # "examples" / "images"
    substitutions: list  # (slot key, label or None (left out), stage, hint)
    lines: list  # the ✓ lines

    @property
    def bn_label(self) -> str:
        return f"{self.bn_kind}({self.num_features})"

    @property
    def expected(self) -> str:
        return " -> ".join(slot.label for slot in self.slots)

    @property
    def activation_label(self) -> str:
        slots = [slot.key for slot in self.slots]
        return self.slots[slots.index("bn") + 1].label

    def bn_slot(self) -> Slot:
        return next(slot for slot in self.slots if slot.key == "bn")


USES = {"BatchNorm1d": "features of shape (N, C) or (N, C, L)", "BatchNorm2d": "conv feature maps (N, C, H, W)",
        "BatchNorm3d": "volumetric data (N, C, D, H, W)"}


def _wrong_kind(found: str, spec: Spec) -> str:
    return (f"You used {found}, which is for {USES.get(found, 'other shapes')}; here it normalizes "
            f"{USES[spec.bn_kind]}: use nn.{spec.bn_kind}.")


def _is_bn(module: Module, spec: Spec) -> bool:
    return module.kind == spec.bn_kind


def not_defined(name: str) -> str:
    return (f"{name} is not defined: name your class {name} and run its cell before this test. (Not answered yet? "
            f"Replace the cell's raise NotImplementedError() with your class.)")


def _class_checks(spec: Spec, raw: dict) -> None:
    name = spec.class_name
    if wire.field(raw, "defined") is not True:
        fail(not_defined(name))
    if wire.field(raw, "is_class") is not True:
        fail(f"{name} should be a class (class {name}(nn.Module): ...), but it is a {raw.get('type')!s:.60}.")
    if wire.field(raw, "is_module") is not True:
        bases = raw.get("bases") if isinstance(raw.get("bases"), list) else []
        fail(f"{name} should subclass nn.Module (class {name}(nn.Module): ...), but its bases are "
             f"{', '.join(str(b)[:40] for b in bases) or 'none'}.")
    problem = wire.field(raw, "construct")
    if problem is not None:
        if wire.kind(problem) == "error":
            if problem.get("type") == "NotImplementedError":
                fail(f"Not answered yet: {name}() still raises NotImplementedError; replace it with your code.")
            fail(f"{name}() (constructing it with no arguments) raised {problem.get('type')}: "
                 f"{problem.get('message')}")
        fail(f"{name}() did not return an nn.Module.")


def _what_run(spec: Spec, run: dict) -> str:
    n = wire.as_tensor(run["x"], "x").shape[0]
    return f"on {'a training' if run['mode'] == 'train' else 'an eval-mode'} batch of {n} {spec.examples}"


def _run_checks(spec: Spec, cases: dict, ev: Evidence) -> None:
    name = spec.class_name
    wrong_kinds = [m.kind for m in ev.modules if m.kind in USES and m.kind != spec.bn_kind]
    for run, record in zip(cases["runs"], ev.runs):
        x = wire.as_tensor(run["x"], "x")
        output = record.output
        if wire.kind(output) == "error":
            if output.get("type") == "NotImplementedError":
                fail(f"Not answered yet: {name}'s forward still raises NotImplementedError; replace it with your code.")
            if wrong_kinds:
                fail(_wrong_kind(wrong_kinds[0], spec))
            if run["mode"] == "eval":
                fail(f"{name} fails in eval mode ({output.get('type')}: {output.get('message')}); at inference "
                     f"BatchNorm uses its running statistics and must work for any batch size.")
            fail(f"{name}()(x) raised {output.get('type')} for an input of shape {tuple(x.shape)} "
                 f"({run['mode']} mode): {output.get('message')}")
        if wire.kind(output) != "tensor" or output.get("numpy"):
            fail(f"{name}'s forward returned {wire.describe(output)}; it should return a tensor.")
        expected = spec.output_shape(x.shape[0])
        if tuple(output["shape"]) != expected:
            fail(f"{name} returned shape {tuple(output['shape'])} for {x.shape[0]} {spec.examples}; expected "
                 f"{expected}: {spec.output_words}.")
    constant = True
    for record in ev.runs:
        out = output_tensor(record.output)
        if out.shape[0] > 1 and not bool((out == out[:1]).all()):
            constant = False
    if constant:
        fail(f"{name}'s output does not depend on its input: forward must return the layers applied to x, "
             f"not a fixed tensor.")


def _candidates(spec: Spec, ev: Evidence) -> dict:
    return {slot.key: [m for m in ev.modules if slot.find(m)] for slot in spec.slots if slot.find is not None}


def _stages(spec: Spec, chosen: dict, replace: Optional[dict] = None) -> list:
    stages = []
    for slot in spec.slots:
        if replace and slot.key in replace:
            if replace[slot.key] is not None:
                stages.extend(replace[slot.key] if isinstance(replace[slot.key], list) else [replace[slot.key]])
            continue
        stages.append(slot.stage(chosen[slot.key]) if slot.find is not None else slot.stage)
    return stages


def _inputs_unchanged(cases: dict, ev: Evidence) -> bool:
    return all(torch.equal(record.input_after, wire.as_tensor(run["x"], "x"))
               for run, record in zip(cases["runs"], ev.runs))


def _defaults(spec: Spec, ev: Evidence, bn: Module) -> None:
    label_ = spec.bn_label
    if not [name for name in list(ev.params) + list(ev.buffers) if name.startswith(f"{bn.name}.")]:
        fail(f"Your {label_} has no gamma, beta or running statistics: it is not an nn.{label_} (a layer named "
             f"like it is not the layer); use nn.{label_}.")
    if bn.attr("affine") is False or f"{bn.name}.weight" not in ev.params or f"{bn.name}.bias" not in ev.params:
        fail(f"Your {label_} has affine=False: it has no gamma and beta to learn; the exercise asks for "
             f"PyTorch's default affine=True (nn.{label_}).")
    if bn.attr("track_running_stats") is False or f"{bn.name}.running_mean" not in ev.buffers:
        fail(f"Your {label_} has track_running_stats=False: it keeps no running statistics, so in eval mode it "
             f"still normalizes with the batch's statistics; the exercise asks for PyTorch's default "
             f"track_running_stats=True (nn.{label_}).")


def _layer_of(name: str, ev: Evidence) -> str:
    if name == "the input x":
        return name
    owner, _, short = name.rpartition(".")
    module = ev.module(owner)
    what = {"weight": "weight", "bias": "bias"}.get(short, short)
    if module is not None and module.kind in {"BatchNorm1d", "BatchNorm2d"}:
        what = {"weight": "gamma (weight)", "bias": "beta (bias)"}.get(short, short)
    return f"your {label(module)}'s {what}" if module is not None else f"the parameter {name}"


def judge_model(spec: Spec, cases: dict, raw: dict) -> list:
    """The ✓ lines when the learner's model computes the exercise's computation (see the
    module docstring); raises CheckFailed with the diagnosis otherwise."""
    _class_checks(spec, raw)
    ev = decode(raw)
    if len(ev.runs) != len(cases["runs"]):
        raise wire.Malformed("one record per run expected")
    for run, record in zip(cases["runs"], ev.runs):
        record.mode = run["mode"]
    _run_checks(spec, cases, ev)
    found = _candidates(spec, ev)
    combos = []
    if all(found.values()):
        combos = list(itertools.islice(itertools.product(*found.values()), 16))
    for combo in combos:
        chosen = dict(zip(found.keys(), combo))
        _defaults(spec, ev, chosen["bn"])
        if agrees(_stages(spec, chosen), ev, cases) and _inputs_unchanged(cases, ev):
            return list(spec.lines)
    _diagnose(spec, cases, ev, found, combos)
    raise AssertionError("unreachable")  # _diagnose always fails


def _misplaced(position: int, spec: Spec) -> str:
    move = f"move it between the {spec.layer_kind} layer and the activation"
    others = [slot for slot in spec.slots if slot.key != "bn"]
    kind = spec.bn_kind
    if position == 0:
        return f"{kind} normalizes the input, before the first {others[0].label}: {move}."
    before = others[position - 1]
    if position == len(others):
        return f"{kind} is on the output, after the final {before.label}: {move}."
    after = others[position]
    if position == len(others) - 1 and after.key == "sigmoid":
        return (f"{kind} is on the output, just before the final {after.label}; there it forces the outputs "
                f"towards the same value: {move}.")
    if before.key in {"relu", "tanh", "sigmoid"}:
        return f"{kind} comes after the {before.label}: {move}."
    return f"{kind} comes after {before.label} and before {after.label}: {move}."


def _diagnose(spec: Spec, cases: dict, ev: Evidence, found: dict, combos: list) -> None:
    name, bn_label, after, act = spec.class_name, spec.bn_label, spec.after_label, spec.activation_label
    first = {key: modules[0] for key, modules in found.items() if modules}
    others_found = all(found[slot.key] for slot in spec.slots if slot.find is not None and slot.key != "bn")
    bns = [m for m in ev.modules if _is_bn(m, spec)]
    bn_index = [slot.key for slot in spec.slots].index("bn")

    def try_(stages) -> Optional[Prediction]:
        pred = simulate(stages, ev, cases)
        return pred if matches(pred, ev) else None

    if combos:
        chosen = dict(zip(found.keys(), combos[0]))
        bn = chosen["bn"]
        reference = simulate(_stages(spec, chosen), ev, cases)
        if reference is not None and matches(reference, ev):
            _diagnose_gradients(spec, cases, ev, chosen, reference)
        behaviours = [
            ("frozen", f"Your {bn_label} normalizes with its running statistics, as in eval mode; in training "
                       f"mode it must use the batch's mean and variance: don't put it in eval mode (no .eval() or "
                       f"training=False for that layer while the model trains)."),
            ("thrown_away", f"Your {bn_label} runs but its result is thrown away: assign it (x = self.bn(x)) and "
                            f"pass that on to the {act}."),
            ("skip_eval", f"In eval mode your {name} skips its {bn_label}: after model.eval() the layer must still "
                          f"normalize, with its running statistics (call it in both modes)."),
            ("batch_always", f"In eval mode your {bn_label} still normalizes with the batch's statistics (and "
                             f"keeps updating its running statistics), so a prediction depends on the rest of "
                             f"the batch: after model.eval() it must use its running statistics"
                             + _eval_flag_words(ev, bn) + "."),
        ]
        for behaviour, message in behaviours:
            stages = _stages(spec, chosen, {"bn": batch_norm(bn, behaviour, spec.bn_dims)})
            if try_(stages):
                fail(message)
        for key, replacement, stage, hint in spec.substitutions:
            if try_(_stages(spec, chosen, {key: stage})):
                labels = [(replacement if slot.key == key else slot.label) for slot in spec.slots]
                computes = " -> ".join(text for text in labels if text)
                fail(f"Your forward computes {computes}; the exercise asks for {spec.expected}{hint}.")
    if others_found:
        rest = {key: modules for key, modules in first.items() if key != "bn"}
        for b in bns:
            for position in range(len(spec.slots)):
                if position == bn_index:
                    continue
                slots = [slot for slot in spec.slots if slot.key != "bn"]
                stages = [slot.stage(rest[slot.key]) if slot.find is not None else slot.stage for slot in slots]
                stages.insert(position, batch_norm(b, "standard", spec.bn_dims))
                if try_(stages):
                    fail(_misplaced(position, spec))
        for a, b in itertools.product(bns, repeat=2):
            if try_(_stages(spec, {**rest, "bn": a}, {"bn": [batch_norm(a, "standard", spec.bn_dims),
                                                              batch_norm(b, "standard", spec.bn_dims)]})):
                fail(f"Your forward normalizes 2 times; the exercise asks for exactly one {bn_label}, between "
                     f"{after} and the {act}.")
        if try_(_stages(spec, rest, {"bn": None})):
            if bns:
                fail(f"Your model defines {spec.bn_kind} but forward never uses it: call it on the output of "
                     f"{after}, before the {act}.")
            if not [m for m in ev.modules if m.kind in NORM_KINDS]:
                fail(f"No {bn_label} normalizes the hidden layer: add nn.{bn_label} between {after} and the {act}.")
    wrong_kinds = [m.kind for m in ev.modules if m.kind in USES and m.kind != spec.bn_kind]
    if not bns and wrong_kinds:
        fail(_wrong_kind(wrong_kinds[0], spec))
    other_norms = [m for m in ev.modules if m.kind in NORM_KINDS and m.kind not in USES]
    over = "each feature over the batch" if spec.bn_dims == 2 else "each channel over the batch and all positions"
    if not bns and other_norms:
        fail(f"You normalize with {other_norms[0].kind}; the exercise asks for nn.{bn_label}, which normalizes "
             f"{over}.")
    if not bns and "batch_norm" in ev.functions:
        fail(f"You call F.batch_norm directly; create an nn.{bn_label} layer in __init__ and call it in forward.")
    if not bns and {"layer_norm", "group_norm", "instance_norm"} & ev.functions:
        fail(f"You normalize with {sorted({'layer_norm', 'group_norm', 'instance_norm'} & ev.functions)[0]}; the "
             f"exercise asks for nn.{bn_label}, which normalizes {over}.")
    if not bns and others_found and BN_STAT_FUNCTIONS & ev.functions:
        fail(f"You normalize by hand; the exercise asks for the layer nn.{bn_label}, between {after} and the {act}.")
    layers = [label(m) for m in ev.modules if m.kind and m.kind not in {"Sequential", "ModuleList", "ModuleDict"}]
    if not combos:
        missing = [slot.label for slot in spec.slots if slot.find is not None and not found[slot.key]]
        if not bns and others_found:
            fail(f"No {bn_label} normalizes the hidden layer: add nn.{bn_label} between {after} and the {act}.")
        fail(f"Your model has {', '.join(layers) or 'no layers'} but no {' and no '.join(missing)}; the exercise "
             f"asks for {spec.expected}.")
    chosen = dict(zip(found.keys(), combos[0]))
    reference = simulate(_stages(spec, chosen), ev, cases)
    called = layers_called(ev)
    calls = f" (your forward calls these modules, in order: {called})" if called else ""
    if reference is None:
        fail(f"Your layers do not fit together as {spec.expected}{calls}; the exercise asks for {spec.expected}.")
    for index, (run, record) in enumerate(zip(cases["runs"], ev.runs)):
        out, expected = output_tensor(record.output), reference.outputs[index]
        if not close(out, expected):
            if run["mode"] == "train" and all(close(output_tensor(r.output), e) for r, e, c in
                                             zip(ev.runs, reference.outputs, cases["runs"]) if c["mode"] == "eval") \
                    and buffers_match(reference, ev):
                fail(f"In training mode {name}'s output {_what_run(spec, run)} differs from {spec.expected} computed "
                     f"with your layers' own parameters{largest_difference(out, expected)}, while eval mode agrees: "
                     f"something random or training-only is in the way (Dropout?){calls}; the exercise asks for "
                     f"{spec.expected}.")
            fail(f"{name}'s output {_what_run(spec, run)} differs from {spec.expected} computed with your layers' own "
                 f"parameters{largest_difference(out, expected)}{calls}; the exercise asks for {spec.expected}.")
        for key, value in reference.buffers[index].items():
            if not running_statistics(key):
                continue
            got = record.buffers.get(key)
            if got is None or not close(got, value, floor=1.0):
                fail(f"After a forward {_what_run(spec, run)}, your model's buffer {key} is "
                     f"{'missing' if got is None else 'not what nn.' + spec.bn_kind + ' gives'}"
                     f"{largest_difference(got, value)}: running statistics follow PyTorch's "
                     f"new = (1 - momentum) * old + momentum * batch statistic (unbiased variance), in training mode "
                     f"only{calls}; the exercise asks for {spec.expected}.")
    fail(f"{name} does not compute {spec.expected}{calls}; the exercise asks for {spec.expected}.")


def _eval_flag_words(ev: Evidence, bn: Module) -> str:
    eval_flags = [record.flags for record in ev.runs if record.mode == "eval"]
    if eval_flags and eval_flags[-1].get(bn.name) is True:
        return " (after model.eval() your layer is still in training mode: don't override eval() or train())"
    return ""


def _diagnose_gradients(spec: Spec, cases: dict, ev: Evidence, chosen: dict, reference: Prediction) -> None:
    bn = chosen["bn"]
    bn_label = spec.bn_label
    run = ev.runs[0]
    missing, wrong, _ = grad_problems(reference, ev)
    advice = ("its result must be part of the computation that produces the output, with gradients enabled: no "
              ".detach(), torch.no_grad() or NumPy round trip in forward")
    if run.backward is not None and wire.kind(run.backward) == "error" and run.grads is not None \
            and all(g is None for g in run.grads.values()):
        fail(f"Backpropagating through your model failed ({run.backward.get('type')}: "
             f"{str(run.backward.get('message'))[:200]}); don't detach tensors or use torch.no_grad() inside forward.")
    gamma, beta = f"{bn.name}.weight", f"{bn.name}.bias"
    if gamma in missing and beta in missing:
        fail(f"No gradient reaches your {bn_label}: its gamma and beta get none, so training cannot learn them; "
             f"{advice}.")
    if missing == ["the input x"]:
        fail("No gradient reaches the input x: your forward cuts x off from autograd (.detach(), .numpy(), "
             "torch.tensor(x)...); gradients must flow back to the input, as through any layer.")
    if missing:
        fail(f"No gradient reaches {', '.join(_layer_of(n, ev) for n in missing)}: training cannot learn "
             f"{'it' if len(missing) == 1 else 'them'}; {advice}.")
    if wrong:
        detached = simulate(_stages(spec, chosen, {"bn": batch_norm(bn, "detached_stats", spec.bn_dims)}), ev, cases)
        if detached is not None and not any(grad_problems(detached, ev)[:2]):
            fail(f"The gradients through your {bn_label} are wrong: its batch mean and variance are cut off from "
                 f"autograd (computed under torch.no_grad() or detached). Training needs the gradient through them "
                 f"(Ioffe & Szegedy, section 2): let nn.{bn_label} normalize, unchanged.")
        name = wrong[0]
        expected = reference.input_grad if name == "the input x" else reference.grads.get(name)
        got = run.input_grad if name == "the input x" else (run.grads or {}).get(name)
        fail(f"The gradient of the output with respect to {_layer_of(name, ev)} differs from that of "
             f"{spec.expected}{largest_difference(got, expected) if expected is not None else ''}; don't change "
             f"gradients in forward (custom autograd functions, hooks, detached pieces).")
    if not _inputs_unchanged(cases, ev):
        fail("Your forward changes its input x in place; compute new tensors (no x.relu_(), x -= ..., or "
             "x.data manipulation on the input).")
