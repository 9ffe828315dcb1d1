"""Find the synapse -> neuron units of a torch model, framework-agnostically (frameworks.md section 1.2).

Each spiking neuron module is paired with the last weight-bearing module (``nn.Linear``, ``nn.Conv1/2/3d``
and their subclasses) that comes before it: in definition order (``named_modules``) when no sample is
given, in call order (forward hooks on one run of the sample) when one is. Weights that live inside a
neuron (snnTorch ``RLeaky.recurrent``...) come from the adapter. The stateless modules met between the
previous neuron and the synapse (pooling, flatten, dropout) change the input statistics and are kept.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import torch
from torch import nn

from .adapter import Adapter, NeuronInfo
from .errors import SnnInitError
from .inputs import InputMoments
from .recording import run_with_hooks

SYNAPSE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class ModelStructureError(SnnInitError, ValueError):
    """The model has no spiking layer to initialise, or a structure the walker cannot pair."""


@dataclasses.dataclass
class Unit:
    """One spiking layer: its neuron, the weights feeding it and what sits before them."""

    name: str
    neuron_module: nn.Module
    info: NeuronInfo
    synapses: list[tuple[str, nn.Module]]
    before: list[tuple[str, nn.Module]]
    pool: int = 1
    pool_kind: str = "max"
    pool_correlation: float = 0.0
    pool_windows: tuple[tuple[int, ...], ...] | None = None
    norms: list[tuple[str, nn.Module]] = dataclasses.field(default_factory=list)
    identity: str | None = None
    #: mean fraction of a conv kernel's taps that fall on the input, not on zero padding (1: no padding or
    #: unknown input size)
    valid_fraction: float = 1.0
    #: the neuron receives ``input_scale`` times its weights' output (``10 * conv2(z)`` in a forward loop)
    input_scale: float = 1.0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fan_in(self) -> int:
        return sum(fan_in(m) for _, m in self.synapses)

    @property
    def fan_out(self) -> int:
        name, m = self.synapses[0]
        return int(m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1))


def fan_in(module: nn.Module) -> int:
    """Inputs per output unit: in_features, or in_channels/groups * prod(kernel) (= weight[0].numel()).

    A recurrent matrix without autapses (:class:`~snninit_plugins.adapter.OwnedWeight` with
    ``zero_diagonal``) has one input less.
    """
    return int(module.weight[0].numel()) - int(getattr(module, "zero_diagonal", False))


def _leaves(model: nn.Module, adapter: Adapter) -> list[tuple[str, nn.Module]]:
    """Modules in definition order: neurons (not their children) and childless modules."""
    out: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue  # children of a neuron (surrogates, owned recurrent weights)
        if adapter.is_neuron(module):
            out.append((name, module))
            inside.append(name)
        elif not any(True for _ in module.children()):
            out.append((name, module))
    return out


def _call_order(model: nn.Module, adapter: Adapter, sample: torch.Tensor
                ) -> tuple[list[tuple[str, nn.Module]], dict[str, torch.Tensor]]:
    """The same modules in the order one forward pass first calls them, and what they saw.

    Also returns, from that first call, each module's output, each neuron's input (``name``) and spikes
    (``name:out``): to see pooling done by functions such as ``F.max_pool2d``, and residual merges; from the last
    call, each synapse's input (``name:in``) and each module's output (``name:last``): to see pooling before a
    synapse (a stepped model's first step has no spikes yet); and the spatial shape of every convolution's input
    (for its zero padding).
    """
    leaves = _leaves(model, adapter)
    order: list[tuple[str, nn.Module]] = []
    seen: set[str] = set()
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def pre_hook(name: str, module: nn.Module):
        def record(_: nn.Module, args: tuple) -> None:
            if name not in seen:
                seen.add(name)
                order.append((name, module))
                if adapter.is_neuron(module) and args and isinstance(args[0], torch.Tensor):
                    tensors[name] = args[0].detach().clone()
                elif isinstance(module, SYNAPSE_TYPES) and args and isinstance(args[0], torch.Tensor) \
                        and module.weight.dim() > 2:
                    shapes[name] = tuple(args[0].shape[-(module.weight.dim() - 2):])
            if isinstance(module, SYNAPSE_TYPES) and args and isinstance(args[0], torch.Tensor):
                tensors[f"{name}:in"] = args[0].detach().clone()  # the last call's (stepped: the last step's)
        return record

    def post_hook(name: str, module: nn.Module):
        def record(_: nn.Module, __: tuple, out: object) -> None:
            key = f"{name}:out" if adapter.is_neuron(module) else name
            out = adapter.spikes(module, out) if adapter.is_neuron(module) else out
            if key not in tensors and isinstance(out, torch.Tensor):
                tensors[key] = out.detach().clone()  # a later in-place add (out += identity) must not change it
            if isinstance(out, torch.Tensor) and not isinstance(module, SYNAPSE_TYPES):
                tensors[f"{name}:last"] = out.detach().clone()  # the last call's, beside the synapses' ":in"
        return record

    for name, module in leaves:
        handles.append(module.register_forward_pre_hook(pre_hook(name, module)))
        handles.append(module.register_forward_hook(post_hook(name, module)))
    run_with_hooks(model, adapter, sample, handles)  # BatchNorm running statistics are kept
    # modules never called keep their definition-order place at the end (they are reported unused)
    return order + [(n, m) for n, m in leaves if n not in seen], tensors, shapes


def valid_fraction(module: nn.Module, in_shape: tuple[int, ...] | None) -> float:
    r"""Mean fraction of a convolution's kernel taps that land on the input rather than on zero padding.

    Per spatial axis with input size n, kernel k, stride s, padding p and dilation d, output position o sees
    the taps j with :math:`0 \le o s - p + j d < n`; positions form a grid, so the mean over positions of the
    valid fraction is the product of the axes' means. Zero padding feeds inputs that never spike (theory.md
    section 8: border units see fewer inputs): a 3x3 kernel with padding 1 on a 2x2 map sees 4 of its 9 taps.
    1.0 for Linear layers, other padding modes, or an unknown input size.
    """
    if in_shape is None or not isinstance(module, SYNAPSE_TYPES[1:]) or module.padding_mode != "zeros":
        return 1.0
    spatial = module.weight.dim() - 2
    kernel = module.weight.shape[2:]
    stride, dilation = _per_axis(module.stride, spatial), _per_axis(module.dilation, spatial)
    if isinstance(module.padding, str):  # "valid" or "same" (stride 1): PyTorch pads (k - 1) d / 2 before
        padding = tuple(0 if module.padding == "valid" else (d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
    else:
        padding = _per_axis(module.padding, spatial)
    fraction = 1.0
    for n, k, s, p, d in zip(in_shape, kernel, stride, padding, dilation):
        n_out = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if n_out < 1:
            return 1.0
        taps = (np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d)
        fraction *= float(((taps >= 0) & (taps < n)).mean())
    return fraction


def _pooling_before(synapse: tuple[str, nn.Module], seen: dict[str, torch.Tensor], before: list[tuple[str, nn.Module]],
                    units: list[Unit]) -> list[tuple[str, nn.Module]]:
    """A functional max or average pooling (``F.max_pool2d``) between the previous layer and a synapse, seen on the
    sample.

    The synapse's recorded input is compared with the last recorded output before it (the last stateless module,
    or the previous neuron's spikes), pooled by a whole factor per spatial axis (and flattened, for a Linear after
    ``view``); a match returns an equivalent pooling module.
    """
    name, module = synapse
    x_in = seen.get(f"{name}:in")
    source = seen.get(f"{before[-1][0] if before else units[-1].name if units else ''}:last")
    if x_in is None or source is None or source.numel() <= x_in.numel() or source.numel() % x_in.numel():
        return []
    if not bool(source.any()):  # nothing to tell poolings apart (a stepped model's silent last step)
        return []
    ratio = source.numel() // x_in.numel()
    for spatial in (2, 1, 3):
        if source.dim() < spatial + 2:
            continue
        f = round(ratio ** (1 / spatial))
        if f < 2 or f**spatial != ratio or any(n % f for n in source.shape[-spatial:]):
            continue
        pool = _matching_pool(source, x_in, (f,) * spatial)
        if pool is not None:
            return [(f"functional {_pool_kind(pool)} pooling {(f,) * spatial}", pool)]
    return []


_POOLS = {"max": (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d), "avg": (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)}


def _matching_pool(source: torch.Tensor, target: torch.Tensor, factors: tuple[int, ...]) -> nn.Module | None:
    """A max or average pooling by ``factors`` over ``source``'s last axes (with the channel axis before them)
    whose result holds ``target``'s values (``target`` may be flattened), or None."""
    spatial = len(factors)
    flat = source.reshape(-1, *source.shape[-spatial - 1:]).float()
    for kind in ("max", "avg"):
        pool = _POOLS[kind][spatial - 1](factors)
        pooled = pool(flat)
        if pooled.numel() == target.numel() and _same(pooled, target.float().reshape(pooled.shape)):
            return pool
    return None


