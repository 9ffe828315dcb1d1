r"""Input statistics: presynaptic moments and the synaptic input they produce (theory.md section 3).

Presynaptic activity :math:`a_j[t]` is described by its per-step mean :math:`m_a` and second moment
:math:`q_a` (:class:`InputMoments`). Through weights of mean :math:`\mu_w`, std :math:`\sigma_w` and
fan-in :math:`N` it gives each neuron the per-step input :math:`x_i[t] = \sum_j W_{ij} a_j[t] + b`
(:class:`SynapticInput`), whose statistics split into

* annealed: :math:`E[x] = N\mu_w m_a + b`,
  :math:`\mathrm{Var}[x] = N(\sigma_w^2 q_a + \mu_w^2 (q_a - m_a^2))`;
* quenched: neuron *i* has its own drift :math:`m_i = m_a\sum_j W_{ij} + b`, spread across neurons with std
  :math:`\sqrt N\sigma_w m_a` (zero with centred rows), and around it per-step fluctuations of variance
  :math:`N(\sigma_w^2+\mu_w^2)(q_a - m_a^2)`.

Predictors average a single-neuron result over the drift spread with Gauss-Hermite quadrature
(:meth:`SynapticInput.quenched_nodes`).

For spike input the exact per-step law given the neuron's row is a Binomial mixture ("shot noise"):
with :math:`k\sim\mathrm{Binomial}(N, m_a)` active inputs, :math:`x\,|\,k` is a sum of *k* of the row's
weights, Gaussian with mean :math:`k\bar w_i + b` and variance :math:`k\sigma_w^2 (N-k)/(N-1)` (sampling
without replacement from the row). Its total variance equals the Gaussian law's.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import special, stats

from .errors import InputSpecError

InputLaw = Literal["auto", "gaussian", "shot_noise"]

#: Below this many active inputs per step on average, ``law="auto"`` uses the exact shot-noise mixture.
SHOT_NOISE_MAX_ACTIVE = 64.0


@functools.lru_cache(maxsize=32)
def _hermite_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Hermite nodes :math:`z_k` and weights :math:`w_k` (summing to 1) for :math:`E[f(Z)]`,
    :math:`Z \sim N(0, 1)`.

    Remembered (read-only): the density method asks for the same rule at every evaluation, and computing a
    41-node rule takes 0.8 ms, 2-3% of an evaluation at the planning resolution (a 5-node one 0.14 ms, 2-3% of
    one of the search)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


@dataclasses.dataclass(frozen=True)
class InputMoments:
    """Per-step moments of the presynaptic units: mean ``m`` and second moment ``q`` = E[a^2].

    ``spiking`` marks Bernoulli spike input (then ``q == m``), which allows the exact shot-noise law.
    ``unit_spread`` is the std across units of their own mean activity (a layer whose neurons fire at
    different rates); it feeds the quenched drift spread of the next layer. ``autocorrelation`` holds
    rho(d), d = 1, 2, ..., the correlation of one unit's activity d steps apart (empty: independent
    steps); bursty spike trains (rho > 0) make the next membrane fluctuate more (:func:`noise_factor`).
    ``correlation`` is the correlation of two units' activity in the same step (0: independent units; the
    neurons of a layer that all see the same inputs fire partly together); the shot-noise law then draws
    the number of active inputs from an overdispersed law (:meth:`SynapticInput.active_count_law`).
    ``common_law`` gives that law its shape: equally likely values of the population rate's common
    fluctuation relative to its mean (the previous layer's rate given its own input count, as the density
    method predicts it; mean 1, rescaled to ``correlation``); empty: a Beta law. ``rise`` is the activity
    of the window's first steps relative to the rest, which is taken as steady (a deep layer starts late: every
    layer below starts its window at V0): leading zeros are silent steps, e.g. ``(0, 0, 0.3, 0.8)``; empty:
    steady from the first step (:meth:`late`). ``rise_delay`` moves the rise that much later (earlier if negative),
    a fraction of a step, its shape kept (:func:`shifted_rise`): how a strategy carries a rise without blurring it
    (:meth:`aligned_onset`).
    """

    mean: float
    second: float
    spiking: bool = False
    unit_spread: float = 0.0
    autocorrelation: tuple[float, ...] = ()
    correlation: float = 0.0
    common_law: tuple[float, ...] = ()
    rise: tuple[float, ...] = ()
    rise_delay: float = 0.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.mean, self.second, self.unit_spread)):
            raise InputSpecError(
                f"input moments must be finite, got mean={self.mean}, second={self.second}, "
                f"unit_spread={self.unit_spread}"
            )
        if self.second < self.mean**2 - 1e-12:
            raise InputSpecError(
                f"second moment {self.second:.4g} < mean^2 {self.mean**2:.4g}: not a distribution; "
                "pass E[a^2] (not the variance) as the second moment"
            )
        if self.unit_spread < 0 or self.mean**2 + self.unit_spread**2 > self.second + 1e-12:
            raise InputSpecError(
                f"unit spread {self.unit_spread:.4g} must be >= 0 with mean^2 + spread^2 <= second moment "
                f"({self.second:.4g})"
            )
        if self.spiking and not 0.0 <= self.mean <= 1.0:
            raise InputSpecError(f"a spike rate must lie in [0, 1] spikes/step, got {self.mean}")
        if not all(math.isfinite(r) and -1.0 <= r <= 1.0 for r in self.autocorrelation):
            raise InputSpecError(f"autocorrelations must lie in [-1, 1], got {self.autocorrelation}")
        if not (math.isfinite(self.correlation) and -1.0 <= self.correlation <= 1.0):
            raise InputSpecError(f"the units' correlation must lie in [-1, 1], got {self.correlation}")
        if not all(math.isfinite(r) and r >= 0.0 for r in self.common_law):
            raise InputSpecError(
                f"the common fluctuation's relative rates must be finite and >= 0, got {self.common_law}")
        if not all(math.isfinite(r) and 0.0 <= r <= 1.0 for r in self.rise):
            raise InputSpecError(f"the rise (the first steps' activity relative to the rest) must lie in [0, 1], "
                                 f"got {self.rise}")
        if not (math.isfinite(self.rise_delay) and -1.0 <= self.rise_delay <= 1.0):
            raise InputSpecError(f"the rise's delay is a fraction of a step, in [-1, 1], got {self.rise_delay}")

    @classmethod
    def spikes(cls, rate: float, unit_spread: float = 0.0, autocorrelation: tuple[float, ...] = (),
               correlation: float = 0.0, common_law: tuple[float, ...] = (), rise: tuple[float, ...] = (),
               rise_delay: float = 0.0) -> InputMoments:
        """Spikes at ``rate`` per step (m = q = rate), units' rates spread by ``unit_spread``, trains
        correlated over time by ``autocorrelation`` (Bernoulli: none) and across units by ``correlation``,
        whose common fluctuation has the shape ``common_law``, the window's first steps ``rise`` times as active as
        the rest (``rise_delay`` steps later)."""
        rate = float(rate)
        if not 0.0 <= rate <= 1.0 or not math.isfinite(rate):
            raise InputSpecError(f"a spike rate must lie in [0, 1] spikes/step, got {rate}")
        spread = min(float(unit_spread), math.sqrt(max(rate - rate * rate, 0.0)))
        return cls(rate, rate, spiking=True, unit_spread=spread, autocorrelation=tuple(autocorrelation),
                   correlation=float(correlation), common_law=tuple(common_law), rise=tuple(float(r) for r in rise),
                   rise_delay=float(rise_delay))

    @classmethod
    def analog(cls, mean: float, second: float) -> InputMoments:
        """Analog input (e.g. direct image encoding) with measured mean and second moment."""
        return cls(float(mean), float(second), spiking=False)

    @classmethod
    def from_sample(cls, sample: np.ndarray) -> InputMoments:
        """Moments measured from a sample (all entries pooled). Binary samples count as spikes.

        A time-major sample ``[T, batch, units...]`` also gives the spread of the units' own mean activity
        (pixels of an image are not equally bright): the variance of the per-unit means over the T x batch
        entries, less what sampling alone gives (the mean per-entry variance / (T batch)).
        """
        a = np.asarray(sample, dtype=np.float64)
        if a.size == 0:
            raise InputSpecError("the input sample is empty")
        spiking = bool(np.all((a == 0) | (a == 1)))
        mean, second = float(a.mean()), float((a * a).mean())
        spread = 0.0
        if a.ndim >= 3 and a.shape[0] * a.shape[1] > 1:
            per_unit = a.reshape(a.shape[0] * a.shape[1], -1)
            unit_means = per_unit.mean(axis=0)
            noise = float(per_unit.var(axis=0).mean()) / per_unit.shape[0]
            spread = math.sqrt(max(float(unit_means.var()) - noise, 0.0))
            spread = min(spread, math.sqrt(max(second - mean * mean, 0.0)))
        return cls(mean, second, spiking=spiking, unit_spread=spread)

    @property
    def variance(self) -> float:
        """Variance over units and steps, E[a^2] - m^2."""
        return max(self.second - self.mean**2, 0.0)

    @property
    def temporal_variance(self) -> float:
        """Mean over units of each unit's own per-step variance: q - m^2 - unit_spread^2."""
        return max(self.second - self.mean**2 - self.unit_spread**2, 0.0)

    def scaled(self, factor: float) -> InputMoments:
        """The same activity ``factor`` times as often (m, q and the spread scale); used for the layer gain."""
        if self.spiking:
            return InputMoments.spikes(min(self.mean * factor, 1.0), self.unit_spread * factor, self.autocorrelation,
                                       self.correlation, self.common_law, self.rise, self.rise_delay)
        mean = self.mean * factor
        return InputMoments(mean, max(self.second * factor, mean * mean), spiking=False,
                            unit_spread=self.unit_spread * factor, autocorrelation=self.autocorrelation,
                            correlation=self.correlation, common_law=self.common_law, rise=self.rise,
                            rise_delay=self.rise_delay)

    @property
    def onset(self) -> float:
        """Steps missing at the window's start against its steady part: the sum of 1 - ``rise``, plus
        ``rise_delay`` (none below 0: a steady input moved earlier is still steady)."""
        return max(_missing_steps(self.rise) + self.rise_delay, 0.0)

    def undelayed(self) -> InputMoments:
        """These moments with ``rise_delay`` made part of the ``rise`` (:func:`shifted_rise`)."""
        if not self.rise_delay:
            return self
        return dataclasses.replace(self, rise=shifted_rise(self.rise, self.rise_delay), rise_delay=0.0)

    def silent_steps(self, n_steps: int | None) -> int:
        """Steps at the start of a T-step window in which the units are silent: the leading zeros of ``rise``
        (none for the stationary state)."""
        if n_steps is None:
            return 0
        rise = self.undelayed().rise
        return next((i for i, r in enumerate(rise) if r > 0), len(rise))

    def aligned_onset(self) -> InputMoments:
        """These moments with the rise moved to the nearest whole onset (halves up), its shape kept, its cumulative
        activity to 0.2 (:func:`shifted_rise`, :func:`coarse_rise`), and no delay: what a strategy with
        ``window_onset`` evaluates, so that deep layers, whose rise keeps its shape and moves later by a fraction
        of a step per layer, share their evaluations (:meth:`~snninit_plugins.strategies.Strategy.drive`)."""
        if not self.rise and not self.rise_delay:
            return self
        by = round_half_up(self.onset) - _missing_steps(self.rise)  # from the undelayed rise
        return dataclasses.replace(self, rise=coarse_rise(shifted_rise(self.rise, by), EVALUATED_RISE_STEP),
                                   rise_delay=0.0)

    def late(self, n_steps: int) -> InputMoments:
        """The moments of the window's steady part, after the ``rise``: the same mean over the T steps, so
        T / (T - onset) times the window's."""
        if self.rise_delay:
            return self.undelayed().late(n_steps)
        if not self.rise:
            return self
        if len(self.rise) >= n_steps:
            raise InputSpecError(f"a rise of {len(self.rise)} steps leaves no steady step in a {n_steps}-step window; "
                                 "give a shorter rise or a longer window")
        return dataclasses.replace(self.scaled(n_steps / (n_steps - self.onset)), rise=())


