"""Tests of the canonical neuron (snninit_plugins.neuron.CanonicalNeuron).

Hand-computed values use dyadic numbers where possible so they are exact in float64; the rest is checked against
independent computations (brute-force sums of the kernel, a numpy Monte Carlo of the threshold-free recursion).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from snninit_plugins.errors import NeuronSpecError, SnnInitError
from snninit_plugins.neuron import CanonicalNeuron


# ------------------------------------------------------------------------------------------ kernel
def test_kernel_plain_neuron_hand_values() -> None:
    # kappa[k] = g beta^k with g=2, beta=0.5: 2, 1, 0.5, 0.25
    assert CanonicalNeuron(beta=0.5, gain=2.0).kernel(4).tolist() == [2.0, 1.0, 0.5, 0.25]
    # beta = 0: only the current input counts
    assert CanonicalNeuron(beta=0.0).kernel(3).tolist() == [1.0, 0.0, 0.0]
    # beta = 1: perfect integrator, flat kernel
    assert CanonicalNeuron(beta=1.0, gain=0.5).kernel(3).tolist() == [0.5, 0.5, 0.5]


def test_kernel_filtered_neuron_hand_values() -> None:
    # kappa[k] = g sum_{j<=k} alpha^j beta^(k-j)
    # alpha = beta = 0.5, g = 1: kappa[k] = (k+1) 0.5^k = 1, 1, 0.75, 0.5
    assert CanonicalNeuron(beta=0.5, alpha=0.5).kernel(4).tolist() == [1.0, 1.0, 0.75, 0.5]
    # alpha = 0.25, beta = 0.5, g = 2:
    # k=0: 2*1 = 2
    # k=1: 2*(0.5 + 0.25) = 1.5
    # k=2: 2*(0.25 + 0.125 + 0.0625) = 0.875
    # k=3: 2*(0.125 + 0.0625 + 0.03125 + 0.015625) = 0.46875   (= g(beta^4 - alpha^4)/(beta - alpha))
    assert CanonicalNeuron(beta=0.5, alpha=0.25, gain=2.0).kernel(4).tolist() == [2.0, 1.5, 0.875, 0.46875]
    # alpha = 0 is the same as no filter
    np.testing.assert_array_equal(CanonicalNeuron(beta=0.7, alpha=0.0).kernel(6), CanonicalNeuron(beta=0.7).kernel(6))


def test_kernel_sums_closed_forms_hand_values() -> None:
    # plain, beta=0.5, g=2: sum = 2/(1-0.5) = 4; sum sq = 4/(1-0.25) = 16/3
    s1, s2 = CanonicalNeuron(beta=0.5, gain=2.0).kernel_sums()
    assert s1 == pytest.approx(4.0, rel=1e-15) and s2 == pytest.approx(16.0 / 3.0, rel=1e-15)
    # alpha = beta = 0.5, g = 1: kappa = (k+1) x^k with x = 0.5
    # sum = 1/((1-0.5)(1-0.5)) = 4; sum sq = sum (k+1)^2 0.25^k = (1+0.25)/(1-0.25)^3 = 1.25/0.421875 = 80/27
    s1, s2 = CanonicalNeuron(beta=0.5, alpha=0.5).kernel_sums()
    assert s1 == pytest.approx(4.0, rel=1e-15) and s2 == pytest.approx(80.0 / 27.0, rel=1e-14)
    # finite n: plain beta=0.5, g=1, 3 lags: 1 + 0.5 + 0.25 = 1.75; 1 + 0.25 + 0.0625 = 1.3125 (exact)
    assert CanonicalNeuron(beta=0.5).kernel_sums(3) == (1.75, 1.3125)
    # filtered alpha=beta=0.5, 3 lags: 1 + 1 + 0.75 = 2.75; 1 + 1 + 0.5625 = 2.5625
    assert CanonicalNeuron(beta=0.5, alpha=0.5).kernel_sums(3) == (2.75, 2.5625)


@pytest.mark.parametrize(
    "beta, alpha, gain",
    [
        (0.9, None, 1.0),
        (0.5, None, -2.5),
        (0.99, None, 0.3),
        (0.0, None, 1.7),
        (0.9, 0.5, 1.0),
        (0.8, 0.95, 2.0),  # alpha > beta
        (0.9, 0.9, 1.3),  # alpha == beta: the special branch
        (0.6, 0.0, 0.5),
        (0.95, 0.3, -1.0),
    ],
)
def test_kernel_sums_match_brute_force(beta: float, alpha: float | None, gain: float) -> None:
    n = CanonicalNeuron(beta=beta, alpha=alpha, gain=gain)
    kap = n.kernel(5000)  # every case decays below 1e-20 by lag 5000 (0.99^5000 ~ 1.5e-22)
    s1, s2 = n.kernel_sums()
    assert s1 == pytest.approx(kap.sum(), rel=1e-10)
    assert s2 == pytest.approx((kap**2).sum(), rel=1e-10)
    # finite n equals the partial sums of the same kernel
    f1, f2 = n.kernel_sums(7)
    assert f1 == pytest.approx(kap[:7].sum(), rel=1e-14)
    assert f2 == pytest.approx((kap[:7] ** 2).sum(), rel=1e-14)


def test_kernel_sums_accurate_when_alpha_nearly_equals_beta() -> None:
    n = CanonicalNeuron(beta=0.9, alpha=0.9 - 1e-8)
    kap = n.kernel(5000)
    # the true sum is continuous in alpha: ~ g^2 (1+beta^2)/(1-beta^2)^3 = 1.81/0.19^3 = 263.89; the code gives 275.3
    assert n.kernel_sums()[1] == pytest.approx((kap**2).sum(), rel=1e-6)


def test_kernel_sums_infinite_for_perfect_integrator() -> None:
    assert CanonicalNeuron(beta=1.0).kernel_sums() == (math.inf, math.inf)
    assert CanonicalNeuron(beta=1.0, alpha=0.5).kernel_sums() == (math.inf, math.inf)
    # finite windows stay finite: beta=1, g=1, 10 lags -> (10, 10)
    assert CanonicalNeuron(beta=1.0).kernel_sums(10) == (10.0, 10.0)


# ------------------------------------------------------------------------------------------ free membrane
def _simulate_free_membrane(neuron: CanonicalNeuron, mean_x: float, std_x: float, n_steps: int,
                            n_traj: int, seed: int) -> np.ndarray:
    """Monte Carlo of I = alpha I + x; V = beta V + g D + c from V0 (no threshold), white Gaussian x."""
    rng = np.random.default_rng(seed)
    v = np.full(n_traj, neuron.v0)
    i_syn = np.zeros(n_traj)
    for _ in range(n_steps):
        x = rng.normal(mean_x, std_x, n_traj)
        if neuron.alpha is None:
            d = x
        else:
            i_syn = neuron.alpha * i_syn + x
            d = i_syn
        v = neuron.beta * v + neuron.gain * d + neuron.drive
    return v


@pytest.mark.parametrize(
    "neuron",
    [
        CanonicalNeuron(beta=0.8, gain=1.5, drive=0.1, v0=0.3),
        CanonicalNeuron(beta=0.85, alpha=0.6, gain=0.7, drive=-0.05, v0=-1.0),
    ],
)
def test_free_membrane_stationary_matches_monte_carlo(neuron: CanonicalNeuron) -> None:
    n_traj, mean_x, std_x = 20000, 0.2, 0.5
    v = _simulate_free_membrane(neuron, mean_x, std_x, n_steps=200, n_traj=n_traj, seed=1)  # 0.85^200 ~ 1e-14
    mu, sd = neuron.free_membrane(mean_x, std_x**2)
    # standard errors: mean sd/sqrt(n); sample std relative 1/sqrt(2n)
    assert abs(v.mean() - mu) < 5 * sd / math.sqrt(n_traj)
    assert abs(v.std() / sd - 1) < 5 / math.sqrt(2 * n_traj)


@pytest.mark.parametrize(
    "neuron",
    [
        CanonicalNeuron(beta=0.8, gain=1.5, drive=0.1, v0=0.3),
        CanonicalNeuron(beta=0.85, alpha=0.6, gain=0.7, drive=-0.05, v0=-1.0),
        CanonicalNeuron(beta=1.0, drive=0.2, v0=0.5),
    ],
)
def test_free_membrane_finite_window_matches_monte_carlo(neuron: CanonicalNeuron) -> None:
    n_traj, mean_x, std_x, n_steps = 20000, 0.2, 0.5, 5
    v = _simulate_free_membrane(neuron, mean_x, std_x, n_steps=n_steps, n_traj=n_traj, seed=2)
    mu, sd = neuron.free_membrane(mean_x, std_x**2, n_steps)
    assert abs(v.mean() - mu) < 5 * sd / math.sqrt(n_traj)
    assert abs(v.std() / sd - 1) < 5 / math.sqrt(2 * n_traj)


def test_free_membrane_hand_values() -> None:
    # stationary plain: beta=0.5, g=2, c=0.25: E = 0.5 * 4 + 0.25/(1-0.5) = 2.5; Var = 0.25 * 16/3 -> std = 2/sqrt(3)
    mu, sd = CanonicalNeuron(beta=0.5, gain=2.0, drive=0.25, v0=7.0).free_membrane(0.5, 0.25)
    assert mu == pytest.approx(2.5, rel=1e-15)  # V0 is forgotten at stationarity
    assert sd == pytest.approx(2 / math.sqrt(3), rel=1e-15)
    # 3 steps from V0=1: beta=0.5, g=1, c=0.25: kappa sums (1.75, 1.3125), geometric c-sum 1.75, beta^3 = 0.125
    # E = 0.5*1.75 + 0.25*1.75 + 1*0.125 = 1.4375; std = sqrt(1 * 1.3125)
    mu, sd = CanonicalNeuron(beta=0.5, drive=0.25, v0=1.0).free_membrane(0.5, 1.0, 3)
    assert mu == 1.4375
    assert sd == pytest.approx(math.sqrt(1.3125), rel=1e-15)
    # perfect integrator with input mean and drive of the same sign diverges at stationarity
    mu, sd = CanonicalNeuron(beta=1.0, drive=0.05).free_membrane(0.1, 1.0)
    assert mu == math.inf and sd == math.inf


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mean_x, drive", [(0.0, -0.1), (0.1, -0.2)])
def test_free_membrane_perfect_integrator_diverges_in_net_drift_direction(mean_x: float, drive: float) -> None:
    # E[V_n] = V0 + n (g mean_x + c) -> -inf for both cases (net drift per step -0.1)
    mu, sd = CanonicalNeuron(beta=1.0, drive=drive).free_membrane(mean_x, 1.0)
    assert mu == -math.inf and sd == math.inf


# ------------------------------------------------------------------------------------------ reset, tau
def test_subtract_amount_and_reset_level() -> None:
    # immediate subtract: removes theta, lands at theta - theta = 0
    n = CanonicalNeuron(beta=0.75, threshold=1.5)
    assert n.subtract_amount == 1.5 and n.reset_level == 0.0
    # next-step subtract: theta/beta = 1.5/0.75 = 2; reset level 1.5 - 2 = -0.5
    n = CanonicalNeuron(beta=0.75, threshold=1.5, next_step_reset=True)
    assert n.subtract_amount == 2.0 and n.reset_level == -0.5
    # value reset: the reset value itself
    assert CanonicalNeuron(threshold=1.5, reset="value", v_reset=-0.25).reset_level == -0.25
    # no reset: the membrane stays at the threshold
    assert CanonicalNeuron(threshold=1.5, reset="none").reset_level == 1.5
    # per-neuron parameters: scalar-only quantities refuse and point to groups()
    with pytest.raises(NeuronSpecError, match="groups"):
        _ = CanonicalNeuron(threshold=[1.0, 2.0]).subtract_amount


def test_tau() -> None:
    assert CanonicalNeuron(beta=math.exp(-0.1)).tau == pytest.approx(10.0, rel=1e-12)
    assert CanonicalNeuron(beta=0.5).tau == pytest.approx(1.4426950408889634, rel=1e-15)  # 1/ln 2
    assert CanonicalNeuron(beta=1.0).tau == math.inf
    assert CanonicalNeuron(beta=0.0).tau == 0.0


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta=-0.1), "beta must lie in"),
        (dict(beta=1.01), "beta must lie in"),
        (dict(beta=[0.9, 1.2]), "beta must lie in"),
        (dict(alpha=1.0), "alpha must lie in"),
        (dict(alpha=-0.5), "alpha must lie in"),
        (dict(reset="zero"), "reset must be"),
        (dict(beta=0.0, next_step_reset=True), "beta = 0"),
        (dict(beta=[0.9, 0.0], next_step_reset=True), "beta = 0"),
        (dict(beta=[0.9, 0.8], threshold=[1.0, 1.0, 1.0]), "different lengths"),
        (dict(threshold=[1.0, np.nan]), "non-finite"),
        (dict(gain=[1.0, np.inf]), "'gain'"),
    ],
)
def test_invalid_neurons_raise_neuron_spec_error(kwargs: dict, match: str) -> None:
    with pytest.raises(NeuronSpecError, match=match) as info:
        CanonicalNeuron(**kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SnnInitError)


def test_valid_edge_cases_are_accepted() -> None:
    CanonicalNeuron(beta=0.0)
    CanonicalNeuron(beta=1.0, alpha=0.0)
    # next-step with beta = 0 is fine when the reset is not a subtraction
    CanonicalNeuron(beta=0.0, next_step_reset=True, reset="value")
    # length-1 arrays broadcast like scalars against per-neuron arrays
    assert CanonicalNeuron(beta=[0.9, 0.8, 0.7], threshold=[2.0]).size == 3


@pytest.mark.parametrize("kwargs", [dict(beta=math.nan), dict(threshold=math.nan), dict(gain=math.inf)])
def test_non_finite_scalar_parameters_raise(kwargs: dict) -> None:
    with pytest.raises(NeuronSpecError):
        CanonicalNeuron(**kwargs)


# ------------------------------------------------------------------------------------------ identity
def test_equality_and_hash() -> None:
    a = CanonicalNeuron(beta=0.9, threshold=1.0)
    b = CanonicalNeuron(beta=0.9, threshold=1)
    assert a == b and hash(a) == hash(b)
    assert a != CanonicalNeuron(beta=0.9, threshold=1.0, strict=False)
    assert a != CanonicalNeuron(beta=0.9, threshold=1.0000001)
    # a length-1 array is the scalar
    assert CanonicalNeuron(beta=[0.9]) == a and isinstance(CanonicalNeuron(beta=[0.9]).beta, float)
    # per-neuron arrays: list vs ndarray vs 2-D input of the same values
    p = CanonicalNeuron(beta=[0.9, 0.8], threshold=np.array([1.0, 2.0]))
    q = CanonicalNeuron(beta=np.array([0.9, 0.8]), threshold=np.array([[1.0], [2.0]]))
    assert p == q and hash(p) == hash(q)
    assert len({p, q, a, b}) == 2
    assert p != CanonicalNeuron(beta=[0.8, 0.9], threshold=[1.0, 2.0])
    assert a != "beta=0.9"
    # replace() gives an equal object when nothing changes, a different one otherwise
    assert p.replace() == p and p.replace(beta=0.5) != p


def test_arrays_are_read_only_and_copied() -> None:
    src = np.array([0.9, 0.8])
    n = CanonicalNeuron(beta=src)
    assert not n.beta.flags.writeable
    with pytest.raises(ValueError):
        n.beta[0] = 0.1
    src[0] = 0.1  # mutating the caller's array does not change the neuron
    assert n.beta.tolist() == [0.9, 0.8]
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.beta = 0.5  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ groups
def test_groups_of_scalar_neuron_is_itself() -> None:
    n = CanonicalNeuron(beta=0.9, alpha=0.5)
    assert list(n.groups()) == [(n, 1.0)]
    assert n.is_scalar and n.size == 1


def test_groups_merge_identical_neurons_with_filter() -> None:
    n = CanonicalNeuron(beta=[0.9, 0.9, 0.8, 0.9], alpha=[0.5, 0.5, 0.5, 0.5], threshold=2.0)
    groups = sorted(n.groups(), key=lambda gw: gw[0].beta)
    assert [(g.beta, w) for g, w in groups] == [(0.8, 0.25), (0.9, 0.75)]
    for g, _ in groups:
        assert g.is_scalar and g.alpha == 0.5 and g.threshold == 2.0


def test_groups_merge_identical_neurons_without_filter() -> None:
    n = CanonicalNeuron(beta=[0.9, 0.9, 0.8])
    groups = sorted(n.groups(), key=lambda gw: gw[0].beta)
    assert [(g.beta, w) for g, w in groups] == [(0.8, pytest.approx(1 / 3)), (0.9, pytest.approx(2 / 3))]


def test_groups_keep_no_filter_and_weights_sum_to_one() -> None:
    n = CanonicalNeuron(beta=[0.9, 0.8, 0.7], threshold=[1.0, 1.5, 2.0], strict=False, reset="value", v_reset=-0.5)
    groups = list(n.groups())
    assert sum(w for _, w in groups) == pytest.approx(1.0, abs=1e-15)
    pairs = sorted((g.beta, g.threshold) for g, _ in groups)
    assert pairs == [(0.7, 2.0), (0.8, 1.5), (0.9, 1.0)]  # columns stay paired per neuron
    for g, _ in groups:
        assert g.alpha is None and g.strict is False and g.reset == "value" and g.v_reset == -0.5


def test_groups_cap_at_max_groups() -> None:
    betas = np.linspace(0.5, 0.95, 40)[::-1]  # 40 distinct values, given in reverse order
    n = CanonicalNeuron(beta=betas, alpha=np.full(40, 0.3))
    groups = list(n.groups(max_groups=4))
    assert len(groups) == 4
    assert [w for _, w in groups] == [0.25, 0.25, 0.25, 0.25]  # 10 of 40 neurons each
    # sorted by beta, chunks are ranks 0-9, 10-19, ...; the representative is rank 5, 15, 25, 35
    ascending = np.sort(betas)
    assert [g.beta for g, _ in groups] == [ascending[i] for i in (5, 15, 25, 35)]
    # 10 neurons in 3 groups: chunks of 4, 3, 3
    groups = list(CanonicalNeuron(threshold=np.arange(1.0, 11.0)).groups(max_groups=3))
    assert [w for _, w in groups] == [0.4, 0.3, 0.3]
    assert sum(w for _, w in groups) == pytest.approx(1.0, abs=1e-15)


# ------------------------------------------------------------------------------------------ describe
def test_describe_mentions_key_parameters() -> None:
    s = CanonicalNeuron(beta=0.9, gain=2.0, alpha=0.5, drive=0.1, threshold=1.5, strict=False,
                        next_step_reset=True, v0=0.2).describe()
    for part in ("beta=0.9", "g=2", "alpha=0.5", "c=0.1", "theta=1.5", "reset=subtract(next-step)", "test=>=",
                 "V0=0.2"):
        assert part in s, (part, s)
    s = CanonicalNeuron(reset="value", v_reset=-0.5).describe()
    assert "reset=value(-0.5)" in s and "test=>" in s and "g=" not in s and "alpha" not in s
    assert "beta=[0.8..0.9]" in CanonicalNeuron(beta=[0.9, 0.8]).describe()


def test_describe_per_neuron_gain() -> None:
    assert "g=[1..2]" in CanonicalNeuron(gain=[1.0, 2.0]).describe()


def test_is_plain_marks_neurons_without_filter_or_refractory_period() -> None:
    assert CanonicalNeuron(beta=0.9).is_plain
    assert not CanonicalNeuron(beta=0.9, alpha=0.8).is_plain
    assert not CanonicalNeuron(beta=0.9, reset="value", refractory=2).is_plain
    # per-neuron parameters: plain only if every group is
    assert not CanonicalNeuron(beta=np.array([0.9, 0.8]), alpha=np.array([0.5, 0.5])).is_plain


def test_is_filtered_marks_neurons_with_a_synaptic_filter() -> None:
    assert CanonicalNeuron(beta=0.9, alpha=0.8).is_filtered
    assert not CanonicalNeuron(beta=0.9).is_filtered
    assert not CanonicalNeuron(beta=0.9, reset="value", refractory=2).is_filtered  # 1-D, though not plain
    assert CanonicalNeuron(beta=np.array([0.9, 0.8]), alpha=np.array([0.5, 0.5])).is_filtered
