"""Tests of the reference simulator (snninit_plugins.simulator).

Hand traces use dyadic numbers (0.5, 0.25, 0.125, ...) so every expected membrane value is exact in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snninit_plugins.errors import InputSpecError, NeuronSpecError
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.simulator import (
    LayerActivity,
    bernoulli_spikes,
    layer_activity,
    run_neurons,
    simulate_layer_rate,
    simulate_stack,
)


def trace(neuron: CanonicalNeuron, xs: list[float]) -> tuple[list[float], list[float]]:
    """Run one neuron on a scalar input sequence; return (spikes, pre-reset membrane H) as lists."""
    x = torch.tensor(xs, dtype=torch.float64).reshape(-1, 1)
    s, h = run_neurons(neuron, x, record_membrane=True)
    return s[:, 0].tolist(), h[:, 0].tolist()


# ------------------------------------------------------------------------------------------ hand traces
def test_subtract_reset_trace() -> None:
    # beta=0.5, theta=1, V0=0, x = 0.75, 0.75, 0.75, 0
    # t1: H = 0 + 0.75 = 0.75                 s=0  V=0.75
    # t2: H = 0.375 + 0.75 = 1.125            s=1  V=0.125
    # t3: H = 0.0625 + 0.75 = 0.8125          s=0  V=0.8125
    # t4: H = 0.40625 + 0 = 0.40625           s=0
    s, h = trace(CanonicalNeuron(beta=0.5), [0.75, 0.75, 0.75, 0.0])
    assert s == [0, 1, 0, 0]
    assert h == [0.75, 1.125, 0.8125, 0.40625]


def test_value_reset_trace_and_strict_tie() -> None:
    # beta=1, theta=1, v_reset=-0.5, x = 0.75 x4, 0
    # t1: H=0.75 s=0; t2: H=1.5 s=1 -> V=-0.5; t3: H=0.25; t4: H=1.0 == theta, strict -> s=0 V=1.0; t5: H=1.0 s=0
    s, h = trace(CanonicalNeuron(beta=1.0, reset="value", v_reset=-0.5), [0.75, 0.75, 0.75, 0.75, 0.0])
    assert s == [0, 1, 0, 0, 0]
    assert h == [0.75, 1.5, 0.25, 1.0, 1.0]


def test_no_reset_trace() -> None:
    # beta=1, theta=1, reset none: H accumulates through spikes: 0.75, 1.5 (s=1), 0.5, 1.0 (tie, strict: s=0)
    s, h = trace(CanonicalNeuron(beta=1.0, reset="none"), [0.75, 0.75, -1.0, 0.5])
    assert s == [0, 1, 0, 0]
    assert h == [0.75, 1.5, 0.5, 1.0]


def test_strict_versus_non_strict_on_exact_tie() -> None:
    # beta=1, theta=1, subtract, x = 0.5, 0.5, 0.5
    # strict (>):    H = 0.5, 1.0 (no spike), 1.5 (spike)
    # non-strict (>=): H = 0.5, 1.0 (spike, V=0), 0.5
    s, h = trace(CanonicalNeuron(beta=1.0, strict=True), [0.5, 0.5, 0.5])
    assert s == [0, 0, 1] and h == [0.5, 1.0, 1.5]
    s, h = trace(CanonicalNeuron(beta=1.0, strict=False), [0.5, 0.5, 0.5])
    assert s == [0, 1, 0] and h == [0.5, 1.0, 0.5]


def test_synaptic_filter_trace() -> None:
    # alpha=0.5, beta=0.5, gain=2, theta=1.5, x = 1, 0, 0, 0 -> I = 1, 0.5, 0.25, 0.125
    # t1: H = 0 + 2*1 = 2 > 1.5 -> s=1, V = 0.5
    # t2: H = 0.25 + 2*0.5 = 1.25      s=0
    # t3: H = 0.625 + 2*0.25 = 1.125   s=0
    # t4: H = 0.5625 + 2*0.125 = 0.8125
    s, h = trace(CanonicalNeuron(beta=0.5, alpha=0.5, gain=2.0, threshold=1.5), [1.0, 0.0, 0.0, 0.0])
    assert s == [1, 0, 0, 0]
    assert h == [2.0, 1.25, 1.125, 0.8125]


def test_drive_and_initial_membrane_trace() -> None:
    # beta=0.5, c=0.25, V0=2, theta=1, x = 0
    # t1: H = 1.0 + 0.25 = 1.25 -> s=1, V=0.25; t2: H = 0.125+0.25 = 0.375; t3: H = 0.1875+0.25 = 0.4375
    s, h = trace(CanonicalNeuron(beta=0.5, drive=0.25, v0=2.0), [0.0, 0.0, 0.0])
    assert s == [1, 0, 0]
    assert h == [1.25, 0.375, 0.4375]


def test_next_step_reset_trace_snntorch_semantics() -> None:
    # beta=0.5, theta=1, snnTorch reset_delay: H[t] = beta*V[t-1] + x[t] - theta*s[t-1], V = H (no reset now)
    # x = 3, 1, 0, 0
    # t1: H = 3 (returned above threshold)             s=1
    # t2: H = 1.5 + 1 - 1 = 1.5  (reset not scaled by beta) s=1
    # t3: H = 0.75 + 0 - 1 = -0.25                     s=0
    # t4: H = -0.125                                   s=0
    s, h = trace(CanonicalNeuron(beta=0.5, next_step_reset=True), [3.0, 1.0, 0.0, 0.0])
    assert s == [1, 1, 0, 0]
    assert h == [3.0, 1.5, -0.25, -0.125]
    # an immediate subtract of theta (not theta/beta) would give t2: H = 0.5*2 + 1 = 2, t3: H = 0.5 -> different H
    _, h_immediate = trace(CanonicalNeuron(beta=0.5), [3.0, 1.0, 0.0, 0.0])
    assert h_immediate == [3.0, 2.0, 0.5, 0.25]


def test_per_neuron_beta_and_threshold() -> None:
    # neuron 0: beta=1, theta=1; neuron 1: beta=0.5, theta=0.5; x = 0.5 for both, 3 steps
    # n0: H = 0.5, 1.0 (tie, strict: no), 1.5 (spike)
    # n1: H = 0.5 (tie: no), 0.25+0.5 = 0.75 (spike, V=0.25), 0.125+0.5 = 0.625 (spike)
    neuron = CanonicalNeuron(beta=np.array([1.0, 0.5]), threshold=np.array([1.0, 0.5]))
    x = torch.full((3, 4, 2), 0.5, dtype=torch.float64)  # batch of 4 identical samples
    s, h = run_neurons(neuron, x, record_membrane=True)
    expected_s = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    expected_h = torch.tensor([[0.5, 0.5], [1.0, 0.75], [1.5, 0.625]], dtype=torch.float64)
    assert torch.equal(s, expected_s[:, None, :].expand(3, 4, 2))
    assert torch.equal(h, expected_h[:, None, :].expand(3, 4, 2))


def test_run_neurons_keeps_dtype_and_validates() -> None:
    x = torch.ones(5, 3, dtype=torch.float32)
    out = run_neurons(CanonicalNeuron(), x)
    assert out.dtype == torch.float32 and out.shape == (5, 3)
    with pytest.raises(NeuronSpecError):
        run_neurons(CanonicalNeuron(beta=np.array([0.5, 0.9])), x)  # 2 betas, 3 neurons
    with pytest.raises(InputSpecError):
        run_neurons(CanonicalNeuron(), torch.ones(5, 3, dtype=torch.int64))


@pytest.mark.parametrize("beta", [0.3, 0.8, 0.97, 1.0])
@pytest.mark.parametrize("alpha,strict", [(None, True), (0.6, False)])
def test_next_step_subtract_equals_immediate_subtract_of_theta_over_beta(beta: float, alpha: float | None,
                                                                         strict: bool) -> None:
    # beta*(H - s*theta/beta) = beta*H - s*theta in exact arithmetic; in float64 the two paths differ by ~1e-16,
    # which could flip a spike only if H fell within ~1e-16 of theta: with continuous random input the chance is
    # ~1e-12 here, so the spike trains must be identical.
    g = torch.Generator().manual_seed(1)
    x = 0.1 + 0.6 * torch.randn(400, 4, 64, generator=g, dtype=torch.float64)
    theta = 0.7
    common = dict(beta=beta, alpha=alpha, strict=strict, drive=0.05, v0=0.2)
    delayed = run_neurons(CanonicalNeuron(threshold=theta, next_step_reset=True, **common), x)
    immediate_neuron = CanonicalNeuron(threshold=theta, **common)
    # an immediate subtraction of theta/beta with threshold theta: write V = H - s*theta/beta by hand
    s_ref = torch.empty_like(x)
    v = torch.full(x.shape[1:], 0.2, dtype=torch.float64)
    cur = torch.zeros_like(v)
    for t in range(x.shape[0]):
        d = x[t]
        if alpha is not None:
            cur = alpha * cur + d
            d = cur
        h = beta * v + d + 0.05
        s = h > theta if strict else h >= theta
        v = torch.where(s, h - theta / beta, h)
        s_ref[t] = s
    assert torch.equal(delayed, s_ref)
    assert 0.05 < float(delayed.mean()) < 0.9  # the comparison is not vacuous
    # and the ordinary immediate reset of theta differs (the reset amount matters) unless beta = 1
    if beta < 1:
        assert not torch.equal(run_neurons(immediate_neuron, x), s_ref)


# ------------------------------------------------------------------------------------------ input spikes
def test_bernoulli_spikes() -> None:
    g = torch.Generator().manual_seed(0)
    s = bernoulli_spikes(0.2, 200, (8, 50), generator=g)
    assert s.shape == (200, 8, 50) and s.dtype == torch.float32
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    n = s.numel()
    assert abs(float(s.mean()) - 0.2) < 5 * math.sqrt(0.2 * 0.8 / n)
    rates = np.array([0.0, 0.5, 1.0])
    s = bernoulli_spikes(rates, 1000, (4, 3), generator=g, dtype=torch.float64)
    per_channel = s.mean(dim=(0, 1))
    assert per_channel[0] == 0.0 and per_channel[2] == 1.0 and abs(float(per_channel[1]) - 0.5) < 0.05
    a = bernoulli_spikes(0.3, 10, (5,), generator=torch.Generator().manual_seed(3))
    b = bernoulli_spikes(0.3, 10, (5,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(InputSpecError):
        bernoulli_spikes(1.5, 10, (5,))


# ------------------------------------------------------------------------------------------ layer_activity
def test_lock_step_population_has_chi_equal_n() -> None:
    g = torch.Generator().manual_seed(0)
    n = 40
    train = bernoulli_spikes(0.3, 100, (6, 1), generator=g)  # one train per sample, shared by all neurons
    act = layer_activity(train.expand(100, 6, n))
    assert act.synchrony == pytest.approx(n, rel=1e-12)
    assert act.rate_per_neuron.shape == (n,)


def test_independent_neurons_have_chi_near_one() -> None:
    g = torch.Generator().manual_seed(0)
    t_steps, batch, n = 200, 16, 128
    act = layer_activity(bernoulli_spikes(0.2, t_steps, (batch, n), generator=g))
    # chi estimates Var_t(population mean)/E: relative sd of a variance estimate from batch*(t-1) ~Gaussian
    # degrees of freedom is sqrt(2/(batch*(t-1))) = 0.025; the denominator is N times more precise.
    tol = 5 * math.sqrt(2 / (batch * (t_steps - 1)))
    assert abs(act.synchrony - 1.0) < tol
    assert abs(act.rate - 0.2) < 5 * math.sqrt(0.16 / (t_steps * batch * n))


def test_chi_leaves_out_the_onset_from_rest_but_still_sees_lock_step() -> None:
    g = torch.Generator().manual_seed(0)
    t_steps, batch, n = 25, 16, 1024
    s = bernoulli_spikes(0.1, t_steps, (batch, n), generator=g)
    s[:4] = 0.0  # every sample silent for 4 steps: the deterministic onset of a layer started from rest
    whole = layer_activity(s, onset_steps=0)
    # Var_t of the population mean is about r^2 (d/T)(1 - d/T) with d = 4: chi = 0.01 * 0.134 / (0.09/1024) = 15
    assert whole.synchrony > 10
    assert layer_activity(s).synchrony < 1.2  # default onset: the first 25 // 5 = 5 steps
    assert layer_activity(s).rate == whole.rate == pytest.approx(float(s.mean()))  # the rate keeps every step
    lock = bernoulli_spikes(0.3, t_steps, (batch, 1), generator=g).expand(t_steps, batch, 64).clone()
    lock[:4] = 0.0
    assert layer_activity(lock).synchrony == pytest.approx(64, rel=1e-12)
    with pytest.raises(InputSpecError, match="onset_steps must leave at least 2"):
        layer_activity(s, onset_steps=24)


def test_silent_saturated_fractions_and_skip_steps() -> None:
    g = torch.Generator().manual_seed(0)
    s = bernoulli_spikes(0.5, 50, (4, 10), generator=g)
    s[:, :, 0:2] = 0.0  # silent
    s[:, :, 2:5] = 1.0  # saturated
    s[:, :, 5] = 0.0
    s[:3, :, 5] = 1.0  # spikes only in the transient
    act = layer_activity(s)
    assert act.silent_fraction == pytest.approx(0.2)
    assert act.saturated_fraction == pytest.approx(0.3)
    assert act.rate == pytest.approx(float(s.mean()))
    late = layer_activity(s, skip_steps=3)
    assert late.silent_fraction == pytest.approx(0.3)
    assert late.rate_per_neuron[5] == 0.0
    d = act.as_dict()
    assert set(d) == {"rate", "rate_per_neuron", "silent_fraction", "saturated_fraction", "synchrony", "fano"}
    assert len(d["rate_per_neuron"]) == 10 and isinstance(d["rate_per_neuron"][0], float)
    assert isinstance(act, LayerActivity)


def test_fano_of_bernoulli_counts() -> None:
    g = torch.Generator().manual_seed(0)
    p, t_steps, batch, n = 0.2, 50, 8, 2048
    act = layer_activity(bernoulli_spikes(p, t_steps, (batch, n), generator=g))
    # count ~ Binomial(T, p): Var/E = 1 - p. Per neuron the ratio has relative sd ~ sqrt(2/(batch-1)), over n
    # independent neurons sqrt(2/((batch-1) n)) = 0.012. (A biased batch variance would be 1/8 low and fail.)
    assert abs(act.fano - (1 - p)) < 5 * (1 - p) * math.sqrt(2 / ((batch - 1) * n))
    # regular (clock-like) trains have a lower Fano factor: every sample gives the same count
    clock = torch.zeros(t_steps, batch, n)
    clock[::5] = 1.0
    assert layer_activity(clock).fano == 0.0


def test_nan_cases_and_validation() -> None:
    assert math.isnan(layer_activity(torch.ones(10, 3, 5)).synchrony)  # nobody varies
    one_sample = bernoulli_spikes(0.5, 20, (1, 5), generator=torch.Generator().manual_seed(0))
    assert math.isnan(layer_activity(one_sample).fano)
    assert math.isnan(layer_activity(torch.zeros(10, 3, 5)).fano)
    # (T, B, C, H, W) is flattened to N = C*H*W
    assert layer_activity(torch.zeros(4, 2, 3, 2, 2)).rate_per_neuron.shape == (12,)
    with pytest.raises(InputSpecError):
        layer_activity(torch.zeros(10, 5))
    with pytest.raises(InputSpecError):
        layer_activity(torch.zeros(10, 2, 5), skip_steps=10)


# ------------------------------------------------------------------------------------------ simulate_stack
def test_simulate_stack_shapes_and_consistency() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = [20, 30, 10, 5]
    weights = [torch.randn(o, i, generator=g) * 0.5 for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [None, torch.full((10,), 0.1), None]
    neurons = [CanonicalNeuron(beta=0.9), CanonicalNeuron(beta=0.5, reset="value"), CanonicalNeuron(beta=1.0)]
    inp = bernoulli_spikes(0.3, 15, (3, 20), generator=g)
    acts, spikes = simulate_stack(neurons, weights, inp, biases=biases, return_spikes=True)
    assert [s.shape for s in spikes] == [(15, 3, 30), (15, 3, 10), (15, 3, 5)]
    assert len(acts) == 3 and acts[1].rate_per_neuron.shape == (10,)
    a = inp
    for neuron, w, b, s in zip(neurons, weights, biases, spikes):
        a = run_neurons(neuron, torch.nn.functional.linear(a, w, b))
        assert torch.equal(a, s)
    assert acts[0].rate == pytest.approx(float(spikes[0].mean()))
    only = simulate_stack(CanonicalNeuron(beta=0.9), weights, inp, skip_steps=5)
    assert isinstance(only, list) and len(only) == 3
    assert only[0].rate == pytest.approx(float(spikes[0][5:].mean()))
    with pytest.raises(InputSpecError):
        simulate_stack(neurons[:2], weights, inp)


def test_zero_weight_stack_is_silent_and_bias_wakes_it() -> None:
    inp = bernoulli_spikes(0.5, 20, (2, 8), generator=torch.Generator().manual_seed(0))
    weights = [torch.zeros(6, 8), torch.zeros(4, 6)]
    acts = simulate_stack(CanonicalNeuron(beta=0.9), weights, inp)
    assert all(a.rate == 0.0 and a.silent_fraction == 1.0 for a in acts)
    acts = simulate_stack(CanonicalNeuron(beta=0.9), weights, inp, biases=[torch.full((6,), 0.6), None])
    assert acts[0].rate > 0.2 and acts[1].rate == 0.0


# ------------------------------------------------------------------------------------------ simulate_layer_rate
@pytest.mark.parametrize("law,centred", [("normal", True), ("uniform", True), ("normal", False)])
def test_layer_rate_of_perfect_integrator_is_drift_over_threshold(law: str, centred: bool) -> None:
    # beta=1, subtract reset: count = (sum of input - V_end + V_start)/theta, so the stationary rate is the
    # drift m = fan_in * mu_w * p = 100 * 0.02 * 0.1 = 0.2 per step (every neuron's drift is positive:
    # without centring its sd across neurons is p*sqrt(fan_in)*sigma_w = 0.02).
    rate, se = simulate_layer_rate(
        CanonicalNeuron(beta=1.0), fan_in=100, weight_mean=0.02, weight_std=0.02, input_rate=0.1,
        n_steps=1050, skip_steps=50, centred_rows=centred, n_groups=32, rows_per_group=64,
        generator=torch.Generator().manual_seed(0), weight_law=law,
    )
    assert 0 < se < 0.002
    assert abs(rate - 0.2) < 4 * se


@pytest.mark.parametrize("law", ["normal", "uniform"])
def test_centred_rows_remove_the_quenched_spread(law: str) -> None:
    # beta=1, subtract, sigma_w = 0.2: without centring the drift m_i = p * sum_j W_ij ~ N(0.2, 0.2^2) across
    # neurons and neurons with m_i < 0 fall silent, so the population rate is about E[max(m_i, 0)] = 0.2167 > 0.2;
    # with centred rows every neuron has drift exactly 0.2 and the rate is 0.2. (The uniform law gives the same
    # numbers when its std is right: the row sum of 100 uniforms is Gaussian to a good approximation.)
    common = dict(weight_law=law, fan_in=100, weight_mean=0.02, weight_std=0.2, input_rate=0.1, n_steps=1050, skip_steps=50,
                  n_groups=128, rows_per_group=32)
    neuron = CanonicalNeuron(beta=1.0)
    rate, se = simulate_layer_rate(neuron, centred_rows=True, generator=torch.Generator().manual_seed(0), **common)
    assert abs(rate - 0.2) < 4 * se
    rate, se = simulate_layer_rate(neuron, centred_rows=False, generator=torch.Generator().manual_seed(0), **common)
    assert rate - 0.2 > 3 * se and abs(rate - 0.2167) < 4 * se


def test_layer_rate_bias_deterministic() -> None:
    # zero weights, bias 0.5, beta=1, theta=1 strict: H = 0.5, 1.0 (tie, no spike), 1.5 (spike, V=0.5), 1.0, 1.5 ...
    # spikes at t = 3, 5, 7, 9 of 9 steps -> rate 4/9 for every neuron, standard error 0.
    rate, se = simulate_layer_rate(CanonicalNeuron(beta=1.0), fan_in=4, weight_mean=0.0, weight_std=0.0,
                                   input_rate=0.5, n_steps=9, bias=0.5, n_groups=3, rows_per_group=5)
    assert rate == pytest.approx(4 / 9, abs=1e-15) and se == 0.0
    # skip_steps=2 keeps steps 3..9: 4 spikes in 7 steps
    rate, _ = simulate_layer_rate(CanonicalNeuron(beta=1.0), fan_in=4, weight_mean=0.0, weight_std=0.0,
                                  input_rate=0.5, n_steps=9, bias=0.5, n_groups=3, rows_per_group=5, skip_steps=2)
    assert rate == pytest.approx(4 / 7, abs=1e-15)


def test_layer_rate_standard_error_is_honest() -> None:
    kwargs = dict(fan_in=64, weight_mean=0.02, weight_std=0.1, input_rate=0.2, n_steps=25,
                  n_groups=16, rows_per_group=32)
    neuron = CanonicalNeuron(beta=0.9)
    results = [simulate_layer_rate(neuron, generator=torch.Generator().manual_seed(s), **kwargs) for s in range(30)]
    rates = np.array([r for r, _ in results])
    ses = np.array([e for _, e in results])
    assert 0.05 < rates.mean() < 0.5
    # the spread over independent replicates must match the claimed standard error; with 30 replicates the
    # sample sd has relative sd ~ 1/sqrt(58) = 0.13, so [0.6, 1.5] is a >3 sigma band. Treating neurons of a group
    # (which share inputs) as independent would understate the error several-fold and fail here.
    ratio = rates.std(ddof=1) / math.sqrt(np.mean(ses**2))
    assert 0.6 < ratio < 1.5
    (r1, e1), (r2, e2) = results[0], results[1]
    assert r1 != r2 and abs(r1 - r2) < 4 * math.hypot(e1, e2)


def test_layer_rate_reproducible_and_validated() -> None:
    kwargs = dict(fan_in=50, weight_mean=0.05, weight_std=0.1, input_rate=0.2, n_steps=20,
                  n_groups=4, rows_per_group=8)
    neuron = CanonicalNeuron(beta=0.8, alpha=0.5)
    a = simulate_layer_rate(neuron, generator=torch.Generator().manual_seed(7), **kwargs)
    b = simulate_layer_rate(neuron, generator=torch.Generator().manual_seed(7), **kwargs)
    c = simulate_layer_rate(neuron, generator=torch.Generator().manual_seed(8), **kwargs)
    assert a == b and a != c
    with pytest.raises(InputSpecError):
        simulate_layer_rate(neuron, **{**kwargs, "input_rate": 1.2})
    with pytest.raises(InputSpecError):
        simulate_layer_rate(neuron, **kwargs, skip_steps=20)
    with pytest.raises(InputSpecError):
        simulate_layer_rate(neuron, **kwargs, weight_law="cauchy")


def test_refractory_step_holds_the_membrane_and_drops_the_input() -> None:
    """beta=1, theta=1, inputs 0.6 each step, value reset to 0, one refractory step (snnTorch's zero_all):
    H = 0.6, 1.2 (spike), then held at 0 (input dropped, no spike), 0.6, 1.2 (spike), 0."""
    x = torch.full((6, 1, 1), 0.6, dtype=torch.float64)
    spikes, h = run_neurons(CanonicalNeuron(beta=1.0, reset="value", refractory=1), x, record_membrane=True)
    assert spikes.flatten().tolist() == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert h.flatten().tolist() == pytest.approx([0.6, 1.2, 0.0, 0.6, 1.2, 0.0])


def test_a_window_of_one_or_two_steps_is_summarised_without_an_onset() -> None:
    g = torch.Generator().manual_seed(0)
    for t_steps in (1, 2):
        act = layer_activity(bernoulli_spikes(0.3, t_steps, (4, 16), generator=g))
        assert 0.0 <= act.rate <= 1.0
