"""The snnTorch adapter against the real snnTorch (no mocks): deep stacks and conv nets fire at the target.

Every measurement runs the actual snnTorch modules: the output spikes of each neuron are recorded per step
(forward hooks for ``init_hidden`` Sequential models, returned records for tutorial-style modules with their
own time loop), stacked to ``(T, B, N...)`` and summarised with :func:`snninit_plugins.simulator.layer_activity`.
The acceptance criteria of the issue, for every spiking layer: ``|log2(rate / target)| <= 1``, silent
fraction ``<= 0.15``, synchrony ``chi <= 20``, and the first layer within 5 % of the target.

Known failures are ``xfail(strict=True)`` with the reason and the measured numbers; they turn into errors
the day they pass, so that the mark is removed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections import OrderedDict

import pytest
import snntorch as snn  # the framework under test must be installed: no importorskip
import torch
import torch.nn.functional as F  # noqa: N812
from acceptance import assert_criteria, build, gen, show
from torch import nn

import snninit_plugins.api as api
from snninit_plugins import InfeasibleTargetError, UnknownFrameworkError, apply_init
from snninit_plugins.simulator import LayerActivity, bernoulli_spikes, layer_activity
from snninit_plugins.strategies._base import REUSE_TOLERANCE

T, B, RATE = 25, 32, 0.1
DEPTH, WIDTH = 20, 256


# --------------------------------------------------------------------------------------------- helpers
def spikes_in(shape: tuple[int, ...], seed: int = 1, rate: float = RATE) -> torch.Tensor:
    """Bernoulli input spikes of shape (T, *shape)."""
    return bernoulli_spikes(rate, T, shape, generator=torch.Generator().manual_seed(seed))


def neurons(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, snn.SpikingNeuron)]


def reset(model: nn.Module) -> None:
    """Reset every snnTorch neuron (snntorch.utils.reset only looks at direct children)."""
    for _, m in neurons(model):
        m.reset_mem()


def record_steps(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Run an init_hidden model once per step of x (T, B, ...); every neuron's spikes as (T, B, ...)."""
    records: dict[str, list[torch.Tensor]] = {name: [] for name, _ in neurons(model)}
    handles = [m.register_forward_hook(
        lambda mod, inp, out, name=name: records[name].append((out[0] if isinstance(out, tuple) else out).detach()))
        for name, m in neurons(model)]
    reset(model)
    try:
        with torch.no_grad():
            for t in range(x.shape[0]):
                model(x[t])
    finally:
        for h in handles:
            h.remove()
        reset(model)
    return [(name, torch.stack(r)) for name, r in records.items()]


def record_loop(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Run a tutorial-style module (its forward loops over T and returns one spike record per layer)."""
    with torch.no_grad():
        out = model(x)
    return list(zip(model.spiking_names, out))


def activities(records: list[tuple[str, torch.Tensor]]) -> list[tuple[str, LayerActivity]]:
    return [(name, layer_activity(s)) for name, s in records]


def checksum(model: nn.Module) -> str:
    """sha256 over every state_dict entry, bit for bit."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def snapshot(model: nn.Module) -> dict[str, bytes]:
    return {k: v.detach().cpu().contiguous().numpy().tobytes() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------------------------- models
def leaky_mlp(depth: int = DEPTH, width: int = WIDTH, neuron=None) -> nn.Sequential:  # noqa: ANN001
    """Sequential(Linear, Leaky(init_hidden=True)) x depth, called once per step."""
    neuron = neuron or (lambda: snn.Leaky(beta=0.9, init_hidden=True))
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), neuron())])


