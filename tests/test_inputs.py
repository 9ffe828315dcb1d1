"""Tests of the input statistics (snninit_plugins.inputs): InputMoments, SynapticInput, MixtureLaw.

Moment formulas are checked against hand-computed numbers from theory.md section 3; the shot-noise law is checked
against its own moments and against a seeded numpy Monte Carlo of x = W a + b.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from snninit_plugins.errors import InputSpecError, SnnInitError
from snninit_plugins.inputs import SHOT_NOISE_MAX_ACTIVE, InputMoments, MixtureLaw, SynapticInput


# ------------------------------------------------------------------------------------------ InputMoments
def test_spikes_moments() -> None:
    m = InputMoments.spikes(0.25)
    assert (m.mean, m.second, m.spiking) == (0.25, 0.25, True)
    assert m.variance == 0.1875  # 0.25 - 0.0625
    assert InputMoments.spikes(0).variance == 0.0 and InputMoments.spikes(1).variance == 0.0


def test_from_sample() -> None:
    # binary: 3 ones in 8 entries, pooled over all axes -> m = q = 0.375, spiking
    m = InputMoments.from_sample(np.array([[0, 1, 1, 0], [0, 0, 0, 1]]))
    assert (m.mean, m.second, m.spiking) == (0.375, 0.375, True)
    assert InputMoments.from_sample(np.array([True, False])).spiking
    # analog: mean (0.5 - 1 + 2 + 0)/4 = 0.375; E[a^2] = (0.25 + 1 + 4 + 0)/4 = 1.3125
    m = InputMoments.from_sample(np.array([0.5, -1.0, 2.0, 0.0]))
    assert (m.mean, m.second, m.spiking) == (0.375, 1.3125, False)
    assert m.variance == 1.3125 - 0.140625
    # a constant analog sample (0.5 everywhere) is valid: variance 0
    m = InputMoments.from_sample(np.full((3, 3), 0.5))
    assert (m.mean, m.second, m.spiking, m.variance) == (0.5, 0.25, False, 0.0)
    with pytest.raises(InputSpecError, match="empty"):
        InputMoments.from_sample(np.array([]))
    with pytest.raises(InputSpecError, match="finite"):
        InputMoments.from_sample(np.array([0.5, np.nan]))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: InputMoments.spikes(-0.1), r"\[0, 1\]"),
        (lambda: InputMoments.spikes(1.5), r"\[0, 1\]"),
        (lambda: InputMoments.spikes(math.nan), r"\[0, 1\]"),
        (lambda: InputMoments(-0.5, 0.5, spiking=True), r"\[0, 1\]"),
        (lambda: InputMoments(1.5, 1.5, spiking=True), "mean\\^2"),  # q = m for spikes: rate > 1 breaks q >= m^2
        (lambda: InputMoments(0.5, 0.2), "mean\\^2"),  # 0.2 < 0.25
        (lambda: InputMoments.analog(-1.0, 0.5), "E\\[a\\^2\\]"),
        (lambda: InputMoments(math.nan, 1.0), "finite"),
        (lambda: InputMoments(0.1, math.inf), "finite"),
    ],
)
def test_invalid_moments_raise(make, match: str) -> None:
    with pytest.raises(InputSpecError, match=match) as info:
        make()
    assert isinstance(info.value, ValueError) and isinstance(info.value, SnnInitError)


def test_scaled() -> None:
    # spikes: the rate scales, stays spiking
    m = InputMoments.spikes(0.125).scaled(3)
    assert (m.mean, m.second, m.spiking) == (0.375, 0.375, True)
    # spike rates are capped at 1 spike/step
    m = InputMoments.spikes(0.5).scaled(3)
    assert (m.mean, m.second, m.spiking) == (1.0, 1.0, True)
    # analog: both moments scale (the activity occurs `factor` times as often)
    m = InputMoments.analog(0.5, 1.0).scaled(0.5)
    assert (m.mean, m.second, m.spiking) == (0.25, 0.5, False)
    m = InputMoments.analog(-0.5, 1.0).scaled(2)
    assert (m.mean, m.second) == (-1.0, 2.0)


def test_scaled_low_variance_analog_up_does_not_raise() -> None:
    # constant input 0.5: m = 0.5, q = 0.25; scaled(1.01) -> m = 0.505, q = 0.2525 < m^2 = 0.255025
    m = InputMoments.analog(0.5, 0.25).scaled(1.01)
    assert m.mean == pytest.approx(0.505)


# ------------------------------------------------------------------------------------------ SynapticInput stats
def test_spike_input_statistics_hand_values() -> None:
    # N=100, mu_w=0.02, sigma_w=0.1, p=0.1 (m = q = 0.1), b=0.05
    s = SynapticInput(100, 0.02, 0.1, InputMoments.spikes(0.1), bias=0.05)
    assert s.mean == pytest.approx(0.25, rel=1e-14)  # 100*0.02*0.1 + 0.05
    assert s.drift_spread == pytest.approx(0.1, rel=1e-14)  # sqrt(100)*0.1*0.1
    assert s.noise_variance == pytest.approx(0.0936, rel=1e-14)  # 100*(0.01+0.0004)*(0.1-0.01)
    # theory.md: N (sigma^2 q + mu^2 (q - m^2)) = 100 (0.01*0.1 + 0.0004*0.09) = 0.1036 = 0.1^2 + 0.0936
    assert s.variance == pytest.approx(0.1036, rel=1e-14)
    assert s.active_inputs == pytest.approx(10.0, rel=1e-14)


def test_analog_input_statistics_hand_values() -> None:
    # N=50, mu_w=-0.01, sigma_w=0.2, analog m=0.5, q=0.5 (variance 0.25)
    s = SynapticInput(50, -0.01, 0.2, InputMoments.analog(0.5, 0.5))
    assert s.mean == pytest.approx(-0.25, rel=1e-14)  # 50*(-0.01)*0.5
    assert s.drift_spread == pytest.approx(math.sqrt(50) * 0.1, rel=1e-14)  # sqrt(50)*0.2*0.5 = 0.7071
    assert s.noise_variance == pytest.approx(0.50125, rel=1e-14)  # 50*(0.04+0.0001)*0.25
    # 50 (0.04*0.5 + 0.0001*0.25) = 1.00125 = 0.5 + 0.50125
    assert s.variance == pytest.approx(1.00125, rel=1e-14)
    # negative mean activity: the spread is a std, hence |m|
    assert SynapticInput(50, -0.01, 0.2, InputMoments.analog(-0.5, 0.5)).drift_spread == pytest.approx(0.70710678118)


@pytest.mark.parametrize(
    "fan_in, mu_w, sigma_w, moments, bias",
    [
        (100, 0.02, 0.1, InputMoments.spikes(0.1), 0.05),
        (37, -0.03, 0.25, InputMoments.analog(0.3, 0.2), -0.1),
        (1, 0.5, 0.0, InputMoments.spikes(0.7), 0.0),
    ],
)
def test_annealed_variance_formula(fan_in: int, mu_w: float, sigma_w: float, moments: InputMoments,
                                   bias: float) -> None:
    s = SynapticInput(fan_in, mu_w, sigma_w, moments, bias=bias)
    m, q = moments.mean, moments.second
    assert s.mean == pytest.approx(fan_in * mu_w * m + bias, rel=1e-14)
    expected = fan_in * (sigma_w**2 * q + mu_w**2 * (q - m * m))
    assert s.variance == pytest.approx(expected, rel=1e-12)
    assert s.variance == pytest.approx(s.drift_spread**2 + s.noise_variance, rel=1e-14)
    # centred rows remove the drift spread and keep the per-step noise
    c = s.replace(centred_rows=True)
    assert c.drift_spread == 0.0
    assert c.variance == s.noise_variance and c.mean == s.mean


def test_annealed_moments_monte_carlo() -> None:
    # x = W a + b with W ~ N(mu, sigma) iid per draw and a ~ Uniform(0, 1) iid (m = 1/2, q = 1/3)
    n_draw, fan_in, mu_w, sigma_w, bias = 20000, 40, 0.05, 0.2, 0.3
    rng = np.random.default_rng(11)
    w = rng.normal(mu_w, sigma_w, (n_draw, fan_in))
    a = rng.random((n_draw, fan_in))
    x = (w * a).sum(axis=1) + bias
    s = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.analog(0.5, 1 / 3), bias=bias)
    sd = math.sqrt(s.variance)  # 40*(0.04/3 + 0.0025/12) = 0.5417 -> sd 0.736
    assert abs(x.mean() - s.mean) < 5 * sd / math.sqrt(n_draw)
    # x is close to Gaussian (sum of 40 terms): relative se of the sample std ~ 1/sqrt(2n)
    assert abs(x.std() / sd - 1) < 6 / math.sqrt(2 * n_draw)
    # quenched drift of each row: m_a * sum_j W_ij + b, spread sqrt(N) sigma m_a
    drifts = 0.5 * w.sum(axis=1) + bias
    assert abs(drifts.std() / s.drift_spread - 1) < 5 / math.sqrt(2 * n_draw)


# ------------------------------------------------------------------------------------------ quenched nodes
def test_quenched_nodes_reproduce_the_drift_distribution() -> None:
    s = SynapticInput(100, 0.02, 0.1, InputMoments.spikes(0.1), bias=0.05)  # mean 0.25, spread 0.1
    nodes, weights = s.quenched_nodes(9)
    assert nodes.shape == weights.shape == (9,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(weights > 0)
    mean = float(np.sum(weights * nodes))
    assert mean == pytest.approx(0.25, rel=1e-13)
    z = nodes - 0.25
    assert math.sqrt(np.sum(weights * z**2)) == pytest.approx(0.1, rel=1e-12)
    # Gauss-Hermite with 9 nodes is exact through degree 17: 3rd moment 0, 4th moment 3 sigma^4
    assert np.sum(weights * z**3) == pytest.approx(0.0, abs=1e-15)
    assert np.sum(weights * z**4) == pytest.approx(3e-4, rel=1e-11)
    # the node set is symmetric around the mean
    np.testing.assert_allclose(np.sort(z), -np.sort(z)[::-1], atol=1e-14)


def test_quenched_nodes_single_node_without_spread() -> None:
    for s in (
        SynapticInput(100, 0.02, 0.1, InputMoments.spikes(0.1), bias=0.05, centred_rows=True),
        SynapticInput(100, 0.02, 0.0, InputMoments.spikes(0.1), bias=0.05),  # sigma_w = 0
        SynapticInput(100, 0.02, 0.1, InputMoments.analog(0.0, 0.3)),  # zero-mean activity
    ):
        nodes, weights = s.quenched_nodes()
        assert nodes.tolist() == [pytest.approx(s.mean, rel=1e-15)] and weights.tolist() == [1.0]
    nodes, weights = SynapticInput(100, 0.02, 0.1, InputMoments.spikes(0.1)).quenched_nodes(1)
    assert len(nodes) == 1 and weights.tolist() == [1.0]


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fan_in=0), "positive integer"),
        (dict(fan_in=-3), "positive integer"),
        (dict(fan_in=2.5), "positive integer"),
        (dict(weight_std=-0.1), "weight_std"),
        (dict(weight_mean=math.nan), "weight_mean must be finite"),
        (dict(weight_std=math.inf), "weight_std must be finite"),
        (dict(bias=-math.inf), "bias must be finite"),
        (dict(law="poisson"), "law must be"),
        (dict(law="shot_noise", moments=InputMoments.analog(0.5, 0.5)), "spike input"),
    ],
)
def test_invalid_synaptic_input_raises(kwargs: dict, match: str) -> None:
    args = dict(fan_in=10, weight_mean=0.1, weight_std=0.1, moments=InputMoments.spikes(0.1))
    args.update(kwargs)
    with pytest.raises(InputSpecError, match=match) as info:
        SynapticInput(**args)
    assert isinstance(info.value, ValueError)


def test_valid_synaptic_input_edge_cases() -> None:
    assert SynapticInput(7.0, 0.1, 0.0, InputMoments.spikes(0.1)).fan_in == 7.0  # integral float accepted
    assert SynapticInput(np.int64(7), 0.1, 0.0, InputMoments.spikes(0.1)).mean == pytest.approx(0.07)


@pytest.mark.parametrize("fan_in", [math.inf, math.nan])
def test_non_finite_fan_in_raises_input_spec_error(fan_in: float) -> None:
    with pytest.raises(InputSpecError):
        SynapticInput(fan_in, 0.1, 0.1, InputMoments.spikes(0.1))


# ------------------------------------------------------------------------------------------ step law
def test_gaussian_step_law() -> None:
    # analog input: always Gaussian, mean = drift, std = sqrt(noise_variance)
    s = SynapticInput(50, -0.01, 0.2, InputMoments.analog(0.5, 0.5))
    assert not s.uses_shot_noise
    law = s.step_law()
    assert law.weights.tolist() == [1.0] and law.means.tolist() == [pytest.approx(-0.25)]
    assert law.stds.tolist() == [pytest.approx(math.sqrt(0.50125), rel=1e-14)]
    assert s.step_law(drift=0.4).means.tolist() == [0.4]
    assert law.cdf(-0.25) == pytest.approx(0.5, abs=1e-15)
    # a one-sigma point: Phi(1) = 0.8413447460685429
    assert law.cdf(-0.25 + math.sqrt(0.50125)) == pytest.approx(0.8413447460685429, rel=1e-12)
    # many active spikes (2 * threshold) -> Gaussian; law="gaussian" forces it for sparse spikes
    p = 0.1
    dense = SynapticInput(int(round(20 * SHOT_NOISE_MAX_ACTIVE)), 0.01, 0.1, InputMoments.spikes(p))
    assert dense.active_inputs == pytest.approx(2 * SHOT_NOISE_MAX_ACTIVE) and not dense.uses_shot_noise
    assert len(dense.step_law().weights) == 1
    sparse = SynapticInput(int(round(5 * SHOT_NOISE_MAX_ACTIVE)), 0.01, 0.1, InputMoments.spikes(p))
    assert sparse.active_inputs == pytest.approx(0.5 * SHOT_NOISE_MAX_ACTIVE) and sparse.uses_shot_noise
    assert not sparse.replace(law="gaussian").uses_shot_noise
    assert len(sparse.replace(law="gaussian").step_law().weights) == 1
    # law="shot_noise" forces the mixture for dense spikes too
    assert dense.replace(law="shot_noise").uses_shot_noise
    # rates 0 and 1 have no noise: auto law is a point mass at the drift
    for rate in (0.0, 1.0):
        s0 = SynapticInput(20, 0.1, 0.1, InputMoments.spikes(rate), bias=0.2)
        assert not s0.uses_shot_noise
        law = s0.step_law()
        assert law.stds.tolist() == [0.0] and law.std == 0.0
        assert law.cdf(law.mean) == 1.0 and law.cdf(law.mean, left=True) == 0.0


def test_forced_shot_noise_with_zero_rate_is_point_mass() -> None:
    law = SynapticInput(20, 0.1, 0.1, InputMoments.spikes(0.0), bias=0.2, law="shot_noise").step_law()
    assert law.mean == pytest.approx(0.2) and law.std == 0.0


@pytest.mark.parametrize(
    "fan_in, mu_w, sigma_w, p, bias",
    [
        (100, 0.02, 0.1, 0.1, 0.05),
        (32, 0.1, 0.3, 0.02, -0.1),
        (500, -0.01, 0.05, 0.03, 0.0),  # 15 active inputs
        (10, 0.2, 0.0, 0.3, 0.1),  # sigma_w = 0: every component is a point mass
    ],
)
def test_shot_noise_law_moments(fan_in: int, mu_w: float, sigma_w: float, p: float, bias: float) -> None:
    s = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.spikes(p), bias=bias)
    assert s.uses_shot_noise
    law = s.step_law()
    assert len(law.weights) > 1
    assert law.weights.sum() == pytest.approx(1.0, abs=1e-12) and np.all(law.weights > 0)
    # E[x] = N p w_bar + b = drift; Var[x] = E_k[k sigma^2 (N-k)/(N-1)] + Var_k[k w_bar]
    #      = sigma^2 N p (1-p) + w_bar^2 N p (1-p)   (E[k(N-k)] = N(N-1)p(1-p)) = noise_variance at w_bar = mu_w
    assert law.mean == pytest.approx(s.mean, rel=1e-6, abs=1e-12)
    assert law.std**2 == pytest.approx(s.noise_variance, rel=1e-6)
    # another neuron's drift: the row mean changes, so the k-term changes with it
    drift = s.mean + 0.3
    w_bar = (drift - bias) / (fan_in * p)
    law = s.step_law(drift)
    assert law.mean == pytest.approx(drift, rel=1e-6)
    assert law.std**2 == pytest.approx(fan_in * p * (1 - p) * (sigma_w**2 + w_bar**2), rel=1e-6)
    # the k = 0 component (kept when its probability (1-p)^N exceeds the 1e-10 cut) is a point mass at b
    if (1 - p) ** fan_in > 1e-10:
        assert law.stds[0] == 0.0 and law.means[0] == pytest.approx(bias, abs=1e-15)


def _sample_centred_rows(fan_in: int, mu_w: float, sigma_w: float, w_bar: float, p: float, bias: float,
                         n_draw: int, seed: int) -> np.ndarray:
    """x = W a + b, a fresh row W per draw, centred so that mean(W) = w_bar, a ~ Bernoulli(p).

    With W_j ~ N(mu, s^2) and W' = W - mean(W) + w_bar, a sum over k entries is Gaussian with mean k w_bar and
    variance s^2 |e_S - (k/N) 1|^2 = s^2 k (N-k)/N. Drawing s^2 = sigma^2 N/(N-1) makes it sigma^2 k(N-k)/(N-1),
    exactly the mixture component of SynapticInput.step_law; so the law below is exact, not an approximation.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(mu_w, sigma_w * math.sqrt(fan_in / (fan_in - 1)), (n_draw, fan_in))
    w += w_bar - w.mean(axis=1, keepdims=True)
    a = rng.random((n_draw, fan_in)) < p
    return (w * a).sum(axis=1) + bias


