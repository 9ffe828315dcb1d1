"""A 20-layer SpikingJelly MLP falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is an ``nn.Sequential`` of ``layer.Linear(256, 256)`` and ``neuron.LIFNode(tau=2.0)`` (hard reset to 0,
fires on ``H >= 1``), in multi-step mode (``functional.set_step_mode(net, 'm')``: one call on ``[T, B, 256]``), or
single-step with ``--step-mode s`` (one call per step). The script feeds it Bernoulli spikes at 0.1 per step for
25 steps, runs the real model and prints each layer's measured rate, silent fraction and synchrony before and
after ``apply_init``, with the report in between.

Run: ``python examples/spikingjelly_mlp.py [--step-mode {m,s}]`` (CPU, a few seconds, nothing downloaded).
"""

from __future__ import annotations

import argparse

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.plugins import get_adapters
from snninit_plugins.recording import record
from snninit_plugins.simulator import bernoulli_spikes, layer_activity

DEPTH, WIDTH = 20, 256
T, BATCH, INPUT_RATE = 25, 32, 0.1


def build_model(step_mode: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [layer.Linear(WIDTH, WIDTH), neuron.LIFNode(tau=2.0)]
    net = nn.Sequential(*layers)
    functional.set_step_mode(net, step_mode)
    return net


def measure(model: nn.Sequential, x: torch.Tensor) -> dict[str, object]:
    """Run the real model on x ([T, B, N]) the SpikingJelly way (reset_net before and after); every LIF's activity."""
    spikes = record(model, get_adapters()["spikingjelly"], x).spikes
    return {name: layer_activity(s) for name, s in spikes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-mode", choices=["m", "s"], default="m", help="multi-step (default) or single-step")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model(args.step_mode)
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = measure(model, x)
    report = apply_init(model, framework="spikingjelly", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report)
    print()
    after = measure(model, x)

    print(f"{'layer':>6} {'planned':>8} {'before':>8} {'after':>8} {'silent':>7} {'chi':>6}")
    for row, name in zip(report, before):
        a = after[name]
        print(f"{name:>6} {row.plan.rate:>8.4f} {before[name].rate:>8.4f} {a.rate:>8.4f} "
              f"{a.silent_fraction:>7.3f} {a.synchrony:>6.2f}")
    first = after[next(iter(after))].rate
    print(f"\nstep mode {args.step_mode!r}; input {float(x.mean()):.4f}/step; first layer after init {first:.4f} "
          f"({100 * (first / INPUT_RATE - 1):+.1f}% of the target); "
          f"rates after init {min(a.rate for a in after.values()):.4f}..{max(a.rate for a in after.values()):.4f}")


if __name__ == "__main__":
    main()
