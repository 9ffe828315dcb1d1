"""A deep Norse MLP of cells falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is a ``norse.torch.SequentialState`` of ``Linear(256, 256)`` and ``LIFCell()`` (Norse's default neuron:
dt 1e-3, tau_mem_inv 100, tau_syn_inv 200, i.e. beta 0.9, input gain 0.1 and a synaptic filter alpha 0.8), stepped
the Norse way: ``out, state = model(x[t], state)``, which is how ``diagnose`` runs it. The script feeds it
Bernoulli spikes at 0.1 per step and measures it with ``diagnose`` before and after ``apply_init``. It prints the
report, then each layer's rate before, planned and after, its silent fraction, synchrony and verdict after.

Every layer's synaptic filter delays its first spikes by about 1.5 steps, so the window must be longer than
about 1.5 x depth steps: 12 layers, 60 steps here.

Run: ``python examples/norse_mlp.py`` (CPU, nothing downloaded).
"""

from __future__ import annotations

import norse.torch as norse
import torch
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

DEPTH, WIDTH = 12, 256
T, BATCH, INPUT_RATE = 60, 32, 0.1


def build_model() -> norse.SequentialState:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), norse.LIFCell()]
    return norse.SequentialState(*layers)


def main() -> None:
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = diagnose(model, x, framework="norse")
    report = apply_init(model, framework="norse", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(model, x, framework="norse", report=report)

    print(compare(before, after))


if __name__ == "__main__":
    main()