def test_shot_noise_law_matches_monte_carlo_cdf() -> None:
    fan_in, mu_w, sigma_w, p, bias, w_bar, n_draw = 200, 0.05, 0.1, 0.05, 0.1, 0.08, 40000
    s = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.spikes(p), bias=bias)
    assert s.uses_shot_noise  # 10 active inputs per step
    drift = fan_in * p * w_bar + bias  # 0.9
    law = s.step_law(drift)
    x = _sample_centred_rows(fan_in, mu_w, sigma_w, w_bar, p, bias, n_draw, seed=5)
    u = drift + law.std * np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    f = law.cdf(u)
    emp = (x[:, None] <= u).mean(axis=0)
    tol = 5 * np.sqrt(f * (1 - f) / n_draw)
    np.testing.assert_array_less(np.abs(emp - f), tol)
    # the test has power: the Gaussian of the same mean/std misses by > 1 tol somewhere (skewed shot noise)
    gauss = MixtureLaw(np.array([1.0]), np.array([law.mean]), np.array([law.std]))
    assert np.max(np.abs(emp - gauss.cdf(u)) / tol) > 1.0


def test_shot_noise_point_mass_at_zero_active_inputs() -> None:
    fan_in, mu_w, sigma_w, p, bias, n_draw = 32, 0.1, 0.3, 0.02, 0.1, 40000
    s = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.spikes(p), bias=bias)
    assert s.uses_shot_noise
    law = s.step_law()
    # P(k=0) = 0.98^32 = 0.5238831403348924; the atom sits at x = b exactly
    atom = law.cdf(bias) - law.cdf(bias, left=True)
    assert atom == pytest.approx(0.5238831403348924, rel=1e-9)
    # left and right cdf agree away from the atom (only Gaussian components there)
    for u in (bias - 0.5, bias + 0.37):
        assert law.cdf(u) == pytest.approx(law.cdf(u, left=True), abs=1e-15)
    # vectorised cdf has the input's shape
    assert law.cdf(np.zeros((2, 3))).shape == (2, 3)
    # Monte Carlo with centred rows at w_bar = mu_w (the default drift)
    x = _sample_centred_rows(fan_in, mu_w, sigma_w, mu_w, p, bias, n_draw, seed=6)
    is_atom = x == bias  # no active input: the sum is exactly 0.0 + b
    assert abs(is_atom.mean() - atom) < 5 * math.sqrt(atom * (1 - atom) / n_draw)
    u = np.array([bias - 0.3, bias - 0.05, bias, bias + 0.05, bias + 0.3])
    for left in (False, True):
        f = law.cdf(u, left=left)
        emp = ((x[:, None] < u) if left else (x[:, None] <= u)).mean(axis=0)
        np.testing.assert_array_less(np.abs(emp - f), 5 * np.sqrt(f * (1 - f) / n_draw) + 1e-12)


