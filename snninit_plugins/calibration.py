r"""Calibrate an initialised model on data: measure every spiking layer's rate and correct it, in order.

The analytic plan of :func:`~snninit_plugins.api.apply_init` predicts each layer's rate from the
statistics of its input; a real model on a real sample misses it by a few percent per layer (finite
width, correlated inputs, approximated neurons). :func:`calibrate` measures the real rates and moves
one *knob* per layer until every layer is within ``tol`` of its target:

* the **weight shift** (default): every weight of the layer's synapses moves by a common
  :math:`\delta`, i.e. the weight mean :math:`\mu_w \to \mu_w + \delta` with the spread kept; the
  neuron's current changes by :math:`\delta\,S` where :math:`S` is the sum of the synapse's input
  over the receptive field (``x.sum(-1)`` for a Linear, a convolution with a kernel of ones);
* the **BatchNorm bias**, when a BatchNorm sits between the weights and the neuron (a weight shift
  would be normalised away): the current changes by :math:`\delta` directly.

Per layer the correction solves :math:`f(\delta) = \ln r(\delta) - \ln r^* = 0` (log rates: a rate
below threshold grows about exponentially with the drift), first by one Newton step with the slope
of the analytic predictor,

.. math:: \delta_1 = \delta_0 - f(\delta_0) \Big/ \frac{\partial \ln \hat r}{\partial \mu_w},
   \qquad \frac{\partial \ln \hat r}{\partial \mu_w} \approx
   \frac{\ln \hat r(\mu_w + h) - \ln \hat r(\mu_w - h)}{2h}

(:func:`~snninit_plugins.predictors.density` at the planned input, :math:`h` = 2% of the weight
mean that moves the drift by one threshold), then by secant steps on the measured points,
:math:`\delta_{k+1} = \delta_k - f_k(\delta_k - \delta_{k-1})/(f_k - f_{k-1})`, kept inside a
bracket once the points straddle the root (regula falsi); see e.g. Press et al., *Numerical
Recipes*, 3rd ed., section 9.2.

**Cost.** A layer's rate depends only on the layers below it, so layers are corrected in order. A
full forward pass records, per layer, the synapse's input and output, the neuron's input current and
its spikes (forward hooks, the model run the framework's way by its adapter). A layer is then
re-run *alone* on what it received (its current shifted by :math:`\delta S`, the neuron simulated
in its canonical form by :func:`~snninit_plugins.simulator.run_neurons`): one *layer-run*, 1/L of a
forward pass of an L-layer model. When a layer's input is verifiably the previous layer's spikes
(checked on the recording: its stateless ``before`` modules applied to them reproduce it bit for
bit), the corrected spikes are propagated to it, so one sweep corrects a Sequential-like stack
from the bottom up (Gauss-Seidel); any other input (residual sums, custom code) is taken as
recorded from the last full pass (Jacobi: the next pass corrects what the upstream changes moved).
Layers that cannot be re-run alone (recurrent weights, weights inside the neuron, an operation
between weights and neuron other than pooling or its BatchNorm) get one Newton/secant step per full pass
on their measured rate, the older points moved to the current input by the predicted layer gain
:math:`G = \partial\ln r_{out}/\partial\ln r_{in}`: :math:`f_i \leftarrow f_i + G\ln(m_{now}/m_i)`.
One layer of each neuron kind is first re-run on its recorded current: where the canonical form does
not reproduce the real neuron's rate (an approximated neuron), every layer of that kind measures the
ratio, the local model's target is scaled by it (updated after every full pass) and its spikes are not
propagated upward (the layers above use the recorded input moved by the expected change, Jacobi).

The cost is counted honestly in *forward-pass equivalents*: full passes + layer-runs / L. A full
pass on the calibration sample always ends the calibration (the reported rates are measured on the
real model, never simulated); the pass on the fresh sample, if any, is counted apart.

Writes happen in place under ``torch.no_grad()`` and keep every ``Parameter`` object; any exception
restores every weight touched; a run that ends worse than an earlier measured state goes back to it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .adapter import Adapter
from .api import InitReport, LayerReport, _adapter
from .errors import SnnInitError
from .recording import run_with_hooks
from .simulator import run_neurons
from .strategies import LayerSpec, Strategy
from .walker import SYNAPSE_TYPES, Unit, find_units

__all__ = ["CalibrationError", "CalibrationReport", "Knob", "LayerCalibration", "calibrate"]

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
#: Layer-runs per layer and sweep before the best point found is taken.
MAX_LOCAL_RUNS = 6


class CalibrationError(SnnInitError, ValueError):
    """The report does not fit the model or the sample, or calibration cannot run; names the layer."""


# --------------------------------------------------------------------------------------------- knobs
@dataclasses.dataclass(eq=False)
class Knob:
    """What calibration moves for one layer.

    Attributes:
        kind: ``"weight_mean"`` (every weight of the layer's synapses shifted by delta) or ``"bias"`` (a
            bias added to the neuron's current, e.g. a BatchNorm's affine bias).
        description: for the report (``"weight shift of fc3"``, ``"bias of bn3"``).
        params: the tensors it writes (backed up and restored on failure).
        shift: ``shift(delta)`` moves the knob by ``delta`` in place (under no_grad).
        direction: ``direction(x)`` -> d(synapse output)/d(delta) for the synapse input ``x`` (time-major,
            as recorded), or None when delta adds to the neuron's current directly (a bias).
        gain: for a bias, how much the neuron's current moves per unit of delta.
    """

    kind: str
    description: str
    params: list[torch.Tensor]
    shift: Callable[[float], None]
    direction: Callable[[torch.Tensor], torch.Tensor] | None = None
    gain: float = 1.0


def _receptive_sum(module: nn.Module, x: torch.Tensor, per_call: int) -> torch.Tensor:
    """d(module(x))/d(delta) when every weight moves by delta: the input summed over each output's receptive field.

    ``per_call`` is the rank of one call's input (2 for a batched Linear...); leading extra axes (time) are folded.
    """
    if isinstance(module, nn.Linear):
        return x.sum(dim=-1, keepdim=True)
    nd = x.dim() - per_call
    flat = x.reshape(-1, *x.shape[nd + 1:]) if nd >= 0 else x
    groups = module.groups
    ones = torch.ones(groups, module.in_channels // groups, *module.kernel_size, dtype=x.dtype, device=x.device)
    s = _CONV_FN[len(module.kernel_size)](flat, ones, None, module.stride, module.padding, module.dilation, groups)
    s = s.repeat_interleave(module.out_channels // groups, dim=1)
    return s.reshape(*x.shape[:nd + 1], *s.shape[1:])


def weight_shift_knob(unit: Unit) -> Knob:
    """Shift every weight of ``unit``'s synapses (feed-forward and owned) by a common delta; keeps zero diagonals."""
    modules = [m for _, m in unit.synapses]

    def shift(delta: float) -> None:
        with torch.no_grad():
            for m in modules:
                m.weight.add_(delta)
                if getattr(m, "zero_diagonal", False):
                    m.weight.fill_diagonal_(0.0)

    direction = None
    first = modules[0]
    if len(modules) == 1 and isinstance(first, SYNAPSE_TYPES) and getattr(first, "padding_mode", "zeros") == "zeros":
        rank = 2 if isinstance(first, nn.Linear) else len(first.kernel_size) + 2

        def direction(x: torch.Tensor) -> torch.Tensor:  # the neuron gets input_scale x the synapse's output
            return unit.input_scale * _receptive_sum(first, x, rank)

    return Knob("weight_mean", "weight shift of " + ", ".join(n for n, _ in unit.synapses),
                [m.weight for m in modules], shift, direction)


