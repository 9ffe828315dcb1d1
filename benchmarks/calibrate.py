"""How close does calibrate() bring every layer to its target, and at what cost? (issue 6, calibration)

Each model is initialised by ``apply_init(method="general")`` (seeded), then calibrated by
:func:`snninit_plugins.calibration.calibrate` on one Bernoulli input batch (the calibration sample, rate 0.1) with the
default tolerance (2%) and budget (5 forward-pass equivalents). A second batch of the same law (the fresh sample,
another seed) is run before and after: its per-layer error shows what is a correction of the model and what is a
fit to the calibration sample's noise (a finite batch of B samples makes each layer's rate fluctuate by a few
percent from batch to batch).

Columns: L spiking layers; passes = forward-pass equivalents spent (full passes + layer-runs / L, the final
measuring pass included; the fresh-sample passes are not counted); full/runs; conv = every layer within 2% on the
calibration sample; per-layer |rate/target - 1| on the calibration sample before -> after (max, median) and on the
fresh sample before -> after (max, median); s = calibration wall time (one torch thread).

Models: the canonical stack, snnTorch Leaky (threshold 1, V0 = 0) Linear 50 x 256 in an init_hidden Sequential
(beta 0.5/0.9/0.99, subtract reset; beta 0.9 zero reset), T = 25, B = 32 (and B = 128 for beta 0.9); and real
models of every framework whose adapter is installed: snnTorch's tutorial-7 conv net (custom time loop,
F.max_pool2d) and a 20-layer residual MLP (SEW "ADD" every other layer), SpikingJelly's tutorial CSNN (multi-step,
Conv2d + BatchNorm2d + LIFNode) and a 20-layer LIFNode MLP, Norse's LIFCell conv net and 20-layer LIFCell MLP
(SequentialState stepped with its state, T = 100: the synaptic filter delays every layer).

    python benchmarks/calibrate.py            # everything (about 5-10 minutes on one thread)
    python benchmarks/calibrate.py --quick    # the beta 0.9 50-layer stack and one real model per framework
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import traceback

import torch
import torch.nn.functional as F
from torch import nn

from snninit_plugins import apply_init
from snninit_plugins.api import _adapter
from snninit_plugins.calibration import calibrate
from snninit_plugins.recording import record
from snninit_plugins.simulator import bernoulli_spikes

RATE = 0.1


def spikes(n_steps: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return bernoulli_spikes(RATE, n_steps, shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------- snnTorch
def snntorch_stack(beta: float, reset: str, depth: int = 50, width: int = 256) -> nn.Module:
    import snntorch as snn

    return nn.Sequential(*[m for _ in range(depth) for m in (
        nn.Linear(width, width), snn.Leaky(beta=beta, reset_mechanism=reset, init_hidden=True))])


def snntorch_tutorial_conv() -> nn.Module:
    import snntorch as snn

    class Net(nn.Module):
        """snnTorch tutorial 7: conv -> F.max_pool2d -> Leaky, twice, then Linear -> Leaky; a time loop."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.lif1 = nn.Conv2d(1, 12, 5), snn.Leaky(beta=0.5)
            self.conv2, self.lif2 = nn.Conv2d(12, 64, 5), snn.Leaky(beta=0.5)
            self.fc1, self.lif3 = nn.Linear(64 * 4 * 4, 10), snn.Leaky(beta=0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
            out = []
            for t in range(x.shape[0]):
                spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x[t]), 2), mem1)
                spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
                spk3, mem3 = self.lif3(self.fc1(spk2.flatten(1)), mem3)
                out.append(spk3)
            return torch.stack(out)

    return Net()


def snntorch_residual(depth: int = 20, width: int = 256) -> nn.Module:
    import snntorch as snn

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
            self.lifs = nn.ModuleList(snn.Leaky(beta=0.9) for _ in range(depth))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mems = [lif.reset_mem() for lif in self.lifs]
            out = []
            for t in range(x.shape[0]):
                h, skip = x[t], None
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                    s, mems[i] = lif(fc(h), mems[i])
                    h, skip = (s + skip, skip) if i % 2 == 1 else (s, s)
                out.append(h)
            return torch.stack(out)

    return Residual()


# --------------------------------------------------------------------------------------------- SpikingJelly
def sj_csnn() -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron

    def conv(i: int, o: int) -> list[nn.Module]:
        return [layer.Conv2d(i, o, 3, padding=1, bias=False), layer.BatchNorm2d(o)]

    model = nn.Sequential(
        *conv(2, 16), neuron.LIFNode(tau=2.0), layer.MaxPool2d(2),
        *conv(16, 32), neuron.LIFNode(tau=2.0), layer.MaxPool2d(2),
        layer.Flatten(), layer.Linear(32 * 4 * 4, 128), neuron.LIFNode(tau=2.0),
        layer.Linear(128, 10), neuron.LIFNode(tau=2.0))
    functional.set_step_mode(model, "m")
    return model


def sj_mlp(depth: int = 20, width: int = 256) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron

    model = nn.Sequential(*[m for _ in range(depth) for m in (layer.Linear(width, width), neuron.LIFNode(tau=2.0))])
    functional.set_step_mode(model, "m")
    return model


