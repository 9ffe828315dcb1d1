r"""What a strategy is: layer in, plan of numbers out (theory.md sections 5-6).

A :class:`Strategy` turns a :class:`LayerSpec` (canonical neuron, fan-in, fan-out), the input moments
of the layer below, a target rate and a window into a :class:`LayerPlan`: weight mean and std, bias, row
centring, and what the theory expects of the layer (rate and its spread across neurons, free-membrane
mean and std, layer gain G, gradient gain). Strategies never touch tensors.

:func:`plan_network` plans a stack from the input up, carrying each layer's predicted output rate (and
the spread of rates across its neurons) on as the next layer's input, and solves identical layers once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar, Literal

from ..errors import InfeasibleTargetError
from ..inputs import InputMoments, SynapticInput
from ..neuron import CanonicalNeuron
from ..predictors import RatePrediction, density, layer_gain
from ..predictors.density import averaged_spread, quadrature_nodes, rise_of
from ..solve import _secant
from ..surrogates import SURROGATES, Surrogate

WeightLaw = Literal["normal", "uniform"]
#: rate error (|log(rate / target)|) within which a deeper layer keeps a similar layer's plan, and within which a
#: planned rate is carried on as its target (so that the next layer is unaffected). Deep layers are judged within
#: x2, and the depth grid's layer 50 is off by a median 10%: at 0.1%, a stack whose every layer's input differs
#: (the rise moving later) took two or three evaluations a layer (with the window options, 2.4 s against 1.9 s
#: at 1%, 0.99/subtract/0.05/T = 25); at 1%, 4 of the 48 stacks took 1.04-1.36 s, at 3% none over 1 s, the
#: depth grid passing the same 48 stacks on seeds 0-2 (benchmarks/results/planning_time.txt, depth_seeds.txt).
REUSE_TOLERANCE = 3e-2
#: "preserve": every layer's target is the rate it receives (the network's input rate).
TargetRate = float | Sequence[float] | Literal["preserve"]


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """The synapse-plus-neuron unit a strategy plans.

    Args:
        name: the layer's name (used in reports and error messages).
        neuron: the canonical form of the neuron the synapse feeds.
        fan_in: inputs per neuron (``in_channels/groups * prod(kernel)`` for a convolution).
        fan_out: outputs per input unit (for Glorot and the gradient gain); defaults to fan_in.
        default_weight_std: the framework's own init std (PyTorch: 1/sqrt(3 fan_in)), for ``default``.
        pool, pool_kind, pool_correlation: pooling of the synaptic current before the neuron (see
            :class:`~snninit_plugins.inputs.SynapticInput`).
    """

    name: str
    neuron: CanonicalNeuron
    fan_in: int
    fan_out: int | None = None
    default_weight_std: float | None = None
    pool: int = 1
    pool_kind: Literal["max", "avg"] = "max"
    pool_correlation: float = 0.0
    pool_windows: tuple[tuple[int, ...], ...] | None = None
    #: the rows act as centred whatever the strategy's option (a BatchNorm before the neuron removes each
    #: channel's own mean drive)
    centred_rows: bool = False

    def __post_init__(self) -> None:
        if int(self.fan_in) != self.fan_in or self.fan_in < 1:
            raise InfeasibleTargetError(
                f"{self.name}: fan-in {self.fan_in} is not a positive integer; a layer without inputs cannot be "
                "initialised (check the weight's shape)"
            )

    @property
    def outputs(self) -> int:
        return self.fan_out or self.fan_in

    def key(self) -> tuple:
        """Everything but the name: identical layers share one solve."""
        return (self.neuron, self.fan_in, self.fan_out, self.default_weight_std, self.pool, self.pool_kind,
                self.pool_correlation, self.pool_windows, self.centred_rows)


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """One layer's weight statistics and what the theory predicts for them."""

    name: str
    strategy: str
    weight_mean: float
    weight_std: float
    bias: float
    centred_rows: bool
    weight_law: WeightLaw
    keep_weights: bool
    input: InputMoments
    target_rate: float | None
    rate: float
    rate_spread: float
    free_mean: float
    free_std: float
    gain: float
    gradient_gain: float
    in_regime: bool
    regime: str
    #: rho(d), d = 1, 2, ... of a neuron's output spike train (density method), carried to the next layer
    autocorrelation: tuple[float, ...] = ()
    #: correlation of two neurons' spikes in one step (they share their inputs), carried to the next layer
    correlation: float = 0.0
    #: the shape of the population rate's common fluctuation (equally likely values relative to its mean),
    #: carried to the next layer with ``correlation``
    common_law: tuple[float, ...] = ()
    #: the first steps' rate relative to the rest of the window (density.rise_of the predicted per-step rates),
    #: carried to the next layer by strategies with ``window_onset``
    rise: tuple[float, ...] = ()
    #: how much later than ``rise`` the output starts, a fraction of a step (InputMoments.rise_delay)
    rise_delay: float = 0.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input"] = {"mean": self.input.mean, "second": self.input.second, "unit_spread": self.input.unit_spread,
                      "correlation": self.input.correlation}
        return d

    def output_moments(self) -> InputMoments:
        """What the next layer receives: spikes at the predicted rate, spread and correlated as predicted.

        A rate within :data:`REUSE_TOLERANCE` of the target (in log rate, as a refinement meets it) is carried
        as the target itself, so that identical layers downstream share one solve.
        """
        rate = min(max(self.rate, 0.0), 1.0)  # a silent layer's prediction can come out as -1e-17
        if self.target_rate and rate > 0 and abs(math.log(rate / self.target_rate)) < REUSE_TOLERANCE:
            rate = self.target_rate
        rho = tuple(round(r, 3) for r in self.autocorrelation)
        while rho and rho[-1] == 0.0:
            rho = rho[:-1]
        common = tuple(round(r, 1) for r in self.common_law) if self.correlation else ()
        return InputMoments.spikes(_round(rate), _round(self.rate_spread, 2), rho, _round(self.correlation, 2),
                                   common, self.rise, self.rise_delay)