def bias_knob(norms: list[tuple[str, nn.Module]]) -> Knob:
    """Shift the affine bias of the BatchNorm(s) between the weights and the neuron by delta.

    With k BatchNorms on summed branches the neuron's current moves by k delta (:attr:`Knob.gain`).
    """
    biases = []
    for name, module in norms:
        bias = getattr(module, "bias", None)
        if not isinstance(bias, torch.Tensor):
            raise CalibrationError(f"{name} ({type(module).__name__}) has no affine bias to calibrate with "
                                   "(affine=False); give it one or remove it")
        biases.append(bias)

    def shift(delta: float) -> None:
        with torch.no_grad():
            for bias in biases:
                bias.add_(delta)

    return Knob("bias", "bias of " + ", ".join(n for n, _ in norms), biases, shift, None, gain=float(len(norms)))


def _norms(unit: Unit) -> list[tuple[str, nn.Module]]:
    """The BatchNorms the walker found between the unit's weights and its neuron (``norms`` or ``norm``)."""
    norms = getattr(unit, "norms", None)
    if norms:
        return list(norms)
    norm = getattr(unit, "norm", None)
    return [norm] if norm is not None else []


# --------------------------------------------------------------------------------------------- report
@dataclasses.dataclass(frozen=True)
class LayerCalibration:
    """One spiking layer: target, measured rates before and after, what was moved and how often."""

    name: str
    knob: str
    mode: str  # "local" (re-run alone), "global" (one step per full pass) or "skipped"
    target: float | None
    rate_before: float
    rate_after: float
    delta: float
    iterations: int
    rate_fresh: float | None = None
    note: str = ""

    @staticmethod
    def _error(rate: float | None, target: float | None) -> float | None:
        return None if rate is None or not target else rate / target - 1.0

    @property
    def error_before(self) -> float | None:
        return self._error(self.rate_before, self.target)

    @property
    def error_after(self) -> float | None:
        return self._error(self.rate_after, self.target)

    @property
    def error_fresh(self) -> float | None:
        return self._error(self.rate_fresh, self.target)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(error_before=self.error_before, error_after=self.error_after, error_fresh=self.error_fresh)
        return d


def _abs_errors(values: list[float | None]) -> list[float]:
    return [abs(v) for v in values if v is not None]


