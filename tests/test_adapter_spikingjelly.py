"""The SpikingJelly adapter against the real SpikingJelly (no mocks), 2.0 and the legacy 0.0.0.0.14.

The same file runs in the main environment (SpikingJelly 2.0) and in the legacy one built by
``.ci/legacy-spikingjelly`` (0.0.0.0.14, with the ``clock_driven`` namespace and the ``backend='cupy'`` nodes);
it branches on the installed version where the APIs differ (case lists grow, nothing is skipped for a missing
framework). Every measurement runs the actual SpikingJelly modules and records the spikes of every neuron
with :func:`snninit_plugins.recording.record`, summarised by :func:`snninit_plugins.simulator.layer_activity`.
The acceptance criteria of the issue, for every spiking layer: ``|log2(rate / target)| <= 1``, silent fraction
``<= 0.15``, synchrony ``chi <= 20``, and the first layer within 5 % of the target.

Known failures are ``xfail(strict=True)`` with the measured numbers; they turn into errors the day they pass.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import math
import sys
from collections import OrderedDict

import pytest
import spikingjelly  # noqa: F401 - the framework under test must be installed: no importorskip
import torch
from acceptance import assert_criteria, build, gen, show  # noqa: E402
from snninit_plugins.adapters.spikingjelly import SpikingJellyAdapter
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.api import detect_framework
from snninit_plugins.plugins import get_adapters, get_strategies
from snninit_plugins.recording import record
from snninit_plugins.simulator import LayerActivity, bernoulli_spikes, layer_activity, run_neurons
from snninit_plugins.walker import ModelStructureError, find_units

SJ_VERSION = importlib.metadata.version("spikingjelly")
LEGACY = SJ_VERSION.startswith("0.0.0.0")  # 0.0.0.0.14: backend= argument, clock_driven namespace
if LEGACY:
    from spikingjelly.clock_driven import neuron as cd_neuron

T, B, RATE = 25, 32, 0.1
DEPTH, WIDTH = 20, 256
ADAPTER = SpikingJellyAdapter()


def _batchnorm_supported() -> bool:
    """Whether the core plans a neuron fed through a BatchNorm (its affine set from the plan, theory.md section 8)."""
    try:
        units, _ = find_units(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), neuron.LIFNode()), ADAPTER)
    except ModelStructureError:
        return False
    return bool(units)


BN_SUPPORTED = _batchnorm_supported()


def _call_order_steps() -> bool:
    """Whether the core's call-order pass runs a single-step model through Adapter.run (one call per step)."""
    try:
        find_units(nn.Sequential(layer.Conv2d(1, 2, 3), neuron.IFNode()), ADAPTER, torch.zeros(2, 1, 1, 4, 4))
    except RuntimeError:
        return False
    return True


CALL_ORDER_STEPS = _call_order_steps()


# --------------------------------------------------------------------------------------------- helpers
def spikes_in(shape: tuple[int, ...], seed: int = 1, rate: float = RATE, steps: int = T) -> torch.Tensor:
    return bernoulli_spikes(rate, steps, shape, generator=gen(seed))


def activities(model: nn.Module, x: torch.Tensor) -> list[tuple[str, LayerActivity]]:
    """Run the real model the SpikingJelly way and summarise every neuron's spikes."""
    rec = record(model, ADAPTER, x)
    return [(name, layer_activity(s)) for name, s in rec.spikes.items()]


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    functional.set_step_mode(model, mode)
    return model


@pytest.fixture(scope="module")
def centred():
    return get_strategies()["general"](centred_rows=True)


