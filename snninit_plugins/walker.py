"""Find the synapse -> neuron units of a torch model, framework-agnostically (frameworks.md section 1.2).

Each spiking neuron module is paired with the last weight-bearing module (``nn.Linear``, ``nn.Conv1/2/3d``
and their subclasses) that comes before it: in definition order (``named_modules``) when no sample is
given, in call order (forward hooks on one run of the sample) when one is. Weights that live inside a
neuron (snnTorch ``RLeaky.recurrent``...) come from the adapter. The stateless modules met between the
previous neuron and the synapse (pooling, flatten, dropout) change the input statistics and are kept.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .adapter import Adapter, NeuronInfo
from .errors import SnnInitError
from .inputs import InputMoments

SYNAPSE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class ModelStructureError(SnnInitError, ValueError):
    """The model has no spiking layer to initialise, or a structure the walker cannot pair."""


@dataclasses.dataclass
class Unit:
    """One spiking layer: its neuron, the weights feeding it and what sits before them."""

    name: str
    neuron_module: nn.Module
    info: NeuronInfo
    synapses: list[tuple[str, nn.Module]]
    before: list[tuple[str, nn.Module]]
    pool: int = 1
    pool_kind: str = "max"
    pool_correlation: float = 0.0
    pool_windows: tuple[tuple[int, ...], ...] | None = None
    norm: tuple[str, nn.Module] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fan_in(self) -> int:
        return sum(fan_in(m) for _, m in self.synapses)

    @property
    def fan_out(self) -> int:
        name, m = self.synapses[0]
        return int(m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1))


def fan_in(module: nn.Module) -> int:
    """Inputs per output unit: in_features, or in_channels/groups * prod(kernel) (= weight[0].numel()).

    A recurrent matrix without autapses (:class:`~snninit_plugins.adapter.OwnedWeight` with
    ``zero_diagonal``) has one input less.
    """
    return int(module.weight[0].numel()) - int(getattr(module, "zero_diagonal", False))


def _leaves(model: nn.Module, adapter: Adapter) -> list[tuple[str, nn.Module]]:
    """Modules in definition order: neurons (not their children) and childless modules."""
    out: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue  # children of a neuron (surrogates, owned recurrent weights)
        if adapter.is_neuron(module):
            out.append((name, module))
            inside.append(name)
        elif not any(True for _ in module.children()):
            out.append((name, module))
    return out


def _call_order(model: nn.Module, adapter: Adapter, sample: torch.Tensor
                ) -> tuple[list[tuple[str, nn.Module]], dict[str, torch.Tensor]]:
    """The same modules in the order one forward pass first calls them, and what they saw.

    Also returns, from that first call, each weight module's output and each neuron's input (to see
    pooling done by functions such as ``F.max_pool2d`` between them).
    """
    leaves = _leaves(model, adapter)
    order: list[tuple[str, nn.Module]] = []
    seen: set[str] = set()
    tensors: dict[str, torch.Tensor] = {}
    handles = []

    def pre_hook(name: str, module: nn.Module):
        def record(_: nn.Module, args: tuple) -> None:
            if name not in seen:
                seen.add(name)
                order.append((name, module))
                if adapter.is_neuron(module) and args and isinstance(args[0], torch.Tensor):
                    tensors[name] = args[0].detach()
        return record

    def post_hook(name: str):
        def record(_: nn.Module, __: tuple, out: object) -> None:
            if name not in tensors and isinstance(out, torch.Tensor):
                tensors[name] = out.detach()
        return record

    for name, module in leaves:
        handles.append(module.register_forward_pre_hook(pre_hook(name, module)))
        if isinstance(module, SYNAPSE_TYPES):
            handles.append(module.register_forward_hook(post_hook(name)))
    adapter.reset(model)
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in handles:
            h.remove()
        adapter.reset(model)
    # modules never called keep their definition-order place at the end (they are reported unused)
    return order + [(n, m) for n, m in leaves if n not in seen], tensors


def _pool_window(pool: nn.Module) -> tuple[int, ...]:
    """A pooling module's window per spatial axis (``MaxPool2d(2)`` -> (2, 2))."""
    dims = int(type(pool).__name__[-2])
    size = pool.kernel_size
    return tuple(size) if isinstance(size, tuple) else (size,) * dims


