"""The (rate, spread) Jacobian of one layer's map: what the gain criterion does not see."""

from __future__ import annotations

import numpy as np
import pytest

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density, jacobian_radius, layer_gain, layer_jacobian
from snninit_plugins.strategies import LayerSpec, get_strategy, plan_network


def _deep_layer(beta: float, reset: str, target: float, window: int) -> tuple[CanonicalNeuron, SynapticInput]:
    """Layer 10 of a planned stack of identical layers (benchmarks/depth.py's, planned without the window options,
    rows general+none): its neuron and its drive."""
    neuron = CanonicalNeuron(beta=beta, reset=reset)
    strategy = get_strategy("general", window_offset=False, window_onset=False)
    plan = plan_network([LayerSpec(f"L{i + 1}", neuron, 256) for i in range(10)], strategy,
                        InputMoments.spikes(target), target_rate=target, n_steps=window)
    p = plan[-1]
    return neuron, strategy.drive(LayerSpec("L10", neuron, 256), p.input, p.weight_mean, p.weight_std, p.bias)


def test_the_first_rows_sum_is_the_layer_gain() -> None:
    neuron, drive = _deep_layer(0.9, "value", 0.1, 25)
    jacobian = layer_jacobian(density, neuron, drive, n_steps=25)
    # G scales rate and spread together: to first order the sum of the rate row
    assert jacobian[0].sum() == pytest.approx(layer_gain(density, neuron, drive, n_steps=25), abs=0.03)


@pytest.mark.parametrize("beta, reset, target, window, unstable", [
    (0.99, "subtract", 0.05, 25, True),  # a configuration of the depth grid that fails at depth 50: radius 1.04
    (0.9, "value", 0.1, 25, False),  # 0.78
    (1.0, "subtract", 0.2, 100, False),  # 0.29
])
def test_the_spectral_radius_flags_the_unstable_stack(beta: float, reset: str, target: float, window: int,
                                                      unstable: bool) -> None:
    neuron, drive = _deep_layer(beta, reset, target, window)
    radius = jacobian_radius(density, neuron, drive, n_steps=window)
    assert (radius > 1.02) if unstable else (radius < 0.9)


def test_an_input_without_spread_has_no_jacobian() -> None:
    drive = SynapticInput(256, 0.0, 0.1, InputMoments.spikes(0.1))
    with pytest.raises(ValueError, match="spread"):
        layer_jacobian(density, CanonicalNeuron(beta=0.9), drive, n_steps=25)


def test_the_radius_is_nan_where_there_is_no_jacobian() -> None:
    drive = SynapticInput(256, 0.0, 0.1, InputMoments.spikes(0.1))
    assert np.isnan(jacobian_radius(density, CanonicalNeuron(beta=0.9), drive, n_steps=25))