@dataclasses.dataclass(frozen=True)
class CalibrationReport:
    """What :func:`calibrate` did: per layer, and the cost in forward-pass equivalents."""

    framework: str
    tol: float
    max_passes: float
    layers: tuple[LayerCalibration, ...]
    full_passes: int
    layer_runs: int
    n_layers: int
    converged: bool
    seconds: float
    fresh: bool = False
    notes: tuple[str, ...] = ()

    @property
    def passes(self) -> float:
        """Forward-pass equivalents spent: full passes + layer-runs / number of spiking layers."""
        return self.full_passes + self.layer_runs / max(self.n_layers, 1)

    def _stats(self, attr: str) -> tuple[float, float]:
        errors = _abs_errors([getattr(layer, attr) for layer in self.layers if layer.mode != "skipped"])
        return (max(errors), statistics.median(errors)) if errors else (math.nan, math.nan)

    @property
    def max_error(self) -> float:
        return self._stats("error_after")[0]

    @property
    def median_error(self) -> float:
        return self._stats("error_after")[1]

    @property
    def max_error_before(self) -> float:
        return self._stats("error_before")[0]

    @property
    def fresh_max_error(self) -> float:
        return self._stats("error_fresh")[0] if self.fresh else math.nan

    @property
    def fresh_median_error(self) -> float:
        return self._stats("error_fresh")[1] if self.fresh else math.nan

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LayerCalibration:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(key)
        return self.layers[key]

    def as_dict(self) -> dict:
        return {"framework": self.framework, "tol": self.tol, "max_passes": self.max_passes,
                "passes": self.passes, "full_passes": self.full_passes, "layer_runs": self.layer_runs,
                "n_layers": self.n_layers, "converged": self.converged, "seconds": self.seconds,
                "max_error_before": self.max_error_before, "max_error": self.max_error,
                "median_error": self.median_error, "fresh_max_error": self.fresh_max_error if self.fresh else None,
                "fresh_median_error": self.fresh_median_error if self.fresh else None,
                "layers": [layer.as_dict() for layer in self.layers], "notes": list(self.notes)}

    def __str__(self) -> str:
        def pct(x: float | None) -> str:
            return "-" if x is None or not math.isfinite(x) else f"{100 * x:+.2f}%"

        head = (f"{'layer':<18} {'mode':<7} {'target':>7} {'before':>8} {'after':>8} {'error':>8} "
                f"{'fresh':>8} {'delta':>10} {'iter':>4}")
        state = "converged" if self.converged else "NOT converged"
        lines = [(f"snninit calibrate on {self.framework}: {state} to {100 * self.tol:.3g}% in {self.passes:.2f} "
                 f"forward-pass equivalents ({self.full_passes} full passes + {self.layer_runs} layer-runs / "
                 f"{self.n_layers}), {self.seconds:.1f} s"), head, "-" * len(head)]
        for layer in self.layers:
            target = "-" if layer.target is None else f"{layer.target:.4g}"
            fresh = pct(layer.error_fresh)
            lines.append(f"{layer.name:<18.18} {layer.mode:<7} {target:>7} {layer.rate_before:>8.4f} "
                         f"{layer.rate_after:>8.4f} {pct(layer.error_after):>8} {fresh:>8} {layer.delta:>10.3g} "
                         f"{layer.iterations:>4}")
        lines.append(f"max |error| {pct(self.max_error_before)} before -> {pct(self.max_error)} after "
                     f"(median {pct(self.median_error)})"
                     + (f"; fresh sample: max {pct(self.fresh_max_error)}, median {pct(self.fresh_median_error)}"
                        if self.fresh else ""))
        lines.extend(f"note {layer.name}: {layer.note}" for layer in self.layers if layer.note)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- recording
def _time_major(chunks: list[torch.Tensor], n_steps: int) -> torch.Tensor | None:
    """Per-step calls stacked on a new time axis; one whole-sample call as it is. None for other call counts."""
    if len(chunks) == n_steps and (n_steps > 1 or chunks[0].shape[:1] != (1,)):
        return torch.stack(chunks)
    if len(chunks) == 1 and chunks[0].shape[0] == n_steps:
        return chunks[0]
    if len(chunks) == n_steps:
        return torch.stack(chunks)
    return None


@dataclasses.dataclass
class _Pass:
    """One full pass: per unit index, synapse input/output, neuron current and spikes (time-major)."""

    x: dict[int, torch.Tensor]
    y: dict[int, torch.Tensor]
    current: dict[int, torch.Tensor]
    spikes: dict[int, torch.Tensor]
    syn_per_step: dict[int, bool]


def _full_pass(model: nn.Module, adapter: Adapter, sample: torch.Tensor, units: list[Unit],
               keep: bool = True) -> _Pass:
    """Run the model once the framework's way and record what each unit saw and emitted (all if ``keep``)."""
    n_steps = int(sample.shape[0])
    xs: dict[int, list] = {}
    ys: dict[int, list] = {}
    cur: dict[int, list] = {}
    spk: dict[int, list] = {}
    handles = []

    def syn_hook(i: int):
        def hook(_: nn.Module, args: tuple, out: object) -> None:
            if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                xs.setdefault(i, []).append(args[0].detach())
                ys.setdefault(i, []).append(out.detach())
        return hook

    def pre_hook(i: int):
        def hook(_: nn.Module, args: tuple) -> None:
            if keep and args and isinstance(args[0], torch.Tensor):
                cur.setdefault(i, []).append(args[0].detach())
        return hook

    def out_hook(i: int):
        def hook(module: nn.Module, _: tuple, out: object) -> None:
            s = adapter.spikes(module, out)
            if isinstance(s, torch.Tensor):
                spk.setdefault(i, []).append(s.detach())
        return hook

    for i, unit in enumerate(units):
        name, syn = unit.synapses[0]
        if keep and isinstance(syn, nn.Module) and not name.startswith(unit.name + "."):
            handles.append(syn.register_forward_hook(syn_hook(i)))
        handles.append(unit.neuron_module.register_forward_pre_hook(pre_hook(i)))
        handles.append(unit.neuron_module.register_forward_hook(out_hook(i)))
    run_with_hooks(model, adapter, sample, handles)
    result = _Pass({}, {}, {}, {}, {})
    for i, unit in enumerate(units):
        if i not in spk:
            raise CalibrationError(f"{unit.name}: the neuron emitted no spikes the {adapter.name} adapter can read "
                                   "on this sample (was it called?)")
        s = _time_major(spk[i], n_steps)
        if s is None:
            raise CalibrationError(f"{unit.name}: called {len(spk[i])} times for {n_steps} steps; cannot tell its "
                                   "spikes per step")
        result.spikes[i] = s
        for store, chunks in ((result.x, xs), (result.y, ys), (result.current, cur)):
            if i in chunks:
                t = _time_major(chunks[i], n_steps)
                if t is not None:
                    store[i] = t
        result.syn_per_step[i] = len(xs.get(i, ())) == n_steps and n_steps > 1
    return result


