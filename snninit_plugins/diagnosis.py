"""``diagnose``: run a real spiking model on a sample and say, layer by layer, whether it is healthy.

Every spiking layer's spikes (and membrane, where the neuron exposes it) are recorded on one run of the
model, the framework's way (:func:`snninit_plugins.recording.record`: state reset before and after, one
call per step for stepped models), and summarised with :func:`snninit_plugins.simulator.layer_activity`.
Each layer then gets one verdict, checked in this order (the thresholds are :class:`Thresholds`):

``collapsed``
    the layer has (nearly) fallen silent: more than ``max_silent`` (50%) of its neurons never spike, or
    its rate is below ``collapse_ratio`` (0.1) times a reference rate: the rate ``apply_init`` planned for
    it when ``report=`` is given, else the input rate when the sample is spikes (0/1), else the absolute
    ``floor_rate`` (0.001 spikes/step). The silent fraction counts only when the sample is large enough
    to tell: a neuron firing independently at rate r (the reference rate, else the measured one) stays
    silent over the sample's ``T x batch`` steps with probability ``(1 - r) ** (T * batch)``; where that
    exceeds ``max_silent / 2`` the silent fraction is not used, and the reason says so.
``saturated``
    the layer fires (nearly) all the time: its rate is above ``max_rate`` (0.9 spikes/step), or more than
    ``max_saturated`` (50%) of its neurons fire in at least 95% of the steps.
``synchronous``
    the neurons fire together: the synchrony index chi exceeds ``max_synchrony`` (20). chi is the variance
    over time of the population mean spike train divided by the mean single-neuron variance over N;
    1 for independent neurons, N for neurons in lock-step (so a layer of N <= 20 neurons is never flagged).
``healthy``
    none of the above.

Every verdict comes with a reason that names the numbers. With ``report=`` (the :class:`InitReport` of
``apply_init``) each planned layer also shows its predicted rate, and a layer more than
``plan_tolerance`` (x2) away from it says so in its reason (the verdict is unchanged).

``diagnose`` does not change the model: no weight is written, gradients are off, the state is reset
after the run. The model runs in the mode it is in (``train()`` or ``eval()``): dropout and batch norm
behave as they would in that mode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import torch
from torch import nn

from .api import InitReport, _adapter
from .errors import InputSpecError, SnnInitError
from .recording import record
from .simulator import layer_activity

__all__ = ["VERDICTS", "Diagnosis", "LayerDiagnosis", "ModelRunError", "Thresholds", "diagnose"]

#: The verdicts, in the order they are checked.
VERDICTS = ("collapsed", "saturated", "synchronous", "healthy")


class ModelRunError(SnnInitError, RuntimeError):
    """The model could not be run on the sample, or it has no spiking layer to diagnose."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Where the verdicts of :func:`diagnose` change; see the module docstring for how they are used.

    Attributes:
        collapse_ratio: collapsed below this fraction of the reference rate (planned, or input spikes).
        floor_rate: collapsed below this rate (spikes/step) when there is no reference rate.
        max_silent: collapsed when a larger fraction of neurons never spikes in the whole sample.
        max_rate: saturated above this many spikes per step (population mean).
        max_saturated: saturated when a larger fraction of neurons fires in >= 95% of the steps.
        max_synchrony: synchronous when chi is larger (1 = independent neurons, N = lock-step).
        plan_tolerance: with a report, a measured rate more than this factor away from the predicted one
            is mentioned in the reason.
    """

    collapse_ratio: float = 0.1
    floor_rate: float = 0.001
    max_silent: float = 0.5
    max_rate: float = 0.9
    max_saturated: float = 0.5
    max_synchrony: float = 20.0
    plan_tolerance: float = 2.0

    def __post_init__(self) -> None:
        for name in ("collapse_ratio", "floor_rate", "max_silent", "max_rate", "max_saturated"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"Thresholds.{name} must lie in [0, 1], got {value!r}")
        if not self.max_synchrony >= 1:
            raise ValueError(f"Thresholds.max_synchrony must be >= 1 (chi of independent neurons), "
                             f"got {self.max_synchrony!r}")
        if not self.plan_tolerance > 1:
            raise ValueError(f"Thresholds.plan_tolerance must be > 1 (a factor), got {self.plan_tolerance!r}")


@dataclasses.dataclass(frozen=True)
class LayerDiagnosis:
    """One spiking layer as measured on the sample.

    Attributes:
        name: the neuron module's name in the model (``named_modules``).
        neuron_class: its class name.
        neurons: neurons per sample (the product of the spike tensor's feature axes).
        rate: mean spikes per step over neurons, samples and steps (a spike is any nonzero output).
        silent_fraction: fraction of neurons that never spiked in any sample or step.
        saturated_fraction: fraction of neurons that spiked in at least 95% of the steps (over samples).
        synchrony: chi (1 = independent neurons, N = lock-step; nan when no neuron's output varies).
        membrane_mean, membrane_std: over neurons, samples and steps of the membrane the framework
            exposes after each step; None when the neuron does not expose it.
        predicted_rate: the rate ``apply_init`` planned for the layer (None without a report or when the
            report has no plan for it).
        reference_rate: the rate the collapse test compares with (planned, else input spikes), or None.
        verdict: one of :data:`VERDICTS`.
        reason: why, with the numbers.
        off_plan: the measured rate is more than ``plan_tolerance`` away from the predicted one.
        small_sample: the sample is too short or small for the silent fraction to mean anything (see the
            module docstring); it was not used for the verdict.
    """

    name: str
    neuron_class: str
    neurons: int
    rate: float
    silent_fraction: float
    saturated_fraction: float
    synchrony: float
    membrane_mean: float | None
    membrane_std: float | None
    predicted_rate: float | None
    reference_rate: float | None
    verdict: str
    reason: str
    off_plan: bool = False
    small_sample: bool = False

    @property
    def healthy(self) -> bool:
        return self.verdict == "healthy"

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found: one :class:`LayerDiagnosis` per spiking layer, in the order they ran.

    ``print(diagnosis)`` shows the table and the reason of every layer that is not healthy; ``as_dict()``
    is JSON-ready (nan becomes None).

    Attributes:
        framework: the adapter used.
        n_steps, batch: the sample's time steps and batch size.
        input_rate: mean of the sample per entry (spikes per step when ``input_spiking``).
        input_spiking: whether the sample is 0/1 spikes.
        layers: the spiking layers that ran.
        not_run: neuron modules of the model that were not called on the sample.
        thresholds: the thresholds the verdicts used.
        planned_steps: the window the report planned for (None: stationary or no report).
        notes: anything else worth knowing (report for another window, layers the report does not know...).
    """

    framework: str
    n_steps: int
    batch: int
    input_rate: float
    input_spiking: bool
    layers: tuple[LayerDiagnosis, ...]
    not_run: tuple[str, ...]
    thresholds: Thresholds
    planned_steps: int | None = None
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[LayerDiagnosis]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LayerDiagnosis:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"no spiking layer {key!r}; layers: {', '.join(lay.name for lay in self.layers)}")
        return self.layers[key]

    @property
    def healthy(self) -> bool:
        """Whether every spiking layer is healthy."""
        return all(layer.healthy for layer in self.layers)

    @property
    def verdicts(self) -> dict[str, str]:
        """Layer name -> verdict."""
        return {layer.name: layer.verdict for layer in self.layers}

    @property
    def rates(self) -> list[float]:
        """Measured rate of every layer, in order (for plots against depth)."""
        return [layer.rate for layer in self.layers]

    def summary(self) -> str:
        """One line: how many layers got each verdict, and the first layer that is not healthy."""
        counts = {v: sum(layer.verdict == v for layer in self.layers) for v in VERDICTS}
        text = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        bad = next((layer for layer in self.layers if not layer.healthy), None)
        return f"{len(self.layers)} spiking layers: {text}" + (f"; first unhealthy: {bad.name}" if bad else "")

    def as_dict(self) -> dict:
        return {"framework": self.framework, "n_steps": self.n_steps, "batch": self.batch,
                "input_rate": self.input_rate, "input_spiking": self.input_spiking,
                "planned_steps": self.planned_steps, "healthy": self.healthy, "summary": self.summary(),
                "thresholds": dataclasses.asdict(self.thresholds),
                "layers": [layer.as_dict() for layer in self.layers], "not_run": list(self.not_run),
                "notes": list(self.notes)}

    def __str__(self) -> str:
        kind = "spikes" if self.input_spiking else "analog"
        head = (f"{'layer':<14} {'neuron':<12} {'N':>6} {'rate':>7} {'planned':>7} {'silent':>6} {'sat':>5} "
                f"{'chi':>6} {'mem mean':>8} {'mem std':>7}  verdict")
        title = (f"diagnose {self.framework}: T={self.n_steps}, batch {self.batch}, input {self.input_rate:.4g}/step "
                 f"({kind})")
        lines = [title, head, "-" * len(head)]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<14.14} {layer.neuron_class:<12.12} {layer.neurons:>6} {layer.rate:>7.4f} "
                f"{_num(layer.predicted_rate, 7, '.4f')} {layer.silent_fraction:>6.1%} "
                f"{layer.saturated_fraction:>5.0%} {_num(layer.synchrony, 6, '.2f')} "
                f"{_num(layer.membrane_mean, 8, '.3f')} {_num(layer.membrane_std, 7, '.3f')}  {layer.verdict}")
        lines.append(self.summary())
        lines.extend(f"{layer.name}: {layer.verdict}: {layer.reason}" for layer in self.layers
                     if not layer.healthy or layer.off_plan or layer.small_sample)
        lines.extend(f"not run: {name} (not called on the sample)" for name in self.not_run)
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _num(value: float | None, width: int, fmt: str) -> str:
    if value is None or not math.isfinite(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}{fmt}}"


