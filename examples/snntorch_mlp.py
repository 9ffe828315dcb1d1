"""A 20-layer snnTorch MLP falls silent with PyTorch's default init; ``apply_init`` makes every layer fire.

The model is an ``nn.Sequential`` of ``Linear(256, 256)`` and ``snn.Leaky(beta=0.9, init_hidden=True)``,
called once per time step. The script feeds it Bernoulli spikes at 0.1 per step for 25 steps, prints each
layer's measured rate, silent fraction and synchrony before and after ``apply_init``, and the report in between.

Run: ``python examples/snntorch_mlp.py`` (CPU, a few seconds, nothing downloaded).
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.simulator import bernoulli_spikes, layer_activity

DEPTH, WIDTH = 20, 256
T, BATCH, INPUT_RATE = 25, 32, 0.1


def build_model() -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), snn.Leaky(beta=0.9, init_hidden=True)]
    return nn.Sequential(*layers)


def measure(model: nn.Sequential, x: torch.Tensor) -> dict[str, object]:
    """Run the model once per step of x (T, B, N); every Leaky's activity over the window."""
    leaky = {name: m for name, m in model.named_modules() if isinstance(m, snn.Leaky)}
    spikes: dict[str, list[torch.Tensor]] = {name: [] for name in leaky}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: spikes[name].append(out.detach()))
             for name, m in leaky.items()]
    for m in leaky.values():
        m.reset_mem()
    with torch.no_grad():
        for t in range(x.shape[0]):
            model(x[t])
    for h in hooks:
        h.remove()
    return {name: layer_activity(torch.stack(s)) for name, s in spikes.items()}


def main() -> None:
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    model = build_model()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, WIDTH), generator=torch.Generator().manual_seed(1))

    before = measure(model, x)
    report = apply_init(model, framework="snntorch", input_rate=INPUT_RATE, T=T,
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
