"""Tests for utils.data and utils.training (lesson 04_training_dynamics)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import nn

import utils.data
import utils.training
from utils import training
from utils.data import load_digits_split, make_binary_task, train_test_split
from utils.models import BaselineMLP


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one CPU thread is faster and immune to a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def bn_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())


# --- data -------------------------------------------------------------------------------

def test_binary_task_has_the_contracted_shapes_and_dtypes():
    X, y = make_binary_task(n_samples=123, seed=4)
    assert X.shape == (123, 20) and X.dtype == torch.float32
    assert y.shape == (123, 1) and y.dtype == torch.float32
    assert set(torch.unique(y).tolist()) == {0.0, 1.0}


def test_binary_task_is_deterministic_per_seed_and_differs_across_seeds():
    X1, y1 = make_binary_task(n_samples=50, seed=0)
    X2, y2 = make_binary_task(n_samples=50, seed=0)
    X3, _ = make_binary_task(n_samples=50, seed=1)
    assert torch.equal(X1, X2) and torch.equal(y1, y2)
    assert not torch.equal(X1, X3)


def test_train_test_split_partitions_the_rows():
    X, y = make_binary_task(n_samples=100, seed=0)
    X_train, y_train, X_test, y_test = train_test_split(X, y, test_fraction=0.25, seed=0)
    assert len(X_train) == 75 and len(X_test) == 25 and len(y_train) == 75 and len(y_test) == 25
    rows = {tuple(row.tolist()) for row in torch.cat([X_train, X_test])}
    assert rows == {tuple(row.tolist()) for row in X}


def test_digits_split_is_bundled_scaled_and_labelled():
    X_train, y_train, X_test, y_test = load_digits_split(test_fraction=0.25, seed=0)
    assert X_train.shape[1] == 64 and len(X_train) + len(X_test) == 1797
    assert float(X_train.min()) >= 0.0 and float(X_train.max()) <= 1.0
    assert y_train.dtype == torch.int64 and set(y_test.unique().tolist()) <= set(range(10))


# --- loop and helpers -----------------------------------------------------------------------

def test_train_steps_lowers_the_loss_and_records_every_step():
    X, y = make_binary_task(n_samples=300, seed=0)
    torch.manual_seed(0)
    model = bn_mlp()
    losses = training.train_steps(model, X, y, lr=0.1, steps=150, batch_size=32, seed=0)
    assert losses.shape == (150,) and np.isfinite(losses).all()
    assert losses[-20:].mean() < losses[:20].mean() - 0.1


class NotANumberModel(nn.Module):
    """A model whose output is nan, as a diverged network's becomes."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(20, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear(x)) * float("nan")


def test_train_steps_marks_a_diverged_run_with_nan():
    X, y = make_binary_task(n_samples=300, seed=0)
    losses = training.train_steps(NotANumberModel(), X, y, lr=0.1, steps=10, batch_size=32, seed=0)
    assert np.isnan(losses).all()
    assert np.isnan(training.evaluate(NotANumberModel(), X, y)[0])


def test_train_steps_never_gives_batchnorm_a_batch_of_one():
    X, y = make_binary_task(n_samples=65, seed=0)  # 65 = one batch of 64 + 1 left over
    torch.manual_seed(0)
    losses = training.train_steps(bn_mlp(), X, y, lr=0.1, steps=5, batch_size=64, seed=0)
    assert np.isfinite(losses).all()


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    X, y = make_binary_task(n_samples=64, seed=0)
    model = bn_mlp().train()
    loss, accuracy = training.evaluate(model, X, y)
    assert model.training and 0 <= accuracy <= 1 and loss > 0
    assert int(model[1].num_batches_tracked) == 0  # nothing updated in eval mode


def test_smooth_and_steps_to_reach():
    losses = np.array([1.0, 1.0, 0.5, 0.1, 0.1])
    assert np.allclose(training.smooth(losses, window=2), [1.0, 1.0, 0.75, 0.3, 0.1])
    assert training.steps_to_reach(losses, threshold=0.31, window=2) == 4
    assert training.steps_to_reach(losses, threshold=0.01, window=2) is None


