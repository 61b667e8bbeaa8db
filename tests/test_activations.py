"""utils.activations (lesson 01): the deep tanh MLPs, the per-layer probes, the experiments whose
numbers the lesson's prose relies on, and the slider view."""
from __future__ import annotations

import inspect
import statistics

import pytest
import torch
from torch import nn

import utils.activations as activations
from utils.activations import (
    linear_image_similarity,
    NoisyBatchNorm1d, activation_view, deep_tanh_mlp, drift, init_scale_sweep, layer_table,
    probe, record_tanh, train_and_track, weight_gradient_stds,
)


def fraction_above(t: torch.Tensor, threshold: float = 0.97) -> float:
    """The tests' own saturation measure (the lesson's is the learner's exercise)."""
    return (t.abs() > threshold).double().mean().item()


def test_utils_hold_no_answer_and_do_not_import_the_autograder():
    source = inspect.getsource(activations)
    assert not hasattr(activations, "saturated_fraction")
    assert "from autograder" not in source and "import autograder" not in source


@pytest.mark.parametrize("norm, stage_types", [
    ("none", [nn.Linear, nn.Tanh]),
    ("batchnorm", [nn.Linear, nn.BatchNorm1d, nn.Tanh]),
    ("noisy_batchnorm", [nn.Linear, NoisyBatchNorm1d, nn.Tanh]),
])
def test_deep_tanh_mlp_stacks_blocks_in_order(norm, stage_types):
    model = deep_tanh_mlp(4, 32, 8, out_features=3, norm=norm)
    types = [type(m) for m in model]
    assert types == stage_types * 4 + [nn.Linear]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert linears[0].in_features == 8 and linears[-1].out_features == 3
    has_bias = [m.bias is not None for m in linears[:-1]]
    assert has_bias == [norm == "none"] * 4, "a Linear followed by BN has no bias"


def test_init_scale_sets_the_weight_std():
    torch.manual_seed(0)
    model = deep_tanh_mlp(3, 400, 400, init_scale=2.5)
    for linear in (m for m in model if isinstance(m, nn.Linear)):
        assert linear.weight.std().item() == pytest.approx(2.5 / 400 ** 0.5, rel=0.02)
        assert torch.count_nonzero(linear.bias) == 0


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm must be one of"):
        deep_tanh_mlp(2, 8, 8, norm="layernorm")


def test_record_tanh_returns_every_layers_input_and_output():
    torch.manual_seed(0)
    model = deep_tanh_mlp(5, 16, 4, out_features=2)
    x = torch.randn(10, 4)
    inputs, outputs = record_tanh(model, x)
    assert len(inputs) == len(outputs) == 5
    for pre, post in zip(inputs, outputs):
        assert pre.shape == post.shape == (10, 16)
        assert torch.allclose(torch.tanh(pre), post)
        assert not post.requires_grad
    assert all(not m._forward_hooks for m in model), "hooks are removed afterwards"


def test_without_bn_small_init_collapses_and_large_init_saturates():
    """Section 1's claims: std falls towards 0 with init 0.5; many units saturate with init 3."""
    _, small = probe(10, 0.5)
    _, large = probe(10, 3.0)
    assert small[-1].std().item() < 0.01 * small[0].std().item()
    assert fraction_above(small[-1]) == 0.0
    assert all(fraction_above(t) > 0.3 for t in large)


def test_with_bn_every_init_scale_gives_the_same_normalized_layers():
    """Section 2's claims: pre-activations mean 0 / std 1, about 3.6% saturated, whatever the scale."""
    for scale in (0.1, 0.5, 3.0, 10.0):
        pre, post = probe(10, scale, norm="batchnorm")
        assert pre[-1].mean(dim=0).abs().max().item() < 1e-5
        # std is sqrt(var / (var + eps)) with eps = 1e-5: a little under 1 when var is small
        assert pre[-1].std(dim=0, correction=0).sub(1).abs().max().item() < 5e-3
        assert fraction_above(post[-1]) == pytest.approx(0.0364, abs=0.005)


def test_init_scale_sweep_reports_the_last_layer():
    sweep = init_scale_sweep([0.2, 1.0, 5.0], fraction_above, depth=6, width=64)
    assert sweep["scale"] == [0.2, 1.0, 5.0]
    assert all(isinstance(v, float) for v in sweep["std"] + sweep["saturated"])
    assert sweep["std"][0] < sweep["std"][1] < sweep["std"][2]
    assert sweep["saturated"][0] == 0.0 and sweep["saturated"][2] > 0.4
    with_bn = init_scale_sweep([0.2, 1.0, 5.0], fraction_above, depth=6, width=64, norm="batchnorm")
    assert max(with_bn["std"]) - min(with_bn["std"]) < 1e-3


