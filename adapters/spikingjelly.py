r"""SpikingJelly adapter (2.0 and 0.0.0.0.14, ``activation_based`` and the legacy ``clock_driven`` namespace).

Every mapped node integrates, fires on ``H >= v_threshold`` (``strict=False``, frameworks.md section 0.1) and
resets after the spike in the same step: ``v_reset=None`` is a soft reset (``V = H - s*theta``,
``reset="subtract"``), a float ``v_reset`` a hard one (``V = v_reset``, ``reset="value"``). Equations as in the
installed sources (2.0: ``_ops/lif/reference.py``, ``_ops/plif/reference.py``, ``functional.cuba_lif_step``;
0.0.0.0.14: ``neuron.LIFNode.neuronal_charge``...), with :math:`v_r` = ``v_reset`` (0 for a soft reset):

| class | charge | beta | g | c | alpha | V0 |
|---|---|---|---|---|---|---|
| ``IFNode``, ``SimpleIFNode``, ``MultiStepIFNode`` | H = V + X | 1 | 1 | 0 | - | v_r |
| ``LIFNode``, ``SimpleLIFNode``, ``MultiStepLIFNode``, decay_input | H = V + (X - (V - v_r))/tau | 1 - 1/tau | 1/tau | v_r/tau | - | v_r |
| the same, ``decay_input=False`` | H = V - (V - v_r)/tau + X | 1 - 1/tau | 1 | v_r/tau | - | v_r |
| ``ParametricLIFNode``, ``MultiStepParametricLIFNode`` | as LIF with 1/tau = sigmoid(w) | 1 - sigmoid(w) | sigmoid(w) or 1 | v_r sigmoid(w) | - | v_r |
| ``CUBALIFNode`` (2.0) | I = c_decay I + X; H = v_decay V + I | v_decay | 1 | 0 | c_decay | v_r |
| ``HalfThresholdIFNode`` (2.0) | H = V + X, always soft reset | 1 | 1 | 0 | - | theta/2 |

(``Simple*`` nodes start at V0 = 0 whatever ``v_reset``: their memory is registered as 0.0.)

Nodes built with ``backend='cupy'`` (0.0.0.0.14) differ from their torch twins only by the ``_backend``
string (frameworks.md section 2.1), so they are introspected the same way. Nonlinear or non-canonical
nodes (QIF, EIF, Izhikevich, KLIF, LIAF, PSN, ternary, noisy...) and the non-spiking readouts are reported
as skipped, by name. This module never imports SpikingJelly at import time.
"""

from __future__ import annotations

import torch

from snninit_plugins.adapter import Adapter, NeuronInfo
from snninit_plugins.errors import NeuronSpecError
from snninit_plugins.hookspecs import hookimpl
from snninit_plugins.neuron import CanonicalNeuron

_IF = {"IFNode", "SimpleIFNode", "MultiStepIFNode", "HalfThresholdIFNode"}
_LIF = {"LIFNode", "SimpleLIFNode", "MultiStepLIFNode"}
_PLIF = {"ParametricLIFNode", "MultiStepParametricLIFNode"}
_CUBA = {"CUBALIFNode"}
_CANONICAL = _IF | _LIF | _PLIF | _CUBA