# --------------------------------------------------------------------------------------------- 1. neurons
def _node_cases() -> dict:
    """id -> (factory(step_mode), input amplitude, step modes, train/eval) for every mapped class of this version."""
    both, sm = ("train", "eval"), ("s", "m")
    cases = {
        "IFNode": (lambda m: neuron.IFNode(step_mode=m), 1.0, sm, both),
        "IFNode-soft": (lambda m: neuron.IFNode(v_reset=None, step_mode=m), 1.0, sm, both),
        "IFNode-reset": (lambda m: neuron.IFNode(v_reset=-0.3, v_threshold=0.8, step_mode=m), 1.0, sm, both),
        "LIFNode": (lambda m: neuron.LIFNode(tau=3.0, step_mode=m), 3.0, sm, both),
        "LIFNode-reset": (lambda m: neuron.LIFNode(tau=3.0, v_reset=0.3, step_mode=m), 3.0, sm, both),
        "LIFNode-soft": (lambda m: neuron.LIFNode(tau=2.5, v_reset=None, step_mode=m), 3.0, sm, both),
        "LIFNode-nodecay": (lambda m: neuron.LIFNode(tau=3.0, decay_input=False, v_reset=-0.2, step_mode=m),
                            1.0, sm, both),
        "LIFNode-nodecay-soft": (lambda m: neuron.LIFNode(tau=4.0, decay_input=False, v_reset=None, step_mode=m),
                                 1.0, sm, both),
        "ParametricLIFNode": (lambda m: neuron.ParametricLIFNode(init_tau=3.0, v_reset=0.2, step_mode=m),
                              3.0, sm, both),
        "ParametricLIFNode-nodecay-soft": (lambda m: neuron.ParametricLIFNode(
            init_tau=3.0, decay_input=False, v_reset=None, step_mode=m), 1.0, sm, both),
    }
    if LEGACY:
        cases |= {  # backend='cupy' needs multi-step; on a CPU its eval forward is the TorchScript path
            "IFNode-cupy": (lambda m: neuron.IFNode(step_mode=m, backend="cupy"), 1.0, ("m",), ("eval",)),
            "LIFNode-cupy": (lambda m: neuron.LIFNode(tau=3.0, v_reset=0.3, step_mode=m, backend="cupy"),
                             3.0, ("m",), ("eval",)),
            "clock_driven.IFNode": (lambda m: cd_neuron.IFNode(v_reset=-0.3), 1.0, ("s",), both),
            "clock_driven.LIFNode": (lambda m: cd_neuron.LIFNode(tau=3.0, v_reset=0.3), 3.0, ("s",), both),
            "clock_driven.ParametricLIFNode": (lambda m: cd_neuron.ParametricLIFNode(init_tau=3.0, v_reset=None),
                                               3.0, ("s",), both),
            "clock_driven.MultiStepIFNode": (lambda m: cd_neuron.MultiStepIFNode(v_reset=None), 1.0, ("m",), both),
            "clock_driven.MultiStepLIFNode": (lambda m: cd_neuron.MultiStepLIFNode(
                tau=3.0, decay_input=False, v_reset=0.2), 1.0, ("m",), both),
            "clock_driven.MultiStepParametricLIFNode": (lambda m: cd_neuron.MultiStepParametricLIFNode(
                init_tau=3.0), 3.0, ("m",), both),
        }
    else:
        cases |= {
            "CUBALIFNode": (lambda m: neuron.CUBALIFNode(c_decay=0.6, v_decay=0.8, v_threshold=0.9), 0.4, sm, both),
            "CUBALIFNode-soft": (lambda m: neuron.CUBALIFNode(c_decay=0.5, v_decay=0.9, v_reset=None), 0.3, sm, both),
            "SimpleIFNode": (lambda m: neuron.SimpleIFNode(v_reset=0.2, step_mode=m), 1.0, sm, both),
            "SimpleLIFNode": (lambda m: neuron.SimpleLIFNode(tau=3.0, decay_input=True, v_reset=0.3, step_mode=m),
                              3.0, sm, both),
            "SimpleLIFNode-nodecay": (lambda m: neuron.SimpleLIFNode(tau=3.0, decay_input=False, v_reset=-0.2,
                                                                     step_mode=m), 1.0, sm, both),
            "HalfThresholdIFNode": (lambda m: neuron.HalfThresholdIFNode(v_threshold=1.5, step_mode=m), 1.0, sm, both),
        }
    return cases


NODE_CASES = _node_cases()
NODE_PARAMS = [(case, mode, phase) for case, (_, _, modes, phases) in NODE_CASES.items()
               for mode in modes for phase in phases]


