"""The ``snninit`` command end to end: the installed script in a subprocess, and ``main()`` in process.

The subprocess tests run the console script exactly as a shell user does (exit status, stdout, stderr, no
traceback); the in-process ones cover the JSON documents and the many argument errors at less cost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from snninit_plugins import cli
from snninit_plugins.demo import FRAMEWORKS

MODEL_FILE = textwrap.dedent("""
    import snntorch as snn
    from torch import nn

    from helper import WIDTH  # a neighbour of this file: the file's folder is importable


    def collapsed():
        layers = []
        for _ in range(5):
            layers += [nn.Linear(WIDTH, WIDTH), snn.Leaky(beta=0.9, init_hidden=True)]
        return nn.Sequential(*layers)


    def not_a_model():
        return 42


    def broken():
        raise RuntimeError("the factory broke")


    def needs_args(depth):
        return collapsed()


    NOT_CALLABLE = 3
""")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    (tmp_path / "helper.py").write_text("WIDTH = 128\n")
    path = tmp_path / "model.py"
    path.write_text(MODEL_FILE)
    return path


def snninit(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the installed ``snninit`` script (``python -m snninit_plugins.cli`` if the script is missing)."""
    script = shutil.which("snninit", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "snninit_plugins.cli"]
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *args], check=False, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def assert_clean_error(result: subprocess.CompletedProcess | tuple[int, str], code: int, *fragments: str) -> None:
    rc, err = (result.returncode, result.stderr) if isinstance(result, subprocess.CompletedProcess) else result
    assert rc == code, (rc, err)
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def run_main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    rc = cli.main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --------------------------------------------------------------------------------------------- subprocess
def test_plugins_lists_what_is_installed() -> None:
    result = snninit("plugins")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in (*FRAMEWORKS, "strategies", "general", "kaiming", "snninit-plugins"):
        assert name in out, name
    assert 'pip install "snninit-plugins[norse]"' in out
    assert "Traceback" not in result.stderr


