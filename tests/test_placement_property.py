"""Property test: the bn_mlp judge against an independent numerical oracle, over generated models.

A generator builds ``BatchNormMLP`` variants from a handful of choices (layer order, the spelling
of the ReLU, the sigmoid and the normalization, the BatchNorm's settings and modes, detached
pieces, extra layers, containers).  Each variant is labelled right or wrong by an oracle that
shares no code with the judge: it builds ``nn.Sequential(Linear(20, 64), BatchNorm1d(64), ReLU,
Linear(64, 1), Sigmoid)``, copies the variant's own layers into it (after giving the BatchNorm a
random gamma, beta and running statistics), and compares the two models on batches of its own:
outputs in training and eval mode, running statistics, gradients of every parameter and of the
input, the inputs afterwards.  The judge grades the same variant as the grader does (``gather``
and ``verdict`` in process, on the visible and one hidden case).  Reported: the false passes
(the judge passed what the oracle calls wrong) and false fails, both must be 0.

    .venv/bin/python -m pytest tests/test_placement_property.py -s
"""
from __future__ import annotations

import itertools
import random

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import VISIBLE_SEED, exercise_module, gather, roundtrip
from autograder.judge.decide import verdict

RIGHT = {
    "container": ["attributes", "sequential", "module_list"],
    "bias": [True, False],
    "relu": ["module", "F.relu", "clamp", "maximum", "mask", "where", "inplace", "tensor_method"],
    "sigmoid": ["module", "torch", "exp", "expit", "method"],
    "norm": ["bn", "bn_eps", "bn_momentum_none", "bn_momentum_half", "bn_subclass", "functional_with_state"],
    "place": ["right"],
    "mode": ["standard"],
    "grad": ["none"],
    "extra": ["none", "identity", "unused_linear"],
}
WRONG = {
    "relu": ["leaky", "tanh", "none", "softplus", "relu6"],
    "sigmoid": ["none", "tanh"],
    "norm": ["layer_norm", "functional_no_state", "affine_false", "no_running_stats", "by_hand", "batchnorm2d",
             "fake_named"],
    "place": ["after_relu", "input", "before_sigmoid", "after_sigmoid", "unused", "thrown_away", "twice",
              "same_twice"],
    "mode": ["frozen", "skip_eval", "batch_always", "eval_override"],
    "grad": ["detach_bn_output", "detach_linear_weight", "no_grad_bn", "numpy_input", "detached_statistics",
             "detach_head_weight", "numpy_hidden"],
    "extra": ["dropout", "scaled_output", "batch_size_32_only"],
}


