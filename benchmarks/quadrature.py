"""How accurate is the density method's average over the quenched spread of drifts? (issue 3: plan accuracy)

A layer's neurons differ in their own mean drift m_i (the spread of their summed weights times the input
rates); the density method averages each prediction over m_i with Gauss-Hermite nodes
(``density.quadrature_nodes``). Where that spread dominates the membrane noise (the ratio R of
``quadrature_nodes``), each neuron's rate rises from 0 to its maximum over a small part of the spread and
the rule needs many nodes.

For layers 2, 8 and 20 of the ``general`` plans of the 48 stacks of benchmarks/depth.py (N = 256), this
script predicts the layer at its planned weights with

* ``old``: the former rule, 5 + 3R nodes capped at 41 (weight floor 1e-5, as now);
* ``new``: this version's rule, 5 + 3R + R^2/2 nodes capped at 151;
* ``lumped``: the new rule with its nodes beyond 3 drift spreads lumped into one per side (what
  ``density`` does);

and compares each with a 301-node rule (no lumping): the relative error of the population rate, of the
spread of rates across neurons and of the predicted synchrony (correlation, |error| / reference). Prints
the worst error per rule and range of R, and the cost of each rule (kept nodes, ms per evaluation).

    python benchmarks/quadrature.py                 # 48 stacks, about 4 minutes on 2 cores
    python benchmarks/quadrature.py --betas 0.99,1.0 --windows 100
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import math
import statistics
import time
from collections.abc import Iterator

from depth import WIDTH, add_grid_arguments  # benchmarks/ is on sys.path

from snninit_plugins.inputs import InputMoments
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import density
from snninit_plugins.strategies import LayerSpec, get_strategy, plan_network

density_module = importlib.import_module("snninit_plugins.predictors.density")
LAYERS = (2, 8, 20)
REFERENCE_NODES = 301
BUCKETS = ((0.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, math.inf))


def old_rule(ratio: float) -> int:
    """The former node count: 5 + 3R, between 7 and 41."""
    return int(min(41, max(7, math.ceil(5 + 3 * ratio))))


@contextlib.contextmanager
def tails(lumped: bool) -> Iterator[None]:
    """Within: the density method lumps the drift rule's tails (its default) or keeps every node."""
    saved = density_module._LUMP_BEYOND
    density_module._LUMP_BEYOND = saved if lumped else math.inf
    try:
        yield
    finally:
        density_module._LUMP_BEYOND = saved


def predict(neuron: CanonicalNeuron, drive: object, n_steps: int, n_nodes: int,
            lump: bool) -> tuple[object, float, int]:
    """The density prediction with ``n_nodes`` drift nodes, tails lumped or not; its wall time; the nodes kept."""
    with tails(lump):
        t0 = time.perf_counter()
        pred = density(neuron, drive, n_steps=n_steps, n_nodes=n_nodes)
        return pred, time.perf_counter() - t0, len(density_module.drift_nodes(drive, n_nodes)[0])


def errors(pred: object, ref: object) -> tuple[float, float, float]:
    """(rate %, spread %, synchrony x) relative errors against the reference."""
    return (100 * abs(pred.rate / ref.rate - 1), 100 * abs(pred.rate_spread / ref.rate_spread - 1),
            abs(pred.correlation - ref.correlation) / max(ref.correlation, 1e-6))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_arguments(parser)
    args = parser.parse_args(argv)
    rules = ("old", "new", "lumped")
    worst: dict[tuple, list[float]] = {}
    cost: dict[str, list[tuple[int, float]]] = {rule: [] for rule in rules}
    print(f"quadrature: layers {LAYERS} of the general plans, N={WIDTH}; errors against {REFERENCE_NODES} nodes")
    print(" beta reset    target    T layer     R |  nodes old/new  rate% old/new/lumped  spread% old/new/lumped"
          "  synchrony(x) old/new/lumped")
    for beta, reset, target, n_steps in itertools.product(args.betas, args.resets, args.targets, args.windows):
        neuron = CanonicalNeuron(beta=beta, reset=reset)
        strategy = get_strategy("general")
        layers = [LayerSpec(f"L{i + 1}", neuron, WIDTH) for i in range(max(LAYERS))]
        plan = plan_network(layers, strategy, InputMoments.spikes(target), target_rate=target, n_steps=n_steps)
        for index in LAYERS:
            p = plan[index - 1]
            drive = strategy.drive(layers[index - 1], p.input, p.weight_mean, p.weight_std, p.bias)
            if drive.drift_spread == 0.0:
                continue
            ratio = density_module.spread_ratio(neuron, drive, n_steps)
            new_nodes = density_module.quadrature_nodes(neuron, drive, n_steps)
            ref, _, _ = predict(neuron, drive, n_steps, REFERENCE_NODES, lump=False)
            found = {}
            for rule, nodes, lump in (("old", old_rule(ratio), False), ("new", new_nodes, False),
                                      ("lumped", new_nodes, True)):
                pred, seconds, kept = predict(neuron, drive, n_steps, nodes, lump)
                found[rule] = errors(pred, ref)
                cost[rule].append((kept, seconds))
                bucket = next(b for b in BUCKETS if b[0] <= ratio < b[1])
                key = (bucket, rule)
                worst[key] = [max(a, b) for a, b in zip(worst.get(key, [0.0, 0.0, 0.0]), found[rule])]
            cells = ["/".join(f"{found[r][i]:.2f}" for r in rules) for i in range(3)]
            print(f" {beta:4} {reset:8} {target:6} {n_steps:4} {index:5} {ratio:5.1f} |"
                  f" {old_rule(ratio):6d}/{new_nodes:<4d} {cells[0]:>20} {cells[1]:>22} {cells[2]:>29}", flush=True)
    print("\nworst errors against the reference, by R (rate %, spread %, synchrony x):")
    for bucket in BUCKETS:
        for rule in rules:
            if (bucket, rule) in worst:
                rate, spread, sync = worst[(bucket, rule)]
                print(f"  R in [{bucket[0]:g}, {bucket[1]:g}) {rule:7s} {rate:7.3f} {spread:8.3f} {sync:8.2f}")
    print("\ncost per evaluation (all layers above): kept nodes median/max, ms median/max")
    for rule in rules:
        kept, ms = [k for k, _ in cost[rule]], [1000 * s for _, s in cost[rule]]
        print(f"  {rule:7s} {statistics.median(kept):5.0f} {max(kept):4d} {statistics.median(ms):7.1f} {max(ms):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
