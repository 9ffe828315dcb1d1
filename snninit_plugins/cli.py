"""The ``snninit`` command: ``plugins``, ``demo`` and ``diagnose``.

::

    snninit plugins [--json]
    snninit demo [--layers 20] [--width 256] [--framework NAME ...] [--plot rates.png] [--json]
    snninit diagnose path/to/model.py:factory (--input-shape T,B,... [--rate 0.1] | --sample x.pt)
                     [--framework auto] [--init METHOD] [--plot rates.png] [--json] [--check]

Output: rich tables on stdout (plain text when rich is not installed); progress on stderr, only on a terminal;
``--json`` prints one JSON document on stdout and nothing else. Exit status: 0 done, 1 the work failed (a
one-line ``snninit <command>: error: ...`` on stderr; ``--debug`` shows the traceback), 2 bad usage (argparse's
message, or a bad file or factory), 3 ``diagnose --check`` found a layer that is not healthy, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .errors import SnnInitError, StrategyOptionError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNHEALTHY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
VERDICT_STYLE = {"healthy": "green", "collapsed": "bold red", "saturated": "magenta", "synchronous": "yellow"}


class UsageError(Exception):
    """A bad argument found after parsing (file, factory, shape): exit status 2."""


# --------------------------------------------------------------------------------------------- output
class Output:
    """Tables and lines on stdout (rich when installed), progress on stderr (only on a terminal)."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        try:
            from rich.console import Console
        except ImportError:  # the [cli] extra is not installed: plain text
            self.console = self.err = None
            return
        self.console = Console(highlight=False)
        if not self.console.is_terminal:  # files and pipes: wide enough for the tables, no colour codes
            self.console = Console(highlight=False, width=160, no_color=True)
        self.err = Console(stderr=True, highlight=False)

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.json_mode:
            return
        if self.console is None:
            print(text)
        else:
            self.console.print(text, style=style, markup=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
              styles: Sequence[str | None] | None = None, left: int = 1) -> None:
        """A table; ``styles`` is one rich style per row (None: plain); the first ``left`` columns and those of
        text are aligned left, numbers right."""
        if self.json_mode:
            return
        if self.console is None:
            widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
            print(title)
            print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
            print("  ".join("-" * w for w in widths))
            for row in rows:
                print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", header_style="bold")
        for i, c in enumerate(columns):
            table.add_column(c, justify="left" if i < left or not rows or not _numeric(rows[0][i]) else "right")
        for i, row in enumerate(rows):
            table.add_row(*(Text(v) for v in row), style=(styles[i] if styles else None))
        self.console.print(table)

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[None]:
        """A spinner on a terminal's stderr while the block runs (nothing otherwise)."""
        if self.err is not None and self.err.is_terminal:
            with self.err.status(text):
                yield
        else:
            yield

    def json(self, data: object) -> None:
        print(json.dumps(data, indent=2, default=_json_default, allow_nan=False))


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("%"))
    except ValueError:
        return False
    return True


