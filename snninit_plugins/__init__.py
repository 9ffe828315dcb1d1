"""snninit-plugins: initialise deep spiking networks so that they do not fall silent.

The numerics (:mod:`snninit_plugins.neuron`, :mod:`snninit_plugins.inputs`,
:mod:`snninit_plugins.predictors`) depend on numpy/scipy only; importing this package imports
no SNN framework and no torch. The reference simulator lives in :mod:`snninit_plugins.simulator`
(torch) and is imported on first use.
"""

from __future__ import annotations

from .errors import InfeasibleTargetError, InputSpecError, NeuronSpecError, SnnInitError
from .neuron import CanonicalNeuron

__version__ = "0.1.0.dev0"

__all__ = [
    "CanonicalNeuron",
    "InfeasibleTargetError",
    "InputSpecError",
    "NeuronSpecError",
    "SnnInitError",
    "__version__",
]
