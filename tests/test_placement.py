"""utils.placement and utils.widgets.SliderView: what lesson 03 shows and claims."""
from __future__ import annotations

import ipywidgets as widgets
import pytest

from utils import placement
from utils.widgets import SliderView


def test_slider_view_redraws_a_different_figure_when_a_slider_moves():
    view = placement.preactivation_view()
    first = view.png
    assert first.startswith(b"\x89PNG")
    assert view.update(scale=10.0) != first
    assert view.values["scale"] == 10.0


def test_moving_the_widget_itself_redraws():
    view = placement.preactivation_view()
    before = view.png
    view.controls["shift"].value = 5.0  # what the browser does
    assert view.png != before


def test_update_rejects_unknown_controls():
    view = SliderView(lambda fig, a: fig.subplots().plot([a, a]), {"a": widgets.FloatSlider(value=1.0)})
    with pytest.raises(KeyError, match="unknown control"):
        view.update(b=2)


def test_bn_output_is_normalized_whatever_the_input_scale_and_shift():
    for scale, shift in [(0.1, -8.0), (1.0, 0.0), (30.0, 5.0)]:
        stats = placement.preactivation_stats(scale, shift)
        assert abs(stats["with_bn"].mean()) < 1e-4
        assert abs(stats["with_bn"].std() - 1.0) < 5e-3  # eps in sqrt(var + eps) shows at tiny scales
    wide = placement.preactivation_stats(30.0, 0.0)["without_bn"].std()
    narrow = placement.preactivation_stats(0.1, 0.0)["without_bn"].std()
    assert wide > 100 * narrow


def test_a_bias_before_bn_changes_nothing():
    assert placement.bias_before_bn_difference() < 1e-4


def test_shape_table_matches_pytorch():
    rows = {(row["layer"], row["input"]): row["result"] for row in placement.shape_table()}
    assert rows[("BatchNorm1d(16)", "(32, 16)")].startswith("ok")
    assert rows[("BatchNorm1d(16)", "(32, 16, 50)")].startswith("ok")
    assert rows[("BatchNorm2d(16)", "(32, 16, 28, 28)")].startswith("ok")
    assert rows[("BatchNorm3d(16)", "(8, 16, 4, 28, 28)")].startswith("ok")
    assert rows[("BatchNorm2d(16)", "(32, 16)")].startswith("ValueError")
    assert rows[("BatchNorm1d(16)", "(32, 16, 28, 28)")].startswith("ValueError")


def test_batchnorm2d_normalizes_each_channel_over_batch_and_space():
    stats = placement.per_channel_statistics_demo()
    assert stats["values_per_statistic"] == 8 * 5 * 5
    assert stats["gamma_shape"] == (3,)
    assert all(abs(mean) < 1e-5 for mean in stats["channel_means_after"])
    assert all(abs(std - 1) < 1e-3 for std in stats["channel_stds_after"])


def test_bn_on_the_output_pushes_confident_positives_below_one_half():
    demo = placement.output_bn_demo()
    assert demo["above_half_without_bn"] == 1.0
    assert 0.3 < demo["above_half_with_bn"] < 0.7


def test_shifted_inputs_leave_units_stuck_without_bn_and_none_with_it():
    stats = placement.preactivation_stats(1.0, 8.0)
    assert stats["always_off_without_bn"] + stats["always_on_without_bn"] > 20
    assert stats["always_off_with_bn"] == stats["always_on_with_bn"] == 0
    assert len(stats["unit_active_with_bn"]) == 64


def test_bn_on_the_output_in_eval_mode_is_one_fixed_affine_map():
    demo = placement.output_bn_demo()
    train_a, train_b = demo["example_train"]
    eval_a, eval_b = demo["example_eval"]
    assert abs(train_a - train_b) > 0.1, "training mode: the example's probability depends on its batch"
    assert abs(eval_a - eval_b) < 1e-6 and demo["eval_order_kept"]
