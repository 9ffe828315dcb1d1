"""The Norse adapter against the real Norse (no mocks): exact neuron mappings, owned weights, deep stacks, conv nets.

Mappings are checked by running each Norse module and the canonical simulator
(:func:`snninit_plugins.simulator.run_neurons`) on the same input: the spike trains must be identical. Network
measurements run the actual Norse models the way their users do (``SequentialState`` of cells stepped with its state
list, ``Lift``/``LIF`` sequence models on the whole sample, custom modules with their own loop), recorded with
:func:`snninit_plugins.recording.record` and summarised with :func:`snninit_plugins.simulator.layer_activity`.
Acceptance criteria of the issue, for every spiking layer: ``|log2(rate / target)| <= 1``, silent fraction
``<= 0.15``, synchrony ``chi <= 20``, first layer within 5 % of the target.
"""

from __future__ import annotations

import math
import subprocess
import sys

import norse.torch as norse
import pytest
import torch
from acceptance import assert_criteria, build, gen, show  # noqa: E402
from norse.torch.functional.reset import reset_subtract
from snninit_plugins.adapters.norse import NorseAdapter
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.plugins import get_adapters
from snninit_plugins.recording import record
from snninit_plugins.simulator import LayerActivity, bernoulli_spikes, layer_activity, run_neurons

T, B, RATE = 25, 32, 0.1
DEPTH, WIDTH = 20, 256
ADAPTER = NorseAdapter()


# --------------------------------------------------------------------------------------------- helpers
def spikes_in(shape: tuple[int, ...], seed: int = 1, rate: float = RATE, n_steps: int = T) -> torch.Tensor:
    return bernoulli_spikes(rate, n_steps, shape, generator=gen(seed))


def activities(model: nn.Module, x: torch.Tensor) -> list[tuple[str, LayerActivity]]:
    """Every spiking layer's activity, from the real model run the Norse way."""
    return [(name, layer_activity(s)) for name, s in record(model, ADAPTER, x).spikes.items()]


