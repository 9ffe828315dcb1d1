r"""The layer gain G = d log(rate_out) / d log(rate_in) (theory.md section 6).

G decides whether a deep stack keeps its rate: a per-layer error grows like :math:`G^l` when
:math:`G > 1` and stays near :math:`\epsilon/(1-G)` when :math:`G < 1`. Computed by a central
difference of any predictor, scaling the input activity by :math:`1 \pm h` with the weights fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..inputs import SynapticInput
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
