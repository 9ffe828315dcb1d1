r"""Vectorised torch reference simulator of canonical neurons: the ground truth for the theory.

It runs the canonical recursion of :mod:`snninit_plugins.neuron` literally (theory.md section 2)

.. math::

    I[t] &= \alpha I[t-1] + x[t] \quad\text{(only with a synaptic filter; else } D[t] = x[t])\\
    H[t] &= \beta V[t-1] + g D[t] + c \;\big[-\,\theta s[t-1] \text{ with snnTorch's next-step subtract}\big]\\
    s[t] &= H[t] > \theta \quad(\ge \text{ when ``strict=False``})\\
    V[t] &= H - s\theta \;|\; (1-s)H + s\,v_{reset} \;|\; H

with :math:`V[0] = V_0`, :math:`I[0] = 0`, :math:`s[0] = 0`. The next-step reset is simulated as snnTorch does
(subtraction of :math:`\theta` at the next step, not multiplied by :math:`\beta`), *not* through its
equivalence with an immediate subtraction of :math:`\theta/\beta`; the tests check that equivalence.

On top of the neuron it measures what a depth check needs (theory.md section 7): population rate, silent and
saturated fractions, the synchrony index :math:`\chi` and the Fano factor, and it gives a low-noise single-layer
rate (:func:`simulate_layer_rate`) against which predictors are scored. This module imports torch; the package
``__init__`` does not import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from .errors import InputSpecError, NeuronSpecError
from .neuron import CanonicalNeuron

__all__ = [
    "LayerActivity",
    "bernoulli_spikes",
    "layer_activity",
    "run_neurons",
    "simulate_layer_rate",
    "simulate_stack",
]

_CHUNK_BYTES = 512 * 2**20  # working-memory budget per group chunk in simulate_layer_rate


# --------------------------------------------------------------------------------------------- spikes in
def _bernoulli(rate: float | np.ndarray, shape: tuple[int, ...], generator: torch.Generator | None,
               dtype: torch.dtype) -> torch.Tensor:
    p = np.asarray(rate, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise InputSpecError(f"spike rate must lie in [0, 1], got {rate!r}")
    try:
        np.broadcast_shapes(p.shape, shape)
    except ValueError as exc:
        raise InputSpecError(f"rate of shape {p.shape} does not broadcast to spikes of shape {shape}") from exc
    u = torch.rand(shape, generator=generator, dtype=torch.float32)  # resolution 2**-24 on the rate
    return (u < torch.as_tensor(p, dtype=torch.float32)).to(dtype)


def bernoulli_spikes(rate: float | np.ndarray, n_steps: int, shape: tuple[int, ...], *,
                     generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Independent Bernoulli spike trains :math:`a_j[t] \sim \mathrm{Bernoulli}(p)` of shape ``(n_steps, *shape)``.

    These are the white presynaptic spikes of theory.md section 3 (:math:`m_a = q_a = p`). ``rate`` is a scalar or
    an array broadcast against ``shape`` (numpy rules: along the last axes, e.g. one rate per input channel).
    """
    if n_steps < 0:
        raise InputSpecError(f"n_steps must be >= 0, got {n_steps}")
    return _bernoulli(rate, (int(n_steps), *tuple(shape)), generator, dtype)