def test_demo_shows_collapse_then_healthy_rates_and_writes_the_plot(tmp_path: Path) -> None:
    plot = tmp_path / "rates.png"
    result = snninit("demo", "--layers", "2", "--width", "128", "--batch", "16", "--plot", str(plot), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for framework in FRAMEWORKS:
        line = next(line for line in out.splitlines() if line.startswith(f"{framework}: default init:"))
        assert "collapsed" in line.split(";")[0], line  # default init: at least one layer collapsed
        assert "after apply_init (general): 2 healthy" in line, line
    assert f"plot written to {plot}" in out
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in result.stderr and "FutureWarning" not in result.stderr


def test_diagnose_a_factory_file(model_file: Path, tmp_path: Path) -> None:
    result = snninit("diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128", "--rate", "0.1",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "snntorch: T=25, batch 16" in out and "first unhealthy" in out
    assert "collapsed" in out and "never spike" in out


def test_diagnose_with_init_from_a_saved_sample(model_file: Path, tmp_path: Path) -> None:
    sample = tmp_path / "x.pt"
    torch.save((torch.rand(25, 16, 128, generator=torch.Generator().manual_seed(0)) < 0.1).float(), sample)
    plot = tmp_path / "diag.png"
    result = snninit("diagnose", f"{model_file}:collapsed", "--sample", str(sample), "--init", "general",
                     "--json", "--plot", str(plot), "--check")
    assert result.returncode == 0, result.stderr  # --check passes: every layer healthy after apply_init
    data = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert data["framework"] == "snntorch" and data["input_shape"] == [25, 16, 128]
    assert [lay["verdict"] for lay in data["before"]["layers"]][-1] == "collapsed"
    assert all(lay["verdict"] == "healthy" for lay in data["after"]["layers"]), data["after"]["summary"]
    assert all(lay["predicted_rate"] is not None for lay in data["after"]["layers"])
    assert data["report"]["method"] == "general" and data["report"]["n_steps"] == 25
    assert plot.is_file() and data["plot"] == str(plot)


@pytest.mark.parametrize("args, fragment", [
    ((), "a command is required"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("demo", "--layers", "0"), "argument --layers: expected a positive integer, got '0'"),
    (("demo", "--rate", "1.5"), "argument --rate: expected a rate in (0, 1]"),
    (("demo", "--framework", "brian"), "argument --framework: invalid choice: 'brian'"),
    (("diagnose", "m.py:f"), "one of the arguments --input-shape --sample is required"),
    (("diagnose", "m.py:f", "--input-shape", "25"), "expected T,B,..."),
    (("diagnose", "m.py:f", "--input-shape", "25,a,3"), "expected T,B,..."),
    (("diagnose", "m.py:f", "--input-shape", "2,2", "--sample", "x.pt"), "not allowed with argument"),
    (("diagnose", "missing.py:build", "--input-shape", "25,16,128"), "no such file: missing.py"),
    (("diagnose", "missing.py", "--input-shape", "25,16,128"), "expected MODEL as path/to/file.py:factory"),
    (("demo", "--option", "window_offset"), "argument --option: expected KEY=VALUE"),
    (("demo", "--option", "window_ofset=true"),
     "--option: strategy 'general' has no option 'window_ofset' (did you mean 'window_offset'?)"),
])
def test_bad_usage_exits_2_with_a_message(args: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    assert_clean_error(snninit(*args, cwd=tmp_path, timeout=60), 2, fragment)


# --------------------------------------------------------------------------------------------- in process
def test_plugins_json(capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = run_main(capsys, "plugins", "--json")
    assert rc == 0
    data = json.loads(out)
    assert {a["name"] for a in data["adapters"]} >= set(FRAMEWORKS)
    assert all(a["installed"] for a in data["adapters"] if a["name"] in FRAMEWORKS)
    assert {s["name"] for s in data["strategies"]} >= {"general", "kaiming", "default"}
    assert any(p["name"] == "strategies" and "general" in p["strategies"] for p in data["plugins"])


def test_strategy_options_reach_apply_init(model_file: Path, capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128", "--init",
                          "general", "--option", "window_offset=false", "--option", "gain=0.4", "--json")
    assert rc == 0
    options = json.loads(out)["report"]["options"]
    assert options["window_offset"] is False and options["gain"] == 0.4 and options["window_onset"] is True
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128",
                          "--option", "gain=0.4")
    assert_clean_error((rc, err), 2, "--option needs --init METHOD")


def test_demo_json_for_one_framework(capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = run_main(capsys, "demo", "--json", "--framework", "snntorch", "--layers", "4", "--width", "128",
                          "--batch", "16")
    assert rc == 0
    data = json.loads(out)
    (result,) = data["results"]
    assert result["framework"] == "snntorch" and result["status"] == "ok" and result["seconds"] > 0
    before = [lay["verdict"] for lay in result["before"]["layers"]]
    after = [lay["verdict"] for lay in result["after"]["layers"]]
    assert before[-1] == "collapsed" and after == ["healthy"] * 4
    assert data["plot"] is None and data["depth"] == 4


def test_check_turns_an_unhealthy_diagnosis_into_status_3(model_file: Path, capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128", "--check",
                            "--json")
    assert rc == 3 and err == ""
    assert json.loads(out)["healthy"] is False


def test_a_failing_factory_exits_1_with_one_line(model_file: Path, capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_main(capsys, "diagnose", f"{model_file}:broken", "--input-shape", "25,16,128")
    assert_clean_error((rc, err), 1, f"snninit diagnose: error: calling {model_file}:broken() failed: RuntimeError: "
                                     "the factory broke")
    assert err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("target, code, fragment", [
    ("{file}:missing", 2, "has no 'missing'; it defines: broken, collapsed, needs_args, not_a_model"),
    ("{file}:NOT_CALLABLE", 2, "NOT_CALLABLE is a int, not a function"),
    ("{file}:not_a_model", 1, "not_a_model() returned a int; it must return the torch.nn.Module"),
    ("{file}:needs_args", 1, "the factory is called with no arguments"),
    ("no.such.module:build", 2, "no such file or module: no.such.module"),
])
def test_factory_errors(target: str, code: int, fragment: str, model_file: Path,
                        capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_main(capsys, "diagnose", target.format(file=model_file), "--input-shape", "25,16,128")
    assert_clean_error((rc, err), code, fragment)


def test_runtime_errors_name_the_argument(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,7")
    assert_clean_error((rc, err), 1, "on a sample of shape (25, 16, 7) [T, batch, ...] failed: RuntimeError")
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128",
                          "--framework", "brian")
    assert_clean_error((rc, err), 2, "unknown --framework 'brian'; installed adapters:")
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--sample", str(tmp_path / "none.pt"))
    assert_clean_error((rc, err), 2, "no such file:", "none.pt")
    torch.save({"x": torch.zeros(2, 2)}, tmp_path / "dict.pt")
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--sample", str(tmp_path / "dict.pt"))
    assert_clean_error((rc, err), 2, "holds a dict; --sample needs one tensor")
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128",
                          "--init", "nope")
    assert_clean_error((rc, err), 2, "unknown --init method 'nope'; available:")
    rc, _, err = run_main(capsys, "demo", "--method", "nope")
    assert_clean_error((rc, err), 2, "unknown --method 'nope'")
    rc, _, err = run_main(capsys, "diagnose", f"{model_file}:collapsed", "--input-shape", "25,16,128",
                          "--plot", str(tmp_path / "no_dir" / "x.png"))
    assert_clean_error((rc, err), 2, "--plot", "does not exist")


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = run_main(capsys, "--version")
    assert rc == 0 and "snninit-plugins" in out
    rc, out, _ = run_main(capsys, "diagnose", "--help")
    assert rc == 0 and "path/to/file.py:factory" in out and "--input-shape" in out


def test_plain_text_tables_without_rich(capsys: pytest.CaptureFixture) -> None:
    """Without the [cli] extra (rich) the same tables come out as aligned plain text."""
    out = cli.Output(json_mode=False)
    out.console = out.err = None
    out.table("title", ["layer", "rate"], [["1", "0.1000"], ["13", "0.0000"]])
    with out.progress("working"):
        out.line("done")
    text = capsys.readouterr().out
    assert text.splitlines() == ["title", "layer  rate  ", "-----  ------", "1      0.1000", "13     0.0000", "done"]
