r"""Peer methods, for side-by-side comparison (peers.md section 1).

* ``fluctuation_driven`` -- Rossbroich, Gygax & Zenke (2022), *Neuromorph. Comput. Eng.* 2, 044016:
  weights that put the free membrane at mean :math:`\mu_U` and at :math:`\xi` standard deviations below
  threshold, from Campbell's theorem for Poisson input at rate :math:`\nu`:

  .. math::

      \mu_w = \frac{\mu_U}{N\nu\bar\epsilon}, \qquad
      \sigma_w^2 = \frac{1}{N\nu\hat\epsilon}\Big(\frac{\theta-\mu_U}{\xi}\Big)^2 - \mu_w^2,

  with :math:`\bar\epsilon = \sum\kappa`, :math:`\hat\epsilon = \sum\kappa^2` (the discrete PSP kernel, over
  the window T, or 100 steps when stationary for a non-leaky neuron). Generalised here to any threshold
  and to each layer's own input rate (stork uses theta = 1 and one global rate).
* ``quantization_aware`` -- Micheli, Booij, van Gemert & Tomen (2024), arXiv 2410.00580: variance flow
  through the spike quantiser, :math:`\mathrm{Var}[w_l] = 1/(n_l P(u_{l-1} > \theta))`; here
  :math:`\theta^2/(N q_a)` with :math:`q_a` the input's second moment (= the rate for spikes), mean 0.
"""

from __future__ import annotations

import math

from ..errors import InfeasibleTargetError
from ..inputs import InputMoments
from ._base import LayerSpec, Strategy


class FluctuationDriven(Strategy):
    """Rossbroich et al. (2022) with per-layer rates and any threshold.

    Args:
        mu_u: target free-membrane mean, in units of theta (stork's centred variant: 0).
        xi: distance to threshold in free-membrane standard deviations.
    """

    name = "fluctuation_driven"
    targets_rate = False

    def __init__(self, *, mu_u: float = 0.0, xi: float = 1.0, **options: object) -> None:
        super().__init__(**options)
        if not xi > 0:
            raise ValueError(f"xi must be > 0, got {xi}")
        self.mu_u, self.xi = mu_u, xi

    def options(self) -> dict:
        return {**super().options(), "mu_u": self.mu_u, "xi": self.xi}

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        neuron = next(layer.neuron.groups())[0]
        window = n_steps if n_steps is not None or neuron.beta < 1 else 100
        eps_bar, eps_hat = neuron.kernel_sums(window)
        nu = moments.mean
        if nu <= 0:
            raise InfeasibleTargetError(f"{layer.name}: fluctuation_driven needs a non-silent input (rate {nu})")
        theta = neuron.threshold
        mu_u = self.mu_u * theta
        mu_w = mu_u / (layer.fan_in * nu * eps_bar)
        var_w = ((theta - mu_u) / self.xi) ** 2 / (layer.fan_in * nu * eps_hat) - mu_w**2
        if var_w < 0:
            raise InfeasibleTargetError(
                f"{layer.name}: fluctuation_driven gives a negative weight variance ({var_w:.3g}) for "
                f"mu_u={self.mu_u} theta, xi={self.xi}: the mean alone overshoots; lower mu_u or xi"
            )
        return mu_w, math.sqrt(var_w), 0.0


class QuantizationAware(Strategy):
    """Micheli et al. (2024): Var[w] = theta^2 / (fan_in * q_a), zero mean."""

    name = "quantization_aware"
    targets_rate = False

    def weights(self, layer: LayerSpec, moments: InputMoments, target: float | None,
                n_steps: int | None) -> tuple[float, float, float]:
        if moments.second <= 0:
            raise InfeasibleTargetError(f"{layer.name}: quantization_aware needs a non-silent input")
        theta = next(layer.neuron.groups())[0].threshold
        return 0.0, theta / math.sqrt(layer.fan_in * moments.second), 0.0