def test_quenched_population_law_matches_monte_carlo() -> None:
    # uncentred iid rows: the population law is the step law averaged over the Gauss-Hermite drift nodes
    fan_in, mu_w, sigma_w, p, bias, n_draw = 200, 0.05, 0.1, 0.05, 0.1, 40000
    s = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.spikes(p), bias=bias)
    rng = np.random.default_rng(7)
    w = rng.normal(mu_w, sigma_w, (n_draw, fan_in))
    a = rng.random((n_draw, fan_in)) < p
    x = (w * a).sum(axis=1) + bias
    # the annealed variance is the total: 200 (0.01*0.05 + 0.0025*0.0475) = 0.12375
    assert abs(x.var() / s.variance - 1) < 0.05
    nodes, weights = s.quenched_nodes(9)
    u = s.mean + math.sqrt(s.variance) * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    f = sum(wn * s.step_law(m).cdf(u) for m, wn in zip(nodes, weights))
    emp = (x[:, None] <= u).mean(axis=0)
    np.testing.assert_array_less(np.abs(emp - f), 5 * np.sqrt(f * (1 - f) / n_draw))


def test_mixture_law_cdf_and_moments() -> None:
    # 0.25 point mass at 0, 0.75 N(2, 1): mean 1.5; E[x^2] = 0.75*(1+4) = 3.75; var = 3.75 - 2.25 = 1.5
    law = MixtureLaw(np.array([0.25, 0.75]), np.array([0.0, 2.0]), np.array([0.0, 1.0]))
    assert law.mean == 1.5 and law.std == pytest.approx(math.sqrt(1.5), rel=1e-15)
    # cdf(0) = 0.25 + 0.75 Phi(-2); Phi(-2) = 0.022750131948179195
    assert law.cdf(0.0) == pytest.approx(0.25 + 0.75 * 0.022750131948179195, rel=1e-12)
    assert law.cdf(0.0, left=True) == pytest.approx(0.75 * 0.022750131948179195, rel=1e-12)
    assert law.cdf(2.0) == pytest.approx(0.625, rel=1e-15)


def test_from_sample_measures_the_spread_of_the_units_rates_beyond_sampling_noise() -> None:
    g = np.random.default_rng(0)
    homogeneous = (g.random((25, 32, 256)) < 0.1).astype(float)
    assert InputMoments.from_sample(homogeneous).unit_spread < 0.005  # only sampling noise: removed
    rates = np.where(np.arange(256) < 128, 0.02, 0.18)  # half the units dim, half bright: spread 0.08
    mixed = (g.random((25, 32, 256)) < rates).astype(float)
    m = InputMoments.from_sample(mixed)
    assert m.spiking and abs(m.mean - 0.1) < 0.005 and abs(m.unit_spread - 0.08) < 0.005
