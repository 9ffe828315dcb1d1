"""Prototype (not the package's method): a plan that carries each layer's onset to the next layer.

Deep stacks over short windows start late: every layer begins its window at V0 = 0, so a deep layer's input
is silent for its first steps (0.99/subtract/0.05/T = 25: 2.8, 7.2, 10.4, 13.6 and 16.1 missing steps at
layers 10-50), and the window's mean rate falls with depth while the plan takes every input as steady
(README, Known limits). Here each layer's input has an onset d (missing steps); the layer is planned on the
window shortened by round(d) steps at its input's active rate (the window mean times T / (T - round(d))), its
weight mean solved for the target's window mean; its output onset is round(d) plus the missing steps of its
own per-step firing profile (r_t = t R(t) - (t - 1) R(t - 1) from the density method's window means R,
r_t / r_late summed against the last five steps' rate); the spread and autocorrelation of its rates are
passed on as ``general(window_offset=True)`` passes them, the weight std is layer 1's. The 50-layer stack is
then simulated as benchmarks/depth.py simulates it (its seed, B = 64).

Measured 2026-11-30 (worst layer |log2(rate / target)| over 50 layers; with general(window_offset=True) /
general):

    python benchmarks/onset_prototype.py 0.99 0.05 25   # 0.57 (layer 50 at 0.040) against 1.29 / 0.92
    python benchmarks/onset_prototype.py 1.0 0.05 25    # 0.65 (layer 50 at 0.050) against 1.19 / 0.76
    python benchmarks/onset_prototype.py 0.9 0.1 25     # 0.36 against 0.58 / 0.58

The planned onset grows faster than the stack's (2.8 at layer 6 where it measures 1.4) and stops at 10.4
steps where the stack's reaches 12.2 by layer 46, so the middle layers fire up to 42% over target. The profile
costs T evaluations a layer here (about 15 s a stack); the window's stepping has the per-step rates already.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from depth import BATCH, WIDTH, config_seed  # benchmarks/ is on sys.path

from snninit_plugins.inputs import InputMoments
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density
from snninit_plugins.sampling import sample_weight_
from snninit_plugins.simulator import bernoulli_spikes, simulate_stack
from snninit_plugins.solve import _secant
from snninit_plugins.strategies import LayerSpec, get_strategy, plan_network

DEPTH = 50


def missing_steps(profile: np.ndarray) -> float:
    """Steps missing at the start of a per-step rate profile, against its last five steps' mean rate."""
    late = float(profile[-5:].mean())
    return float(np.clip(1 - profile / late, 0, None).sum()) if late > 0 else math.nan


def plan_with_onsets(neuron: CanonicalNeuron, target: float, n_steps: int) -> tuple[list[float], float, list[float]]:
    """(weight means, weight std, planned output onsets) of the 50 layers."""
    strategy = get_strategy("general", window_offset=True)
    layer = LayerSpec("L", neuron, WIDTH)
    first = plan_network([layer], strategy, InputMoments.spikes(target), target_rate=target, n_steps=n_steps)[0]
    sigma = first.weight_std
    moments, onset, means, onsets = InputMoments.spikes(target), 0.0, [], []
    for _ in range(DEPTH):
        steps = n_steps - round(onset)
        scale = n_steps / steps
        active = InputMoments.spikes(min(moments.mean * scale, 1.0), moments.unit_spread * scale,
                                     moments.autocorrelation[: steps - 1])

        def window(mu: float, window_steps: int = steps, law: InputMoments = active, **options: object) -> object:
            return density(neuron, strategy.drive(layer, law, mu, sigma), n_steps=window_steps, **options)

        start = means[-1] if means else first.weight_mean
        mu = _secant(lambda m: window(m).rate, start, 0.01, target * scale, xtol=0.0, ftol=1e-3, max_iter=20)
        if mu is None:
            raise RuntimeError(f"layer {len(means) + 1}: no weight mean gives the target over {steps} steps")
        means.append(mu)
        pred = window(mu, autocorrelation=True)
        totals = [t * window(mu, t, n_cells=100).rate for t in range(1, steps + 1)]
        onset = n_steps - steps + missing_steps(np.diff(np.concatenate([[0.0], totals])))
        onsets.append(onset)
        moments = InputMoments.spikes(target, round(pred.rate_spread / scale, 4),
                                      tuple(round(r, 3) for r in pred.autocorrelation))
    return means, sigma, onsets


def main(argv: list[str]) -> int:
    beta, target, n_steps = float(argv[0]), float(argv[1]), int(argv[2])
    neuron = CanonicalNeuron(beta=beta, reset="subtract")
    means, sigma, onsets = plan_with_onsets(neuron, target, n_steps)
    gen = torch.Generator().manual_seed(config_seed(0, beta, "subtract", target, n_steps))
    weights = []
    for mu in means:
        w = torch.empty(WIDTH, WIDTH)
        sample_weight_(w, mu, sigma, rows="stratified", generator=gen)
        weights.append(w)
    acts, spikes = simulate_stack(neuron, weights, bernoulli_spikes(target, n_steps, (BATCH, WIDTH), generator=gen),
                                  return_spikes=True)
    print(f"beta {beta}, subtract reset, target {target}, T = {n_steps}: layers 1, 6, 11, ..., 46")
    print("  planned onset ", " ".join(f"{o:5.1f}" for o in onsets[::5]))
    print("  measured onset", " ".join(f"{missing_steps(s.double().mean((1, 2)).numpy()):5.1f}" for s in spikes[::5]))
    print("  rate          ", " ".join(f"{a.rate:5.3f}" for a in acts[::5]), f"(layer 50: {acts[-1].rate:.3f})")
    worst = max(abs(math.log2(a.rate / target)) if a.rate > 0 else math.inf for a in acts)
    print(f"  worst layer |log2(rate/target)| {worst:.2f}; most silent {max(a.silent_fraction for a in acts):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