def _round(x: float, digits: int = 4) -> float:
    """Round to significant digits so that identical layers after the first hit the plan cache."""
    return 0.0 if x == 0 or not math.isfinite(x) else float(f"{x:.{digits}g}")


class Strategy:
    """Base class. Subclasses set :attr:`name` and implement :meth:`weights`.

    Args:
        weight_law: ``"normal"`` or ``"uniform"`` (same mean and std).
        centred_rows: make every row sum exactly to ``fan_in * mu_w`` (no quenched drift spread).
        surrogate: surrogate derivative name (:data:`~snninit_plugins.surrogates.SURROGATES`) for the
            gradient gain.
        n_cells: grid cells of the density method used for predictions.
        window_offset: carry the output autocorrelation of subtract-reset layers without centred rows too,
            so that the next layer takes its bursty input as a per-sample offset over the window
            (:func:`~snninit_plugins.inputs.window_offset_variance`). Keeps long-window stacks of bursty
            near-perfect integrators on target (README, How deep stacks behave). On by default.
        window_onset: carry the rise of each layer's output (its first steps' rate relative to the rest of the
            window, every layer starting at V0: :func:`~snninit_plugins.predictors.density.rise_of`) to the
            next layer, whose first steps the density method then steps at their own input levels
            (:attr:`~snninit_plugins.inputs.InputMoments.rise`), evaluated at the nearest whole onset
            (:meth:`~snninit_plugins.inputs.InputMoments.aligned_onset`). Keeps short-window stacks whose deep
            layers start later and later in the window on target. On by default. With both options
            (benchmarks/results/depth*.txt) every stack of the depth grid passes at depths 20 and 50 on seeds
            0-2; without them, 45-46 of 48 at depth 50 (benchmarks/results/depth_seeds.txt, rows general+none).
    """

    name: ClassVar[str] = "base"
    #: Whether the strategy solves for a target rate (baselines do not).
    targets_rate: ClassVar[bool] = True
    #: Whether a BatchNorm between synapse and neuron gets its affine parameters from the plan (theory.md
    #: section 8); the ANN baselines leave it at (1, 0), as their ANN recipes do.
    sets_batchnorm: ClassVar[bool] = True
    #: Whether a deeper identical layer first tries the last similar layer's plan (:meth:`_reuse`); only for
    #: strategies that solve with the density method, with which the plan's rate is checked.
    reuses_plans: ClassVar[bool] = False

    def __init__(self, *, weight_law: WeightLaw = "normal", centred_rows: bool = False,
                 surrogate: str = "atan", n_cells: int = 160, window_offset: bool = True,
                 window_onset: bool = True) -> None:
        if weight_law not in ("normal", "uniform"):
            raise ValueError(f"weight_law must be 'normal' or 'uniform', got {weight_law!r}")
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; available: {', '.join(sorted(SURROGATES))}")
        self.weight_law: WeightLaw = weight_law
        self.centred_rows = centred_rows
        self.surrogate_name = surrogate
        self.surrogate: Surrogate = SURROGATES[surrogate]()
        self.n_cells = n_cells
        self.window_offset = window_offset
        self.window_onset = window_onset
        self._cache: dict[tuple, LayerPlan] = {}
        #: the last plan per layer type, target and input rate: a deeper identical layer tries it first
        self._recent: dict[tuple, LayerPlan] = {}
        #: density predictions at the planning resolution, by (neuron, drive, window, flags); bounded
        self._memo: dict[tuple, RatePrediction] = {}
        #: d ln r / d mu_w of the last refinement of a similar layer's plan (:meth:`_refine_mean`), by layer type
        self._refine_slopes: dict[tuple, float] = {}
        #: the last two plans' (input unit spread, weight mean, weight std) per key of :attr:`_recent`
        self._trend: dict[tuple, list[tuple[float, float, float]]] = {}
        #: (layer type, input, window, mu_w, sigma_w) -> the grid correction of a solved layer's rate, added to the
        #: rate its plan reports (General._converged_mean)
        self._rate_corrections: dict[tuple, float] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options()})"

    def options(self) -> dict:
        return {"weight_law": self.weight_law, "centred_rows": self.centred_rows, "surrogate": self.surrogate_name,
                "window_offset": self.window_offset, "window_onset": self.window_onset}

    # -- the part a strategy defines ---------------------------------------------------------
    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        """Return (weight mean, weight std, bias) for this layer."""
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------------
    def drive(self, layer: LayerSpec, moments: InputMoments, mu: float, sigma: float, bias: float = 0.0,
              law: str = "auto") -> SynapticInput:
        """The layer's synaptic input at weight statistics (mu, sigma) and ``bias``. With ``window_onset``, the
        input's rise is evaluated moved to the nearest whole onset, its cumulative activity to 0.2
        (:meth:`InputMoments.aligned_onset`; the plan carries the rise where it is on, :meth:`_rise`)."""
        if self.window_onset:
            moments = moments.aligned_onset()
        return SynapticInput(layer.fan_in, mu, sigma, moments, bias=bias, centred_rows=self.rows_centred(layer),
                             law=law, pool=layer.pool, pool_kind=layer.pool_kind,
                             pool_correlation=layer.pool_correlation, pool_windows=layer.pool_windows)

    def rows_centred(self, layer: LayerSpec) -> bool:
        """Whether the layer's rows sum exactly to N mu_w: the strategy's option, or forced by the layer."""
        return self.centred_rows or layer.centred_rows

    def predict(self, layer: LayerSpec, drive: SynapticInput, n_steps: int | None, **kw: object) -> RatePrediction:
        return density(layer.neuron, drive, n_steps=n_steps, n_cells=self.n_cells, **kw)

    def carries_autocorrelation(self, layer: LayerSpec) -> bool:
        """Whether the layer's output autocorrelation is predicted and carried to the next layer."""
        # only that of subtract-reset trains, which are bursty: with centred rows it corrected 6 of 24 such
        # stacks (benchmarks/depth.py --centred); without, with ``window_offset``, the next layer's window
        # offset (inputs.window_offset_variance) keeps the two failing T = 100 stacks on target. It put 4 of 24
        # value-reset stacks off target (centred rows), whose trains are anti-correlated after a spike (F < 1)
        return layer.neuron.reset == "subtract" and (self.rows_centred(layer) or self.window_offset)

    #: membrane cells of the evaluation that gives a plan's output autocorrelation without centred rows (only
    #: the next layer's window offset depends on it, rounded to two digits: over layers 2 and 8 of four stacks,
    #: 80 cells gave that offset within 2.3% of 160 cells', in 30 ms against 44-62 ms)
    AUTOCORRELATION_CELLS: ClassVar[int] = 80

    def plan_prediction(self, layer: LayerSpec, drive: SynapticInput, n_steps: int | None) -> RatePrediction:
        """The prediction a plan reports: :meth:`predict_memo`'s, with the output autocorrelation where it is
        carried (from that evaluation itself with centred rows, or where it was made with it: a refined mean,
        :meth:`_refine_mean`; else from a coarser one, :attr:`AUTOCORRELATION_CELLS`)."""
        if not self.carries_autocorrelation(layer) or self.rows_centred(layer):
            return self.predict_memo(layer, drive, n_steps, autocorrelation=True)
        pred = self.predict_memo(layer, drive, n_steps)
        if pred.autocorrelation:
            return pred
        key = ("autocorrelation", layer.neuron, drive, n_steps)
        rho = self._memo.get(key)
        if rho is None:
            rho = self._memo[key] = density(layer.neuron, drive, n_steps=n_steps, n_cells=self.AUTOCORRELATION_CELLS,
                                            autocorrelation=True).autocorrelation
        return dataclasses.replace(pred, autocorrelation=rho)

    def predict_memo(self, layer: LayerSpec, drive: SynapticInput, n_steps: int | None,
                     autocorrelation: bool = False) -> RatePrediction:
        """The density prediction, remembered (the final solve's last evaluation is usually the plan's);
        ``autocorrelation``: also the output trains' (the plan's own evaluation, for the next layer)."""
        carry = autocorrelation and self.carries_autocorrelation(layer)
        key = (layer.neuron, drive, n_steps, self.n_cells, carry)
        # an evaluation with the autocorrelation also answers one without
        pred = self._memo.get(key) or (None if carry else self._memo.get((*key[:-1], True)))
        if pred is None:
            if len(self._memo) > 512:
                self._memo.clear()
            pred = self._memo[key] = self.predict(layer, drive, n_steps, surrogate=self.surrogate,
                                                  autocorrelation=carry)
        return pred

    def plan(self, layer: LayerSpec, moments: InputMoments, target: float | None, n_steps: int | None) -> LayerPlan:
        """Plan one layer (cached on everything but the layer's name)."""
        if target is not None and self.targets_rate:
            _check_target(layer, target)
        key = (layer.key(), moments, target, n_steps)
        cached = self._cache.get(key)
        if cached is not None:
            return dataclasses.replace(cached, name=layer.name)
        recent_key = self._family_key(layer, moments, target, n_steps)
        plan = self._reuse(layer, moments, target, n_steps, self._recent.get(recent_key))
        if plan is None:
            mu, sigma, bias = self.weights(layer, moments, target if self.targets_rate else None, n_steps)
            plan = self.evaluate(layer, moments, target, n_steps, mu, sigma, bias)
        self._cache[key] = self._recent[recent_key] = plan
        trend = self._trend.setdefault(recent_key, [])
        trend[:] = [*trend[-1:], (moments.unit_spread, plan.weight_mean, plan.weight_std)]
        return plan

    @staticmethod
    def _family_key(layer: LayerSpec, moments: InputMoments, target: float | None, n_steps: int | None) -> tuple:
        """Layers that differ only in their input's spread, correlation and autocorrelation (a stack's deeper
        layers) share this key: each starts from the last one's plan."""
        return (layer.key(), moments.mean, moments.second, moments.spiking, target, n_steps)

    @staticmethod
    def _slope_key(layer: LayerSpec, target: float | None, n_steps: int | None) -> tuple:
        """The key of :attr:`_refine_slopes`: d ln r / d mu_w is shared by a layer type's plans at one target."""
        return (layer.key(), target, n_steps)

    def _trend_mean(self, layer: LayerSpec, moments: InputMoments, target: float | None, n_steps: int | None,
                    mu: float, sigma: float) -> float:
        """A deeper layer's first weight mean: ``mu`` (the last similar layer's, at weight std ``sigma``), moved
        along the line through the last two such layers' means against their input unit spread.

        In a stack of identical layers the input spread grows over the first layers (0, 0.19, 0.25, 0.28:
        beta 1, subtract reset, target 0.1, T = 100), and the mean that keeps the target falls with it, nearly
        linearly; started at the last layer's mean, layers 3 and 4 were 48% and 16% off (14% and 2.5% from
        the line) and took one more evaluation at the planning resolution each."""
        trend = self._trend.get(self._family_key(layer, moments, target, n_steps), [])
        if len(trend) < 2 or trend[-1][1] != mu or trend[0][2] != sigma or trend[1][2] != sigma:
            return mu
        (s0, m0, _), (s1, m1, _) = trend
        if s1 == s0 or moments.unit_spread == s1:
            return mu
        step = (moments.unit_spread - s1) / (s1 - s0)
        return m1 + min(max(step, -1.0), 2.0) * (m1 - m0)

    #: rate error (|log(rate / target)|) within which a similar layer's plan is reused as it is (:data:`REUSE_TOLERANCE`)
    REUSE_TOLERANCE: ClassVar[float] = REUSE_TOLERANCE
    #: relative rate error to which a layer solved afresh is solved (a stack's first layer: within 1% of its
    #: target with centred rows, measured, is the acceptance criterion)
    SOLVE_TOLERANCE: ClassVar[float] = 1e-3

    def _reuse(self, layer: LayerSpec, moments: InputMoments, target: float | None, n_steps: int | None,
               recent: LayerPlan | None) -> LayerPlan | None:
        """``recent`` (a plan of the same layer type, target and input rate, for slightly different input
        spread or correlation: a deeper layer of a stack) for this input, if it still gives the target.

        One density evaluation at recent's weights, its mean moved along the trend of the last two such layers
        (:meth:`_trend_mean`), decides: within :attr:`REUSE_TOLERANCE` of the target, the
        plan is kept (its rate is this layer's; its predicted spread, for the next layer, is recent's, which
        differs by less than what moves a rate by that tolerance; its correlation and the common fluctuation's
        shape are this evaluation's: kept at recent's, synchrony that still grows from layer to layer stopped
        growing in the plan where the rate first stayed within the tolerance, e.g. planned chi 4.5 from layer 10
        on where the same weights' layer-to-layer map converges to 6.2, beta 0.5, value reset, T = 25). Within
        :attr:`REFINE_RANGE` of the target, recent's weight std and bias are kept and its mean is corrected by
        secant steps on log rate (:meth:`_refine_mean`, 2-4 evaluations instead of a full solve: the synchrony
        carried from layer to layer moves deep layers' rates by a few percent for many layers); else None
        (solve afresh). Deep layers of a stack of identical layers converge to one input; each costs one
        evaluation.
        """
        if recent is None or not self.reuses_plans or not self.targets_rate or not target or recent.keep_weights or not recent.rate > 0:
            return None
        mu = self._trend_mean(layer, moments, target, n_steps, recent.weight_mean, recent.weight_std)
        drive = self.drive(layer, moments, mu, recent.weight_std, recent.bias)
        pred = self.predict_memo(layer, drive, n_steps)
        error = math.log(pred.rate / target) if pred.rate > 0 else -math.inf  # as the refinement's secant
        if not abs(error) < self.REUSE_TOLERANCE or mu != recent.weight_mean:
            if not abs(error) < self.REFINE_RANGE:
                return None
            if not abs(error) < self.REUSE_TOLERANCE:
                mu = self._refine_mean(layer, moments, target, n_steps, recent, mu)
            if mu is None:
                return None
            # the plan at the corrected mean, but with recent's layer gain G (informational; it would cost a
            # finite-difference density pair, and a mean within 10% of rate of recent's moves it little)
            drive = self.drive(layer, moments, mu, recent.weight_std, recent.bias)
            pred = self.plan_prediction(layer, drive, n_steps)
            free_mean, free_std = _free_membrane(layer.neuron, drive, n_steps)
            return dataclasses.replace(
                recent, name=layer.name, input=moments, weight_mean=mu, rate=float(pred.rate),
                rate_spread=float(pred.rate_spread), free_mean=free_mean, free_std=free_std,
                gradient_gain=layer.outputs * (mu * mu + recent.weight_std ** 2) * (pred.surrogate_moment or 0.0),
                in_regime=pred.in_regime, regime=pred.regime, autocorrelation=pred.autocorrelation,
                correlation=float(pred.correlation), common_law=pred.common_law, **self._rise(pred, moments))
        return dataclasses.replace(recent, name=layer.name, input=moments, rate=float(pred.rate),
                                   correlation=float(pred.correlation),
                                   common_law=pred.common_law, **self._rise(pred, moments))

    #: relative rate error within which a similar layer's plan is corrected by secant steps on its weight mean
    REFINE_RANGE: ClassVar[float] = 0.1

    def _refine_mean(self, layer: LayerSpec, moments: InputMoments, target: float, n_steps: int | None,
                     recent: LayerPlan, start: float) -> float | None:
        """Weight mean that gives ``target`` at recent's weight std and bias, by the solver's secant steps on log
        rate (:func:`~snninit_plugins.solve._secant`) from ``start`` (:meth:`_trend_mean`; its rate is remembered);
        None when 4 more evaluations do not reach :attr:`REUSE_TOLERANCE`. The first step is Newton's with the
        last refinement's slope d ln r / d mu for this layer type, when there is one (deep layers are refined
        one after another: one evaluation each instead of two)."""
        sigma, bias = recent.weight_std, recent.bias
        # the mean's natural scale: the per-step input noise over the active inputs' count
        scale = sigma / math.sqrt(max(layer.fan_in * moments.mean, 1.0))
        key = self._slope_key(layer, target, n_steps)
        info: dict = {}
        # the steps after the first are evaluated with the output autocorrelation where it is carried: the one that
        # meets the tolerance is the plan's. Without centred rows that costs 29 ms where a plain evaluation and the
        # plan's coarser autocorrelation took 22 + 16 ms (beta 0.99, subtract reset, target 0.05, T = 25, layer 40;
        # that stack: 98 evaluations instead of 116)
        mu = _secant(lambda m: self.predict_memo(layer, self.drive(layer, moments, m, sigma, bias), n_steps,
                                                 autocorrelation=m != start).rate,
                     start, 0.05 * scale, target, xtol=0.0, ftol=self.REUSE_TOLERANCE, max_iter=3,
                     slope=self._refine_slopes.get(key), info=info)
        if "slope" in info:
            self._refine_slopes[key] = info["slope"]
        return mu

    def evaluate(self, layer: LayerSpec, moments: InputMoments, target: float | None, n_steps: int | None,
                 mu: float, sigma: float, bias: float, keep_weights: bool = False) -> LayerPlan:
        """Predict what given weight statistics do: rate, spread, free membrane, G, gradient gain."""
        drive = self.drive(layer, moments, mu, sigma, bias)
        pred = self.plan_prediction(layer, drive, n_steps)
        correction = self._rate_corrections.get((layer.key(), moments, n_steps, mu, sigma), 0.0)
        if correction:
            pred = dataclasses.replace(pred, rate=pred.rate + correction)
        # G is informational: a coarser density (100 cells, 7 nodes) gives it to about 0.01; with a window
        # offset the drifts spread wider than the rate's knee, and 7 nodes gave -1.4 where the rule's (the same
        # for both sides of the difference) gives -0.45 and the stack's own input measures -0.65 (beta 1,
        # subtract reset, target 0.1, T = 100, layer 12)
        spread = averaged_spread(drive, n_steps)
        nodes = 7 if spread == drive.drift_spread else quadrature_nodes(layer.neuron, drive, n_steps, spread)
        gain = (layer_gain(density, layer.neuron, drive, n_steps=n_steps, n_cells=100, n_nodes=nodes)
                if pred.rate > 0 else math.nan)
        free_mean, free_std = _free_membrane(layer.neuron, drive, n_steps)
        moment = pred.surrogate_moment or 0.0
        return LayerPlan(
            name=layer.name, strategy=self.name, weight_mean=mu, weight_std=sigma, bias=bias,
            centred_rows=self.rows_centred(layer), weight_law=self.weight_law, keep_weights=keep_weights,
            input=moments, target_rate=target, rate=float(pred.rate), rate_spread=float(pred.rate_spread),
            free_mean=free_mean, free_std=free_std, gain=gain,
            gradient_gain=layer.outputs * (mu * mu + sigma * sigma) * moment,
            in_regime=pred.in_regime, regime=pred.regime, autocorrelation=pred.autocorrelation,
            correlation=float(pred.correlation),
            common_law=pred.common_law,
            **self._rise(pred, moments),
        )

    def _rise(self, pred: RatePrediction, moments: InputMoments) -> dict:
        """The rise a plan carries with ``window_onset`` (else none: every input steady): that of the prediction's
        per-step rates (:func:`~snninit_plugins.predictors.density.rise_of`), delayed by what :meth:`drive` moved
        the input's (a later input starts its output as much later: ``rise_delay``, so that the shape is carried
        as evaluated, not blurred by a shift in every layer)."""
        if not (self.window_onset and pred.rate_profile):
            return {"rise": (), "rise_delay": 0.0}
        delay = round(moments.onset - moments.aligned_onset().onset, 3)
        return {"rise": rise_of(pred.rate_profile), "rise_delay": delay}


