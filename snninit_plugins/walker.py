"""Find the synapse -> neuron units of a torch model, framework-agnostically (frameworks.md section 1.2).

Each spiking neuron module is paired with the last weight-bearing module (``nn.Linear``, ``nn.Conv1/2/3d``
and their subclasses) that comes before it: in definition order (``named_modules``) when no sample is
given, in call order (forward hooks on one run of the sample) when one is. Weights that live inside a
neuron (snnTorch ``RLeaky.recurrent``...) come from the adapter. The stateless modules met between the
previous neuron and the synapse (pooling, flatten, dropout) change the input statistics and are kept.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .adapter import Adapter, NeuronInfo
from .errors import SnnInitError
from .inputs import InputMoments

SYNAPSE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


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

    @property
    def fan_in(self) -> int:
        return sum(fan_in(m) for _, m in self.synapses)

    @property
    def fan_out(self) -> int:
        name, m = self.synapses[0]
        return int(m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1))


def fan_in(module: nn.Module) -> int:
    """Inputs per output unit: in_features, or in_channels/groups * prod(kernel) (= weight[0].numel())."""
    return int(module.weight[0].numel())


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


def _call_order(model: nn.Module, adapter: Adapter, sample: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The same modules, in the order one forward pass first calls them."""
    leaves = _leaves(model, adapter)
    order: list[tuple[str, nn.Module]] = []
    seen: set[str] = set()
    handles = []

    def hook(name: str, module: nn.Module):  # noqa: ANN202
        def record(*_: object) -> None:
            if name not in seen:
                seen.add(name)
                order.append((name, module))
        return record

    for name, module in leaves:
        handles.append(module.register_forward_pre_hook(hook(name, module)))
    adapter.reset(model)
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in handles:
            h.remove()
        adapter.reset(model)
    # modules never called keep their definition-order place at the end (they are reported unused)
    return order + [(n, m) for n, m in leaves if n not in seen]


def find_units(model: nn.Module, adapter: Adapter, sample: torch.Tensor | None = None
               ) -> tuple[list[Unit], list[tuple[str, str]]]:
    """Pair every neuron with its feeding weights. Returns (units, skipped) with skipped = (name, reason)."""
    sequence = _leaves(model, adapter) if sample is None else _call_order(model, adapter, sample)
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    pending: tuple[str, nn.Module] | None = None
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
            elif not synapses:
                skipped.append((name, "no weight layer feeds this neuron (it receives the input directly)"))
            elif any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d) for _, m in between):
                skipped.append((name, "a BatchNorm sits between the weights and the neuron; not handled yet"))
            else:
                units.append(Unit(name, module, info, synapses, before))
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
            k = math.prod(m.kernel_size) if isinstance(m.kernel_size, tuple) else m.kernel_size ** (
                int(type(m).__name__[-2]))
            moments = InputMoments.spikes(1 - (1 - moments.mean) ** k)
        elif isinstance(m, nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
            k = math.prod(m.kernel_size) if isinstance(m.kernel_size, tuple) else m.kernel_size ** (
                int(type(m).__name__[-2]))
            r = moments.mean
            moments = InputMoments.analog(r, moments.second / k + (1 - 1 / k) * r * r)
        elif isinstance(m, nn.Flatten | nn.Identity | nn.Unflatten) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        elif isinstance(m, nn.Dropout) and m.training and m.p > 0:
            moments = InputMoments.analog(moments.mean, moments.second / (1 - m.p))
        else:
            notes.append(f"{name} ({type(m).__name__}) assumed not to change the input statistics")
    return moments, notes
