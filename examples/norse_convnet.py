"""``apply_init`` on a conv net written in the Norse idiom, stepped with its state list.

``SequentialState(Conv2d(1, 12, 5), LIFCell(), MaxPool2d(2), Conv2d(12, 32, 5), LIFCell(), MaxPool2d(2), Flatten(),
Linear(512, 64), LIFCell(), Linear(64, 10), LICell())``: the max pooling acts on the spikes, and the ``LICell`` is a
non-spiking readout (reported as skipped, with the ``Linear`` feeding it). The input is 28x28 Bernoulli spikes at
0.1 per step (no data set is downloaded). The script prints each spiking layer's planned rate and its measured rate,
silent fraction and synchrony before and after ``apply_init``.

Run: ``python examples/norse_convnet.py`` (CPU).
"""

from __future__ import annotations

import norse.torch as norse
import torch
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.simulator import bernoulli_spikes, layer_activity

T, BATCH, INPUT_RATE = 25, 16, 0.1


def build_model() -> norse.SequentialState:
    return norse.SequentialState(
        nn.Conv2d(1, 12, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Conv2d(12, 32, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), norse.LIFCell(),
        nn.Linear(64, 10), norse.LICell(),
    )


def measure(model: norse.SequentialState, x: torch.Tensor) -> dict[str, object]:
    """Step the model over x (T, B, 1, 28, 28) with its state list; every LIFCell's activity."""
    cells = {name: m for name, m in model.named_modules() if isinstance(m, norse.LIFCell)}
    spikes: dict[str, list[torch.Tensor]] = {name: [] for name in cells}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: spikes[name].append(out[0].detach()))
             for name, m in cells.items()]
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = model(x[t], state)
    for h in hooks:
        h.remove()
    return {name: layer_activity(torch.stack(s)) for name, s in spikes.items()}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, 1, 28, 28), generator=torch.Generator().manual_seed(1))

    before = measure(model, x)
    report = apply_init(model, framework="norse", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report)
    print()
    after = measure(model, x)
    print(f"{'layer':>6} {'planned':>8} {'before':>8} {'after':>8} {'silent':>7} {'chi':>6}")
    for layer in report:
        a = after[layer.name]
        print(f"{layer.name:>6} {layer.plan.rate:>8.4f} {before[layer.name].rate:>8.4f} {a.rate:>8.4f} "
              f"{a.silent_fraction:>7.3f} {a.synchrony:>6.2f}")


if __name__ == "__main__":
    main()
