"""Smoke test of examples/train_digits.py: the --quick run trains every method and prints a sane table."""

from __future__ import annotations

import importlib.util
import math
import pathlib

import pytest
import sklearn  # noqa: F401 - the example needs scikit-learn (the "digits" extra, part of "test"): no importorskip
import snntorch  # noqa: F401 - the framework under test must be installed: no importorskip

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


#: the set-up the README recommends for training: every layer at 0.1 spikes/step, centred rows
TRAINING_SETUP = "general@0.1+centred"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    out = tmp_path_factory.mktemp("digits") / "train_digits.txt"
    results = td.main(["--quick", "--out", str(out), "--methods", *td.METHODS, TRAINING_SETUP])
    return td, {r["method"]: r for r in results}, out.read_text()


def test_every_method_runs_and_is_tabulated(quick) -> None:
    td, results, text = quick
    assert list(results) == [*td.METHODS, TRAINING_SETUP]
    rows = [line.split() for line in text.splitlines()]
    assert {row[0] for row in rows if row and row[0] in results} == set(results)
    for r in results.values():
        assert len(r["accs"]) == 3  # --quick: three epochs
        assert all(0.0 <= a <= 1.0 for a in r["accs"])
        assert len(r["rates"]) == td.HIDDEN + 1  # every hidden layer and the output layer
        assert all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in r["rates"])
        assert r["reached"] is None or r["reached"] in (1, 2, 3)


def test_init_rates_tell_the_methods_apart(quick) -> None:
    td, results, _ = quick
    deepest = td.HIDDEN - 1
    # PyTorch's default init falls silent within a few layers; the rate-targeting init keeps the deepest
    # hidden layer near the input rate (about 0.3 spikes/step)
    assert results["default"]["rates"][deepest] < 0.01
    assert 0.15 < results["general"]["rates"][deepest] < 0.6
    assert results["fluctuation_driven"]["rates"][deepest] > 0.03


def test_quick_training_moves_off_chance_unless_silent(quick) -> None:
    _, results, _ = quick
    # 10 classes, 150 test images: chance is about 0.1. Inits that keep the deepest layers firing learn
    # something in three short epochs (measured: fluctuation_driven 0.61, general@0.1+centred 0.35, kaiming
    # 0.41); behind PyTorch's default init the output is silent. general with stratified rows at the input
    # rate trains slowly (0.10-0.38 after three quick epochs, depending on small weight differences; 78% after
    # 8 full epochs), so it is only required to run and fire (above)
    for method in ("fluctuation_driven", TRAINING_SETUP):
        assert max(results[method]["accs"]) > 0.15, method
    assert max(results["default"]["accs"]) < 0.15
