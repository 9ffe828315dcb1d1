"""The plugin host: entry-point discovery, built-ins through the same door, broken and conflicting plugins."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import snninit_plugins
from snninit_plugins import apply_init, hookspecs, list_plugins, plugins
from snninit_plugins.strategies import get_strategy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "third_party_plugin"


class FakeDistribution(importlib.metadata.Distribution):
    """An installed distribution that exists only in memory (pluggy's own tests do the same)."""

    def __init__(self, name: str, entry_points: dict[str, str]) -> None:
        self._files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n",
            "entry_points.txt": "[snninit]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()),
        }

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path):  # noqa: ANN001, ANN201
        return Path(path)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Pretend extra distributions are installed; the registry is rebuilt around each test."""
    real = importlib.metadata.distributions
    extra: list[FakeDistribution] = []

    def distributions(**kwargs: object):  # noqa: ANN202
        return [*real(**kwargs), *extra]

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    plugins.refresh()
    yield extra
    plugins.refresh()


def test_builtins_arrive_through_the_package_entry_points() -> None:
    plugins.refresh()
    found = {p.name: p for p in list_plugins()}
    assert found["strategies"].distribution == "snninit-plugins"
    assert {"general", "kaiming", "default", "fluctuation_driven"} <= set(found["strategies"].strategies)
    assert found["snntorch"].adapters == ("snntorch",)
    assert found["snntorch"].version == snninit_plugins.__version__


def test_loading_is_lazy_and_once() -> None:
    code = "import snninit_plugins.plugins as p, snninit_plugins; print(p._registry is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert plugins.get_plugin_manager() is plugins.get_plugin_manager()


def test_import_imports_no_framework_and_no_torch() -> None:
    code = "import sys, snninit_plugins; print(sorted(m for m in ('torch', 'snntorch', 'spikingjelly', 'norse') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_third_party_strategy_is_discovered_and_usable(installed: list) -> None:
    installed.append(FakeDistribution("snninit-example-plugin", {"scaled_kaiming": "snninit_example_plugin"}))
    info = {p.name: p for p in list_plugins()}["scaled_kaiming"]
    assert info.distribution == "snninit-example-plugin" and info.strategies == ("scaled_kaiming",)
    assert get_strategy("scaled_kaiming", scale=3.0).scale == 3.0
    import snntorch as snn

    model = torch.nn.Sequential(torch.nn.Linear(64, 32), snn.Leaky(beta=0.9, init_hidden=True))
    report = apply_init(model, method="scaled_kaiming", scale=1.5, input_rate=0.1, T=25)
    assert report.method == "scaled_kaiming"
    assert model[0].weight.std().item() == pytest.approx(1.5 * (2 / 64) ** 0.5, rel=0.1)


def test_a_broken_plugin_warns_and_the_host_keeps_working(installed: list) -> None:
    installed.append(FakeDistribution("snninit-broken", {"broken": "no_such_module_anywhere"}))
    with pytest.warns(plugins.PluginLoadWarning, match="'broken' from snninit-broken.*no_such_module_anywhere"):
        names = [p.name for p in list_plugins()]
    assert "broken" not in names and "strategies" in names


def test_autoload_switch_keeps_only_the_builtins(installed: list, monkeypatch: pytest.MonkeyPatch) -> None:
    installed.append(FakeDistribution("snninit-example-plugin", {"scaled_kaiming": "snninit_example_plugin"}))
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    names = [p.name for p in list_plugins()]
    assert "scaled_kaiming" not in names and "strategies" in names and "snntorch" in names


def test_conflicting_names_are_an_error_naming_both(installed: list, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "impostor_plugin.py").write_text(textwrap.dedent("""
        from snninit_plugins import hookimpl
        from snninit_plugins.strategies import Strategy

        class General(Strategy):
            name = "general"

        @hookimpl
        def snninit_register_strategies(register):
            register(General)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    installed.append(FakeDistribution("snninit-impostor", {"impostor": "impostor_plugin"}))
    with pytest.raises(plugins.PluginConflictError, match="strategy 'general' from plugin snninit-impostor:impostor"):
        list_plugins()


# Meta-test (datasette's idea): every hook specification has a test named test_hook_<hook>.
def test_hook_snninit_register_adapters() -> None:
    plugins.refresh()
    adapters = plugins.get_adapters()
    assert adapters["snntorch"].owner == "snninit-plugins:snntorch"
    assert adapters["snntorch"].extra == "snntorch"


def test_hook_snninit_register_strategies() -> None:
    plugins.refresh()
    assert plugins.get_strategies()["general"].__name__ == "General"


def test_every_hookspec_has_a_test() -> None:
    specs = [name for name in dir(hookspecs) if name.startswith("snninit_")]
    assert specs and all(f"test_hook_{name}" in globals() for name in specs)
