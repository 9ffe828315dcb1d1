"""The density method's average over the quenched spread of drifts (density.quadrature_nodes, drift_nodes).

Layer 8 of the general plans of beta 1 and 0.99, subtract reset, target 0.1, T = 100 (benchmarks/depth.py): the
drift spread is 27 times the membrane noise, and a neuron's rate rises from 0 to 1 spike/step over a third of the
spread. The former rule (41 nodes) was off there by 1.8-2.5% in rate, 4.3-4.8% in the spread of rates and 35-57
times in the predicted synchrony; benchmarks/quadrature.py has the table over all 48 stacks.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density

density_module = importlib.import_module("snninit_plugins.predictors.density")


@pytest.mark.parametrize("beta", [1.0, 0.99])
def test_the_drift_rule_resolves_a_rate_that_rises_over_a_small_part_of_the_spread(beta: float) -> None:
    neuron = CanonicalNeuron(beta=beta, reset="subtract")
    drive = SynapticInput(256, -0.1035, 0.5093, InputMoments.spikes(0.1, unit_spread=0.28))
    assert density_module.quadrature_nodes(neuron, drive, 100) == density_module.MAX_QUADRATURE_NODES
    pred = density(neuron, drive, n_steps=100)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(density_module, "_LUMP_BEYOND", math.inf)
        ref = density(neuron, drive, n_steps=100, n_nodes=301)
    # measured: 0.5% / 0.6% / 0.00023-0.00025 against 0.00022-0.00036 (the former rule: 2.5% / 4.8% / 0.0125)
    assert pred.rate == pytest.approx(ref.rate, rel=0.01)
    assert pred.rate_spread == pytest.approx(ref.rate_spread, rel=0.01)
    assert abs(pred.correlation - ref.correlation) < ref.correlation


def test_a_small_spread_keeps_a_small_rule() -> None:
    """Where the drift spread is below the membrane noise (R = 0.33 here) the rule stays at 7 nodes."""
    neuron = CanonicalNeuron(beta=0.9)
    drive = SynapticInput(256, 0.2, 0.05, InputMoments.spikes(0.1, unit_spread=0.01))
    s1, s2 = neuron.kernel_sums(25)
    ratio = drive.drift_spread * s1 / math.sqrt(drive.noise_variance * s2)
    assert ratio < 0.5 and density_module.quadrature_nodes(neuron, drive, 25) == 7


def test_lumped_tails_keep_the_mass_and_the_mean() -> None:
    drive = SynapticInput(256, -0.1, 0.5, InputMoments.spikes(0.1, unit_spread=0.28))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(density_module, "_LUMP_BEYOND", math.inf)
        full, full_weights = density_module.drift_nodes(drive, 151)
    lumped, weights = density_module._lump_tails(full, full_weights, drive.mean, drive.drift_spread)
    x = (lumped - drive.mean) / drive.drift_spread
    assert len(lumped) == len(full) - 8  # 5 nodes beyond 3 spreads on each side become one
    assert np.sum(np.abs(x) > 3) == 2 and np.all(np.diff(lumped) > 0)
    assert weights.sum() == pytest.approx(1.0) and weights @ lumped == pytest.approx(full_weights @ full)
    # a rule with one node beyond 3 spreads on each side (7 nodes) is left as it is
    small, small_weights = density_module.drift_nodes(drive, 7)
    assert density_module._lump_tails(small, small_weights, drive.mean, drive.drift_spread)[0] is small
