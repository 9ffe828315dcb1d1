"""An example plugin: Kaiming-normal weights times a factor, planned and predicted like any strategy."""

from __future__ import annotations

import math

from snninit_plugins import hookimpl
from snninit_plugins.strategies import Strategy


class ScaledKaiming(Strategy):
    """N(0, scale^2 * 2 / fan_in): Kaiming's variance times ``scale**2``."""

    name = "scaled_kaiming"
    targets_rate = False

    def __init__(self, *, scale: float = 2.0, **options: object) -> None:
        super().__init__(**options)
        self.scale = scale

    def weights(self, layer, moments, target, n_steps):  # noqa: ANN001, ANN201 - the Strategy contract
        return 0.0, self.scale * math.sqrt(2.0 / layer.fan_in), 0.0


@hookimpl
def snninit_register_strategies(register) -> None:  # noqa: ANN001
    register(ScaledKaiming)
