"""The issues' acceptance criteria for a measured spiking network, and the helpers the adapter tests share.

For every spiking layer: rate within x2 of the target (|log2(rate / target)| <= 1), silent fraction <= 15%,
synchrony chi <= 20; the first layer within ``first_tol`` (5%) of the target. Importable from the tests as
``acceptance`` (``pythonpath = ["tests"]`` in pyproject).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.sampling import sample_weight_
from snninit_plugins.simulator import LayerActivity, bernoulli_spikes, simulate_stack

Activities = list[tuple[str, LayerActivity]]


def build(factory: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """Call ``factory()`` with the global RNG seeded (PyTorch's default init), without disturbing it."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def show(title: str, acts: Activities) -> str:
    """Print and return one line: every layer's rate/silent fraction/chi."""
    line = f"{title}: " + ", ".join(f"{n}={a.rate:.4f}/{a.silent_fraction:.2f}/{a.synchrony:.1f}" for n, a in acts)
    print(line, "(rate/silent/chi)")
    return line


#: The target rate of the adapter tests (spikes per step), also their input rate.
RATE = 0.1


def criteria_failures(acts: Activities, target: float = RATE, first_tol: float = 0.05) -> list[str]:
    """The acceptance criteria; one line per violation."""
    bad = []
    for name, a in acts:
        if not (a.rate > 0 and abs(math.log2(a.rate / target)) <= 1.0):
            bad.append(f"{name}: rate {a.rate:.4f} not within x2 of {target}")
        if a.silent_fraction > 0.15:
            bad.append(f"{name}: silent fraction {a.silent_fraction:.3f} > 0.15")
        if not a.synchrony <= 20:
            bad.append(f"{name}: synchrony chi {a.synchrony:.2f} > 20")
    first_name, first = acts[0]
    if abs(first.rate / target - 1.0) > first_tol:
        bad.append(f"{first_name} (first layer): rate {first.rate:.4f} not within {first_tol:.0%} of {target}")
    return bad


def assert_criteria(acts: Activities, target: float = RATE, first_tol: float = 0.05) -> None:
    bad = criteria_failures(acts, target, first_tol)
    assert not bad, "\n".join(bad) + "\n" + show("measured", acts)



def simulate_plan(plan: Iterable, neuron: CanonicalNeuron, rate: float, n_steps: int, seed: int,
                  width: int = 256, batch: int = 64) -> list[float]:
    """Each layer's measured rate in a stack of ``width`` x ``width`` layers whose weights are drawn from ``plan``
    (stratified rows), fed Bernoulli spikes at ``rate``; one generator, seeded ``seed``, for both."""
    generator = gen(seed)
    weights = []
    for p in plan:
        w = torch.empty(width, width)
        sample_weight_(w, p.weight_mean, p.weight_std, rows="stratified", generator=generator)
        weights.append(w)
    acts = simulate_stack(neuron, weights, bernoulli_spikes(rate, n_steps, (batch, width), generator=generator))
    return [a.rate for a in acts]
