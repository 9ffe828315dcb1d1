r"""The theory's solutions: pick sigma_w, then solve mu_w so that the predicted rate is the target.

Per layer (theory.md section 6): the input moments are those of the layer below; sigma_w is chosen by a
variance criterion; the monotone equation predicted_rate(mu_w) = target is solved for mu_w.

* ``random_walk``, ``wiener``, ``diffusion``, ``shot_noise`` -- the paper's solutions under their own
  assumptions: sigma_w from a fixed fluctuation level (free-membrane std = ``fluctuation`` x theta over
  the window), mu_w from the named predictor. Outside a predictor's regime the layer misses its target;
  that is what they are for: comparison.
* ``general`` (the default) -- variance propagation plus the density method. sigma_w by the criterion:

  - ``gain`` (default): the layer gain :math:`G = d\log r_{out}/d\log r_{in}` equals ``gain``
    (0.5): errors then shrink with depth instead of growing like :math:`G^l` (theory.md section 6);
  - ``fluctuation``: free-membrane std = ``fluctuation`` x (theta - free-membrane mean);
  - ``backward``: gradient gain :math:`N_{out}(\mu_w^2+\sigma_w^2)E[f'(H)^2] = 1`, with
    :math:`E[f'(H)^2]` over the membrane distribution with threshold (theory.md section 5).

  mu_w is re-solved at every candidate sigma_w.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

from scipy import optimize

from ..errors import InfeasibleTargetError
from ..inputs import InputMoments
from ..predictors import PREDICTORS, density, layer_gain
from ..solve import _secant, solve_weight_mean
from ._base import LayerSpec, Strategy

Criterion = Literal["gain", "fluctuation", "backward"]


def _fluctuation_sigma(layer: LayerSpec, moments: InputMoments, level: float, n_steps: int | None) -> float:
    """sigma_w at which the free membrane's std over the window (T, or 100 steps) is ``level`` x theta."""
    window = n_steps or 100
    stds = []
    for group, _ in layer.neuron.groups():
        _, s2 = group.kernel_sums(window)
        step_var = layer.fan_in * max(moments.temporal_variance, 1e-12)
        stds.append(level * group.threshold / math.sqrt(step_var * s2))
    return float(min(stds))


def _mean_guess(solved: dict[float, float], slopes: dict[float, float],
                log_sigma: float) -> tuple[float, float | None]:
    """A starting mu_w for the candidate ``log_sigma`` and the slope for its Newton step, from the candidates
    solved so far: mu_w is smooth in log sigma, so the line through the two nearest is closer than the nearest
    alone; the slope is the nearest's. The first candidate starts from mu_w = 0 by secant steps (log rate is
    nearly linear in mu_w there), which the solver abandons for its bracketing if they do not converge.

    Over the 48 first layers of benchmarks/depth.py the line saved 65 evaluations and mu_w = 0 another 245
    (of 1510), against the nearest candidate's mu_w and bracketing."""
    if not solved:
        return 0.0, None
    near = sorted(solved, key=lambda x: abs(x - log_sigma))
    guess = solved[near[0]]
    if len(near) > 1 and near[1] != near[0]:
        guess += (log_sigma - near[0]) * (solved[near[1]] - solved[near[0]]) / (near[1] - near[0])
    return guess, slopes.get(near[0])


