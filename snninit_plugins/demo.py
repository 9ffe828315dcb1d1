"""The demo behind ``snninit demo``: deep networks of every installed framework fall silent, then fire.

For each framework whose package is installed and whose adapter is registered, :func:`run_demo` builds a deep
feed-forward network the framework's usual way (``depth`` blocks of ``Linear(width, width)`` and the
framework's LIF neuron, PyTorch's default ``Linear`` init), feeds it Bernoulli spikes, and diagnoses every
layer (:func:`snninit_plugins.diagnose`): with the default init the activity dies out within a few layers.
It then calls :func:`snninit_plugins.apply_init` (rates preserved from the input, planned for the window of
``steps``) and diagnoses again. :func:`plot_rates` draws rate against depth before and after.

The networks:

- snnTorch: ``nn.Sequential(Linear, snn.Leaky(beta=0.9, init_hidden=True), ...)``, called once per step;
- SpikingJelly: ``nn.Sequential(layer.Linear, neuron.LIFNode(), ...)`` in multi-step mode (``step_mode="m"``),
  called once on the ``[T, batch, width]`` sample, reset with ``functional.reset_net``;
- Norse: ``SequentialState(Linear, LIFCell(), ...)``, stepped with its state.

Nothing is downloaded; importing this module imports no framework.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .plugins import get_adapters

if TYPE_CHECKING:  # torch and the rest load on first use: ``snninit --help`` stays fast
    from torch import nn

    from .api import InitReport
    from .diagnosis import Diagnosis

__all__ = ["BUILDERS", "FRAMEWORKS", "DemoResult", "build", "plot_rates", "run_demo"]

#: The frameworks the demo knows, in the order it runs them.
FRAMEWORKS = ("snntorch", "spikingjelly", "norse")
#: The pip extra and import name of each.
_PACKAGES = {"snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse"}


def build_snntorch(depth: int, width: int) -> nn.Module:
    """``depth`` x (``nn.Linear``, ``snn.Leaky(beta=0.9, init_hidden=True)``): the snnTorch tutorials' MLP."""
    import snntorch as snn
    from torch import nn

    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), snn.Leaky(beta=0.9, init_hidden=True)]
    return nn.Sequential(*layers)


def build_spikingjelly(depth: int, width: int) -> nn.Module:
    """``depth`` x (``layer.Linear``, ``neuron.LIFNode()``) in multi-step mode (tau 2, hard reset to 0)."""
    from spikingjelly.activation_based import functional, layer, neuron
    from torch import nn

    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [layer.Linear(width, width), neuron.LIFNode()]
    model = nn.Sequential(*layers)
    functional.set_step_mode(model, "m")
    return model


def build_norse(depth: int, width: int) -> nn.Module:
    """``SequentialState`` of ``depth`` x (``nn.Linear``, ``LIFCell()``), default parameters (dt 1 ms)."""
    from norse.torch import LIFCell, SequentialState
    from torch import nn

    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), LIFCell()]
    return SequentialState(*layers)


#: Framework name -> ``builder(depth, width)``.
BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "snntorch": build_snntorch,
    "spikingjelly": build_spikingjelly,
    "norse": build_norse,
}


