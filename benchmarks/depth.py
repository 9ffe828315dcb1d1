"""Do deep stacks initialised by each strategy keep their rate? (issue acceptance: depth)

Simulates 50-layer stacks (N = 256 wide, fan-in 256) of canonical neurons (threshold 1, V0 = 0) initialised by
each strategy and baseline, for beta in {0.5, 0.9, 0.99, 1.0}, both resets, targets {0.05, 0.1, 0.2} and windows
T = 25 and T = 100, fed by Bernoulli spikes at the target rate ("preserve": every layer's target is the input
rate). The 20-layer stack is the prefix of the 50-layer one (same plan, same weights), so one simulation gives
both. Per configuration one fresh strategy instance plans the 50-layer stack (timed: that is the cost of
planning a 50-layer network of identical layers from a cold cache); each layer's weights are drawn as
apply_init draws them (``sample_weight_``: the plan's law with stratified row sums, ``--rows iid`` for
i.i.d. rows; rows summing exactly to N mu_w when the plan centres rows; PyTorch's U(-1/sqrt(N), 1/sqrt(N))
when the plan keeps the framework's weights), and the stack runs on B = 64 samples.

Measured per layer: population rate, silent fraction (neurons that never fire), synchrony chi (1 for
independent neurons, N for lock-step); with ``--layers`` also the spread of the neurons' rates (std across
neurons of each neuron's rate over samples and steps) beside the plan's predicted spread, and the Fano factor
of the neurons' spike counts over the window across samples (1 for Bernoulli trains; in subtract-reset stacks
at T = 100 it reaches 20-25: which neurons fire differs from sample to sample). The layer gain
G = d ln r_out / d ln r_in is measured for layers 1, 2, 10, 20, 50 by feeding that layer alone (its actual weights) its own
input in the stack made 1 +- h times as active (h = 0.1: spikes dropped, or added where there are none, one set
of random numbers for both; ``stack_gain``): the trains keep their bursts, as the plan's G keeps the input's
autocorrelation. ``--g-input planned`` feeds independent Bernoulli trains at the planned input rate (1 +- h)
instead, the units' rates spread as planned (a gamma law; layer 1: identical rates), ``--g-input
homogeneous`` all at one rate (the former default: bursty subtract-reset trains then give a different G, e.g.
+0.4 where the stack's own input measures -0.6 and the plan -0.3 to -0.6). The first-layer criterion uses this stack's own first layer
("L1%"); "pop%" is the layer's ensemble rate over fresh weights and inputs (until its standard error is
< 0.3%), i.e. the planning accuracy alone.

Acceptance for ``general`` (gain criterion), in every configuration and at every layer: rate within x2 of
target (|log2(rate/target)| <= 1), silent fraction <= 15%, chi <= 20; first layer within 3% (1% with centred
rows). The verdict column says PASS or FAIL with the failed criteria: r (x2), s (silent), c (chi), 1 (layer 1).
Column |J|: the spectral radius of the plan's own (rate, spread) layer map at layer 10
(``predictors.layer_jacobian``): above 1 the planned fixed point is unstable in the spread of rates across
neurons, which the gain criterion (G scales rate and spread together) does not see. The baselines show the
collapse in the same table (column "silent": the first silent layer). chi is taken over the layers where it is defined (a layer where no neuron varies has none; it fails on rate and silence instead).

    python benchmarks/depth.py --quick                # general, kaiming, default; 12 configurations (< 1 min)
    python benchmarks/depth.py                        # every strategy, the full grid (about 50 minutes)
    python benchmarks/depth.py --jobs 2               # ... on two processes
    python benchmarks/depth.py --centred              # ... plus general with centred rows
    python benchmarks/depth.py --strategies "" --variants none   # general without its window options only
    python benchmarks/depth.py --strategies general --betas 0.9 --targets 0.1 --layers --centred
    python benchmarks/depth.py --strategies "" --centred --betas 1.0   # general with centred rows only
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import multiprocessing
import statistics
import sys
import time
import zlib

import numpy as np
import torch

from snninit_plugins.errors import InfeasibleTargetError
from snninit_plugins.inputs import InputMoments
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.sampling import sample_weight_
from snninit_plugins.simulator import bernoulli_spikes, run_neurons, simulate_layer_rate, simulate_stack
from snninit_plugins.strategies import STRATEGIES, LayerPlan, LayerSpec, get_strategy, plan_network

WIDTH = 256
DEPTHS = (20, 50)
BETAS = (0.5, 0.9, 0.99, 1.0)
RESETS = ("subtract", "value")
TARGETS = (0.05, 0.1, 0.2)
WINDOWS = (25, 100)
#: variants of general (--variants): the flag letters of the window options left on
VARIANTS = ("o", "n", "none")
BATCH = 64  # samples through the stack
GAIN_BATCH = 64  # samples for the measured layer gain
GAIN_STEP = 0.1  # h: input rates r_in (1 +- h)
GAIN_LAYERS = (1, 2, 10, 20, 50)
JACOBIAN_LAYER = 10  # the plan's (rate, spread) Jacobian is taken at this layer (the stack has converged there)
FIRST_LAYER_SE = 0.003  # relative standard error at which the first-layer ensemble measurement stops
# acceptance criteria (general, gain criterion)
MAX_LOG2 = 1.0
MAX_SILENT = 0.15
MAX_CHI = 20.0
MAX_FIRST = 0.03
MAX_FIRST_CENTRED = 0.01


# --------------------------------------------------------------------------------------------- weights
def draw_weights(plan: LayerPlan, fan_in: int, gen: torch.Generator, rows: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One layer's weight matrix (WIDTH x fan_in) and bias as the plan says, drawn as apply_init draws them."""
    w = torch.empty(WIDTH, fan_in)
    if plan.keep_weights:  # PyTorch nn.Linear default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(N), 1/sqrt(N))
        sample_weight_(w, 0.0, 1.0 / math.sqrt(3 * fan_in), law="uniform", rows="iid", generator=gen)
    else:
        sample_weight_(w, plan.weight_mean, plan.weight_std, law=plan.weight_law,
                       rows="centred" if plan.centred_rows else rows, generator=gen)
    bias = torch.full((WIDTH,), float(plan.bias)) if plan.bias else None
    return w, bias


