r"""The layer gain G = d log(rate_out) / d log(rate_in) (theory.md section 6).

G decides whether a deep stack keeps its rate: a per-layer error grows like :math:`G^l` when
:math:`G > 1` and stays near :math:`\epsilon/(1-G)` when :math:`G < 1`. Computed by a central
difference of any predictor, scaling the input activity by :math:`1 \pm h` with the weights fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..inputs import InputMoments, SynapticInput
from ..neuron import CanonicalNeuron
from ._result import RatePrediction

Predictor = Callable[..., RatePrediction]


def layer_gain(
    predictor: Predictor, neuron: CanonicalNeuron, drive: SynapticInput, *, rel_step: float = 0.05, **options: object
) -> float:
    """G = d log r_out / d log r_in of ``predictor`` at ``drive``, by central differences.

    Returns ``nan`` where the output rate is zero on either side (the gain is undefined there).
    """
    up = predictor(neuron, drive.with_moments(drive.moments.scaled(1 + rel_step)), **options).rate
    down = predictor(neuron, drive.with_moments(drive.moments.scaled(1 - rel_step)), **options).rate
    if up <= 0 or down <= 0:
        return math.nan
    return (math.log(up) - math.log(down)) / (math.log(1 + rel_step) - math.log(1 - rel_step))


def layer_jacobian(
    predictor: Predictor, neuron: CanonicalNeuron, drive: SynapticInput, *, rel_step: float = 0.05, **options: object
) -> np.ndarray:
    r"""The layer map's Jacobian in the rate and the spread of rates across units, by central differences:

    .. math:: J = \frac{\partial(\ln r_{out}, \ln u_{out})}{\partial(\ln m_{in}, \ln u_{in})}

    (rows: output rate, output spread; columns: input rate with the spread held, input spread with the rate
    held). Iterated with fixed weights, the plan's map keeps its fixed point only if the spectral radius of J is
    below 1 (a property of the plan's model: measured, it does not tell which weights keep a real stack);
    :func:`layer_gain` is the first row's sum (G scales both together).
    Measured over the 48 stacks of benchmarks/depth.py (``general`` without its window options, rows
    general+none; at 5d44b61, layer 10; with them, the default, it is at most 0.98): the radius is above 1 only in
    four of the six subtract-reset stacks at target 0.05 with beta >= 0.9 (1.02-1.04: the T = 25 ones and beta
    0.9 at T = 100; layer 50 at -5% to -54%, one failing), and 0.28-0.95 elsewhere. The two that fail at
    T = 100 (beta 0.99 and 1) have 0.81 and 0.95; 0.99 and 1.08 before the sigma_w search met G with the
    planning's drift quadrature, 1.17 and more before ``density.quadrature_nodes`` grew with R^2: the radius
    follows the plan's numerics as much as the stack.

    Raises ``ValueError`` for a non-spiking input or one without spread (no spread direction), and where the
    output rate or spread is zero on either side.
    """
    m = drive.moments
    if not m.spiking or m.unit_spread <= 0 or m.mean <= 0:
        raise ValueError("the Jacobian needs spiking input with a rate and a spread across units (both > 0)")

    def logs(mean: float, spread: float) -> tuple[float, float]:
        moments = InputMoments.spikes(min(mean, 1.0), spread, m.autocorrelation, m.correlation, m.common_law)
        pred = predictor(neuron, drive.with_moments(moments), **options)
        if not (pred.rate > 0 and pred.rate_spread > 0):
            raise ValueError(f"zero output rate or spread at input rate {mean:.4g}, spread {spread:.4g}")
        return math.log(pred.rate), math.log(pred.rate_spread)

    width = math.log(1 + rel_step) - math.log(1 - rel_step)
    up, down = logs(m.mean * (1 + rel_step), m.unit_spread), logs(m.mean * (1 - rel_step), m.unit_spread)
    wide, narrow = logs(m.mean, m.unit_spread * (1 + rel_step)), logs(m.mean, m.unit_spread * (1 - rel_step))
    return np.array([[up[0] - down[0], wide[0] - narrow[0]], [up[1] - down[1], wide[1] - narrow[1]]]) / width


def jacobian_radius(predictor: Predictor, neuron: CanonicalNeuron, drive: SynapticInput, **options: object) -> float:
    """Spectral radius of :func:`layer_jacobian` (above 1: the planned fixed point is unstable), or ``nan`` where
    the Jacobian is not defined (no input spread, a silent side of a difference)."""
    try:
        jacobian = layer_jacobian(predictor, neuron, drive, **options)
    except ValueError:
        return math.nan
    return float(np.abs(np.linalg.eigvals(jacobian)).max())