def _missing_steps(rise: Sequence[float]) -> float:
    """Steps a rise misses against the steady part: the sum of 1 - its levels."""
    return float(sum(1.0 - r for r in rise))


def round_half_up(x: float) -> int:
    """x rounded to the nearest integer, halves up (Python's round takes halves to even)."""
    return math.floor(x + 0.5)


#: the step to which an evaluated rise's cumulative activity is rounded (:meth:`InputMoments.aligned_onset`)
EVALUATED_RISE_STEP = 0.2


def coarse_rise(rise: Sequence[float], step: float) -> tuple[float, ...]:
    """The rise with its cumulative activity A(t) = sum_{s<t} rise_s rounded to ``step`` (its levels are then
    whole multiples of ``step``, and its onset stays within step/2 of the rise's)."""
    cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(rise, dtype=np.float64))])
    return _without_steady_tail(np.clip(np.diff(np.round(cumulative / step) * step), 0.0, 1.0), 6)


def shifted_rise(rise: Sequence[float], by: float) -> tuple[float, ...]:
    """The rise ``by`` steps later (earlier for ``by`` < 0), its shape kept: the input's cumulative activity
    A(t) = sum_{s<t} rise_s (1 per step after the rise), read at t - by (linearly between steps; 0 before the
    window). Its onset (:attr:`InputMoments.onset`) moves by ``by``, as far as the window's start allows."""
    n = len(rise) + math.ceil(abs(by)) + 1
    cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate([np.asarray(rise, dtype=np.float64),
                                                                  np.ones(n + 1)]))])
    times = np.arange(n + 1) - by
    at = np.interp(times, np.arange(len(cumulative)), cumulative, left=0.0)
    return _without_steady_tail(np.clip(np.diff(at), 0.0, 1.0), 4)


