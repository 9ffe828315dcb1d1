"""Hook specifications: how a plugin contributes framework adapters and initialisation strategies.

A plugin is any module or object with functions marked ``@snninit_plugins.hookimpl`` and named like the
specifications below, advertised under the entry-point group ``snninit`` of its distribution::

    [project.entry-points.snninit]
    my_plugin = "my_package.snninit_plugin"

The built-in adapters and strategies arrive through this same door (this package's own entry points).
Hooks use the register-callback pattern: a plugin calls ``register(...)`` once per thing it adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .adapter import Adapter
    from .strategies import Strategy

PROJECT = "snninit"
#: Entry-point group scanned for plugins.
ENTRY_POINT_GROUP = "snninit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def snninit_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Contribute framework adapters.

    Call ``register(adapter)`` for each :class:`~snninit_plugins.adapter.Adapter` instance the plugin
    provides. ``adapter.name`` is the name users pass as ``framework=``; a name registered twice is an
    error naming both plugins. Adapters must not import their framework at registration time (detection
    looks at ``sys.modules`` and at the model's classes), so that a missing framework never breaks the host.

    :param register: the callback that records one adapter.
    """


@hookspec
def snninit_register_strategies(register: Callable[[type[Strategy]], None]) -> None:
    """Contribute initialisation strategies.

    Call ``register(strategy_class)`` for each :class:`~snninit_plugins.strategies.Strategy` subclass the
    plugin provides; ``strategy_class.name`` is the name users pass as ``method=``. A name registered
    twice is an error naming both plugins.

    :param register: the callback that records one strategy class.
    """