def _check_target(layer: LayerSpec, target: float | None) -> None:
    if target is None or not (math.isfinite(target) and 0.0 < target < 1.0):
        raise InfeasibleTargetError(
            f"{layer.name}: target rate {target!r} spikes/step is impossible; "
            "a neuron fires at most once per step, so choose a target in (0, 1)"
        )


def _free_membrane(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int | None) -> tuple[float, float]:
    """Population mean and std of the membrane without threshold (theory.md section 3), group average."""
    first = second = 0.0
    for group, w in neuron.groups():
        mean, std = group.free_membrane(drive.mean, drive.variance, n_steps)
        first += w * mean
        second += w * (std * std + mean * mean)
    return first, math.sqrt(max(second - first * first, 0.0)) if math.isfinite(second) else math.inf


def _per_layer_targets(target: TargetRate, n_layers: int, input_rate: float) -> list[float | None]:
    if isinstance(target, str):
        if target != "preserve":
            raise ValueError(f"target_rate must be a rate, a list of rates or 'preserve', got {target!r}")
        return [input_rate] * n_layers
    if isinstance(target, (int, float)):
        return [float(target)] * n_layers
    targets = [float(t) for t in target]
    if len(targets) != n_layers:
        raise ValueError(f"{len(targets)} target rates given for {n_layers} layers; give one per layer or a scalar")
    return targets