class TutorialMLP(nn.Module):
    """The snnTorch tutorial style: Leaky(init_hidden=False), a time loop in forward, states passed explicitly.

    ``layout="modulelists"`` holds an nn.ModuleList of Linear and one of Leaky (definition order: every Linear,
    then every Leaky); ``layout="attributes"`` registers fc1, lif1, fc2, lif2... as the tutorials do.
    """

    def __init__(self, depth: int = DEPTH, width: int = WIDTH, layout: str = "modulelists") -> None:
        super().__init__()
        if layout == "modulelists":
            self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
            self.lifs = nn.ModuleList(snn.Leaky(beta=0.9) for _ in range(depth))
            self.spiking_names = [f"lifs.{i}" for i in range(depth)]
            self.synapse_names = [f"fcs.{i}" for i in range(depth)]
        else:
            for i in range(1, depth + 1):
                setattr(self, f"fc{i}", nn.Linear(width, width))
                setattr(self, f"lif{i}", snn.Leaky(beta=0.9))
            self.spiking_names = [f"lif{i}" for i in range(1, depth + 1)]
            self.synapse_names = [f"fc{i}" for i in range(1, depth + 1)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        fcs = [self.get_submodule(n) for n in self.synapse_names]
        lifs = [self.get_submodule(n) for n in self.spiking_names]
        mems = [lif.reset_mem() for lif in lifs]  # init_leaky() in older tutorials (deprecated alias)
        records: list[list[torch.Tensor]] = [[] for _ in lifs]
        for t in range(x.shape[0]):
            h = x[t]
            for i, (fc, lif) in enumerate(zip(fcs, lifs)):
                h, mems[i] = lif(fc(h), mems[i])
                records[i].append(h)
        return [torch.stack(r) for r in records]


def conv_sequential() -> nn.Sequential:
    """snnTorch tutorial 7 as an init_hidden Sequential, called once per step."""
    return nn.Sequential(
        nn.Conv2d(1, 12, 5), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Conv2d(12, 64, 5), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10), snn.Leaky(beta=0.9, init_hidden=True),
    )


class TutorialConvNet(nn.Module):
    """snnTorch tutorial 7's ``Net``: F.max_pool2d on the conv output, a time loop, states passed explicitly."""

    spiking_names = ["lif1", "lif2", "lif3"]

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, 5)
        self.lif1 = snn.Leaky(beta=0.9)
        self.conv2 = nn.Conv2d(12, 64, 5)
        self.lif2 = snn.Leaky(beta=0.9)
        self.fc1 = nn.Linear(64 * 4 * 4, 10)
        self.lif3 = snn.Leaky(beta=0.9)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
        rec1, rec2, rec3 = [], [], []
        for t in range(x.shape[0]):
            spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x[t]), 2), mem1)
            spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
            spk3, mem3 = self.lif3(self.fc1(spk2.flatten(1)), mem3)
            rec1.append(spk1)
            rec2.append(spk2)
            rec3.append(spk3)
        return torch.stack(rec1), torch.stack(rec2), torch.stack(rec3)


def small_model(width: int = 64) -> nn.Sequential:
    """Four named spiking layers, one of them an RLeaky with its own recurrent Linear (weights and bias)."""
    return nn.Sequential(OrderedDict([
        ("fc0", nn.Linear(width, width)), ("lif0", snn.Leaky(beta=0.9, init_hidden=True)),
        ("fc1", nn.Linear(width, width)), ("lif1", snn.RLeaky(beta=0.9, linear_features=width, init_hidden=True)),
        ("fc2", nn.Linear(width, width)), ("lif2", snn.Leaky(beta=0.9, init_hidden=True)),
        ("fc3", nn.Linear(width, width)), ("lif3", snn.Leaky(beta=0.9, init_hidden=True)),
    ]))


