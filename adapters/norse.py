"""Norse adapter (1.0 and 1.1): neurons to canonical form (frameworks.md sections 0.1 and 0.2, Norse rows).

Norse integrates its ODEs with one forward-Euler step of ``dt`` (a float on the module, default 1e-3) and keeps the
parameters in ``module.p``, an unregistered NamedTuple (not in ``state_dict``, not moved by ``.to()``). With
``k_m = dt * tau_mem_inv`` and ``k_s = dt * tau_syn_inv``, ``norse.torch.functional.lif.lif_feed_forward_step``

    i_new = i + x;  v_new = v + k_m (v_leak - v + i_new);  i = (1 - k_s) i_new;  z = v_new > v_th

is the canonical neuron with ``I = i_new`` (:mod:`snninit_plugins.neuron`):

| class | beta | g | alpha | c | reset | V0 |
|---|---|---|---|---|---|---|
| ``LIFCell`` / ``LIF`` | 1 - k_m | k_m | 1 - k_s | k_m v_leak | value (``v_reset``) | ``v_leak`` |
| ``LIFBoxCell`` | 1 - k_m | k_m | - | k_m v_leak | ``p.reset_method``: ``reset_value`` -> value, ``reset_subtract`` -> subtract ``v_th`` | ``v_leak`` |
| ``IAFCell`` / ``IAF`` | 1 | 1 | - | 0 | value (``v_reset``) | ``v_reset`` |
| ``LIFRefracCell`` | as LIF (``p.lif``) | | | | value, plus ``ceil(rho_reset)`` refractory steps | ``v_leak`` |
| ``LIFRecurrentCell`` / ``LIFRecurrent`` | as LIF; ``i_new = i + W_in x + W_rec z[t-1]`` (own weights) | | | | value | ``v_leak`` |
| ``LIFRefracRecurrentCell`` / ``LIFRefracRecurrent`` | as LIFRefracCell, with the recurrent cell's weights | | | | | |

The threshold is the absolute ``v_th`` and the test is strict (``heaviside(v - v_th)`` = ``v - v_th > 0``, the
forward of every surrogate ``method``). Refractory period (``functional.lif_refrac.compute_refractory_update``): a
spike sets ``rho = rho_reset``; while ``rho > 0`` the membrane is held at its previous value (``v_reset``), spikes are
suppressed and ``rho`` drops by 1 (the synaptic current keeps integrating), so ``rho_reset = 5`` holds 5 steps and a
fractional one holds ``ceil(rho_reset)``. Per-neuron ``p`` tensors are allowed (one value per neuron, or per channel
as ``(C, 1, 1)``); they are flattened. The recurrent cells' ``input_weights`` (``[hidden, input]``, feed-forward) and
``recurrent_weights`` (``[hidden, hidden]``) are owned weights; without ``autapses`` the diagonal stays zero.

Non-spiking readouts (``LICell``, ``LI``, ``LILinearCell``, ``LIBoxCell``) and non-canonical neurons (``LSNN*``:
adaptive threshold and input one step late; ``LIFAdEx*``, ``LIFEx*``: exponential term; ``Izhikevich*``,
``CobaLIFCell``, ``LIFMC*``, ``LIFCorrelation``) are reported as skipped. This module never imports Norse.

Norse keeps no state in its modules (states are passed and returned), so :meth:`NorseAdapter.reset` does nothing.
"""

from __future__ import annotations

import math

import torch

from snninit_plugins.adapter import Adapter, NeuronInfo, OwnedWeight
from snninit_plugins.hookspecs import hookimpl
from snninit_plugins.neuron import CanonicalNeuron

