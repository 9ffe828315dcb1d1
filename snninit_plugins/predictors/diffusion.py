r"""Diffusion approximation: Siegert's formula for a leaky neuron (theory.md section 4.3).

The membrane is mapped to an Ornstein-Uhlenbeck process with time constant
:math:`\tau = -1/\ln\beta` steps, free mean :math:`\mu_0 = (g m_i + c)/(1-\beta)` and free std
:math:`\sigma_0 = g s/\sqrt{1-\beta^2}`. Siegert (1951), in the form of Brunel (2000):

.. math::

    \frac{1}{r} = \tau\sqrt\pi\int_{(v_r-\mu_0)/(\sqrt2\sigma_0)}^{(\theta_{eff}-\mu_0)/(\sqrt2\sigma_0)}
        e^{u^2}\,(1 + \operatorname{erf} u)\,du .

Discrete time moves the threshold up by the random-walk overshoot,
:math:`\theta_{eff} = \theta + 0.5826\,g s`; a subtract reset restarts at :math:`\theta_{eff} - \Theta`,
a reset to a value at :math:`v_{reset}`. Stationary rates only; at most one spike per step.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..inputs import SynapticInput
from ..neuron import CanonicalNeuron
from ._result import RatePrediction, quenched_average
from .random_walk import OVERSHOOT

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


def siegert_interval(y_reset: float, y_threshold: float) -> float:
    r"""sqrt(pi) * integral from y_reset to y_threshold of exp(u^2)(1+erf u) du, i.e. of erfcx(-u)."""
    if y_threshold <= y_reset:
        return 0.0
    if y_threshold > 26.0:
        return math.inf
    lo = max(y_reset, -60.0)
    mid = 0.5 * (y_threshold + lo)
    half = 0.5 * (y_threshold - lo)
    u = mid + half * _GL_NODES
    return float(math.sqrt(math.pi) * half * np.dot(_GL_WEIGHTS, special.erfcx(-u)))


def diffusion(
    neuron: CanonicalNeuron, drive: SynapticInput, *, n_steps: int | None = None, discrete_correction: bool = True
) -> RatePrediction:
    """Predict the stationary rate of a leaky neuron with Siegert's formula.

    Args:
        n_steps: accepted for a uniform interface; the formula is stationary, so a finite window is
            reported as out of regime.
        discrete_correction: shift the threshold by 0.5826 times the per-step input std.
    """

    def single(n: CanonicalNeuron, drift: float) -> float:
        s = n.gain * math.sqrt(drive.noise_variance)
        if n.beta >= 1.0 or n.reset == "none":
            return math.nan
        mu0 = (n.gain * drift + n.drive) / (1 - n.beta)
        sigma0 = s / math.sqrt(1 - n.beta**2)
        theta = n.threshold + (OVERSHOOT * s if discrete_correction else 0.0)
        v_r = n.v_reset if n.reset == "value" else theta - n.subtract_amount
        if sigma0 == 0.0:
            if mu0 <= theta:
                return 0.0
            isi = n.tau * math.log((mu0 - v_r) / (mu0 - theta))
        else:
            isi = n.tau * siegert_interval((v_r - mu0) / (math.sqrt(2) * sigma0), (theta - mu0) / (math.sqrt(2) * sigma0))
        return 0.0 if not math.isfinite(isi) else min(1.0 / max(isi, 1e-300), 1.0)

    scalar = next(neuron.groups())[0]
    if scalar.beta >= 1.0 or scalar.reset == "none":
        raise ValueError("Siegert's formula needs a leak (beta < 1) and a reset; use wiener or density")
    rate, spread = quenched_average(neuron, drive, single)
    notes = []
    if n_steps is not None:
        notes.append("stationary formula scored on a finite window")
    if scalar.tau < 2.0:
        notes.append(f"tau={scalar.tau:.2g} steps is too short for a diffusion")
    if scalar.gain * math.sqrt(drive.noise_variance) > 0.2 * (scalar.threshold - scalar.reset_level):
        notes.append("per-step jumps are large against the threshold")
    if rate > 0.2:
        notes.append("rate above 0.2/step: discrete time dominates")
    return RatePrediction(
        rate=rate, rate_spread=spread, method="diffusion", n_steps=n_steps,
        in_regime=not notes, regime="; ".join(notes) or "leaky, small steps, stationary, low rate",
    )