# --------------------------------------------------------------------------------------------- 1. deep MLP
def test_deep_leaky_mlp_sequential_collapses_before_and_fires_at_the_target_after() -> None:
    model = build(leaky_mlp)
    x = spikes_in((B, WIDTH))
    before = activities(record_steps(model, x))
    show("MLP Sequential before", before)
    assert before[0][1].rate < 0.5 * RATE
    for name, a in before[2:]:  # the third layer on is dead
        assert a.rate == 0.0 and a.silent_fraction == 1.0, f"{name} is not silent before init: {a.rate}"

    report = apply_init(model, framework="snntorch", input_rate=RATE, T=T, generator=gen(0))
    print(report)
    assert report.written and len(report) == DEPTH and not report.skipped
    assert [(layer.synapses, layer.name) for layer in report] == [((str(2 * i),), str(2 * i + 1)) for i in range(DEPTH)]
    for layer in report:
        assert layer.fan_in == WIDTH and layer.neuron_class == "Leaky"
        assert layer.plan.rate == pytest.approx(RATE, rel=REUSE_TOLERANCE)  # a deep layer's planning tolerance

    after = activities(record_steps(model, x))
    show("MLP Sequential after", after)
    assert_criteria(after)


# --------------------------------------------------------------------------------------------- 2. tutorial MLP
@pytest.mark.parametrize("layout, with_sample", [
    ("modulelists", True),
    ("modulelists", False),  # separate lists in definition order: paired by position (with a note)
    ("attributes", False),
])
def test_deep_leaky_mlp_tutorial_style(layout: str, with_sample: bool) -> None:
    model = build(lambda: TutorialMLP(layout=layout))
    x = spikes_in((B, WIDTH))
    before = activities(record_loop(model, x))
    show(f"MLP tutorial {layout} before", before)
    assert all(a.rate == 0.0 for _, a in before[2:])

    kwargs = {"sample": x} if with_sample else {"input_rate": RATE}
    report = apply_init(model, framework="snntorch", T=T, generator=gen(0), **kwargs)
    print(report)
    pairs = [(layer.synapses, layer.name) for layer in report]
    assert pairs == [((s,), n) for s, n in zip(model.synapse_names, model.spiking_names)], report.skipped
    if with_sample:  # the statistics come from the sample
        assert report.input.mean == pytest.approx(float(x.mean()))

    after = activities(record_loop(model, x))
    show(f"MLP tutorial {layout} after", after)
    assert_criteria(after, target=RATE)


# --------------------------------------------------------------------------------------------- 3. conv net
@pytest.mark.parametrize("style, with_sample", [("sequential", False), ("tutorial", False), ("tutorial", True)])
def test_convnet_pairs_the_tutorial_layers_and_its_readout_is_silent_before(style: str, with_sample: bool,
                                                                             general) -> None:  # noqa: ANN001
    model = build(conv_sequential if style == "sequential" else TutorialConvNet)
    x = spikes_in((B, 1, 28, 28))
    before = activities(record_steps(model, x) if style == "sequential" else record_loop(model, x))
    show(f"conv {style} before", before)
    readout = before[-1][1]
    assert readout.rate < 0.2 * RATE and readout.silent_fraction >= 0.5  # measured collapse of the readout

    kwargs = {"sample": x} if with_sample else {"input_rate": RATE}
    report = apply_init(model, framework="snntorch", method=general, T=T, dry_run=True, **kwargs)
    names = (["0", "3", "7"], ["2", "5", "8"]) if style == "sequential" else (["conv1", "conv2", "fc1"],
                                                                               ["lif1", "lif2", "lif3"])
    assert [layer.synapses[0] for layer in report] == names[0]
    assert [layer.name for layer in report] == names[1]
    assert [layer.fan_in for layer in report] == [25, 12 * 25, 1024]
    assert not report.skipped
    for layer in report:
        assert layer.plan.rate == pytest.approx(report.input.mean, rel=REUSE_TOLERANCE)


@pytest.mark.parametrize("style", ["sequential", "tutorial"])
def test_convnet_meets_the_acceptance_criteria(style: str, general) -> None:  # noqa: ANN001
    """Conv rows and the readout's rows are centred, every row's entries stratified (measured over 8 seeds:
    layer 1 0.1028 +- 2.4%, readout 0.105 +- 5%); chi is taken after the onset (whole window: 22 and 33)."""
    model = build(conv_sequential if style == "sequential" else TutorialConvNet)
    x = spikes_in((B, 1, 28, 28))
    run = record_steps if style == "sequential" else record_loop
    kwargs = {"input_rate": RATE} if style == "sequential" else {"sample": x}
    # the shared "general" instance reuses the plans of the pairing test above (same layers, same input)
    report = apply_init(model, framework="snntorch", method=general, T=T, generator=gen(0), **kwargs)
    print(report)
    after = activities(run(model, x))
    show(f"conv {style} after", after)
    assert_criteria(after, target=RATE)


