"""Active-input counts with spread and correlated units; the output correlation of a layer that shares its inputs."""


import pytest
import torch

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density
from snninit_plugins.simulator import bernoulli_spikes, layer_activity, run_neurons


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


def test_common_law_keeps_the_count_variance_and_is_less_skewed_than_the_beta_law() -> None:
    n, m, u, c = 256, 0.045, 0.063, 0.015  # a deep layer's input (0.9/value, target 0.05, T = 25): chi 4.8
    law = (0.5, 0.7, 0.8, 1.0, 1.1, 1.2, 1.3, 1.5)  # a layer's predicted common fluctuation, rounded as carried
    moments = []
    for shape in ((), law):
        k, pmf, _ = SynapticInput(n, -0.01, 0.2, InputMoments.spikes(m, u, correlation=c, common_law=shape)
                                  ).active_count_law()
        mean = float(pmf @ k)
        var = float(pmf @ (k - mean) ** 2)
        moments.append((mean, var, float(pmf @ (k - mean) ** 3) / var**1.5))
    (mean_beta, var_beta, skew_beta), (mean_law, var_law, skew_law) = moments
    assert mean_law == pytest.approx(mean_beta, rel=1e-3)
    assert var_law == pytest.approx(var_beta, rel=0.02)
    # measured on that layer's input: skewness 0.25 (the Beta law of the same variance: 0.88)
    assert skew_law < 0.4
    assert skew_beta > 0.8


def test_density_gives_the_law_of_the_common_fluctuation() -> None:
    pred = density(CanonicalNeuron(beta=0.9, reset="value"),
                   SynapticInput(256, -0.0115, 0.1966, InputMoments.spikes(0.05, 0.062)), n_steps=25)
    law = pred.common_law
    assert len(law) == 8 and list(law) == sorted(law)
    assert sum(law) / len(law) == pytest.approx(1.0, rel=1e-6)
    # its spread is the common fluctuation's: Var(r(K)) / r^2 = correlation x own variance / r^2, less the repeats
    assert 0.0 < law[0] < 1.0 < law[-1]


def test_density_correlation_includes_the_repeated_units() -> None:
    """Stationary layer fed Bernoulli spikes: chi measured 1.62 (12 weight draws: 1.57-1.68); the count alone
    gives 1.53, the count plus the units active at two steps 1.60."""
    torch.manual_seed(3)
    neuron = CanonicalNeuron(beta=0.9, reset="value")
    n, rate, mu, sigma = 256, 0.05, -0.00768, 0.19662
    pred = density(neuron, SynapticInput(n, mu, sigma, InputMoments.spikes(rate)), n_steps=None)
    w = torch.randn(n, n) * sigma + mu
    s = run_neurons(neuron, torch.nn.functional.linear(bernoulli_spikes(rate, 200, (128, n)), w))
    measured = layer_activity(s, skip_steps=40).synchrony
    predicted = 1 + (n - 1) * pred.correlation
    assert predicted == pytest.approx(1.60, abs=0.02)
    assert predicted - 1 == pytest.approx(measured - 1, rel=0.15), (measured, predicted)