class _PredictorSolution(Strategy):
    """sigma_w from a fixed fluctuation level; mu_w solved with one predictor."""

    predictor_name: ClassVar[str] = "density"

    def __init__(self, *, fluctuation: float = 0.3, **options: object) -> None:
        super().__init__(**options)
        if not fluctuation > 0:
            raise ValueError(f"fluctuation must be > 0, got {fluctuation}")
        self.fluctuation = fluctuation

    def options(self) -> dict:
        return {**super().options(), "fluctuation": self.fluctuation}

    def solve_mean(self, layer: LayerSpec, moments: InputMoments, target: float, n_steps: int | None,
                   sigma: float, guess: float | None = None, law: str = "auto", predictor: object = None,
                   **predictor_options: object) -> float:
        predictor = predictor or PREDICTORS[self.predictor_name]
        drive = self.drive(layer, moments, 0.0, sigma, law=law)
        try:
            return solve_weight_mean(layer.neuron, drive, target, n_steps=n_steps, predictor=predictor,
                                     layer=layer.name, guess=guess, **predictor_options)
        except ValueError as exc:
            if isinstance(exc, InfeasibleTargetError):
                raise
            raise InfeasibleTargetError(
                f"{layer.name}: strategy {self.name!r} cannot describe {layer.neuron.describe()} ({exc}); "
                "use method='general'"
            ) from None

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        sigma = _fluctuation_sigma(layer, moments, self.fluctuation, n_steps)
        return self.solve_mean(layer, moments, target, n_steps, sigma), sigma, 0.0


class RandomWalk(_PredictorSolution):
    """Non-leaky, mean-driven: mu_w from the random-walk rule (rate = drift / reset distance)."""

    name = "random_walk"
    predictor_name = "random_walk"


class Wiener(_PredictorSolution):
    """Non-leaky: mu_w from Wiener first-passage times (finite window from V0)."""

    name = "wiener"
    predictor_name = "wiener"


class Diffusion(_PredictorSolution):
    """Leaky, many small inputs: mu_w from Siegert's formula (stationary)."""

    name = "diffusion"
    predictor_name = "diffusion"


class ShotNoise(_PredictorSolution):
    """Leaky, sparse large inputs: mu_w from the shot-noise escape approximation (stationary)."""

    name = "shot_noise"
    predictor_name = "shot_noise"


#: how far (in log sigma_w) the gain criterion's search walks from its start: the roots over benchmarks/depth.py's
#: 48 configurations lie 0.45 below to 0.9 above the first start (up to 3.2 from the second, the window's
#: fluctuation). Unbounded, the walk of a layer whose G stays above the target (beta 1, value reset, T = 100,
#: input 0.206 spikes/step spread by 0.31) ended at sigma_w 3e6.
_SEARCH_REACH = math.log(100.0)