def drive_node(node: nn.Module, x: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run one node over x (T, ...): its spikes, and its membrane after every step's reset (None if not kept)."""
    ADAPTER.reset(node)
    with torch.no_grad():
        if mode == "m":
            if hasattr(node, "store_v_seq"):
                node.store_v_seq = True
            spikes = node(x)
            v_seq = getattr(node, "v_seq", None)
            membrane = v_seq if isinstance(v_seq, torch.Tensor) and v_seq.shape == x.shape else None
        else:
            steps, vs = [], []
            for t in range(x.shape[0]):
                steps.append(node(x[t]))
                vs.append(torch.as_tensor(node.v).expand_as(x[t]).clone())
            spikes, membrane = torch.stack(steps), torch.stack(vs)
    ADAPTER.reset(node)
    return spikes, membrane


@pytest.mark.parametrize("case, mode, phase", NODE_PARAMS)
def test_mapping_reproduces_the_node_spike_for_spike(case: str, mode: str, phase: str) -> None:
    """The canonical neuron of the mapping, run by the reference simulator, gives the node's exact spike train."""
    factory, amplitude, _, _ = NODE_CASES[case]
    node = factory(mode)
    if mode == "m" and getattr(node, "step_mode", "m") != "m":
        node.step_mode = "m"  # CUBALIFNode takes no step_mode argument
    node.train(phase == "train")
    info = ADAPTER.neuron_info(node, case)
    assert info.neuron is not None, info.skip_reason
    assert info.neuron.strict is False  # SpikingJelly fires on H >= theta
    x = (torch.rand(60, 4, 16, generator=gen(3), dtype=torch.float64) * 1.3 - 0.3) * amplitude
    spikes, membrane = drive_node(node, x, mode)
    ref, pre_reset = run_neurons(info.neuron, x, record_membrane=True)
    assert 0.02 < float(ref.mean()) < 0.9, f"{case}: input gives a trivial rate {float(ref.mean())}; change it"
    assert torch.equal(spikes.to(ref.dtype), ref), (
        f"{case} ({mode}, {phase}): {int((spikes != ref).sum())} spikes differ; mapping {info.neuron.describe()}")
    if membrane is not None:  # the membrane after each step, reset applied (SJ keeps some scalars in float32)
        n = info.neuron
        post = (torch.where(ref.bool(), torch.as_tensor(n.v_reset, dtype=x.dtype), pre_reset) if n.reset == "value"
                else pre_reset - ref * n.threshold)
        assert torch.allclose(membrane.to(x.dtype), post, atol=1e-6, rtol=0), (
            f"{case}: membrane differs by {float((membrane - post).abs().max()):.3g}")


def test_threshold_ties_fire_and_a_strict_test_would_not() -> None:
    """H exactly on threshold fires in SpikingJelly (>=): the mapping must say strict=False."""
    node = neuron.IFNode()
    info = ADAPTER.neuron_info(node, "tie")
    x = torch.full((4, 1, 3), 0.5, dtype=torch.float64)  # H = 0.5, 1.0 (tie), reset to 0, 0.5, 1.0 (tie)
    spikes, _ = drive_node(node, x, "s")
    assert spikes[:, 0, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.equal(run_neurons(info.neuron, x), spikes.double())
    assert not torch.equal(run_neurons(info.neuron.replace(strict=True), x), spikes.double())  # negative control


def test_mapped_parameters_follow_the_source_equations() -> None:
    lif = ADAPTER.neuron_info(neuron.LIFNode(tau=4.0, v_reset=0.2), "lif").neuron
    assert (lif.beta, lif.gain, lif.drive, lif.v0, lif.reset, lif.v_reset) == (0.75, 0.25, 0.05, 0.2, "value", 0.2)
    soft = ADAPTER.neuron_info(neuron.LIFNode(tau=4.0, decay_input=False, v_reset=None), "soft").neuron
    assert (soft.beta, soft.gain, soft.drive, soft.v0, soft.reset) == (0.75, 1.0, 0.0, 0.0, "subtract")
    plif = neuron.ParametricLIFNode(init_tau=5.0)
    with torch.no_grad():
        plif.w.fill_(0.3)  # trained: 1/tau = sigmoid(w)
    q = 1.0 / (1.0 + math.exp(-0.3))
    mapped = ADAPTER.neuron_info(plif, "plif").neuron
    assert mapped.gain == pytest.approx(q) and mapped.beta == pytest.approx(1.0 - q)
    if not LEGACY:
        cuba = ADAPTER.neuron_info(neuron.CUBALIFNode(c_decay=0.3, v_decay=0.7), "cuba").neuron
        assert (cuba.alpha, cuba.beta, cuba.threshold, cuba.strict) == (0.3, 0.7, 0.5, False)


# --------------------------------------------------------------------------------------------- 2. skipped
def test_unmappable_nodes_and_their_weights_are_reported_by_name(general) -> None:
    width = 32
    names = ["qif", "eif", "klif"]
    layers: list[tuple[str, nn.Module]] = [("fc0", layer.Linear(width, width)), ("lif0", neuron.LIFNode())]
    for i, (name, node) in enumerate([("qif", neuron.QIFNode()), ("eif", neuron.EIFNode()),
                                      ("klif", neuron.KLIFNode())], start=1):
        layers += [(f"fc{i}", layer.Linear(width, width)), (name, node)]
    layers += [("fc4", layer.Linear(width, width)), ("lif4", neuron.LIFNode()), ("readout", layer.Linear(width, 4))]
    if not LEGACY:
        layers.append(("li", neuron.NonSpikingLIFNode()))
    model = build(lambda: nn.Sequential(OrderedDict(layers)))
    untouched = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("fc1.", "fc2.", "fc3.", "readout"))}
    report = apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    skipped = dict(report.skipped)
    for name, cls in zip(names, ["QIFNode", "EIFNode", "KLIFNode"]):
        assert cls in skipped[name], skipped
    assert "nonlinear" in skipped["qif"] and "relu" in skipped["klif"]
    for i, name in enumerate(names, start=1):
        assert skipped[f"fc{i}"] == f"feeds {name}, which is skipped"
    if not LEGACY:
        assert "NonSpikingLIFNode" in skipped["li"] and "no spikes" in skipped["li"]
    assert [layer_.name for layer_ in report] == ["lif0", "lif4"]
    assert any("after the skipped klif" in note for note in report["lif4"].notes)
    for key, value in untouched.items():
        assert torch.equal(model.state_dict()[key], value), f"{key} of a skipped layer was written"