# --------------------------------------------------------------------------------------------- Norse
def norse_conv() -> nn.Module:
    import norse.torch as norse

    return norse.SequentialState(
        nn.Conv2d(1, 12, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Conv2d(12, 32, 5), norse.LIFCell(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), norse.LIFCell())


def norse_mlp(depth: int = 20, width: int = 256) -> nn.Module:
    import norse.torch as norse

    return norse.SequentialState(*[m for _ in range(depth) for m in (nn.Linear(width, width), norse.LIFCell())])


# --------------------------------------------------------------------------------------------- one row
def errors(model: nn.Module, framework: str, x: torch.Tensor, names: list[str], targets: list[float]) -> list[float]:
    rec = record(model, _adapter(framework, model), x, names)
    return [abs(float((rec.spikes[n] != 0).double().mean()) / t - 1) for n, t in zip(names, targets)]


def stats(values: list[float]) -> str:
    return f"{100 * max(values):6.2f}/{100 * statistics.median(values):5.2f}"


def run_row(name: str, framework: str, factory, shape: tuple[int, ...], n_steps: int, batch: int,
            with_sample: bool) -> str:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = factory()
    x = spikes(n_steps, (batch, *shape), 1)
    fresh = spikes(n_steps, (batch, *shape), 2)
    kwargs = {"sample": x} if with_sample else {"input_rate": RATE}
    report = apply_init(model, framework=framework, method="general", T=n_steps,
                        generator=torch.Generator().manual_seed(0), **kwargs)
    names = [layer.name for layer in report]
    targets = [layer.plan.target_rate for layer in report]
    fresh_before = errors(model, framework, fresh, names, targets)
    result = calibrate(model, report, x, framework=framework, fresh=fresh)
    calibrated = [layer for layer in result if layer.mode != "skipped"]
    before = [abs(layer.error_before) for layer in calibrated]
    after = [abs(layer.error_after) for layer in calibrated]
    fresh_after = [abs(layer.error_fresh) for layer in calibrated]
    modes = {m: sum(1 for layer in calibrated if layer.mode == m) for m in ("local", "global")}
    mode = "+".join(f"{n}{m[0]}" for m, n in modes.items() if n)
    return (f"{name:<34} {framework:<12} {len(report):>3} {batch:>4} {n_steps:>4} {result.passes:>6.2f} "
            f"{result.full_passes:>4}/{result.layer_runs:<4} {'yes' if result.converged else 'NO':<4} {mode:<7} "
            f"{stats(before)} -> {stats(after)} | {stats(fresh_before)} -> {stats(fresh_after)} "
            f"{result.seconds:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one stack and one real model per framework")
    parser.add_argument("--only", default="", help="run only the rows whose name contains this text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[tuple] = []
    if importlib.util.find_spec("snntorch"):
        betas = [(0.9, "subtract")] if args.quick else [(0.5, "subtract"), (0.9, "subtract"), (0.99, "subtract"),
                                                         (0.9, "zero")]
        for beta, reset in betas:
            rows.append((f"Leaky 50x256 beta={beta} {reset}", "snntorch",
                         lambda b=beta, r=reset: snntorch_stack(b, r), (256,), 25, 32, False))
        if not args.quick:
            rows.append(("Leaky 50x256 beta=0.9 subtract", "snntorch", lambda: snntorch_stack(0.9, "subtract"),
                         (256,), 25, 128, False))
        rows.append(("tutorial-7 conv net (custom loop)", "snntorch", snntorch_tutorial_conv, (1, 28, 28), 25, 32,
                     True))
        if not args.quick:
            rows.append(("residual MLP 20x256 (custom loop)", "snntorch", snntorch_residual, (256,), 25, 32, True))
    if importlib.util.find_spec("spikingjelly"):
        rows.append(("CSNN conv+BN multi-step", "spikingjelly", sj_csnn, (2, 16, 16), 25, 32, False))
        if not args.quick:
            rows.append(("LIFNode MLP 20x256 multi-step", "spikingjelly", sj_mlp, (256,), 25, 32, False))
    if importlib.util.find_spec("norse"):
        rows.append(("LIFCell conv net (SequentialState)", "norse", norse_conv, (1, 28, 28), 100, 32, False))
        if not args.quick:
            rows.append(("LIFCell MLP 20x256 (SequentialState)", "norse", norse_mlp, (256,), 100, 32, False))

    head = (f"{'model':<34} {'framework':<12} {'L':>3} {'B':>4} {'T':>4} {'passes':>6} {'full/runs':<9} "
            f"{'conv':<4} {'modes':<7} {'calib. before':>13} -> {'after':<12} | {'fresh before':>13} -> "
            f"{'after':<12} {'s':>6}")
    print("per-layer |rate/target - 1| in % as max/median; modes: l = re-run alone, g = one step per full pass")
    print(head)
    print("-" * len(head))
    sys.stdout.flush()
    for row in rows:
        if args.only not in row[0]:
            continue
        try:
            print(run_row(*row))
        except Exception as exc:  # noqa: BLE001 - one broken row must not hide the others
            print(f"{row[0]:<34} {row[1]:<12} FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
