"""A 20-layer snnTorch MLP falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is an ``nn.Sequential`` of ``Linear(256, 256)`` and ``snn.Leaky(beta=0.9, init_hidden=True)``,
called once per time step. The script feeds it Bernoulli spikes at 0.1 per step for 25 steps and measures it
with ``diagnose`` before and after ``apply_init`` (which runs it once per step, the snnTorch way). It prints the
report, then each layer's rate before, planned and after, its silent fraction, synchrony and verdict after.

Run: ``python examples/snntorch_mlp.py`` (CPU, a few seconds, nothing downloaded).
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

DEPTH, WIDTH = 20, 256
T, BATCH, INPUT_RATE = 25, 32, 0.1


def build_model() -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), snn.Leaky(beta=0.9, init_hidden=True)]
    return nn.Sequential(*layers)


def main() -> None:
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = diagnose(model, x, framework="snntorch")
    report = apply_init(model, framework="snntorch", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(model, x, framework="snntorch", report=report)

    print(compare(before, after))


if __name__ == "__main__":
    main()
