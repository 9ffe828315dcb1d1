"""How well does each rate predictor match the simulated canonical neuron? (issue 2 acceptance)

For a grid of neurons and inputs (beta, input rate, fan-in N, reset, weight statistics giving output
rates 0.01-0.5, a T = 25 window from V0 and the stationary state), the reference simulator measures the
population rate of one layer with a sampling error below 0.5% (independent input per group of output
neurons, groups added until the standard error is small enough); every predictor predicts it. Prints,
per predictor and window, the median / p90 / max relative error over all configurations and over those
the predictor calls in its regime; then the worst density-method cases and the speed of one density
evaluation and one full solve.

    python benchmarks/theory_accuracy.py            # the full grid (about 20 minutes on 2 cores)
    python benchmarks/theory_accuracy.py --quick    # a 24-configuration subset (about a minute)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snninit_plugins.inputs import InputMoments, SynapticInput
from snninit_plugins.neuron import CanonicalNeuron
from snninit_plugins.predictors import PREDICTORS, density
from snninit_plugins.simulator import simulate_layer_rate
from snninit_plugins.solve import solve_weight_mean

BETAS = (0.5, 0.8, 0.9, 0.95, 0.99, 1.0)
INPUT_RATES = (0.02, 0.1, 0.3)
FAN_INS = (64, 256, 1024)
RESETS = ("subtract", "value")
#: (target output rate, free-membrane std over 25 steps in units of theta): low rates noise-driven, high mean-driven
WEIGHT_SETTINGS = ((0.02, 0.6), (0.1, 0.3), (0.4, 0.2))
WINDOWS = (25, None)
MAX_SAMPLING_ERROR = 0.005


def weight_statistics(neuron: CanonicalNeuron, fan_in: int, rate_in: float, target: float, level: float,
                      n_steps: int | None) -> tuple[float, float]:
    """sigma_w for the wanted fluctuation level, then mu_w solved (coarse density) for the target."""
    window = float(np.sum(neuron.beta ** (2 * np.arange(25))))
    step_std = level * neuron.threshold / math.sqrt(window)
    sigma_w = step_std / math.sqrt(fan_in * rate_in * (1 - rate_in))
    drive = SynapticInput(fan_in, 0.0, sigma_w, InputMoments.spikes(rate_in))
    mu_w = solve_weight_mean(neuron, drive, target, n_steps=n_steps, n_cells=100, n_nodes=5, xtol=1e-3)
    return mu_w, sigma_w


def measure(neuron: CanonicalNeuron, fan_in: int, mu_w: float, sigma_w: float, rate_in: float,
            n_steps: int | None, target: float, seed: int) -> tuple[float, float, int]:
    """Simulated rate and its standard error; adds independent batches until the error is < 0.5%."""
    if n_steps is None:  # stationary: drop a burn-in of several membrane time constants / ISIs
        skip = int(min(3000, max(100, 8 * neuron.tau if neuron.beta < 1 else 0, 6 / target)))
        total, skip_steps = skip + 300, skip
    else:
        total, skip_steps = n_steps, 0
    rows = 256 if fan_in <= 256 else 128
    means, errors = [], []
    for batch in range(12):
        gen = torch.Generator().manual_seed(seed * 1000 + batch)
        r, se = simulate_layer_rate(neuron, fan_in=fan_in, weight_mean=mu_w, weight_std=sigma_w, input_rate=rate_in,
                                    n_steps=total, skip_steps=skip_steps, n_groups=64, rows_per_group=rows,
                                    generator=gen, dtype=torch.float32)
        means.append(r)
        errors.append(se)
        pooled = float(np.mean(means))
        pooled_se = float(np.sqrt(np.sum(np.square(errors)))) / len(errors)
        if pooled > 0 and pooled_se / pooled < 0.8 * MAX_SAMPLING_ERROR:
            break
    return pooled, pooled_se, len(means)


def run_grid(configs: list[tuple], seed: int, out_csv: Path | None) -> list[dict]:
    rows = []
    start = time.perf_counter()
    for i, (beta, rate_in, fan_in, reset, (target, level), window) in enumerate(configs):
        neuron = CanonicalNeuron(beta=beta, reset=reset)
        try:
            mu_w, sigma_w = weight_statistics(neuron, fan_in, rate_in, target, level, window)
        except Exception as exc:  # noqa: BLE001 - report and continue
            print(f"  skip {beta=} {rate_in=} {fan_in=} {reset=} {target=}: {exc}", file=sys.stderr)
            continue
        sim, se, batches = measure(neuron, fan_in, mu_w, sigma_w, rate_in, window, target, seed + i)
        row = dict(beta=beta, input_rate=rate_in, fan_in=fan_in, reset=reset, target=target, level=level,
                   window="T=25" if window else "stationary", mu_w=mu_w, sigma_w=sigma_w, sim=sim, sim_se=se,
                   batches=batches)
        drive = SynapticInput(fan_in, mu_w, sigma_w, InputMoments.spikes(rate_in))
        for name, predictor in PREDICTORS.items():
            try:
                pred = predictor(neuron, drive, n_steps=window)
                row[name] = pred.rate
                row[name + "_in_regime"] = pred.in_regime
            except ValueError:
                row[name] = math.nan
                row[name + "_in_regime"] = False
        rows.append(row)
        if (i + 1) % 10 == 0 or i + 1 == len(configs):
            print(f"  {i + 1}/{len(configs)} configurations, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if out_csv is not None and rows:
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        with out_csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def summarise(rows: list[dict]) -> None:
    kept = [r for r in rows if 0.01 <= r["sim"] <= 0.5]
    print(f"\n{len(kept)} of {len(rows)} configurations have a simulated rate in [0.01, 0.5]; "
          f"sampling error: median {statistics.median([r['sim_se'] / r['sim'] for r in kept]) * 100:.2f}%, "
          f"max {max(r['sim_se'] / r['sim'] for r in kept) * 100:.2f}%")
    header = f"{'predictor':<12} {'window':<11} {'subset':<10} {'n':>4} {'median':>8} {'p90':>8} {'max':>8}"
    print("\nRelative error |predicted/simulated - 1|\n" + header + "\n" + "-" * len(header))
    for name in PREDICTORS:
        for window in ("T=25", "stationary"):
            for subset in ("all", "in regime"):
                errs = [abs(r[name] / r["sim"] - 1) * 100 for r in kept
                        if r["window"] == window and math.isfinite(r[name])
                        and (subset == "all" or r[name + "_in_regime"])]
                if not errs:
                    print(f"{name:<12} {window:<11} {subset:<10} {0:>4} {'n/a':>8} {'n/a':>8} {'n/a':>8}")
                    continue
                print(f"{name:<12} {window:<11} {subset:<10} {len(errs):>4} {statistics.median(errs):>7.2f}% "
                      f"{pct(errs, 90):>7.2f}% {max(errs):>7.2f}%")
    worst = sorted(kept, key=lambda r: -abs(r["density"] / r["sim"] - 1))[:8]
    print("\nWorst density-method cases")
    print(f"{'beta':>5} {'p_in':>5} {'N':>5} {'reset':<9} {'window':<11} {'sim':>8} {'+-se':>7} {'density':>8} {'err':>7}")
    for r in worst:
        print(f"{r['beta']:>5} {r['input_rate']:>5} {r['fan_in']:>5} {r['reset']:<9} {r['window']:<11} "
              f"{r['sim']:>8.4f} {r['sim_se']:>7.4f} {r['density']:>8.4f} {(r['density'] / r['sim'] - 1) * 100:>+6.2f}%")


def time_speed() -> None:
    neuron = CanonicalNeuron(beta=0.9)
    drive = SynapticInput(256, 0.004, 0.08, InputMoments.spikes(0.1))
    density(neuron, drive, n_steps=25)
    print("\nSpeed (median of repeats, this machine)")
    for label, call, reps in (
        ("one density evaluation, T=25", lambda: density(neuron, drive, n_steps=25), 30),
        ("one density evaluation, stationary", lambda: density(neuron, drive), 30),
        ("one full solve of mu_w for 0.1/step, T=25", lambda: solve_weight_mean(neuron, drive, 0.1, n_steps=25), 5),
        ("one full solve of mu_w for 0.1/step, stationary", lambda: solve_weight_mean(neuron, drive, 0.1), 5),
    ):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        print(f"  {label:<50} {statistics.median(times) * 1e3:8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 24-configuration subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, default=None, help="write every configuration's numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    if args.quick:
        grid = list(itertools.product((0.9, 1.0), (0.1,), (256,), RESETS, WEIGHT_SETTINGS, WINDOWS))
    else:
        grid = list(itertools.product(BETAS, INPUT_RATES, FAN_INS, RESETS, WEIGHT_SETTINGS, WINDOWS))
    print(f"theory accuracy: {len(grid)} configurations", file=sys.stderr)
    rows = run_grid(grid, args.seed, args.csv)
    summarise(rows)
    time_speed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
