"""What a framework adapter provides to the framework-agnostic walker (:mod:`snninit_plugins.walker`).

An adapter answers questions about single modules; the walker does the pairing, the planning and the
writing. Adapters never import their framework at module import or registration: detection looks at the
model's classes (``type(m).__module__``) and at ``sys.modules``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterable

from .neuron import CanonicalNeuron


@dataclasses.dataclass(frozen=True, eq=False)
class OwnedWeight:
    """A weight matrix held by a neuron module as a bare Parameter (Norse's recurrent cells).

    It stands where the walker expects a module with ``.weight`` and ``.bias``.

    Attributes:
        weight: the Parameter, shaped ``[outputs, inputs]``; rewritten in place.
        zero_diagonal: keep the diagonal at zero (no autapses): fan-in is one less, and the writer
            zeroes the diagonal after sampling.
    """

    weight: object
    zero_diagonal: bool = False
    bias: None = None


@dataclasses.dataclass(frozen=True)
class NeuronInfo:
    """A spiking module mapped to canonical form, or the reason it cannot be.

    Attributes:
        neuron: the canonical neuron, or None when the module is skipped.
        skip_reason: why it is skipped (non-canonical dynamics, a readout without spikes...).
        owned_weights: weights that live inside the neuron (recurrent, or a cell's own input weights), as
            (attribute path, module with ``.weight``/``.bias`` or :class:`OwnedWeight`) pairs; the walker
            plans them with the feed-forward weights. A path starting with ``"input"`` is a feed-forward
            weight of the neuron's own (Norse ``input_weights``), any other is recurrent.
        spike_scale: the spikes' amplitude (snnTorch's graded_spikes_factor), 1 for plain spikes.
        note: where the canonical form is an approximation, what differs (shown in the report).
    """

    neuron: CanonicalNeuron | None
    skip_reason: str = ""
    owned_weights: tuple[tuple[str, object], ...] = ()
    spike_scale: float = 1.0
    note: str = ""


class Adapter:
    """Base class of framework adapters. Subclasses set the class attributes and :meth:`neuron_info`."""

    #: The name users pass as ``framework=``.
    name: str = ""
    #: Top-level package names whose classes mark a model as belonging to this framework.
    packages: tuple[str, ...] = ()
    #: The pip extra that installs the framework: ``pip install "snninit-plugins[<extra>]"``.
    extra: str = ""
    #: Set by the plugin host: the plugin that registered the adapter.
    owner: str = ""

    def installed(self) -> bool:
        """Whether the framework can be imported (without importing it)."""
        return any(importlib.util.find_spec(p) is not None for p in self.packages)

    def claims(self, modules: Iterable[object]) -> bool:
        """Whether any of the model's modules is a class of this framework (no import needed)."""
        return any(type(m).__module__.split(".")[0] in self.packages for m in modules)

    def is_neuron(self, module: object) -> bool:
        """Whether ``module`` is one of this framework's spiking (or neuron-like) modules."""
        raise NotImplementedError

    def neuron_info(self, module: object, name: str) -> NeuronInfo:
        """Map a neuron module to canonical form (or say why not)."""
        raise NotImplementedError

    def reset(self, model: object) -> None:
        """Reset the model's hidden state the framework's way (before and after a sample run)."""

    def run(self, model: object, sample: object) -> object:
        """Run ``model`` over a time-major ``sample`` ``[T, batch, ...]`` as the framework's users do.

        The default calls ``model(sample)`` once (custom time loops, multi-step models). Adapters
        override it for models stepped by the caller (snnTorch ``init_hidden`` Sequential, SpikingJelly
        single-step, Norse cells in ``SequentialState``). The state is reset before and after.
        """
        self.reset(model)
        try:
            return model(sample)
        finally:
            self.reset(model)

    def run_stepped(self, model: object, sample: object) -> object:
        """One call per step ``model(sample[t])`` (state reset before and after), outputs stacked over time.

        For models their users step themselves (snnTorch ``init_hidden``, SpikingJelly single-step).
        Tensors are stacked, tuples of tensors stacked per element; anything else comes back as a list.
        """
        import torch

        self.reset(model)
        try:
            outputs = [model(sample[t]) for t in range(sample.shape[0])]
        finally:
            self.reset(model)
        first = outputs[0]
        if isinstance(first, torch.Tensor):
            return torch.stack(outputs)
        if isinstance(first, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in first):
            return tuple(torch.stack([o[i] for o in outputs]) for i in range(len(first)))
        return outputs

    def spikes(self, module: object, output: object) -> object:
        """The spike tensor in a neuron module's forward output (``spk``, ``(spk, state)``...), or None."""
        import torch

        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            return output[0]
        return None

    def membrane(self, module: object, output: object) -> object:
        """The membrane potential after the step that produced ``output``, or None if not exposed."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} from {self.owner or '?'}>"
