r"""Solve a layer's weight mean for a target rate (theory.md section 6, the 1-D monotone equation).

With the weight std fixed, the predicted rate increases monotonically with the weight mean
:math:`\mu_w` (it raises every neuron's drift :math:`N\mu_w m_a`), so
:math:`\text{predicted\_rate}(\mu_w) = r^*` has one root, found by bracketing and Brent's method.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import optimize

from .errors import InfeasibleTargetError
from .inputs import SynapticInput
from .neuron import CanonicalNeuron
from .predictors import RatePrediction, density

Predictor = Callable[..., RatePrediction]


def solve_weight_mean(
    neuron: CanonicalNeuron,
    drive: SynapticInput,
    target_rate: float,
    *,
    n_steps: int | None = None,
    predictor: Predictor = density,
    xtol: float = 1e-4,
    guess: float | None = None,
    slope: float | None = None,
    info: dict | None = None,
    layer: str = "layer",
    **options: object,
) -> float:
    """The weight mean mu_w at which ``predictor`` gives ``target_rate`` (spikes/step), other statistics fixed.

    Args:
        neuron: canonical neuron of the layer.
        drive: the layer's synaptic input; its ``weight_mean`` is the starting point and is replaced.
        target_rate: wanted population rate, in (0, 1).
        n_steps: window T from V0, or None for stationary.
        predictor: any predictor of :mod:`snninit_plugins.predictors`.
        xtol: tolerance on mu_w, relative to the weight mean that moves the drift by one threshold.
        guess: a nearby solution (e.g. the previous candidate's): first tried by secant steps on log rate.
        slope: d log(rate) / d mu_w near ``guess`` (e.g. from the previous layer's solve, ``info["slope"]``):
            the first step from ``guess`` is then a Newton step instead of a fixed probe.
        info: a dict that receives ``"slope"``, the last secant slope, or after bracketing the slope through
            the root and the nearest point evaluated (for the next, similar solve).
        layer: the layer's name, for error messages.

    Raises:
        InfeasibleTargetError: the target is outside (0, 1), the input is silent, or no weight mean
            reaches it; the message says what to change.
    """
    if not (math.isfinite(target_rate) and 0.0 < target_rate < 1.0):
        raise InfeasibleTargetError(
            f"{layer}: target rate {target_rate!r} spikes/step is impossible; "
            "a neuron fires at most once per step, so choose a target in (0, 1)"
        )
    m_a = drive.moments.mean
    if m_a <= 0.0:
        raise InfeasibleTargetError(
            f"{layer}: the input is silent (mean {m_a}), so no weight reaches {target_rate}; "
            "fix the layer below or use a bias"
        )

    values: dict[float, float] = {}  # brentq re-evaluates the bracket's ends, and the miss is checked at its root

    def excess(mu: float) -> float:
        if mu not in values:
            values[mu] = predictor(neuron, drive.replace(weight_mean=mu), n_steps=n_steps, **options).rate - target_rate
        return values[mu]

    # the weight mean that moves the drift by one threshold sets the scale of the search
    theta = float(max(abs(float(g.threshold)) for g, _ in neuron.groups()))
    gain = float(min(float(g.gain) for g, _ in neuron.groups()))
    unit = step = theta / (gain * drive.fan_in * m_a)
    if guess is not None:
        # the rate's relative tolerance follows xtol (a coarse search needs no 0.02% precision)
        mu = _secant(lambda x: excess(x) + target_rate, guess, 0.02 * unit, target_rate, xtol * step,
                     ftol=max(5e-4, xtol), slope=slope, info=info)
        if mu is not None:
            return mu
    lo, hi = drive.weight_mean - unit, drive.weight_mean + unit
    f_lo, f_hi = excess(lo), excess(hi)
    for _ in range(40):
        if f_lo < 0:
            break
        lo -= 2 * (hi - lo)
        f_lo = excess(lo)
    for _ in range(40):
        if f_hi > 0:
            break
        lo, f_lo = hi, f_hi
        hi += 2 * unit
        unit *= 2
        f_hi = excess(hi)
    if not (f_lo < 0 < f_hi):
        raise InfeasibleTargetError(
            f"{layer}: no weight mean gives {target_rate} spikes/step for {neuron.describe()} "
            f"(rate ranges {f_lo + target_rate:.3g}..{f_hi + target_rate:.3g}); "
            "lower the target, raise the window T, or change the reset/threshold"
        )
    mu = float(optimize.brentq(excess, lo, hi, xtol=0.1 * xtol * step, maxiter=100))
    miss = excess(mu)
    if info is not None and miss + target_rate > 0:  # log rate's slope to the nearest point at least xtol away
        others = [x for x in values if abs(x - mu) >= xtol * step and values[x] + target_rate > 0]
        if others:
            near = min(others, key=lambda x: abs(x - mu))
            slope = (math.log(values[near] + target_rate) - math.log(miss + target_rate)) / (near - mu)
            if slope > 0:
                info["slope"] = slope
    if abs(miss) > 0.05 * target_rate:  # the rate jumps over the target (e.g. no input noise)
        raise InfeasibleTargetError(
            f"{layer}: the predicted rate jumps past {target_rate} spikes/step at weight mean {mu:.4g} "
            f"(it reaches {miss + target_rate:.3g}); the input has too little variability for this target: "
            "raise the weight std, the fan-in or the input rate, or choose another target"
        )
    return mu


def _secant(rate: Callable[[float], float], x0: float, dx: float, target: float, xtol: float,
            ftol: float = 2e-4, max_iter: int = 8, slope: float | None = None,
            info: dict | None = None) -> float | None:
    """Secant iteration on log(rate(x)) = log(target) from x0; None when it does not converge quickly.

    ``x0`` itself is returned when it already meets ``ftol``; with a known ``slope`` (d log rate / dx) the
    first step is a Newton step (one evaluation fewer than a probe at ``x0 +- dx``). ``info["slope"]``
    receives the last secant slope.
    """
    def f(x: float) -> float:
        r = rate(x)
        return math.log(r / target) if r > 0 else -math.inf

    x_prev, f_prev = x0, f(x0)
    if math.isfinite(f_prev) and abs(f_prev) < ftol:
        return x0
    if slope is not None and math.isfinite(f_prev) and slope > 0 and abs(f_prev / slope) < 1000 * dx:
        x = x0 - f_prev / slope
    else:
        x = x0 + (dx if f_prev < 0 else -dx)
    fx = f(x)
    for _ in range(max_iter):
        if not (math.isfinite(fx) and math.isfinite(f_prev)) or fx == f_prev:
            return None
        if info is not None and (fx - f_prev) / (x - x_prev) > 0:
            info["slope"] = (fx - f_prev) / (x - x_prev)
        if abs(fx) < ftol:
            return x
        x_new = x - fx * (x - x_prev) / (fx - f_prev)
        if abs(x_new - x) > 1000 * dx:
            return None
        x_prev, f_prev, x = x, fx, x_new
        fx = f(x)
        if abs(x - x_prev) < xtol and abs(fx) < 5 * ftol:
            return x
    return None