def _window_correlation(synapse: nn.Module, window: tuple[int, ...]) -> float:
    """Mean correlation of the fluctuations at two positions of one pooling window of a conv's output.

    Two output positions offset by d (per axis) share a fraction prod_a max(0, K_a - |d_a| S_a)/K_a of
    their inputs (kernel K, stride S); independent inputs make that the correlation.
    """
    if not isinstance(synapse, nn.Conv1d | nn.Conv2d | nn.Conv3d) or math.prod(window) < 2:
        return 0.0
    kernel, stride = synapse.kernel_size, synapse.stride
    offsets = torch.cartesian_prod(*[torch.arange(w) for w in window]).reshape(-1, len(window))
    total, pairs = 0.0, 0
    for i in range(len(offsets)):
        for j in range(i + 1, len(offsets)):
            shared = 1.0
            for a, (k, st) in enumerate(zip(kernel, stride)):
                d = abs(int(offsets[i][a]) - int(offsets[j][a]))
                shared *= max(0, k - d * st) / k
            total += shared
            pairs += 1
    return total / pairs


def pool_windows(synapse: nn.Module, window: tuple[int, ...]) -> tuple[tuple[int, ...], ...] | None:
    """Each pooled output position's inputs, as indices into the patch they cover together (conv only)."""
    if not isinstance(synapse, nn.Conv1d | nn.Conv2d | nn.Conv3d) or len(window) != len(synapse.kernel_size):
        return None
    kernel, stride, dilation = synapse.kernel_size, synapse.stride, synapse.dilation
    channels = synapse.in_channels // synapse.groups
    extent = [(w - 1) * s + (k - 1) * d + 1 for w, s, k, d in zip(window, stride, kernel, dilation)]
    index = np.arange(channels * math.prod(extent)).reshape(channels, *extent)
    windows = []
    for position in itertools.product(*[range(w) for w in window]):
        cut = tuple(slice(p * s, p * s + (k - 1) * d + 1, d) for p, s, k, d in zip(position, stride, kernel, dilation))
        windows.append(tuple(index[(slice(None), *cut)].ravel().tolist()))
    return tuple(windows)