# --------------------------------------------------------------------------------------------- neurons
def _param(neuron: CanonicalNeuron, name: str, n: int, like: torch.Tensor) -> torch.Tensor:
    """Neuron parameter ``name`` as a tensor broadcasting along the last axis (length ``n``) of ``like``."""
    value = getattr(neuron, name)
    if isinstance(value, np.ndarray) and value.size != n:
        raise NeuronSpecError(
            f"neuron parameter {name!r} has {value.size} entries but the input has {n} neurons on its last axis"
        )
    if isinstance(value, np.ndarray):
        value = value.copy()  # the neuron's arrays are read-only; torch wants a writable buffer
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def run_neurons(neuron: CanonicalNeuron, x: torch.Tensor, *,
                record_membrane: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Run the canonical recursion (theory.md section 2) over time for every neuron at once.

    Per step :math:`t = 1..T` (with :math:`V[0]=V_0`, :math:`I[0]=0`, :math:`s[0]=0`):
    :math:`I[t] = \alpha I[t-1] + x[t]` (only when ``neuron.alpha`` is set, else :math:`D = x`),
    :math:`H[t] = \beta V[t-1] + g D[t] + c`, minus :math:`\theta s[t-1]` for snnTorch's next-step subtract reset
    (``reset="subtract"`` and ``next_step_reset``; the leak does not act on it);
    :math:`s[t] = H[t] > \theta` (``>=`` when not strict); and :math:`V[t] = H - s\theta` (immediate subtract),
    :math:`H` (next-step subtract, whose reset is applied in the next step, and ``none``) or
    :math:`v_{reset}` where :math:`s=1` (``value``). ``next_step_reset`` only affects the subtract reset.
    For ``refractory`` steps after a spike the membrane stays at :math:`v_{reset}` and cannot spike (the
    synaptic current, if any, keeps integrating).

    Args:
        neuron: the population; per-neuron parameters broadcast along the last axis of ``x``.
        x: synaptic input (the output of the weights), shape ``(T, ..., N)``, floating point.
        record_membrane: also return the pre-reset membrane ``H``.

    Returns:
        spikes ``(T, ..., N)`` in the dtype of ``x`` (0/1), and ``H`` of the same shape if ``record_membrane``.
    """
    if x.ndim < 2 or not x.is_floating_point():
        raise InputSpecError(f"x must be a floating tensor of shape (T, ..., N), got {x.dtype} {tuple(x.shape)}")
    n = x.shape[-1]
    beta, gain, drive, theta, v_reset = (_param(neuron, k, n, x) for k in ("beta", "gain", "drive", "threshold",
                                                                             "v_reset"))
    alpha = None if neuron.alpha is None else _param(neuron, "alpha", n, x)
    delayed = neuron.reset == "subtract" and neuron.next_step_reset
    state_shape = x.shape[1:]
    v = torch.broadcast_to(_param(neuron, "v0", n, x), state_shape).clone()
    cur = torch.zeros(state_shape, dtype=x.dtype, device=x.device)
    s_prev = torch.zeros(state_shape, dtype=torch.bool, device=x.device)
    hold = torch.zeros(state_shape, dtype=torch.int64, device=x.device)  # refractory steps left
    spikes = torch.empty_like(x)
    membrane = torch.empty_like(x) if record_membrane else None
    for t in range(x.shape[0]):
        d = x[t]
        if alpha is not None:
            cur = alpha * cur + d
            d = cur
        h = beta * v + gain * d + drive
        if delayed:
            h = torch.where(s_prev, h - theta, h)
        if neuron.refractory:
            held = hold > 0
            h = torch.where(held, v_reset, h)
            hold = torch.where(held, hold - 1, hold)
        s = h > theta if neuron.strict else h >= theta
        if neuron.refractory:
            s = s & ~held
            hold = torch.where(s, torch.full_like(hold, neuron.refractory), hold)
        if neuron.reset == "subtract" and not delayed:
            v = torch.where(s, h - theta, h)
        elif neuron.reset == "value":
            v = torch.where(s, v_reset, h)
        else:
            v = h
        spikes[t] = s
        if membrane is not None:
            membrane[t] = h
        s_prev = s
    return (spikes, membrane) if membrane is not None else spikes


# --------------------------------------------------------------------------------------------- measurements
@dataclasses.dataclass(frozen=True, eq=False)
class LayerActivity:
    r"""Activity summary of one layer (theory.md section 7: rates alone pass a dead network).

    Attributes:
        rate: mean spikes per step over neurons, samples and steps.
        rate_per_neuron: ``(N,)`` mean over samples and steps.
        silent_fraction: fraction of neurons that never spiked in any sample or step.
        saturated_fraction: fraction of neurons with ``rate_per_neuron >= 0.95``.
        synchrony: :math:`\chi = \overline{\mathrm{Var}_t(\bar s)} / (\overline{\mathrm{Var}_t(s_i)} / N)`, variances
            over time per sample, numerator and denominator averaged over samples (and neurons) before the ratio;
            1 for independent neurons, N for lock-step; nan if no neuron varies. Taken after the onset from rest
            (``onset_steps`` of :func:`layer_activity`: the first fifth of the window by default).
        fano: mean over neurons with a nonzero mean count of :math:`\mathrm{Var}_b(n)/E_b(n)` of the spike count
            ``n`` over the window, across samples (unbiased variance); nan with fewer than 2 samples.
    """

    rate: float
    rate_per_neuron: np.ndarray
    silent_fraction: float
    saturated_fraction: float
    synchrony: float
    fano: float

    def as_dict(self) -> dict:
        """Plain (JSON-friendly) dict; ``rate_per_neuron`` becomes a list of floats."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["rate_per_neuron"] = [float(r) for r in self.rate_per_neuron]
        return d


def layer_activity(spikes: torch.Tensor, *, skip_steps: int = 0, onset_steps: int | None = None) -> LayerActivity:
    """Summarise spikes of shape ``(T, B, N)`` (or ``(T, B, *features)``, flattened to N); see :class:`LayerActivity`.

    ``skip_steps`` drops an initial transient from every measurement, for stationary measurements.

    ``onset_steps`` more steps are left out of the synchrony chi only (default: the first fifth of the remaining
    window, ``T // 5``). Every sample starts from rest, so the population rate rises from 0 at the same steps in
    every sample; over a whole short window that deterministic rise alone gives a large chi in a large layer:
    a 1728-neuron conv layer whose rate rises over its first 5 of 25 steps measures chi 17.7 over the window and
    2.0 after the onset (snnTorch tutorial conv net). That is the clock, not neurons firing together; neurons in
    lock-step still give chi = N after the onset.
    """
    if spikes.ndim < 3:
        raise InputSpecError(f"spikes must have shape (T, B, N...), got {tuple(spikes.shape)}")
    if not 0 <= skip_steps < spikes.shape[0]:
        raise InputSpecError(f"skip_steps must lie in [0, T) = [0, {spikes.shape[0]}), got {skip_steps}")
    s = spikes[skip_steps:].reshape(spikes.shape[0] - skip_steps, spikes.shape[1], -1).to(torch.float64)
    if onset_steps is not None and not 0 <= onset_steps <= s.shape[0] - 2:
        raise InputSpecError(f"onset_steps must leave at least 2 of the {s.shape[0]} steps for chi, got {onset_steps}")
    onset = s.shape[0] // 5 if onset_steps is None else onset_steps
    n_samples, n = s.shape[1], s.shape[2]
    per_neuron = s.mean(dim=(0, 1))
    late = s[onset:]
    var_pop = late.mean(dim=2).var(dim=0, unbiased=False).mean()
    var_single = late.var(dim=0, unbiased=False).mean()
    synchrony = float(var_pop / (var_single / n)) if var_single > 0 else math.nan
    fano = math.nan
    if n_samples >= 2:
        counts = s.sum(dim=0)
        mean_c, var_c = counts.mean(dim=0), counts.var(dim=0, unbiased=True)
        active = mean_c > 0
        if bool(active.any()):
            fano = float((var_c[active] / mean_c[active]).mean())
    rate_per_neuron = per_neuron.cpu().numpy()
    return LayerActivity(
        rate=float(s.mean()),
        rate_per_neuron=rate_per_neuron,
        silent_fraction=float((s.sum(dim=(0, 1)) == 0).double().mean()),
        saturated_fraction=float(np.mean(rate_per_neuron >= 0.95)),
        synchrony=synchrony,
        fano=fano,
    )


# --------------------------------------------------------------------------------------------- networks
def simulate_stack(
    neurons: Sequence[CanonicalNeuron] | CanonicalNeuron,
    weights: Sequence[torch.Tensor],
    input_spikes: torch.Tensor,
    *,
    biases: Sequence[torch.Tensor | None] | None = None,
    skip_steps: int = 0,
    return_spikes: bool = False,
) -> list[LayerActivity] | tuple[list[LayerActivity], list[torch.Tensor]]:
    r"""Run a feed-forward stack: layer l gets :math:`x = a_{l-1} W_l^\top + b_l` and emits ``run_neurons(neuron_l, x)``.

    Args:
        neurons: one neuron for every layer, or one per layer.
        weights: ``W_l`` of shape ``(N_l, N_{l-1})``.
        input_spikes: :math:`a_0`, shape ``(T, B, N_0)``; non-floating input is cast to the weights' dtype.
        biases: ``b_l`` (shape ``(N_l,)``) or None per layer.
        skip_steps: initial steps left out of every :class:`LayerActivity`.
        return_spikes: also return every layer's spikes (otherwise only the current layer is kept in memory).

    Returns:
        one :class:`LayerActivity` per layer, and the list of spike tensors if ``return_spikes``.
    """
    n_layers = len(weights)
    layer_neurons = [neurons] * n_layers if isinstance(neurons, CanonicalNeuron) else list(neurons)
    layer_biases = [None] * n_layers if biases is None else list(biases)
    if len(layer_neurons) != n_layers or len(layer_biases) != n_layers:
        raise InputSpecError(
            f"got {n_layers} weights, {len(layer_neurons)} neurons and {len(layer_biases)} biases; give one per layer"
        )
    a = input_spikes
    if not a.is_floating_point():
        a = a.to(weights[0].dtype if n_layers else torch.float32)
    activities: list[LayerActivity] = []
    kept: list[torch.Tensor] = []
    with torch.no_grad():
        for neuron, w, b in zip(layer_neurons, weights, layer_biases):
            x = torch.nn.functional.linear(a, w.to(a), None if b is None else b.to(a))
            a = run_neurons(neuron, x)
            del x
            activities.append(layer_activity(a, skip_steps=skip_steps))
            if return_spikes:
                kept.append(a)
    return (activities, kept) if return_spikes else activities


def simulate_layer_rate(
    neuron: CanonicalNeuron,
    *,
    fan_in: int,
    weight_mean: float,
    weight_std: float,
    input_rate: float,
    n_steps: int,
    bias: float = 0.0,
    centred_rows: bool = False,
    skip_steps: int = 0,
    n_groups: int = 64,
    rows_per_group: int = 256,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    weight_law: str = "normal",
) -> tuple[float, float]:
    r"""Ground-truth population rate of one layer fed by Bernoulli spikes, with its standard error.

    ``n_groups`` independent groups; each has its own ``fan_in`` Bernoulli(``input_rate``) input trains over
    ``n_steps`` and its own ``rows_per_group`` fresh weight rows, i.i.d. :math:`W_{ij} \sim N(\mu_w, \sigma_w^2)`
    (or uniform with that mean and std, ``weight_law="uniform"``). ``centred_rows`` shifts each row so that its sum
    is exactly :math:`N\mu_w` (theory.md section 3, quenched drift removed). Neurons of one group share its input,
    as in a real layer; groups are independent, so the standard error is honest.

    Returns:
        ``(rate, standard_error)``: mean spikes per step over all neurons and steps from ``skip_steps`` on, and
        the std over groups of the group means divided by :math:`\sqrt{n_{groups}}` (nan for one group).
    """
    if fan_in < 1 or n_groups < 1 or rows_per_group < 1:
        raise InputSpecError(f"fan_in, n_groups, rows_per_group must be >= 1, got {fan_in}, {n_groups}, {rows_per_group}")
    if not 0 <= skip_steps < n_steps:
        raise InputSpecError(f"need 0 <= skip_steps < n_steps, got skip_steps={skip_steps}, n_steps={n_steps}")
    if not weight_std >= 0:
        raise InputSpecError(f"weight_std must be >= 0, got {weight_std}")
    if weight_law not in ("normal", "uniform"):
        raise InputSpecError(f"weight_law must be 'normal' or 'uniform', got {weight_law!r}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    per_group = n_steps * fan_in * (itemsize + 5)  # float32 uniforms + bool + spikes
    per_group += rows_per_group * fan_in * itemsize + 3 * n_steps * rows_per_group * itemsize
    chunk = max(1, min(n_groups, _CHUNK_BYTES // per_group))
    group_means: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, n_groups, chunk):
            g = min(chunk, n_groups - start)
            inputs = _bernoulli(input_rate, (g, n_steps, fan_in), generator, dtype)
            # standardised draws at float32 resolution (3x faster than float64), arithmetic in dtype
            if weight_law == "normal":
                w = torch.randn((g, rows_per_group, fan_in), generator=generator, dtype=torch.float32)
            else:
                w = torch.rand((g, rows_per_group, fan_in), generator=generator, dtype=torch.float32)
                w.mul_(2.0).sub_(1.0).mul_(math.sqrt(3.0))
            w = w.to(dtype).mul_(weight_std).add_(weight_mean)
            if centred_rows:
                w.sub_(w.mean(dim=2, keepdim=True) - weight_mean)
            x = torch.bmm(inputs, w.transpose(1, 2))  # (g, T, rows)
            del inputs, w
            if bias:
                x = x + bias
            spikes = run_neurons(neuron, x.transpose(0, 1).contiguous())  # (T, g, rows)
            group_means.append(spikes[skip_steps:].to(torch.float64).mean(dim=(0, 2)))
    means = torch.cat(group_means)
    se = float(means.std(unbiased=True)) / math.sqrt(n_groups) if n_groups > 1 else math.nan
    return float(means.mean()), se
