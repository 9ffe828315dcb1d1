r"""ANN initialisations, planned and predicted like the others so that their collapse shows.

* ``default`` -- leave the framework's weights. PyTorch's ``nn.Linear``/``nn.Conv`` default,
  ``kaiming_uniform_(a=sqrt(5))``, is :math:`U(-1/\sqrt{N}, 1/\sqrt{N})`: mean 0, std :math:`1/\sqrt{3N}`.
* ``kaiming`` -- He et al. (2015), fan-in mode, ReLU gain: :math:`\mathcal N(0, 2/N)`.
* ``glorot`` -- Glorot & Bengio (2010): :math:`\mathcal N(0, 2/(N_{in}+N_{out}))`.
"""

from __future__ import annotations

import dataclasses
import math

from ..inputs import InputMoments
from ._base import LayerPlan, LayerSpec, Strategy


class Default(Strategy):
    """Keep the framework's init; predict it as U(-1/sqrt(N), 1/sqrt(N)) unless the layer says otherwise."""

    name = "default"
    targets_rate = False
    sets_batchnorm = False

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        std = layer.default_weight_std if layer.default_weight_std is not None else 1 / math.sqrt(3 * layer.fan_in)
        return 0.0, std, 0.0

    def evaluate(self, *args: object, **kwargs: object) -> LayerPlan:
        plan = super().evaluate(*args, **kwargs)
        return dataclasses.replace(plan, keep_weights=True, centred_rows=False, weight_law="uniform")


class Kaiming(Strategy):
    """He et al. (2015): N(0, 2/fan_in)."""

    name = "kaiming"
    targets_rate = False
    sets_batchnorm = False

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        return 0.0, math.sqrt(2.0 / layer.fan_in), 0.0


class Glorot(Strategy):
    """Glorot & Bengio (2010): N(0, 2/(fan_in + fan_out))."""

    name = "glorot"
    targets_rate = False
    sets_batchnorm = False

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        return 0.0, math.sqrt(2.0 / (layer.fan_in + layer.outputs)), 0.0
