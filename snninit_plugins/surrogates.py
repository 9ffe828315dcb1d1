r"""Surrogate derivatives f'(u), u = H - theta, as the frameworks define them by default.

Used for the backward variance criterion E[f'(H - theta)^2] (theory.md section 5), taken over the
membrane distribution with threshold from the density method.

* :func:`atan` -- snnTorch's default: :math:`f'(u) = \frac{\alpha/2}{1 + (\pi\alpha u/2)^2}`, alpha = 2.
* :func:`sigmoid` -- SpikingJelly's default: :math:`\alpha\,\sigma(\alpha u)(1-\sigma(\alpha u))`, alpha = 4.
* :func:`fast_sigmoid` -- SuperSpike (Zenke & Ganguli 2018), Norse's default: :math:`1/(1 + k|u|)^2`.
* :func:`triangle` -- :math:`\max(0, 1 - |u|/w)/w`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Surrogate = Callable[[np.ndarray], np.ndarray]


def atan(alpha: float = 2.0) -> Surrogate:
    return lambda u: (alpha / 2) / (1 + (np.pi / 2 * alpha * np.asarray(u)) ** 2)


def sigmoid(alpha: float = 4.0) -> Surrogate:
    def f(u: np.ndarray) -> np.ndarray:
        s = 1 / (1 + np.exp(-alpha * np.asarray(u)))
        return alpha * s * (1 - s)

    return f


def fast_sigmoid(slope: float = 25.0) -> Surrogate:
    return lambda u: 1 / (1 + slope * np.abs(np.asarray(u))) ** 2


def triangle(width: float = 1.0) -> Surrogate:
    return lambda u: np.maximum(0.0, 1 - np.abs(np.asarray(u)) / width) / width


#: Name -> factory with the framework defaults.
SURROGATES = {"atan": atan, "sigmoid": sigmoid, "fast_sigmoid": fast_sigmoid, "triangle": triangle}
