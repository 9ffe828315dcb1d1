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


@dataclasses.dataclass(frozen=True)
class NeuronInfo:
    """A spiking module mapped to canonical form, or the reason it cannot be.

    Attributes:
        neuron: the canonical neuron, or None when the module is skipped.
        skip_reason: why it is skipped (non-canonical dynamics, a readout without spikes...).
        owned_weights: weights that live inside the neuron (recurrent), as (attribute path, module or
            tensor owner) pairs; the walker plans them with the feed-forward weights.
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} from {self.owner or '?'}>"
