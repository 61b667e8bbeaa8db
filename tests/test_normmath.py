"""Tests for utils/normmath.py (lesson 02_normalization_math) and the built-in guard its checks use."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import normmath

ROOT = Path(__file__).resolve().parents[1]


def test_make_batch_has_the_requested_shape_dtype_and_population_statistics():
    x = normmath.make_batch(20000, 3, shift=[0.0, 5.0, -2.0], scale=[1.0, 3.0, 0.5], seed=0)
    assert x.shape == (20000, 3) and x.dtype == torch.float32
    assert torch.allclose(x.mean(0), torch.tensor([0.0, 5.0, -2.0]), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([1.0, 3.0, 0.5]), rtol=0.03)
    assert normmath.make_batch(4, 2, seed=0, dtype=torch.float64).dtype == torch.float64


def test_make_batch_is_seeded_and_does_not_touch_the_global_generator():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = normmath.make_batch(8, 2, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(a, normmath.make_batch(8, 2, seed=7))
    assert not torch.equal(a, normmath.make_batch(8, 2, seed=8))


def test_make_batch_is_bimodal_so_normalization_visibly_keeps_the_shape():
    x = normmath.make_batch(20000, 1, seed=0).flatten()
    near_centre = (x.abs() < 0.2).float().mean().item()
    near_bumps = ((x.abs() - 0.8).abs() < 0.2).float().mean().item()
    assert near_bumps > 1.5 * near_centre


def test_issue_60528_example_matches_the_report():
    X = normmath.issue_60528_example()
    assert X.shape == (4, 3, 4)
    assert X[:, 0, :].tolist() == [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6], [4, 5, 6, 7]]
    assert torch.equal(X[:, 1], X[:, 0] + 4) and torch.equal(X[:, 2], X[:, 0] + 8)
    layer = nn.BatchNorm1d(3).train()
    with torch.no_grad():
        out = layer(X)
    assert torch.allclose(out[0, 0], torch.tensor([-1.8974, -1.2649, -0.6325, 0.0]), atol=1e-4)
    assert torch.allclose(layer.running_mean, torch.tensor([0.4, 0.8, 1.2]))
    assert torch.allclose(layer.running_var, torch.full((3,), 1.1667), atol=1e-4)


def test_describe_features_reports_mean_and_biased_std_per_feature():
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0]])
    text = normmath.describe_features(x, "demo")
    lines = text.splitlines()
    assert lines[0] == "demo: 2 examples, 2 features"
    assert "mean   +2.0000   std   1.0000" in lines[1]
    assert "mean  +10.0000   std   0.0000" in lines[2]


def test_distribution_view_renders_by_default_and_redraws_a_different_png():
    view = normmath.distribution_view(seed=0)
    assert set(view.controls) == {"batch_size", "shift", "scale", "gamma", "beta"}
    default = view.png
    assert default.startswith(b"\x89PNG")
    for name, value in [("gamma", 2.5), ("beta", -1.0), ("batch_size", 2), ("shift", -8.0), ("scale", 0.5)]:
        before = view.png
        assert view.update(**{name: value}) != before, name


def test_running_stats_view_redraws():
    view = normmath.running_stats_view(num_steps=100, seed=0)
    assert set(view.controls) == {"batch_size", "momentum"}
    before = view.png
    assert view.update(momentum=0.9) != before
    assert view.update(batch_size=4) != view.update(batch_size=128)
    with pytest.raises(KeyError):
        view.update(gamma=1.0)


def test_running_stats_trace_follows_pytorchs_convention_and_unbiased_variance():
    trace = normmath.running_stats_trace(num_steps=20, batch_size=8, momentum=0.1, seed=0)
    assert all(values.shape == (20,) for values in trace.values())
    assert torch.isclose(trace["running_mean"][0], 0.1 * trace["batch_mean"][0], atol=1e-6)
    assert torch.isclose(trace["running_var"][0], 0.9 + 0.1 * trace["batch_var_unbiased"][0], atol=1e-5)
    step = 0.9 * trace["running_mean"][4] + 0.1 * trace["batch_mean"][5]
    assert torch.isclose(trace["running_mean"][5], step, atol=1e-6)


def test_running_stats_trace_with_momentum_none_is_the_plain_average():
    trace = normmath.running_stats_trace(num_steps=30, batch_size=16, momentum=None, seed=1)
    assert torch.isclose(trace["running_mean"][-1], trace["batch_mean"].mean(), atol=1e-5)
    assert torch.isclose(trace["running_var"][-1], trace["batch_var_unbiased"].mean(), rtol=1e-5)


def test_running_stats_settle_near_the_population_values_as_the_lesson_says():
    trace = normmath.running_stats_trace(num_steps=100, batch_size=32, momentum=0.1, seed=0)
    assert abs(trace["running_mean"][-1].item() - 5.0) < 0.5
    assert abs(trace["running_var"][-1].item() - 9.0) < 2.0
    slow = normmath.running_stats_trace(num_steps=100, batch_size=32, momentum=0.01, seed=0)
    assert slow["running_mean"][-1].item() < 4.0      # 0.99 ** 100 of the initial 0 is still there


def test_one_thread_restores_the_thread_count_even_on_error():
    from utils.device import one_thread

    threads = torch.get_num_threads()
    with pytest.raises(ValueError):
        with one_thread():
            assert torch.get_num_threads() == 1
            raise ValueError
    assert torch.get_num_threads() == threads


def test_normmath_does_not_import_the_autograder():
    code = "import sys, utils.normmath; print(any(m.startswith('autograder') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_forbidden_builtins_raise_inside_and_are_restored_after():
    from autograder.checks.bn_forward import ForbiddenBuiltin, forbid_normalization_builtins

    original = F.batch_norm, torch.batch_norm, nn.BatchNorm1d.forward
    x = torch.randn(8, 3)
    calls: list[str] = []
    with pytest.raises(ZeroDivisionError):
        with forbid_normalization_builtins(calls):
            for attempt in (lambda: F.batch_norm(x, None, None, training=True),
                            lambda: torch.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False),
                            lambda: nn.BatchNorm1d(3)(x),
                            lambda: nn.LayerNorm(3)(x),
                            lambda: F.group_norm(x, 1),
                            lambda: torch.ops.aten.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)):
                with pytest.raises(ForbiddenBuiltin):
                    attempt()
            assert torch.allclose(x.mean(0) * 0, torch.zeros(3))     # ordinary ops still work
            1 / 0
    assert calls[:3] == ["torch.nn.functional.batch_norm", "torch.batch_norm", "nn.BatchNorm1d"]
    assert (F.batch_norm, torch.batch_norm, nn.BatchNorm1d.forward) == original
    assert nn.BatchNorm1d(3)(x).shape == (8, 3)