def _rate(spikes: torch.Tensor) -> float:
    return float((spikes != 0).double().mean())


# --------------------------------------------------------------------------------------------- per layer
@dataclasses.dataclass
class _Layer:
    """Calibration state of one unit."""

    index: int
    unit: Unit
    report: LayerReport
    target: float | None
    knob: Knob | None
    mode: str = "global"
    note: str = ""
    path: tuple | None = None  # from the synapse's output to the neuron's current (see _find_path)
    sources: tuple[int, ...] = ()  # input = before(spikes of sources[0]) (+ spikes of sources[1]), verified
    delta: float = 0.0
    iterations: int = 0
    bias: float = 1.0  # local model rate / real rate at the same weights
    exact: bool = True  # the canonical form reproduces the real neuron's spikes
    local_rate: float | None = None  # raw local rate predicted for the applied weights
    local_input_mean: float | None = None
    history: list[tuple[float, float, float | None]] = dataclasses.field(default_factory=list)
    rate_before: float = math.nan
    rate_after: float = math.nan


def _pool(kind: str, factors: tuple[int, ...], y: torch.Tensor) -> torch.Tensor:
    spatial = len(factors)
    flat = y.reshape(-1, *y.shape[-spatial - 1:])
    out = (_MAX_POOL if kind == "max" else _AVG_POOL)[spatial](flat, factors)
    return out.reshape(*y.shape[:-spatial], *out.shape[-spatial:])


def _batch_norm(norm: nn.Module, y: torch.Tensor, per_step: bool) -> torch.Tensor:
    """``norm`` applied as the model applies it, without touching its running statistics.

    Training mode (or no running statistics) normalises by the statistics of each call's batch: per step for a
    model called once per step, over time and batch for a whole-sample call; eval mode uses the running ones.
    """
    args = (norm.weight, norm.bias)
    if norm.training or norm.running_mean is None:
        if per_step:
            return torch.stack([F.batch_norm(y[t], None, None, *args, True, 0.0, norm.eps) for t in range(y.shape[0])])
        return F.batch_norm(y.reshape(-1, *y.shape[2:]), None, None, *args, True, 0.0, norm.eps).reshape(y.shape)
    return F.batch_norm(y.reshape(-1, *y.shape[2:]), norm.running_mean, norm.running_var, *args, False, 0.0,
                        norm.eps).reshape(y.shape)


def _apply_path(path: tuple, y: torch.Tensor, norm: nn.Module | None, per_step: bool) -> torch.Tensor:
    """The neuron's current from the synapse's output through ``path``: ("pool", kind, factors) and ("norm",) ops."""
    with torch.no_grad():
        for op in path:
            y = _batch_norm(norm, y, per_step) if op[0] == "norm" else _pool(op[1], op[2], y)
    return y


