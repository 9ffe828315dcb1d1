"""snninit-plugins: initialise deep spiking networks so that they do not fall silent.

``apply_init(model, framework="snntorch")`` plans every spiking layer with a strategy (default:
``"general"``) and rewrites its weights in place. The numerics (:mod:`snninit_plugins.neuron`,
:mod:`snninit_plugins.inputs`, :mod:`snninit_plugins.predictors`, :mod:`snninit_plugins.strategies`)
depend on numpy/scipy only; importing this package imports no SNN framework and no torch (the names
that need torch load on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import InfeasibleTargetError, InputSpecError, NeuronSpecError, SnnInitError, StrategyOptionError
from .hookspecs import hookimpl
from .neuron import CanonicalNeuron

if TYPE_CHECKING:
    from .api import InitReport, UnknownFrameworkError, UnknownMethodError, apply_init
    from .calibration import CalibrationReport, calibrate
    from .diagnosis import diagnose
    from .plugins import list_plugins

__version__ = "0.1.0.dev0"

_LAZY = {
    "apply_init": "api",
    "InitReport": "api",
    "UnknownFrameworkError": "api",
    "UnknownMethodError": "api",
    "list_plugins": "plugins",
    "diagnose": "diagnosis",
    "calibrate": "calibration",
    "CalibrationReport": "calibration",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CanonicalNeuron",
    "InfeasibleTargetError",
    "InitReport",
    "InputSpecError",
    "NeuronSpecError",
    "SnnInitError",
    "StrategyOptionError",
    "UnknownFrameworkError",
    "UnknownMethodError",
    "__version__",
    "CalibrationReport",
    "apply_init",
    "calibrate",
    "diagnose",
    "hookimpl",
    "list_plugins",
]