def _pooling(synapse: nn.Module, between: list[tuple[str, nn.Module]], seen_out: torch.Tensor | None,
             seen_in: torch.Tensor | None) -> tuple[int, str, float, list[str], tuple[int, ...] | None]:
    """Pooling of the synaptic current before the neuron: (positions, kind, correlation, notes, window)."""
    for _, m in between:
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d | nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
            window = _pool_window(m)
            kind = "max" if "Max" in type(m).__name__ else "avg"
            return math.prod(window), kind, _window_correlation(synapse, tuple(window)), [], tuple(window)
    if seen_out is None or seen_in is None or seen_in.numel() >= seen_out.numel():
        return 1, "max", 0.0, [], None
    # a functional pooling (F.max_pool2d...) between them: recognise it from what the hooks saw
    if seen_out.dim() == seen_in.dim() and seen_out.dim() >= 3:
        spatial = seen_out.dim() - 2
        factors = [a // b for a, b in zip(seen_out.shape[2:], seen_in.shape[2:])]
        if all(f >= 1 for f in factors):
            pools = {"max": [F.max_pool1d, F.max_pool2d, F.max_pool3d][spatial - 1],
                     "avg": [F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][spatial - 1]}
            for kind, fn in pools.items():
                pooled = fn(seen_out, tuple(factors))
                if pooled.shape == seen_in.shape and torch.allclose(pooled, seen_in, atol=1e-6):
                    return math.prod(factors), kind, _window_correlation(synapse, tuple(factors)), [
                        f"found {kind} pooling {tuple(factors)} of the synaptic current before the neuron"], tuple(factors)
    return 1, "max", 0.0, ["the neuron receives fewer values than the weights produce, by an operation "
                           "not recognised as pooling; planned as if unchanged"], None


def _interleave_lists(sequence: list[tuple[str, nn.Module]], adapter: Adapter
                      ) -> tuple[list[tuple[str, nn.Module]], bool]:
    """Definition order of ``ModuleList(Linear x K)`` then ``ModuleList(Leaky x K)``: pair them by position.

    A run of K >= 2 weight layers directly followed by a run of exactly K neurons cannot be a chain of
    weight layers feeding one neuron; it is the tutorial pattern of separate lists, so interleave them.
    """
    out: list[tuple[str, nn.Module]] = []
    changed = False
    i = 0
    while i < len(sequence):
        j = i
        while j < len(sequence) and isinstance(sequence[j][1], SYNAPSE_TYPES):
            j += 1
        k = j
        while k < len(sequence) and adapter.is_neuron(sequence[k][1]):
            k += 1
        if j - i >= 2 and k - j == j - i:
            for syn, neu in zip(sequence[i:j], sequence[j:k]):
                out += [syn, neu]
            changed, i = True, k
        else:
            out.append(sequence[i])
            i += 1
    return out, changed


def _norm_problem(norms: list[tuple[str, nn.Module]], synapses: list[tuple[str, nn.Module]]) -> str:
    """Why a BatchNorm between synapse and neuron cannot be planned ("" when it can, or there is none)."""
    if not norms:
        return ""
    name, norm = norms[0]
    if len(norms) > 1:
        return f"{len(norms)} BatchNorms ({', '.join(n for n, _ in norms)}) sit between the weights and the neuron"
    if len(synapses) > 1:
        return f"{name} normalises a sum of weight layers ({', '.join(n for n, _ in synapses)}); not supported"
    if not norm.affine:
        return (f"{name} has no affine parameters (affine=False): in training mode it fixes the neuron's input to "
                "zero mean and unit variance, which no weight can change; build it with affine=True")
    return ""


def find_units(model: nn.Module, adapter: Adapter, sample: torch.Tensor | None = None
               ) -> tuple[list[Unit], list[tuple[str, str]]]:
    """Pair every neuron with its feeding weights. Returns (units, skipped) with skipped = (name, reason)."""
    position_paired = False
    if sample is None:
        sequence, seen = _leaves(model, adapter), {}
        sequence, position_paired = _interleave_lists(sequence, adapter)
    else:
        sequence, seen = _call_order(model, adapter, sample)
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    pending: tuple[str, nn.Module] | None = None
    after_skipped = ""
    before: list[tuple[str, nn.Module]] = []
    between: list[tuple[str, nn.Module]] = []
    for name, module in sequence:
        if adapter.is_neuron(module):
            info = adapter.neuron_info(module, name)
            synapses = ([pending] if pending else []) + [(f"{name}.{attr}", m) for attr, m in info.owned_weights]
            if info.neuron is None:
                skipped.append((name, info.skip_reason))
                if pending:
                    skipped.append((pending[0], f"feeds {name}, which is skipped"))
                after_skipped = name
            elif not synapses:
                skipped.append((name, "no weight layer feeds this neuron (it receives the input directly)"))
            elif norm_problem := _norm_problem([(n, m) for n, m in between if isinstance(m, NORM_TYPES)], synapses):
                skipped.append((name, norm_problem))
            else:
                norms = [(n, m) for n, m in between if isinstance(m, NORM_TYPES)]
                unit = Unit(name, module, info, synapses, before, norm=norms[0] if norms else None)
                if info.note:
                    unit.notes.append(info.note)
                if position_paired:
                    unit.notes.append("weights and neurons are defined in separate lists: paired by position; "
                                      "pass sample= to pair them by call order")
                if after_skipped:
                    unit.notes.append(f"its input comes after the skipped {after_skipped}; planned as if it were "
                                      "the output of the previous planned layer")
                    after_skipped = ""
                if pending is not None:
                    unit.pool, unit.pool_kind, unit.pool_correlation, pool_notes, window = _pooling(
                        pending[1], between, seen.get(pending[0]), seen.get(name))
                    unit.notes.extend(pool_notes)
                    if unit.pool > 1 and window:
                        unit.pool_windows = pool_windows(pending[1], window)
                units.append(unit)
            pending, before, between = None, [], []
        elif isinstance(module, SYNAPSE_TYPES):
            if pending is not None:
                skipped.append((pending[0], "feeds no spiking neuron (another weight layer follows)"))
            pending, between = (name, module), []
        elif pending is None:
            before.append((name, module))
        else:
            between.append((name, module))
    if pending is not None:
        skipped.append((pending[0], "feeds no spiking neuron (a readout after the last spiking layer)"))
    if not units:
        raise ModelStructureError(
            f"found no weight layer feeding a spiking neuron of {adapter.name} in {type(model).__name__}; "
            + ("skipped: " + "; ".join(f"{n}: {r}" for n, r in skipped) if skipped else
               "the model has no neuron module this adapter knows")
        )
    return units, skipped


def transform_moments(moments: InputMoments, modules: list[tuple[str, nn.Module]]) -> tuple[InputMoments, list[str]]:
    """Input statistics after stateless modules (pooling, flatten, dropout); notes for unknown modules.

    Max pooling of k independent spike trains fires when any does: r' = 1 - (1 - r)^k; average pooling
    gives analog input with mean r and second moment r/k + (1 - 1/k) r^2.
    """
    notes = []
    for name, m in modules:
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d) and moments.spiking:
            moments = InputMoments.spikes(1 - (1 - moments.mean) ** math.prod(_pool_window(m)))
        elif isinstance(m, nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
            k = math.prod(_pool_window(m))
            r = moments.mean
            moments = InputMoments.analog(r, moments.second / k + (1 - 1 / k) * r * r)
        elif isinstance(m, nn.Flatten | nn.Identity | nn.Unflatten) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        elif isinstance(m, nn.Dropout) and m.training and m.p > 0:
            moments = InputMoments.analog(moments.mean, moments.second / (1 - m.p))
        else:
            notes.append(f"{name} ({type(m).__name__}) assumed not to change the input statistics")
    return moments, notes
