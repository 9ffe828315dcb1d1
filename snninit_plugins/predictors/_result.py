"""What every rate predictor returns, and the quenched average they share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..inputs import SynapticInput
from ..neuron import CanonicalNeuron

#: A surrogate derivative f'(u) evaluated at u = H - theta (see :mod:`snninit_plugins.surrogates`).
Surrogate = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class MembraneDistribution:
    """Population membrane density with threshold, on a uniform grid of cell centres.

    ``pre_reset`` is the law of H (before the spike test), ``post_reset`` that of V. Both are
    probability masses per cell (they sum to 1 up to the tail outside the grid), averaged over the
    window (or stationary) and over the neurons of the layer.
    """

    grid: np.ndarray
    pre_reset: np.ndarray
    post_reset: np.ndarray

    def mean(self, which: str = "post_reset") -> float:
        p = getattr(self, which)
        return float(np.sum(p * self.grid) / np.sum(p))

    def std(self, which: str = "post_reset") -> float:
        p = getattr(self, which)
        m = self.mean(which)
        return float(np.sqrt(np.sum(p * (self.grid - m) ** 2) / np.sum(p)))


@dataclasses.dataclass(frozen=True)
class RatePrediction:
    """A predicted layer firing rate (spikes/step) and what came with it.

    Attributes:
        rate: population rate, averaged over the quenched spread of drifts (and per-neuron parameters).
        rate_spread: std of the single-neuron rate across neurons.
        method: the predictor's name.
        n_steps: the window length T, or ``None`` for stationary.
        in_regime: whether the inputs lie where the method's assumptions hold.
        regime: a sentence saying which assumption holds or fails.
        membrane: membrane distribution with threshold, where the method gives one.
        surrogate_moment: E[f'(H - theta)^2] over that distribution, when a surrogate was given.
        autocorrelation: rho(d), d = 1, 2, ..., of one neuron's output spike train, averaged over the
            population (density method without filter or refractory period; empty otherwise).
        correlation: correlation of two neurons' spikes in the same step, from the active-input count
            they share (density method with the shot-noise law; 0 otherwise).
        common_law: the shape of the population rate's common fluctuation (the rate given the shared count,
            relative to its mean, as equally likely values), carried to the next layer with ``correlation``.
        rate_profile: the population's firing probability at each step of the window, r_1 .. r_T (density
            method over a window, plain neurons; empty otherwise).
    """

    rate: float
    rate_spread: float
    method: str
    n_steps: int | None
    in_regime: bool
    regime: str
    membrane: MembraneDistribution | None = None
    surrogate_moment: float | None = None
    autocorrelation: tuple[float, ...] = ()
    correlation: float = 0.0
    common_law: tuple[float, ...] = ()
    rate_profile: tuple[float, ...] = ()

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("membrane")
        return d


SingleNeuronRate = Callable[[CanonicalNeuron, float], float]


def quenched_average(
    neuron: CanonicalNeuron, drive: SynapticInput, single: SingleNeuronRate, n_nodes: int = 9
) -> tuple[float, float]:
    """Average ``single(scalar_neuron, drift)`` over per-neuron parameter groups and the drift spread.

    Returns (mean rate, std of the rate across neurons), using Gauss-Hermite nodes from
    :meth:`SynapticInput.quenched_nodes` (theory.md section 3, "quenched").
    """
    nodes, weights = drive.quenched_nodes(n_nodes)
    first = second = 0.0
    for group, gw in neuron.groups():
        rates = np.array([single(group, float(d)) for d in nodes])
        first += gw * float(np.dot(weights, rates))
        second += gw * float(np.dot(weights, rates**2))
    return first, float(np.sqrt(max(second - first**2, 0.0)))