def _without_steady_tail(levels: np.ndarray, digits: int) -> tuple[float, ...]:
    """A rise's levels, rounded to ``digits``, without the steady (level 1) steps at its end."""
    below = np.flatnonzero(levels < 1.0 - 1e-9)
    return tuple(round(float(level), digits) for level in levels[:below[-1] + 1]) if len(below) else ()


def noise_factor(beta: float, alpha: float | None, autocorrelation: tuple[float, ...],
                 horizon: int | None = None) -> float:
    """Factor by which temporally correlated input multiplies the free membrane's variance.

    The free membrane is V = sum_k h_k xi_{t-k}, with impulse response h_k = beta^k (or, behind a synaptic
    filter, h_k = sum_{i+j=k} alpha^i beta^j). For inputs with autocorrelation rho(d),
    Var V = Var xi (K(0) + 2 sum_d rho(d) K(d)), K(d) = sum_k h_k h_{k+d}; so the factor is
    F = 1 + 2 sum_d rho(d) K(d) / K(0) (for a plain leaky neuron, 1 + 2 sum_d rho(d) beta^d). The density
    method, whose steps are independent, then uses F times the per-step noise variance. ``horizon`` caps
    the memory at the window's length T (a perfect integrator integrates only T steps).
    """
    if not autocorrelation:
        return 1.0
    rho = np.asarray(autocorrelation, dtype=np.float64)
    horizon = min(horizon or 10**9, len(rho) + 400)
    rho = rho[: max(horizon - 1, 0)]
    k = np.arange(horizon)
    h = float(min(beta, 1.0)) ** k
    if alpha is not None and alpha > 0:
        h = np.convolve(float(alpha) ** k, h)[:horizon]
    kd = np.array([h[: horizon - d] @ h[d:] for d in range(len(rho) + 1)])
    return max(1.0 + 2.0 * float(rho @ kd[1:]) / float(kd[0]), 0.05)


