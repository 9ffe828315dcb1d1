"""A 20-layer SpikingJelly MLP falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is an ``nn.Sequential`` of ``layer.Linear(256, 256)`` and ``neuron.LIFNode(tau=2.0)`` (hard reset to 0,
fires on ``H >= 1``), in multi-step mode (``functional.set_step_mode(net, 'm')``: one call on ``[T, B, 256]``), or
single-step with ``--step-mode s`` (one call per step). The script feeds it Bernoulli spikes at 0.1 per step for
25 steps and measures the real model with ``diagnose`` before and after ``apply_init`` (run the SpikingJelly way,
in either step mode). It prints the report, then each layer's rate before, planned and after, its silent fraction,
synchrony and verdict after.

Run: ``python examples/spikingjelly_mlp.py [--step-mode {m,s}]`` (CPU, a few seconds, nothing downloaded).
"""

from __future__ import annotations

import argparse

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

DEPTH, WIDTH = 20, 256
T, BATCH, INPUT_RATE = 25, 32, 0.1


def build_model(step_mode: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [layer.Linear(WIDTH, WIDTH), neuron.LIFNode(tau=2.0)]
    net = nn.Sequential(*layers)
    functional.set_step_mode(net, step_mode)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-mode", choices=["m", "s"], default="m", help="multi-step (default) or single-step")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model(args.step_mode)
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = diagnose(model, x, framework="spikingjelly")
    report = apply_init(model, framework="spikingjelly", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(model, x, framework="spikingjelly", report=report)

    print(compare(before, after))
    print(f"step mode {args.step_mode!r}")


if __name__ == "__main__":
    main()
