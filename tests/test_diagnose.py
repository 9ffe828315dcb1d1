"""diagnose() on real snnTorch, SpikingJelly and Norse models: collapsed, healthy, saturated, synchronous.

No mocks: every model is built with its framework (the demo's builders: snnTorch ``init_hidden`` Sequential,
SpikingJelly multi-step, Norse ``SequentialState`` of cells), run the framework's way, and the verdicts are
asserted on what the real neurons emitted.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest
import snntorch as snn
import torch
from torch import nn

from snninit_plugins import UnknownFrameworkError, apply_init, diagnose
from snninit_plugins.demo import FRAMEWORKS, build
from snninit_plugins.diagnosis import Diagnosis, ModelRunError, Thresholds, verdict
from snninit_plugins.errors import InputSpecError
from snninit_plugins.simulator import bernoulli_spikes

T, B, RATE, WIDTH = 25, 16, 0.1, 128


@pytest.fixture(autouse=True)
def _one_thread():  # small layers: one thread is faster, and the machine is shared
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def spikes(width: int = WIDTH, rate: float = RATE, seed: int = 1, steps: int = T) -> torch.Tensor:
    return bernoulli_spikes(rate, steps, (B, width), generator=torch.Generator().manual_seed(seed))


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------------------------- real models
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_default_init_collapses_in_every_framework(framework: str) -> None:
    model = build(framework, depth=5, width=WIDTH)
    x = spikes()
    d = diagnose(model, x)  # framework detected from the classes
    assert isinstance(d, Diagnosis) and d.framework == framework
    assert len(d) == 5 and d.n_steps == T and d.batch == B and d.input_spiking
    assert abs(d.input_rate - float(x.mean())) < 1e-9
    assert not d.healthy
    for layer in d.layers[2:]:  # PyTorch's default init: silent from the third layer at the latest
        assert layer.verdict == "collapsed", (layer.name, layer.rate, layer.reason)
        assert layer.rate < 0.1 * d.input_rate
        assert "never spike" in layer.reason and "input rate" in layer.reason
    last = d.layers[-1]
    assert last.silent_fraction > 0.5 and last.neurons == WIDTH and last.predicted_rate is None
    assert "first unhealthy" in d.summary() and "collapsed" in str(d)
    # the state is reset after the run: the same call gives the same numbers
    again = diagnose(model, x, framework)
    assert again.rates == d.rates


# Norse: one layer (planning its synaptic-filter neuron takes seconds per distinct layer; the demo test has two)
@pytest.mark.parametrize("framework, depth", [("snntorch", 5), ("spikingjelly", 5), ("norse", 1)])
def test_apply_init_makes_every_layer_healthy_and_the_plan_is_shown(framework: str, depth: int) -> None:
    model = build(framework, depth=depth, width=WIDTH)
    x = spikes()
    report = apply_init(model, framework, input_rate=RATE, T=T, generator=torch.Generator().manual_seed(0))
    d = diagnose(model, x, framework, report=report)
    assert d.healthy, str(d)
    assert [lay.verdict for lay in d] == ["healthy"] * depth
    assert d.planned_steps == T and d.notes == ()
    for layer, planned in zip(d, report):
        assert layer.predicted_rate == pytest.approx(planned.plan.rate)
        assert layer.reference_rate == layer.predicted_rate
        assert abs(math.log2(layer.rate / layer.predicted_rate)) <= 1 and not layer.off_plan
        assert layer.silent_fraction <= 0.5 and layer.synchrony < 20
        assert layer.reason.startswith(f"rate {layer.rate:.4g} spikes/step")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_strong_positive_weights_saturate(framework: str) -> None:
    model = build(framework, depth=2, width=64)
    with torch.no_grad():
        for lin in linears(model):
            lin.weight.fill_(2.0)
            lin.bias.fill_(5.0)
    d = diagnose(model, spikes(64, rate=0.5))
    assert d[-1].verdict == "saturated", str(d)
    assert d[-1].rate > 0.9 or d[-1].saturated_fraction > 0.5
    assert "above 0.9" in d[-1].reason or "95% of the steps" in d[-1].reason


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_identical_weight_rows_fire_in_lock_step(framework: str) -> None:
    """Every neuron of the layer sees the same input, so they all spike together: chi = N.

    The shared row is scaled up until the layer fires at a moderate rate (the frameworks' neurons have
    different gains; a layer that fires at every step would be saturated first).
    """
    model = build(framework, depth=1, width=WIDTH)
    lin = linears(model)[0]
    row = torch.randn(WIDTH, generator=torch.Generator().manual_seed(3)).abs() * 0.05
    x = spikes()
    for scale in (1, 2, 4, 8, 16, 32, 64):
        with torch.no_grad():
            lin.weight.copy_((scale * row).expand_as(lin.weight))
            lin.bias.zero_()
        d = diagnose(model, x, framework)
        if 0.05 < d[0].rate < 0.5:
            break
    layer = d[0]
    assert layer.verdict == "synchronous", str(d)
    assert layer.synchrony > 20 and "chi" in layer.reason
    assert layer.synchrony == pytest.approx(WIDTH, rel=1e-6)  # lock-step: chi = N


def test_membrane_is_reported_where_the_neuron_exposes_it() -> None:
    x = spikes()
    snntorch_d = diagnose(build("snntorch", 2, WIDTH), x)
    norse_d = diagnose(build("norse", 2, WIDTH), x)
    for d in (snntorch_d, norse_d):
        for layer in d:
            assert layer.membrane_mean is not None and math.isfinite(layer.membrane_mean)
            assert layer.membrane_std is not None and layer.membrane_std > 0
    # SpikingJelly multi-step neurons keep their membrane sequence only with store_v_seq=True
    sj = diagnose(build("spikingjelly", 2, WIDTH), x)
    assert all(layer.membrane_mean is None and layer.membrane_std is None for layer in sj)
    assert " - " in str(sj)


def test_as_dict_is_json_and_nan_becomes_none() -> None:
    d = diagnose(build("snntorch", 5, WIDTH), spikes())
    data = json.loads(json.dumps(d.as_dict(), allow_nan=False))
    assert data["framework"] == "snntorch" and len(data["layers"]) == 5 and data["healthy"] is False
    silent = [lay for lay in data["layers"] if lay["rate"] == 0]
    assert silent and all(lay["synchrony"] is None for lay in silent)  # chi of a silent layer is undefined
    assert data["thresholds"]["max_synchrony"] == 20.0


# --------------------------------------------------------------------------------------------- the rules
def test_verdict_order_and_reasons() -> None:
    th = Thresholds()
    assert verdict(0.1, 0.6, 0.0, 1.0, 100, 0.1, th)[0] == "collapsed"  # silent fraction alone
    v, why = verdict(0.005, 0.1, 0.0, 1.0, 100, 0.1, th, "the input rate")
    assert v == "collapsed" and "below 0.01 (0.1 x the input rate 0.1)" in why
    assert verdict(0.0005, 0.0, 0.0, 1.0, 100, None, th)[0] == "collapsed"  # analog input: floor rate
    assert verdict(0.002, 0.0, 0.0, 1.0, 100, None, th)[0] == "healthy"
    assert verdict(0.95, 0.0, 0.0, 1.0, 100, 0.1, th)[0] == "saturated"
    v, why = verdict(0.5, 0.0, 0.6, 1.0, 100, 0.1, th)
    assert v == "saturated" and "60% of the neurons" in why
    v, why = verdict(0.1, 0.0, 0.0, 25.0, 100, 0.1, th)
    assert v == "synchronous" and "chi 25 > 20" in why and "100 = lock-step" in why
    assert verdict(0.1, 0.0, 0.0, math.nan, 100, 0.1, th)[0] == "healthy"
    # collapse wins over synchrony: a dying layer is reported as dying
    assert verdict(0.001, 0.9, 0.0, 50.0, 100, 0.1, th)[0] == "collapsed"
    # a sample too small to tell silence from chance: 0.03 spikes/step over 40 steps leaves 30% silent anyway
    v, why = verdict(0.03, 0.55, 0.0, 1.0, 64, 0.03, th, "the planned rate", samples=40)
    assert v == "healthy" and "55% silent is not used" in why and "30% of independent neurons" in why
    assert verdict(0.03, 0.55, 0.0, 1.0, 64, 0.03, th, samples=400)[0] == "collapsed"  # 0.97**400: no chance
    v, why = verdict(0.0, 1.0, 0.0, math.nan, 64, 0.1, th, samples=400)
    assert v == "collapsed" and "100% of the 64 neurons never spike" in why and "not used" not in why
    strict = Thresholds(max_synchrony=2.0, collapse_ratio=0.5)
    assert verdict(0.1, 0.0, 0.0, 3.0, 100, 0.1, strict)[0] == "synchronous"
    assert verdict(0.04, 0.0, 0.0, 1.0, 100, 0.1, strict)[0] == "collapsed"


@pytest.mark.parametrize("kwargs", [{"max_silent": 1.5}, {"max_synchrony": 0.5}, {"plan_tolerance": 1.0},
                                    {"collapse_ratio": -0.1}])
def test_impossible_thresholds_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Thresholds(**kwargs)


def test_thresholds_change_the_verdicts() -> None:
    model = build("snntorch", 1, WIDTH)
    x = spikes()
    base = diagnose(model, x)[0]
    assert base.verdict == "healthy" or base.verdict == "collapsed"
    loose = diagnose(model, x, thresholds=Thresholds(collapse_ratio=0.0, max_silent=1.0))[0]
    assert loose.verdict == "healthy"


def test_a_layer_far_from_its_plan_says_so() -> None:
    """Weights planned for 0.1 spikes/step, diagnosed against a plan for 0.4: x4 below the plan, still healthy."""
    model = build("snntorch", 2, WIDTH)
    apply_init(model, "snntorch", input_rate=RATE, target_rate=RATE, T=T, generator=torch.Generator().manual_seed(0))
    other_plan = apply_init(model, "snntorch", input_rate=RATE, target_rate=0.4, T=T, dry_run=True)
    d = diagnose(model, spikes(), report=other_plan)
    for layer in d:
        assert layer.off_plan and layer.verdict == "healthy", str(d)
        assert "below the plan's 0.4" in layer.reason
        assert layer.reference_rate == pytest.approx(0.4, rel=1e-3)
    assert f"{d[0].name}: healthy: " in str(d)  # off-plan layers get their reason printed


def test_report_of_another_window_or_model_is_noted_or_refused() -> None:
    model = build("snntorch", 2, 64)
    report = apply_init(model, "snntorch", "kaiming", input_rate=RATE, T=T, dry_run=True)  # no solve: fast
    d = diagnose(model, spikes(64, steps=10), report=report)
    assert any("T=25" in note and "T=10" in note for note in d.notes)
    other = nn.Sequential(OrderedDict(fc=nn.Linear(64, 64), lif=snn.Leaky(0.9, init_hidden=True)))
    other_report = apply_init(other, "snntorch", "kaiming", input_rate=RATE, T=T, dry_run=True)
    with pytest.raises(ValueError, match="does not describe this model"):
        diagnose(model, spikes(64), report=other_report)


# --------------------------------------------------------------------------------------------- errors
def test_bad_samples_are_refused_with_the_shape() -> None:
    model = build("snntorch", 1, 32)
    with pytest.raises(InputSpecError, match=r"\[T, batch, \.\.\.\].*\(32,\)"):
        diagnose(model, torch.zeros(32))
    with pytest.raises(InputSpecError, match="torch.Tensor"):
        diagnose(model, [[0.0] * 32])


def test_a_model_that_fails_on_the_sample_names_the_shape() -> None:
    model = build("spikingjelly", 1, 32)
    with pytest.raises(ModelRunError, match=r"shape \(25, 16, 20\).*failed: RuntimeError"):
        diagnose(model, spikes(20))


def test_models_without_spiking_layers_or_framework() -> None:
    with pytest.raises(UnknownFrameworkError, match="pass framework=..."):
        diagnose(nn.Sequential(nn.Linear(8, 8)), spikes(8))
    with pytest.raises(ModelRunError, match="no snntorch neuron module"):
        diagnose(nn.Sequential(nn.Linear(8, 8)), spikes(8), "snntorch")
    with pytest.raises(UnknownFrameworkError, match="unknown framework 'brian'"):
        diagnose(build("snntorch", 1, 8), spikes(8), "brian")


def test_uncalled_neurons_are_listed() -> None:
    class Partial(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif, self.unused = nn.Linear(16, 16), snn.Leaky(0.9), snn.Leaky(0.9)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem, out = self.lif.reset_mem(), []
            for t in range(x.shape[0]):
                spk, mem = self.lif(self.fc(x[t]), mem)
                out.append(spk)
            return torch.stack(out)

    d = diagnose(Partial(), spikes(16))
    assert [lay.name for lay in d] == ["lif"] and d.not_run == ("unused",)
    assert "not run: unused" in str(d)


def test_compare_tabulates_before_planned_and_after_per_layer() -> None:
    from snninit_plugins.diagnosis import compare

    model = build("snntorch", depth=3, width=WIDTH)
    x = spikes()
    before = diagnose(model, x)
    report = apply_init(model, framework="snntorch", input_rate=RATE, T=T, generator=torch.Generator().manual_seed(0))
    after = diagnose(model, x, report=report)
    text = compare(before, after)
    rows = text.splitlines()
    assert len(rows) == 1 + len(after) + 1 and "planned" in rows[0]
    assert rows[1].split()[2] == f"{before[0].rate:.4f}" and rows[1].split()[4] == f"{after[0].rate:.4f}"
    assert "before: 3 spiking layers" in rows[-1] and "after:" in rows[-1]
