"""How long does ``general`` take to plan a 50-layer stack of identical layers? (issue 3: planning <= 1 s)

Per configuration (the grid of benchmarks/depth.py: beta in {0.5, 0.9, 0.99, 1.0}, both resets, targets
{0.05, 0.1, 0.2}, windows T = 25 and 100; N = 256 fan-in; "preserve": every layer's target is the input
rate), a fresh ``general`` instance (cold cache) plans the 50-layer stack exactly as depth.py does, and
this script measures:

* ``plan s``: wall time of ``plan_network`` for the whole stack, median of ``--repeat`` runs, each with a
  fresh instance; ``cpu s``: this process's CPU time for it (less sensitive to other processes on a shared
  machine, which wall times are not; evaluation counts do not depend on the machine at all);
* ``L1 s``: the wall time of layer 1 alone (the sigma_w search happens there);
* ``evals``: calls of the density predictor (every call site: solver, gain, plan) for the whole stack;
  ``fine``: of which at the planning resolution (n_cells >= 160, the costly ones; the sigma_w search uses
  80 cells and the planning's drift nodes, the plan's gain 100 cells and 7 nodes); ``L1 ev``: calls for layer 1;
* ``solved``: layers solved rather than reused (a reused or cached layer costs at most one evaluation);
* ``rate err``: the worst layer's |planned rate / target - 1|.

``--reference FILE`` also plans every configuration with ``General`` from another version of
strategies/solutions.py (e.g. the last commit's), loaded in this process and run alternately with this
code, so that both see the same predictors and the same machine load. It reports that version's times and
evaluations and how far this code's plans are from its plans, worst layer: weight std (relative), weight
mean (relative to the weight std) and rate (relative to target): the check that a speed-up did not change
the science.

    python benchmarks/planning_time.py                                  # 48 configurations, 3 repeats
    python benchmarks/planning_time.py --betas 0.9 --targets 0.1 --windows 25 --repeat 5
    git show HEAD:snninit_plugins/strategies/solutions.py > /tmp/solutions_head.py
    python benchmarks/planning_time.py --reference /tmp/solutions_head.py

``--reference-root DIR`` compares with the whole package of another version (e.g. a change to the density
predictor): DIR holds its ``snninit_plugins/``, which this script imports in a worker process that plans
alternately with this code, as above.

    mkdir /tmp/head && git archive HEAD snninit_plugins | tar -x -C /tmp/head
    python benchmarks/planning_time.py --reference-root /tmp/head
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from depth import DEPTHS, WIDTH, add_grid_arguments  # benchmarks/ is on sys.path

from snninit_plugins.inputs import InputMoments
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.strategies import LayerPlan, LayerSpec, get_strategy, plan_network

DEPTH = max(DEPTHS)
FINE_CELLS = 160  # the planning resolution (Strategy's n_cells)
# every module that holds its own reference to the density predictor (``from ..predictors import density``)
_DENSITY_HOLDERS = ["snninit_plugins.predictors", "snninit_plugins.solve", "snninit_plugins.strategies._base",
                    "snninit_plugins.strategies.solutions"]
REFERENCE_MODULE = "snninit_plugins.strategies._reference_solutions"


@contextlib.contextmanager
def counting_density() -> Iterator[list[int]]:
    """Count density calls wherever they are made; yields [all calls, calls at the planning resolution]."""
    original = importlib.import_module("snninit_plugins.predictors.density").density
    count = [0, 0]

    def counted(*args: object, **kwargs: object) -> object:
        count[0] += 1
        count[1] += kwargs.get("n_cells", FINE_CELLS) >= FINE_CELLS
        return original(*args, **kwargs)

    predictors = importlib.import_module("snninit_plugins.predictors")
    holders = [importlib.import_module(name) for name in _DENSITY_HOLDERS]
    patched = [m for m in holders if getattr(m, "density", None) is original]
    for m in patched:
        m.density = counted
    predictors.PREDICTORS["density"] = counted
    try:
        yield count
    finally:
        for m in patched:
            m.density = original
        predictors.PREDICTORS["density"] = original


def load_reference(path: str) -> type:
    """``General`` of another solutions.py, imported as a module of this package (its relative imports resolve)."""
    spec = importlib.util.spec_from_file_location(REFERENCE_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[REFERENCE_MODULE] = module
    spec.loader.exec_module(module)
    _DENSITY_HOLDERS.append(REFERENCE_MODULE)
    return module.General


class ReferenceWorker:
    """plan_stack with another version's package (under ``root``), in a worker process (see ``--worker``)."""

    def __init__(self, root: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(root)}
        # this script, importing the other version's package (PYTHONPATH comes before an installed package)
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def __call__(self, beta: float, reset: str, target: float, n_steps: int) -> dict:
        self.process.stdin.write(json.dumps([beta, reset, target, n_steps]) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())