@dataclasses.dataclass(frozen=True)
class NetworkPlan:
    """The plans of a stack of layers, from the input up."""

    layers: tuple[LayerPlan, ...]
    n_steps: int | None

    def __iter__(self):  # noqa: ANN204 - iterator of LayerPlan
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerPlan:
        return self.layers[i]

    def as_dicts(self) -> list[dict]:
        return [p.as_dict() for p in self.layers]

    def table(self) -> str:
        """A plain-text table: one row per layer."""
        head = f"{'layer':<14} {'mu_w':>10} {'sigma_w':>9} {'target':>7} {'rate':>7} {'spread':>7} {'G':>6} {'grad':>6}"
        rows = [head, "-" * len(head)]
        for p in self.layers:
            target = "-" if p.target_rate is None else f"{p.target_rate:.3g}"
            rows.append(f"{p.name:<14} {p.weight_mean:>10.4g} {p.weight_std:>9.4g} {target:>7} {p.rate:>7.4f} "
                        f"{p.rate_spread:>7.4f} {p.gain:>6.2f} {p.gradient_gain:>6.2f}")
        return "\n".join(rows)


def plan_network(
    layers: Sequence[LayerSpec],
    strategy: Strategy,
    input_moments: InputMoments,
    *,
    target_rate: TargetRate = "preserve",
    n_steps: int | None = None,
) -> NetworkPlan:
    """Plan every layer in order, feeding each layer's predicted output to the next.

    Args:
        layers: the stack, from the input up.
        strategy: the strategy instance (its cache is shared across calls).
        input_moments: what the first layer receives.
        target_rate: one rate, one per layer, or ``"preserve"`` (every layer fires at the input rate).
        n_steps: the window T from V0, or None for stationary.
    """
    targets = _per_layer_targets(target_rate, len(layers), input_moments.mean)
    if strategy.targets_rate:
        for layer, target in zip(layers, targets):  # fail before any solving
            _check_target(layer, target)
    moments = input_moments
    plans = []
    for layer, target in zip(layers, targets):
        plan = strategy.plan(layer, moments, target, n_steps)
        plans.append(plan)
        moments = plan.output_moments()
    return NetworkPlan(tuple(plans), n_steps)
