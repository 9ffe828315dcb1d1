"""Initialisation strategies: layer descriptions in, weight statistics out (theory.md sections 5-7).

:data:`STRATEGIES` maps each public name to its class; :func:`get_strategy` builds one by name.
"""

from __future__ import annotations

import difflib
import inspect

from ..errors import StrategyOptionError
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
    return make_strategy(cls, options)


def strategy_options(cls: type[Strategy]) -> dict[str, object]:
    """The keyword options ``cls`` takes, by name, with their defaults (``inspect.Parameter.empty`` where there
    is none): the named parameters of every ``__init__`` along its MRO (a strategy passes the rest on to its
    base with ``**options``); the most derived class's default wins."""
    options: dict[str, object] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                options.setdefault(p.name, p.default)
    return dict(sorted(options.items()))


def make_strategy(cls: type[Strategy], options: dict) -> Strategy:
    """``cls(**options)``; an option it does not take (Python's TypeError) is a
    :class:`~snninit_plugins.errors.StrategyOptionError` that names the strategy and the option, suggests the
    closest one and lists those it takes (a plugin's ``__init__(**kwargs)`` may take others: it decides)."""
    try:
        return cls(**options)
    except TypeError as exc:
        known = list(strategy_options(cls))
        unknown = [key for key in options if key not in known]
        if not unknown:
            raise
        close = [difflib.get_close_matches(key, known, n=1) for key in unknown]
        hints = "".join(f" (did you mean {match[0]!r}?)" for match in close if match)
        raise StrategyOptionError(
            f"strategy {getattr(cls, 'name', cls.__name__)!r} has no option "
            f"{', '.join(repr(key) for key in unknown)}{hints}; its options: {', '.join(known) or 'none'}"
        ) from exc


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
    "make_strategy",
    "plan_network",
    "strategy_options",
]