def test_analog_surrogate_output_is_not_planned_as_spikes() -> None:
    node = neuron.LIFNode(surrogate_function=surrogate.Sigmoid(spiking=False))
    info = ADAPTER.neuron_info(node, "lif")
    assert info.neuron is None and "spiking=False" in info.skip_reason and "LIFNode" in info.skip_reason


def test_unknown_node_classes_are_neurons_but_not_mapped() -> None:
    class MyNode(neuron.LIFNode):  # a user subclass may change the dynamics: not assumed to be a LIF
        pass

    MyNode.__module__ = "spikingjelly.user"  # even inside the spikingjelly package
    node = MyNode()
    assert ADAPTER.is_neuron(node)
    info = ADAPTER.neuron_info(node, "mine")
    assert info.neuron is None and "MyNode" in info.skip_reason
    assert not ADAPTER.is_neuron(node.surrogate_function) and not ADAPTER.is_neuron(layer.Linear(2, 2))


# --------------------------------------------------------------------------------------------- 3. deep MLP
def lif_mlp(depth: int = DEPTH, width: int = WIDTH) -> nn.Sequential:
    return nn.Sequential(*[m for _ in range(depth) for m in (layer.Linear(width, width), neuron.LIFNode(tau=2.0))])


@pytest.mark.parametrize("mode", ["s", "m"])
def test_deep_lif_mlp_collapses_before_and_fires_at_the_target_after(mode: str, general) -> None:
    model = set_mode(build(lif_mlp), mode)
    x = spikes_in((B, WIDTH))
    before = activities(model, x)
    show(f"MLP {mode} before", before)
    assert len(before) == DEPTH
    assert before[0][1].rate < 0.5 * RATE
    for name, a in before[2:]:  # measured: every layer is silent (0.0) with PyTorch's default init
        assert a.rate == 0.0 and a.silent_fraction == 1.0, f"{name} is not silent before init: {a.rate}"

    report = apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    assert report.framework == "spikingjelly" and report.written and not report.skipped
    assert [(r.synapses, r.name) for r in report] == [((str(2 * i),), str(2 * i + 1)) for i in range(DEPTH)]
    assert all(r.neuron_class == "LIFNode" and r.fan_in == WIDTH and "test=>=" in r.neuron for r in report)

    after = activities(model, x)
    show(f"MLP {mode} after", after)
    assert_criteria(after)