def test_tolerated_learning_rates_need_every_seed_below_the_bound():
    sweep = {"learning_rates": np.array([0.1, 1.0, 10.0]),
             "m": {"final_loss": np.array([[0.3, 0.35], [0.3, 0.5], [np.nan, 0.2]])}}
    assert training.tolerated_learning_rates(sweep, "m", 0.4).tolist() == [0.1]
    assert training.decades(np.array([0.1, 10.0])) == pytest.approx(2.0)


# --- experiments return what the lesson reads ----------------------------------------------

BUILDERS = {"without BN": BaselineMLP, "with BN": bn_mlp}


def test_compare_models_is_repeatable_and_shaped():
    X, y = make_binary_task(n_samples=200, seed=0)
    first = training.compare_models(BUILDERS, X, y, lr=0.1, steps=40, batch_size=32, seeds=[0, 1], threshold=0.6)
    second = training.compare_models(BUILDERS, X, y, lr=0.1, steps=40, batch_size=32, seeds=[0, 1], threshold=0.6)
    for name in BUILDERS:
        assert first[name]["losses"].shape == (2, 40)
        assert len(first[name]["steps_to_threshold"]) == 2
        assert np.array_equal(first[name]["losses"], second[name]["losses"])


def test_learning_rate_sweep_and_batch_size_experiment_shapes():
    X, y = make_binary_task(n_samples=200, seed=0)
    sweep = training.learning_rate_sweep(BUILDERS, X, y, learning_rates=[0.01, 0.1, 1.0], steps=20,
                                         batch_size=32, seeds=[0, 1])
    assert sweep["with BN"]["losses"].shape == (3, 2, 20) and sweep["without BN"]["final_loss"].shape == (3, 2)
    batches = training.batch_size_experiment(BUILDERS, X[:150], y[:150], X[150:], y[150:], batch_sizes=[2, 16],
                                             steps=20, lr=0.1, seeds=[0])
    assert batches["with BN"]["test_accuracy"].shape == (2, 1)
    assert np.all((0 <= batches["with BN"]["test_accuracy"]) & (batches["with BN"]["test_accuracy"] <= 1))


def test_figure1_run_records_accuracy_and_ordered_percentiles():
    X_train, y_train, X_test, y_test = load_digits_split()
    torch.manual_seed(0)
    model = training.init_small_gaussian(nn.Sequential(nn.Linear(64, 30), nn.Sigmoid(), nn.Linear(30, 30),
                                                       nn.Sigmoid(), nn.Linear(30, 10)), std=0.1)
    run = training.figure1_run(model, X_train, y_train, X_test, y_test, steps=100, lr=0.5, eval_every=25)
    assert run["steps"].tolist() == [0, 25, 50, 75, 100]
    assert run["percentiles"].shape == (5, 3)
    assert np.all(np.diff(run["percentiles"], axis=1) >= 0)  # 15th <= 50th <= 85th
    assert training.first_step_reaching(run, 0.0) == 0
    assert training.percentile_drift(run, after_step=50) >= 0


def test_last_sigmoid_is_the_last_hidden_nonlinearity():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2))
    assert training.last_sigmoid(model) is model[3]
    with pytest.raises(ValueError):
        training.last_sigmoid(nn.Linear(2, 2))


# --- the slider view -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_sweep():
    X, y = make_binary_task(n_samples=200, seed=0)
    return training.learning_rate_sweep(BUILDERS, X, y, learning_rates=[0.01, 0.1, 1.0, 30.0], steps=60,
                                        batch_size=32, seeds=[0, 1, 2])


def test_learning_rate_view_renders_and_redraws_a_different_figure(small_sweep):
    view = training.learning_rate_view(small_sweep, list(BUILDERS))
    assert view.png.startswith(b"\x89PNG")
    default = view.png
    changed = view.update(learning_rate=0.01)
    assert changed != default
    assert view.update(learning_rate=30.0) != changed  # a rate where runs may diverge still draws


# --- what the learner-facing package must not contain -------------------------------------

def test_utils_has_no_batchnorm_seed_mlp_and_no_train_epoch():
    for module in (utils.training, utils.data):
        source = inspect.getsource(module)
        assert "BatchNorm1d(64)" not in source
        assert "def train_epoch" not in source
        assert "autograder" not in source.replace("not the autograder", "")