def test_pooling_between_the_conv_and_its_neuron_is_modelled_or_reported(general) -> None:  # noqa: ANN001
    model = build(conv_sequential)
    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    first = activities(record_steps(model, spikes_in((B, 1, 28, 28))))[0][1]
    print(f"lif1 after init: {first.rate:.4f} (planned {report[0].plan.rate:.4f}); notes {report[0].notes}")
    assert any("max pooling of 4 positions" in note for note in report[0].notes)
    assert abs(math.log2(first.rate / report[0].plan.rate)) <= 1  # 0.61 before pooling was modelled


# --------------------------------------------------------------------------------------------- 4. contract
def test_parameters_keep_their_identity_and_an_optimizer_built_before_trains_them(general) -> None:  # noqa: ANN001
    model = build(small_model)
    params = dict(model.named_parameters())
    values = {k: p.detach().clone() for k, p in params.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert [layer.synapses for layer in report] == [("fc0",), ("fc1", "lif1.recurrent"), ("fc2",), ("fc3",)]
    now = dict(model.named_parameters())
    assert now.keys() == params.keys()
    for key, p in now.items():
        assert p is params[key], key
        assert p.is_leaf and p.requires_grad and p.grad_fn is None, key
    in_optimizer = [p for group in optimizer.param_groups for p in group["params"]]
    assert len(in_optimizer) == len(now) and all(any(p is q for q in now.values()) for p in in_optimizer)
    for key in ("fc0.weight", "fc1.weight", "lif1.recurrent.weight", "fc2.weight", "fc3.weight",
                "fc0.bias", "lif1.recurrent.bias"):
        assert not torch.equal(now[key], values[key]), f"{key} was not rewritten"

    # the optimizer built before apply_init trains the rewritten tensors
    written = {k: p.detach().clone() for k, p in now.items()}
    x = spikes_in((8, 64))
    reset(model)
    loss = sum(model(x[t]).sum() for t in range(T))
    loss.backward()
    optimizer.step()
    assert not torch.equal(now["fc0.weight"], written["fc0.weight"])
    assert not torch.equal(now["fc3.weight"], written["fc3.weight"])


def test_the_generator_makes_the_weights_reproducible(general) -> None:  # noqa: ANN001
    base = build(small_model)
    a, b, c = (copy.deepcopy(base) for _ in range(3))
    rng = torch.get_rng_state()
    for model, seed in ((a, 0), (b, 0), (c, 1)):
        apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(seed))
    assert torch.equal(torch.get_rng_state(), rng), "apply_init with a generator drew from the global RNG"
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    for key in pa:
        assert torch.equal(pa[key], pb[key]), f"{key}: same seed, different values"
        if key.endswith("weight"):
            assert not torch.equal(pa[key], pc[key]), f"{key}: different seeds, same values"


