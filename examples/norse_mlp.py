"""A deep Norse MLP of cells falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is a ``norse.torch.SequentialState`` of ``Linear(256, 256)`` and ``LIFCell()`` (Norse's default neuron:
dt 1e-3, tau_mem_inv 100, tau_syn_inv 200, i.e. beta 0.9, input gain 0.1 and a synaptic filter alpha 0.8), stepped
the Norse way: ``out, state = model(x[t], state)``. The script feeds it Bernoulli spikes at 0.1 per step, prints
each layer's measured rate, silent fraction and synchrony before and after ``apply_init``, and the report between.

Every layer's synaptic filter delays its first spikes by about 1.5 steps, so the window must be longer than
about 1.5 x depth steps: 12 layers, 60 steps here.

Run: ``python examples/norse_mlp.py`` (CPU, nothing downloaded).
"""

from __future__ import annotations

import norse.torch as norse
import torch
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.simulator import bernoulli_spikes, layer_activity

DEPTH, WIDTH = 12, 256
T, BATCH, INPUT_RATE = 60, 32, 0.1


def build_model() -> norse.SequentialState:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), norse.LIFCell()]
    return norse.SequentialState(*layers)


def measure(model: norse.SequentialState, x: torch.Tensor) -> dict[str, object]:
    """Step the model over x (T, B, N) with its state list; every LIFCell's activity over the window."""
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
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = measure(model, x)
    report = apply_init(model, framework="norse", input_rate=INPUT_RATE, T=T,
                        generator=torch.Generator().manual_seed(0))
    print(report)
    print()
    after = measure(model, x)

    print(f"{'layer':>6} {'planned':>8} {'before':>8} {'after':>8} {'silent':>7} {'chi':>6}")
    for layer, name in zip(report, before):
        a = after[name]
        print(f"{name:>6} {layer.plan.rate:>8.4f} {before[name].rate:>8.4f} {a.rate:>8.4f} "
              f"{a.silent_fraction:>7.3f} {a.synchrony:>6.2f}")
    first = after[next(iter(after))].rate
    print(f"\ninput {float(x.mean()):.4f}/step; first layer after init {first:.4f} "
          f"({100 * (first / INPUT_RATE - 1):+.1f}% of the target); "
          f"rates after init {min(a.rate for a in after.values()):.4f}..{max(a.rate for a in after.values()):.4f}")


if __name__ == "__main__":
    main()
