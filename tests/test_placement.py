"""utils.placement and utils.widgets.SliderView: what lesson 03 shows and claims; and the judge of its two
exercises (autograder.checks._models, which replaced the operation-name trace of _placement.py)."""
from __future__ import annotations

import copy
import json

import ipywidgets as widgets
import pytest
import torch
from torch import nn

from autograder.checks import _models, exercise_module, gather, roundtrip
from autograder.judge import wire
from autograder.judge.decide import verdict
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


# ------------------------------------------------------------------ the bn_mlp / bn_cnn judge
# (autograder.checks._models, which replaced the operation-name trace of _placement.py)
RIGHT_MLP = """
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64, momentum=None), nn.ReLU(),
                                 nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
"""
FUNCTIONAL_MLP = """
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(20, 64), nn.Linear(64, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(F.relu(F.batch_norm(self.fc1(x), None, None, training=True))))
"""


def _evidence(exercise: str, source: str, seed: int = 0, hidden: bool = False):
    module = exercise_module(exercise)
    namespace: dict = {"__name__": "__main__"}
    exec(module.PRELUDE, namespace)
    exec(source, namespace)
    cases = roundtrip(module.cases(seed, hidden))
    return module, cases, roundtrip(gather(module, namespace, cases))


def test_the_reference_simulation_is_pytorchs_batchnorm_in_training_and_eval():
    """The judge's float64 rebuild agrees with torch.nn's layers (outputs, running stats, grads)."""
    module, cases, gathered = _evidence("bn_mlp", RIGHT_MLP, seed=3, hidden=True)
    ev = _models.decode(gathered["evidence"])
    chosen = {key: found[0] for key, found in _models._candidates(module.SPEC, ev).items()}
    pred = _models.simulate(_models._stages(module.SPEC, chosen), ev, cases)
    net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64, momentum=None), nn.ReLU(), nn.Linear(64, 1),
                        nn.Sigmoid()).double()
    state = {name.replace("net.", ""): tensor for name, tensor in {**ev.params, **ev.buffers}.items()}
    net.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state.items()})
    for index, run in enumerate(cases["runs"]):
        net.train(run["mode"] == "train")
        x = wire.as_tensor(run["x"], dtype=torch.float64).requires_grad_(index == 0)
        out = net(x)
        assert torch.allclose(out, pred.outputs[index], atol=1e-12)
        assert torch.allclose(net[1].running_var, pred.buffers[index]["net.1.running_var"], atol=1e-12)
        if index == 0:
            (out * wire.as_tensor(run["weights"], dtype=torch.float64)).sum().backward()
            assert torch.allclose(net[1].weight.grad, pred.grads["net.1.weight"], atol=1e-12)
            assert torch.allclose(x.grad, pred.input_grad, atol=1e-12)


def test_a_right_model_passes_visible_and_hidden_and_the_notebook_prints_the_lines(capsys):
    module = exercise_module("bn_mlp")
    namespace: dict = {"__name__": "__main__"}
    exec(module.PRELUDE, namespace)
    exec(RIGHT_MLP, namespace)
    module.visible(namespace)
    module.hidden(namespace)
    assert capsys.readouterr().out.count("✓ BatchNormMLP computes") == 2


def test_evidence_that_does_not_match_the_parameters_fails():
    """Outputs are only right together with the parameters they came from: change one weight in
    the evidence and the same outputs no longer pass."""
    module, cases, gathered = _evidence("bn_mlp", RIGHT_MLP)
    assert verdict(module, cases, gathered).passed
    forged = copy.deepcopy(gathered)
    record = next(p for p in forged["evidence"]["parameters"] if p["name"] == "net.3.weight")
    weight = wire.as_tensor(record["tensor"]) * 1.01
    record["tensor"] = wire.tensor(weight)
    assert not verdict(module, cases, forged).passed


def test_malformed_evidence_is_refused_not_counted():
    module, cases, gathered = _evidence("bn_cnn", "from utils.models import BaselineCNN\n" + """
class BatchNormCNN(BaselineCNN):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.head(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))
""")
    assert verdict(module, cases, gathered).passed
    for forge in (lambda e: e["runs"][0].update(output={"kind": "tensor", "dtype": "float32", "shape": [8, 10],
                                                         "data": "AAAA"}),
                  lambda e: e.update(modules="everything is fine"),
                  lambda e: e["runs"].pop()):
        broken = copy.deepcopy(gathered)
        forge(broken["evidence"])
        result = verdict(module, cases, broken)
        assert not result.passed and "could not be read" in result.feedback


def test_the_trace_only_words_a_diagnosis():
    module, cases, gathered = _evidence("bn_mlp", RIGHT_MLP)
    blank = copy.deepcopy(gathered)
    blank["evidence"]["trace"] = {"calls": [], "functions": ["batch_norm", "layer_norm", "var"]}
    assert verdict(module, cases, blank).passed
    module, cases, gathered = _evidence("bn_mlp", FUNCTIONAL_MLP)
    assert "F.batch_norm" in verdict(module, cases, gathered).feedback
    gathered["evidence"]["trace"] = {"calls": [], "functions": []}
    result = verdict(module, cases, gathered)
    assert not result.passed and "F.batch_norm" not in result.feedback


def test_the_evidence_is_plain_json_and_the_judge_needs_no_learner_class():
    module, cases, gathered = _evidence("bn_mlp", RIGHT_MLP)
    text = json.dumps(gathered)
    assert "BatchNormMLP" not in {type(v).__name__ for v in gathered.values()}
    assert verdict(module, cases, json.loads(text)).passed


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