def test_dry_run_writes_nothing_and_plans_what_a_real_run_writes(general) -> None:  # noqa: ANN001
    model = build(small_model)
    before = checksum(model)
    dry = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0),
                     dry_run=True)
    assert checksum(model) == before
    assert dry.written is False and "dry run: nothing written" in str(dry)
    assert [layer.name for layer in dry] == ["lif0", "lif1", "lif2", "lif3"]
    assert all(layer.plan.weight_std > 0 and not layer.plan.keep_weights for layer in dry)
    as_dict = json.loads(json.dumps(dry.as_dict()))
    assert as_dict["written"] is False
    assert [row["name"] for row in as_dict["layers"]] == ["lif0", "lif1", "lif2", "lif3"]

    written = copy.deepcopy(model)
    real = apply_init(written, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert real.written is True
    assert [layer.plan for layer in real] == [layer.plan for layer in dry]
    for layer in dry:  # the weights written have the statistics the dry run announced
        w = written.get_submodule(layer.synapses[0]).weight.detach().double()
        assert w.mean().item() == pytest.approx(layer.plan.weight_mean, abs=3 * layer.plan.weight_std / 64)
        assert w.std().item() == pytest.approx(layer.plan.weight_std, rel=0.1)


def test_an_impossible_target_raises_before_any_write(general) -> None:  # noqa: ANN001
    model = build(small_model)
    before = checksum(model)
    with pytest.raises(InfeasibleTargetError) as excinfo:
        apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0),
                   target_rate=[0.1, 0.1, 1.5, 0.1])
    message = str(excinfo.value)
    assert ("fc2" in message or "lif2" in message) and "1.5" in message, message
    assert not any(name in message for name in ("fc0", "fc1", "fc3", "lif0", "lif1", "lif3")), message
    assert checksum(model) == before


def test_a_failure_while_writing_restores_every_weight(general, monkeypatch) -> None:  # noqa: ANN001
    model = build(small_model)
    before, digest = snapshot(model), checksum(model)
    calls = []
    real = api.sample_weight_

    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[0].shape)
        if len(calls) == 3:  # fc0 and fc1 (and their biases) are written by now
            raise RuntimeError("injected failure on the third weight")
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "sample_weight_", failing)
    with pytest.raises(RuntimeError, match="injected failure"):
        apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert len(calls) == 3
    after = snapshot(model)
    changed = [k for k in before if before[k] != after[k]]
    assert not changed and checksum(model) == digest, f"not restored: {changed}"

    monkeypatch.setattr(api, "sample_weight_", real)  # and the model is still usable
    apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    assert checksum(model) != digest


# --------------------------------------------------------------------------------------------- 5. neurons
# alternating over the layer's width: few distinct values keep the planning fast (one group per value)
PER_NEURON_BETA = torch.tensor([0.8, 0.95])
PER_NEURON_THETA = torch.tensor([0.5, 1.5])