def step_cell(cell: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """A Norse cell stepped over x (T, ...): spikes (T, ...) and the state after every step."""
    state, spikes, states = None, [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            spikes.append(z)
            states.append(state)
    return torch.stack(spikes), states


#: For the tests about structure (pairing, owned weights, skipping, registration): an instant baseline strategy
#: writes the same way; "general" plans cost 5-60 s each on a loaded 2-core host.
STRUCTURE = "kaiming"


# --------------------------------------------------------------------------------------------- 1. mappings
N_NEURONS, MAP_STEPS = 16, 80
PER_NEURON_TAU = torch.linspace(50.0, 200.0, N_NEURONS)
PER_NEURON_THETA = torch.linspace(0.5, 1.5, N_NEURONS)

MAPPING_CASES = {
    # id: (factory, input mean, input std, substrings of the canonical description)
    "LIFCell-default": (lambda: norse.LIFCell(), 0.15, 0.6, ["beta=0.9 ", "g=0.1 ", "alpha=0.8 ", "reset=value(0)"]),
    "LIFCell-v_leak-dt": (lambda: norse.LIFCell(norse.LIFParameters(
        v_leak=torch.tensor(0.5), v_reset=torch.tensor(-0.2), v_th=torch.tensor(0.8)), dt=2e-3),
        0.0, 0.6, ["beta=0.8 ", "g=0.2 ", "alpha=0.6 ", "c=0.1 ", "theta=0.8 ", "value(-0.2)", "V0=0.5"]),
    "LIF-sequence": (lambda: norse.LIF(), 0.15, 0.6, ["beta=0.9 ", "alpha=0.8 "]),
    "LIFCell-per-neuron": (lambda: norse.LIFCell(norse.LIFParameters(tau_mem_inv=PER_NEURON_TAU,
                                                                     v_th=PER_NEURON_THETA)),
                           0.15, 0.6, ["beta=[0.8..0.95]", "g=[0.05..0.2]", "theta=[0.5..1.5]"]),
    "LIFBoxCell-value": (lambda: norse.LIFBoxCell(), 0.5, 3.0, ["beta=0.9 ", "g=0.1 ", "reset=value(0)"]),
    "LIFBoxCell-subtract": (lambda: norse.LIFBoxCell(norse.LIFBoxParameters(
        reset_method=reset_subtract, v_leak=torch.tensor(0.3))), 0.3, 3.0, ["reset=subtract ", "c=0.03 ", "V0=0.3"]),
    "IAFCell": (lambda: norse.IAFCell(), 0.02, 0.3, ["beta=1 ", "reset=value(0)"]),
    "IAF-sequence": (lambda: norse.IAF(norse.IAFParameters(v_th=torch.tensor(0.7), v_reset=torch.tensor(-0.3))),
                     0.02, 0.3, ["beta=1 ", "theta=0.7 ", "value(-0.3)", "V0=-0.3"]),
    "LIFRefracCell-5": (lambda: norse.LIFRefracCell(), 0.15, 0.6, ["+5 refractory"]),
    "LIFRefracCell-2.5": (lambda: norse.LIFRefracCell(norse.LIFRefracParameters(rho_reset=torch.tensor(2.5))),
                          0.15, 0.6, ["+3 refractory"]),
}


def _run_module(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if type(module).__name__ in ("LIF", "IAF"):
        with torch.no_grad():
            return module(x)[0]
    return step_cell(module, x)[0]


@pytest.mark.parametrize("case", list(MAPPING_CASES))
def test_each_neuron_class_matches_the_canonical_simulator_spike_for_spike(case: str) -> None:
    factory, mean, std, expected = MAPPING_CASES[case]
    module = factory()
    info = ADAPTER.neuron_info(module, case)
    assert info.neuron is not None, info.skip_reason
    description = info.neuron.describe() + " "
    for text in expected:
        assert text in description, description
    x = mean + std * torch.randn(MAP_STEPS, 4, N_NEURONS, generator=gen(3))
    z = _run_module(module, x)
    reference = run_neurons(info.neuron, x.double()).to(z.dtype)
    rate = float(z.mean())
    assert 0.02 < rate < 0.6, f"{case}: input not in a useful regime, rate {rate}"  # spikes and silence both seen
    mismatches = int((z != reference).sum())
    assert mismatches == 0, f"{case}: {mismatches} of {z.numel()} spikes differ (rate {rate:.3f})"


def test_the_synaptic_filter_and_initial_membrane_matter() -> None:
    """Negative controls: the same comparison fails without the filter, or with V0 = 0 instead of v_leak."""
    module = norse.LIFCell(norse.LIFParameters(v_leak=torch.tensor(0.9)))
    neuron = ADAPTER.neuron_info(module, "lif").neuron
    x = 0.05 + 0.6 * torch.randn(MAP_STEPS, 4, N_NEURONS, generator=gen(4))
    z = _run_module(module, x)
    assert torch.equal(run_neurons(neuron, x.double()).to(z.dtype), z)
    assert not torch.equal(run_neurons(neuron.replace(alpha=None), x.double()).to(z.dtype), z)
    assert not torch.equal(run_neurons(neuron.replace(v0=0.0), x[:5].double()).to(z.dtype), z[:5])


def test_recurrent_cells_match_the_canonical_neuron_fed_by_their_own_spikes() -> None:
    """I[t] = alpha I[t-1] + W_in x[t] + W_rec z[t-1]: the canonical neuron on that input gives the same spikes."""
    for cell in (build(lambda: norse.LIFRecurrentCell(12, N_NEURONS)),
                 build(lambda: norse.LIFRefracRecurrentCell(12, N_NEURONS, p=norse.LIFRefracParameters(
                     rho_reset=torch.tensor(2.0))))):
        info = ADAPTER.neuron_info(cell, "rec")
        x = spikes_in((4, 12), seed=5, rate=0.3, n_steps=MAP_STEPS) * 3.0
        z, _ = step_cell(cell, x)
        previous = torch.cat([torch.zeros_like(z[:1]), z[:-1]])
        current = x @ cell.input_weights.detach().T + previous @ cell.recurrent_weights.detach().T
        reference = run_neurons(info.neuron, current.double()).to(z.dtype)
        assert 0.02 < float(z.mean()) < 0.6, float(z.mean())
        assert torch.equal(reference, z), f"{type(cell).__name__}: {int((reference != z).sum())} spikes differ"


def test_membrane_and_spikes_come_from_the_norse_outputs() -> None:
    cell, readout = norse.LIFRefracCell(), norse.LICell()
    x = torch.rand(2, 3)
    out = cell(x)
    assert ADAPTER.spikes(cell, out) is out[0]
    assert ADAPTER.membrane(cell, out) is out[1].lif.v
    li_out = readout(x)
    assert ADAPTER.spikes(readout, li_out) is None  # its output is a voltage
    sequence = norse.LIF()
    assert ADAPTER.membrane(sequence, sequence(torch.rand(4, 2, 3))) is None  # only the last step's state
    recorded = norse.LIF(record_states=True)
    out = recorded(torch.rand(4, 2, 3))
    assert ADAPTER.membrane(recorded, out).shape == (4, 2, 3)


# --------------------------------------------------------------------------------------------- 2. owned weights
@pytest.mark.parametrize("autapses", [False, True])
def test_recurrent_weights_are_rewritten_in_place_and_the_diagonal_stays_zero(autapses: bool) -> None:
    hidden = 64
    model = build(lambda: norse.SequentialState(  # SequentialState names its children by position: 0, 1, 2
        nn.Linear(WIDTH, hidden), norse.LIFCell(), norse.LIFRecurrentCell(hidden, hidden, autapses=autapses)))
    rec = model[2]
    w_in, w_rec = rec.input_weights, rec.recurrent_weights
    before_in, before_rec = w_in.detach().clone(), w_rec.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    report = apply_init(model, framework="norse", method=STRUCTURE, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    layer = report["2"]
    assert layer.synapses == ("2.input_weights", "2.recurrent_weights")
    assert layer.fan_in == hidden + hidden - (0 if autapses else 1)
    assert rec.input_weights is w_in and rec.recurrent_weights is w_rec  # same Parameter objects
    assert any(p is w_rec for group in optimizer.param_groups for p in group["params"])
    assert not torch.equal(w_in, before_in) and not torch.equal(w_rec, before_rec)
    diagonal = torch.diagonal(w_rec.detach())
    if autapses:
        assert bool((diagonal != 0).all())
    else:
        assert bool((diagonal == 0).all())
    off = w_rec.detach()[~torch.eye(hidden, dtype=torch.bool)].double()
    assert off.mean().item() == pytest.approx(layer.plan.weight_mean, abs=4 * layer.plan.weight_std / hidden)
    assert off.std().item() == pytest.approx(layer.plan.weight_std, rel=0.1)


def test_a_recurrent_layer_meets_the_criteria_with_its_own_rate_spread_fed_back(general) -> None:
    """Planned with recurrent input from identical units at the target rate the layer fired 0.214 (x2.1): each
    neuron's drift inherits the spread of the rates it receives. Fed back until self-consistent: measured
    0.0958/0.06/1.0 and 0.107/0.00/1.2 (rate/silent/chi)."""
    model = build(lambda: norse.SequentialState(nn.Linear(WIDTH, 64), norse.LIFCell(), norse.LIFRecurrentCell(64, 64)))
    report = apply_init(model, framework="norse", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert any("own rate spread" in note for note in report[1].notes), report[1].notes
    assert report[1].plan.input.unit_spread > 0.05  # the fed-back spread is in the planned input
    acts = activities(model, spikes_in((B, WIDTH)))
    show("recurrent after", acts)
    assert_criteria(acts)


# --------------------------------------------------------------------------------------------- 3. skipped
def test_unmappable_neurons_and_readouts_are_reported_by_name() -> None:
    model = build(lambda: norse.SequentialState(
        nn.Linear(32, 32), norse.LIFCell(),  # 0, 1
        nn.Linear(32, 32), norse.LSNNCell(),  # 2, 3
        nn.Linear(32, 32), norse.LIFAdExCell(),  # 4, 5
        nn.Linear(32, 32), norse.LIFExCell(),  # 6, 7
        nn.Linear(32, 32), norse.LIFCell(),  # 8, 9
        nn.Linear(32, 10), norse.LICell(),  # 10, 11
    ))
    untouched = {k: v.clone() for k, v in model.state_dict().items() if k.split(".")[0] in ("2", "4", "6", "10")}
    report = apply_init(model, framework="norse", method=STRUCTURE, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    skipped = dict(report.skipped)
    assert [layer.name for layer in report] == ["1", "9"]
    assert "LSNNCell" in skipped["3"] and "adaptive threshold" in skipped["3"]
    assert "LIFAdExCell" in skipped["5"] and "LIFExCell" in skipped["7"]
    assert "LICell" in skipped["11"] and "non-spiking" in skipped["11"]
    for fc, neuron in (("2", "3"), ("4", "5"), ("6", "7"), ("10", "11")):
        assert skipped[fc] == f"feeds {neuron}, which is skipped", skipped[fc]
        assert f"skipped {neuron}:" in str(report)
    for key, value in untouched.items():
        assert torch.equal(model.state_dict()[key], value), f"{key} of a skipped layer was written"


def test_out_of_range_parameters_are_skipped_with_what_to_do() -> None:
    info = ADAPTER.neuron_info(norse.LIFCell(dt=0.02), "layer3")
    assert info.neuron is None
    assert "layer3" in info.skip_reason and "dt*tau_mem_inv" in info.skip_reason and "smaller dt" in info.skip_reason
    per_neuron_rho = norse.LIFRefracCell(norse.LIFRefracParameters(rho_reset=torch.tensor([1.0, 3.0])))
    assert "rho_reset" in ADAPTER.neuron_info(per_neuron_rho, "r").skip_reason


# --------------------------------------------------------------------------------------------- 4. adapter contract
def test_registration_detection_and_no_import_at_module_import() -> None:
    assert isinstance(get_adapters()["norse"], NorseAdapter)
    model = build(lambda: norse.SequentialState(nn.Linear(16, 16), norse.LIFCell()))
    assert apply_init(model, method=STRUCTURE, input_rate=RATE, T=T, dry_run=True).framework == "norse"
    code = "import sys, snninit_plugins.adapters.norse as m; m.NorseAdapter(); assert 'norse' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True).returncode == 0


def test_run_steps_cell_models_and_passes_the_whole_sample_to_sequence_models() -> None:
    cells = build(lambda: norse.SequentialState(nn.Linear(8, 8), norse.LIFCell()))
    lifted = norse.SequentialState(norse.Lift(cells[0]), norse.LIF())
    x = spikes_in((3, 8), rate=0.5) * 20
    stepped = ADAPTER.run(cells, x)
    whole, _ = lifted(x)
    assert stepped.shape == (T, 3, 8) and torch.equal(stepped, whole) and float(stepped.detach().mean()) > 0
    assert torch.equal(ADAPTER.run(lifted, x)[0], whole)
    ADAPTER.reset(cells)  # a no-op: Norse keeps no state in its modules


# --------------------------------------------------------------------------------------------- 5. deep MLP
def lif_mlp(depth: int = DEPTH, width: int = WIDTH) -> nn.Module:
    return norse.SequentialState(*[m for _ in range(depth) for m in (nn.Linear(width, width), norse.LIFCell())])


MLP_WINDOW = 100  # see the docstring below: 25 steps are too few for 20 synaptic latencies


def test_deep_lif_cell_stack_collapses_before_and_fires_at_the_target_after(general) -> None:
    """20 x (Linear 256 -> LIFCell) in a SequentialState, Norse's default neuron (beta 0.9, g 0.1, alpha 0.8).

    Each layer's synaptic filter and membrane delay its first spikes by about 1.5 steps, so layer 20 starts firing
    at step ~30: planned and measured over T = 25 the deep layers miss (measured: layers 1-10 0.094..0.048, layer 14
    0.016, layers 19-20 silent). Over T = 100 every layer meets the criteria (measured: 0.063..0.113, chi <= 14).
    """
    model = build(lif_mlp)
    x = spikes_in((B, WIDTH), n_steps=MLP_WINDOW)
    before = activities(model, x)
    show("LIFCell MLP before", before)
    assert before[0][1].rate < 0.01 * RATE  # measured 0.0001, over 100 steps
    for name, a in before[1:]:
        assert a.rate == 0.0 and a.silent_fraction == 1.0, f"{name} is not silent before init: {a.rate}"

    report = apply_init(model, framework="norse", method=general, input_rate=RATE, T=MLP_WINDOW, generator=gen(0))
    print(report)
    assert len(report) == DEPTH and not report.skipped
    assert [(layer.synapses, layer.name) for layer in report] == [((str(2 * i),), str(2 * i + 1)) for i in range(DEPTH)]
    assert all("alpha=0.8" in layer.neuron and "g=0.1 " in layer.neuron for layer in report)  # the filter is planned
    after = activities(model, x)
    show("LIFCell MLP after", after)
    assert_criteria(after)


# --------------------------------------------------------------------------------------------- 6. conv nets
def conv_cells() -> nn.Module:
    """The Norse idiom, stepped: ``out, state = model(x[t], state)``; max pooling of the spikes; an LICell readout."""
    return norse.SequentialState(
        nn.Conv2d(1, 12, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Conv2d(12, 32, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), norse.LIFCell(),
        nn.Linear(64, 10), norse.LICell(),
    )


def conv_lifted() -> nn.Module:
    """The same network on whole sequences: ``Lift`` around the stateless modules, ``LIF``/``LI`` neurons."""
    return norse.SequentialState(
        norse.Lift(nn.Conv2d(1, 12, 5)), norse.LIF(), norse.Lift(nn.MaxPool2d(2)),
        norse.Lift(nn.Conv2d(12, 32, 5)), norse.LIF(), norse.Lift(nn.MaxPool2d(2)),
        norse.Lift(nn.Flatten()), norse.Lift(nn.Linear(32 * 4 * 4, 64)), norse.LIF(),
        norse.Lift(nn.Linear(64, 10)), norse.LI(),
    )


@pytest.fixture(scope="module")
def conv_runs(general):
    """Both conv nets, same seed, before and after apply_init (one plan: the second reuses the strategy's cache)."""
    x = spikes_in((B, 1, 28, 28))
    runs = {}
    for style, factory in (("cells", conv_cells), ("lifted", conv_lifted)):
        model = build(factory)
        before = activities(model, x)
        report = apply_init(model, framework="norse", method=general, input_rate=RATE, T=T, generator=gen(0))
        print(report)
        runs[style] = (model, before, report, activities(model, x), record(model, ADAPTER, x))
    return runs


@pytest.mark.parametrize("style", ["cells", "lifted"])
def test_convnet_pairs_its_layers_and_collapses_before(style: str, conv_runs) -> None:
    _, before, report, after, _ = conv_runs[style]
    show(f"conv {style} before", before)
    show(f"conv {style} after", after)
    assert all(a.rate == 0.0 for _, a in before), "the conv net does not collapse before init"
    prefix = ".lifted_module" if style == "lifted" else ""
    assert [layer.synapses[0] for layer in report] == [f"0{prefix}", f"3{prefix}", f"7{prefix}"]
    assert [layer.name for layer in report] == ["1", "4", "8"]
    assert [layer.fan_in for layer in report] == [25, 300, 512]
    assert dict(report.skipped) == {"10": f"{'LICell' if style == 'cells' else 'LI'} is a non-spiking leaky "
                                          "integrator (a readout: its output is the membrane, not spikes)",
                                    f"9{prefix}": "feeds 10, which is skipped"}
    # max-pooled spikes planned
    assert report[1].plan.input.mean == pytest.approx(1 - (1 - report[0].plan.rate) ** 4, rel=1e-3)
    assert report[0].plan.rate == pytest.approx(RATE, rel=3e-3)
    assert all(a.rate > 0 for _, a in after)


def test_the_lifted_convnet_fires_exactly_as_the_stepped_one(conv_runs) -> None:
    """Same seed, same plan, same weights: the whole-sample path (Lift/LIF) and the stepped path give the same spikes."""
    cells, lifted = conv_runs["cells"][4].spikes, conv_runs["lifted"][4].spikes
    assert list(cells) == list(lifted) == ["1", "4", "8"]
    for name in cells:
        assert torch.equal(cells[name], lifted[name]), name


@pytest.mark.parametrize("style", ["cells", "lifted"])
def test_convnet_meets_the_acceptance_criteria(style: str, conv_runs) -> None:
    """Layer 1 measured 0.0990 (-1.0%; 0.0988-0.0991 for generator seeds 0-3).

    It was +5.5% before the filtered neuron's current grid started exactly at 0 (tests/test_density_filtered.py).
    """
    assert_criteria(conv_runs[style][3])


# --------------------------------------------------------------------------------------------- 7. ConvNet4
def test_norse_convnet4_has_no_silent_spiking_layer_after_init(general) -> None:
    """``norse.torch.models.conv.ConvNet4`` (its own time loop, functional max pooling, ``10 * conv2``, LILinearCell)."""
    from norse.torch.models.conv import ConvNet4

    model = build(ConvNet4)
    x = spikes_in((4, 1, 28, 28))
    before = activities(model, x)
    show("ConvNet4 before", before)
    report = apply_init(model, framework="norse", method=general, sample=x, T=T, generator=gen(0))
    print(report)
    assert [(layer.synapses[0], layer.name) for layer in report] == [("conv1", "lif0"), ("conv2", "lif1"),
                                                                     ("fc1", "lif2")]
    assert "LILinearCell" in dict(report.skipped)["out"]
    after = activities(model, x)
    show("ConvNet4 after", after)
    assert [name for name, _ in after] == ["lif0", "lif1", "lif2"]
    for name, a in after:
        assert a.rate > 0 and a.silent_fraction < 1.0, f"{name} is silent after init"
    # the sample shows the functional max pooling of spikes before conv2 and fc1, and the factor 10 on conv2:
    # planned, lif1 and lif2 measured 0.144 and 0.162 (0.388 and 0.247 without)
    notes = {layer.name: " ".join(layer.notes) for layer in report}
    assert "functional max pooling (2, 2)" in notes["lif1"] and "functional max pooling (2, 2)" in notes["lif2"]
    assert "multiplied by 10" in notes["lif1"]
    assert report[1].plan.input.mean == pytest.approx(1 - (1 - report[0].plan.rate) ** 4, rel=0.01)
    assert all(abs(math.log2(a.rate / RATE)) <= 1 for _, a in after), show("ConvNet4 after", after)
