r"""Random-walk rule for non-leaky integrate-and-fire neurons (theory.md section 4.1).

With :math:`\beta = 1` the membrane is a random walk with per-step increments of mean
:math:`m = g\,m_i + c` and std :math:`s`. A subtract reset keeps the overshoot, so the long-run rate is
exactly :math:`m/\Theta` (:math:`\Theta` the subtracted amount). A reset to a value loses it; by Wald's
identity the mean inter-spike interval is :math:`(\theta - v_{reset} + E[\text{overshoot}])/m`, with
:math:`E[\text{overshoot}] \approx 0.5826\,s` (Siegmund's constant, small-drift limit). Zero or negative
drift gives an infinite mean first-passage time: the collapse. Over a finite window from V0 the rule
counts the levels a drift-only walk passes: :math:`E[n_T] \approx (V_0 + mT - \theta)/L + 1/2`.
"""

from __future__ import annotations

import math

import numpy as np

from ..inputs import SynapticInput
from ..neuron import CanonicalNeuron
from ._result import RatePrediction, quenched_average

#: Siegmund's constant: mean overshoot of a Gaussian random walk over a level, per unit step std.
OVERSHOOT = 0.5826


def _step_size(neuron: CanonicalNeuron, drive: SynapticInput) -> tuple[float, float]:
    return neuron.gain, neuron.gain * math.sqrt(drive.noise_variance)


def random_walk(neuron: CanonicalNeuron, drive: SynapticInput, *, n_steps: int | None = None) -> RatePrediction:
    """Predict the rate of a non-leaky neuron from its drift alone (the random-walk rule).

    Args:
        neuron: canonical neuron; the rule assumes beta = 1.
        drive: per-step synaptic input.
        n_steps: window T from V0, or None for the long-run rate.
    """

    def single(n: CanonicalNeuron, drift: float) -> float:
        g, s = _step_size(n, drive)
        m = g * drift + n.drive
        if n.reset == "none":  # it fires at every step its drift-only membrane is above threshold
            if n_steps is None:
                return 1.0 if m > 0 else 0.0
            t = np.arange(1, n_steps + 1, dtype=np.float64)
            return float(np.mean(n.v0 + m * t > n.threshold))
        if n.reset == "subtract":
            level = n.subtract_amount
        else:
            level = n.threshold - n.v_reset + OVERSHOOT * s
        if n_steps is None:
            return 0.0 if m <= 0 else min(m / level, 1.0)
        count = (n.v0 + m * n_steps - n.threshold) / level + 0.5
        return min(max(count, 0.0), n_steps) / n_steps

    rate, spread = quenched_average(neuron, drive, single)
    betas = neuron.beta if neuron.is_scalar else min(neuron.beta)
    g, s = _step_size(next(neuron.groups())[0], drive)
    m = g * drive.mean + float(next(neuron.groups())[0].drive)
    notes = []
    if betas < 1.0:
        notes.append(f"beta={betas:.3g} < 1: the rule ignores the leak")
    if m <= 0:
        notes.append("non-positive mean drift: the walk is not mean-driven")
    elif n_steps is not None and m * n_steps < 3 * s * math.sqrt(n_steps):
        notes.append("over this window the drift does not dominate the fluctuations")
    return RatePrediction(
        rate=rate, rate_spread=spread, method="random_walk", n_steps=n_steps,
        in_regime=not notes, regime="; ".join(notes) or "non-leaky, mean-driven",
    )