def serve() -> int:
    """``--worker``: plan the configurations read from stdin (JSON, one a line); one JSON result a line."""
    for line in sys.stdin:
        print(json.dumps(plan_stack(*json.loads(line))), flush=True)
    return 0


#: options of this code's ``general`` (``--no-window-offset``, ``--no-window-onset``; a reference version plans
#: with its defaults)
STRATEGY_OPTIONS: dict = {}


def plan_stack(beta: float, reset: str, target: float, n_steps: int, general: type | None = None) -> dict:
    """Plan the 50-layer stack with a fresh ``general`` instance (as depth.py's run_config), or a fresh instance
    of the class ``general``; times and counts."""
    neuron = CanonicalNeuron(beta=beta, reset=reset)
    strategy = general() if general else get_strategy("general", **STRATEGY_OPTIONS)
    plan_layer = strategy.plan
    per_layer: list[tuple[float, int]] = []  # (seconds, evaluations) per plan call
    with counting_density() as count:
        def timed_plan(*args: object, **kwargs: object) -> LayerPlan:
            t0, n0 = time.perf_counter(), count[0]
            try:
                return plan_layer(*args, **kwargs)
            finally:
                per_layer.append((time.perf_counter() - t0, count[0] - n0))

        strategy.plan = timed_plan  # instance attribute: plan_network's calls are timed one by one
        t0, c0 = time.perf_counter(), time.process_time()
        plan = plan_network([LayerSpec(f"L{i + 1}", neuron, WIDTH) for i in range(DEPTH)], strategy,
                            InputMoments.spikes(target), target_rate=target, n_steps=n_steps)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"plan_s": seconds, "cpu_s": cpu, "first_s": per_layer[0][0], "evals": count[0], "fine": count[1],
            "first_evals": per_layer[0][1], "solved": sum(1 for _, n in per_layer if n > 1),
            "rate_err": max(abs(p.rate / target - 1) for p in plan),
            "layers": [(p.weight_mean, p.weight_std, p.rate) for p in plan]}


def summary(runs: list[dict]) -> dict:
    """One configuration's repeats: median times (and the range of the wall time); counts of the first run."""
    row = dict(runs[0])
    for key in ("plan_s", "cpu_s", "first_s"):
        row[key] = statistics.median(r[key] for r in runs)
    row["min_s"], row["max_s"] = min(r["plan_s"] for r in runs), max(r["plan_s"] for r in runs)
    return row


def deviations(new: list, old: list, target: float) -> tuple[float, float, float]:
    """Max over layers of |d sigma|/sigma, |d mu|/sigma, |d rate|/target (new vs old plan)."""
    d_std = max(abs(n[1] / o[1] - 1) for n, o in zip(new, old))
    d_mean = max(abs(n[0] - o[0]) / o[1] for n, o in zip(new, old))
    d_rate = max(abs(n[2] - o[2]) / target for n, o in zip(new, old))
    return d_std, d_mean, d_rate


def report(label: str, rows: list[dict]) -> None:
    def stats(key: str, spec: str = ".3f") -> str:
        values = [r[key] for r in rows]
        return f"median {statistics.median(values):{spec}}, max {max(values):{spec}}"

    print(f"\n{label}:\n  plan s {stats('plan_s')} ({sum(r['plan_s'] > 1.0 for r in rows)} of {len(rows)} over 1 s); "
          f"cpu s {stats('cpu_s')}; layer 1 s {stats('first_s')}")
    print(f"  evaluations {stats('evals', '.0f')}, total {sum(r['evals'] for r in rows)}; at the planning "
          f"resolution {stats('fine', '.0f')}, total {sum(r['fine'] for r in rows)}; layer 1 "
          f"{stats('first_evals', '.0f')}; solved layers {stats('solved', '.0f')}; "
          f"worst planned rate error {max(r['rate_err'] for r in rows) * 100:.3f}%")


