"""Bursty input over a window as a per-sample offset that stays put (inputs.window_offset_variance), the density
method's average over it, and the strategy option that carries it through a stack (``window_offset=True``)."""

from __future__ import annotations

import math

import pytest
import torch
from acceptance import simulate_plan

from snninit_plugins.inputs import InputMoments, SynapticInput, window_offset_variance
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density
from snninit_plugins.simulator import run_neurons
from snninit_plugins.strategies import LayerSpec, get_strategy, plan_network


def test_a_constant_autocorrelation_over_the_window_is_that_fraction_of_the_variance() -> None:
    """rho(d) = c at every lag of T steps: the window mean's variance is (1 + c (T - 1)) / T of a step's, so the
    offset is c of the per-step variance (to two digits)."""
    moments = InputMoments.spikes(0.1, 0.02, (0.3,) * 99)
    drive = SynapticInput(256, -0.01, 0.2, moments)
    assert window_offset_variance(drive, 100) == pytest.approx(0.3 * drive.noise_variance, rel=1e-12)
    # the fraction is rounded to two significant digits
    assert window_offset_variance(SynapticInput(256, -0.01, 0.2, InputMoments.spikes(0.1, 0.02, (0.313,) * 99)),
                                  100) == pytest.approx(0.31 * drive.noise_variance, rel=1e-12)


@pytest.mark.parametrize("drive", [
    SynapticInput(256, -0.01, 0.2, InputMoments.spikes(0.1, 0.02, (0.3,) * 99), centred_rows=True),
    SynapticInput(256, -0.01, 0.2, InputMoments.spikes(0.1, 0.02)),
])
def test_no_offset_with_centred_rows_or_without_autocorrelation(drive: SynapticInput) -> None:
    assert window_offset_variance(drive, 100) == 0.0


def test_no_offset_in_the_stationary_state() -> None:
    assert window_offset_variance(SynapticInput(256, -0.01, 0.2, InputMoments.spikes(0.1, 0.0, (0.3,) * 24)), None) == 0


def test_the_offset_moves_the_rate_not_the_neurons_spread_as_simulated() -> None:
    """Gaussian input: drift m_i (the quenched spread), an offset o per (sample, neuron) constant over the window,
    and independent steps with the rest of the variance. The density method's rate and spread of the neurons'
    own rates (over samples and steps) against 512 neurons x 512 samples simulated; the spread is over the
    drifts alone (taken over the offsets too it would be 1.5 times as large here)."""
    neuron = CanonicalNeuron(beta=0.99, reset="subtract")
    moments = InputMoments.spikes(0.05, 0.04, (0.3,) * 99)
    drive = SynapticInput(256, -0.05, 0.3, moments, law="gaussian")
    offset = window_offset_variance(drive, 100)
    assert offset == pytest.approx(0.3 * drive.noise_variance)
    pred = density(neuron, drive, n_steps=100)
    gen = torch.Generator().manual_seed(0)
    n, samples = 512, 512
    # the drifts at the quantiles of their normal law: the rate is carried by its upper tail, which 512 random
    # drifts sample with a 10% error
    quantiles = torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n)
    m = drive.mean + drive.drift_spread * quantiles
    o = math.sqrt(offset) * torch.randn(samples, n, generator=gen, dtype=torch.float64)
    steps = math.sqrt(drive.noise_variance - offset) * torch.randn(100, samples, n, generator=gen,
                                                                     dtype=torch.float64)
    spikes = run_neurons(neuron, m + o + steps)
    own = spikes.mean(dim=(0, 1))
    assert pred.rate == pytest.approx(float(spikes.mean()), rel=0.03)
    assert pred.rate_spread == pytest.approx(float(own.std()), rel=0.05)
    assert float(spikes.mean(dim=0).std()) > 1.3 * pred.rate_spread  # per (sample, neuron): the offsets' too


def _layer_rates(strategy: object, depth: int = 12) -> list[float]:
    """A planned stack of beta 0.99 subtract-reset layers (target 0.05, T = 100, 256 wide), simulated."""
    neuron = CanonicalNeuron(beta=0.99, reset="subtract")
    plan = plan_network([LayerSpec(f"L{i + 1}", neuron, 256) for i in range(depth)], strategy,
                        InputMoments.spikes(0.05), target_rate=0.05, n_steps=100)
    return simulate_plan(plan, neuron, 0.05, 100, seed=1)


def test_with_the_window_offset_a_bursty_stack_keeps_its_rate() -> None:
    """benchmarks/depth.py's family that fails without the window options (beta 0.99, subtract reset, target 0.05,
    T = 100): planned with neither, layers 8-12 fall to about 0.7 of the target (0.037 here); with window_offset=True
    (the default; window_onset off in both) every layer stays within 50% (0.049-0.068 here)."""
    default = _layer_rates(get_strategy("general", window_offset=False, window_onset=False))
    offset = _layer_rates(get_strategy("general", window_onset=False))
    assert sum(default[7:]) / 5 < 0.04
    assert all(0.035 < r < 0.075 for r in offset), [round(r, 4) for r in offset]


def test_apply_init_passes_the_option_to_the_strategy() -> None:
    """snnTorch Leaky stack (subtract reset): with window_offset=True (the default) the plan carries the trains'
    autocorrelation from layer 2 on (every lag of the window from layer 3), with window_offset=False none."""
    import snntorch as snn
    from torch import nn

    from snninit_plugins import apply_init

    layers: list[nn.Module] = []
    for _ in range(4):
        layers += [nn.Linear(64, 64), snn.Leaky(beta=0.99, reset_mechanism="subtract", init_hidden=True)]
    model = nn.Sequential(*layers)
    with_offset = apply_init(model, input_rate=0.05, T=100, dry_run=True)
    assert [len(layer.plan.input.autocorrelation) for layer in with_offset] == [0, 24, 99, 99]
    without = apply_init(model, input_rate=0.05, T=100, dry_run=True, window_offset=False)
    assert all(not layer.plan.input.autocorrelation for layer in without)