def compare(before: Diagnosis, after: Diagnosis) -> str:
    """The same model diagnosed twice (say, before and after ``apply_init``): one row per spiking layer with the
    rate before, the planned rate, the rate, silent fraction, chi and verdict after; then a summary line."""
    lines = [f"{'layer':>8} {'neurons':>7} {'before':>7} {'planned':>7} {'after':>7} {'silent':>6} {'chi':>6}  verdict"]
    for b, a in zip(before, after):
        lines.append(f"{a.name:>8} {a.neurons:>7} {b.rate:>7.4f} {_num(a.predicted_rate, 7, '.4f')} {a.rate:>7.4f} "
                     f"{a.silent_fraction:>6.1%} {_num(a.synchrony, 6, '.2f')}  {a.verdict}")
    lines.append(f"input {after.input_rate:.4f}/step; before: {before.summary()}; after: {after.summary()}; rates "
                 f"{min(after.rates):.4f}..{max(after.rates):.4f}" if after.rates else "no spiking layer measured")
    return "\n".join(lines)


def silent_by_chance(rate: float, samples: int | None) -> float:
    """Probability that a neuron firing independently at ``rate`` never fires in ``samples`` steps (0 if None)."""
    return (1.0 - min(max(rate, 0.0), 1.0)) ** samples if samples else 0.0


