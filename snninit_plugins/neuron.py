r"""The canonical discrete-time neuron that every supported framework maps onto.

Every linear spiking neuron of snnTorch, SpikingJelly and Norse is one instance of
(theory.md section 2; frameworks.md section 0 verifies the mapping per class)

.. math::

    I[t] &= \alpha I[t-1] + x[t]                  \quad\text{(only with a synaptic filter)}\\
    H[t] &= \beta V[t-1] + g D[t] + c, \qquad D[t] = I[t] \text{ or } x[t]\\
    s[t] &= H[t] > \theta \quad (\text{or } \ge \text{ when ``strict=False``})\\
    V[t] &= \operatorname{reset}(H[t], s[t])

with ``reset`` one of ``subtract`` (:math:`V = H - s\,\theta`), ``value``
(:math:`V = v_{reset}` after a spike) or ``none``, and :math:`V[0] = V_0`.
snnTorch's default *next-step* subtract reset (``reset_delay=True``) subtracts
:math:`\theta` inside the next step's integration without the leak; it is the same
process as an immediate subtraction of :math:`\theta/\beta` (:attr:`CanonicalNeuron.subtract_amount`).

Parameters may be scalars or per-neuron arrays (one value per output neuron or
channel). The object is immutable and hashable, so plans can be cached on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Literal

import numpy as np

from .errors import NeuronSpecError

ResetKind = Literal["subtract", "value", "none"]
_ARRAY_FIELDS = ("beta", "gain", "alpha", "drive", "threshold", "v_reset", "v0")


def _freeze(name: str, value: object) -> float | np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise NeuronSpecError(f"neuron parameter {name!r} has non-finite entries ({value!r}); give finite values")
    if arr.ndim == 0 or arr.size == 1:
        return float(arr.reshape(()))
    arr = np.array(arr.reshape(-1), dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class CanonicalNeuron:
    """One neuron population in canonical form (see the module docstring).

    Args:
        beta: membrane decay per step, in [0, 1]; 1 is a non-leaky integrate-and-fire neuron.
        gain: input gain ``g`` applied to the (filtered) input.
        alpha: synaptic-current decay per step in [0, 1), or ``None`` for no synaptic filter.
        drive: constant drive ``c`` added every step (leak towards a non-zero rest).
        threshold: firing threshold ``theta`` (> 0 relative to the reset level).
        strict: ``True`` fires on ``H > theta`` (snnTorch, Norse); ``False`` on ``H >= theta`` (SpikingJelly).
        reset: ``"subtract"``, ``"value"`` or ``"none"``.
        v_reset: the membrane value after a spike, for ``reset="value"``.
        next_step_reset: snnTorch's delayed subtract reset (``reset_delay=True``).
        v0: the membrane at t = 0 (Norse starts at ``v_leak``; SpikingJelly at ``v_reset``).
        refractory: steps after a spike during which the membrane stays at ``v_reset`` whatever the input
            (no spike); with a value reset. snnTorch's zero reset of ``Synaptic``, ``RLeaky``,
            ``RSynaptic`` and ``Lapicque`` drops the next step's input: ``refractory=1``.
    """

    beta: float | np.ndarray = 0.9
    gain: float | np.ndarray = 1.0
    alpha: float | np.ndarray | None = None
    drive: float | np.ndarray = 0.0
    threshold: float | np.ndarray = 1.0
    strict: bool = True
    reset: ResetKind = "subtract"
    v_reset: float | np.ndarray = 0.0
    next_step_reset: bool = False
    v0: float | np.ndarray = 0.0
    refractory: int = 0

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
            object.__setattr__(self, name, _freeze(name, getattr(self, name)))
        if self.reset not in ("subtract", "value", "none"):
            raise NeuronSpecError(
                f"reset must be 'subtract', 'value' or 'none', got {self.reset!r}"
            )
        beta = np.asarray(self.beta)
        if np.any(beta < 0) or np.any(beta > 1):
            raise NeuronSpecError(f"beta must lie in [0, 1], got {self.beta!r}; clamp it as the framework does")
        if self.alpha is not None and (np.any(np.asarray(self.alpha) < 0) or np.any(np.asarray(self.alpha) >= 1)):
            raise NeuronSpecError(f"alpha must lie in [0, 1), got {self.alpha!r}")
        if self.next_step_reset and self.reset == "subtract" and np.any(beta == 0):
            raise NeuronSpecError(
                "a next-step subtract reset with beta = 0 has no immediate-reset equivalent; "
                "use next_step_reset=False (the reset then cannot matter) or beta > 0"
            )
        if int(self.refractory) != self.refractory or self.refractory < 0:
            raise NeuronSpecError(f"refractory must be a number of steps >= 0, got {self.refractory!r}")
        if self.refractory and self.reset != "value":
            raise NeuronSpecError("a refractory period holds the membrane at v_reset: use reset='value'")
        sizes = {np.size(getattr(self, n)) for n in _ARRAY_FIELDS if getattr(self, n) is not None} - {1}
        if len(sizes) > 1:
            raise NeuronSpecError(f"per-neuron parameters have different lengths {sorted(sizes)}; give one length")

    # -- identity ---------------------------------------------------------------------------
    def _key(self) -> tuple:
        parts: list[object] = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            parts.append(v.tobytes() if isinstance(v, np.ndarray) else v)
        return tuple(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CanonicalNeuron) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def replace(self, **changes: object) -> CanonicalNeuron:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    # -- per-neuron parameters ---------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of distinct neurons described (1 when every parameter is a scalar)."""
        return max(np.size(getattr(self, n)) for n in _ARRAY_FIELDS if getattr(self, n) is not None)

    @property
    def is_scalar(self) -> bool:
        return self.size == 1

    @property
    def is_filtered(self) -> bool:
        """A synaptic filter in some neuron: the density method then steps a 2-D (membrane, current) grid, at
        seconds per evaluation instead of milliseconds."""
        return any(group.alpha is not None for group, _ in self.groups())

    @property
    def is_plain(self) -> bool:
        """No synaptic filter and no refractory period in any neuron: the density method steps its membrane on a
        1-D grid and gives the window's per-step rates."""
        return all(group.alpha is None and not group.refractory for group, _ in self.groups())

    def groups(self, max_groups: int = 16) -> Iterator[tuple[CanonicalNeuron, float]]:
        """Yield ``(scalar_neuron, weight)`` pairs covering a per-neuron population.

        Neurons with identical parameters are merged. With more than ``max_groups``
        distinct parameter sets, neurons are split into ``max_groups`` equal groups along
        the ordering of their parameter tuples and each group is represented by its median member.
        Weights sum to 1. Predictors average their results over these groups.
        """
        if self.is_scalar:
            yield self, 1.0
            return
        n = self.size
        # a missing filter is coded as alpha = -1 (NaN would keep identical rows apart in np.unique)
        cols = [np.broadcast_to(np.asarray(getattr(self, f) if getattr(self, f) is not None else -1.0), (n,))
                for f in _ARRAY_FIELDS]
        table = np.stack(cols, axis=1)
        uniq, counts = np.unique(table, axis=0, return_counts=True)
        if len(uniq) <= max_groups:
            rows, weights = uniq, counts / n
        else:
            order = np.lexsort(table.T[::-1])
            chunks = np.array_split(order, max_groups)
            rows = np.stack([table[c[len(c) // 2]] for c in chunks])
            weights = np.array([len(c) / n for c in chunks])
        for row, w in zip(rows, weights):
            values = {f: (None if (f == "alpha" and v < 0) else float(v)) for f, v in zip(_ARRAY_FIELDS, row)}
            yield self.replace(**values), float(w)

    def _scalar(self, name: str) -> float:
        value = getattr(self, name)
        if isinstance(value, np.ndarray):
            raise NeuronSpecError(
                f"{name} is per-neuron here; call this on each of neuron.groups() instead"
            )
        return value

    # -- derived quantities (scalar neurons) ------------------------------------------------
    @property
    def subtract_amount(self) -> float:
        """What a subtract reset removes, in the immediate-reset form: theta, or theta/beta for next-step."""
        theta = self._scalar("threshold")
        return theta / self._scalar("beta") if self.next_step_reset else theta

    @property
    def reset_level(self) -> float:
        """Membrane right after a spike from just above threshold (theta - amount, or v_reset)."""
        if self.reset == "value":
            return self._scalar("v_reset")
        if self.reset == "subtract":
            return self._scalar("threshold") - self.subtract_amount
        return self._scalar("threshold")

    @property
    def tau(self) -> float:
        """Membrane time constant in steps, tau = -1/ln(beta) (inf for beta = 1)."""
        beta = self._scalar("beta")
        if beta >= 1.0:
            return math.inf
        if beta <= 0.0:
            return 0.0
        return -1.0 / math.log(beta)

    def kernel(self, n_steps: int) -> np.ndarray:
        r"""Free-membrane response kappa[k], k = 0..n_steps-1, to a unit input at lag k.

        Plain neuron: :math:`\kappa[k] = g\beta^k`. With a synaptic filter:
        :math:`\kappa[k] = g\sum_{j=0}^{k}\alpha^j\beta^{k-j}`.
        """
        beta, g = self._scalar("beta"), self._scalar("gain")
        k = np.arange(n_steps, dtype=np.float64)
        mem = g * beta**k
        if self.alpha is None:
            return mem
        alpha = self._scalar("alpha")
        return np.convolve(alpha**k, mem)[:n_steps]

    def kernel_sums(self, n_steps: int | None = None) -> tuple[float, float]:
        r"""Return (sum kappa, sum kappa^2), over n_steps lags or all lags when None.

        Infinite sums (theory.md section 3): plain LIF :math:`g/(1-\beta)` and
        :math:`g^2/(1-\beta^2)`; with a filter :math:`g/((1-\alpha)(1-\beta))` and
        :math:`\frac{g^2}{(\beta-\alpha)^2}\big[\frac{\beta^2}{1-\beta^2}-\frac{2\alpha\beta}{1-\alpha\beta}+\frac{\alpha^2}{1-\alpha^2}\big]`
        (:math:`g^2(1+\beta^2)/(1-\beta^2)^3` when :math:`\alpha=\beta`). Infinite for beta = 1.
        """
        if n_steps is not None:
            kap = self.kernel(n_steps)
            return float(kap.sum()), float((kap**2).sum())
        beta, g = self._scalar("beta"), self._scalar("gain")
        if beta >= 1.0:
            return math.inf, math.inf
        if self.alpha is None:
            return g / (1 - beta), g * g / (1 - beta * beta)
        a = self._scalar("alpha")
        s1 = g / ((1 - a) * (1 - beta))
        if abs(beta - a) < 1e-3:  # the closed form cancels badly here: sum the kernel instead
            n = math.ceil(60.0 / (1.0 - max(a, beta))) + 10
            return s1, float(np.sum(self.kernel(n) ** 2))
        s2 = (beta**2 / (1 - beta**2) - 2 * a * beta / (1 - a * beta) + a**2 / (1 - a**2)) / (beta - a) ** 2
        return s1, g * g * s2

    def free_membrane(self, mean_x: float, var_x: float, n_steps: int | None = None) -> tuple[float, float]:
        r"""Mean and std of the membrane without threshold, for white input x of given mean/variance.

        :math:`E[V] = E[x]\sum\kappa + c\sum_k\beta^k + V_0\beta^{n}` and
        :math:`\mathrm{Var}[V] = \mathrm{Var}[x]\sum\kappa^2` (theory.md section 3), after ``n_steps``
        steps from V0, or at stationarity when None.
        """
        s1, s2 = self.kernel_sums(n_steps)
        beta, c, v0 = self._scalar("beta"), self._scalar("drive"), self._scalar("v0")
        if n_steps is None:
            if beta >= 1:  # a perfect integrator drifts without bound in the direction of its net drive
                net = mean_x * self._scalar("gain") + c
                return (math.copysign(math.inf, net) if net else 0.0), (math.inf if var_x > 0 else 0.0)
            return mean_x * s1 + c / (1 - beta), math.sqrt(var_x * s2)
        geo = float(np.sum(beta ** np.arange(n_steps)))
        return mean_x * s1 + c * geo + v0 * beta**n_steps, math.sqrt(var_x * s2)

    def describe(self) -> str:
        """One-line human summary, e.g. ``beta=0.9 theta=1 reset=subtract(next-step) >``."""

        def fmt(v: object) -> str:
            if isinstance(v, np.ndarray):
                return f"[{v.min():.3g}..{v.max():.3g}]"
            return f"{v:.4g}" if isinstance(v, float) else str(v)

        def differs(v: object, default: float) -> bool:
            return isinstance(v, np.ndarray) or v != default

        parts = [f"beta={fmt(self.beta)}"]
        if differs(self.gain, 1.0):
            parts.append(f"g={fmt(self.gain)}")
        if self.alpha is not None:
            parts.append(f"alpha={fmt(self.alpha)}")
        if differs(self.drive, 0.0):
            parts.append(f"c={fmt(self.drive)}")
        parts.append(f"theta={fmt(self.threshold)}")
        reset = self.reset + ("(next-step)" if self.next_step_reset and self.reset == "subtract" else "")
        if self.reset == "value":
            reset += f"({fmt(self.v_reset)})"
        if self.refractory:
            reset += f"+{self.refractory} refractory"
        parts.append(f"reset={reset}")
        parts.append("test=" + (">" if self.strict else ">="))
        if differs(self.v0, 0.0):
            parts.append(f"V0={fmt(self.v0)}")
        return " ".join(parts)
