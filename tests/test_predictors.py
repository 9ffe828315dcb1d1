"""Rate predictors against the reference simulator and against exact limits (theory.md sections 4, 6).

Tolerances come from benchmarks/theory_accuracy.py: the density method's error is below 0.6% in the
cases pinned here, the simulator's own standard error is added at 4 sigma.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import (
    PREDICTORS,
    density,
    diffusion,
    escape_probability,
    first_passage_cdf,
    layer_gain,
    random_walk,
    shot_noise,
    wiener,
)
from snninit_plugins.simulator import run_neurons, simulate_layer_rate
from snninit_plugins.surrogates import atan


def simulated(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int | None, seed: int = 0,
              n_groups: int = 64) -> tuple[float, float]:
    """Population rate and standard error from the simulator (stationary: 400 burn-in + 400 steps)."""
    return simulate_layer_rate(
        neuron, fan_in=drive.fan_in, weight_mean=drive.weight_mean, weight_std=drive.weight_std,
        input_rate=drive.moments.mean, n_steps=n_steps or 800, skip_steps=0 if n_steps else 400,
        centred_rows=drive.centred_rows, n_groups=n_groups, generator=torch.Generator().manual_seed(seed),
        dtype=torch.float32,
    )


def assert_close_to_simulation(predicted: float, sim: float, se: float, rel: float) -> None:
    assert abs(predicted - sim) <= rel * sim + 4 * se, f"predicted {predicted:.5f}, simulated {sim:.5f} +- {se:.5f}"


def spikes(n: int, mu: float, sd: float, p: float, **kw: object) -> SynapticInput:
    return SynapticInput(n, mu, sd, InputMoments.spikes(p), **kw)


# --------------------------------------------------------------------------- density method vs simulation
DENSITY_CASES = [
    # neuron, drive, window
    (CanonicalNeuron(beta=0.9), spikes(256, 0.004, 0.05, 0.1), 25),
    (CanonicalNeuron(beta=0.99, reset="value"), spikes(1024, 0.003, 0.05, 0.02), 25),  # shot-noise law
    (CanonicalNeuron(beta=1.0), spikes(256, 0.004, 0.02, 0.1), 25),
    (CanonicalNeuron(beta=0.9, next_step_reset=True), spikes(256, 0.004, 0.05, 0.1), 25),
    (CanonicalNeuron(beta=0.8, reset="value", strict=False), spikes(64, 0.03, 0.1, 0.3), None),
    (CanonicalNeuron(beta=0.9), spikes(256, 0.0, 0.08, 0.1), None),  # fluctuation-driven, big drift spread
    (CanonicalNeuron(beta=0.9, reset="value"), spikes(64, 0.1, 0.3, 0.02), None),  # sparse, big weights
    (CanonicalNeuron(beta=0.9, reset="value", refractory=1), spikes(256, 0.01, 0.05, 0.1), 25),
    (CanonicalNeuron(beta=0.8, reset="value", refractory=2), spikes(256, 0.01, 0.05, 0.1), None),
]


@pytest.mark.parametrize("neuron, drive, window", DENSITY_CASES)
def test_density_matches_simulation(neuron: CanonicalNeuron, drive: SynapticInput, window: int | None) -> None:
    pred = density(neuron, drive, n_steps=window)
    sim, se = simulated(neuron, drive, window)
    assert 0.01 < sim < 0.6
    assert pred.in_regime
    assert_close_to_simulation(pred.rate, sim, se, rel=0.015)


def test_density_per_neuron_parameters_match_simulation() -> None:
    neuron = CanonicalNeuron(beta=np.linspace(0.8, 0.99, 256), threshold=np.linspace(0.8, 1.2, 256))
    drive = spikes(256, 0.004, 0.05, 0.1)
    sim, se = simulate_layer_rate(neuron, fan_in=256, weight_mean=0.004, weight_std=0.05, input_rate=0.1,
                                  n_steps=25, n_groups=64, rows_per_group=256,
                                  generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    assert_close_to_simulation(density(neuron, drive, n_steps=25).rate, sim, se, rel=0.03)


def test_density_with_synaptic_filter_matches_simulation() -> None:
    neuron = CanonicalNeuron(beta=0.9, alpha=0.8, gain=0.2)
    drive = spikes(256, 0.01, 0.05, 0.1)
    sim, se = simulated(neuron, drive, 25, n_groups=128)
    assert_close_to_simulation(density(neuron, drive, n_steps=25).rate, sim, se, rel=0.03)


def test_quenched_average_is_needed() -> None:
    """Without averaging over the drift spread the fluctuation-driven rate is off by about 40%."""
    neuron, drive = CanonicalNeuron(beta=0.9), spikes(256, 0.0, 0.08, 0.1)
    sim, se = simulated(neuron, drive, 25)
    assert_close_to_simulation(density(neuron, drive, n_steps=25).rate, sim, se, rel=0.015)
    assert density(neuron, drive, n_steps=25, n_nodes=1).rate < 0.8 * sim


def test_density_membrane_and_surrogate_moment_match_simulation() -> None:
    neuron, drive = CanonicalNeuron(beta=0.9), spikes(256, 0.004, 0.05, 0.1)
    surrogate = atan()
    pred = density(neuron, drive, n_steps=25, surrogate=surrogate)
    gen = torch.Generator().manual_seed(5)
    inputs = (torch.rand(25, 16, 256, generator=gen) < 0.1).double()
    weights = 0.004 + 0.05 * torch.randn(2048, 256, generator=gen, dtype=torch.float64)
    _, h = run_neurons(neuron, inputs @ weights.T, record_membrane=True)
    h = h.numpy()
    assert pred.membrane.mean("pre_reset") == pytest.approx(h.mean(), abs=0.01)
    assert pred.membrane.std("pre_reset") == pytest.approx(h.std(), rel=0.02)
    assert pred.surrogate_moment == pytest.approx(np.mean(surrogate(h - 1.0) ** 2), rel=0.03)
    assert pred.membrane.pre_reset.sum() == pytest.approx(1.0, abs=1e-9)


# --------------------------------------------------------------------------- exact limits
def test_non_leaky_subtract_reset_rate_is_drift_over_threshold() -> None:
    """beta = 1 with subtract reset keeps the overshoot: the long-run rate is exactly m/theta."""
    neuron = CanonicalNeuron(beta=1.0, threshold=1.25)
    drive = spikes(256, 0.004, 0.02, 0.1, centred_rows=True)  # m = 256*0.004*0.1 = 0.1024
    expected = 0.1024 / 1.25
    assert random_walk(neuron, drive).rate == pytest.approx(expected, rel=1e-12)
    assert wiener(neuron, drive).rate == pytest.approx(expected, rel=1e-12)
    assert density(neuron, drive).rate == pytest.approx(expected, rel=1e-3)
    # the layer gain of m/theta is exactly 1
    assert layer_gain(random_walk, neuron, drive) == pytest.approx(1.0, abs=1e-9)
    assert layer_gain(density, neuron, drive) == pytest.approx(1.0, abs=0.01)


def test_non_leaky_negative_drift_is_silent_in_the_long_run() -> None:
    neuron = CanonicalNeuron(beta=1.0)
    drive = spikes(256, -0.002, 0.02, 0.1, centred_rows=True)
    for predictor in (random_walk, wiener, density):
        assert predictor(neuron, drive).rate == 0.0


def test_wiener_first_passage_is_inverse_gaussian() -> None:
    mu, sigma, a = 0.05, 0.2, 1.0
    t = np.array([5.0, 10.0, 20.0, 40.0, 80.0])
    # inverse Gaussian with mean a/mu and shape a^2/sigma^2; scipy's invgauss(m, scale=shape) has mean m*shape
    shape = a**2 / sigma**2
    expected = stats.invgauss.cdf(t, (a / mu) / shape, scale=shape)
    got = np.array([first_passage_cdf(np.array([a]), ti, mu, sigma)[0] for ti in t])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    mean_passage, _ = integrate.quad(lambda s: 1 - first_passage_cdf(np.array([a]), s, mu, sigma)[0], 0, np.inf)
    assert mean_passage == pytest.approx(a / mu, rel=1e-6)


def test_wiener_escape_probability_with_negative_drift() -> None:
    mu, sigma, a = -0.02, 0.2, 1.0
    expected = math.exp(-2 * 0.02 * 1.0 / 0.04)  # exp(-1)
    assert escape_probability(a, mu, sigma) == pytest.approx(expected)
    assert first_passage_cdf(np.array([a]), 1e7, mu, sigma)[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("beta, mu_w, rel", [(0.98, 0.0002, 0.01), (0.99, 0.0001, 0.01), (0.99, 0.0002, 0.01),
                                              (0.995, 0.0001, 0.01)])
def test_density_and_siegert_agree_for_small_jumps(beta: float, mu_w: float, rel: float) -> None:
    """Per-step std 0.05 theta, tau 50-200 steps: the diffusion limit, where Siegert is exact."""
    neuron = CanonicalNeuron(beta=beta, reset="value")
    drive = SynapticInput(1024, mu_w, 0.005, InputMoments.analog(0.1, 0.1), centred_rows=True)
    siegert = diffusion(neuron, drive)
    assert siegert.in_regime
    assert siegert.rate == pytest.approx(density(neuron, drive).rate, rel=rel)


# --------------------------------------------------------------------------- closed forms in their regimes
def test_random_walk_value_reset_uses_the_overshoot() -> None:
    neuron, drive = CanonicalNeuron(beta=1.0, reset="value"), spikes(256, 0.004, 0.02, 0.1)
    sim, se = simulated(neuron, drive, None)
    pred = random_walk(neuron, drive)
    assert pred.in_regime
    assert_close_to_simulation(pred.rate, sim, se, rel=0.04)


@pytest.mark.parametrize("neuron, drive", [
    (CanonicalNeuron(beta=0.99), spikes(1024, 0.0002, 0.01, 0.1)),
    (CanonicalNeuron(beta=0.95, reset="value"), spikes(1024, 0.0004, 0.01, 0.1)),
])
def test_diffusion_in_regime_matches_simulation(neuron: CanonicalNeuron, drive: SynapticInput) -> None:
    sim, se = simulated(neuron, drive, None)
    pred = diffusion(neuron, drive)
    assert pred.in_regime
    assert_close_to_simulation(pred.rate, sim, se, rel=0.02)


@pytest.mark.parametrize("neuron, drive", [
    (CanonicalNeuron(beta=0.9), spikes(256, 0.0, 0.25, 0.01)),
    (CanonicalNeuron(beta=0.8, reset="value"), spikes(128, 0.0, 0.3, 0.02)),
])
def test_shot_noise_in_regime_matches_simulation(neuron: CanonicalNeuron, drive: SynapticInput) -> None:
    sim, se = simulated(neuron, drive, None)
    pred = shot_noise(neuron, drive)
    assert pred.in_regime
    assert_close_to_simulation(pred.rate, sim, se, rel=0.07)


def test_regime_flags_and_unsupported_neurons() -> None:
    leaky, drive = CanonicalNeuron(beta=0.9), spikes(256, 0.004, 0.05, 0.1)
    assert not random_walk(leaky, drive).in_regime
    assert "beta" in random_walk(leaky, drive).regime
    assert not diffusion(leaky, drive, n_steps=25).in_regime
    assert "finite window" in diffusion(leaky, drive, n_steps=25).regime
    with pytest.raises(ValueError, match="leak"):
        diffusion(CanonicalNeuron(beta=1.0), drive)
    with pytest.raises(ValueError, match="leak"):
        shot_noise(CanonicalNeuron(beta=1.0), drive)
    with pytest.raises(ValueError, match="stationary"):
        density(CanonicalNeuron(beta=1.0, reset="none"), drive)


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_every_predictor_reports_a_rate_in_unit_interval(name: str) -> None:
    pred = PREDICTORS[name](CanonicalNeuron(beta=0.9), spikes(256, 0.004, 0.05, 0.1))
    assert 0.0 <= pred.rate <= 1.0 and pred.method == name
    assert pred.rate_spread >= 0.0
    assert set(pred.as_dict()) >= {"rate", "rate_spread", "method", "in_regime", "regime"}


def test_fluctuation_driven_gain_exceeds_one_and_mean_driven_does_not() -> None:
    """theory.md section 6: zero-mean (Kaiming-like) weights give G > 1, the collapse mechanism."""
    neuron = CanonicalNeuron(beta=0.9)
    fluctuation = layer_gain(density, neuron, spikes(256, 0.0, 0.05, 0.1, centred_rows=True), n_steps=25)
    mean_driven = layer_gain(density, neuron, spikes(256, 0.01, 0.01, 0.1, centred_rows=True), n_steps=25)
    assert fluctuation > 1.5
    assert 1.0 < mean_driven < fluctuation


def test_no_reset_fires_whenever_the_membrane_is_above_threshold() -> None:
    """beta = 1, no reset, drift 0.1024/step from V0 = 0: above theta = 1 from step 10 on, so 16 of 25 steps."""
    neuron = CanonicalNeuron(beta=1.0, reset="none")
    drive = spikes(256, 0.004, 0.0, 0.1, centred_rows=True)
    assert random_walk(neuron, drive, n_steps=25).rate == pytest.approx(16 / 25)
    noisy = spikes(256, 0.004, 0.02, 0.1, centred_rows=True)
    sim, se = simulated(neuron, noisy, 25)
    assert_close_to_simulation(wiener(neuron, noisy, n_steps=25).rate, sim, se, rel=0.03)
    assert_close_to_simulation(density(neuron, noisy, n_steps=25).rate, sim, se, rel=0.015)


@pytest.mark.parametrize(("drift", "std"), [(-0.012, 0.874), (0.3, 0.3)])
def test_density_predicts_the_output_spike_autocorrelation(drift: float, std: float) -> None:
    """Fluctuation-driven firing is bursty (rho > 0), drift-driven firing regular (rho(1) < 0): both predicted."""

    neuron = CanonicalNeuron(beta=0.9, threshold=1.0, reset="subtract", next_step_reset=True)
    n, r = 256, 0.1
    drive = SynapticInput(n, drift / (n * r), std / math.sqrt(n * r), InputMoments.spikes(r), centred_rows=True,
                          law="gaussian")
    pred = density(neuron, drive, n_steps=None, autocorrelation=True)
    x = drive.mean + math.sqrt(drive.noise_variance) * torch.randn(
        3000, 2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = run_neurons(neuron, x)[500:].numpy()
    s = s - s.mean(0)
    measured = [float((s[:-d] * s[d:]).mean() / s.var()) for d in range(1, 6)]
    assert np.allclose(pred.autocorrelation[:5], measured, atol=0.01), (pred.autocorrelation[:5], measured)


def test_noise_factor_of_a_leaky_neuron_is_one_plus_twice_the_discounted_autocorrelation() -> None:
    from snninit_plugins.inputs import noise_factor

    rho = (0.2, 0.1, 0.05)
    assert noise_factor(0.9, None, ()) == 1.0
    assert noise_factor(0.9, None, rho) == pytest.approx(1 + 2 * (0.2 * 0.9 + 0.1 * 0.81 + 0.05 * 0.729))
    assert noise_factor(0.0, None, rho) == pytest.approx(1.0)  # no memory: correlations do not add up
