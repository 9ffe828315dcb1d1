"""snnTorch adapter (0.9.x and 1.0): neurons to canonical form (frameworks.md section 0.1).

| class | beta | g | alpha | reset |
|---|---|---|---|---|
| ``Leaky`` | clamp(beta, 0, 1) | 1 | - | subtract (next-step when ``reset_delay``) / zero / none |
| ``Synaptic`` | clamp(beta) | 1 | clamp(alpha) | as Leaky; zero also drops the next step's input (approximated by a plain zero reset) |
| ``RLeaky`` / ``RSynaptic`` | as Leaky / Synaptic (RLeaky's zero: one refractory step), plus the ``recurrent`` weights fed by the layer's own spikes |
| ``Lapicque`` | 1 - dt/(R C) | dt/C | - | as Leaky; zero = reset to 0 plus one refractory step |

Spikes are ``H > threshold`` (strict), V0 = 0. ``Alpha``, ``LeakyParallel``, ``StateLeaky``, ``LinearLeaky``,
``DeltaLeaky``, ``SLSTM``, ``SConv2dLSTM`` and other non-canonical classes are reported as skipped.
This module never imports snnTorch at import time.
"""

from __future__ import annotations

import torch

from snninit_plugins.adapter import Adapter, NeuronInfo
from snninit_plugins.hookspecs import hookimpl
from snninit_plugins.neuron import CanonicalNeuron

_CANONICAL = {"Leaky", "Synaptic", "RLeaky", "RSynaptic", "Lapicque"}
_SKIPPED = {
    "Alpha": "Alpha's membrane is a difference of two synaptic traces, not the canonical recursion",
    "LeakyParallel": "LeakyParallel has no reset and its weight lives in an nn.RNN",
    "StateLeaky": "StateLeaky never resets the membrane (a causal convolution)",
    "LinearLeaky": "LinearLeaky never resets the membrane (a causal convolution)",
    "DeltaLeaky": "DeltaLeaky fires on membrane changes, not on a threshold",
    "SLSTM": "SLSTM is an LSTM cell with a threshold",
    "SConv2dLSTM": "SConv2dLSTM is a convolutional LSTM cell with a threshold",
    "AssociativeLeaky": "AssociativeLeaky is not a canonical neuron",
    "GradedSpikes": "GradedSpikes has no membrane",
}


def _values(x: object) -> float | list[float]:
    """A buffer or parameter as a float or a flat list (per-neuron / per-channel values)."""
    t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    return float(t) if t.numel() == 1 else t.reshape(-1).tolist()


def _clamp01(x: object) -> float | list[float]:
    return _values(torch.as_tensor(x).detach().clamp(0.0, 1.0))


class SnnTorchAdapter(Adapter):
    name = "snntorch"
    packages = ("snntorch",)
    extra = "snntorch"

    def is_neuron(self, module: object) -> bool:
        cls = type(module)
        if not cls.__module__.startswith("snntorch"):
            return False
        return cls.__name__ in _CANONICAL or cls.__name__ in _SKIPPED or any(
            base.__name__ == "SpikingNeuron" for base in cls.__mro__)

    def neuron_info(self, module: object, name: str) -> NeuronInfo:
        cls = type(module).__name__
        if cls in _SKIPPED or cls not in _CANONICAL:
            return NeuronInfo(None, _SKIPPED.get(cls, f"{cls} is not mapped to the canonical neuron"))
        reset_val = int(torch.as_tensor(module.reset_mechanism_val))
        reset = {0: "subtract", 1: "value", 2: "none"}[reset_val]
        delayed = bool(getattr(module, "reset_delay", True))
        if cls == "Lapicque":
            dt, r, c = (float(torch.as_tensor(getattr(module, a))) for a in ("time_step", "R", "C"))
            beta, gain = 1.0 - dt / (r * c), dt / c
        else:
            beta, gain = _clamp01(module.beta), 1.0
        alpha = _clamp01(module.alpha) if cls in ("Synaptic", "RSynaptic") else None
        # a zero reset of any class but Leaky also drops the next step's input: one refractory step
        # (the density method has it for plain neurons; with a synaptic filter it stays an approximation)
        refractory = 1 if reset == "value" and cls in ("RLeaky", "Lapicque") else 0
        neuron = CanonicalNeuron(
            beta=beta, gain=gain, alpha=alpha, threshold=_values(module.threshold), strict=True, reset=reset,
            v_reset=0.0, next_step_reset=delayed and reset == "subtract", v0=0.0, refractory=refractory,
        )
        owned: tuple = ()
        recurrent = getattr(module, "recurrent", None)
        if cls in ("RLeaky", "RSynaptic"):
            if not isinstance(recurrent, (torch.nn.Linear, torch.nn.Conv2d)):
                return NeuronInfo(None, f"{cls} with one-to-one recurrence (all_to_all=False) feeds each neuron's "
                                        "spikes back to itself, which the canonical neuron does not describe")
            owned = (("recurrent", recurrent),)
        note = ""
        if reset == "value" and cls in ("Synaptic", "RSynaptic"):
            note = (f"{cls}'s zero reset also drops the membrane input of the step after a spike; planned as a plain "
                    "reset to 0, so the layer fires below its target (measured: about 35% for Synaptic)")
        scale = float(torch.as_tensor(getattr(module, "graded_spikes_factor", 1.0)))
        return NeuronInfo(neuron, owned_weights=owned, spike_scale=scale, note=note)

    def reset(self, model: object) -> None:
        for m in model.modules():
            if self.is_neuron(m) and hasattr(m, "reset_mem"):
                m.reset_mem()

    def run(self, model: object, sample: torch.Tensor) -> object:
        """``init_hidden`` models are called once per step (their outputs stacked); others get the whole sample."""
        if not any(getattr(m, "init_hidden", False) for m in model.modules() if self.is_neuron(m)):
            return super().run(model, sample)
        return self.run_stepped(model, sample)

    def membrane(self, module: object, output: object) -> object:
        if isinstance(output, tuple) and len(output) >= 2 and isinstance(output[-1], torch.Tensor):
            return output[-1]  # (spk, mem) or (spk, syn, mem)
        mem = getattr(module, "mem", None)
        return mem if isinstance(mem, torch.Tensor) and mem.numel() else None


@hookimpl
def snninit_register_adapters(register) -> None:  # noqa: ANN001 - the host's callback
    register(SnnTorchAdapter())
