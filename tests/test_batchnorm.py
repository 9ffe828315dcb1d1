"""A BatchNorm between synapse and neuron: its affine is the knob (theory.md section 8), with real snnTorch."""

from __future__ import annotations

import math

import pytest
import snntorch as snn  # the framework under test must be installed: no importorskip
import torch
from torch import nn

from snninit_plugins import (
    api,
    apply_init,
)
from snninit_plugins.plugins import get_adapters
from snninit_plugins.recording import record

T, B, WIDTH, DEPTH, RATE = 25, 32, 256, 8, 0.1


def bn_stack(depth: int = DEPTH, affine: bool = True) -> nn.Sequential:
    torch.manual_seed(0)
    mods: list[nn.Module] = []
    for _ in range(depth):
        mods += [nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH, affine=affine), snn.Leaky(0.9, init_hidden=True)]
    return nn.Sequential(*mods)


def rates(net: nn.Module, train: bool) -> list[float]:
    net.train(train)
    x = (torch.rand(T, B, WIDTH, generator=torch.Generator().manual_seed(1)) < RATE).float()
    return [float(s.mean()) for s in record(net, get_adapters()["snntorch"], x).spikes.values()]


def test_batchnorm_affine_is_set_from_the_plan_and_the_stack_fires_at_the_target() -> None:
    net = bn_stack()
    report = apply_init(net, framework="snntorch", input_rate=RATE, T=T, generator=torch.Generator().manual_seed(0))
    first = report[0]
    assert first.norm == "1" and first.norm_affine is not None
    gamma, beta = first.norm_affine
    assert torch.all(net[1].weight == gamma) and torch.all(net[1].bias == beta)
    assert any("normalises the synaptic current" in n for n in first.notes)
    train = rates(net, True)
    assert abs(train[0] / RATE - 1) < 0.05, train
    assert all(abs(math.log2(r / RATE)) <= 1 for r in train), train
    # the running statistics match the written weights: eval mode starts where training mode does
    evaluation = rates(net, False)
    assert all(abs(math.log2(e / t)) < 0.25 for e, t in zip(evaluation, train)), (evaluation, train)


def test_baselines_leave_the_batchnorm_alone_and_say_so() -> None:
    net = bn_stack(depth=3)
    report = apply_init(net, framework="snntorch", method="kaiming", input_rate=RATE, T=T)
    assert report[0].norm_affine is None and torch.all(net[1].weight == 1) and torch.all(net[1].bias == 0)
    assert any("left as it is" in n for n in report[0].notes)


def test_batchnorm_without_affine_is_skipped_with_the_reason() -> None:
    net = bn_stack(depth=2, affine=False)
    with pytest.raises(ValueError, match="affine=False"):
        apply_init(net, framework="snntorch", input_rate=RATE, T=T)


def test_a_failed_write_restores_the_batchnorm_too(monkeypatch: pytest.MonkeyPatch) -> None:
    net = bn_stack(depth=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    real, calls = api.sample_weight_, []

    def failing(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:  # the last layer: two Linears and two BatchNorms are already written
            raise RuntimeError("injected failure")
        real(*args, **kwargs)

    monkeypatch.setattr(api, "sample_weight_", failing)
    with pytest.raises(RuntimeError, match="injected"):
        apply_init(net, framework="snntorch", input_rate=RATE, T=T)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