def window_offset_variance(drive: SynapticInput, n_steps: int | None) -> float:
    r"""Variance of the slow part of a neuron's input that stays put over a window of T steps.

    Bursty presynaptic trains (autocorrelation :math:`\rho(d) > 0`) move each neuron's input up or down for
    many steps together, differently in each sample: over the window, the input's mean
    :math:`\bar x = \frac1T\sum_t x_t` varies across samples by
    :math:`\mathrm{Var}\,\bar x = \frac{s^2}{T}\big(1 + 2\sum_{d<T}\rho(d)(1 - d/T)\big)`, where
    independent steps give :math:`s^2/T`. Splitting the per-step input into a per-sample offset o, constant
    over the window, and independent steps of variance :math:`s^2 - \sigma_o^2` with the same two moments
    gives :math:`\sigma_o^2 = s^2\,\frac{T\,\mathrm{Var}\,\bar x / s^2 - 1}{T - 1}`, that is
    :math:`(F_1 - 1)/(T - 1)` of the per-step variance (:math:`F_1` = :func:`noise_factor` of a perfect
    integrator over T steps). 0 without autocorrelation, for one step or the stationary state, and with
    centred rows (whose correlated input is taken by dilating the steps instead, :func:`noise_factor`).

    Measured on the real 20-layer stack that the plan of beta 0.99, subtract reset, target 0.05, T = 100
    left 2x below target (benchmarks/depth.py): from layer 5 on, 23-33% of each neuron's per-step input
    variance is this offset (T = 25: 23-28%), twice the quenched spread of drifts across neurons at layer
    12; the formula gives 22-32% from the trains' own autocorrelation. Fed each layer's real input's measured
    rate, spread and autocorrelation, the density method with this offset gives the layer's rate 4-20% low
    at layers 2-12 and the spread of its neurons' rates within 6% (T = 25: rate -4% to +14%); without it the
    rate came out 21-93% low (93% from layer 9 on), and with the steps dilated by F instead
    (:func:`noise_factor`) the neurons fired 1.7-12 times the real rate.
    """
    rho = drive.moments.autocorrelation
    if not rho or n_steps is None or n_steps < 2 or drive.centred_rows:
        return 0.0
    fraction = float(np.clip((noise_factor(1.0, None, rho, horizon=n_steps) - 1.0) / (n_steps - 1), 0.0, 0.9))
    # to two significant digits: a stack's deeper layers, whose inputs' trains differ by less, share one
    # prediction (the plan's offset creeps over tens of layers: 0.3036, 0.3007, 0.2928, 0.2846, ...)
    return float(f"{fraction:.2g}") * drive.noise_variance