# --------------------------------------------------------------------------------------------- measurements
def unit_rates(mean: float, spread: float, n: int, seed: int, homogeneous: bool) -> np.ndarray:
    """Input units' rates with the planned mean and spread across units (gamma law), or all equal."""
    if homogeneous or spread <= 0 or mean <= 0:
        return np.full(n, mean)
    shape, scale = (mean / spread) ** 2, spread * spread / mean
    p = np.random.default_rng(seed).gamma(shape, scale, size=n)
    p *= mean / p.mean()
    return np.clip(p, 0.0, 1.0)


def stack_gain(neuron: CanonicalNeuron, w: torch.Tensor, b: torch.Tensor | None, spikes: torch.Tensor,
               seed: int) -> float:
    """G of this layer alone fed its own input in the stack, ``spikes`` (T, B, N), made 1 +- h times as active:
    each input spike kept with probability 1 - h, or spikes added where there are none with probability
    h r_j / (1 - r_j) (r_j: unit j's rate), one set of uniform numbers for both. The trains keep their
    bursts and the units their rates' spread: the input the plan's G is taken for (its moments scaled by
    1 +- h, autocorrelation kept). nan if silent."""
    with torch.no_grad():
        u = torch.rand(spikes.shape, generator=torch.Generator().manual_seed(seed), dtype=spikes.dtype)
        r = spikes.mean(dim=(0, 1))
        added = (u < GAIN_STEP * r / (1 - r).clamp(min=1e-6)).to(spikes.dtype)
        up, down = torch.maximum(spikes, added), spikes * (u >= GAIN_STEP).to(spikes.dtype)
        rates_in = [float(up.mean()), float(down.mean())]
        rates_out = [float(run_neurons(neuron, torch.nn.functional.linear(a, w, b)).mean()) for a in (up, down)]
    if min(rates_out) <= 0 or min(rates_in) <= 0:
        return math.nan
    return (math.log(rates_out[0]) - math.log(rates_out[1])) / (math.log(rates_in[0]) - math.log(rates_in[1]))