class General(_PredictorSolution):
    """Variance propagation plus the density method; sigma_w by ``criterion`` (default: layer gain 0.5).

    Args:
        criterion: ``"gain"``, ``"fluctuation"`` or ``"backward"``.
        gain: the target layer gain G for the gain criterion.
        fluctuation: the free-membrane std / distance to threshold for the fluctuation criterion.
        search_cells: density grid cells used while searching sigma_w (the final mu_w uses ``n_cells``).
    """

    name = "general"
    predictor_name = "density"
    reuses_plans = True

    def __init__(self, *, criterion: Criterion = "gain", gain: float = 0.5, fluctuation: float = 1.0,
                 search_cells: int = 80, **options: object) -> None:
        super().__init__(fluctuation=fluctuation, **options)
        if criterion not in ("gain", "fluctuation", "backward"):
            raise ValueError(f"criterion must be 'gain', 'fluctuation' or 'backward', got {criterion!r}")
        if not 0.0 < gain:
            raise ValueError(f"the target gain must be > 0, got {gain}")
        self.criterion: Criterion = criterion
        self.gain = gain
        self.search_cells = search_cells
        self._last_sigma: dict[tuple, float] = {}
        self._family_sigma: dict[tuple, tuple[float, float, float | None]] = {}

    def options(self) -> dict:
        return {**super().options(), "criterion": self.criterion, "gain": self.gain}

    def _criterion(self, layer: LayerSpec, moments: InputMoments, target: float,
                   n_steps: int | None) -> tuple[Callable[[float], tuple[float, float]], dict[float, float],
                                                 dict[float, float]]:
        """(log sigma -> (criterion residual, mu_w), decreasing in sigma; the mu_w solved so far by log sigma;
        their slopes d log rate / d mu_w).

        Each residual solves mu_w from the two nearest solved candidates' mu_w (linear in log sigma) with a
        Newton first step (their slope), and is remembered: the search re-visits points."""
        # a coarse, fast density for the search: fewer cells, but the planning's own drift quadrature
        # (density.quadrature_nodes). With 5 nodes fixed, where the drifts spread far wider than the membrane
        # noise (beta 1 and 0.99, subtract reset, target 0.1, T = 100) the search's G was 0.50 where the plan's
        # was 0.42-0.43 (0.43 with 320 cells): sigma_w 25% too large, and a fifth of the next layer's neurons
        # silent in 64 samples. Neurons with a synaptic filter keep 5 nodes: each of their evaluations steps a
        # 2-D grid, and the planning's quadrature made a 6-layer Norse LIF stack (T = 100) take 15.0-16.0 s to
        # plan instead of 11.9-13.4 s (runs taken in turn), for a layer-1 G of 0.51 instead of 0.53
        cells = {"n_cells": self.search_cells, "n_nodes": 5 if layer.neuron.is_filtered else None}
        solved: dict[float, float] = {}
        slopes: dict[float, float] = {}  # d log rate / d mu_w at each solved log sigma (a Newton step's slope)
        values: dict[float, tuple[float, float]] = {}  # brentq re-evaluates the bracket's ends: remembered

        def residual(log_sigma: float) -> tuple[float, float]:
            if log_sigma not in values:
                values[log_sigma] = compute(log_sigma)
            return values[log_sigma]

        def compute(log_sigma: float) -> tuple[float, float]:
            sigma = math.exp(log_sigma)
            guess, slope = _mean_guess(solved, slopes, log_sigma)
            info: dict = {}
            try:
                # the search uses the Gaussian input law (fast); the final mu_w uses the exact one
                mu = self.solve_mean(layer, moments, target, n_steps, sigma, guess=guess, slope=slope, info=info,
                                     xtol=1e-3, law="gaussian", **cells)
            except InfeasibleTargetError:  # the target cannot be reached with this sigma: no verdict here
                return math.nan, math.nan
            solved[log_sigma] = mu
            if "slope" in info or slope:
                slopes[log_sigma] = info.get("slope", slope)
            drive = self.drive(layer, moments, mu, sigma, law="gaussian")
            if self.criterion == "gain":
                g = layer_gain(density, layer.neuron, drive, n_steps=n_steps, **cells)
                return (math.log(g / self.gain) if g > 0 else -math.inf), mu
            if self.criterion == "fluctuation":
                distance, free_std = 0.0, 0.0
                for group, w in layer.neuron.groups():
                    m, s = group.free_membrane(drive.mean, drive.noise_variance, n_steps or 100)
                    distance += w * (group.threshold - m)
                    free_std += w * s
                # small sigma: mean-driven (distance <= 0, residual +inf); large sigma: std/distance tends to
                # the z-score of the target rate, so the residual decreases through zero where a root exists
                if distance <= 0:
                    return math.inf, mu
                return math.log(free_std / (self.fluctuation * distance)), mu
            pred = density(layer.neuron, drive, n_steps=n_steps, surrogate=self.surrogate, **cells)
            grad = layer.outputs * (mu * mu + sigma * sigma) * (pred.surrogate_moment or 0.0)
            return (-math.log(grad) if grad > 0 else math.inf), mu

        return residual, solved, slopes

    def _rate_secant(self, layer: LayerSpec, moments: InputMoments, target: float, n_steps: int | None,
                     sigma: float, mu: float, slope: float, steps: int = 5) -> tuple[float, float]:
        """(mu_w, d log rate / d mu_w) after secant steps on the rate itself from ``mu``, the first a Newton step
        with ``slope`` (d log rate / d mu_w at the target, from the layer before), for the solver to finish
        (its first evaluation is remembered: nothing more where these steps met its tolerance).

        The solver's steps on log rate took 3-5 evaluations per deeper layer of a stack where the input spread
        still grows (rates 10-90% off at the layer before's weights): its first step used a slope of the layer
        before, and log rate is concave in mu_w, so Newton steps on it fall short by about half the squared
        miss; the rate itself is much closer to linear. The prediction at ``mu`` is usually remembered
        (:meth:`_reuse` made it)."""
        points: list[tuple[float, float]] = []
        for _ in range(steps):
            rate = self.predict_memo(layer, self.drive(layer, moments, mu, sigma), n_steps).rate
            if not rate > 0 or abs(math.log(rate / target)) < 5e-4:  # dead, or within the solver's tolerance
                break
            points.append((mu, rate))
            if len(points) > 1:
                (x0, r0), (x1, r1) = points[-2:]
                if (r1 - r0) * (x1 - x0) <= 0:  # not increasing: leave it to the solver
                    break
                slope = (r1 - r0) / (x1 - x0) / target
            mu -= (rate / target - 1.0) / slope
        return mu, slope

    def _final_mean(self, layer: LayerSpec, moments: InputMoments, target: float, n_steps: int | None, sigma: float,
                    guess: float, slope: float | None, family: tuple) -> float:
        """mu_w at the planning resolution, from ``guess`` by secant steps on the rate (:meth:`_rate_secant`; the
        first with ``slope``, d log rate / d mu_w from the search or the family's last solve), then the solver;
        the last evaluation is the one :meth:`evaluate` reuses.

        (A Newton first step on log rate from the family's slope once left tests/test_calibrate.py's recurrent
        layer at 9.5% instead of 5.8% after calibration; with these steps that test passes.)"""
        if self.carries_autocorrelation(layer) and self.rows_centred(layer):
            predictor, options = None, {"n_cells": self.n_cells}
        else:
            def predictor(neuron: object, drive: object, n_steps: int | None = None, **_: object) -> object:
                return self.predict_memo(layer, drive, n_steps)
            options = {}
            if slope:
                guess, slope = self._rate_secant(layer, moments, target, n_steps, sigma, guess, slope)
        info: dict = {}
        mu = self.solve_mean(layer, moments, target, n_steps, sigma, guess=guess, slope=slope, info=info,
                             predictor=predictor, **options)
        # the next, deeper layer starts from here
        self._family_sigma[family] = (sigma, mu, info.get("slope", slope))
        if info.get("slope", slope):
            # and a refinement of this plan (Strategy._refine_mean) starts with a Newton step: its probe step
            # (a twentieth of the mean's scale) overshot a 0.2% miss to -8% (beta 1, subtract, T = 100)
            self._refine_slopes[self._slope_key(layer, target, n_steps)] = info.get("slope", slope)
        return mu

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        # sigma_w is searched once per layer type and input rate; layers that differ only in the spread of
        # their input rates (deeper layers of a stack) keep it and re-solve mu_w alone
        family = self._family_key(layer, moments, target, n_steps)
        if family in self._family_sigma:
            sigma, mu, slope = self._family_sigma[family]
            recent = self._recent.get(family)
            if recent is not None and recent.weight_std == sigma:  # where _reuse's evaluation was (remembered)
                mu = self._trend_mean(layer, moments, target, n_steps, recent.weight_mean, sigma)
            return self._final_mean(layer, moments, target, n_steps, sigma, mu, slope, family), sigma, 0.0
        residual, solved, slopes = self._criterion(layer, moments, target, n_steps)
        # start from the last solution of a similar layer (same neuron and fan-in), else from sigma_w at which
        # one step's input fluctuates by theta: G = 0.5 needs a fluctuation-driven layer, and over the 48
        # configurations of benchmarks/depth.py the root lies 0.45 below to 0.9 above it in log sigma (the
        # window's free-membrane fluctuation, the former start, lay up to 3.2 below: 2-3 more steps). Where the
        # target is out of reach there, the search starts from the window's fluctuation as before
        warm = self._last_sigma.get(layer.key())
        if warm:
            x0, step = math.log(warm), math.log(1.15)
        else:
            x0, step = math.log(_fluctuation_sigma(layer, moments, 1.0, 1)), math.log(1.5)
            if math.isnan(residual(x0)[0]):
                x0, step = math.log(_fluctuation_sigma(layer, moments, 1.0, n_steps)), math.log(2.0)
        lo = hi = x0
        f_lo = f_hi = residual(x0)[0]
        if math.isnan(f_lo):
            raise InfeasibleTargetError(
                f"{layer.name}: no weight mean gives {target} spikes/step for {layer.neuron.describe()} "
                f"at weight std {math.exp(x0):.3g}; lower the target or lengthen the window"
            )
        tried = [(abs(f_lo), x0)]
        for _ in range(12):  # bracket the root, walking towards it; stop where the target becomes unreachable
            if max(hi + step - x0, x0 - lo + step) > _SEARCH_REACH:
                break
            if f_lo > 0 and f_hi > 0:
                f_new = residual(hi + step)[0]
                if math.isnan(f_new):
                    break
                lo, f_lo, hi, f_hi = hi, f_hi, hi + step, f_new
                tried.append((abs(f_hi), hi))
            elif f_lo < 0 and f_hi < 0:
                f_new = residual(lo - step)[0]
                if math.isnan(f_new):
                    break
                hi, f_hi, lo, f_lo = lo, f_lo, lo - step, f_new
                tried.append((abs(f_lo), lo))
            else:
                break
            step *= 1.5
        if f_lo > 0 and f_hi > 0 or f_lo < 0 and f_hi < 0:
            # the criterion cannot be met (e.g. G is 1 for any sigma of a non-leaky stationary neuron): keep the
            # layer type's last weight std where there is one (a deeper layer whose input rate moved off the
            # target), else take the candidate closest to it
            sigma = warm if warm else math.exp(min(tried)[1])
        else:
            sigma = math.exp(optimize.brentq(lambda x: residual(x)[0], lo, hi, xtol=0.05))
        self._last_sigma[layer.key()] = sigma
        nearest = min(solved, key=lambda x: abs(x - math.log(sigma)))
        mu = self._final_mean(layer, moments, target, n_steps, sigma, solved[nearest], slopes.get(nearest), family)
        return self._converged_mean(layer, moments, target, n_steps, sigma, mu, family), sigma, 0.0

    def _converged_mean(self, layer: LayerSpec, moments: InputMoments, target: float, n_steps: int | None,
                        sigma: float, mu: float, family: tuple) -> float:
        r"""The weight mean that gives ``target`` on the grid-converged density, from ``mu`` (its solution at the
        planning resolution n), for the first layer of a family (a stack's first layer).

        The density method's grid error falls as the square of the cell width: over the first layers of the
        depth grid, n = 160 cells gave rates 1.6% (beta 1, subtract reset, 0.05 spikes/step, T = 100) to 0.01%
        off the value of 1280 cells. Richardson's estimate from n/2 and n cells,
        :math:`r \approx r_n + (r_n - r_{n/2})/3`, was within 0.14% of it in all six layers checked, so this
        layer is solved for :math:`r_n = \mathrm{target} - (r_n - r_{n/2})/3` (the correction taken as constant
        over the step, with the family's slope) and its plan reports the corrected rate. Deeper layers keep the
        planning resolution (their plans are judged within x2, and each correction costs two evaluations).
        Plain neurons over a window only (the filtered neurons' 2-D grid converges differently).
        """
        if n_steps is None or not layer.neuron.is_plain:
            return mu
        drive = self.drive(layer, moments, mu, sigma)
        fine = self.predict_memo(layer, drive, n_steps).rate
        coarse = density(layer.neuron, drive, n_steps=n_steps, n_cells=self.n_cells // 2).rate
        correction = (fine - coarse) / 3.0
        if not abs(correction) > self.SOLVE_TOLERANCE * target or not fine > 0:
            return mu
        slope = self._family_sigma[family][2] if family in self._family_sigma else None
        corrected = _secant(lambda m: self.predict_memo(layer, self.drive(layer, moments, m, sigma), n_steps).rate,
                            mu, 0.05 * sigma / math.sqrt(max(layer.fan_in * moments.mean, 1.0)), target - correction,
                            xtol=0.0, ftol=self.SOLVE_TOLERANCE, max_iter=4, slope=slope)
        if corrected is None:
            return mu
        self._rate_corrections[(layer.key(), moments, n_steps, corrected, sigma)] = correction
        return corrected