def verdict(rate: float, silent: float, saturated: float, chi: float, neurons: int, reference: float | None,
            thresholds: Thresholds, reference_name: str = "reference", samples: int | None = None) -> tuple[str, str]:
    """The verdict for one layer's numbers and its reason (see the module docstring for the rules).

    ``samples`` is the number of steps each neuron was observed (T x batch); None: large enough to tell.
    """
    th = thresholds
    if reference:
        floor, floor_text = th.collapse_ratio * reference, f"{th.collapse_ratio:g} x {reference_name} {reference:.4g}"
    else:
        floor, floor_text = th.floor_rate, "the floor rate"
    expected = reference or rate  # the rate the layer should have, else the one it has
    chance = silent_by_chance(expected, samples)
    small = chance > th.max_silent / 2
    why, caveat = [], ""
    if silent > th.max_silent and not small:
        why.append(f"{silent:.0%} of the {neurons} neurons never spike (> {th.max_silent:.0%})")
    elif silent > th.max_silent:
        caveat = (f"; {silent:.0%} silent is not used: at {expected:.3g} spikes/step, {chance:.0%} of independent "
                  f"neurons would stay silent over the sample's {samples} steps (T x batch) by chance; give a longer or "
                  "larger sample")
    if rate < floor:
        why.append(f"rate {rate:.4g} spikes/step is below {floor:.4g} ({floor_text})")
    if why:
        return "collapsed", "; ".join(why) + caveat
    if rate > th.max_rate:
        why.append(f"rate {rate:.3g} spikes/step is above {th.max_rate:g}")
    if saturated > th.max_saturated:
        why.append(f"{saturated:.0%} of the neurons fire in >= 95% of the steps (> {th.max_saturated:.0%})")
    if why:
        return "saturated", "; ".join(why) + caveat
    if math.isfinite(chi) and chi > th.max_synchrony:
        return "synchronous", (f"synchrony chi {chi:.3g} > {th.max_synchrony:g} (1 = independent neurons, "
                               f"{neurons} = lock-step){caveat}")
    chi_text = f"chi {chi:.3g}" if math.isfinite(chi) else "chi undefined"
    return "healthy", (f"rate {rate:.4g} spikes/step, {silent:.0%} silent, {saturated:.0%} saturated, "
                       f"{chi_text}{caveat}")


