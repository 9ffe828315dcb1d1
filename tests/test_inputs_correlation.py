"""Active-input counts with spread and correlated units; the output correlation of a layer that shares its inputs."""


import pytest
import torch

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density
from snninit_plugins.simulator import bernoulli_spikes, run_neurons


@pytest.mark.parametrize("spread, correlation", [(0.0, 0.0), (0.04, 0.0), (0.04, 0.02)])
def test_active_count_law_has_the_units_mean_and_variance(spread: float, correlation: float) -> None:
    n, m = 256, 0.05
    drive = SynapticInput(n, -0.02, 0.2, InputMoments.spikes(m, spread, correlation=correlation))
    k, pmf, _ = drive.active_count_law()
    mean = float(pmf @ k)
    var = float(pmf @ (k - mean) ** 2)
    own = n * (m - m * m - spread * spread)  # sum of the units' own variances
    assert mean == pytest.approx(n * m, rel=1e-3)
    assert var == pytest.approx(own * (1 + (n - 1) * correlation), rel=0.03)


def test_density_predicts_the_correlation_of_neurons_that_share_their_inputs() -> None:
    torch.manual_seed(0)
    neuron = CanonicalNeuron(beta=0.5, reset="value")
    n, rate, steps, batch = 256, 0.05, 25, 64
    mu, sigma = -0.0218, 0.2405  # general's plan for this layer (target 0.05)
    pred = density(neuron, SynapticInput(n, mu, sigma, InputMoments.spikes(rate)), n_steps=steps)
    w = torch.randn(n, n, dtype=torch.float64) * sigma + mu
    s = run_neurons(neuron, torch.nn.functional.linear(bernoulli_spikes(rate, steps, (batch, n)).double(), w))
    per_neuron = s.mean(dim=(0, 1))
    own = float(((s - per_neuron) ** 2).mean())
    count_var = float(s.sum(dim=2).var(dim=1, unbiased=False).mean())  # across samples, at each step
    measured = (count_var / (n * own) - 1) / (n - 1)
    assert pred.correlation > 0
    assert measured == pytest.approx(pred.correlation, rel=0.4), (measured, pred.correlation)