def grid_first(args: argparse.Namespace) -> tuple:
    return args.betas[0], args.resets[0], args.targets[0], args.windows[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3, help="fresh-instance plans per configuration (median)")
    parser.add_argument("--reference", help="another strategies/solutions.py: time it too and compare the plans")
    parser.add_argument("--reference-root", help="a folder with another version's snninit_plugins/: time it too, "
                        "in a worker process, and compare the plans")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-window-offset", action="store_true",
                        help="plan this code's stacks with general(window_offset=False)")
    parser.add_argument("--no-window-onset", action="store_true",
                        help="plan this code's stacks with general(window_onset=False)")
    args = parser.parse_args(argv)
    if args.no_window_offset:
        STRATEGY_OPTIONS["window_offset"] = False
    if args.no_window_onset:
        STRATEGY_OPTIONS["window_onset"] = False
    if args.worker:
        return serve()
    if args.reference and args.reference_root:
        parser.error("give --reference or --reference-root, not both")
    reference = load_reference(args.reference) if args.reference else None
    if args.reference_root:
        reference = ReferenceWorker(args.reference_root)
        reference(*grid_first(args))  # warm up its imports
    grid = list(itertools.product(args.betas, args.resets, args.targets, args.windows))
    print(f"planning_time: {len(grid)} configurations, {DEPTH} layers, N={WIDTH}, {args.repeat} repeat(s) each",
          flush=True)
    head = (f"{'beta':>5} {'reset':<8} {'target':>6} {'T':>4} | {'plan s':>6} {'(min':>6} {'max)':>6} {'cpu s':>6} "
            f"{'L1 s':>6} {'evals':>5} {'fine':>4} {'L1 ev':>5} {'solved':>6} {'rate err':>8}"
            + (f" | {'ref s':>6} {'ref cpu':>7} {'evals':>5} {'fine':>4} {'d std%':>6} {'d mu/std':>8} {'d rate%':>7}"
               if reference else ""))
    print(head + "\n" + "-" * len(head))
    rows, ref_rows = [], []
    for beta, reset, target, n_steps in grid:
        runs, ref_runs = [], []
        for _ in range(max(args.repeat, 1)):  # alternately: both versions see the same machine load
            runs.append(plan_stack(beta, reset, target, n_steps))
            if isinstance(reference, ReferenceWorker):
                ref_runs.append(reference(beta, reset, target, n_steps))
            elif reference:
                ref_runs.append(plan_stack(beta, reset, target, n_steps, reference))
        row = summary(runs)
        line = (f"{beta:>5} {reset:<8} {target:>6} {n_steps:>4} | {row['plan_s']:>6.3f} {row['min_s']:>6.3f} "
                f"{row['max_s']:>6.3f} {row['cpu_s']:>6.3f} {row['first_s']:>6.3f} {row['evals']:>5} {row['fine']:>4} "
                f"{row['first_evals']:>5} {row['solved']:>6} {row['rate_err'] * 100:>7.3f}%")
        if reference:
            ref = summary(ref_runs)
            row["dev"] = deviations(row["layers"], ref["layers"], target)
            line += (f" | {ref['plan_s']:>6.3f} {ref['cpu_s']:>7.3f} {ref['evals']:>5} {ref['fine']:>4} "
                     f"{row['dev'][0] * 100:>6.3f} {row['dev'][1]:>8.4f} {row['dev'][2] * 100:>7.4f}")
            ref_rows.append(ref)
        print(line, flush=True)
        rows.append(row)
    report("this code", rows)
    if reference:
        report(f"reference {args.reference or args.reference_root}", ref_rows)
        devs = [r["dev"] for r in rows]
        d_std, d_mean, d_rate = (max(d[i] for d in devs) for i in range(3))
        print(f"\nthis code vs reference, worst layer of all: |d weight_std|/std {d_std * 100:.3f}%, "
              f"|d weight_mean|/std {d_mean:.4f}, |d rate|/target {d_rate * 100:.4f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