def diagnose(model: nn.Module, sample: torch.Tensor, framework: str = "auto", *, report: InitReport | None = None,
             thresholds: Thresholds | None = None) -> Diagnosis:
    """Run ``model`` on ``sample`` and give every spiking layer's activity and a verdict.

    Args:
        model: the model, as built with its framework.
        sample: a time-major input batch ``[T, batch, ...]``, run the framework's way (one call per step
            for stepped models such as snnTorch ``init_hidden`` Sequentials, one call on the whole
            sample otherwise). Spikes (0/1) or analog values.
        framework: ``"auto"`` (detected from the model's classes) or an adapter's name.
        report: the :class:`~snninit_plugins.api.InitReport` of ``apply_init`` on this model; its predicted
            rates are shown next to the measured ones and are the collapse test's reference.
        thresholds: where the verdicts change (:class:`Thresholds`).

    Returns:
        A :class:`Diagnosis`; ``print()`` it for the table.

    Raises:
        UnknownFrameworkError: the framework cannot be detected or is not installed.
        InputSpecError: the sample is not a time-major tensor.
        ModelRunError: the model fails on the sample, or has no spiking layer that ran.
    """
    th = thresholds or Thresholds()
    if not isinstance(sample, torch.Tensor):
        raise InputSpecError(f"sample must be a torch.Tensor shaped [T, batch, ...], got {type(sample).__name__}")
    if sample.ndim < 2 or sample.shape[0] < 1 or sample.shape[1] < 1:
        raise InputSpecError(f"sample must be time-major [T, batch, ...] with T >= 1 and batch >= 1, "
                             f"got shape {tuple(sample.shape)}")
    adapter = _adapter(framework, model)
    try:
        rec = record(model, adapter, sample)
    except SnnInitError:
        raise
    except Exception as exc:
        raise ModelRunError(f"running the {adapter.name} model {type(model).__name__} on a sample of shape "
                            f"{tuple(sample.shape)} [T, batch, ...] failed: {type(exc).__name__}: {exc}") from exc
    neuron_names = [n for n, m in model.named_modules() if adapter.is_neuron(m)]
    if not rec.spikes:
        where = (f"its {adapter.name} neurons ({', '.join(neuron_names)}) were not called or gave no spike tensor"
                 if neuron_names else f"it has no {adapter.name} neuron module")
        raise ModelRunError(f"nothing to diagnose in {type(model).__name__}: {where}")

    x = sample.detach()
    input_spiking = bool(((x == 0) | (x == 1)).all())
    input_rate = float(x.float().mean())
    planned = {layer.name: layer.plan.rate for layer in report} if report is not None else {}
    notes = []
    if report is not None:
        if report.framework != adapter.name:
            notes.append(f"the report is for {report.framework}, the model was run as {adapter.name}")
        unknown = [name for name in rec.spikes if name not in planned]
        if planned and len(unknown) == len(rec.spikes):
            raise ValueError(f"report= does not describe this model: it plans {', '.join(planned)}, the model's "
                             f"spiking layers are {', '.join(rec.spikes)}")
        if unknown:
            notes.append(f"not planned by the report: {', '.join(unknown)}")
        if report.n_steps is not None and report.n_steps != x.shape[0]:
            notes.append(f"the report planned rates for T={report.n_steps}, the sample has T={x.shape[0]}")
        elif report.n_steps is None:
            notes.append(f"the report planned stationary rates; the sample has T={x.shape[0]} steps from rest")

    modules = dict(model.named_modules())
    layers = []
    for name, spikes in rec.spikes.items():
        events = (spikes != 0).to(torch.float32)
        if events.ndim == 2:  # [T, batch]: one neuron per sample
            events = events.unsqueeze(-1)
        act = layer_activity(events)
        mem = rec.membrane.get(name)
        mem_mean = mem_std = None
        if mem is not None and mem.numel():
            mem64 = mem.to(torch.float64)
            mem_mean, mem_std = float(mem64.mean()), float(mem64.std(unbiased=False))
        predicted = planned.get(name)
        if predicted is not None:
            reference, reference_name = predicted, "the planned rate"
        elif input_spiking:
            reference, reference_name = input_rate, "the input rate"
        else:
            reference, reference_name = None, ""
        n = int(act.rate_per_neuron.size)
        samples = int(events.shape[0] * events.shape[1])
        v, reason = verdict(act.rate, act.silent_fraction, act.saturated_fraction, act.synchrony, n, reference, th,
                            reference_name, samples=samples)
        small = (act.silent_fraction > th.max_silent
                 and silent_by_chance(reference or act.rate, samples) > th.max_silent / 2)
        off_plan = False
        if predicted is not None and predicted > 0 and act.rate > 0:
            ratio = act.rate / predicted
            off_plan = max(ratio, 1 / ratio) > th.plan_tolerance
            if off_plan:
                reason += (f"; measured {act.rate:.4g} is x{max(ratio, 1 / ratio):.2g} "
                           f"{'above' if ratio > 1 else 'below'} the plan's {predicted:.4g}")
        layers.append(LayerDiagnosis(name, type(modules[name]).__name__, n, act.rate, act.silent_fraction,
                                     act.saturated_fraction, act.synchrony, mem_mean, mem_std, predicted,
                                     reference, v, reason, off_plan, small))
    not_run = tuple(n for n in neuron_names if n not in rec.spikes)
    return Diagnosis(adapter.name, int(x.shape[0]), int(x.shape[1]), input_rate, input_spiking, tuple(layers),
                     not_run, th, report.n_steps if report is not None else None, tuple(notes))