_LIF = {"LIFCell", "LIF", "LIFRecurrentCell", "LIFRecurrent"}
_REFRAC = {"LIFRefracCell", "LIFRefracRecurrentCell", "LIFRefracRecurrent"}
_RECURRENT = {"LIFRecurrentCell", "LIFRecurrent", "LIFRefracRecurrentCell", "LIFRefracRecurrent"}
_CANONICAL = _LIF | _REFRAC | {"LIFBoxCell", "IAFCell", "IAF"}
_READOUT = "is a non-spiking leaky integrator (a readout: its output is the membrane, not spikes)"
_SKIPPED = {
    "LICell": f"LICell {_READOUT}",
    "LI": f"LI {_READOUT}",
    "LILinearCell": f"LILinearCell {_READOUT}; its own input_weights are left as they are",
    "LIBoxCell": f"LIBoxCell {_READOUT}",
    "LSNNCell": "LSNNCell has an adaptive threshold (v_th + beta*b) and its input enters the membrane one step late",
    "LSNN": "LSNN has an adaptive threshold (v_th + beta*b) and its input enters the membrane one step late",
    "LSNNRecurrentCell": "LSNNRecurrentCell has an adaptive threshold and its input enters the membrane one step late",
    "LSNNRecurrent": "LSNNRecurrent has an adaptive threshold and its input enters the membrane one step late",
    "LIFAdExCell": "LIFAdExCell is nonlinear (exponential term) with an adaptation current",
    "LIFAdEx": "LIFAdEx is nonlinear (exponential term) with an adaptation current",
    "LIFAdExRecurrentCell": "LIFAdExRecurrentCell is nonlinear (exponential term) with an adaptation current",
    "LIFAdExRecurrent": "LIFAdExRecurrent is nonlinear (exponential term) with an adaptation current",
    "LIFAdExRefracCell": "LIFAdExRefracCell is nonlinear (exponential term) with an adaptation current",
    "LIFAdExRefracRecurrentCell": "LIFAdExRefracRecurrentCell is nonlinear (exponential term) with adaptation",
    "LIFAdExRefracRecurrent": "LIFAdExRefracRecurrent is nonlinear (exponential term) with adaptation",
    "LIFExCell": "LIFExCell is nonlinear (exponential term delta_T*exp((v - v_th)/delta_T))",
    "LIFEx": "LIFEx is nonlinear (exponential term delta_T*exp((v - v_th)/delta_T))",
    "LIFExRecurrentCell": "LIFExRecurrentCell is nonlinear (exponential term)",
    "LIFExRecurrent": "LIFExRecurrent is nonlinear (exponential term)",
    "IzhikevichCell": "IzhikevichCell is a quadratic two-variable neuron",
    "Izhikevich": "Izhikevich is a quadratic two-variable neuron",
    "IzhikevichRecurrentCell": "IzhikevichRecurrentCell is a quadratic two-variable neuron",
    "IzhikevichRecurrent": "IzhikevichRecurrent is a quadratic two-variable neuron",
    "CobaLIFCell": "CobaLIFCell is conductance-based (its input is multiplied by the membrane distance to E_rev)",
    "LIFMCRecurrentCell": "LIFMCRecurrentCell couples its neurons' membranes (multi-compartment)",
    "LIFMCRefracRecurrentCell": "LIFMCRefracRecurrentCell couples its neurons' membranes (multi-compartment)",
    "LIFCorrelation": "LIFCorrelation is a plasticity (correlation sensor) wrapper, not a neuron",
}
_NON_SPIKING = {"LICell", "LI", "LILinearCell", "LIBoxCell"}
_BASES = {"SNNCell", "SNNRecurrentCell", "SNN", "SNNRecurrent"}
_SEQUENCE_BASES = {"SNN", "SNNRecurrent", "Lift"}
_CELL_BASES = {"SNNCell", "SNNRecurrentCell"}


def _tensor(x: object) -> torch.Tensor:
    return torch.as_tensor(x).detach().to("cpu", torch.float64)


def _values(t: torch.Tensor) -> float | list[float]:
    """A scalar as a float, a per-neuron tensor (``(N,)``, or ``(C, 1, 1)`` per channel) as a flat list."""
    return float(t) if t.numel() == 1 else t.reshape(-1).tolist()


def _base_names(module: object) -> set[str]:
    return {base.__name__ for base in type(module).__mro__}


def _is_norse(module: object) -> bool:
    return type(module).__module__.split(".")[0] == "norse"


