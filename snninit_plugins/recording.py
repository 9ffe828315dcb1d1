"""Record what every spiking layer of a real model emits on a sample (for diagnose and calibrate).

The model is run the framework's way (:meth:`Adapter.run`: whole-sample call, or one call per step), with
forward hooks on the neuron modules; BatchNorm running statistics are left as they were. Per-step calls are
stacked along a new time axis; a module called once on the whole sample (multi-step) gives its output as it is,
time-major ``[T, batch, ...]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from .adapter import Adapter


@dataclasses.dataclass
class Recording:
    """Per neuron module (by name, in first-call order): spikes ``[T, batch, ...]`` and membrane or None."""

    spikes: dict[str, torch.Tensor]
    membrane: dict[str, torch.Tensor | None]


def _time_major(chunks: list[torch.Tensor], n_steps: int) -> torch.Tensor:
    if len(chunks) == 1:
        out = chunks[0]
        return out if out.shape[0] == n_steps else out.unsqueeze(0)  # one call: the whole sample, or T = 1
    return torch.stack(chunks)


@contextlib.contextmanager
def norm_statistics_kept(model: nn.Module) -> Iterator[None]:
    """A pass in training mode must not move the BatchNorms' running statistics: restored on exit."""
    saved = [(t, t.detach().clone()) for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
             for t in (m.running_mean, m.running_var, m.num_batches_tracked) if t is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, value in saved:
                t.copy_(value)


def run_with_hooks(model: nn.Module, adapter: Adapter, sample: torch.Tensor, handles: list) -> None:
    """Run the model on the sample the framework's way, without gradients and without moving BatchNorm
    running statistics, then remove the hooks."""
    try:
        with torch.no_grad(), norm_statistics_kept(model):
            adapter.run(model, sample)
    finally:
        for h in handles:
            h.remove()


def record(model: nn.Module, adapter: Adapter, sample: torch.Tensor,
           names: list[str] | None = None) -> Recording:
    """Run ``model`` on a time-major ``sample`` and record every (or the named) neuron module's output.

    Args:
        model: the model.
        adapter: its framework's adapter (how to run it, where the spikes are in a neuron's output).
        sample: ``[T, batch, ...]``.
        names: neuron module names to record; all of the adapter's neurons when None.
    """
    modules = [(n, m) for n, m in model.named_modules() if adapter.is_neuron(m) and (names is None or n in names)]
    spikes: dict[str, list[torch.Tensor]] = {}
    membrane: dict[str, list[torch.Tensor]] = {}

    def hook(name: str):
        def keep(module: nn.Module, _: tuple, output: object) -> None:
            s = adapter.spikes(module, output)
            if s is None:
                return
            spikes.setdefault(name, []).append(s.detach().float())
            v = adapter.membrane(module, output)
            if v is not None:
                membrane.setdefault(name, []).append(v.detach().float())
        return keep

    run_with_hooks(model, adapter, sample, [m.register_forward_hook(hook(n)) for n, m in modules])
    n_steps = int(sample.shape[0])
    return Recording(
        {n: _time_major(c, n_steps) for n, c in spikes.items()},
        {n: _time_major(membrane[n], n_steps) if n in membrane else None for n in spikes},
    )
