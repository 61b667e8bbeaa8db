"""Tests for utils/pitfalls.py (lesson 05_pitfalls): data, experiments, slider views."""
from __future__ import annotations


import pytest
import torch
from torch import nn

from utils import pitfalls


def seed_mlp():
    """The seed's BN classifier, as lesson 05 defines it (utils must not hold it: it is lesson 03's answer)."""
    return nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    return pitfalls.trained_seed_model(seed_mlp, seed=0, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def batch_stats(trained):
    model, x_test, _ = trained
    return pitfalls.batch_statistics(model, x_test, x_test[:1], trials=100, seed=0)


@pytest.fixture(scope="module")
def shift():
    x, _ = pitfalls.make_data(1000, seed=1, device=torch.device("cpu"))
    return pitfalls.variance_shift(x, passes=10, seed=0)


def test_make_data_shapes_and_labels_are_balanced_enough():
    x, y = pitfalls.make_data(500, seed=0, device=torch.device("cpu"))
    assert x.shape == (500, 20) and y.shape == (500, 1)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    assert 0.2 < y.mean().item() < 0.8


def test_make_data_rules_differ_on_the_same_inputs():
    x0, y0 = pitfalls.make_data(500, seed=3, rule=0, device=torch.device("cpu"))
    x1, y1 = pitfalls.make_data(500, seed=3, rule=1, device=torch.device("cpu"))
    assert torch.equal(x0, x1)
    assert (y0 != y1).float().mean().item() > 0.2


def test_trained_seed_model_learns_the_task(trained):
    model, x_test, y_test = trained
    assert isinstance(model[1], nn.BatchNorm1d) and isinstance(model[-1], nn.Sigmoid)
    assert pitfalls.accuracy(model, x_test, y_test) > 0.85
    assert not model.training


def test_accuracy_restores_modes(trained):
    model, x_test, y_test = trained
    model.train()
    model[1].eval()
    pitfalls.accuracy(model, x_test, y_test)
    assert model.training and not model[1].training
    model.eval()


def test_train_mode_predictions_depend_on_the_batch_eval_mode_does_not(trained):
    model, x_test, _ = trained
    result = pitfalls.batch_dependence(model, x_test[:8], x_test[8:], trials=5)
    assert result["train_spread"] > 0.05
    assert result["eval_spread"] == 0.0
    assert not model.training  # worked on a copy


def test_training_mode_forward_moves_running_stats_on_a_copy(trained):
    model, x_test, _ = trained
    before = model[1].running_mean.clone()
    assert pitfalls.running_stats_drift(model, x_test[:64]) > 0
    assert torch.equal(model[1].running_mean, before)


def test_batch_of_one_error_message(trained):
    model, x_test, _ = trained
    assert "Expected more than 1 value per channel when training" in pitfalls.batch_of_one_error(model, x_test)


def test_drop_last_removes_the_batch_of_one():
    assert pitfalls.last_batch_sizes(961, 64, drop_last=False)[-1] == 1
    assert pitfalls.last_batch_sizes(961, 64, drop_last=True) == [64] * 15


def test_two_row_batch_normalizes_to_plus_minus_one(trained):
    model, x_test, _ = trained
    out = pitfalls.two_row_batch_output(model, x_test[:2])
    assert out.shape == (2, 64)
    assert (out.abs() > 0.99).float().mean().item() > 0.9
    assert out.abs().max().item() <= 1.0 + 1e-5


def test_batch_mean_spread_shrinks_with_batch_size(batch_stats):
    spreads = [batch_stats["batch_means"][size].std() for size in pitfalls.BATCH_SIZES]
    assert all(a > b for a, b in zip(spreads, spreads[1:]))


def test_dropout_before_bn_shifts_variance_after_does_not(shift):
    assert shift["dropout_first"][0.5].mean() < 0.6
    assert shift["dropout_first"][0.1].mean() > shift["dropout_first"][0.5].mean()
    for p in pitfalls.DROPOUT_RATES:
        assert abs(shift["dropout_after"][p].mean() - 1) < 0.05


def test_frozen_bn_keeps_running_stats_while_fine_tuning(trained):
    model, _, _ = trained
    x_new, y_new = pitfalls.make_data(80, seed=5, rule=1, device=torch.device("cpu"))
    x_t, y_t = pitfalls.make_data(200, seed=6, rule=1, device=torch.device("cpu"))
    result = pitfalls.fine_tune_comparison(model, x_new, y_new, x_t, y_t, batch_size=4, epochs=1)
    assert result["bn_frozen"]["running_mean_change"] == 0.0
    assert result["bn_live"]["running_mean_change"] > 0.0


def test_set_bn_eval_is_undone_by_train(trained):
    model, _, _ = trained
    work = seed_mlp().train()
    assert pitfalls.set_bn_eval(work) == 1
    assert pitfalls.modes(work) == {"": True, "0": True, "1": False, "2": True, "3": True, "4": True}
    work.train()
    assert all(pitfalls.modes(work).values())


def test_fold_model_uses_the_given_fold_and_keeps_other_layers(trained):
    model, x_test, _ = trained
    calls = []

    def fake_fold(linear, bn):  # not a fold: just records the call and returns a Linear
        calls.append((linear.out_features, bn.num_features))
        return nn.Linear(linear.in_features, linear.out_features)

    folded = pitfalls.fold_model(model, fake_fold)
    assert calls == [(64, 64)]
    assert [type(m) for m in folded] == [nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid]
    assert folded[2] is not model[3]


def test_batch_view_redraws_a_different_png(batch_stats):
    view = pitfalls.batch_view(batch_stats)
    default = view.png
    assert default.startswith(b"\x89PNG")
    assert view.update(batch_size=256) != default


def test_dropout_view_redraws_a_different_png(shift):
    view = pitfalls.dropout_view(shift)
    default = view.png
    assert default.startswith(b"\x89PNG")
    assert view.update(p=0.1) != default
