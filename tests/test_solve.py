"""Solving a layer's weight mean for a target rate, and its errors."""

from __future__ import annotations

import math

import pytest

from snninit_plugins import InfeasibleTargetError, SnnInitError
from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density, random_walk
from snninit_plugins.solve import solve_weight_mean


@pytest.mark.parametrize("target, window", [(0.02, 25), (0.1, None), (0.4, 25)])
def test_solution_hits_the_target(target: float, window: int | None) -> None:
    neuron = CanonicalNeuron(beta=0.9)
    drive = SynapticInput(256, 0.0, 0.05, InputMoments.spikes(0.1))
    mu = solve_weight_mean(neuron, drive, target, n_steps=window)
    assert density(neuron, drive.replace(weight_mean=mu), n_steps=window).rate == pytest.approx(target, rel=2e-3)


def test_closed_form_solution_for_the_random_walk() -> None:
    """beta = 1, subtract: rate = N mu_w p / theta, so mu_w = target * theta / (N p)."""
    neuron = CanonicalNeuron(beta=1.0, threshold=2.0)
    drive = SynapticInput(100, 0.0, 0.0, InputMoments.spikes(0.2))
    mu = solve_weight_mean(neuron, drive, 0.1, predictor=random_walk)
    assert mu == pytest.approx(0.1 * 2.0 / (100 * 0.2), rel=1e-6)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1, math.nan, math.inf])
def test_impossible_targets_name_the_layer(target: float) -> None:
    drive = SynapticInput(256, 0.0, 0.05, InputMoments.spikes(0.1))
    with pytest.raises(InfeasibleTargetError, match="fc3.*target") as info:
        solve_weight_mean(CanonicalNeuron(), drive, target, layer="fc3")
    assert isinstance(info.value, SnnInitError)


def test_silent_input_is_infeasible() -> None:
    drive = SynapticInput(256, 0.0, 0.05, InputMoments.spikes(0.0))
    with pytest.raises(InfeasibleTargetError, match="conv2.*silent"):
        solve_weight_mean(CanonicalNeuron(), drive, 0.1, layer="conv2")


def test_unreachable_rate() -> None:
    """A memoryless neuron (beta = 0) with one input spiking at 0.1/step fires at most 0.1/step."""
    neuron = CanonicalNeuron(beta=0.0)
    drive = SynapticInput(1, 0.0, 0.0, InputMoments.spikes(0.1))
    with pytest.raises(InfeasibleTargetError, match="fc1: no weight mean gives 0.5"):
        solve_weight_mean(neuron, drive, 0.5, n_steps=25, layer="fc1")
    # below 0.1 the rate jumps from 0 to 0.1 as the weight crosses theta: no weight gives 0.05
    with pytest.raises(InfeasibleTargetError, match="fc1: the predicted rate jumps past 0.05"):
        solve_weight_mean(neuron, drive, 0.05, n_steps=25, layer="fc1")


def test_a_guess_on_target_is_returned_and_a_slope_reported() -> None:
    neuron = CanonicalNeuron(beta=0.9)
    drive = SynapticInput(256, 0.0, 0.1, InputMoments.spikes(0.1))
    mu = solve_weight_mean(neuron, drive, 0.1, n_steps=25)
    calls = []

    def counting(*args: object, **kw: object):  # noqa: ANN202
        calls.append(1)
        return density(*args, **kw)

    info: dict = {}
    again = solve_weight_mean(neuron, drive, 0.1, n_steps=25, predictor=counting, guess=mu, info=info)
    assert again == mu and len(calls) == 1
    moved = solve_weight_mean(neuron, drive, 0.1, n_steps=25, predictor=counting, guess=1.05 * mu, info=info)
    assert moved == pytest.approx(mu, rel=2e-3) and info["slope"] > 0