NEURON_CASES = {
    # id: (factory(width), substrings of the report's neuron description, substrings it must not contain)
    "leaky": (lambda n: snn.Leaky(beta=0.9), ["beta=0.9 ", "theta=1 ", "reset=subtract(next-step)", "test=>"], []),
    "leaky-zero": (lambda n: snn.Leaky(beta=0.9, reset_mechanism="zero"), ["reset=value(0)"], ["subtract"]),
    "leaky-none": (lambda n: snn.Leaky(beta=0.9, reset_mechanism="none"), ["reset=none"], ["subtract"]),
    "leaky-no-delay": (lambda n: snn.Leaky(beta=0.9, reset_delay=False), ["reset=subtract "], ["next-step"]),
    "learn-beta": (lambda n: snn.Leaky(beta=0.8, learn_beta=True), ["beta=0.8 "], []),
    "learn-beta-clamped": (lambda n: snn.Leaky(beta=1.3, learn_beta=True), ["beta=1 "], ["1.3"]),
    "per-neuron-beta": (lambda n: snn.Leaky(beta=PER_NEURON_BETA.repeat(n // 2)), ["beta=[0.8..0.95]"], []),
    "learn-per-neuron-beta": (lambda n: snn.Leaky(beta=PER_NEURON_BETA.repeat(n // 2), learn_beta=True),
                              ["beta=[0.8..0.95]"], []),
    "learn-threshold": (lambda n: snn.Leaky(beta=0.9, threshold=0.5, learn_threshold=True), ["theta=0.5 "], []),
    "per-neuron-threshold": (lambda n: snn.Leaky(beta=0.9, threshold=PER_NEURON_THETA.repeat(n // 2)),
                             ["theta=[0.5..1.5]"], []),
    "lapicque-rc": (lambda n: snn.Lapicque(R=5.0, C=2.0, time_step=1.0), ["beta=0.9 ", "g=0.5 "], []),
    "lapicque-beta": (lambda n: snn.Lapicque(beta=0.9), ["beta=0.8946 ", "g=0.1054 "], []),
}


@pytest.mark.parametrize("case", list(NEURON_CASES))
def test_neuron_mapping_in_the_report(case: str, general) -> None:  # noqa: ANN001
    factory, expected, forbidden = NEURON_CASES[case]
    width = 64
    model = build(lambda: nn.Sequential(nn.Linear(width, width), factory(width)))
    neuron_state = {k: v.clone() for k, v in model[1].state_dict().items()}
    weight = model[0].weight.detach().clone()
    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    description = report[0].neuron
    assert report[0].neuron_class == type(model[1]).__name__
    for text in expected:
        assert text in description + " ", description
    for text in forbidden:
        assert text not in description, description
    assert not torch.equal(model[0].weight, weight)
    # the neuron's own parameters and buffers (beta, threshold, learnable or not) are left as they were
    for key, value in model[1].state_dict().items():
        assert torch.equal(value, neuron_state[key]), key
    reset(model)
    with torch.no_grad():
        out = model(spikes_in((4, width))[0])
    spikes = out[0] if isinstance(out, tuple) else out  # init_hidden=False returns (spk, mem)
    assert spikes.shape == (4, width)


@pytest.mark.parametrize("cls", ["RLeaky", "RSynaptic"])
def test_recurrent_weights_are_planned_with_the_feed_forward_ones(cls: str, general) -> None:  # noqa: ANN001
    width = 64
    make = {"RLeaky": lambda: snn.RLeaky(beta=0.9, linear_features=width, init_hidden=True),
            "RSynaptic": lambda: snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=width, init_hidden=True)}[cls]
    model = build(lambda: nn.Sequential(OrderedDict([("fc", nn.Linear(width, width)), ("rec", make())])))
    rec_weight = model.rec.recurrent.weight.detach().clone()
    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    layer = report["rec"]
    assert layer.synapses == ("fc", "rec.recurrent") and layer.fan_in == 2 * width
    assert report["rec.recurrent"] is layer
    if cls == "RSynaptic":
        assert "alpha=0.8" in layer.neuron
    assert not torch.equal(model.rec.recurrent.weight, rec_weight)
    w, bias = model.rec.recurrent.weight.detach().double(), model.rec.recurrent.bias.detach()
    assert w.mean().item() == pytest.approx(layer.plan.weight_mean, abs=3 * layer.plan.weight_std / width)
    assert w.std().item() == pytest.approx(layer.plan.weight_std, rel=0.1)
    assert torch.all(bias == layer.plan.bias)


RATE_CASES = {
    "synaptic": lambda: snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True),
    "per-neuron-beta": lambda: snn.Leaky(beta=PER_NEURON_BETA.repeat(WIDTH // 2), init_hidden=True),
    "lapicque-rc": lambda: snn.Lapicque(R=5.0, C=2.0, time_step=1.0, init_hidden=True),
}


@pytest.mark.parametrize("case", list(RATE_CASES))
def test_other_neurons_fire_at_the_target_after_init(case: str) -> None:
    model = build(lambda: leaky_mlp(depth=3, neuron=RATE_CASES[case]))
    report = apply_init(model, framework="snntorch", input_rate=RATE, T=T, generator=gen(0))
    print(report)
    after = activities(record_steps(model, spikes_in((B, WIDTH))))
    show(f"{case} after", after)
    assert_criteria(after)


def test_zero_reset_of_lapicque_is_planned_right() -> None:
    """snnTorch's zero reset of Lapicque drops the next step's input: a refractory step (0.084 for 0.1 without)."""
    model = build(lambda: nn.Sequential(
        nn.Linear(WIDTH, WIDTH), snn.Lapicque(R=5.0, C=2.0, time_step=1.0, reset_mechanism="zero", init_hidden=True)))
    report = apply_init(model, framework="snntorch", input_rate=RATE, T=T, generator=gen(0))
    assert "reset=value(0)+1 refractory" in report[0].neuron  # the mapping itself
    after = activities(record_steps(model, spikes_in((B, WIDTH))))
    show("lapicque zero after", after)
    assert_criteria(after)


def test_one_to_one_recurrence_is_not_silently_ignored(general) -> None:  # noqa: ANN001
    """RLeaky(all_to_all=False) adds V * spk[t-1]; planned as a plain Leaky it fired 0.21 for 0.1 planned."""
    model = build(lambda: nn.Sequential(OrderedDict([
        ("fc0", nn.Linear(64, 64)), ("rec", snn.RLeaky(beta=0.9, all_to_all=False, init_hidden=True)),
        ("fc1", nn.Linear(64, 64)), ("lif", snn.Leaky(beta=0.9, init_hidden=True))])))
    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, dry_run=True)
    assert "one-to-one recurrence" in dict(report.skipped)["rec"]
    assert dict(report.skipped)["fc0"] == "feeds rec, which is skipped"
    assert any("after the skipped rec" in note for note in report["lif"].notes)


# --------------------------------------------------------------------------------------------- 6. skipped
def test_unmappable_neurons_and_their_weights_are_reported_by_name(general) -> None:  # noqa: ANN001
    model = build(lambda: nn.Sequential(OrderedDict([
        ("fc0", nn.Linear(32, 32)), ("lif0", snn.Leaky(beta=0.9, init_hidden=True)),
        ("fc1", nn.Linear(32, 32)), ("alpha", snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)),
        ("fc2", nn.Linear(32, 32)), ("lif2", snn.Leaky(beta=0.9, init_hidden=True)),
        ("slstm", snn.SLSTM(32, 16, init_hidden=True)),
        ("fc3", nn.Linear(16, 16)), ("lif3", snn.Leaky(beta=0.9, init_hidden=True)),
        ("readout", nn.Linear(16, 4)),
    ])))
    untouched = {k: v.clone() for k, v in model.state_dict().items()
                 if k.startswith(("fc1.", "alpha.", "slstm.", "readout."))}
    report = apply_init(model, framework="snntorch", method=general, input_rate=RATE, T=T, generator=gen(0))
    print(report)
    skipped = dict(report.skipped)
    assert "Alpha" in skipped["alpha"]
    assert "alpha" in skipped["fc1"] and "skipped" in skipped["fc1"]
    assert "SLSTM" in skipped["slstm"] or "LSTM" in skipped["slstm"]
    assert "readout" in skipped["readout"] or "no spiking neuron" in skipped["readout"]
    assert [layer.name for layer in report] == ["lif0", "lif2", "lif3"]
    for line in ("skipped alpha:", "skipped fc1:", "skipped slstm:", "skipped readout:"):
        assert line in str(report)
    # every weight module and every neuron is either planned or reported, none is ignored silently
    planned = {s for layer in report for s in layer.synapses} | {layer.name for layer in report}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, snn.SpikingNeuron)) and not name.startswith("slstm."):
            assert name in planned or name in skipped, name
    for key, value in untouched.items():
        assert torch.equal(model.state_dict()[key], value), f"{key} of a skipped layer was written"


# --------------------------------------------------------------------------------------------- 7. detection
def test_framework_detection_and_unknown_names(general) -> None:  # noqa: ANN001
    model = build(lambda: leaky_mlp(depth=2, width=32))
    auto = apply_init(model, framework="auto", method=general, input_rate=RATE, T=T, dry_run=True)
    assert auto.framework == "snntorch"
    assert apply_init(model, method=general, input_rate=RATE, T=T, dry_run=True).framework == "snntorch"
    with pytest.raises(UnknownFrameworkError, match="snntorch") as excinfo:
        apply_init(model, framework="snntroch", method=general, input_rate=RATE, T=T)
    assert "snntroch" in str(excinfo.value)
    with pytest.raises(UnknownFrameworkError, match="snntorch"):
        apply_init(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), framework="auto", method=general, input_rate=RATE)
