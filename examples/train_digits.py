"""Train a deep SNN on scikit-learn's digits: does the init decide whether it learns at all?

A 9-hidden-layer snnTorch network (``Linear(·, 128)`` + ``snn.Leaky(beta=0.9)``, then ``Linear(128, 10)`` +
``snn.Leaky``) is trained with surrogate gradients (snnTorch's default arctan) on the 8x8 digits bundled with
scikit-learn (1797 images, nothing downloaded). Pixels are rate-encoded: pixel p in [0, 16] spikes with
probability p/16 at each of T = 20 steps (fresh Bernoulli spikes every epoch; the test set is encoded once).
The loss is snnTorch's ``ce_rate_loss`` (cross-entropy of the output spikes at every step, averaged over
the steps); the predicted class is the output neuron with the most spikes. Adam, fixed epoch budget, fixed
stratified train/test split (75/25, seed 0).

Before training, each run applies one init to a freshly built model::

    apply_init(model, framework="snntorch", method=m, input_rate=<mean input rate of the training set>, T=T,
               generator=torch.Generator().manual_seed(seed))

``default`` writes nothing (PyTorch's ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` stays); ``kaiming`` is N(0, 2/fan_in);
``fluctuation_driven`` is Rossbroich et al. (2022); ``general`` is this package's default. Every seed builds the
same model from ``torch.manual_seed(seed)`` and sees the same spikes, so methods differ only by their weights.

Printed per method: the init's firing rate (spikes per neuron per step, on 256 training images) of the first
and deepest hidden layers and the output layer, the test accuracy after the last epoch (mean ± std over seeds),
the best test accuracy, and the epochs it took to first reach ``--threshold`` test accuracy (mean over the
seeds that reached it, with how many did; "never" if none).

Run: ``python examples/train_digits.py`` (4 methods x 3 seeds x 8 epochs: about 8 minutes on one free CPU thread);
``--quick`` for a smoke test; ``--out benchmarks/results/train_digits.txt`` to save the table.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import snntorch as snn
import snntorch.functional as SF
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from snninit_plugins import apply_init

METHODS = ("default", "kaiming", "fluctuation_driven", "general")
HIDDEN, WIDTH, BETA, T = 9, 128, 0.9, 20


class DeepSNN(nn.Module):
    """HIDDEN x (Linear + Leaky), then Linear + Leaky with 10 outputs; an explicit loop over time steps.

    Each Linear is defined right before its Leaky, so ``apply_init`` pairs them without a sample.
    """

    def __init__(self, n_in: int = 64, n_out: int = 10, hidden: int = HIDDEN, width: int = WIDTH) -> None:
        super().__init__()
        sizes = [n_in] + [width] * hidden + [n_out]
        self.blocks = nn.ModuleList(
            nn.ModuleList([nn.Linear(a, b), snn.Leaky(beta=BETA)]) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: spikes (T, batch, 64). Returns every layer's spikes, (T, batch, width) each; the output's last."""
        mems = [lif.reset_mem() for _, lif in self.blocks]
        spikes: list[list[torch.Tensor]] = [[] for _ in self.blocks]
        for x_t in x:
            s = x_t
            for i, (fc, lif) in enumerate(self.blocks):
                s, mems[i] = lif(fc(s), mems[i])
                spikes[i].append(s)
        return [torch.stack(s) for s in spikes]


