"""``apply_init`` on a SpikingJelly conv net written the SpikingJelly way (multi-step, ``layer.*`` modules).

The network is the CSNN of SpikingJelly's tutorials without BatchNorm: ``layer.Conv2d(1, 16, 3, padding=1) ->
LIFNode -> layer.MaxPool2d(2) -> layer.Conv2d(16, 32, 3, padding=1) -> LIFNode -> layer.MaxPool2d(2) ->
layer.Flatten() -> layer.Linear(32*7*7, 128) -> LIFNode -> layer.Linear(128, 10) -> LIFNode``, in multi-step
mode (one call on ``[T, B, 1, 28, 28]``). The input is Bernoulli spikes at 0.1 per step (no data set is
downloaded). The script measures the net with ``diagnose`` before and after ``apply_init`` and prints the report,
then each spiking layer's rate before, planned and after, its silent fraction, synchrony and verdict after. The
plan uses ``centred_rows=True``: every conv channel's weight row
sums to the same value, so no channel is left silent by its own mean drive.

``--backend cupy`` builds the nodes with SpikingJelly 0.0.0.0.14's ``backend='cupy'`` (CUDA kernels through
CuPy). The adapter reads the same parameters whatever the backend, so the initialisation is the same. Where a
GPU is present the model runs there in training mode (the cupy kernels); without one, the cupy nodes are run in
eval mode, which SpikingJelly 0.0.0.0.14 computes with its TorchScript path on the CPU. SpikingJelly 2.x has no
``backend`` argument (it picks its kernels per device), so there the script says so and uses the default nodes.

Run: ``python examples/spikingjelly_convnet.py [--backend {torch,cupy}]`` (CPU, a few seconds).
"""

from __future__ import annotations

import argparse
import importlib.metadata

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

T, BATCH, INPUT_RATE = 25, 16, 0.1
SJ_VERSION = importlib.metadata.version("spikingjelly")
HAS_BACKEND = SJ_VERSION.startswith("0.0.0.0")  # 0.0.0.0.14 nodes take backend=; 2.x nodes do not


def build_model(backend: str) -> nn.Sequential:
    kwargs = {"backend": backend} if HAS_BACKEND else {}

    def lif() -> nn.Module:
        return neuron.LIFNode(tau=2.0, step_mode="m", **kwargs)

    net = nn.Sequential(
        layer.Conv2d(1, 16, 3, padding=1), lif(), layer.MaxPool2d(2),
        layer.Conv2d(16, 32, 3, padding=1), lif(), layer.MaxPool2d(2),
        layer.Flatten(), layer.Linear(32 * 7 * 7, 128), lif(),
        layer.Linear(128, 10), lif(),
    )
    functional.set_step_mode(net, "m")
    return net


def choose_backend(requested: str) -> tuple[str, str]:
    """The backend to build, and a line explaining the choice."""
    if requested == "torch":
        return "torch", "backend: torch"
    if not HAS_BACKEND:
        return "torch", (f"backend: SpikingJelly {SJ_VERSION} has no backend argument (LIFNode(backend='cupy') is a "
                         "TypeError); it picks its kernels per device (triton/CUDA on a GPU, the torch reference on "
                         "the CPU), so the default nodes are built. The cupy backend is SpikingJelly 0.0.0.0.14's")
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "torch", "backend: cupy is not installed (pip install cupy-cuda12x); building torch nodes instead"
    return "cupy", "backend: cupy (SpikingJelly 0.0.0.0.14 CUDA kernels through CuPy)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["torch", "cupy"], default="torch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    backend, why = choose_backend(args.backend)
    print(why)
    torch.manual_seed(0)
    model = build_model(backend)
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, 1, 28, 28), generator=torch.Generator().manual_seed(1))

    device = "cpu"
    if backend == "cupy":
        if torch.cuda.is_available():
            device = "cuda"
            print("a GPU is present: the model runs there in training mode, with the cupy kernels")
        else:
            model.eval()
            print("no GPU here: the cupy nodes are built (they differ from torch nodes only by _backend), but their "
                  "training forward needs CUDA; the rates below are measured in eval mode, which SpikingJelly "
                  "0.0.0.0.14 runs with its TorchScript path on the CPU. The initialisation is the same either way.")

    before = diagnose(model.to(device), x.to(device), framework="spikingjelly")
    report = apply_init(model.cpu(), framework="spikingjelly", input_rate=INPUT_RATE, T=T, centred_rows=True,
                        generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(model.to(device), x.to(device), framework="spikingjelly", report=report)

    print(compare(before, after))
    print(f"backend {backend} on {device}")


if __name__ == "__main__":
    main()