# --------------------------------------------------------------------------------------------- 4. conv nets
def conv_net(style: str = "layers", bn: bool = False) -> nn.Sequential:
    """A CSNN as in SpikingJelly's tutorials: conv -> LIF -> max-pool twice, then two Linear -> LIF.

    ``style="layers"`` uses ``layer.Conv2d``/``layer.MaxPool2d``/``layer.Flatten``/``layer.Linear`` (set to a
    step mode afterwards); ``"seq2ann"`` wraps plain torch modules in ``layer.SeqToANNContainer`` (multi-step).
    """
    if style == "layers":
        def conv(i: int, o: int) -> list[nn.Module]:
            return [layer.Conv2d(i, o, 3, padding=1, bias=not bn)] + ([layer.BatchNorm2d(o)] if bn else [])

        return nn.Sequential(
            *conv(2, 16), neuron.LIFNode(tau=2.0), layer.MaxPool2d(2),
            *conv(16, 32), neuron.LIFNode(tau=2.0), layer.MaxPool2d(2),
            layer.Flatten(), layer.Linear(32 * 4 * 4, 128), neuron.LIFNode(tau=2.0),
            layer.Linear(128, 10), neuron.LIFNode(tau=2.0))

    def seq(*modules: nn.Module) -> nn.Module:
        return layer.SeqToANNContainer(*modules)

    def conv2(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=not bn)] + ([nn.BatchNorm2d(o)] if bn else [])

    return nn.Sequential(
        seq(*conv2(2, 16)), neuron.LIFNode(tau=2.0, step_mode="m"), seq(nn.MaxPool2d(2)),
        seq(*conv2(16, 32)), neuron.LIFNode(tau=2.0, step_mode="m"), seq(nn.MaxPool2d(2), nn.Flatten()),
        seq(nn.Linear(32 * 4 * 4, 128)), neuron.LIFNode(tau=2.0, step_mode="m"),
        seq(nn.Linear(128, 10)), neuron.LIFNode(tau=2.0, step_mode="m"))


CONV_B = 16
CONV_PAIRS = {"layers": (["0", "3", "7", "9"], ["1", "4", "8", "10"]),
              "seq2ann": (["0.0", "3.0", "6.0", "8.0"], ["1", "4", "7", "9"])}


def conv_input() -> torch.Tensor:
    return spikes_in((CONV_B, 2, 16, 16))


@pytest.mark.parametrize("style, mode", [("layers", "m"), ("layers", "s"), ("seq2ann", "m")])
def test_convnet_collapses_before_and_no_layer_is_silent_after(style: str, mode: str, general) -> None:
    model = build(lambda: conv_net(style))
    if style == "layers":
        set_mode(model, mode)
    x = conv_input()
    before = activities(model, x)
    show(f"conv {style}/{mode} before", before)
    assert all(a.rate < 0.2 * RATE for _, a in before[1:]) and before[-1][1].silent_fraction >= 0.5

    report = apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    assert [r.synapses[0] for r in report] == CONV_PAIRS[style][0]
    assert [r.name for r in report] == CONV_PAIRS[style][1]
    assert [r.fan_in for r in report] == [18, 144, 512, 128] and not report.skipped
    after = activities(model, x)
    show(f"conv {style}/{mode} after", after)
    for name, a in after:  # every layer fires, within x2 of the target (the full criteria: see below)
        assert a.rate > 0 and abs(math.log2(a.rate / RATE)) <= 1, show("measured", after)


def test_convnet_meets_the_acceptance_criteria(general) -> None:
    """Conv rows are centred (stratified conv rows left whole channels silent: 27-40% of the neurons), the
    readout's too, every row's entries stratified; measured 0.0999/0.00/5.9, 0.091/0.02/2.4, 0.093/0.12/1.0,
    0.151/0.00/1.1 (rate/silent/chi)."""
    model = set_mode(build(conv_net), "m")
    apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    after = activities(model, conv_input())
    show("conv after", after)
    assert_criteria(after)


