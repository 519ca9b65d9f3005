"""The benchmark script still runs against the current API (tinyalex alone: tests never import
PyTorch, and time nothing)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_torch.py"


def _run(*args):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_lists_the_cases_with_their_targets():
    out = _run("--list")
    for name in ["fig1-conv2", "alexnet-conv1", "alexnet-conv2", "lrn", "maxpool", "linear",
                 "step figure-1 relu", "step figure-1 tanh", "step alexnet one device",
                 "step alexnet two towers"]:
        assert name in out
    assert "target <= 1.5" in out and "target <= 0.5" in out and "target <= 1.3" in out
    steps = [line for line in out.splitlines() if " step " in line]
    assert len(steps) == 4 and all(line.endswith("(on a GPU <= 2.0)") for line in steps)
    assert "GPU" not in "".join(line for line in out.splitlines() if " step " not in line)


def test_a_gpu_run_judges_the_steps_by_the_gpu_target():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import cases
        import steps
    finally:
        sys.path.remove(str(SCRIPT.parent))
    step = steps.step_cases()[0]
    assert (step.target_on("cpu"), step.target_on("cuda")) == (1.3, 2.0)
    linear = next(c for c in cases.op_cases() if c.name.startswith("linear"))
    assert linear.target_on("cpu") == linear.target_on("cuda") == 1.0


def test_runs_tinyalex_alone_with_and_without_workspace():
    for extra in ([], ["--no-workspace"]):
        out = _run("--no-torch", "--no-memory", "--repeat", "1", "--warmup", "0",
                   "--case", "relu", "--case", "softmax", *extra)
        assert "relu" in out and "softmax" in out and "MISMATCH" not in out


def test_runs_a_model_step_alone():
    out = _run("--no-torch", "--no-memory", "--repeat", "1", "--warmup", "0",
               "--case", "step figure-1 tanh", "--block", "2")
    assert "step figure-1 tanh" in out and "MISMATCH" not in out
    assert "in blocks of 2 calls" in out.splitlines()[0]


def test_times_tinyalex_alone_where_pytorch_cannot_be_imported(tmp_path):
    """A stand-in PyTorch package that fails to import: the cases, each timed in a subprocess,
    are timed for tinyalex alone, with no PyTorch columns."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    result = subprocess.run([sys.executable, str(SCRIPT), "--no-memory", "--repeat", "1",
                             "--warmup", "0", "--case", "relu"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "PyTorch is not installed (pip install '.[bench]'): timing tinyalex alone."
    relu = next(line.split() for line in lines if line.startswith("relu"))
    assert relu[2] != "-" and relu[3] == "-", relu  # tinyalex's forward time, no PyTorch's


def test_blocks_call_each_side_in_a_row_and_time_all_but_the_first(monkeypatch):
    """A fake clock that each call moves on: the first call of a block takes 100 units, the
    second 1 (tinyalex) or 2 (torch); the medians must be 1 and 2."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import compare_torch
        from cases import Case, Side
    finally:
        sys.path.remove(str(SCRIPT.parent))
    now, calls = [0.0], []

    def side(name, seconds):
        def step():
            first = calls.count(name) % 2 == 0  # blocks of 2
            calls.append(name)
            now[0] += 100.0 if first else seconds
            return ()
        return Side(forward=step, backward=lambda: ())

    monkeypatch.setattr(compare_torch.time, "perf_counter", lambda: now[0])
    case = Case("fake", inputs=None, tinyalex=None, torch=None, split=False)
    sides = {"tinyalex": side("tinyalex", 1.0), "torch": side("torch", 2.0)}
    times = compare_torch.time_case(case, sides, compare_torch.Backend("cpu", False),
                                    repeat=3, warmup=1, block=2)
    assert times == {("tinyalex", "step"): 1.0, ("torch", "step"): 2.0}
    assert calls == (["tinyalex"] * 2 + ["torch"] * 2 + ["torch"] * 2 + ["tinyalex"] * 2) * 2


@pytest.mark.parametrize("args, message", [
    (["--case", "relu", "--case", "nosuchcase"],
     "argument --case: no case name contains 'nosuchcase' (--list shows every case)"),
    (["--repeat", "0"], "argument --repeat: must be an int >= 1, got '0'"),
    (["--warmup", "-1"], "argument --warmup: must be an int >= 0, got '-1'"),
    (["--threads", "0"], "argument --threads: must be an int >= 1, got '0'"),
    (["--threads", "two"], "argument --threads: must be an int >= 1, got 'two'"),
    (["--block", "0"], "argument --block: must be an int >= 1, got '0'"),
])
def test_bad_arguments_are_usage_errors(args, message):
    """Exit status 2 with argparse's message, before anything is timed."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--no-torch", "--no-memory", *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stdout == ""


def _run_script(name, *args):
    result = subprocess.run([sys.executable, str(SCRIPT.parent / name), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_layer_times_accounts_for_every_layer():
    out = _run_script("layer_times.py", "--repeat", "1", "--warmup", "0")
    for layer in ["conv1", "relu1", "pool1", "conv2", "conv3", "pool3", "fc", "sgd update"]:
        assert f"\n{layer} " in out
    assert "figure1-relu, batch 128, on cpu:0: one step" in out


def test_layer_times_without_pytorch_is_a_usage_error(tmp_path):
    """--torch where PyTorch cannot be imported (a stand-in package that fails, so the test
    means the same with PyTorch installed or not): status 2 and what to install."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    result = subprocess.run([sys.executable, str(SCRIPT.parent / "layer_times.py"), "--torch"],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert "--torch needs PyTorch (pip install '.[bench]'): no torch here" in result.stderr


def test_conv_accuracy_reports_every_algorithm_near_float64():
    out = _run_script("conv_accuracy.py", "--no-torch")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert len(rows) == 10  # 3 cases, im2col and gather each, rows and fourier for the two stride-1 ones
    for row in rows:
        assert row[1] == "tinyalex" and all(float(e) < 1e-5 for e in row[3:]), row