def measured_gain(neuron: CanonicalNeuron, w: torch.Tensor, b: torch.Tensor | None, rates: np.ndarray,
                  n_steps: int, seed: int) -> float:
    """G = (ln r(+) - ln r(-)) / (ln(1+h) - ln(1-h)) for this layer alone, common random numbers; nan if silent."""
    out = []
    with torch.no_grad():
        for sign in (1.0, -1.0):
            gen = torch.Generator().manual_seed(seed)
            a = bernoulli_spikes(np.clip(rates * (1 + sign * GAIN_STEP), 0.0, 1.0), n_steps, (GAIN_BATCH, w.shape[1]),
                                 generator=gen)
            out.append(float(run_neurons(neuron, torch.nn.functional.linear(a, w, b)).mean()))
    if out[0] <= 0 or out[1] <= 0:
        return math.nan
    return (math.log(out[0]) - math.log(out[1])) / (math.log(1 + GAIN_STEP) - math.log(1 - GAIN_STEP))


def plan_radius(strategy: object, neuron: CanonicalNeuron, plan: LayerPlan, n_steps: int) -> float:
    """Spectral radius of the plan's (rate, spread) layer map at ``plan`` (predictors.jacobian_radius), or nan where
    it has none (a baseline that does not target a rate, a silent layer, an input without spread)."""
    if not strategy.targets_rate or plan.keep_weights or not plan.rate > 0:
        return math.nan
    layer = LayerSpec("J", neuron, WIDTH, centred_rows=plan.centred_rows)
    # imported here: planning_time.py imports this module in a worker that runs another (older) version's package
    from snninit_plugins.predictors import density, jacobian_radius

    drive = strategy.drive(layer, plan.input, plan.weight_mean, plan.weight_std, plan.bias)
    return jacobian_radius(density, neuron, drive, n_steps=n_steps)


def first_layer_rate(neuron: CanonicalNeuron, plan: LayerPlan, n_steps: int, seed: int) -> tuple[float, float]:
    """Ensemble rate of layer 1 (fresh rows and inputs per group) and its standard error."""
    law = "uniform" if plan.keep_weights or plan.weight_law == "uniform" else "normal"
    std = 1.0 / math.sqrt(3 * WIDTH) if plan.keep_weights else plan.weight_std
    mean = 0.0 if plan.keep_weights else plan.weight_mean
    means, errors = [], []
    for batch in range(16):
        gen = torch.Generator().manual_seed(seed * 7919 + batch)
        r, se = simulate_layer_rate(neuron, fan_in=WIDTH, weight_mean=mean, weight_std=std,
                                    input_rate=plan.input.mean, n_steps=n_steps, bias=plan.bias,
                                    centred_rows=plan.centred_rows and not plan.keep_weights, n_groups=64,
                                    rows_per_group=WIDTH, generator=gen, dtype=torch.float32, weight_law=law)
        means.append(r)
        errors.append(se)
        pooled = float(np.mean(means))
        pooled_se = float(np.sqrt(np.sum(np.square(errors)))) / len(errors)
        if pooled <= 0 or pooled_se / pooled < FIRST_LAYER_SE:
            break
    return pooled, pooled_se


# --------------------------------------------------------------------------------------------- one configuration
def config_seed(base: int, beta: float, reset: str, target: float, n_steps: int) -> int:
    """Same seed for every strategy of one (beta, reset, target, T): common random numbers across strategies."""
    return (zlib.crc32(f"{beta}|{reset}|{target}|{n_steps}".encode()) + 1_000_003 * base) % 2**31


