"""``apply_init`` on a conv net written in the Norse idiom, stepped with its state list.

``SequentialState(Conv2d(1, 12, 5), LIFCell(), MaxPool2d(2), Conv2d(12, 32, 5), LIFCell(), MaxPool2d(2), Flatten(),
Linear(512, 64), LIFCell(), Linear(64, 10), LICell())``: the max pooling acts on the spikes, and the ``LICell`` is a
non-spiking readout (reported as skipped, with the ``Linear`` feeding it). The input is 28x28 Bernoulli spikes at
0.1 per step (no data set is downloaded). ``diagnose`` steps the model the same way, ``out, state = model(x[t],
state)``, and measures it before and after ``apply_init``. The script prints the report, then each spiking layer's
rate before, planned and after, its silent fraction, synchrony and verdict after.

Run: ``python examples/norse_convnet.py`` (CPU).
"""

from __future__ import annotations

import norse.torch as norse
import torch
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

T, BATCH, INPUT_RATE = 25, 16, 0.1


def build_model() -> norse.SequentialState:
    return norse.SequentialState(
        nn.Conv2d(1, 12, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Conv2d(12, 32, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), norse.LIFCell(),
        nn.Linear(64, 10), norse.LICell(),
    )


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, 1, 28, 28), generator=torch.Generator().manual_seed(1))

    before = diagnose(model, x, framework="norse")
    report = apply_init(model, framework="norse", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(model, x, framework="norse", report=report)

    print(compare(before, after))


if __name__ == "__main__":
    main()
