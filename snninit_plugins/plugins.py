"""The plugin host: discovers adapters and strategies through pluggy entry points, lazily and once.

Loading happens on the first call that needs a registry (:func:`get_adapters`, :func:`get_strategies`,
:func:`list_plugins`), never at import. Every entry point of the group ``snninit`` is loaded, this
package's own first; one that fails to import gives a :class:`PluginLoadWarning` naming it and the host
keeps working. ``SNNINIT_DISABLE_PLUGIN_AUTOLOAD=1`` skips the entry points of other distributions (the
built-ins, which are part of this package, always load). ``refresh()`` forgets everything (for tests and
for plugins installed at run time).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import threading
import warnings
from typing import TYPE_CHECKING

import pluggy

from . import hookspecs
from .errors import SnnInitError

if TYPE_CHECKING:
    from .adapter import Adapter
    from .strategies import Strategy

#: Environment variable that switches off loading other distributions' plugins.
DISABLE_AUTOLOAD_ENV = "SNNINIT_DISABLE_PLUGIN_AUTOLOAD"
OWN_DISTRIBUTION = "snninit-plugins"


class PluginLoadWarning(RuntimeWarning):
    """A plugin could not be loaded or registered; the host goes on without it."""


class PluginConflictError(SnnInitError):
    """Two plugins registered the same adapter or strategy name."""


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its entry-point name, distribution, version and what it contributes."""

    name: str
    distribution: str
    version: str
    adapters: tuple[str, ...]
    strategies: tuple[str, ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Registry:
    manager: pluggy.PluginManager
    adapters: dict[str, Adapter]
    strategies: dict[str, type[Strategy]]
    plugins: list[PluginInfo]


_lock = threading.Lock()
_registry: _Registry | None = None


def _entry_points() -> list[tuple[importlib.metadata.EntryPoint, str, str]]:
    found = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == hookspecs.ENTRY_POINT_GROUP:
                found.append((ep, dist.metadata["Name"] or "?", dist.version or "?"))
    # own distribution first, then alphabetical: a deterministic order
    found.sort(key=lambda item: (_normalise(item[1]) != OWN_DISTRIBUTION, _normalise(item[1]), item[0].name))
    unique: dict[tuple[str, str], tuple] = {}
    for item in found:  # the same distribution can be seen twice (editable installs); keep one
        unique.setdefault((_normalise(item[1]), item[0].name), item)
    return list(unique.values())


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def _load() -> _Registry:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = _Registry(manager, {}, {}, [])
    autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")
    for ep, dist, version in _entry_points():
        if not autoload and _normalise(dist) != OWN_DISTRIBUTION:
            continue
        try:
            plugin = ep.load()
            manager.register(plugin, name=f"{dist}:{ep.name}")
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the host
            warnings.warn(
                f"snninit plugin {ep.name!r} from {dist} {version} ({ep.value}) failed to load and is ignored: "
                f"{type(exc).__name__}: {exc}",
                PluginLoadWarning,
                stacklevel=3,
            )
            continue
        _collect(registry, plugin, ep.name, dist, version)
    manager.check_pending()
    return registry


def _collect(registry: _Registry, plugin: object, name: str, dist: str, version: str) -> None:
    """Call this plugin's hooks alone and record what it contributes."""
    adapters: list[str] = []
    strategies: list[str] = []
    owner = f"{dist}:{name}"

    def register_adapter(adapter: Adapter) -> None:
        previous = registry.adapters.get(adapter.name)
        if previous is not None:
            raise PluginConflictError(
                f"adapter {adapter.name!r} from plugin {owner} is already registered by {previous.owner}; "
                "uninstall one of them or block it with SNNINIT_DISABLE_PLUGIN_AUTOLOAD"
            )
        adapter.owner = owner
        registry.adapters[adapter.name] = adapter
        adapters.append(adapter.name)

    def register_strategy(cls: type[Strategy]) -> None:
        previous = registry.strategies.get(cls.name)
        if previous is not None and previous is not cls:
            raise PluginConflictError(
                f"strategy {cls.name!r} from plugin {owner} is already registered by {previous.__module__}"
            )
        registry.strategies[cls.name] = cls
        strategies.append(cls.name)

    try:
        for hook, callback in (("snninit_register_adapters", register_adapter),
                               ("snninit_register_strategies", register_strategy)):
            impl = getattr(plugin, hook, None)
            if impl is not None:
                impl(register=callback)
    except PluginConflictError:
        raise
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"snninit plugin {name!r} from {dist} failed while registering: {type(exc).__name__}: {exc}",
                      PluginLoadWarning, stacklevel=4)
        return
    registry.plugins.append(PluginInfo(name, dist, version, tuple(adapters), tuple(strategies)))


def _get() -> _Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = _load()
        return _registry


def refresh() -> None:
    """Forget the loaded plugins; the next registry access discovers them again."""
    global _registry
    with _lock:
        _registry = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager holding every loaded plugin (loads them on first use)."""
    return _get().manager


def get_adapters() -> dict[str, Adapter]:
    """Registered adapters by framework name."""
    return dict(_get().adapters)


def get_strategies() -> dict[str, type[Strategy]]:
    """Registered strategy classes by method name."""
    return dict(_get().strategies)


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin: name, distribution, version and what it contributes."""
    return list(_get().plugins)