def build(framework: str, depth: int = 20, width: int = 256, seed: int = 0) -> nn.Module:
    """The demo network of ``framework`` with PyTorch's default init drawn from ``seed`` (global RNG untouched)."""
    if framework not in BUILDERS:
        raise ValueError(f"no demo network for framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BUILDERS[framework](depth, width)


@dataclasses.dataclass
class DemoResult:
    """One framework's demo run.

    Attributes:
        framework: its name.
        status: ``"ok"``; ``"unavailable"`` (package not installed or no adapter registered: ``message``
            says which and what to install); ``"failed"`` (``message`` has the error).
        message: empty when ok.
        before, after: the diagnoses with the default init and after ``apply_init``.
        report: what ``apply_init`` planned.
        seconds: wall time of this framework's build, runs and init.
    """

    framework: str
    status: str
    message: str = ""
    before: Diagnosis | None = None
    after: Diagnosis | None = None
    report: InitReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return {"framework": self.framework, "status": self.status, "message": self.message,
                "seconds": round(self.seconds, 3),
                "before": None if self.before is None else self.before.as_dict(),
                "after": None if self.after is None else self.after.as_dict(),
                "report": None if self.report is None else self.report.as_dict()}


def availability(framework: str) -> str:
    """Why ``framework`` cannot run here (not installed, no adapter), or ``""`` when it can."""
    package = _PACKAGES[framework]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed (pip install \"snninit-plugins[{framework}]\")"
    if framework not in get_adapters():
        return f"no {framework} adapter is registered in this installation of snninit-plugins"
    return ""


#: The demo's window per framework. Norse's neurons are defined in physical time (dt = 1 ms, synaptic and
#: membrane time constants of 5 and 10 ms) and its synaptic filter delays every layer's first spike by about
#: 1.5 steps, so a 20-layer Norse network needs a window longer than 25 steps: 100 steps (100 ms) here.
DEFAULT_STEPS = {"snntorch": 25, "spikingjelly": 25, "norse": 100}


def run_one(framework: str, *, depth: int = 20, width: int = 256, steps: int | None = None, batch: int = 32,
            rate: float = 0.1, seed: int = 0, method: str = "general", options: dict | None = None) -> DemoResult:
    """Build, diagnose, ``apply_init``, diagnose again, for one framework (errors are returned, not raised).

    ``steps=None`` takes the framework's :data:`DEFAULT_STEPS`; ``options``: the strategy's keyword options.
    """
    steps = steps or DEFAULT_STEPS.get(framework, 25)
    why = availability(framework)
    if why:
        return DemoResult(framework, "unavailable", why)
    import torch

    from .api import apply_init
    from .diagnosis import diagnose
    from .simulator import bernoulli_spikes

    start = time.perf_counter()
    try:
        model = build(framework, depth, width, seed)
        x = bernoulli_spikes(rate, steps, (batch, width), generator=torch.Generator().manual_seed(seed + 1))
        before = diagnose(model, x, framework)
        report = apply_init(model, framework, method, input_rate=rate, T=steps,
                            generator=torch.Generator().manual_seed(seed), **(options or {}))
        after = diagnose(model, x, framework, report=report)
    except Exception as exc:  # noqa: BLE001 - one framework failing must not stop the others
        return DemoResult(framework, "failed", f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    return DemoResult(framework, "ok", "", before, after, report, time.perf_counter() - start)


def run_demo(frameworks: Sequence[str] | None = None, *, depth: int = 20, width: int = 256, steps: int | None = None,
             batch: int = 32, rate: float = 0.1, seed: int = 0, method: str = "general",
             options: dict | None = None, on_start: Callable[[str], None] | None = None) -> list[DemoResult]:
    """Run :func:`run_one` for each framework (all of :data:`FRAMEWORKS` by default), in order.

    Args:
        frameworks: names to run; unknown names raise ``ValueError`` before anything runs.
        depth, width: spiking layers and neurons per layer.
        steps, batch, rate: the input: ``batch`` trains of ``width`` Bernoulli spikes at ``rate`` per step
            over ``steps`` steps (None: each framework's :data:`DEFAULT_STEPS`); ``apply_init`` plans for that
            window and keeps the rate in every layer.
        seed: default-init weights, input spikes and ``apply_init``'s generator.
        method: the ``apply_init`` strategy; options: its keyword options (e.g. ``window_offset=True``).
        on_start: called with each framework's name before it runs (progress display).
    """
    names = list(FRAMEWORKS if frameworks is None else frameworks)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ValueError(f"no demo network for {', '.join(map(repr, unknown))}; known: {', '.join(FRAMEWORKS)}")
    if not (depth >= 1 and width >= 1 and (steps is None or steps >= 1) and batch >= 1):
        raise ValueError(f"depth, width, steps and batch must be >= 1, got {depth}, {width}, {steps}, {batch}")
    if not 0 < rate < 1:
        raise ValueError(f"the input rate must lie in (0, 1) spikes per step, got {rate!r}")
    results = []
    for name in names:
        if on_start is not None:
            on_start(name)
        results.append(run_one(name, depth=depth, width=width, steps=steps, batch=batch, rate=rate, seed=seed,
                               method=method, options=options))
    return results


def plot_rates(panels: Sequence[tuple[str, Sequence[float] | None, Sequence[float] | None, float | None]],
               path: str, *, title: str = "") -> None:
    """Draw rate against depth, before and after, one panel per ``(title, before, after, target)``; save to ``path``.

    ``before``/``after`` are per-layer rates (spikes/step) or None; ``target`` a dashed reference line or None.
    Uses matplotlib's Agg backend (no display needed); the format follows ``path``'s suffix.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False, sharey=True)
    for ax, (name, before, after, target) in zip(axes[0], panels):
        if before is not None:
            ax.plot(range(1, len(before) + 1), before, "o-", color="tab:red", ms=3, label="default init")
        if after is not None:
            ax.plot(range(1, len(after) + 1), after, "o-", color="tab:blue", ms=3, label="apply_init")
        if target is not None and math.isfinite(target):
            ax.axhline(target, color="grey", ls="--", lw=1, label="target")
        ax.set_title(name)
        ax.set_xlabel("spiking layer (depth)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("firing rate (spikes/step)")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