@dataclasses.dataclass(frozen=True)
class MixtureLaw:
    """A per-step input law as a mixture of Gaussians (std 0 means a point mass)."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray

    def cdf(self, u: np.ndarray, *, left: bool = False) -> np.ndarray:
        """P(x <= u) (or P(x < u) with ``left=True``, which differs only at point masses)."""
        u = np.asarray(u, dtype=np.float64)[..., None]
        z = (u - self.means) / np.where(self.stds > 0, self.stds, 1.0)
        gauss = stats.norm.cdf(z)
        point = (u > self.means) if left else (u >= self.means)
        return np.sum(self.weights * np.where(self.stds > 0, gauss, point), axis=-1)

    @functools.cached_property
    def mean(self) -> float:
        """Remembered (the law is immutable): the density method asks each node's law for it several times."""
        return float(np.sum(self.weights * self.means))

    @functools.cached_property
    def std(self) -> float:
        m2 = np.sum(self.weights * (self.stds**2 + self.means**2))
        return float(math.sqrt(max(m2 - self.mean**2, 0.0)))

    def dilated(self, factor: float) -> MixtureLaw:
        """The same law with its deviations from the mean scaled by ``factor`` (variance times factor^2)."""
        m = self.mean
        return MixtureLaw(self.weights, m + factor * (self.means - m), factor * self.stds)


class _SmoothLaw:
    """A law known by its CDF, seen as one smooth component of its mean and std (for grid ranges)."""

    mean: float
    std: float

    @property
    def weights(self) -> np.ndarray:
        return np.array([1.0])

    @property
    def means(self) -> np.ndarray:
        return np.array([self.mean])

    @property
    def stds(self) -> np.ndarray:
        return np.array([max(self.std, 1e-12)])