class DetachedStatisticsBN(nn.BatchNorm1d):
    """Right outputs and running statistics; the batch statistics outside autograd."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        with torch.no_grad():
            mean, var = x.mean(0), x.var(0, unbiased=False)
            m = 0.1 if self.momentum is None else self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * x.var(0, unbiased=True))
            self.num_batches_tracked += 1
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class SubclassBN(nn.BatchNorm1d):
    pass


class FakeBatchNorm1d(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def _norm_module(norm: str, n: int, grad: str):
    if grad == "detached_statistics" and norm.startswith("bn"):
        return DetachedStatisticsBN(n)
    return {
        "bn": lambda: nn.BatchNorm1d(n), "bn_eps": lambda: nn.BatchNorm1d(n, eps=1e-3),
        "bn_momentum_none": lambda: nn.BatchNorm1d(n, momentum=None),
        "bn_momentum_half": lambda: nn.BatchNorm1d(n, momentum=0.5), "bn_subclass": lambda: SubclassBN(n),
        "functional_with_state": lambda: nn.BatchNorm1d(n), "layer_norm": lambda: nn.LayerNorm(n),
        "affine_false": lambda: nn.BatchNorm1d(n, affine=False),
        "no_running_stats": lambda: nn.BatchNorm1d(n, track_running_stats=False),
        "batchnorm2d": lambda: nn.BatchNorm2d(n), "fake_named": lambda: FakeBatchNorm1d(n),
    }.get(norm, lambda: None)()


def _relu(kind: str, h):
    return {
        "module": lambda: nn.ReLU()(h), "F.relu": lambda: F.relu(h), "clamp": lambda: h.clamp(min=0),
        "maximum": lambda: torch.maximum(h, torch.zeros_like(h)), "mask": lambda: h * (h > 0),
        "where": lambda: torch.where(h > 0, h, torch.zeros_like(h)), "inplace": lambda: F.relu(h.clone(), inplace=True),
        "tensor_method": lambda: h.relu(), "leaky": lambda: F.leaky_relu(h, 0.01), "tanh": lambda: torch.tanh(h),
        "none": lambda: h, "softplus": lambda: F.softplus(h), "relu6": lambda: F.relu6(h),
    }[kind]()


def _sigmoid(kind: str, z):
    return {
        "module": lambda: nn.Sigmoid()(z), "torch": lambda: torch.sigmoid(z), "exp": lambda: 1 / (1 + torch.exp(-z)),
        "expit": lambda: torch.special.expit(z), "method": lambda: z.sigmoid(), "none": lambda: z,
        "tanh": lambda: torch.tanh(z),
    }[kind]()


def make_variant(cfg: dict) -> type:
    """The class BatchNormMLP that ``cfg`` describes."""
    place, norm, mode, grad = cfg["place"], cfg["norm"], cfg["mode"], cfg["grad"]
    width = {"input": 20, "before_sigmoid": 1, "after_sigmoid": 1}.get(place, 64)

    class BatchNormMLP(nn.Module):
        def __init__(self):
            super().__init__()
            lin1, lin2 = nn.Linear(20, 64, bias=cfg["bias"]), nn.Linear(64, 1)
            bn = _norm_module(norm, width, grad)
            bn2 = _norm_module(norm, width, grad) if place == "twice" else None
            layers = [lin1, lin2] + [m for m in (bn, bn2) if m is not None]
            if cfg["extra"] == "unused_linear":
                layers.append(nn.Linear(64, 64))
            if cfg["container"] == "sequential":
                self.layers = nn.Sequential(*layers)
            elif cfg["container"] == "module_list":
                self.layers = nn.ModuleList(layers)
            else:
                for index, layer in enumerate(layers):
                    setattr(self, f"layer{index}", layer)
            self._parts = (lin1, lin2, bn, bn2)  # a tuple: not registered twice
            if norm == "by_hand":
                self.gamma, self.beta = nn.Parameter(torch.ones(width)), nn.Parameter(torch.zeros(width))
            self.dropout = nn.Dropout(0.5) if cfg["extra"] == "dropout" else None

        if mode == "eval_override":
            def eval(self):
                return self

        def _normalize(self, h):
            lin1, lin2, bn, bn2 = self._parts
            if norm == "functional_no_state":
                return F.batch_norm(h, None, None, training=True)
            if norm == "by_hand":
                return (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5) * self.gamma + self.beta
            if place == "unused":
                return h
            if place == "thrown_away":
                bn(h)
                return h
            if mode == "frozen":
                bn.eval()
            if mode == "skip_eval" and not self.training:
                return h
            if norm == "functional_with_state" or mode == "batch_always":
                training = True if mode == "batch_always" else (self.training or bn.running_mean is None)
                out = F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, training, 0.1, bn.eps)
                if training and bn.num_batches_tracked is not None:
                    bn.num_batches_tracked += 1
            elif grad == "no_grad_bn":
                with torch.no_grad():
                    out = bn(h)
            else:
                out = bn(h)
            if place == "twice":
                out = bn2(out)
            if place == "same_twice":
                out = bn(out)
            if grad == "detach_bn_output":
                out = out.detach()
            return out

        def forward(self, x):
            lin1, lin2, bn, bn2 = self._parts
            if grad == "numpy_input":
                x = torch.tensor(x.detach().numpy())
            if place == "input":
                x = self._normalize(x)
            weight = lin1.weight.detach() if grad == "detach_linear_weight" else lin1.weight
            h = F.linear(x, weight, lin1.bias)
            if place in {"right", "unused", "thrown_away", "twice", "same_twice"}:
                h = self._normalize(h)
            h = _relu(cfg["relu"], h)
            if grad == "numpy_hidden":
                h = torch.from_numpy(h.detach().numpy())
            if place == "after_relu":
                h = self._normalize(h)
            if self.dropout is not None:
                h = self.dropout(h)
            if cfg["extra"] == "identity":
                h = nn.Identity()(h)
            head = lin2.weight.detach() if grad == "detach_head_weight" else lin2.weight
            z = F.linear(h, head, lin2.bias)
            if place == "before_sigmoid":
                z = self._normalize(z)
            p = _sigmoid(cfg["sigmoid"], z)
            if place == "after_sigmoid":
                p = self._normalize(p)
            if cfg["extra"] == "scaled_output":
                p = p * 0.999
            if cfg["extra"] == "batch_size_32_only" and x.shape[0] != 32:
                p = torch.sigmoid(lin2(torch.relu(lin1(x))))
            return p

    return BatchNormMLP


def variants(count: int = 520) -> list[dict]:
    """Right configurations, configurations with one mistake, and with several."""
    rng = random.Random(0)

    def right() -> dict:
        return {key: rng.choice(options) for key, options in RIGHT.items()}

    found = [right() for _ in range(count * 2 // 5)]
    for key, options in itertools.cycle(list(WRONG.items())):
        if len(found) >= count * 17 // 20:
            break
        cfg = right()
        cfg[key] = rng.choice(options)
        found.append(cfg)
    while len(found) < count:
        cfg = right()
        for key in rng.sample(list(WRONG), 2):
            cfg[key] = rng.choice(WRONG[key])
        found.append(cfg)
    return found


# --------------------------------------------------------------------------------- the oracle
def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4))


def oracle(cls: type, seed: int) -> bool:
    """Right iff the variant behaves as the reference nn.Sequential with its own layers copied in."""
    torch.manual_seed(seed)
    try:
        model = cls()
        lin1 = next(m for m in model.modules() if type(m) is nn.Linear and (m.in_features, m.out_features) == (20, 64))
        lin2 = next(m for m in model.modules() if type(m) is nn.Linear and (m.in_features, m.out_features) == (64, 1))
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d) and m.num_features == 64]
    except StopIteration:
        return False
    if not bns or bns[0].weight is None or bns[0].running_mean is None:
        return False  # the contract names an nn.BatchNorm1d(64) with affine and running statistics
    bn = bns[0]
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d) and m.weight is not None and m.running_mean is not None:
                m.weight.copy_(1 + 0.4 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.num_features, generator=g))
                m.running_mean.copy_(0.5 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    reference = nn.Sequential(nn.Linear(20, 64, bias=lin1.bias is not None),
                              nn.BatchNorm1d(64, eps=bn.eps, momentum=bn.momentum), nn.ReLU(), nn.Linear(64, 1),
                              nn.Sigmoid())
    with torch.no_grad():
        reference[0].weight.copy_(lin1.weight)
        if lin1.bias is not None:
            reference[0].bias.copy_(lin1.bias)
        for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            getattr(reference[1], key).copy_(getattr(bn, key))
        reference[3].weight.copy_(lin2.weight)
        reference[3].bias.copy_(lin2.bias)
    pairs = [(lin1.weight, reference[0].weight), (bn.weight, reference[1].weight), (bn.bias, reference[1].bias),
             (lin2.weight, reference[3].weight), (lin2.bias, reference[3].bias)]
    if lin1.bias is not None:
        pairs.append((lin1.bias, reference[0].bias))
    batches = [(torch.randn(24, 20, generator=g) * 2 + 1, "train"), (torch.randn(3, 20, generator=g) * 2 - 1, "train"),
               (torch.randn(7, 20, generator=g) * 8 + 3, "eval")]
    try:
        for index, (x, mode) in enumerate(batches):
            for net in (model, reference):
                net.train() if mode == "train" else net.eval()
            x_model, x_ref = x.clone().requires_grad_(index == 0), x.clone().requires_grad_(index == 0)
            out, expected = model(x_model), reference(x_ref)
            if not _close(out, expected) or not torch.equal(x_model.detach(), x):
                return False
            for key in ("running_mean", "running_var", "num_batches_tracked"):
                if not _close(getattr(bn, key), getattr(reference[1], key)):
                    return False
            if index == 0:
                w = torch.randn(24, 1, generator=g)
                (expected * w).sum().backward()
                try:
                    (out * w).sum().backward()
                except RuntimeError:
                    return False
                for mine, theirs in pairs + [(x_model, x_ref)]:
                    got = mine.grad if mine.grad is not None else torch.zeros_like(mine)
                    if not _close(got, theirs.grad):
                        return False
    except Exception:
        return False
    return True


def judge_passes(cls: type, hidden_seed: int) -> tuple[bool, str]:
    module = exercise_module("bn_mlp")
    namespace = {"__name__": "__main__", "torch": torch, "nn": nn, "F": F, "BatchNormMLP": cls}
    for seed, hidden in ((VISIBLE_SEED, False), (hidden_seed, True)):
        cases = roundtrip(module.cases(seed, hidden))
        result = verdict(module, cases, roundtrip(gather(module, namespace, cases)))
        if not result.passed:
            return False, result.feedback
    return True, ""


def test_judge_agrees_with_an_independent_oracle():
    torch.set_num_threads(1)
    false_pass, false_fail, right = [], [], 0
    configs = variants()
    for index, cfg in enumerate(configs):
        cls = make_variant(cfg)
        label = oracle(cls, 1000 + index)
        right += label
        passed, feedback = judge_passes(cls, 5000 + index)
        if passed and not label:
            false_pass.append(cfg)
        elif label and not passed:
            false_fail.append((cfg, feedback))
    print(f"\n{len(configs)} variants ({right} right, {len(configs) - right} wrong by the oracle): "
          f"{len(false_pass)} false passes, {len(false_fail)} false fails")
    assert len(configs) >= 500
    assert 0.2 < right / len(configs) < 0.8
    assert not false_pass, f"the judge passed wrong models: {false_pass[:5]}"
    assert not false_fail, f"the judge failed right models: {false_fail[:5]}"