def run_config(name: str, centred: bool, beta: float, reset: str, target: float, n_steps: int, seed: int,
               gain_input: str = "stack", rows: str = "stratified") -> dict:
    row: dict = dict(strategy=name + ("+c" if centred else ""), name=name, beta=beta, reset=reset, target=target,
                     T=n_steps, centred=centred, error=None)
    # "general+o": general with window_offset alone; "+n": window_onset alone; "+none": neither (both are defaults)
    base, _, flag = name.partition("+")
    on = "" if flag == "none" else flag
    options = ({option: letter in on for letter, option in (("o", "window_offset"), ("n", "window_onset"))}
               if flag in VARIANTS else {})
    neuron = CanonicalNeuron(beta=beta, reset=reset)
    depth = max(DEPTHS)
    try:
        strategy = get_strategy(base, centred_rows=True, **options) if centred else get_strategy(base, **options)
        layer_times: list[float] = []
        plan_layer = strategy.plan

        def timed_plan(*args: object, **kwargs: object) -> LayerPlan:
            t0 = time.perf_counter()
            try:
                return plan_layer(*args, **kwargs)
            finally:
                layer_times.append(time.perf_counter() - t0)

        strategy.plan = timed_plan  # instance attribute: plan_network's calls are timed one by one
        t0 = time.perf_counter()
        plan = plan_network([LayerSpec(f"L{i + 1}", neuron, WIDTH) for i in range(depth)], strategy,
                            InputMoments.spikes(target), target_rate=target, n_steps=n_steps)
        row["plan_s"] = time.perf_counter() - t0
        row["plan_first_s"] = layer_times[0] if layer_times else math.nan
        t0 = time.perf_counter()
        plan_network([LayerSpec(f"L{i + 1}", neuron, WIDTH) for i in range(depth)], strategy,
                     InputMoments.spikes(target), target_rate=target, n_steps=n_steps)
        row["replan_s"] = time.perf_counter() - t0
    except (InfeasibleTargetError, ValueError) as exc:
        row["error"] = str(exc).splitlines()[0]
        return row
    row["radius"] = plan_radius(strategy, neuron, plan[JACOBIAN_LAYER - 1], n_steps)
    seed = config_seed(seed, beta, reset, target, n_steps)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    layers = [draw_weights(p, WIDTH, gen, rows) for p in plan]
    inputs = bernoulli_spikes(target, n_steps, (BATCH, WIDTH), generator=gen)
    stack_input = gain_input == "stack"  # every layer's spikes kept only when G is measured on them
    run = simulate_stack(neuron, [w for w, _ in layers], inputs, biases=[b for _, b in layers],
                         return_spikes=stack_input)
    acts, spikes = run if stack_input else (run, None)
    upstream = ({k: inputs if k == 1 else spikes[k - 2] for k in GAIN_LAYERS if k <= depth} if stack_input else {})
    del inputs, spikes
    gains = {}
    for k in GAIN_LAYERS:
        if k <= depth:
            p = plan[k - 1]
            w, b = layers[k - 1]
            if gain_input == "stack":
                gains[k] = stack_gain(neuron, w, b, upstream[k], seed + 100 + k)
            else:
                rates = unit_rates(p.input.mean, p.input.unit_spread, WIDTH, seed + k, gain_input == "homogeneous")
                gains[k] = measured_gain(neuron, w, b, rates, n_steps, seed + 100 + k)
    del upstream
    del layers
    l1, l1_se = first_layer_rate(neuron, plan[0], n_steps, seed)
    row.update(
        planned=[float(p.rate) for p in plan], gain_pred=[float(p.gain) for p in plan], gain_meas=gains,
        spread_pred=[float(p.rate_spread) for p in plan], spread=[float(np.std(a.rate_per_neuron)) for a in acts],
        fano=[float(a.fano) for a in acts],
        rate=[a.rate for a in acts], silent=[a.silent_fraction for a in acts], chi=[a.synchrony for a in acts],
        l1=l1, l1_se=l1_se, sim_s=time.perf_counter() - t0,
    )
    return row


# --------------------------------------------------------------------------------------------- metrics
def log2_error(rate: float, target: float) -> float:
    return abs(math.log2(rate / target)) if rate > 0 else math.inf