_SKIPPED = {
    "QIFNode": "QIFNode's charge is quadratic in the membrane (nonlinear)",
    "MultiStepQIFNode": "MultiStepQIFNode's charge is quadratic in the membrane (nonlinear)",
    "EIFNode": "EIFNode's charge has an exponential term in the membrane (nonlinear)",
    "MultiStepEIFNode": "MultiStepEIFNode's charge has an exponential term in the membrane (nonlinear)",
    "IzhikevichNode": "IzhikevichNode has a quadratic membrane and an adaptation current (nonlinear)",
    "MultiStepIzhikevichNode": "MultiStepIzhikevichNode has a quadratic membrane and an adaptation current",
    "AdaptBaseNode": "AdaptBaseNode has an adaptation current driven by its spikes",
    "KLIFNode": "KLIFNode passes the membrane through relu(k*V) before the threshold",
    "LIAFNode": "LIAFNode emits analog act(H), not spikes",
    "ILIFNode": "ILIFNode (inhibitory LIF) has an extra inhibitory state, not the canonical recursion",
    "GatedLIFNode": "GatedLIFNode mixes learnable gates into its charge and reset",
    "ComplementaryLIFNode": "ComplementaryLIFNode keeps a second, complementary membrane",
    "PSN": "PSN (parallel spiking neuron) has a learnable mixing over time steps and no reset",
    "MaskedPSN": "MaskedPSN (parallel spiking neuron) has a learnable mixing over time steps and no reset",
    "SlidingPSN": "SlidingPSN (parallel spiking neuron) has a learnable sliding kernel and no reset",
    "TernaryIFNode": "TernaryIFNode emits -1/0/+1 spikes",
    "TernaryLIFNode": "TernaryLIFNode emits -1/0/+1 spikes",
    "RAFNode": "RAFNode (resonate-and-fire) has an oscillating complex membrane",
    "ActivationAwareIFNode": "ActivationAwareIFNode rescales its threshold and offset from activations",
    "DSRIFNode": "DSRIFNode (differentiable spike representation) is not a per-step recursion",
    "DSRLIFNode": "DSRLIFNode (differentiable spike representation) is not a per-step recursion",
    "FewSpikeNode": "FewSpikeNode encodes an analog value in a few spikes (not a leaky integrator)",
    "HGNode": "HGNode is a few-spike coding node (not a leaky integrator)",
    "OutlierAwareThresholdNode": "OutlierAwareThresholdNode is a few-spike coding node (not a leaky integrator)",
    "FlexSN": "FlexSN has learnable generic dynamics",
    "ILCBaseNode": "ILCBaseNode holds inter-layer connection weights inside the neuron",
    "ILCIFNode": "ILCIFNode holds inter-layer connection weights inside the neuron",
    "ILCLIFNode": "ILCLIFNode holds inter-layer connection weights inside the neuron",
    "ILCCUBALIFNode": "ILCCUBALIFNode holds inter-layer connection weights inside the neuron",
    "MPBNBaseNode": "MPBNBaseNode normalises the membrane (a BatchNorm inside the neuron)",
    "MPBNLIFNode": "MPBNLIFNode normalises the membrane (a BatchNorm inside the neuron)",
    "NoisyBaseNode": "NoisyBaseNode has a stochastic (noisy) threshold",
    "NoisyCUBALIFNode": "NoisyCUBALIFNode has a stochastic (noisy) threshold",
    "NoisyILCBaseNode": "NoisyILCBaseNode has a stochastic threshold and inter-layer weights",
    "NoisyILCCUBALIFNode": "NoisyILCCUBALIFNode has a stochastic threshold and inter-layer weights",
    "OTTTLIFNode": "OTTTLIFNode (online training) returns traces with its spikes in training",
    "SLTTLIFNode": "SLTTLIFNode (online training) is not planned as a plain LIF",
    "STBIFNode": "STBIFNode (SpikeZIP) emits multi-level signed spikes",
    "GeneralNode": "GeneralNode has user-defined dynamics",
    "MultiStepGeneralNode": "MultiStepGeneralNode has user-defined dynamics",
    "NonSpikingBaseNode": "NonSpikingBaseNode is a readout: it outputs the membrane, no spikes",
    "NonSpikingIFNode": "NonSpikingIFNode is a readout: it outputs the membrane, no spikes",
    "NonSpikingLIFNode": "NonSpikingLIFNode is a readout: it outputs the membrane, no spikes",
    "NoisyNonSpikingBaseNode": "NoisyNonSpikingBaseNode is a readout: it outputs the membrane, no spikes",
    "NoisyNonSpikingIFNode": "NoisyNonSpikingIFNode is a readout: it outputs the membrane, no spikes",
}
#: base classes whose subclasses are spiking (or neuron-like) modules of SpikingJelly
_NEURON_BASES = {"BaseNode", "SimpleBaseNode", "NonSpikingBaseNode", "ILCBaseNode", "NoisyBaseNode",
                 "NoisyNonSpikingBaseNode", "FewSpikeNode", "AdaptBaseNode"}


def _values(x: object) -> float | list[float]:
    """A float, or a tensor as a float or a flat list (per-neuron values), in float64."""
    if isinstance(x, (int, float)):
        return float(x)  # Python floats stay exact (torch.as_tensor would round them to float32)
    t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    return float(t) if t.numel() == 1 else t.reshape(-1).tolist()