def _pool_kind(pool: nn.Module) -> str:
    return "max" if isinstance(pool, _POOLS["max"]) else "avg"


def _zero_padded(module: nn.Module) -> bool:
    if not isinstance(module, SYNAPSE_TYPES[1:]) or module.padding_mode != "zeros":
        return False
    return module.padding == "same" if isinstance(module.padding, str) else any(p > 0 for p in module.padding)


def _per_axis(value: int | tuple[int, ...], spatial: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * spatial


def _pool_window(pool: nn.Module) -> tuple[int, ...]:
    """A pooling module's window per spatial axis (``MaxPool2d(2)`` -> (2, 2))."""
    dims = int(type(pool).__name__[-2])
    size = pool.kernel_size
    return tuple(size) if isinstance(size, tuple) else (size,) * dims


def _window_correlation(synapse: nn.Module, window: tuple[int, ...]) -> float:
    """Mean correlation of the fluctuations at two positions of one pooling window of a conv's output.

    Two output positions offset by d (per axis) share a fraction prod_a max(0, K_a - |d_a| S_a)/K_a of
    their inputs (kernel K, stride S); independent inputs make that the correlation.
    """
    if not isinstance(synapse, nn.Conv1d | nn.Conv2d | nn.Conv3d) or math.prod(window) < 2:
        return 0.0
    kernel, stride = synapse.kernel_size, synapse.stride
    offsets = torch.cartesian_prod(*[torch.arange(w) for w in window]).reshape(-1, len(window))
    total, pairs = 0.0, 0
    for i in range(len(offsets)):
        for j in range(i + 1, len(offsets)):
            shared = 1.0
            for a, (k, st) in enumerate(zip(kernel, stride)):
                d = abs(int(offsets[i][a]) - int(offsets[j][a]))
                shared *= max(0, k - d * st) / k
            total += shared
            pairs += 1
    return total / pairs


def pool_windows(synapse: nn.Module, window: tuple[int, ...]) -> tuple[tuple[int, ...], ...] | None:
    """Each pooled output position's inputs, as indices into the patch they cover together (conv only)."""
    if not isinstance(synapse, nn.Conv1d | nn.Conv2d | nn.Conv3d) or len(window) != len(synapse.kernel_size):
        return None
    kernel, stride, dilation = synapse.kernel_size, synapse.stride, synapse.dilation
    channels = synapse.in_channels // synapse.groups
    extent = [(w - 1) * s + (k - 1) * d + 1 for w, s, k, d in zip(window, stride, kernel, dilation)]
    index = np.arange(channels * math.prod(extent)).reshape(channels, *extent)
    windows = []
    for position in itertools.product(*[range(w) for w in window]):
        cut = tuple(slice(p * s, p * s + (k - 1) * d + 1, d) for p, s, k, d in zip(position, stride, kernel, dilation))
        windows.append(tuple(index[(slice(None), *cut)].ravel().tolist()))
    return tuple(windows)


def _pooling(synapse: nn.Module, between: list[tuple[str, nn.Module]], seen_out: torch.Tensor | None,
             seen_in: torch.Tensor | None) -> tuple[int, str, float, list[str], tuple[int, ...] | None]:
    """Pooling of the synaptic current before the neuron: (positions, kind, correlation, notes, window)."""
    for _, m in between:
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d | nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
            window = _pool_window(m)
            kind = "max" if "Max" in type(m).__name__ else "avg"
            return math.prod(window), kind, _window_correlation(synapse, tuple(window)), [], tuple(window)
    if seen_out is None or seen_in is None or seen_in.numel() >= seen_out.numel():
        return 1, "max", 0.0, [], None
    # a functional pooling (F.max_pool2d...) between them: recognise it from what the hooks saw
    if seen_out.dim() == seen_in.dim() and seen_out.dim() >= 3:
        spatial = seen_out.dim() - 2
        factors = tuple(a // b for a, b in zip(seen_out.shape[2:], seen_in.shape[2:]))
        pool = _matching_pool(seen_out, seen_in, factors) if 1 <= spatial <= 3 and all(f >= 1 for f in factors) else None
        if pool is not None:
            kind = _pool_kind(pool)
            return math.prod(factors), kind, _window_correlation(synapse, factors), [
                f"found {kind} pooling {factors} of the synaptic current before the neuron"], factors
    return 1, "max", 0.0, ["the neuron receives fewer values than the weights produce, by an operation "
                           "not recognised as pooling; planned as if unchanged"], None


def _interleave_lists(sequence: list[tuple[str, nn.Module]], adapter: Adapter
                      ) -> tuple[list[tuple[str, nn.Module]], bool]:
    """Definition order of ``ModuleList(Linear x K)`` then ``ModuleList(Leaky x K)``: pair them by position.

    A run of K >= 2 weight layers directly followed by a run of exactly K neurons cannot be a chain of
    weight layers feeding one neuron; it is the tutorial pattern of separate lists, so interleave them.
    """
    out: list[tuple[str, nn.Module]] = []
    changed = False
    i = 0
    while i < len(sequence):
        j = i
        while j < len(sequence) and isinstance(sequence[j][1], SYNAPSE_TYPES):
            j += 1
        k = j
        while k < len(sequence) and adapter.is_neuron(sequence[k][1]):
            k += 1
        if j - i >= 2 and k - j == j - i:
            for syn, neu in zip(sequence[i:j], sequence[j:k]):
                out += [syn, neu]
            changed, i = True, k
        else:
            out.append(sequence[i])
            i += 1
    return out, changed


def _norm_problem(chains: list[tuple[tuple[str, nn.Module], list[tuple[str, nn.Module]]]]) -> str:
    """Why the BatchNorms between synapses and neuron cannot be planned ("" when they can, or there are none).

    ``chains`` are the feeding (synapse, modules after it) pairs; each may hold at most one BatchNorm, and
    either all or none of them.
    """
    norms = [[(n, m) for n, m in between if isinstance(m, NORM_TYPES)] for _, between in chains]
    if not any(norms):
        return ""
    for (synapse, _), found in zip(chains, norms):
        if len(found) > 1:
            return f"{len(found)} BatchNorms ({', '.join(n for n, _ in found)}) follow {synapse[0]}"
        if not found:
            return f"only some of the summed weight layers are batch-normalised ({synapse[0]} is not)"
        name, norm = found[0]
        if not norm.affine:
            return (f"{name} has no affine parameters (affine=False): in training mode it fixes the neuron's input "
                    "to zero mean and unit variance, which no weight can change; build it with affine=True")
    return ""


def _chain_output(chain: tuple[tuple[str, nn.Module], list[tuple[str, nn.Module]]],
                  seen: dict[str, torch.Tensor]) -> torch.Tensor | None:
    (synapse, _), between = chain
    return seen.get(between[-1][0] if between else synapse)


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    return a is not None and b is not None and a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _merge(name: str, chains: list, seen: dict[str, torch.Tensor], earlier: list[str]
           ) -> tuple[list, str | None, str, float]:
    """Which chains (and which earlier neuron's spikes, an identity shortcut) sum to the neuron's input.

    The last chain always feeds the neuron. When the input differs from its output, the difference is
    matched against the other chains since the previous neuron (a projection shortcut: conv + BN) and
    against ``earlier``: the spikes of earlier neurons (``name:out``) and the outputs of the stateless
    modules after them (an identity shortcut, maybe pooled); an input that is a constant multiple of the output
    (``10 * conv2(z)``) gives the factor. Returns (feeding chains, identity, note, factor).
    """
    last = chains[-1]
    v_in, out = seen.get(name), _chain_output(last, seen)
    if v_in is None or out is None or v_in.shape != out.shape or _same(v_in, out):
        return [last], None, "", 1.0
    scale = float((v_in * out).sum() / (out * out).sum()) if bool((out != 0).any()) else 0.0
    if scale > 0 and _same(v_in, scale * out):
        return [last], None, (f"{last[0][0]}'s output is multiplied by {scale:.4g} before {name}: the plan is for "
                              f"the product, the weights are written divided by {scale:.4g}"), scale
    residual = v_in - out
    for chain in chains[:-1]:
        if _same(_chain_output(chain, seen), residual):
            return [chain, last], None, f"a residual merge: {chain[0][0]} and {last[0][0]} are summed", 1.0
    for key in reversed(earlier):
        if _same(seen.get(key), residual):
            source = key.removesuffix(":out")
            return [last], source, f"a residual merge: {source}'s output is added to {last[0][0]}'s output", 1.0
    return [last], None, ("its input is more than its weights' output (a merge not recognised as a residual sum); "
                          f"planned as {last[0][0]} alone"), 1.0


def find_units(model: nn.Module, adapter: Adapter, sample: torch.Tensor | None = None
               ) -> tuple[list[Unit], list[tuple[str, str]]]:
    """Pair every neuron with its feeding weights. Returns (units, skipped) with skipped = (name, reason)."""
    position_paired = False
    if sample is None:
        sequence, seen, shapes = _leaves(model, adapter), {}, {}
        sequence, position_paired = _interleave_lists(sequence, adapter)
    else:
        sequence, seen, shapes = _call_order(model, adapter, sample)
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    chains: list[tuple[tuple[str, nn.Module], list[tuple[str, nn.Module]]]] = []  # since the last neuron
    after_skipped = ""
    before: list[tuple[str, nn.Module]] = []
    for name, module in sequence:
        if adapter.is_neuron(module):
            info = adapter.neuron_info(module, name)
            earlier = [k for u in units for k in (*(n for n, _ in u.before), f"{u.name}:out")]
            earlier += [n for n, _ in before]
            feeding, identity, merge_note, scale = (_merge(name, chains, seen, earlier) if chains
                                                    else ([], None, "", 1.0))
            for chain in chains:
                if chain not in feeding:
                    skipped.append((chain[0][0], "feeds no spiking neuron (another weight layer follows)"))
            synapses = [c[0] for c in feeding] + [(f"{name}.{attr}", m) for attr, m in info.owned_weights]
            if info.neuron is None:
                skipped.append((name, info.skip_reason))
                skipped.extend((c[0][0], f"feeds {name}, which is skipped") for c in feeding)
                after_skipped = name
            elif not synapses:
                skipped.append((name, "no weight layer feeds this neuron (it receives the input directly)"))
            elif norm_problem := _norm_problem(feeding):
                skipped.append((name, norm_problem))
            else:
                norms = [(n, m) for _, between in feeding for n, m in between if isinstance(m, NORM_TYPES)]
                pooled = _pooling_before(synapses[0], seen, before, units)
                unit = Unit(name, module, info, synapses, before + pooled, norms=norms, identity=identity,
                            input_scale=scale)
                if pooled:
                    unit.notes.append(f"found {pooled[0][0]} of the spikes before {synapses[0][0]}")
                if info.note:
                    unit.notes.append(info.note)
                if merge_note:
                    unit.notes.append(merge_note)
                if position_paired:
                    unit.notes.append("weights and neurons are defined in separate lists: paired by position; "
                                      "pass sample= to pair them by call order")
                if after_skipped:
                    unit.notes.append(f"its input comes after the skipped {after_skipped}; planned as if it were "
                                      "the output of the previous planned layer")
                    after_skipped = ""
                if len(feeding) == 1:
                    (syn_name, synapse), between = feeding[0]
                    unit.pool, unit.pool_kind, unit.pool_correlation, pool_notes, window = _pooling(
                        synapse, between, seen.get(syn_name), seen.get(name))
                    unit.notes.extend(pool_notes)
                    if unit.pool > 1 and window:
                        unit.pool_windows = pool_windows(synapse, window)
                fractions = [(fan_in(m), valid_fraction(m, shapes.get(n))) for n, m in synapses]
                unit.valid_fraction = sum(k * f for k, f in fractions) / sum(k for k, _ in fractions)
                if not shapes and any(_zero_padded(m) for _, m in synapses):
                    unit.notes.append("zero padding not in the plan: the input size is unknown (pass sample= to "
                                      "plan the border units' missing inputs)")
                units.append(unit)
            chains, before = [], []
        elif isinstance(module, SYNAPSE_TYPES):
            chains.append(((name, module), []))
        elif not chains:
            before.append((name, module))
        else:
            chains[-1][1].append((name, module))
    for chain in chains:
        skipped.append((chain[0][0], "feeds no spiking neuron (a readout after the last spiking layer)"))
    if not units:
        raise ModelStructureError(
            f"found no weight layer feeding a spiking neuron of {adapter.name} in {type(model).__name__}; "
            + ("skipped: " + "; ".join(f"{n}: {r}" for n, r in skipped) if skipped else
               "the model has no neuron module this adapter knows")
        )
    return units, skipped


def transform_moments(moments: InputMoments, modules: list[tuple[str, nn.Module]]) -> tuple[InputMoments, list[str]]:
    """Input statistics after stateless modules (pooling, flatten, dropout); notes for unknown modules.

    Max pooling of k independent spike trains fires when any does: r' = 1 - (1 - r)^k; average pooling
    gives analog input with mean r and second moment r/k + (1 - 1/k) r^2.
    """
    notes = []
    for name, m in modules:
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d) and moments.spiking:
            moments = InputMoments.spikes(1 - (1 - moments.mean) ** math.prod(_pool_window(m)))
        elif isinstance(m, nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
            k = math.prod(_pool_window(m))
            r = moments.mean
            moments = InputMoments.analog(r, moments.second / k + (1 - 1 / k) * r * r)
        elif isinstance(m, nn.Flatten | nn.Identity | nn.Unflatten) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        elif isinstance(m, nn.Dropout) and m.training and m.p > 0:
            moments = InputMoments.analog(moments.mean, moments.second / (1 - m.p))
        else:
            notes.append(f"{name} ({type(m).__name__}) assumed not to change the input statistics")
    return moments, notes