def test_convnet_with_every_row_centred_meets_the_criteria(centred) -> None:
    model = set_mode(build(conv_net), "m")
    apply_init(model, framework="spikingjelly", method=centred, input_rate=RATE, T=T, generator=gen(0))
    after = activities(model, conv_input())
    show("conv centred after", after)
    assert_criteria(after)


@pytest.mark.xfail(not BN_SUPPORTED, strict=True, reason="BatchNorm support pending (walker/api, theory.md section 8)")
@pytest.mark.parametrize("style", ["layers", "seq2ann"])
def test_conv_batchnorm_neuron_fires_at_the_target(style: str, centred) -> None:
    """conv -> BatchNorm -> LIF (the SpikingJelly tutorial CSNN), training mode: the BatchNorm affine is the knob."""
    model = build(lambda: conv_net(style, bn=True))
    if style == "layers":
        set_mode(model, "m")
    x = conv_input()
    before = activities(model, x)
    show(f"conv-bn {style} before", before)
    report = apply_init(model, framework="spikingjelly", method=centred, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    names = ["2", "6", "10", "12"] if style == "layers" else CONV_PAIRS[style][1]  # layers: a BatchNorm each
    assert [r.name for r in report] == names and not report.skipped
    after = activities(model, x)
    show(f"conv-bn {style} after", after)
    assert_criteria(after)


# --------------------------------------------------------------------------------------------- 5. pairing
def test_multistep_container_and_seq2ann_pairing_with_and_without_a_sample(general) -> None:
    width = 64

    def factory() -> nn.Sequential:
        return nn.Sequential(OrderedDict([
            ("fc0", layer.SeqToANNContainer(nn.Linear(width, width))),
            ("sn0", layer.MultiStepContainer(neuron.LIFNode())),  # a single-step node looped over T
            ("fc1", layer.Linear(width, width, step_mode="m")),
            ("sn1", neuron.LIFNode(step_mode="m")),
            ("fc2", layer.SeqToANNContainer(nn.Linear(width, width))),
            ("sn2", layer.MultiStepContainer(neuron.IFNode())),
        ]))

    x = spikes_in((8, width))
    expected = [("fc0.0", "sn0.0"), ("fc1", "sn1"), ("fc2.0", "sn2.0")]
    for kwargs in ({"input_rate": RATE}, {"sample": x}):
        model = build(factory)
        assert ADAPTER.multi_step(model)
        report = apply_init(model, framework="spikingjelly", method=general, T=T, generator=gen(0),
                            dry_run="sample" in kwargs, **kwargs)  # with a sample: the call-order pairing only
        assert [(r.synapses[0], r.name) for r in report] == expected, (kwargs.keys(), report)
        assert not report.skipped
        if "sample" in kwargs:
            continue
        rec = record(model, ADAPTER, x)
        assert list(rec.spikes) == ["sn0.0", "sn1", "sn2.0"]
        assert all(s.shape == (T, 8, width) for s in rec.spikes.values())
        assert all(float(s.mean()) > 0 for s in rec.spikes.values())


def test_single_step_mlp_pairs_by_call_order_with_a_sample(general) -> None:
    model = build(lambda: lif_mlp(depth=3, width=64))
    assert not ADAPTER.multi_step(model)
    report = apply_init(model, framework="spikingjelly", method=general, sample=spikes_in((8, 64)), T=T,
                        dry_run=True)
    assert [(r.synapses[0], r.name) for r in report] == [("0", "1"), ("2", "3"), ("4", "5")]


@pytest.mark.xfail(not CALL_ORDER_STEPS, strict=True, raises=RuntimeError, reason=(
    "walker._call_order calls model(sample) once with the whole [T, B, C, H, W] sample; a single-step SpikingJelly "
    "conv model takes [B, C, H, W] per call, so layer.Conv2d raises 'Expected 3D or 4D input'. Core change: run the "
    "call-order pass through adapter.run"))
def test_single_step_convnet_pairs_by_call_order_with_a_sample(general) -> None:
    """The call-order pass runs a single-step model one step at a time (a [T, B, C, H, W] sample)."""
    model = set_mode(build(conv_net), "s")
    report = apply_init(model, framework="spikingjelly", method=general, sample=conv_input(), T=T, dry_run=True)
    assert [r.name for r in report] == CONV_PAIRS["layers"][1]


# --------------------------------------------------------------------------------------------- 6. adapter contract
def test_registered_detected_and_not_importing_spikingjelly_at_import() -> None:
    assert isinstance(get_adapters()["spikingjelly"], SpikingJellyAdapter)
    assert detect_framework(nn.Sequential(layer.Linear(4, 4), neuron.LIFNode())) == "spikingjelly"
    # a fresh copy of the adapter module, executed with spikingjelly unloaded, must not load it
    saved = {k: v for k, v in sys.modules.items() if k == "spikingjelly" or k.startswith("spikingjelly.")}
    for key in saved:
        del sys.modules[key]
    try:
        spec = importlib.util.find_spec("snninit_plugins.adapters.spikingjelly")
        fresh = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fresh)
        adapter = fresh.SpikingJellyAdapter()
        assert adapter.installed() and adapter.claims([neuron.LIFNode()])
        assert "spikingjelly" not in sys.modules, "the adapter module imported spikingjelly"
    finally:
        sys.modules.update(saved)


