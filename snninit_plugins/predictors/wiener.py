r"""Wiener-process first passage (theory.md section 4.2): the continuous limit of the random walk.

A membrane with drift :math:`\mu` and diffusion :math:`\sigma^2` per step, started at :math:`V_0`, first
reaches :math:`\theta` at an inverse-Gaussian time with mean :math:`a/\mu` and variance
:math:`a\sigma^2/\mu^3`, :math:`a = \theta - V_0`, and CDF

.. math::

    F_a(t) = \Phi\!\left(\frac{\mu t - a}{\sigma\sqrt t}\right)
           + e^{2\mu a/\sigma^2}\,\Phi\!\left(\frac{-\mu t - a}{\sigma\sqrt t}\right).

After a spike the walk restarts a distance :math:`L` below threshold (:math:`L` = the subtracted amount,
or :math:`\theta - v_{reset}`), so by the strong Markov property the *n*-th spike is the first passage
through :math:`a + (n-1)L` and the expected count in a window of T steps is
:math:`E[n_T] = \sum_{n\ge 1} F_{a+(n-1)L}(T)`. With negative drift the walk escapes only with
probability :math:`e^{-2|\mu| a/\sigma^2}` and the long-run rate is 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..inputs import SynapticInput
from ..neuron import CanonicalNeuron
from ._result import RatePrediction, quenched_average
from .random_walk import OVERSHOOT


def first_passage_cdf(level: np.ndarray, t: float, mu: float, sigma: float) -> np.ndarray:
    """P(first passage of a Wiener process with drift mu, std sigma per step through ``level`` <= t)."""
    level = np.asarray(level, dtype=np.float64)
    if sigma <= 0:
        return (mu * t >= level).astype(float)
    st = sigma * math.sqrt(t)
    first = special.ndtr((mu * t - level) / st)
    log_second = 2 * mu * level / sigma**2 + special.log_ndtr((-mu * t - level) / st)
    return np.clip(first + np.exp(np.minimum(log_second, 700.0)), 0.0, 1.0)


def escape_probability(distance: float, mu: float, sigma: float) -> float:
    """Probability that the walk ever climbs ``distance`` (1 for mu >= 0, exp(-2|mu| d/sigma^2) otherwise)."""
    if mu >= 0:
        return 1.0
    if sigma <= 0:
        return 0.0
    return math.exp(-2 * abs(mu) * distance / sigma**2)


def wiener(
    neuron: CanonicalNeuron, drive: SynapticInput, *, n_steps: int | None = None, discrete_correction: bool = True
) -> RatePrediction:
    """Predict the rate of a non-leaky neuron from Wiener first-passage times.

    Args:
        n_steps: window T from V0 (expected count by the inverse-Gaussian CDF), or None (long-run rate mu/L).
        discrete_correction: add the random-walk overshoot 0.5826*s to the distance to threshold
            for a reset to a value (a subtract reset keeps the overshoot, so it needs none).
    """

    def single(n: CanonicalNeuron, drift: float) -> float:
        mu = n.gain * drift + n.drive
        sigma = n.gain * math.sqrt(drive.noise_variance)
        over = OVERSHOOT * sigma if discrete_correction else 0.0
        if n.reset == "subtract":
            step = n.subtract_amount
        elif n.reset == "value":
            step = n.threshold - n.v_reset + over
        else:
            step = math.inf
        first = max(n.threshold - n.v0 + (over if n.reset == "value" else 0.0), 0.0)
        if not math.isfinite(step):  # no reset: it fires at every step its membrane is above threshold
            if n_steps is None:
                return 1.0 if mu > 0 else (0.5 if mu == 0 and sigma > 0 else 0.0)
            t = np.arange(1, n_steps + 1, dtype=np.float64)
            above = n.v0 + mu * t - n.threshold
            p = special.ndtr(above / (sigma * np.sqrt(t))) if sigma > 0 else (above > 0).astype(float)
            return float(np.mean(p))
        if n_steps is None:
            return 0.0 if mu <= 0 else min(mu / step, 1.0)
        reach = max(mu, 0.0) * n_steps + 10 * sigma * math.sqrt(n_steps) + step
        levels = first + step * np.arange(int(reach / step) + 2)
        count = float(first_passage_cdf(levels, n_steps, mu, sigma).sum())
        return min(count, n_steps) / n_steps

    rate, spread = quenched_average(neuron, drive, single)
    scalar = next(neuron.groups())[0]
    notes = []
    sigma = scalar.gain * math.sqrt(drive.noise_variance)
    if scalar.beta < 1.0 and (n_steps is None or (1 - scalar.beta) * n_steps > 0.1):
        notes.append(f"beta={scalar.beta:.3g}: the leak matters over this window")
    if sigma > 0.25 * max(scalar.threshold - scalar.reset_level, 1e-12):
        notes.append("per-step jumps are large against the threshold: not a diffusion")
    return RatePrediction(
        rate=rate, rate_spread=spread, method="wiener", n_steps=n_steps,
        in_regime=not notes, regime="; ".join(notes) or "non-leaky, small steps",
    )