def _find_path(y: torch.Tensor, current: torch.Tensor, norm: nn.Module | None, per_step: bool) -> tuple | None:
    """What happens between the synapse and the neuron, found on the recording: nothing, pooling, a BatchNorm."""
    pools: list[tuple] = []
    if y.dim() == current.dim() and y.dim() >= 4 and y.shape != current.shape:
        spatial = min(y.dim() - 3, 3)
        factors = tuple(a // b for a, b in zip(y.shape[-spatial:], current.shape[-spatial:]))
        if all(f >= 1 for f in factors):
            pools = [("pool", "max", factors), ("pool", "avg", factors)]
    if norm is None:
        candidates = [(), *((p,) for p in pools)]
    else:
        candidates = [(("norm",),), *(((("norm",), p)) for p in pools), *((p, ("norm",)) for p in pools)]
    for path in candidates:
        try:
            out = _apply_path(path, y, norm, per_step)
        except (RuntimeError, ValueError):
            continue
        if out.shape == current.shape and torch.allclose(out, current, rtol=1e-4, atol=1e-5):
            return path
    return None


def _transform(before: list[tuple[str, nn.Module]], spikes: torch.Tensor, like: torch.Tensor) -> torch.Tensor | None:
    """The previous layer's spikes through the stateless modules before this synapse, shaped like ``like``."""
    for fold in (True, False):
        h = spikes.reshape(-1, *spikes.shape[2:]) if fold else spikes
        try:
            with torch.no_grad():
                for _, m in before:
                    h = m(h)
        except (RuntimeError, ValueError, TypeError):
            continue
        if h.numel() == like.numel():
            return h.reshape(like.shape)
    return None


def _sources(layer: _Layer, rec: _Pass) -> tuple[int, ...]:
    """Which earlier layers' spikes make up this layer's synapse input, verified bit for bit on the recording.

    ``(i - 1,)``: the input is the previous layer's spikes through the stateless modules before the synapse (a
    chain); ``(i - 1, j)``: plus layer j's spikes (a residual sum, SEW "ADD"); ``()``: anything else.
    """
    i, x = layer.index, rec.x[layer.index]
    moved = _transform(layer.unit.before, rec.spikes[i - 1], x)
    if moved is None:
        return ()
    if torch.equal(moved, x):
        return (i - 1,)
    rest = x - moved
    for j in range(i - 2, -1, -1):
        s = rec.spikes.get(j)
        if s is not None and s.numel() == rest.numel() and torch.equal(s.reshape(rest.shape), rest):
            return (i - 1, j)
    return ()


def _expected_input_change(layer: _Layer, rates: list[float], moved: dict[int, float]) -> float:
    """Expected ln(m_new / m_old) of the layer's input from its sources' expected rate changes (0 if unknown)."""
    if not layer.sources or not any(j in moved for j in layer.sources):
        return 0.0
    old = sum(rates[j] for j in layer.sources)
    new = sum(rates[j] * math.exp(moved.get(j, 0.0)) for j in layer.sources)
    return math.log(new / old) if old > 0 and new > 0 else 0.0


def _propagate(layer: _Layer, rec: _Pass, new_spikes: dict[int, torch.Tensor]) -> torch.Tensor:
    """This layer's input rebuilt from its sources' spikes (re-simulated this sweep, or as recorded)."""
    x = rec.x[layer.index]
    first, *rest = layer.sources
    out = _transform(layer.unit.before, new_spikes.get(first, rec.spikes[first]), x)
    for j in rest:
        out = out + new_spikes.get(j, rec.spikes[j]).reshape(x.shape)
    return out


def _predicted_slope(layer: _Layer, n_steps: int | None, strategies: dict) -> float:
    """d ln(rate)/d(knob) of the analytic predictor at the planned input and the current weights (central diff.)."""
    plan, unit = layer.report.plan, layer.unit
    mu = plan.weight_mean + (layer.delta if layer.knob and layer.knob.kind == "weight_mean" else 0.0)
    bias = plan.bias + (layer.delta if layer.knob and layer.knob.kind == "bias" else 0.0)
    key = (layer.knob.kind if layer.knob else "", layer.knob.gain if layer.knob else 1.0, plan.input, round(mu, 9), plan.weight_std, round(bias, 9),
           unit.fan_in, unit.info.neuron, unit.pool, n_steps)
    if key in strategies:
        return strategies[key]
    base = strategies.setdefault(("strategy", plan.centred_rows, plan.weight_law),
                                 Strategy(centred_rows=plan.centred_rows, weight_law=plan.weight_law))
    spec = LayerSpec(layer.report.name, unit.info.neuron, unit.fan_in, unit.fan_out, pool=unit.pool,
                     pool_kind=unit.pool_kind, pool_correlation=unit.pool_correlation, pool_windows=unit.pool_windows)
    neuron = unit.info.neuron
    theta = max(abs(float(g.threshold)) for g, _ in neuron.groups())
    gain = min(float(g.gain) for g, _ in neuron.groups())
    m_a = max(plan.input.mean, 1e-6)
    if layer.knob and layer.knob.kind == "bias":
        h = 0.02 * theta / gain
    else:
        h = 0.02 * theta / (gain * unit.fan_in * m_a)
    rates = []
    try:
        for sign in (1.0, -1.0):
            m, b = (mu + sign * h, bias) if not layer.knob or layer.knob.kind == "weight_mean" else (mu, bias + sign * h)
            rates.append(base.predict(spec, base.drive(spec, plan.input, m, plan.weight_std, b), n_steps).rate)
        slope = (math.log(rates[0]) - math.log(rates[1])) / (2 * h) if min(rates) > 0 else math.nan
    except (SnnInitError, ValueError, ArithmeticError):
        slope = math.nan
    if not (math.isfinite(slope) and slope > 0):
        # no usable prediction: the rate's log changes by about one per threshold of drift
        slope = 1.0 / h / 50.0
    if layer.knob and layer.knob.kind == "bias":
        slope *= layer.knob.gain  # the current moves by gain * delta
    strategies[key] = slope
    return slope


def _signature(layer: _Layer, x: torch.Tensor | None, current: torch.Tensor | None) -> float | None:
    """A number that changes when the layer's input does and not when its knob does (to pair local and real)."""
    if layer.knob is not None and layer.knob.kind == "bias":
        return None if current is None else float(current.double().mean()) - layer.delta
    return None if x is None else float(x.double().mean())


def _log_error(rate: float, target: float, count: int) -> float:
    """ln(rate/target), a silent layer counted as half a spike (finite, and far below)."""
    return math.log(max(rate, 0.5 / max(count, 1)) / target)


def _next_point(points: list[tuple[float, float]], slope: float) -> float:
    """Next delta from (delta, ln r - ln r*) points: regula falsi inside a bracket, else secant, else Newton."""
    below = [p for p in points if p[1] < 0]
    above = [p for p in points if p[1] > 0]
    newton_from = min(points, key=lambda p: abs(p[1]))
    newton = newton_from[0] - newton_from[1] / slope
    if below and above:
        lo = min(below, key=lambda p: abs(p[1]))
        hi = min(above, key=lambda p: abs(p[1]))
        x = lo[0] - lo[1] * (hi[0] - lo[0]) / (hi[1] - lo[1])
        a, b = sorted((lo[0], hi[0]))
        if not a < x < b:
            x = 0.5 * (a + b)
        return x
    if len(points) >= 2:
        (x0, f0), (x1, f1) = points[-2], points[-1]
        if f1 != f0 and x1 != x0:
            s = (f1 - f0) / (x1 - x0)
            if s > 0 and s > 0.2 * slope:  # a credible secant slope (the rate grows with the knob)
                x = x1 - f1 / s
                if abs(x - x1) <= 4 * abs(f1 / slope) + 1e-12:
                    return x
    return newton


# --------------------------------------------------------------------------------------------- calibrate
def _match(units: list[Unit], report: InitReport) -> list[tuple[Unit, LayerReport]]:
    by_name = {u.name: u for u in units}
    pairs = []
    for layer in report.layers:
        if layer.name not in by_name:
            raise CalibrationError(
                f"{layer.name}: a layer of the report is not a spiking layer of this model (found: "
                f"{', '.join(by_name) or 'none'}); pass the report apply_init returned for this model")
        pairs.append((by_name[layer.name], layer))
    return pairs


def calibrate(
    model: nn.Module,
    report: InitReport,
    sample: torch.Tensor,
    *,
    framework: str = "auto",
    tol: float = 0.02,
    max_passes: float = 5.0,
    fresh: torch.Tensor | None = None,
    knobs: dict[str, Knob] | None = None,
    units: list[Unit] | None = None,
) -> CalibrationReport:
    r"""Measure every planned layer's rate on ``sample`` and correct it, in order, until within ``tol`` of its target.

    Args:
        model: the model ``report`` describes (after :func:`~snninit_plugins.api.apply_init` wrote it).
        report: the :class:`~snninit_plugins.api.InitReport` of that call: the layers, their targets and plans.
        sample: a time-major input batch ``[T, batch, ...]`` exactly as the framework's adapter runs the model.
        framework: ``"auto"`` or an adapter name (as for ``apply_init``).
        tol: wanted relative rate error per layer, ``|rate/target - 1| <= tol``; layers are solved to ``tol/2``.
        max_passes: budget in forward-pass equivalents (full passes + layer-runs / layers), final
            measuring pass included; at least 1.
        fresh: another input batch; if given, the calibrated model's rates on it are measured (one more
            pass, reported apart: a check that the correction is not fitted to the sample's noise).
        knobs: per layer name, a :class:`Knob` to use instead of the weight shift (or the BatchNorm bias).
        units: the walker's pairing of this model on this sample (``apply_init`` passes it, saving a run).

    Returns:
        A :class:`CalibrationReport` (``print`` it; ``as_dict()`` for JSON).

    Raises:
        CalibrationError: the report is not this model's, or the sample does not run; nothing written.
        Any exception while calibrating restores every weight the calibration touched.
    """
    started = time.perf_counter()
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
    if max_passes < 1:
        raise ValueError(f"max_passes must be at least 1 (the measuring pass), got {max_passes!r}")
    if not isinstance(sample, torch.Tensor) or sample.dim() < 2:
        raise CalibrationError("sample must be a time-major tensor [T, batch, ...]")
    adapter = _adapter(report.framework if framework == "auto" else framework, model)
    if units is None:  # apply_init passes the pairing it found on this sample; else find it (one run)
        units, _ = find_units(model, adapter, sample)
    pairs = _match(units, report)
    units = [u for u, _ in pairs]
    knobs = dict(knobs or {})
    n_steps = report.n_steps
    count_layers = len(units)

    first = _full_pass(model, adapter, sample, units)
    layers: list[_Layer] = []
    for i, (unit, rep) in enumerate(pairs):
        target = rep.plan.target_rate
        layer = _Layer(i, unit, rep, target, None)
        if rep.plan.keep_weights or target is None:
            layer.mode, layer.note = "skipped", f"{rep.plan.strategy} plans no target rate; nothing to calibrate"
        elif rep.name in knobs:
            layer.knob = knobs[rep.name]
        elif _norms(unit):
            layer.knob = bias_knob(_norms(unit))
        else:
            layer.knob = weight_shift_knob(unit)
        layers.append(layer)
    params = list({id(p): p for layer in layers if layer.knob for p in layer.knob.params}.values())
    backup = [p.detach().clone() for p in params]
    full_passes, layer_runs = 1, 0
    notes: list[str] = []
    strategies: dict = {}
    inner = math.log1p(tol / 2)
    outer = math.log1p(tol)

    def classify(rec: _Pass) -> None:
        for layer in layers:
            i = layer.index
            if layer.mode == "skipped" or layer.knob is None:
                continue
            if i not in rec.current:
                layer.mode, layer.note = "global", "its neuron's input current is not readable; one step per full pass"
                continue
            try:
                run_neurons(layer.unit.info.neuron, rec.current[i][:1].float())
            except SnnInitError as exc:
                layer.mode, layer.note = "global", f"not simulated alone ({exc}); one step per full pass"
                continue
            norms = _norms(layer.unit)
            norm = norms[0] if len(norms) == 1 and len(layer.unit.synapses) == 1 else None
            if layer.knob.kind == "bias":  # the current moves by delta, whatever the input: re-run alone
                layer.mode = "local"
            elif layer.knob.direction is None or i not in rec.x or i not in rec.y:
                layer.mode, layer.note = "global", ("recurrent or neuron-held weights: one step per full pass"
                                                    if len(layer.unit.synapses) > 1 else
                                                    "its synapse's input is not readable; one step per full pass")
                continue
            if i > 0 and i in rec.x:  # for global layers too: their input's predicted change
                layer.sources = _sources(layer, rec)
            if i in rec.y:
                layer.path = _find_path(rec.y[i], rec.current[i], norm[1] if norm else None, rec.syn_per_step[i])
            if layer.path is None and layer.knob.kind != "bias":
                layer.mode, layer.note = "global", ("an operation other than pooling or its BatchNorm sits between "
                                                    "its weights and its neuron; one step per full pass")
                continue
            layer.mode = "local"
        # is the canonical form exact for this neuron? one layer of each kind re-run on its recorded current says;
        # where it is not, every layer of the kind measures its local/real ratio (one layer-run each)
        exact: dict[tuple, bool] = {}
        for layer in layers:
            if layer.mode != "local" or max_passes - 1 < 2 / count_layers:  # no budget for any local run
                continue
            kind = (type(layer.unit.neuron_module), layer.unit.info.neuron)
            if exact.get(kind) is True:
                continue
            r_sim = _rate(local_neuron(layer, rec.current[layer.index]))
            r_real = _rate(rec.spikes[layer.index])
            exact.setdefault(kind, r_real > 0 and abs(r_sim / r_real - 1) < 1e-3)
            layer.exact = exact[kind]
            if not exact[kind] and r_real > 0 and r_sim > 0:
                layer.bias = r_sim / r_real
                layer.note = (f"its canonical form fires {r_sim / r_real:.3g}x the real neuron on the same current; "
                              "the local model is scaled by that")
        for layer in layers:
            layer.exact = exact.get((type(layer.unit.neuron_module), layer.unit.info.neuron), True)
            if layer.mode == "local" and layer.bias == 1.0 and not exact.get(
                    (type(layer.unit.neuron_module), layer.unit.info.neuron), True):
                layer.note = "its canonical form differs from the real neuron; ratio not measurable (silent layer)"

    def measure(rec: _Pass) -> list[float]:
        return [_rate(rec.spikes[layer.index]) for layer in layers]

    def errors(rates: list[float]) -> list[float]:
        return [abs(_log_error(r, layer.target, rec_count[layer.index])) if layer.mode != "skipped" else 0.0
                for layer, r in zip(layers, rates)]

    rec = first
    rec_count = {layer.index: rec.spikes[layer.index].numel() for layer in layers}
    rates = measure(rec)
    for layer, r in zip(layers, rates):
        layer.rate_before = r
    best = (max(errors(rates), default=0.0), rates, [p.detach().clone() for p in params], [la.delta for la in layers])

    def local_neuron(layer: _Layer, current: torch.Tensor) -> torch.Tensor:
        nonlocal layer_runs
        layer_runs += 1
        return run_neurons(layer.unit.info.neuron, current.float())

    def norm_of(layer: _Layer) -> nn.Module | None:
        norms = _norms(layer.unit)
        return norms[0][1] if norms else None

    def local_run(layer: _Layer, y0: torch.Tensor | None, direction: torch.Tensor | None, current0: torch.Tensor,
                  e: float) -> torch.Tensor:
        layer.iterations += 1
        if layer.knob.kind == "bias":
            current = current0 + layer.knob.gain * e
        else:
            current = _apply_path(layer.path, y0 + e * direction, norm_of(layer), rec.syn_per_step[layer.index])
        return local_neuron(layer, current)

    classify(rec)

    try:
        while True:
            worst = max(errors(rates), default=0.0)
            if worst <= outer:
                converged = True
                break
            converged = False
            # a sweep needs at least one layer-run (or one global step) and the measuring pass after it; it stops
            # re-running layers when the budget is spent, so the lower layers are corrected first
            if full_passes + layer_runs / count_layers + 1 + 1 / count_layers > max_passes:
                notes.append(f"stopped by the budget of {max_passes} forward-pass equivalents")
                break
            new_spikes: dict[int, torch.Tensor] = {}
            moved: dict[int, float] = {}  # expected change of ln(rate) of the layers corrected in this sweep
            for layer, r in zip(layers, rates):
                if layer.mode == "skipped":
                    continue
                i = layer.index
                count = rec_count[i]
                f_real = _log_error(r, layer.target, count)
                if layer.mode == "global":
                    m_now = float(rec.x[i].double().mean()) if i in rec.x else None
                    layer.history.append((layer.delta, f_real, m_now))
                    if abs(f_real) <= inner:
                        continue
                    gain = layer.report.plan.gain if math.isfinite(layer.report.plan.gain) else 0.0
                    ahead = gain * _expected_input_change(layer, rates, moved)
                    points = [(d, f + ahead + (gain * math.log(m_now / m) if m_now and m and m_now > 0 else 0.0))
                              for d, f, m in layer.history]
                    slope = _predicted_slope(layer, n_steps, strategies)
                    step = _next_point(points[-2:], slope) - layer.delta
                    layer.knob.shift(step)
                    layer.delta += step
                    layer.iterations += 1
                    moved[i] = -f_real  # aimed at the target
                    continue
                # local: re-run this layer alone
                changed = any(k in new_spikes for k in layer.sources)
                budget_left = max_passes - 1 - full_passes - layer_runs / count_layers
                if budget_left < 1 / count_layers:
                    if changed or abs(f_real) > inner:
                        notes.append(f"{layer.unit.name} and above not re-run: out of budget in this sweep")
                    break
                x = _propagate(layer, rec, new_spikes) if changed else rec.x.get(i)
                if changed:
                    syn = layer.unit.synapses[0][1]
                    with torch.no_grad():
                        y0 = (syn(x.reshape(-1, *x.shape[2:])).reshape(*x.shape[:2], *rec.y[i].shape[2:])
                              if rec.syn_per_step[i] else syn(x))
                else:
                    y0 = rec.y.get(i)
                if layer.knob.kind == "bias":
                    direction = None
                    current0 = (_apply_path(layer.path, y0, norm_of(layer), rec.syn_per_step[i]) if changed
                                else rec.current[i])
                else:
                    direction, current0 = layer.knob.direction(x), None
                gain = layer.report.plan.gain if math.isfinite(layer.report.plan.gain) else 0.0
                m_old = float(rec.x[i].double().mean()) if x is not None else 1.0
                m_new = float(x.double().mean()) if x is not None else 1.0
                if changed:  # its input is re-simulated: the local model sees the change itself
                    shift_in = gain * math.log(m_new / m_old) if m_new > 0 and m_old > 0 else 0.0
                    local_target = layer.target * layer.bias
                else:  # the recorded input, moved by the expected change of its sources (Jacobi), if any
                    shift_in = gain * _expected_input_change(layer, rates, moved)
                    local_target = layer.target * layer.bias * math.exp(-shift_in)
                f_start = f_real + shift_in
                if abs(f_start) <= inner and abs(shift_in) <= inner / 4:
                    continue  # on target, and its input moved too little to matter: leave it
                slope = _predicted_slope(layer, n_steps, strategies)
                points: list[tuple[float, float]] = [] if changed else [(0.0, f_start)]
                e = -f_start / slope
                results: dict[float, torch.Tensor] = {}
                for _ in range(MAX_LOCAL_RUNS):
                    s = local_run(layer, y0, direction, current0, e)
                    f = _log_error(_rate(s), local_target, count)
                    points.append((e, f))
                    results[e] = s
                    if abs(f) <= inner:
                        break
                    if max_passes - 1 - full_passes - layer_runs / count_layers < 1 / count_layers:
                        break
                    e = _next_point(points, slope)
                e_best, f_best = min(((p, f) for p, f in points if p in results), key=lambda p: abs(p[1]))
                layer.knob.shift(e_best)
                layer.delta += e_best
                layer.local_rate = local_target * math.exp(f_best)
                layer.local_input_mean = _signature(layer, x, current0)
                if layer.exact:  # an approximate canonical form would feed the layers above wrong spikes
                    new_spikes[i] = results[e_best] * layer.unit.info.spike_scale
                moved[i] = f_best + math.log(local_target / layer.bias) - _log_error(r, 1.0, count)
            rec = _full_pass(model, adapter, sample, units)
            full_passes += 1
            rates = measure(rec)
            for layer, r in zip(layers, rates):  # the local model's ratio to the real neuron, at the same input
                if layer.local_rate is not None and r > 0:
                    now = _signature(layer, rec.x.get(layer.index), rec.current.get(layer.index))
                    if now is not None and layer.local_input_mean and abs(now / layer.local_input_mean - 1) < 1e-3:
                        layer.bias = layer.local_rate / r
                layer.local_rate = None
            worst = max(errors(rates), default=0.0)
            if worst < best[0]:
                best = (worst, rates, [p.detach().clone() for p in params], [la.delta for la in layers])
        if max(errors(rates), default=0.0) > best[0]:  # an earlier measured state was better: go back to it
            converged = best[0] <= outer
            with torch.no_grad():
                for p, saved in zip(params, best[2]):
                    p.copy_(saved)
            rates = best[1]
            for layer, d in zip(layers, best[3]):
                layer.delta = d
            notes.append("the last correction made the worst layer worse; kept the best measured state")
    except BaseException:
        with torch.no_grad():
            for p, saved in zip(params, backup):
                p.copy_(saved)
        raise
    for layer, r in zip(layers, rates):
        layer.rate_after = r
    fresh_rates: list[float | None] = [None] * len(layers)
    if fresh is not None:
        fr = _full_pass(model, adapter, fresh, units, keep=False)
        fresh_rates = [_rate(fr.spikes[layer.index]) for layer in layers]
    out = tuple(
        LayerCalibration(layer.unit.name, layer.knob.description if layer.knob else "-", layer.mode, layer.target,
                         layer.rate_before, layer.rate_after, layer.delta, layer.iterations,
                         fresh_rates[k] if layer.mode != "skipped" else None, layer.note)
        for k, layer in enumerate(layers))
    return CalibrationReport(adapter.name, tol, float(max_passes), out, full_passes, layer_runs, count_layers,
                             converged, time.perf_counter() - started, fresh is not None, tuple(notes))

