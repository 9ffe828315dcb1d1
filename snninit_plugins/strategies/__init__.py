"""Initialisation strategies: layer descriptions in, weight statistics out (theory.md sections 5-7).

:data:`STRATEGIES` maps each public name to its class; :func:`get_strategy` builds one by name.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
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
    """Build the strategy called ``name`` (built-in or from a plugin) with ``options``.

    Unknown names list the available ones.
    """
    from ..plugins import get_strategies

    registered = {**STRATEGIES, **get_strategies()}
    try:
        cls = registered[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(sorted(registered))}") from None
    return cls(**options)


@hookimpl
def snninit_register_strategies(register) -> None:  # noqa: ANN001 - the host's callback
    """The built-in strategies, contributed like any plugin's."""
    for cls in STRATEGIES.values():
        register(cls)


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
