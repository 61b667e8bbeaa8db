"""Tests for utils/backward.py (lesson 06_backward_and_alternatives) and the guards its checks use."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import backward as bw

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def task():
    from utils.data import make_binary_task

    return make_binary_task(1000, seed=0)


def test_make_batch_is_seeded_with_the_requested_statistics():
    x = bw.make_batch(20000, 2, mean=[1.0, -3.0], std=[2.0, 0.5], seed=0)
    assert x.shape == (20000, 2) and x.dtype == torch.float64
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -3.0], dtype=torch.float64), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([2.0, 0.5], dtype=torch.float64), rtol=0.03)
    assert torch.equal(bw.make_batch(4, 3, seed=5), bw.make_batch(4, 3, seed=5))
    assert bw.make_batch(4, 3, seed=5, dtype=torch.float32).dtype == torch.float32


def test_relative_error_is_cs231ns_measure():
    a = torch.tensor([1.0, 2.0, 0.0])
    assert bw.relative_error(a, a) == 0.0
    assert bw.relative_error(torch.tensor([1.0]), torch.tensor([3.0])) == pytest.approx(0.5)


def test_bias_drift_outside_the_gradient_grows_linearly_and_the_loss_stays():
    outside = bw.bias_drift(num_steps=200, lr=0.1, through_mean=False, seed=0)
    steps = outside["b"][1:] - outside["b"][:-1]
    assert outside["b"].dtype == torch.float64 and len(outside["b"]) == 201
    assert steps.abs().min() > 0.1 and torch.allclose(steps, steps[0].expand_as(steps), atol=1e-10)
    assert (outside["loss"] - outside["loss"][0]).abs().max() < 1e-10


def test_bias_drift_through_the_mean_does_not_move_b():
    through = bw.bias_drift(num_steps=200, lr=0.1, through_mean=True, seed=0)
    assert through["b"].abs().max() < 1e-12


def test_scale_invariance_gradient_scales_as_one_over_a(task):
    X, y = task
    result = bw.scale_invariance(X[:256], y[:256], scales=[0.1, 1.0, 10.0, 100.0], lr=0.1, seed=0)
    one = result["scales"].index(1.0)
    for i, a in enumerate(result["scales"]):
        assert result["output_change"][i] < 1e-3
        assert a * result["grad_norm"][i] == pytest.approx(result["grad_norm"][one], rel=2e-3)
        assert a * a * result["relative_update"][i] == pytest.approx(result["relative_update"][one], rel=2e-3)
        assert result["pre_bn_std"][i] == pytest.approx(a * result["pre_bn_std"][one], rel=1e-4)


def test_scale_invariance_breaks_when_the_variance_nears_eps(task):
    X, y = task
    result = bw.scale_invariance(X[:256], y[:256], scales=[0.001, 1.0], seed=0)
    assert result["output_change"][0] > 0.01


def test_weight_decay_shrinks_w_and_raises_the_effective_step(task):
    X, y = task
    plain = bw.weight_decay_run(X, y, 0.0, num_steps=100, seed=0)
    decayed = bw.weight_decay_run(X, y, 0.1, num_steps=100, seed=0)
    assert plain["weight_norm"].shape == (100,) and plain["effective_step"].shape == (100,)
    assert plain["weight_norm"][-1] >= plain["weight_norm"][0]          # orthogonal gradient: |W| only grows
    assert decayed["weight_norm"][-1] < 0.7 * decayed["weight_norm"][0]
    assert decayed["effective_step"][-20:].mean() > 2 * plain["effective_step"][-20:].mean()
    assert torch.isclose(decayed["direction"].norm(), torch.tensor(1.0))


@pytest.mark.parametrize("kind", ["layer", "group"])
def test_layer_and_group_norm_models_do_not_depend_on_the_batch(kind):
    model = bw.norm_mlp(kind, seed=0)
    x = bw.make_batch(16, 64, seed=1, dtype=torch.float32)
    with torch.no_grad():
        whole = model.train()(x)
        assert torch.allclose(model.eval()(x), whole, atol=1e-6)
        assert torch.allclose(model.train()(x[:3]), whole[:3], atol=1e-6)


def test_norm_mlp_kinds():
    assert isinstance(bw.norm_mlp("batch")[1], nn.BatchNorm1d)
    assert isinstance(bw.norm_mlp("layer")[1], nn.LayerNorm)
    assert isinstance(bw.norm_mlp("group")[1], nn.GroupNorm) and bw.norm_mlp("group")[1].num_groups == 8
    assert isinstance(bw.norm_mlp("none")[1], nn.Identity)


def test_compare_norms_reports_every_kind_and_batch_size():
    from utils.data import load_digits_split

    X_train, y_train, X_test, y_test = load_digits_split(seed=0)
    result = bw.compare_norms(X_train, y_train, X_test, y_test, batch_sizes=(4, 32), num_examples=256, seed=0)
    assert result["batch_sizes"] == [4, 32] and result["kinds"] == list(bw.KINDS)
    for kind in bw.KINDS:
        assert len(result["eval"][kind]) == 2 and all(0.0 <= v <= 1.0 for v in result["eval"][kind])
    for kind in ("layer", "group"):   # no batch statistics: train and eval differ only by the dropped examples
        for eval_accuracy, train_accuracy in zip(result["eval"][kind], result["train_mode"][kind]):
            assert abs(eval_accuracy - train_accuracy) < 32 / len(X_test)


def _scaling_and_runs(task):
    X, y = task
    scaling = bw.scale_invariance(X[:256], y[:256], seed=0)
    runs = {decay: bw.weight_decay_run(X, y, decay, num_steps=30, seed=0) for decay in bw.WEIGHT_DECAYS}
    return scaling, runs


def test_scale_view_renders_by_default_and_redraws(task):
    view = bw.scale_view(*_scaling_and_runs(task))
    assert set(view.controls) == {"scale", "weight_decay"}
    assert view.png.startswith(b"\x89PNG")
    for name, value in [("scale", 0.01), ("weight_decay", 0.1), ("scale", 100.0)]:
        before = view.png
        assert view.update(**{name: value}) != before, name
    with pytest.raises(KeyError):
        view.update(gamma=1.0)


def test_batch_size_view_redraws():
    results = {"batch_sizes": [2, 4, 8], "kinds": ["batch", "group", "layer"],
               "eval": {"batch": [0.5, 0.8, 0.9], "group": [0.9, 0.9, 0.9], "layer": [0.8, 0.9, 0.9]},
               "train_mode": {"batch": [0.3, 0.7, 0.9], "group": [0.9, 0.9, 0.9], "layer": [0.8, 0.9, 0.9]}}
    view = bw.batch_size_view(results)
    assert set(view.controls) == {"batch_size"}
    before = view.png
    assert view.update(batch_size=8) != before


def test_learner_or_reference_falls_back_and_says_so():
    reference = lambda x: (x * 2, x.sum())  # noqa: E731
    x = torch.arange(3.0)
    result, sentence = bw.learner_or_reference("f", None, reference, x)
    assert torch.equal(result[0], x * 2) and "not defined" in sentence

    def unanswered(x):
        raise NotImplementedError

    assert "not answered" in bw.learner_or_reference("f", unanswered, reference, x)[1]
    assert "raised ZeroDivisionError" in bw.learner_or_reference("f", lambda x: 1 / 0, reference, x)[1]
    result, sentence = bw.learner_or_reference("f", lambda x: (x * 3, x.sum()), reference, x)
    assert torch.equal(result[0], x * 2) and "does not agree" in sentence
    mine = (x + x, x.sum())
    result, sentence = bw.learner_or_reference("f", lambda x: mine, reference, x)
    assert result is mine and "your version" in sentence


def test_backward_utils_do_not_import_the_autograder():
    code = "import sys, utils.backward; print(any(m.startswith('autograder') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_guard_refuses_autograd_and_normalization_and_lets_arithmetic_through():
    from autograder.checks._bn_backward import Refused, refusing

    x = torch.randn(6, 3, dtype=torch.float64)
    attempts = {
        "Tensor.backward()": lambda: (x.clone().requires_grad_() * 2).sum().backward(),
        "torch.autograd.grad": lambda: torch.autograd.grad((x.clone().requires_grad_() ** 2).sum(),
                                                           [x.clone().requires_grad_()], allow_unused=True),
        "torch.func.vjp": lambda: torch.func.vjp(lambda v: v ** 2, x)[1](torch.ones_like(x)),
        "torch.func.jacfwd": lambda: torch.func.jacfwd(lambda v: (v ** 2).sum())(x),
        "F.batch_norm": lambda: F.batch_norm(x, None, None, training=True),
        "nn.BatchNorm1d": lambda: nn.BatchNorm1d(3).double()(x),
        "aten.native_batch_norm": lambda: torch.ops.aten.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
        "nn.LayerNorm": lambda: nn.LayerNorm(3).double()(x),
    }
    for name, attempt in attempts.items():
        calls: list = []
        with refusing(calls):
            with pytest.raises(Refused):
                attempt()
        assert calls, name
    calls = []
    with refusing(calls):
        y = (x - x.mean(0)) / (x.var(0, unbiased=False) + 1e-5).sqrt()
    assert calls == [] and y.shape == x.shape
    assert F.batch_norm(x, None, None, training=True).shape == x.shape   # nothing left switched on


def test_the_fusion_guard_refuses_fuse_conv_bn_eval_however_it_was_imported():
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from autograder.checks._refused_code import refusing_code
    from autograder.checks.fold_conv_bn import _fusion_codes

    conv, bn = nn.Conv2d(2, 3, 3).eval(), nn.BatchNorm2d(3).eval()
    calls: list = []
    with refusing_code(calls, _fusion_codes()):
        with pytest.raises(RuntimeError):
            fuse_conv_bn_eval(conv, bn)
    assert calls == ["torch.nn.utils.fusion.fuse_conv_bn_eval"]
    assert sys.getprofile() is None
    assert isinstance(fuse_conv_bn_eval(conv, bn), nn.Conv2d)


def test_the_grader_references_are_refused_however_they_were_reached():
    from autograder.checks import _bn_reference
    from autograder.checks._refused_code import refusing_code

    training = _bn_reference.training                      # captured before the guard is on
    copy = types.FunctionType(training.__code__, _bn_reference.__dict__, "copy")
    x, ones, zeros = torch.randn(4, 2), torch.ones(2), torch.zeros(2)
    for function in (training, copy):
        calls: list = []
        with refusing_code(calls):
            with pytest.raises(RuntimeError):
                function(x, ones, zeros, 1e-5)
        assert calls == ["autograder.checks._bn_reference.training"]
    assert sys.getprofile() is None
    assert training(x, ones, zeros, 1e-5).shape == x.shape  # nothing left switched on


def test_the_judges_reference_gradients_agree_with_finite_differences():
    from autograder.checks.bn_backward import autograd_reference

    x = bw.make_batch(5, 2, mean=[1.0, -2.0], std=[1.0, 3.0], seed=3)
    gamma = torch.tensor([0.7, 1.9], dtype=torch.float64)
    dout = bw.make_batch(5, 2, seed=4)
    dx, dgamma, dbeta = autograd_reference(dout, x, gamma, 1e-5)

    def loss(x, gamma):
        y = F.batch_norm(x, None, None, weight=gamma, bias=torch.zeros(2, dtype=torch.float64), training=True)
        return (y * dout).sum().item()

    step = 1e-6
    numeric = torch.zeros_like(x)
    for index in range(x.numel()):
        plus, minus = x.clone().flatten(), x.clone().flatten()
        plus[index] += step
        minus[index] -= step
        numeric.view(-1)[index] = (loss(plus.view_as(x), gamma) - loss(minus.view_as(x), gamma)) / (2 * step)
    assert bw.relative_error(dx, numeric) < 1e-5
    assert torch.allclose(dbeta, dout.sum(0))