def _is_sj(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "spikingjelly"


def _legacy_functional():
    """``functional`` of the namespace the installed SpikingJelly has (``clock_driven`` before 0.0.0.0.13)."""
    try:
        from spikingjelly.activation_based import functional
    except ImportError:  # only the legacy namespace
        from spikingjelly.clock_driven import functional
    return functional


class SpikingJellyAdapter(Adapter):
    name = "spikingjelly"
    packages = ("spikingjelly",)
    extra = "spikingjelly"

    def is_neuron(self, module: object) -> bool:
        cls = type(module)
        if not _is_sj(cls):
            return False
        if cls.__name__ in _CANONICAL or cls.__name__ in _SKIPPED:
            return True
        return any(_is_sj(base) and base.__name__ in _NEURON_BASES for base in cls.__mro__)

    def neuron_info(self, module: object, name: str) -> NeuronInfo:
        cls = type(module).__name__
        if cls not in _CANONICAL:
            return NeuronInfo(None, _SKIPPED.get(cls, f"{cls} is not mapped to the canonical neuron (its dynamics "
                                                      "are not a linear integrate-and-fire recursion)"))
        surrogate = getattr(module, "surrogate_function", None)
        if surrogate is not None and getattr(surrogate, "spiking", True) is False:
            return NeuronInfo(None, f"{cls}'s surrogate_function has spiking=False: the node emits the surrogate's "
                                    "analog value, not spikes; set surrogate_function.spiking = True")
        try:
            return NeuronInfo(self._canonical(module, cls))
        except (NeuronSpecError, AttributeError, TypeError, ValueError) as err:
            return NeuronInfo(None, f"{cls} {name}: its parameters do not give a canonical neuron ({err})")

    @staticmethod
    def _canonical(module: object, cls: str) -> CanonicalNeuron:
        theta = _values(module.v_threshold)
        v_reset = getattr(module, "v_reset", None)
        hard = v_reset is not None and cls != "HalfThresholdIFNode"
        vr = _values(v_reset) if hard else 0.0
        beta: object = 1.0
        gain: object = 1.0
        drive: object = 0.0
        alpha = None
        if cls in _LIF:
            inv_tau = 1.0 / float(module.tau)
            decay_input = bool(getattr(module, "decay_input", True))
            beta, gain, drive = 1.0 - inv_tau, (inv_tau if decay_input else 1.0), _times(vr, inv_tau)
        elif cls in _PLIF:
            q = _values(torch.as_tensor(module.w).detach().double().sigmoid())
            decay_input = bool(getattr(module, "decay_input", True))
            beta = _affine(q, -1.0, 1.0)
            gain = q if decay_input else 1.0
            drive = _times(vr, q)
        elif cls in _CUBA:
            beta, alpha = _values(module.v_decay), _values(module.c_decay)
        if cls == "HalfThresholdIFNode":
            v0 = _times(theta, 0.5)
        elif cls.startswith("Simple"):
            v0 = 0.0  # SimpleBaseNode registers its memory v as 0.0 whatever v_reset
        else:
            v0 = vr
        return CanonicalNeuron(beta=beta, gain=gain, alpha=alpha, drive=drive, threshold=theta, strict=False,
                               reset="value" if hard else "subtract", v_reset=vr, v0=v0)

    # -- running a model the SpikingJelly way ------------------------------------------------
    def multi_step(self, model: object) -> bool:
        """Whether ``model`` takes a whole ``[T, B, ...]`` sequence per call.

        True when any SpikingJelly module in it is in multi-step mode (``step_mode='m'``), is multi-step
        only (``SeqToANNContainer``, ``MultiStepContainer``, PSN...), or is a legacy ``clock_driven``
        ``MultiStep*`` node; single-step models are called once per time step.
        """
        for m in model.modules():
            cls = type(m)
            if not _is_sj(cls):
                continue
            if getattr(m, "step_mode", None) == "m" or cls.__name__.startswith("MultiStep"):
                return True
            if any(base.__name__ == "MultiStepModule" for base in cls.__mro__):
                return True
        return False

    def reset(self, model: object) -> None:
        """``functional.reset_net`` (2.0, 0.0.0.0.14), plus the legacy ``clock_driven`` one for its modules."""
        if not any(_is_sj(type(m)) for m in model.modules()):
            return
        _legacy_functional().reset_net(model)
        if any(type(m).__module__.startswith("spikingjelly.clock_driven") for m in model.modules()):
            from spikingjelly.clock_driven import functional as clock_functional

            clock_functional.reset_net(model)

    def run(self, model: object, sample: torch.Tensor) -> object:
        """Multi-step models get the whole sample; single-step ones one call per step, outputs stacked."""
        if self.multi_step(model):
            return super().run(model, sample)
        return self.run_stepped(model, sample)

    def membrane(self, module: object, output: object) -> object:
        """The membrane after the step(s) and their reset: ``v`` (single step), ``v_seq`` (multi-step, if stored)."""
        if getattr(module, "step_mode", "s") == "m" or type(module).__name__.startswith("MultiStep"):
            v_seq = getattr(module, "v_seq", None)
            return v_seq if isinstance(v_seq, torch.Tensor) else None
        v = getattr(module, "v", None)
        return v if isinstance(v, torch.Tensor) else None


def _times(a: float | list[float], b: float | list[float]) -> float | list[float]:
    """Elementwise product of scalars or flat lists (per-neuron parameters)."""
    if isinstance(a, list) or isinstance(b, list):
        n = len(a) if isinstance(a, list) else len(b)
        aa = a if isinstance(a, list) else [a] * n
        bb = b if isinstance(b, list) else [b] * n
        return [x * y for x, y in zip(aa, bb)]
    return a * b


def _affine(x: float | list[float], scale: float, offset: float) -> float | list[float]:
    if isinstance(x, list):
        return [offset + scale * v for v in x]
    return offset + scale * x


@hookimpl
def snninit_register_adapters(register) -> None:
    register(SpikingJellyAdapter())