@dataclasses.dataclass(frozen=True)
class MaxPooledLaw(_SmoothLaw):
    r"""The maximum over ``k`` positions of a Gaussian input whose fluctuations correlate by ``rho``.

    Max pooling of a convolution's output before the neuron (the snnTorch tutorial's conv net): the k
    positions share the channel's drift d; their fluctuations, with std s (``scale``), are taken as equicorrelated,
    :math:`X_i = d + s(\sqrt\rho Z_0 + \sqrt{1-\rho} Z_i)`, so

    .. math:: P(\max_i X_i \le u) = E_{Z_0}\big[\Phi\big(\tfrac{u - d - s\sqrt\rho Z_0}{s\sqrt{1-\rho}}\big)^k\big]

    (Gauss-Hermite over :math:`Z_0`).
    """

    drift: float
    scale: float
    k: int
    rho: float

    def cdf(self, u: np.ndarray, *, left: bool = False) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        z0, w0 = _hermite_nodes(24)
        rho = min(max(self.rho, 0.0), 0.999)
        shifted = (u[..., None] - self.drift - self.scale * math.sqrt(rho) * z0) / (self.scale * math.sqrt(1 - rho))
        return (special.ndtr(shifted) ** self.k) @ w0

    @functools.cached_property
    def _moments(self) -> tuple[float, float]:
        u = self.drift + self.scale * np.linspace(-8.0, 8.0, 2001)
        pdf = np.diff(self.cdf(u))
        mid = 0.5 * (u[1:] + u[:-1])
        mean = float(pdf @ mid)
        return mean, float(math.sqrt(max(pdf @ (mid - mean) ** 2, 0.0)))

    @property
    def mean(self) -> float:
        return self._moments[0]

    @property
    def std(self) -> float:
        return self._moments[1]


@dataclasses.dataclass(frozen=True, eq=False)
class SampledLaw(_SmoothLaw):
    """A per-step law given by samples (its CDF is the empirical one, linearly interpolated)."""

    samples: np.ndarray  # sorted

    def cdf(self, u: np.ndarray, *, left: bool = False) -> np.ndarray:
        n = len(self.samples)
        return np.interp(u, self.samples, (np.arange(n) + 0.5) / n, left=0.0, right=1.0)

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    @property
    def std(self) -> float:
        return float(self.samples.std())