def test_weight_gradients_depend_on_init_scale_only_without_bn():
    """The gradient table's claims (10 layers)."""
    no_bn_small, no_bn_large = weight_gradient_stds(10, 0.5), weight_gradient_stds(10, 3.0)
    assert no_bn_small[0] < 1e-4
    assert no_bn_large[0] > 5 * no_bn_large[-1]
    reference = weight_gradient_stds(10, 1.0, norm="batchnorm")
    assert all(earlier > later for earlier, later in zip(reference, reference[1:])), "grows towards the input"
    for scale in (0.5, 3.0):
        grads = weight_gradient_stds(10, scale, norm="batchnorm")
        # scale invariance: BN(a W x) = BN(W x), so the weight gradient scales as 1 / a
        assert all(abs(g * scale / r - 1) < 1e-2 for g, r in zip(grads, reference))


def test_small_init_scales_the_signal_down_without_erasing_it():
    image = linear_image_similarity(10, 0.5)
    assert image["std"] < 1e-2 and abs(image["rescaled_std"] - 1) < 1e-4
    assert image["cosine"] > 0.9


def test_noisy_batchnorm_adds_fresh_noise_in_training_and_none_in_eval():
    torch.manual_seed(0)
    noisy, plain = NoisyBatchNorm1d(8), nn.BatchNorm1d(8)
    x = torch.randn(32, 8) * 3 + 1
    noisy.resample(torch.Generator().manual_seed(1))
    assert noisy.noise_scale.min() >= 1 / 1.5 and noisy.noise_scale.max() <= 1.5
    assert noisy.noise_shift.abs().max() <= 0.5
    first = noisy(x)
    expected = plain(x) * noisy.noise_scale + noisy.noise_shift
    assert torch.allclose(first, expected, atol=1e-6)
    noisy.resample(torch.Generator().manual_seed(2))
    assert not torch.allclose(noisy(x), first)
    plain(x)                                  # the same two updates of the running statistics
    noisy.eval(), plain.eval()
    assert torch.allclose(noisy(x), plain(x), atol=1e-6)


@pytest.fixture(scope="module")
def lesson_runs():
    """The three training runs of sections 3 and 4, exactly as the lesson makes them."""
    return {norm: train_and_track(norm, init_scale=0.5, seed=0) for norm in ("none", "batchnorm", "noisy_batchnorm")}


def test_training_history_has_what_the_plots_need(lesson_runs):
    run = lesson_runs["batchnorm"]
    assert len(run["loss"]) == 600
    assert run["steps"] == list(range(0, 601, 10))
    assert len(run["percentiles"]) == len(run["unit_medians"]) == 61
    assert all(low <= mid <= high for low, mid, high in run["percentiles"])
    assert run["n_train"] + run["n_test"] == 1797


def test_training_claims_of_the_lesson(lesson_runs):
    """BN learns faster than no BN; noisy BN drifts most, yet trains far better than no BN."""
    none, bn, noisy = lesson_runs["none"], lesson_runs["batchnorm"], lesson_runs["noisy_batchnorm"]
    final = {k: statistics.mean(v["loss"][-50:]) for k, v in lesson_runs.items()}
    assert statistics.mean(bn["loss"][:25]) < statistics.mean(none["loss"][:25])
    assert final["batchnorm"] < final["none"] and bn["test_accuracy"] > none["test_accuracy"]
    assert drift(noisy) > drift(none) > drift(bn)
    assert final["noisy_batchnorm"] < final["none"] / 5
    assert noisy["test_accuracy"] > none["test_accuracy"] + 0.1
    spread = [high - low for low, _, high in none["percentiles"]]
    assert spread[0] < 0.05 < spread[-1], "without BN the unit's inputs start squeezed near 0 and spread out"


def test_layer_table_with_and_without_saturation():
    _, outputs = probe(7, 3.0, width=32, batch_size=64)
    plain = layer_table(outputs, every=3).splitlines()
    assert [row.split()[0] for row in plain[1:]] == ["1", "4", "7"]
    assert "saturated" not in plain[0]
    with_column = layer_table(outputs, fraction_above, every=3).splitlines()
    assert with_column[-1].endswith(f"{100 * fraction_above(outputs[-1]):.1f}%")


def test_slider_view_redraws_each_control_with_the_given_saturation():
    calls = []

    def counting(t):
        calls.append(tuple(t.shape))
        return fraction_above(t)

    view = activation_view(counting)
    default = view.png
    assert default.startswith(b"\x89PNG")
    calls.clear()
    deeper = view.update(depth=20)
    assert len(calls) == 20, "one saturation call per layer"
    larger = view.update(init_scale=0.2)
    with_bn = view.update(batchnorm=True)
    assert len({default, deeper, larger, with_bn}) == 4
    assert view.values == {"depth": 20, "init_scale": 0.2, "batchnorm": True}


def test_slider_view_works_without_a_saturation_function():
    """Benchmarks and learners who have not written saturated_fraction yet still get a view."""
    view = activation_view()
    assert view.png.startswith(b"\x89PNG")
    assert view.update(batchnorm=True) != view.update(batchnorm=False)
