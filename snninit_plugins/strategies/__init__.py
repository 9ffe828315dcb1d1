"""Initialisation strategies: layer descriptions in, weight statistics out (theory.md sections 5-7).

:data:`STRATEGIES` maps each public name to its class; :func:`get_strategy` builds one by name.
"""

from __future__ import annotations

from ._base import LayerPlan, LayerSpec, NetworkPlan, Strategy, TargetRate, plan_network
from .baselines import Default, Glorot, Kaiming
from .peers import FluctuationDriven, QuantizationAware
from .solutions import Diffusion, General, RandomWalk, ShotNoise, Wiener

#: Public name -> strategy class.
STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (Default, Kaiming, Glorot, RandomWalk, Wiener, Diffusion, ShotNoise, General,
                FluctuationDriven, QuantizationAware)
}


def get_strategy(name: str, **options: object) -> Strategy:
    """Build the strategy called ``name`` with ``options``; unknown names list the available ones."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(sorted(STRATEGIES))}") from None
    return cls(**options)


__all__ = [
    "STRATEGIES",
    "Default",
    "Diffusion",
    "FluctuationDriven",
    "General",
    "Glorot",
    "Kaiming",
    "LayerPlan",
    "LayerSpec",
    "NetworkPlan",
    "QuantizationAware",
    "RandomWalk",
    "ShotNoise",
    "Strategy",
    "TargetRate",
    "Wiener",
    "get_strategy",
    "plan_network",
]
