"""apply_init's contract: detection, errors that say what to do, the report, warnings."""

from __future__ import annotations

import json

import pytest
import snntorch as snn
import torch
from torch import nn

from snninit_plugins import (
    InfeasibleTargetError,
    StrategyOptionError,
    UnknownFrameworkError,
    UnknownMethodError,
    apply_init,
)
from snninit_plugins.strategies import get_strategy
from snninit_plugins.walker import ModelStructureError


def small() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Linear(64, 64), snn.Leaky(beta=0.8, init_hidden=True), nn.Linear(64, 10))


def test_auto_detects_the_framework_from_the_model() -> None:
    assert apply_init(small(), input_rate=0.1, T=25, dry_run=True).framework == "snntorch"


def test_unknown_framework_lists_the_available_ones_and_the_extra() -> None:
    with pytest.raises(UnknownFrameworkError, match=r"unknown framework 'snntroch'; available: .*snntorch.*pip install"):
        apply_init(small(), framework="snntroch", input_rate=0.1)


def test_a_model_of_no_known_framework_is_a_clear_error() -> None:
    with pytest.raises(UnknownFrameworkError, match="could not detect the framework of Sequential.*framework=..."):
        apply_init(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), input_rate=0.1)


def test_a_model_without_spiking_layers_is_a_clear_error() -> None:
    model = nn.Sequential(nn.Linear(4, 4), snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True))
    with pytest.raises(ModelStructureError, match="found no weight layer feeding a spiking neuron.*Alpha"):
        apply_init(model, framework="snntorch", input_rate=0.1)


def test_unknown_method_lists_the_available_ones() -> None:
    with pytest.raises(UnknownMethodError, match="unknown method 'kaiming_normal'; available: default, diffusion"):
        apply_init(small(), method="kaiming_normal", input_rate=0.1)


def test_a_misspelt_strategy_option_is_a_clear_error_and_changes_nothing() -> None:
    model = small()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(StrategyOptionError, match=r"'general' has no option 'window_onest' \(did you mean "
                                                  r"'window_onset'\?\); its options: .*window_offset"):
        apply_init(model, input_rate=0.1, T=25, window_onest=True)
    with pytest.raises(StrategyOptionError, match=r"\('gain'\) were given with a strategy instance \(General\)"):
        apply_init(model, "snntorch", get_strategy("general"), input_rate=0.1, T=25, gain=0.4)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_report_names_the_strategy_options_set() -> None:
    report = apply_init(small(), input_rate=0.1, T=25, dry_run=True, window_offset=False, gain=0.4)
    assert str(report).splitlines()[0].startswith("snninit general (window_offset=False, gain=0.4) on snntorch")
    assert report.as_dict()["options"]["window_offset"] is False and report.as_dict()["options"]["criterion"] == "gain"
    assert str(apply_init(small(), input_rate=0.1, T=25, dry_run=True)).startswith("snninit general on snntorch")


def test_impossible_target_names_the_layer() -> None:
    with pytest.raises(InfeasibleTargetError, match="^2: target rate 1.2"):
        apply_init(small(), input_rate=0.1, target_rate=[0.1, 1.2], T=25)


def test_wrong_number_of_targets() -> None:
    with pytest.raises(ValueError, match="3 target rates given for 2 spiking layers"):
        apply_init(small(), input_rate=0.1, target_rate=[0.1, 0.1, 0.1])


def test_missing_input_statistics_warn_and_use_the_documented_default() -> None:
    with pytest.warns(UserWarning, match="assuming input spikes at 0.1/step"):
        report = apply_init(small(), T=25, dry_run=True)
    assert report.input.mean == 0.1


def test_sample_gives_analog_input_statistics() -> None:
    sample = torch.rand(8, 32)
    report = apply_init(small(), sample=sample, target_rate=0.05, T=25, dry_run=True)
    assert not report.input.spiking
    assert report.input.mean == pytest.approx(sample.mean().item(), rel=1e-6)
    assert report[0].plan.rate == pytest.approx(0.05, rel=3e-3)


def test_report_is_a_table_and_a_dict() -> None:
    report = apply_init(small(), input_rate=0.1, T=25, dry_run=True)
    text = str(report)
    assert "Leaky 1" in text and "Leaky 3" in text and "dry run" in text
    assert "skipped 4: feeds no spiking neuron" in text  # the readout is reported, not silently ignored
    data = json.loads(json.dumps(report.as_dict()))
    assert [layer["synapses"] for layer in data["layers"]] == [["0"], ["2"]]
    assert report["2"].fan_in == 64 and len(report) == 2


def test_bad_window() -> None:
    with pytest.raises(ValueError, match="T must be a positive number of steps"):
        apply_init(small(), input_rate=0.1, T=0)


def test_report_prints_the_notes() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True))
    text = str(apply_init(model, input_rate=0.1, T=25, dry_run=True))
    assert "note 0: max pooling of 4 positions" in text


def _stack(beta: float, depth: int = 8, width: int = 256) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), snn.Leaky(beta=beta, reset_mechanism="subtract", init_hidden=True)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("beta, rate, window, unstable", [(0.99, 0.05, 25, True), (0.9, 0.1, 25, False)])
def test_a_stack_whose_planned_fixed_point_is_unstable_gets_a_note(beta: float, rate: float, window: int,
                                                                   unstable: bool) -> None:
    """Beta 0.99, subtract reset, 0.05 spikes/step, T = 25, planned without the window options: a configuration of
    benchmarks/depth.py that fails at depth 50 (its (rate, spread) map's radius is 1.04); beta 0.9 at 0.1, T = 25:
    0.78, no note."""
    report = apply_init(_stack(beta), input_rate=rate, T=window, dry_run=True, window_offset=False,
                        window_onset=False)
    notes = [note for layer in report for note in layer.notes if "spectral radius" in note]
    if not unstable:
        assert notes == []
        return
    assert len(notes) == 1 and notes[0] in report[-2].notes  # on the run's last layer (the readout is centred)
    assert notes[0].startswith("0 .. 12 (7 identical layers)") and "calibrate=True" in notes[0]
    assert "or plan with window_offset=True, window_onset=True" in notes[0]
    # planned with both options (the defaults), the stack's map is no longer flagged, and nothing suggests them
    planned = apply_init(_stack(beta), input_rate=rate, T=window, dry_run=True)
    assert not [note for layer in planned for note in layer.notes if "window_onset" in note]
    assert float(notes[0].split("spectral radius ")[1].split(" ")[0]) > 1.02