def test_run_steps_single_step_models_and_resets_their_state() -> None:
    model = build(lambda: lif_mlp(depth=2, width=16))
    x = spikes_in((4, 16), rate=0.5)
    out = ADAPTER.run(model, x)
    assert out.shape == (T, 4, 16)
    assert all(isinstance(m.v, float) for m in model if isinstance(m, neuron.LIFNode))  # reset after the run
    multi = set_mode(copy.deepcopy(model), "m")
    assert torch.equal(ADAPTER.run(multi, x), out)  # the same network run both ways gives the same spikes
    rec = record(model, ADAPTER, x)
    assert rec.membrane["1"] is not None and rec.membrane["1"].shape == (T, 4, 16)


# --------------------------------------------------------------------------------------------- 7. backends
def _twin(backend: str) -> nn.Sequential:
    kwargs = {"backend": backend} if LEGACY else {}
    return nn.Sequential(layer.Linear(64, 64, step_mode="m"), neuron.LIFNode(step_mode="m", **kwargs),
                         layer.Linear(64, 64, step_mode="m"), neuron.IFNode(step_mode="m", **kwargs))


def test_cupy_nodes_are_planned_and_initialised_like_their_torch_twins(general) -> None:
    """0.0.0.0.14: backend='cupy' changes only ``_backend``; same plan, same weights (same generator)."""
    if not LEGACY:  # 2.0 has no backend argument: its kernels are picked per device at run time
        with pytest.raises(TypeError):
            neuron.LIFNode(step_mode="m", backend="cupy")
        backends = ["torch"]
    else:
        backends = ["torch", "cupy"]
    models = {b: build(lambda b=b: _twin(b)) for b in backends}
    if LEGACY:
        assert models["cupy"][1]._backend == "cupy" and models["torch"][1]._backend == "torch"
    reports = {b: apply_init(m, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
               for b, m in models.items()}
    for b in backends[1:]:
        assert [(r.name, r.neuron, r.plan) for r in reports[b]] == [(r.name, r.neuron, r.plan) for r in reports["torch"]]
        for key, value in models["torch"].state_dict().items():
            assert torch.equal(models[b].state_dict()[key], value), key
        # eval mode runs the TorchScript path whatever the backend (no GPU needed): same spikes
        x = spikes_in((8, 64))
        ref = record(models["torch"].eval(), ADAPTER, x).spikes
        got = record(models[b].eval(), ADAPTER, x).spikes
        assert all(torch.equal(got[k], ref[k]) for k in ref)


def test_gpu_training_forward_matches_the_cpu_one(general) -> None:
    """On a GPU: the cupy kernels (0.0.0.0.14) or the CUDA dispatch (2.0) give the CPU model's spikes.

    Without a GPU (this CI) the test checks what happens instead (frameworks.md section 2.1): the training
    forward of initialised cupy nodes stops with CUDA's own error rather than running something else, and a
    2.0 model cannot be moved to CUDA; eval mode runs on the CPU (the twin test above).
    """
    if not torch.cuda.is_available():
        if LEGACY:
            model = build(lambda: _twin("cupy"))
            apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
            with pytest.raises(RuntimeError, match="NVIDIA|CUDA|cuda"):
                record(model.train(), ADAPTER, spikes_in((8, 64)))
        else:
            with pytest.raises(RuntimeError, match="NVIDIA|CUDA|cuda"):
                build(lambda: _twin("torch")).cuda()
        return
    gpu = build(lambda: _twin("cupy" if LEGACY else "torch"))
    cpu = build(lambda: _twin("torch"))
    for m in (gpu, cpu):
        apply_init(m, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    x = spikes_in((8, 64))
    ref = record(cpu.train(), ADAPTER, x).spikes
    got = record(gpu.cuda().train(), ADAPTER, x.cuda()).spikes
    for key in ref:
        agree = float((got[key].cpu() == ref[key]).float().mean())
        assert agree > 0.999, f"{key}: GPU and CPU spikes agree on {agree:.4f} only"


NAMESPACES = ["activation_based"] + (["clock_driven"] if LEGACY else [])


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_legacy_namespace_multistep_mlp_fires_at_the_target(namespace: str, general) -> None:
    """A multi-step MLP (plain nn.Linear on [T, B, F]) with the namespace's multi-step LIF node."""
    if namespace == "clock_driven":
        def node() -> nn.Module:
            return cd_neuron.MultiStepLIFNode(tau=2.0)
    else:
        def node() -> nn.Module:
            return neuron.LIFNode(tau=2.0, step_mode="m")
    model = build(lambda: nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(WIDTH, WIDTH), node())]))
    assert ADAPTER.multi_step(model)
    x = spikes_in((B, WIDTH))
    report = apply_init(model, framework="spikingjelly", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert [r.name for r in report] == ["1", "3", "5", "7"]
    after = activities(model, x)
    show(f"{namespace} MLP after", after)
    assert_criteria(after)


# --------------------------------------------------------------------------------------------- 8. model zoo
ZOO = ["spiking_vgg11", "spiking_resnet18", "sew_resnet18"]


def zoo_model(name: str) -> nn.Module:
    from spikingjelly.activation_based.model import sew_resnet, spiking_resnet, spiking_vgg

    make = {"spiking_vgg11": lambda: spiking_vgg.spiking_vgg11(spiking_neuron=neuron.LIFNode, num_classes=10),
            "spiking_resnet18": lambda: spiking_resnet.spiking_resnet18(spiking_neuron=neuron.LIFNode, num_classes=10),
            "sew_resnet18": lambda: sew_resnet.sew_resnet18(spiking_neuron=neuron.LIFNode, num_classes=10,
                                                            cnf="ADD")}[name]
    return set_mode(build(make), "m")


# The 0.0.0.0.14 model zoo imports torchvision, which the legacy environment leaves out (installing it would
# pull another torch: frameworks.md section 3), so the zoo is tested with the newest SpikingJelly only.
if not LEGACY:
    @pytest.mark.parametrize("name", ZOO)
    def test_zoo_model_has_no_silent_spiking_layer_after_init(name: str, general) -> None:
        """Input 2x3x32x32 spikes at 0.1, T=4, no pretrained weights; per-layer rates before/after are printed."""
        model = zoo_model(name)
        x = bernoulli_spikes(RATE, 4, (2, 3, 32, 32), generator=gen(1))
        before = activities(model, x)
        show(f"{name} before", before)
        report = apply_init(model, framework="spikingjelly", method=general, sample=x, T=4, generator=gen(0))
        print(report)
        after = activities(model, x)
        show(f"{name} after", after)
        assert len(after) == len(before) and len(report) >= len(after) - 3
        silent = [(n, a.rate) for n, a in after if a.rate == 0.0]
        assert not silent, f"silent spiking layers after apply_init: {silent}"
        # stronger than the issue asks: every layer within x2 (measured 0.093-0.175 vgg11, 0.082-0.101
        # spiking_resnet18, 0.088-0.109 sew_resnet18; vgg11's deep 3x3 convs on 2x2 maps read 4 of 9 taps)
        off = [(n, round(a.rate, 4)) for n, a in after if abs(math.log2(a.rate / RATE)) > 1]
        assert not off, f"layers not within x2 of {RATE}: {off}"
        if name == "spiking_vgg11":  # no BatchNorm: PyTorch's init silences every layer (measured 0.0 everywhere)
            assert all(a.rate == 0.0 for _, a in before)