@functools.lru_cache(maxsize=32)
def _pooled_sums(rate: float, windows: tuple[tuple[int, ...], ...], n_samples: int = 8192
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per sample and pooled position: active-input count S and standard-normal-weighted sum Z.

    The positions' windows overlap as their index sets say; spikes are Bernoulli(rate) over the union.
    A weight w_j = w_bar + sigma z_j then gives x = w_bar S + sigma Z at each position.
    """
    rng = np.random.default_rng(12345)
    union = max(max(w) for w in windows) + 1
    active = rng.random((n_samples, union)) < rate
    z = rng.standard_normal((n_samples, len(windows[0])))
    counts = np.stack([active[:, list(w)].sum(axis=1) for w in windows], axis=1).astype(np.float64)
    sums = np.stack([(active[:, list(w)] * z).sum(axis=1) for w in windows], axis=1)
    return counts, sums


@dataclasses.dataclass(frozen=True)
class SynapticInput:
    """The per-step input x reaching one layer's neurons: weight statistics times presynaptic moments.

    Args:
        fan_in: number of presynaptic units per neuron (``in_channels/groups * prod(kernel)`` for conv).
        weight_mean: mean of the weights, mu_w.
        weight_std: std of the weights, sigma_w.
        moments: presynaptic per-step moments.
        bias: constant added to x every step.
        centred_rows: every row sums exactly to ``fan_in * weight_mean`` (no quenched drift spread).
        law: per-step law; ``"auto"`` takes the shot-noise mixture for spike input with fewer than
            :data:`SHOT_NOISE_MAX_ACTIVE` active inputs per step, else the Gaussian.
        pool: positions pooled between the synapse and the neuron (1: none).
        pool_kind: ``"max"`` (:class:`MaxPooledLaw`) or ``"avg"`` (the mean of the positions).
        pool_correlation: correlation of the pooled positions' fluctuations (overlapping receptive fields).
        pool_windows: for spike input, each pooled position's inputs as indices into their union; the
            max-pooled law is then sampled (:class:`SampledLaw`) with the exact overlap and shot noise.
    """

    fan_in: int
    weight_mean: float
    weight_std: float
    moments: InputMoments
    bias: float = 0.0
    centred_rows: bool = False
    law: InputLaw = "auto"
    pool: int = 1
    pool_kind: Literal["max", "avg"] = "max"
    pool_correlation: float = 0.0
    pool_windows: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fan_in, (int, np.integer)) and not (
            isinstance(self.fan_in, float) and math.isfinite(self.fan_in) and self.fan_in.is_integer()
        ) or self.fan_in < 1:
            raise InputSpecError(f"fan-in must be a positive integer, got {self.fan_in}")
        for name in ("weight_mean", "weight_std", "bias"):
            if not math.isfinite(getattr(self, name)):
                raise InputSpecError(f"{name} must be finite, got {getattr(self, name)}")
        if self.weight_std < 0:
            raise InputSpecError(f"weight_std must be >= 0, got {self.weight_std}")
        if self.law not in ("auto", "gaussian", "shot_noise"):
            raise InputSpecError(f"law must be 'auto', 'gaussian' or 'shot_noise', got {self.law!r}")
        if self.law == "shot_noise" and not self.moments.spiking:
            raise InputSpecError("the shot-noise law needs spike input (InputMoments.spikes)")

    def replace(self, **changes: object) -> SynapticInput:
        return dataclasses.replace(self, **changes)

    # -- annealed and quenched statistics ----------------------------------------------------
    @property
    def mean(self) -> float:
        """E[x] = N mu_w m_a + b."""
        return self.fan_in * self.weight_mean * self.moments.mean + self.bias

    @property
    def variance(self) -> float:
        """Annealed Var[x] = N (sigma_w^2 q_a + mu_w^2 (q_a - m_a^2)) (drift spread included unless centred)."""
        return self.drift_spread**2 + self.noise_variance

    @property
    def drift_spread(self) -> float:
        """Std across neurons of the per-neuron drift m_i = sum_j W_ij m_j + b.

        sqrt(N) sigma_w sqrt(m_a^2 + u^2) with u the spread of the units' rates; with centred rows only
        the part from the units' spread remains, sqrt(N) sigma_w u.
        """
        u = self.moments.unit_spread
        second = u * u if self.centred_rows else self.moments.mean**2 + u * u
        return math.sqrt(self.fan_in * second) * self.weight_std

    @property
    def noise_variance(self) -> float:
        """Per-step variance of x around a neuron's own drift: N (sigma_w^2 + mu_w^2)(q_a - m_a^2 - u^2)."""
        return self.fan_in * (self.weight_std**2 + self.weight_mean**2) * self.moments.temporal_variance

    @property
    def active_inputs(self) -> float:
        """Expected number of active inputs per step, N m_a (spike input)."""
        return self.fan_in * self.moments.mean

    @property
    def uses_shot_noise(self) -> bool:
        if self.law == "shot_noise":
            return True
        return (
            self.law == "auto"
            and self.moments.spiking
            and 0.0 < self.moments.mean < 1.0
            and self.active_inputs < SHOT_NOISE_MAX_ACTIVE
        )

    def with_moments(self, moments: InputMoments) -> SynapticInput:
        return dataclasses.replace(self, moments=moments)

    def quenched_nodes(self, n_nodes: int = 9, spread: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Hermite nodes (per-neuron drifts m_i) and weights for averaging over the drift spread
        (or over a normal law of std ``spread`` around the mean drift).

        Exact for polynomials of degree < 2 n_nodes in m_i; one node when there is no spread.
        """
        spread = self.drift_spread if spread is None else spread
        if spread == 0.0 or n_nodes <= 1:
            return np.array([self.mean]), np.array([1.0])
        z, w = _hermite_nodes(n_nodes)
        return self.mean + spread * z, w

    def step_law(self, drift: float | None = None) -> MixtureLaw | MaxPooledLaw | SampledLaw:
        """Per-step law of x for a neuron whose own mean drift is ``drift`` (default: the population mean)."""
        drift = self.mean if drift is None else float(drift)
        if self.pool > 1 and self.pool_kind == "max" and self.pool_windows and self.moments.spiking:
            counts, sums = _pooled_sums(self.moments.mean, self.pool_windows)
            p = max(self.moments.mean, 1e-12)
            row_mean = (drift - self.bias) / (self.fan_in * p)
            x = row_mean * counts + self.weight_std * sums + self.bias
            return SampledLaw(np.sort(x.max(axis=1)))
        if self.pool > 1:
            std = math.sqrt(self.noise_variance)
            rho = self.pool_correlation
            if self.pool_kind == "avg":
                std *= math.sqrt((1 + (self.pool - 1) * rho) / self.pool)
            elif std > 0:
                return MaxPooledLaw(drift, std, self.pool, rho)
            return MixtureLaw(np.array([1.0]), np.array([drift]), np.array([std]))
        if not self.uses_shot_noise:
            return MixtureLaw(np.array([1.0]), np.array([drift]), np.array([math.sqrt(self.noise_variance)]))
        n, p = self.fan_in, self.moments.mean
        k, pmf, units = self.active_count_law()
        row_mean = (drift - self.bias) / (n * p) if p > 0 else self.weight_mean  # the neuron's own w_bar_i
        var_k = self.weight_std**2 * k * (units - k) / max(units - 1, 1)
        return MixtureLaw(pmf, k * row_mean + self.bias, np.sqrt(var_k))

    def active_count_law(self) -> tuple[np.ndarray, np.ndarray, int]:
        r"""Law of the number K of active inputs in a step: (support, pmf, effective units n').

        K is a sum of N Bernoulli units whose rates spread by u across units: mean N m, variance
        N (m - m^2 - u^2), less than Binomial(N, m) gives. It is taken as Binomial(n', p') with the same
        mean and variance, n' = N m^2 / (m^2 + u^2) units at p' = N m / n' (the shot-noise mixture then
        also has the right within-K variance, sigma_w^2 K (n' - K) / (n' - 1)). Units that fire partly
        together (``correlation`` c > 0) make K overdispersed by chi = 1 + (N - 1) c (the synchrony
        index): Beta-Binomial(n', p') with intra-class correlation (chi - 1) / (n' - 1); or, when the moments
        give the common fluctuation's shape (``common_law``: equally likely relative rates rho_q, mean 1), a
        mixture of Binomial(n', p' rho'_q) over q, with rho'_q = 1 + s (rho_q - 1) and s set so that Var K is the
        same, n' p' (1 - p') chi: s^2 Var(rho) = (chi - 1)(1 - p') / (p' (n' - 1)). That shape is what the
        layer below predicts (its rate given its own input count): a correlated population's count is far less
        skewed than the Beta law of the same variance, and the next layer's synchrony follows the shape (measured
        on the 0.9/value, target 0.05, T = 25 stack: with the measured count law the density method gives chi
        4.49 and 8.96 for layers 10 and 30, measured 4.59 and 8.84; with the Beta law 3.99 and 7.11).
        """
        k, pmf, units = _active_count_law(int(self.fan_in), float(self.moments.mean), float(self.moments.unit_spread),
                                          float(self.moments.correlation), tuple(self.moments.common_law))
        return k.copy(), pmf.copy(), units


@functools.lru_cache(maxsize=64)
def _active_count_law(n: int, p: float, u: float, correlation: float,
                      common_law: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray, int]:
    """:meth:`SynapticInput.active_count_law` (the same for every quenched node of one drive: remembered)."""
    units = int(min(n, max(1, round(n * p * p / (p * p + u * u))))) if p > 0 else n
    pe = min(n * p / units, 1.0)
    k = np.arange(units + 1)
    chi = 1.0 + (n - 1) * correlation
    shape = np.asarray(common_law, dtype=np.float64)
    spread = float(shape.var()) if len(shape) > 1 else 0.0
    if chi > 1.0 and units > 1 and 0.0 < pe < 1.0 and spread > 0:
        scale = math.sqrt((chi - 1.0) * (1.0 - pe) / (pe * (units - 1)) / spread)
        rates = np.clip(pe * (1.0 + scale * (shape - shape.mean())), 0.0, 1.0)
        pmf = stats.binom.pmf(k[:, None], units, rates[None, :]).mean(axis=1)
    elif chi > 1.0 and units > 1 and 0.0 < pe < 1.0:
        icc = min((chi - 1.0) / (units - 1), 0.99)
        size = 1.0 / icc - 1.0
        pmf = stats.betabinom.pmf(k, units, pe * size, (1.0 - pe) * size)
    else:
        pmf = stats.binom.pmf(k, units, pe)
    keep = pmf > 1e-10
    return k[keep], pmf[keep] / pmf[keep].sum(), units