class NorseAdapter(Adapter):
    """Norse neurons to canonical form; the formulas and their source are in the module docstring."""

    name = "norse"
    packages = ("norse",)
    extra = "norse"

    def is_neuron(self, module: object) -> bool:
        if not _is_norse(module):
            return False
        cls = type(module).__name__
        return cls in _CANONICAL or cls in _SKIPPED or bool(_base_names(module) & _BASES)

    def neuron_info(self, module: object, name: str) -> NeuronInfo:
        cls = type(module).__name__
        if cls in _SKIPPED or cls not in _CANONICAL:
            return NeuronInfo(None, _SKIPPED.get(cls, f"{cls} is not mapped to the canonical neuron"))
        p, dt = module.p, float(module.dt)
        refractory = 0
        if cls in _REFRAC:
            rho = _tensor(p.rho_reset)
            if rho.numel() > 1 and not bool(torch.all(rho == rho.reshape(-1)[0])):
                return NeuronInfo(None, f"{cls} {name!r} has per-neuron rho_reset values "
                                        f"({float(rho.min()):g}..{float(rho.max()):g}); the canonical neuron has "
                                        "one refractory period per layer: give one rho_reset")
            refractory = max(0, math.ceil(float(rho.reshape(-1)[0]) - 1e-9))
            p = p.lif
        if cls in ("IAFCell", "IAF"):
            v_reset = _tensor(p.v_reset)
            neuron = CanonicalNeuron(beta=1.0, gain=1.0, threshold=_values(_tensor(p.v_th)), strict=True,
                                     reset="value", v_reset=_values(v_reset), v0=_values(v_reset))
            return NeuronInfo(neuron)
        k_mem = dt * _tensor(p.tau_mem_inv)
        beta = 1.0 - k_mem
        if bool(torch.any(beta < 0)) or bool(torch.any(beta > 1)):
            return NeuronInfo(None, f"{cls} {name!r}: dt*tau_mem_inv = {_values(k_mem)} lies outside [0, 1], so the "
                                    "Euler step overshoots (beta = 1 - dt*tau_mem_inv < 0) and the membrane "
                                    "oscillates; use a smaller dt or tau_mem_inv")
        alpha = None
        if cls != "LIFBoxCell":
            alpha_t = 1.0 - dt * _tensor(p.tau_syn_inv)
            if bool(torch.any(alpha_t < 0)) or bool(torch.any(alpha_t >= 1)):
                return NeuronInfo(None, f"{cls} {name!r}: 1 - dt*tau_syn_inv = {_values(alpha_t)} lies outside "
                                        "[0, 1): the synaptic current does not decay; use 0 < dt*tau_syn_inv <= 1")
            alpha = _values(alpha_t)
        reset = "value"
        if cls == "LIFBoxCell":
            fn = p.reset_method
            kind = (getattr(fn, "__module__", ""), getattr(fn, "__name__", ""))
            reset = {("norse.torch.functional.reset", "reset_value"): "value",
                     ("norse.torch.functional.reset", "reset_subtract"): "subtract"}.get(kind, "")
            if not reset:
                return NeuronInfo(None, f"LIFBoxCell {name!r} has a custom reset_method {kind[1] or fn!r}; only "
                                        "norse's reset_value and reset_subtract are canonical")
        v_leak = _tensor(p.v_leak)
        neuron = CanonicalNeuron(
            beta=_values(beta), gain=_values(k_mem), alpha=alpha, drive=_values(k_mem * v_leak),
            threshold=_values(_tensor(p.v_th)), strict=True, reset=reset, v_reset=_values(_tensor(p.v_reset)),
            v0=_values(v_leak), refractory=refractory,
        )
        owned: tuple = ()
        if cls in _RECURRENT:
            owned = (("input_weights", OwnedWeight(module.input_weights)),
                     ("recurrent_weights", OwnedWeight(module.recurrent_weights,
                                                       zero_diagonal=not bool(module.autapses))))
        return NeuronInfo(neuron, owned_weights=owned)

    def reset(self, model: object) -> None:
        """Nothing to do: Norse modules hold no state (each call takes and returns it; ``None`` starts afresh)."""

    def run(self, model: object, sample: torch.Tensor) -> object:
        """A ``SequentialState`` of cells is stepped, ``out, state = model(sample[t], state)``; the outputs stacked.

        A ``SequentialState`` of sequence modules (``Lift``, ``LIF``...) and custom modules get the whole sample.
        """
        if not self._stepped(model):
            return super().run(model, sample)
        state = None
        outputs = []
        for t in range(sample.shape[0]):
            out, state = model(sample[t], state)
            outputs.append(out)
        first = outputs[0]
        if isinstance(first, torch.Tensor):
            return torch.stack(outputs)
        return [torch.stack([o[i] for o in outputs]) for i in range(len(first))]  # return_hidden=True

    @staticmethod
    def _stepped(model: object) -> bool:
        """A ``SequentialState`` whose direct children include a cell and no sequence module."""
        if "SequentialState" not in _base_names(model):
            return False
        children = [_base_names(m) for m in model.children()]
        return any(b & _CELL_BASES or "LILinearCell" in b for b in children) and not any(
            b & _SEQUENCE_BASES for b in children)

    def spikes(self, module: object, output: object) -> object:
        if type(module).__name__ in _NON_SPIKING:
            return None  # its first output is a voltage
        return super().spikes(module, output)

    def membrane(self, module: object, output: object) -> object:
        """``state.v`` (``state.lif.v`` for refractory neurons) after the step; for sequence modules only when
        they were built with ``record_states=True`` (otherwise they return the last step's state alone)."""
        if not isinstance(output, tuple) or len(output) < 2:
            return None
        if _base_names(module) & {"SNN", "SNNRecurrent"} and not getattr(module, "record_states", False):
            return None
        state = output[1]
        v = getattr(state, "v", None)
        if v is None and hasattr(state, "lif"):
            v = getattr(state.lif, "v", None)
        return v if isinstance(v, torch.Tensor) else None


@hookimpl
def snninit_register_adapters(register) -> None:
    register(NorseAdapter())
