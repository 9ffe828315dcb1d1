r"""Shot-noise (escape) approximation with the exact per-step input law (theory.md section 4.4).

With sparse input a spike is usually caused by the current step's input: a sum of the weights of the
:math:`k\sim\mathrm{Binomial}(N, m_a)` active inputs, a Gaussian mixture over *k*
(:meth:`~snninit_plugins.inputs.SynapticInput.step_law`). The membrane before the step is taken as a
Gaussian of the free std :math:`\sigma_V = g s/\sqrt{1-\beta^2}`, cut at the threshold (a neuron above
it would have fired already), with its mean lowered by the resets: each spike removes :math:`L` (the
subtracted amount, or :math:`\theta - v_{reset}`), so :math:`\mu_V(r) = (g m_i + c - rL)/(1-\beta)`.
The rate is the fixed point

.. math::

    r = E_{V < \theta}\Big[\sum_k P(k)\,\Phi\Big(\frac{\beta V + g\mu_k + c - \theta}{g\sigma_k}\Big)\Big],

unique because the right side decreases in *r* (found by Brent's method). Stationary only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from ..inputs import SynapticInput
from ..neuron import CanonicalNeuron
from ._result import RatePrediction, quenched_average


def shot_noise(neuron: CanonicalNeuron, drive: SynapticInput, *, n_steps: int | None = None) -> RatePrediction:
    """Predict the stationary rate from the exact per-step law and a reset-corrected Gaussian membrane."""
    scalar = next(neuron.groups())[0]
    if scalar.beta >= 1.0 or scalar.reset == "none":
        raise ValueError("the shot-noise approximation needs a leak (beta < 1) and a reset; use wiener or density")

    z = np.linspace(-8.0, 8.0, 321)
    gauss = np.exp(-0.5 * z * z)

    def single(n: CanonicalNeuron, drift: float) -> float:
        law = drive.step_law(drift)
        g, beta = n.gain, n.beta
        sigma_v = g * math.sqrt(drive.noise_variance) / math.sqrt(1 - beta * beta)
        level = n.subtract_amount if n.reset == "subtract" else n.threshold - n.v_reset
        jump_std = np.where(law.stds > 0, g * law.stds, 1.0)

        def hazard(r: float) -> float:
            v = (g * drift + n.drive - r * level) / (1 - beta) + sigma_v * z
            w = gauss * (v < n.threshold)
            if w.sum() == 0.0:
                return 1.0
            need = (n.threshold - beta * v[:, None] - n.drive - g * law.means) / jump_std
            fire = np.where(law.stds > 0, special.ndtr(-need), (need < 0).astype(float))
            return float((w / w.sum()) @ fire @ law.weights)

        if hazard(1.0) >= 1.0:
            return 1.0
        return float(optimize.brentq(lambda r: hazard(r) - r, 0.0, 1.0, xtol=1e-10))

    rate, spread = quenched_average(neuron, drive, single)
    notes = []
    if n_steps is not None:
        notes.append("stationary formula scored on a finite window")
    if drive.moments.spiking and drive.active_inputs > 5:
        notes.append(f"{drive.active_inputs:.3g} active inputs per step: not sparse")
    if rate > 0.1:
        notes.append("rate above 0.1/step: resets shape the membrane")
    return RatePrediction(
        rate=rate, rate_spread=spread, method="shot_noise", n_steps=n_steps,
        in_regime=not notes, regime="; ".join(notes) or "sparse input, low rate, stationary",
    )