def _json_default(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _clean(obj: object) -> object:
    """nan and inf become None (JSON has no nan)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _f(value: float | None, fmt: str = ".4f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


# --------------------------------------------------------------------------------------------- plugins
def cmd_plugins(args: argparse.Namespace, out: Output) -> int:
    from .plugins import get_adapters, get_strategies, list_plugins

    plugins = list_plugins()
    adapters = get_adapters()
    strategies = get_strategies()
    if args.json:
        out.json({"version": __version__, "plugins": [p.as_dict() for p in plugins],
                  "adapters": [{"name": a.name, "installed": a.installed(), "packages": list(a.packages),
                                "extra": a.extra, "plugin": a.owner} for a in adapters.values()],
                  "strategies": [{"name": n, "plugin": next((p.name for p in plugins if n in p.strategies), None),
                                  "description": _first_line(cls.__doc__)} for n, cls in strategies.items()]})
        return EXIT_OK
    out.table(f"snninit-plugins {__version__}: plugins (entry-point group 'snninit')",
              ["plugin", "distribution", "version", "adapters", "strategies"],
              [[p.name, p.distribution, p.version, ", ".join(p.adapters) or "-", ", ".join(p.strategies) or "-"]
               for p in plugins])
    out.table("frameworks", ["framework", "installed", "plugin", "install with"],
              [[a.name, "yes" if a.installed() else "no", a.owner, f'pip install "snninit-plugins[{a.extra}]"']
               for a in adapters.values()],
              [None if a.installed() else "dim" for a in adapters.values()])
    out.table("strategies (apply_init method=...)", ["method", "what it does"],
              [[n, _first_line(cls.__doc__)] for n, cls in strategies.items()])
    return EXIT_OK


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


# --------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    import torch

    from . import demo
    from .plugins import get_strategies

    _check_plot(args.plot)
    if args.method not in get_strategies():
        raise UsageError(f"unknown --method {args.method!r}; available: {', '.join(sorted(get_strategies()))}")
    options = _strategy_options(args.method, args.options)
    torch.set_num_threads(args.threads)
    names = args.framework or list(demo.FRAMEWORKS)
    start = time.perf_counter()
    results = []
    for name in names:
        with out.progress(f"{name}: {args.layers} layers x {args.width}, default init, apply_init, measuring..."):
            results.extend(demo.run_demo([name], depth=args.layers, width=args.width, steps=args.steps,
                                         batch=args.batch, rate=args.rate, seed=args.seed, method=args.method,
                                         options=options))
        _show_demo_result(results[-1], args, out)
    total = time.perf_counter() - start
    ran = [r for r in results if r.ok]
    if args.plot and ran:
        _plot([(r.framework, r.before.rates, r.after.rates, args.rate) for r in ran], args.plot,
              f"{args.layers}-layer networks, input {args.rate:g} spikes/step"
              + (f", T={args.steps}" if args.steps else ""))
    if args.json:
        out.json(_clean({"depth": args.layers, "width": args.width, "steps": args.steps, "batch": args.batch,
                         "rate": args.rate, "method": args.method, "options": options, "seconds": round(total, 3),
                         "plot": args.plot if args.plot and ran else None,
                         "results": [r.as_dict() for r in results]}))
    else:
        out.line(f"done in {total:.1f} s" + (f"; plot written to {args.plot}" if args.plot and ran else ""))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"snninit demo: error: {', '.join(f'{r.framework}: {r.message}' for r in failed)}", file=sys.stderr)
        return EXIT_FAILURE
    if not ran:
        print("snninit demo: error: no framework could run: " + "; ".join(f"{r.framework}: {r.message}"
                                                                         for r in results), file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _show_demo_result(r: object, args: argparse.Namespace, out: Output) -> None:
    if not r.ok:
        out.line(f"{r.framework}: {r.status}: {r.message}", style="yellow" if r.status == "unavailable" else "red")
        out.line()
        return
    rows, styles = [], []
    for depth, (b, a) in enumerate(zip(r.before, r.after), 1):
        rows.append([str(depth), a.name, _f(b.rate), f"{b.silent_fraction:.0%}", b.verdict, _f(a.predicted_rate), _f(a.rate),
                     f"{a.silent_fraction:.0%}", _f(a.synchrony, ".1f"), a.verdict])
        styles.append(VERDICT_STYLE.get(a.verdict) if not a.healthy else None)
    out.table(f"{r.framework}: {args.layers} layers of {args.width}, input {args.rate:g} spikes/step, "
              f"T={r.after.n_steps}",
              ["depth", "module", "default rate", "silent", "default verdict", "planned", "after init", "silent", "chi",
               "verdict"], rows, styles, left=2)
    out.line(f"{r.framework}: default init: {_verdict_counts(r.before)}; after apply_init ({r.report.method}): "
             f"{_verdict_counts(r.after)}, rates {min(r.after.rates):.3f}..{max(r.after.rates):.3f} "
             f"({r.seconds:.1f} s)", style="bold")
    out.line()


def _verdict_counts(d: object) -> str:
    counts: dict[str, int] = {}
    for layer in d:
        counts[layer.verdict] = counts.get(layer.verdict, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _plot(panels: list, path: str, title: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SnnInitError('--plot needs matplotlib: pip install "snninit-plugins[cli]"') from None
    from .demo import plot_rates

    try:
        plot_rates(panels, path, title=title)
    except (OSError, ValueError) as exc:
        raise SnnInitError(f"could not write the plot to {path}: {exc}") from exc


# --------------------------------------------------------------------------------------------- diagnose
def load_factory(target: str) -> object:
    """``path/to/file.py:factory`` (or ``package.module:factory``) -> the callable. Bad paths raise UsageError."""
    location, sep, attr = target.rpartition(":")
    if not sep or not location or not attr:
        raise UsageError(f"expected MODEL as path/to/file.py:factory (a function that returns the model), got "
                         f"{target!r}")
    is_file = location.endswith(".py") or os.sep in location or "/" in location
    if is_file:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"no such file: {location} (MODEL is path/to/file.py:factory)")
        name = f"_snninit_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {location} as Python source")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # the file's own imports of its neighbours
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise SnnInitError(f"importing {location} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as exc:
            raise UsageError(f"no such file or module: {location} (MODEL is path/to/file.py:factory)") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise UsageError(f"{location} has no {attr!r}" + (f"; it defines: {', '.join(found)}" if found else ""))
    if not callable(factory):
        raise UsageError(f"{location}:{attr} is a {type(factory).__name__}, not a function that returns the model")
    return factory


def _parse_shape(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise argparse.ArgumentTypeError(
            f"expected T,B,... (time steps, batch, then the model's input features; positive integers, "
            f"e.g. 25,32,784), got {text!r}")
    return shape


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a rate in (0, 1] spikes per step, got {text!r}")
    return value


def _option(text: str) -> tuple[str, object]:
    """KEY=VALUE of ``--option``: true/false as booleans, numbers as numbers, anything else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE (a strategy option, e.g. gain=0.4), got {text!r}")
    value = value.strip()
    if value.lower() in ("true", "false"):
        return key.strip(), value.lower() == "true"
    for kind in (int, float):
        try:
            return key.strip(), kind(value)
        except ValueError:
            pass
    return key.strip(), value


def _strategy_options(method: str, options: list[tuple[str, object]]) -> dict:
    """``--option`` pairs as the strategy's keyword options, checked against what ``method`` takes."""
    from .plugins import get_strategies
    from .strategies import make_strategy

    chosen = dict(options)
    try:
        make_strategy(get_strategies()[method], chosen)
    except StrategyOptionError as exc:
        raise UsageError(f"--option: {exc}") from None
    return chosen


def _target_rate(text: str) -> float | str:
    return "preserve" if text == "preserve" else _rate(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _load_sample(path: str) -> object:
    import torch

    if not Path(path).is_file():
        raise UsageError(f"no such file: {path} (--sample takes a tensor saved with torch.save(x, path))")
    try:
        x = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SnnInitError(f"could not load {path} with torch.load: {type(exc).__name__}: {exc}") from exc
    if not isinstance(x, torch.Tensor):
        raise UsageError(f"{path} holds a {type(x).__name__}; --sample needs one tensor shaped [T, batch, ...] "
                         "(torch.save(x, path))")
    return x


def _build_model(factory: object, target: str) -> object:
    from torch import nn

    try:
        model = factory()
    except TypeError as exc:
        raise SnnInitError(f"calling {target}() failed: {exc} (the factory is called with no arguments)") from exc
    except Exception as exc:
        raise SnnInitError(f"calling {target}() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise SnnInitError(f"{target}() returned a {type(model).__name__}; it must return the torch.nn.Module")
    return model


def _init(model: object, framework: str, sample: object, args: argparse.Namespace) -> object:
    """apply_init planned for the time-major sample (its statistics and the order its run calls the layers)."""
    import torch

    from .api import apply_init

    return apply_init(model, framework, args.init, sample=sample, target_rate=args.target_rate,
                      T=int(sample.shape[0]), generator=torch.Generator().manual_seed(args.seed),
                      **dict(args.options))


def _check_plot(path: str | None) -> None:
    if path and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"--plot {path}: the folder {Path(path).parent} does not exist")


def cmd_diagnose(args: argparse.Namespace, out: Output) -> int:
    _check_plot(args.plot)
    factory = load_factory(args.model)
    sample = _load_sample(args.sample) if args.sample else None
    import torch

    from .diagnosis import diagnose
    from .plugins import get_adapters, get_strategies
    from .simulator import bernoulli_spikes

    known = get_adapters()
    if args.framework != "auto" and args.framework not in known:
        raise UsageError(f"unknown --framework {args.framework!r}; installed adapters: {', '.join(sorted(known))} "
                         "(or auto)")
    if args.init and args.init not in get_strategies():
        raise UsageError(f"unknown --init method {args.init!r}; available: {', '.join(sorted(get_strategies()))}")
    if args.options and not args.init:
        raise UsageError("--option needs --init METHOD (the strategy it is given to)")
    if args.init:
        args.options = list(_strategy_options(args.init, args.options).items())
    if args.threads:
        torch.set_num_threads(args.threads)
    with out.progress(f"building {args.model}..."), torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = _build_model(factory, args.model)
    if sample is None:
        steps, *shape = args.input_shape
        sample = bernoulli_spikes(args.rate, steps, tuple(shape), generator=torch.Generator().manual_seed(args.seed))
    with out.progress(f"running {args.model} on {tuple(sample.shape)}..."):
        before = diagnose(model, sample, args.framework)
    report = after = None
    if args.init:
        with out.progress(f"apply_init {args.init}..."):
            report = _init(model, before.framework, sample, args)
        with out.progress("running again..."):
            after = diagnose(model, sample, before.framework, report=report)
    final = after or before
    if args.plot:
        target = (sum(lay.plan.rate for lay in report) / len(report) if report is not None and len(report)
                  else (before.input_rate if before.input_spiking else None))
        _plot([(args.model, before.rates, after.rates if after else None, target)], args.plot,
              f"{before.framework}, input {tuple(sample.shape)}")
    if args.json:
        out.json(_clean({"model": args.model, "framework": before.framework, "input_shape": list(sample.shape),
                         "before": before.as_dict(), "report": report.as_dict() if report else None,
                         "after": after.as_dict() if after else None, "healthy": final.healthy,
                         "plot": args.plot}))
    else:
        _show_diagnosis(before, "as built" if args.init else "", out)
        if report is not None:
            out.line(str(report))
            out.line()
            _show_diagnosis(after, f"after apply_init {args.init}", out)
        if args.plot:
            out.line(f"plot written to {args.plot}")
    return EXIT_UNHEALTHY if args.check and not final.healthy else EXIT_OK


def _show_diagnosis(d: object, label: str, out: Output) -> None:
    kind = "spikes" if d.input_spiking else "analog"
    rows, styles = [], []
    for lay in d:
        rows.append([lay.name, lay.neuron_class, str(lay.neurons), _f(lay.rate), _f(lay.predicted_rate),
                     f"{lay.silent_fraction:.1%}", f"{lay.saturated_fraction:.0%}", _f(lay.synchrony, ".2f"),
                     _f(lay.membrane_mean, ".3f"), _f(lay.membrane_std, ".3f"), lay.verdict])
        styles.append(VERDICT_STYLE.get(lay.verdict) if not lay.healthy else None)
    out.table(f"{d.framework}{' ' + label if label else ''}: T={d.n_steps}, batch {d.batch}, input "
              f"{d.input_rate:.4g}/step ({kind})",
              ["layer", "neuron", "N", "rate", "planned", "silent", "saturated", "chi", "mem mean", "mem std",
               "verdict"], rows, styles, left=2)
    out.line(d.summary(), style="bold")
    for lay in d:
        if not lay.healthy or lay.off_plan or lay.small_sample:
            out.line(f"  {lay.name}: {lay.verdict}: {lay.reason}", style=VERDICT_STYLE.get(lay.verdict))
    for name in d.not_run:
        out.line(f"  not run: {name} (not called on the sample)")
    for note in d.notes:
        out.line(f"  note: {note}")
    out.line()


# --------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import demo

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
    common.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    plot = argparse.ArgumentParser(add_help=False)
    plot.add_argument("--plot", metavar="OUT.png", help="draw rate against depth, before and after (matplotlib)")

    parser = argparse.ArgumentParser(
        prog="snninit", description="Initialise deep spiking networks so that they do not fall silent.",
        epilog="Exit status: 0 ok, 1 failure, 2 bad usage, 3 diagnose --check found an unhealthy layer.")
    parser.add_argument("--version", action="version", version=f"snninit-plugins {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", parents=[common], help="installed plugins, frameworks and strategies",
                       description="What is installed: every plugin and what it contributes.")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("demo", parents=[common, plot], help="deep networks collapse, then fire after apply_init",
                       description="For each installed framework: a deep Linear+LIF network with the default init "
                                   "(it falls silent), then apply_init (every layer fires).")
    p.add_argument("--layers", type=_positive, default=20, help="spiking layers (default 20)")
    p.add_argument("--width", type=_positive, default=256, help="neurons per layer (default 256)")
    p.add_argument("--steps", type=_positive, default=None,
                   help="time steps T (default: 25; Norse 100, its neurons being defined with dt = 1 ms)")
    p.add_argument("--batch", type=_positive, default=32, help="input samples (default 32)")
    p.add_argument("--rate", type=_rate, default=0.1, help="input spikes per step, kept in every layer (default 0.1)")
    p.add_argument("--method", default="general", help="apply_init strategy (default general)")
    p.add_argument("--option", dest="options", metavar="KEY=VALUE", type=_option, action="append", default=[],
                   help="a strategy option, e.g. gain=0.4 (repeatable)")
    p.add_argument("--framework", action="append", choices=demo.FRAMEWORKS,
                   help="run only this framework (repeatable; default: every one installed)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and input spikes (default 0)")
    p.add_argument("--threads", type=_positive, default=1, help="torch threads (default 1: small layers)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "diagnose", parents=[common, plot], help="per-layer rates and verdicts of your model",
        description="Run your model on a sample and give every spiking layer's rate, silent and saturated "
                    "fractions, synchrony chi, membrane and a verdict (collapsed, saturated, synchronous, healthy).")
    p.add_argument("model", metavar="MODEL", help="path/to/file.py:factory, a function returning the model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input-shape", type=_parse_shape, metavar="T,B,...",
                     help="Bernoulli input spikes of this time-major shape, e.g. 25,32,784")
    src.add_argument("--sample", metavar="FILE.pt", help="a tensor [T, batch, ...] saved with torch.save")
    p.add_argument("--rate", type=_rate, default=0.1, help="spikes per step of the --input-shape input (default 0.1)")
    p.add_argument("--framework", default="auto", help="snntorch, spikingjelly, norse... (default: detected)")
    p.add_argument("--init", metavar="METHOD", help="run apply_init with METHOD (e.g. general) and show after")
    p.add_argument("--option", dest="options", metavar="KEY=VALUE", type=_option, action="append", default=[],
                   help="with --init: a strategy option, e.g. gain=0.4 (repeatable)")
    p.add_argument("--target-rate", type=_target_rate, default="preserve",
                   help="with --init: spikes per step for every layer, or preserve (the input's rate; default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the model's init, input spikes and apply_init")
    p.add_argument("--threads", type=_positive, default=None, help="torch threads (default: torch's)")
    p.add_argument("--check", action="store_true", help="exit with status 3 if a layer is not healthy")
    p.set_defaults(func=cmd_diagnose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``snninit`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or bad usage (2), message already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("snninit: error: a command is required: plugins, demo or diagnose (snninit --help)", file=sys.stderr)
        return EXIT_USAGE
    # Norse 1.x warns about torch.jit.script on import; a command-line user can do nothing about it
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    out = Output(args.json)
    prefix = f"snninit {args.command}: error:"
    try:
        return args.func(args, out)
    except UsageError as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"snninit {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        known = isinstance(exc, (SnnInitError, ValueError, KeyError))
        text = str(exc) if known else f"{type(exc).__name__}: {exc}"
        print(f"{prefix} {text}" + ("" if known else " (--debug shows the traceback)"), file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