def metrics(row: dict, depth: int) -> dict:
    """Per-depth summary of one configuration and its verdict against the acceptance criteria."""
    rates, target = row["rate"][:depth], row["target"]
    # chi is undefined (nan) where no neuron varies (silent or saturated layers); those fail on rate and silence
    chis = [c for c in row["chi"][:depth] if math.isfinite(c)]
    first_err = abs(rates[0] / target - 1)  # the realised first layer of this stack
    m = dict(
        worst_log2=max(log2_error(r, target) for r in rates),
        worst_rel=max(abs(r / target - 1) for r in rates),
        max_silent=max(row["silent"][:depth]),
        max_chi=max(chis) if chis else math.nan,
        last_err=rates[-1] / target - 1,
        first_silent=next((i + 1 for i, r in enumerate(rates) if r <= 0), None),
    )
    failed = ""
    if m["worst_log2"] > MAX_LOG2:
        failed += "r"
    if m["max_silent"] > MAX_SILENT:
        failed += "s"
    if m["max_chi"] > MAX_CHI:
        failed += "c"
    if first_err > (MAX_FIRST_CENTRED if row["centred"] else MAX_FIRST):
        failed += "1"
    m["failed"] = failed
    m["passed"] = not failed
    return m


# --------------------------------------------------------------------------------------------- printing
def fmt(x: float, spec: str, width: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return f"{'nan':>{width}}"
    if math.isinf(x):
        return f"{'inf':>{width}}"
    return f"{x:>{width}{spec}}"


def config_label(row: dict) -> str:
    return (f"{row['strategy']:<19} {row['beta']:>5} {row['reset']:<8} {row['target']:>6} {row['T']:>4} "
            f"{'yes' if row['centred'] else 'no':<4}")


def print_layers(row: dict) -> None:
    print(f"\n{row['strategy']}, beta={row['beta']}, reset={row['reset']}, target={row['target']}, T={row['T']}, "
          f"centred={'yes' if row['centred'] else 'no'}")
    if row["error"]:
        print(f"  n/a: {row['error']}")
        return
    err = (row["l1"] / row["target"] - 1) * 100
    print(f"  layer 1 ensemble rate {row['l1']:.5f} +- {row['l1_se']:.5f} ({err:+.2f}%)"
          f"; planning {row['plan_s']:.2f} s (layer 1 {row['plan_first_s']:.2f} s)")
    head = (f"  {'layer':>5} {'target':>7} {'planned':>8} {'rate':>8} {'|log2|':>7} {'silent%':>8} {'chi':>7} "
            f"{'spread':>7} {'(plan)':>7} {'Fano':>6} {'G pred':>7} {'G meas':>7}")
    print(head + "\n  " + "-" * (len(head) - 2))
    for i, r in enumerate(row["rate"]):
        g_meas = row["gain_meas"].get(i + 1)
        print(f"  {i + 1:>5} {row['target']:>7.3g} {row['planned'][i]:>8.4f} {r:>8.4f} "
              f"{fmt(log2_error(r, row['target']), '.3f', 7)} {row['silent'][i] * 100:>8.1f} "
              f"{fmt(row['chi'][i], '.1f', 7)} {row['spread'][i]:>7.3f} {row['spread_pred'][i]:>7.3f} "
              f"{fmt(row['fano'][i], '.1f', 6)} "
              f"{fmt(row['gain_pred'][i], '.3f', 7)} {'' if g_meas is None else fmt(g_meas, '.3f', 7)}")


def print_summary(rows: list[dict]) -> None:
    print("\nSummary: per configuration, depth 20 and depth 50 (the 20-layer stack is the 50-layer one's prefix)")
    print("  L1%: this stack's first-layer rate error (pop%: the layer's ensemble over fresh weights); |log2|: worst layer's |log2(rate/target)|; sil%: max silent "
          "fraction; chi: max synchrony; Ld%: last layer's rate error; verdict: PASS, or FAIL with r (x2) s (silent) "
          "c (chi) 1 (layer 1); silent: first layer with rate 0; G1/G50: predicted/measured gain of layers 1 and 50; "
          f"|J|: spectral radius of the plan's (rate, spread) map at layer {JACOBIAN_LAYER} "
          "(predictors.layer_jacobian; above 1 its fixed point is unstable)")
    head = (f"{'strategy':<19} {'beta':>5} {'reset':<8} {'target':>6} {'T':>4} {'cent':<4} {'L1%':>6} {'pop%':>6} | "
            f"{'|log2|':>6} {'sil%':>5} {'chi':>6} {'L20%':>7} {'verdict':<9} | "
            f"{'|log2|':>6} {'sil%':>5} {'chi':>6} {'L50%':>7} {'verdict':<9} | {'silent':<14} {'G1 p/m':>11} "
            f"{'G50 p/m':>11} {'|J|':>5} {'plan s':>6}")
    print(head + "\n" + "-" * len(head))
    for row in rows:
        if row["error"]:
            print(f"{config_label(row)} n/a: {row['error']}")
            continue
        parts = [config_label(row), f"{(row['rate'][0] / row['target'] - 1) * 100:>+6.2f}",
                 f"{(row['l1'] / row['target'] - 1) * 100:>+6.2f}"]
        for depth in DEPTHS:
            m = metrics(row, depth)
            verdict = "PASS" if m["passed"] else "FAIL:" + m["failed"]
            parts.append(f"| {fmt(m['worst_log2'], '.3f', 6)} {m['max_silent'] * 100:>5.1f} "
                         f"{fmt(m['max_chi'], '.1f', 6)} "
                         f"{m['last_err'] * 100:>+7.1f} {verdict:<9}")
        first = metrics(row, max(DEPTHS))["first_silent"]
        gains = []
        for k in (1, max(DEPTHS)):
            gains.append(f"{fmt(row['gain_pred'][k - 1], '.2f', 5)}/{fmt(row['gain_meas'].get(k, math.nan), '.2f', 5)}")
        parts.append(f"| {'silent from L%d' % first if first else '-':<14} {gains[0]:>11} {gains[1]:>11} "
                     f"{fmt(row.get('radius', math.nan), '.2f', 5)} {row['plan_s']:>6.2f}")
        print(" ".join(parts))


def print_final(rows: list[dict]) -> None:
    print("\nAcceptance (general, gain criterion): every layer within x2, silent <= 15%, chi <= 20, "
          "layer 1 within 3% (centred rows: 1%)")
    done = [r for r in rows if not r["error"]]
    labels = {"general": "general", "general+c": "general, centred rows", "general+o": "general, window offset alone",
              "general+n": "general, window onset alone", "general+none": "general, neither window option"}
    for strategy, label in labels.items():
        group = [r for r in done if r["strategy"] == strategy]
        if not group:
            continue
        for depth in DEPTHS:
            ms = [metrics(r, depth) for r in group]
            fails = [f"{r['beta']}/{r['reset']}/{r['target']}/T={r['T']}:{m['failed']}"
                     for r, m in zip(group, ms) if not m["passed"]]
            print(f"  {label}, depth {depth}: {sum(m['passed'] for m in ms)} of {len(group)} configurations pass"
                  + (f"; failing: {', '.join(fails)}" if fails else ""))
        ms = [metrics(r, max(DEPTHS)) for r in group]
        worst = [m["worst_rel"] for m in ms]
        last = [abs(m["last_err"]) for m in ms]
        print(f"  {label}, depth {max(DEPTHS)}: worst layer |rate/target - 1| median "
              f"{statistics.median(worst) * 100:.1f}%,"
              f" max {max(worst) * 100:.1f}%; layer {max(DEPTHS)} |rate/target - 1| median "
              f"{statistics.median(last) * 100:.1f}%, max {max(last) * 100:.1f}%")
        for unstable in (True, False):
            part = [m for r, m in zip(group, ms) if (r.get("radius", math.nan) > 1) == unstable]
            if part:
                print(f"  {label}, depth {max(DEPTHS)}, |J| {'>' if unstable else '<='} 1: {len(part)} configurations, "
                      f"{sum(m['passed'] for m in part)} pass; worst layer |rate/target - 1| median "
                      f"{statistics.median(m['worst_rel'] for m in part) * 100:.1f}%")
    print(f"\nPlanning a {max(DEPTHS)}-layer stack of identical layers (fresh strategy instance, cold cache; "
          "this machine, possibly shared)")
    head = f"  {'strategy':<19} {'n':>3} {'median s':>9} {'max s':>7} {'layer 1 median s':>17} {'cached replan s':>16}"
    print(head + "\n  " + "-" * (len(head) - 2))
    for label in dict.fromkeys(r["strategy"] for r in done):
        group = [r for r in done if r["strategy"] == label]
        times = [r["plan_s"] for r in group]
        print(f"  {label:<19} {len(group):>3} {statistics.median(times):>9.3f} {max(times):>7.3f} "
              f"{statistics.median(r['plan_first_s'] for r in group):>17.3f} "
              f"{statistics.median(r['replan_s'] for r in group):>16.4f}")


# --------------------------------------------------------------------------------------------- main
def _run_task(task: tuple) -> dict:
    """One configuration in a worker process (or in this one): run_config with its own torch threads."""
    *config, threads = task
    torch.set_num_threads(max(threads, 1))
    return run_config(*config)


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """--betas, --targets, --windows, --resets: comma-separated subsets of the grid (default: all of it)."""
    parser.add_argument("--betas", type=floats, default=BETAS)
    parser.add_argument("--targets", type=floats, default=TARGETS)
    parser.add_argument("--windows", type=lambda s: tuple(int(x) for x in s.split(",") if x.strip()), default=WINDOWS)
    parser.add_argument("--resets", type=lambda s: tuple(x.strip() for x in s.split(",") if x.strip()), default=RESETS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help='comma-separated names (default: all; "" with --centred: general, centred rows only)')
    add_grid_arguments(parser)
    parser.add_argument("--centred", action="store_true", help="also run general with centred rows")
    parser.add_argument("--variants", default="",
                        help="also run these variants of general (whose window_offset and window_onset are on by "
                             "default), comma-separated: o (window_offset alone), n (window_onset alone), none "
                             "(neither); rows general+o, general+n, general+none")
    parser.add_argument("--layers", action="store_true", help="print a per-layer table for every configuration")
    parser.add_argument("--g-input", choices=("stack", "planned", "homogeneous"), default="stack",
                        help="measured G's input: the layer's own input in the stack, made 1 +- h times as active "
                             "(default); independent Bernoulli trains at the planned rates and spread; or at "
                             "identical rates")
    parser.add_argument("--quick", action="store_true",
                        help="general, kaiming, default; beta 0.9 and 1.0; target 0.1; T=25; both resets")
    parser.add_argument("--rows", choices=("stratified", "iid"), default="stratified",
                        help="row sums of non-centred weights: stratified (as apply_init draws them) or i.i.d.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1,
                        help="configurations run in parallel processes (planning times are then shared-machine times)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: the tensors are small and extra threads only contend)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(args.threads, 1))
    if args.quick:
        names, betas, targets, windows, resets = ["general", "kaiming", "default"], (0.9, 1.0), (0.1,), (25,), RESETS
    else:
        names = [n.strip() for n in args.strategies.split(",") if n.strip()]
        betas, targets, windows, resets = args.betas, args.targets, args.windows, args.resets
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; available: {', '.join(STRATEGIES)}")
    flags = dict.fromkeys(v.strip() for v in args.variants.split(",") if v.strip())
    if set(flags) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(set(flags) - set(VARIANTS))}; available: {', '.join(VARIANTS)}")
    variants = ([(n, False) for n in names] + ([("general", True)] if args.centred else [])
                + [(f"general+{v}", False) for v in flags])
    grid = [(n, c, beta, reset, target, T) for (beta, reset, target, T), (n, c)
            in itertools.product(itertools.product(betas, resets, targets, windows), variants)]
    print(f"depth: {len(grid)} configurations, N={WIDTH}, depths {DEPTHS}, B={BATCH}", file=sys.stderr)
    rows = []
    start = time.perf_counter()
    tasks = [(*config, args.seed, args.g_input, args.rows, args.threads) for config in grid]
    with multiprocessing.get_context("fork").Pool(args.jobs) if args.jobs > 1 else contextlib.nullcontext() as pool:
        results = pool.imap(_run_task, tasks) if pool else map(_run_task, tasks)
        for i, ((name, centred, beta, reset, target, n_steps), row) in enumerate(zip(grid, results)):
            rows.append(row)
            status = (f"n/a: {row['error']}" if row["error"]
                      else f"plan {row['plan_s']:.2f} s, simulate {row['sim_s']:.2f} s")
            print(f"  [{i + 1}/{len(grid)}] {row['strategy']} beta={beta} {reset} target={target} T={n_steps}: "
                  f"{status} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
            if args.layers:
                print_layers(row)
    print_summary(rows)
    print_final(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