def encode(images: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Rate code: (batch, 64) intensities in [0, 1] -> Bernoulli spikes (steps, batch, 64)."""
    return (torch.rand((steps, *images.shape), generator=generator) < images).float()


def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    f, i = torch.float32, torch.long
    return (torch.as_tensor(x_tr, dtype=f), torch.as_tensor(y_tr, dtype=i), torch.as_tensor(x_te, dtype=f),
            torch.as_tensor(y_te, dtype=i))


@torch.no_grad()
def accuracy(model: DeepSNN, spikes: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model(spikes)[-1].sum(0).argmax(1) == labels).float().mean())  # most spikes wins


def run(method: str, seed: int, data: tuple, epochs: int, batch: int, lr: float, threshold: float,
        steps: int = T) -> dict:
    """Build, initialise and train one model; its init rates and test accuracy after every epoch."""
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    model = DeepSNN()
    input_rate = float(x_tr.mean())
    # "general@0.1": the general strategy with every layer at 0.1 spikes/step instead of the input rate;
    # "general+centred": with centred rows (every row of weights sums to N mu_w)
    spec, centred = method.removesuffix("+centred"), method.endswith("+centred")
    name, _, target = spec.partition("@")
    apply_init(model, framework="snntorch", method=name, input_rate=input_rate, T=steps,
               target_rate=float(target) if target else "preserve", generator=torch.Generator().manual_seed(seed),
               **({"centred_rows": True} if centred else {}))

    spikes_gen = torch.Generator().manual_seed(1000 + seed)
    test_spikes = encode(x_te, steps, torch.Generator().manual_seed(1))  # one fixed test encoding for every run
    with torch.no_grad():
        rates = [float(s.mean()) for s in model(encode(x_tr[:256], steps, torch.Generator().manual_seed(2)))]

    loss_fn = SF.ce_rate_loss()  # cross-entropy of the output spikes at every step, averaged over the steps
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    accs: list[float] = []
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_tr), generator=order).split(batch):
            loss = loss_fn(model(encode(x_tr[idx], steps, spikes_gen))[-1], y_tr[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        accs.append(accuracy(model, test_spikes, y_te))
    reached = next((e + 1 for e, a in enumerate(accs) if a >= threshold), None)
    return {"method": method, "seed": seed, "rates": rates, "accs": accs, "reached": reached}


def table(results: list[dict], threshold: float) -> str:
    head = (f"{'method':<19} {'seeds':>5} {'rate L1':>8} {f'rate L{HIDDEN}':>8} {'rate out':>8} "
            f"{'test acc (last)':>16} {'best':>6} {f'epochs to {threshold:.0%}':>15}")
    lines = [head, "-" * len(head)]
    for method in dict.fromkeys(r["method"] for r in results):
        rs = [r for r in results if r["method"] == method]
        rate = [statistics.fmean(r["rates"][i] for r in rs) for i in (0, HIDDEN - 1, HIDDEN)]
        last = [100 * r["accs"][-1] for r in rs]
        std = statistics.stdev(last) if len(last) > 1 else 0.0
        best = statistics.fmean(100 * max(r["accs"]) for r in rs)
        hit = [r["reached"] for r in rs if r["reached"] is not None]
        epochs = f"{statistics.fmean(hit):.1f} ({len(hit)}/{len(rs)})" if hit else f"never (0/{len(rs)})"
        lines.append(f"{method:<19} {len(rs):>5} {rate[0]:>8.4f} {rate[1]:>8.4f} {rate[2]:>8.4f} "
                     f"{statistics.fmean(last):>8.1f} ± {std:>4.1f}% {best:>5.1f}% {epochs:>15}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help="strategy names; NAME@RATE sets every layer's target rate (e.g. general@0.1), "
                             "NAME+centred centres the rows (e.g. general@0.1+centred)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per method")
    parser.add_argument("--steps", type=int, default=T, help="time steps T per image")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threshold", type=float, default=0.8, help="test accuracy for 'epochs to'")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 3 epochs, T=10, 512 train / 150 test images")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # small matrices: one thread is as fast, and leaves the other cores alone
    data = load_data()
    if args.quick:
        args.seeds, args.epochs, args.steps = 1, 3, 10
        data = (data[0][:512], data[1][:512], data[2][:150], data[3][:150])
    start = time.perf_counter()
    results = []
    for method in args.methods:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = run(method, seed, data, args.epochs, args.batch, args.lr, args.threshold, args.steps)
            results.append(r)
            print(f"{method:<19} seed {seed}: init rates {' '.join(f'{x:.3f}' for x in r['rates'])}; test acc "
                  f"{' '.join(f'{100 * a:.0f}' for a in r['accs'])} ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr)
    wall = time.perf_counter() - start
    text = (f"Deep SNN on sklearn digits: {HIDDEN} hidden layers x {WIDTH} Leaky(beta={BETA}), T={args.steps}, "
            f"input {float(data[0].mean()):.3f} spikes/step, {len(data[0])} train / {len(data[2])} test, "
            f"Adam lr {args.lr}, batch {args.batch}, {args.epochs} epochs, seeds 0..{args.seeds - 1}; "
            f"wall {wall:.0f} s on {torch.get_num_threads()} CPU thread\n"
            "rates: spikes per neuron per step at init (mean over seeds); test acc: after the last epoch, "
            "mean ± std over seeds\n" + table(results, args.threshold))
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return results


if __name__ == "__main__":
    main()
