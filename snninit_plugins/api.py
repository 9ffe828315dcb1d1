"""``apply_init``: plan a model's spiking layers with a strategy and rewrite their weights in place.

Everything is planned and checked before the first write; the writes keep every ``Parameter`` object
(optimisers and hooks stay valid), run under ``torch.no_grad()``, honour ``generator=`` (same seed, same
weights, bit for bit), and are undone if any of them fails.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings

import torch
from torch import nn

from .errors import SnnInitError, StrategyOptionError
from .inputs import InputMoments, SynapticInput
from .plugins import get_adapters, get_strategies
from .predictors import density, jacobian_radius
from .sampling import sample_weight_
from .strategies import LayerPlan, LayerSpec, Strategy, TargetRate, make_strategy
from .strategies import strategy_options as option_defaults
from .walker import Unit, fan_in, find_units, transform_moments

#: Input rate assumed when neither ``sample`` nor ``input_rate`` is given.
DEFAULT_INPUT_RATE = 0.1


class UnknownFrameworkError(SnnInitError, KeyError):
    """The framework is unknown, not installed, or could not be detected."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownMethodError(SnnInitError, KeyError):
    """No strategy of that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class LayerReport:
    """One spiking layer as initialised (or planned, with ``dry_run``)."""

    name: str
    synapses: tuple[str, ...]
    neuron_class: str
    neuron: str
    fan_in: int
    plan: LayerPlan
    notes: tuple[str, ...] = ()
    #: the BatchNorms between synapses and neuron, and the (weight, bias) the plan gives each (None: left alone)
    norm: str | None = None
    norm_affine: tuple[float, float] | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "synapses": list(self.synapses), "neuron_class": self.neuron_class,
                "neuron": self.neuron, "fan_in": self.fan_in, "notes": list(self.notes), "norm": self.norm,
                "norm_affine": list(self.norm_affine) if self.norm_affine else None, **{
                    k: v for k, v in self.plan.as_dict().items() if k != "name"}}


@dataclasses.dataclass(frozen=True)
class InitReport:
    """What ``apply_init`` did: one row per spiking layer, and the modules it left alone (with why)."""

    framework: str
    method: str
    input: InputMoments
    n_steps: int | None
    layers: tuple[LayerReport, ...]
    skipped: tuple[tuple[str, str], ...]
    written: bool
    #: what ``calibrate=True`` measured and corrected (:class:`~snninit_plugins.calibration.CalibrationReport`)
    calibration: object = None
    #: the strategy's options (``Strategy.options()``); the printed header names those set away from the default
    options: dict = dataclasses.field(default_factory=dict)
    #: the options whose values differ from the strategy's defaults
    changed_options: dict = dataclasses.field(default_factory=dict)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LayerReport:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key or key in layer.synapses:
                    return layer
            raise KeyError(key)
        return self.layers[key]

    def as_dict(self) -> dict:
        return {"framework": self.framework, "method": self.method, "options": self.options, "n_steps": self.n_steps,
                "input": {"mean": self.input.mean, "second": self.input.second, "spiking": self.input.spiking},
                "written": self.written, "layers": [layer.as_dict() for layer in self.layers],
                "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
                "calibration": self.calibration.as_dict() if self.calibration is not None else None}

    def __str__(self) -> str:
        window = "stationary" if self.n_steps is None else f"T={self.n_steps}"
        head = (f"{'layer':<16} {'neuron':<22} {'fan-in':>6} {'mu_w':>10} {'sigma_w':>9} {'bias':>7} "
                f"{'rate in':>8} {'rate out':>8} {'G':>5}")
        changed = ", ".join(f"{key}={value!r}" for key, value in self.changed_options.items())
        method = f"{self.method} ({changed})" if changed else self.method
        lines = [f"snninit {method} on {self.framework} ({window}, input {self.input.mean:.3g}/step"
                 f"{'' if self.written else ', dry run: nothing written'})", head, "-" * len(head)]
        for layer in self.layers:
            p = layer.plan
            weights = ("kept", "", "") if p.keep_weights else (f"{p.weight_mean:.4g}", f"{p.weight_std:.4g}",
                                                                 f"{p.bias:.3g}")
            gain = "-" if not math.isfinite(p.gain) else f"{p.gain:.2f}"
            lines.append(f"{layer.synapses[0]:<16} {layer.neuron_class + ' ' + layer.name:<22.22} {layer.fan_in:>6} "
                         f"{weights[0]:>10} {weights[1]:>9} {weights[2]:>7} {p.input.mean:>8.4f} {p.rate:>8.4f} "
                         f"{gain:>5}")
        for layer in self.layers:
            lines.extend(f"note {layer.synapses[0]}: {note}" for note in layer.notes)
        for name, reason in self.skipped:
            lines.append(f"skipped {name}: {reason}")
        if self.calibration is not None:
            lines += ["", str(self.calibration)]
        return "\n".join(lines)


def detect_framework(model: nn.Module) -> str:
    """The framework whose classes the model uses (never imports a framework)."""
    adapters = get_adapters()
    modules = list(model.modules())
    claimed = [name for name, adapter in adapters.items() if adapter.claims(modules)]
    if len(claimed) == 1:
        return claimed[0]
    if len(claimed) > 1:
        raise UnknownFrameworkError(
            f"{type(model).__name__} mixes classes of {', '.join(claimed)}; pass framework=... explicitly")
    loaded = [name for name, a in adapters.items() if any(p in sys.modules for p in a.packages)]
    raise UnknownFrameworkError(
        f"could not detect the framework of {type(model).__name__}: no module of it belongs to "
        f"{', '.join(sorted(adapters)) or 'any registered adapter'}"
        + (f" (imported here: {', '.join(loaded)})" if loaded else "")
        + "; pass framework=... explicitly"
    )


def _adapter(framework: str, model: nn.Module):
    adapters = get_adapters()
    name = detect_framework(model) if framework == "auto" else framework
    if name not in adapters:
        raise UnknownFrameworkError(
            f"unknown framework {name!r}; available: {', '.join(sorted(adapters))}. Frameworks come with "
            "their extras, e.g. pip install \"snninit-plugins[snntorch]\" (or a third-party adapter plugin)")
    adapter = adapters[name]
    if not adapter.installed():
        raise UnknownFrameworkError(
            f"framework {name!r} is known but not importable; pip install \"snninit-plugins[{adapter.extra}]\"")
    return adapter


def _strategy(method: str | Strategy, options: dict) -> Strategy:
    if isinstance(method, Strategy):
        if options:
            raise StrategyOptionError(
                f"strategy options ({', '.join(repr(key) for key in options)}) were given with a strategy "
                f"instance ({type(method).__name__}); pass them to its constructor, or pass method by name")
        return method
    strategies = get_strategies()
    if method not in strategies:
        raise UnknownMethodError(f"unknown method {method!r}; available: {', '.join(sorted(strategies))}")
    return make_strategy(strategies[method], options)


def _input_moments(sample: torch.Tensor | None, input_rate: float | None) -> InputMoments:
    if sample is not None:
        return InputMoments.from_sample(sample.detach().to("cpu", torch.float64).numpy())
    if input_rate is not None:
        return InputMoments.spikes(input_rate)
    warnings.warn(
        f"apply_init: no sample and no input_rate given; assuming input spikes at {DEFAULT_INPUT_RATE}/step. "
        "Pass input_rate=... or sample=... to plan for your data.", UserWarning, stacklevel=3)
    return InputMoments.spikes(DEFAULT_INPUT_RATE)


def _layer_input(previous: LayerPlan | None, scale: float, first: InputMoments) -> InputMoments:
    if previous is None:
        return first
    out = previous.output_moments()
    if scale == 1.0:
        return out
    return InputMoments.analog(scale * out.mean, scale * scale * out.mean)


def _mix(ff: InputMoments, ff_fan: float, rec: InputMoments, rec_fan: float) -> InputMoments:
    r"""Per-input average moments of two groups of inputs together (feed-forward and recurrent; real and padding).

    The units' spread of the mixture is that of the two groups' unit means pooled:
    :math:`u^2 = \sum_g n_g (u_g^2 + m_g^2) / n - m^2`.
    """
    n = ff_fan + rec_fan
    mean = (ff_fan * ff.mean + rec_fan * rec.mean) / n
    second = (ff_fan * ff.second + rec_fan * rec.second) / n
    spread2 = (ff_fan * (ff.unit_spread**2 + ff.mean**2) + rec_fan * (rec.unit_spread**2 + rec.mean**2)) / n - mean**2
    second = max(second, mean * mean)
    spread = min(math.sqrt(max(spread2, 0.0)), math.sqrt(max(second - mean * mean, 0.0)))
    return InputMoments(mean, second, spiking=ff.spiking and rec.spiking, unit_spread=spread)


def _self_consistent(strategy: Strategy, spec: LayerSpec, plan: LayerPlan, feed_forward: InputMoments, ff_fan: int,
                     rec_fan: int, target: float, n_steps: int | None, passes: int = 4) -> tuple[LayerPlan, str]:
    r"""Re-plan a recurrent layer until the spread of its own rates, fed back, is the spread it predicts.

    The recurrent weights carry the layer's own spikes: a neuron's drift :math:`\sum_j w_{ij} r_j` inherits the
    spread of the rates r_j across the layer, which widens the spread again (a self-consistent, mean-field
    state). The first plan assumes recurrent input at the target rate from identical units; each pass feeds the
    plan's predicted rate spread back into the recurrent input, until it moves by less than 5% (at most 4
    passes: the spread converges geometrically, by a factor of about 0.4 per pass on the Norse recurrent layer).
    """
    spread = 0.0
    for _ in range(passes):
        new_spread = plan.rate_spread
        if abs(new_spread - spread) <= 0.05 * max(new_spread, 1e-6):
            break
        spread = new_spread
        moments = _mix(feed_forward, ff_fan, InputMoments.spikes(target, unit_spread=spread), rec_fan)
        plan = strategy.plan(spec, moments, target, n_steps)
    return plan, (f"recurrent input planned with the layer's own rate spread {plan.rate_spread:.3g} fed back "
                  "(self-consistent)")


def _norm_affine(spec: LayerSpec, plan: LayerPlan, norm: nn.Module, branches: int = 1,
                 identity_rate: float = 0.0) -> tuple[float, float]:
    """BatchNorm (weight, bias) that give the neuron the planned input (theory.md section 8).

    In training mode BatchNorm maps each channel's input u to gamma (u - E u) / std u + beta: the knob is
    (gamma, beta), not the weights. The planned per-step input x = W s + b has mean N mu_w m + b and, within
    one channel (rows are centred: BatchNorm removes each channel's own mean), the variance
    N (sigma_w^2 + mu_w^2)(q - m^2 - u^2), plus N sigma_w^2 u^2 from the units' rate spread where a channel
    spans positions fed by different units (conv). So beta = E x and gamma = the std of x within a channel.

    A residual merge sums K batch-normalised branches (means add, independent variances add: each gets
    beta / K and gamma / sqrt(K)) and possibly identity spikes at rate r (mean r and variance r (1 - r)
    are taken out of the planned input first).
    """
    drive = SynapticInput(spec.fan_in, plan.weight_mean, plan.weight_std, plan.input, bias=plan.bias,
                          centred_rows=True)
    variance = drive.noise_variance if isinstance(norm, nn.BatchNorm1d) else drive.variance
    mean = drive.mean - identity_rate
    variance = max(variance - identity_rate * (1 - identity_rate), 0.01 * variance)
    return math.sqrt(variance / branches), mean / branches


def _centring_reason(unit: Unit, readout: bool) -> str | None:
    """Why this unit's weight rows are centred whatever the strategy's option, or None (theory.md section 8).

    Stratified row sums give every neuron its own mean drive (quenched heterogeneity, which keeps a deep MLP's
    gain low). Where one row drives many neurons or decides the output that does not work:

    * a BatchNorm before the neuron removes each channel's mean anyway;
    * a conv row drives a whole feature map, so a low row sum silences the whole channel (the SpikingJelly
      conv net: 27-40% silent neurons with stratified rows, none with centred ones);
    * the readout (the last spiking layer) has few rows and no layer after it to carry heterogeneity: with
      stratified sums its top one or two neurons fire for every input (a 10-neuron readout of the snnTorch
      tutorial conv net: 0.065 +- 0.030 spikes/step over 8 seeds for a target of 0.1, and 10-20% silent; centred:
      0.105 +- 0.005).
    """
    if unit.norms:
        return "BatchNorm"
    if unit.synapses[0][1].weight.dim() > 2:
        return "conv: one row per feature map"
    if readout:
        return "readout: the last spiking layer"
    return None


def plan_model(units: list[Unit], strategy: Strategy, first: InputMoments, target_rate: TargetRate,
               n_steps: int | None) -> list[LayerReport]:
    """Plan every unit in order, each fed by the previous unit's predicted output.

    A unit with a BatchNorm before its neuron is planned with centred rows (the BatchNorm removes each
    channel's mean, so no quenched drift spread is left) and its BatchNorm gets the affine of
    :func:`_norm_affine`, when the strategy sets BatchNorms.
    """
    reports: list[LayerReport] = []
    specs: list[LayerSpec] = []
    previous: LayerPlan | None = None
    scale = 1.0
    rates: dict[str, float] = {}  # planned mean activity after each unit and stateless module (shortcuts)
    for i, unit in enumerate(units):
        arriving = _layer_input(previous, scale, first)
        for k, (name, _) in enumerate(unit.before):
            rates[name] = transform_moments(arriving, unit.before[: k + 1])[0].mean
        moments, notes = transform_moments(arriving, unit.before)
        if unit.valid_fraction < 1.0:  # zero padding: a share of the taps read inputs that never fire
            f = unit.valid_fraction
            moments = _mix(moments, f, InputMoments(0.0, 0.0, spiking=moments.spiking), 1.0 - f)
            notes.append(f"zero padding: {1 - f:.0%} of the kernel's taps fall outside the input on average; planned "
                         "as inputs that never fire")
        if target_rate == "preserve":
            target = first.mean if first.spiking else DEFAULT_INPUT_RATE
        elif isinstance(target_rate, (int, float)):
            target = float(target_rate)
        else:
            target = float(list(target_rate)[i])
        ff_fan = sum(fan_in(m) for n, m in unit.synapses
                     if not n.startswith(unit.name + ".") or n.startswith(unit.name + ".input"))
        rec_fan = unit.fan_in - ff_fan
        feed_forward = moments
        if rec_fan:  # recurrent weights carry the layer's own spikes at its target rate
            moments = _mix(feed_forward, ff_fan, InputMoments.spikes(target), rec_fan)
        centre = _centring_reason(unit, i == len(units) - 1) if strategy.sets_batchnorm else None
        spec = LayerSpec(unit.synapses[0][0], unit.info.neuron, unit.fan_in, unit.fan_out, pool=unit.pool,
                         pool_kind=unit.pool_kind, pool_correlation=unit.pool_correlation,
                         pool_windows=unit.pool_windows, centred_rows=centre is not None)
        plan = strategy.plan(spec, moments, target, n_steps)
        specs.append(spec)
        if rec_fan and not plan.keep_weights:
            plan, spread_note = _self_consistent(strategy, spec, plan, feed_forward, ff_fan, rec_fan, target, n_steps)
            notes.append(spread_note)
        notes = [*unit.notes, *notes]
        if centre and not plan.keep_weights and not unit.norms:
            notes.append(f"rows centred ({centre})")
        identity_rate = rates.get(unit.identity, 0.0) if unit.identity else 0.0
        affine = None
        names = ", ".join(n for n, _ in unit.norms)
        if unit.norms and strategy.sets_batchnorm and not plan.keep_weights:
            affine = _norm_affine(spec, plan, unit.norms[0][1], len(unit.norms), identity_rate)
            notes.append(f"{names} normalise{'s' if len(unit.norms) == 1 else ''} the synaptic current: weight and "
                         f"bias set to {affine[0]:.4g} and {affine[1]:.4g} (running statistics to the planned ones)"
                         + (f", {unit.identity}'s added spikes taken out of the planned input" if unit.identity
                            else ""))
        elif unit.norms:
            notes.append(f"{names}: BatchNorm left as it is ({strategy.name} does not set BatchNorms); the "
                         "predicted rate ignores it")
        elif unit.identity:
            notes.append(f"{unit.identity}'s spikes are added to the input (identity shortcut); the plan leaves them "
                         "out, so the layer fires above the predicted rate (calibrate=True corrects it)")
        if unit.pool > 1:
            notes.append(f"{unit.pool_kind} pooling of {unit.pool} positions (correlation "
                         f"{unit.pool_correlation:.2f}) before the neuron is in the plan")
        reports.append(LayerReport(unit.name, tuple(n for n, _ in unit.synapses), type(unit.neuron_module).__name__,
                                   unit.info.neuron.describe(), unit.fan_in, plan, tuple(notes),
                                   names or None, affine))
        previous, scale = plan, unit.info.spike_scale
        rates[unit.name] = plan.rate * scale
    return _note_unstable_runs(reports, specs, strategy, n_steps)


#: identical layers in a row from which a stack is checked for a fixed point unstable in the spread of rates
UNSTABLE_RUN = 3


def _note_unstable_runs(reports: list[LayerReport], specs: list[LayerSpec], strategy: Strategy,
                        n_steps: int | None) -> list[LayerReport]:
    """A note on the last layer of every run of at least :data:`UNSTABLE_RUN` identical layers (same neuron,
    fan-in and rows; planned weights) whose planned (rate, spread) map has a spectral radius above 1
    (:func:`~snninit_plugins.predictors.layer_jacobian`): a flag, not a cause. Planned with the window options
    (the default) no stack of benchmarks/depth.py has one (at most 0.98). Without them, the 4 such
    stacks of 48 end 5-54% below target at layer 50 (one fails), the other 44 at most 82% off with a median worst
    layer of 23% (two fail, radius 0.81 and 0.95); the radius does not tell which weights keep a real stack (with the
    former drift quadrature, a weight std whose plan had radius 0.65 failed beta 0.99, subtract reset, target
    0.05, T = 100 on three seeds, one with 1.33 passed), and what the plan misses there is the deep layers'
    bursty, slowly modulated trains (README, Known limits).
    Only for strategies that plan with the density method, and neurons without a synaptic filter (one
    Jacobian, four evaluations per run; a filtered neuron's take seconds each)."""
    if not strategy.reuses_plans:
        return reports
    start = 0
    for end in range(1, len(reports) + 1):
        if end < len(reports) and specs[end].key() == specs[start].key():
            continue
        last = reports[end - 1].plan
        filtered = specs[end - 1].neuron.is_filtered
        if end - start >= UNSTABLE_RUN and not filtered and not last.keep_weights and not last.centred_rows:
            drive = strategy.drive(specs[end - 1], last.input, last.weight_mean, last.weight_std, last.bias)
            radius = jacobian_radius(density, specs[end - 1].neuron, drive, n_steps=n_steps, n_cells=strategy.n_cells)
            if radius > 1.0:  # nan (no Jacobian) gives no note
                names = f"{reports[start].synapses[0]} .. {reports[end - 1].synapses[0]}"
                note = (f"{names} ({end - start} identical layers): the planned (rate, spread) map has spectral "
                        f"radius {radius:.2f} > 1 (predictors.layer_jacobian); deep layers of such stacks may drift "
                        "below target (measured 5-54% low at layer 50 in benchmarks/depth.py, where their spike "
                        "trains grow bursty and slowly modulated beyond what the plan carries); calibrate=True "
                        "corrects the rates on a sample")
                if not (strategy.window_offset and strategy.window_onset):
                    note += ("; or plan with window_offset=True, window_onset=True (the defaults), which kept every "
                             "stack of benchmarks/depth.py within x2 of its target to layer 50")
                reports[end - 1] = dataclasses.replace(reports[end - 1], notes=(*reports[end - 1].notes, note))
        start = end
    return reports


def _norm_tensors(norm: nn.Module) -> list[torch.Tensor]:
    return [t for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var) if t is not None]


def _set_norm(norm: nn.Module, affine: tuple[float, float], synapse: nn.Module, moments: InputMoments) -> None:
    """Write a BatchNorm's affine, and running statistics matching the written weights.

    Per channel c with weights w_c and bias b_c, input units at mean m, second moment q and rate spread u:
    E u_c = m sum w_c + b_c, Var u_c = (q - m^2 - u^2) sum w_c^2 (+ u^2 sum w_c^2 for conv), so that eval mode
    (which uses the running statistics) starts where training mode does.
    """
    norm.weight.fill_(affine[0])
    norm.bias.fill_(affine[1])
    if norm.running_mean is None:
        return
    w = synapse.weight.detach().reshape(synapse.weight.shape[0], -1).to(norm.running_mean.dtype)
    b = synapse.bias.detach() if getattr(synapse, "bias", None) is not None else 0.0
    spread = 0.0 if isinstance(norm, nn.BatchNorm1d) else moments.unit_spread ** 2
    if w.shape[0] == norm.running_mean.numel():
        norm.running_mean.copy_(moments.mean * w.sum(1) + b)
        norm.running_var.copy_(((moments.temporal_variance + spread) * (w * w).sum(1)).clamp_min(1e-12))


def _write(units: list[Unit], reports: list[LayerReport], generator: torch.Generator | None) -> None:
    """Write every planned layer, restoring all weights if any write fails."""
    params = [p for unit in units for _, m in unit.synapses for p in (m.weight, getattr(m, "bias", None))
              if p is not None]
    params += [t for unit in units for _, norm in unit.norms for t in _norm_tensors(norm)]
    backup = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for unit, report in zip(units, reports):
                plan = report.plan
                if plan.keep_weights:
                    continue
                rows = "centred" if plan.centred_rows else "stratified"
                scale = 1.0 if unit.norms else unit.input_scale  # the neuron gets scale x the weights' output
                for _, module in unit.synapses:
                    sample_weight_(module.weight, plan.weight_mean / scale, plan.weight_std / scale,
                                   law=plan.weight_law, rows=rows, generator=generator)
                    if getattr(module, "zero_diagonal", False):
                        module.weight.fill_diagonal_(0.0)
                    if getattr(module, "bias", None) is not None:
                        module.bias.fill_(plan.bias / scale)
                if report.norm_affine is not None:
                    for (_, norm), (_, synapse) in zip(unit.norms, unit.synapses):
                        _set_norm(norm, report.norm_affine, synapse, plan.input)
    except BaseException:
        with torch.no_grad():
            for p, saved in zip(params, backup):
                p.copy_(saved)
        raise


def apply_init(
    model: nn.Module,
    framework: str = "auto",
    method: str | Strategy = "general",
    *,
    input_rate: float | None = None,
    target_rate: TargetRate = "preserve",
    sample: torch.Tensor | None = None,
    T: int | None = None,
    generator: torch.Generator | None = None,
    dry_run: bool = False,
    calibrate: bool = False,
    calibrate_tol: float = 0.02,
    calibrate_passes: float = 5.0,
    fresh_sample: torch.Tensor | None = None,
    **strategy_options: object,
) -> InitReport:
    """Initialise a spiking model's synaptic weights in place so that every layer fires at a target rate.

    Args:
        model: the model, as built with its framework (Sequential or custom forward loop).
        framework: ``"auto"`` (detected from the model's classes, no import), or an adapter's name
            (``"snntorch"``...; see :func:`snninit_plugins.list_plugins`).
        method: a strategy name (``"general"``, ``"kaiming"``, ``"fluctuation_driven"``...) or instance.
        input_rate: spikes per step at the model's input, when no sample is given.
        target_rate: one rate, one per spiking layer, or ``"preserve"`` (every layer fires at the input rate).
        sample: an input batch exactly as ``model(sample)`` takes it; gives the input statistics (spikes or
            analog) and the call order of the layers (custom forward loops).
        T: the window in steps the model is run for, or None to plan stationary rates.
        generator: the torch Generator to sample weights from (same seed, same weights).
        dry_run: plan and report, write nothing.
        calibrate: after writing the plan, measure every layer's rate on ``sample`` and correct it in order
            (:func:`snninit_plugins.calibrate`: Newton, then secant steps) to within ``calibrate_tol``,
            using at most ``calibrate_passes`` forward-pass equivalents; ``fresh_sample`` reports the
            error on other data. Needs ``sample``.
        **strategy_options: passed to the strategy (``criterion=``, ``gain=``, ``centred_rows=``...).

    Returns:
        An :class:`InitReport`; ``print(report)`` shows the table.

    Raises:
        UnknownFrameworkError, UnknownMethodError, InfeasibleTargetError, ModelStructureError: before any
        weight is written; a failure while writing restores every weight.
    """
    if T is not None and (int(T) != T or T < 1):
        raise ValueError(f"T must be a positive number of steps or None, got {T!r}")
    if calibrate and (sample is None or dry_run):
        raise ValueError("calibrate=True measures the model on its sample: pass sample=... (and not dry_run=True)")
    adapter = _adapter(framework, model)
    strategy = _strategy(method, strategy_options)
    first = _input_moments(sample, input_rate)
    units, skipped = find_units(model, adapter, sample)
    if not isinstance(target_rate, (str, int, float)) and len(list(target_rate)) != len(units):
        raise ValueError(f"{len(list(target_rate))} target rates given for {len(units)} spiking layers "
                         f"({', '.join(u.name for u in units)})")
    reports = plan_model(units, strategy, first, target_rate, T)
    if not dry_run:
        _write(units, reports, generator)
    options = strategy.options()
    defaults = option_defaults(type(strategy))
    report = InitReport(adapter.name, strategy.name, first, T, tuple(reports), tuple(skipped), not dry_run,
                        options=options,
                        changed_options={k: v for k, v in options.items() if k in defaults and defaults[k] != v})
    if calibrate:
        from .calibration import calibrate as run_calibration

        report = dataclasses.replace(report, calibration=run_calibration(
            model, report, sample, framework=adapter.name, tol=calibrate_tol, max_passes=calibrate_passes,
            fresh=fresh_sample, units=units))
    return report
