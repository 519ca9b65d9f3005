"""The command line: help, one-line errors, the Figure-1 demo end to end on real Fashion-MNIST
(the CIFAR-10 fallback included), and `train` with a bit-exact `--resume`.

The tests marked fashion_mnist read the real Fashion-MNIST (`apt-get install dataset-fashion-mnist`;
CI does it) and are skipped, with that reason, where it is missing."""

import csv
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from tinyalex import loader, plots, recipe, relu_vs_tanh, train
from tinyalex import __main__ as main_module
from tinyalex.__main__ import TRAIN_DEFAULTS, main
from tinyalex.data import load_fashion_mnist
from tinyalex.checkpoint import load_checkpoint, save_checkpoint
from tinyalex.relu_vs_tanh import SUMMARY_PATTERN, epochs_to_target, summary_line
from tinyalex.train import FORMAT, TIMINGS

OFFLINE = "load_cifar10: could not download https://example/cifar-10-binary.tar.gz (offline)"


def run(argv, capsys):
    """``(exit code, stdout, stderr)`` of ``python -m tinyalex *argv``, in this process."""
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fashion_mnist():
    return {}  # the real files, read by the first test that asks, kept for the others


@pytest.fixture(autouse=True)
def read_fashion_mnist_once(monkeypatch, fashion_mnist):
    def load(root=None):
        if "arrays" not in fashion_mnist:
            fashion_mnist["arrays"] = load_fashion_mnist()
        return fashion_mnist["arrays"]

    monkeypatch.setattr(loader, "load_fashion_mnist", load)


@pytest.fixture
def cifar_offline(monkeypatch):
    def load_cifar10(root="data", download=True, progress=True):
        raise FileNotFoundError(OFFLINE)

    monkeypatch.setattr(loader, "load_cifar10", load_cifar10)


def test_the_module_runs_and_lists_its_commands():
    done = subprocess.run([sys.executable, "-m", "tinyalex", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("relu-vs-tanh", "train", "gradcheck"):
        assert command in done.stdout


@pytest.mark.parametrize("command, options", [
    ("relu-vs-tanh", ["--dataset", "--subset", "--epochs", "--target", "--device", "--out",
                      "--seed", "--batch-size", "--lr-relu", "--lr-tanh", "--test-subset"]),
    ("train", ["--model", "--dataset", "--activation", "--lrn", "--width", "--input-size",
               "--devices", "--device", "--resume", "--epochs", "--lr", "--ten-crop", "--out"]),
    ("gradcheck", ["--seed", "--device", "--tolerance"]),
])
def test_help_of_every_command(capsys, command, options):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and out.startswith(f"usage: python -m tinyalex {command}")
    for option in options:
        assert option in out


@pytest.mark.parametrize("argv, message", [
    (["relu-vs-tanh", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["relu-vs-tanh", "--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
    (["relu-vs-tanh", "--target", "25"], "argument --target: expected a fraction between 0 and 1"),
    (["relu-vs-tanh", "--lr-tanh", "-0.1"], "argument --lr-tanh: expected a positive number"),
    (["relu-vs-tanh", "--subset", "many"], "argument --subset: expected an integer >= 1, got 'many'"),
    (["relu-vs-tanh", "--device", "gpu"], "argument --device: expected cpu or cuda:N, got 'gpu'"),
    (["train"], "--dataset is required"),
    (["train", "--dataset", "fashion-mnist", "--width", "0.5"], "--width applies to --model alexnet only"),
    (["train", "--dataset", "cifar10", "--model", "alexnet", "--activation", "tanh", "--lrn"],
     "--activation and --lrn apply to --model figure1 only"),
    (["train", "--dataset", "cifar10", "--image-size", "99"],
     "--image-size applies to image folders only (cifar10 images are read at their own size)"),
    (["train", "--dataset", "cifar10", "--model", "alexnet", "--device", "cpu", "--devices", "cpu,cpu"],
     "give --device (one device) or --devices (AlexNet's two towers), not both"),
    (["train", "--dataset", "fashion-mnist", "--model", "vgg"], "invalid choice: 'vgg'"),
    (["train", "--dataset", "no/such/folder"], "'no/such/folder' is neither one of cifar10, fashion-mnist"),
    (["train", "--dataset", "cifar10", "--model", "alexnet", "--input-size", "32"],
     "argument --input-size: expected an integer >= 67"),
    (["train", "--dataset", "cifar10", "--devices", "cpu"], "expected two devices, one per tower"),
    (["train", "--resume", "no/such/last.npz"], "--resume no/such/last.npz: no such checkpoint file"),
    (["train", "--dataset", "cifar10", "--model", "alexnet", "--width", "inf"],
     "argument --width: expected a positive number, got 'inf'"),
    (["train", "--dataset", "cifar10", "--lr", "nan"], "argument --lr: expected a positive number"),
    (["train", "--dataset", "cifar10", "--seed", "-1"],
     "argument --seed: expected an integer >= 0, got '-1'"),
    (["relu-vs-tanh", "--seed", "x"], "argument --seed: expected an integer >= 0, got 'x'"),
    (["gradcheck", "--tolerance", "nan"], "argument --tolerance: expected a positive number"),
    (["gradcheck", "--tolerance=-1e-6"], "argument --tolerance: expected a positive number"),
    (["gradcheck", "--tolerance", "0"], "argument --tolerance: expected a positive number, got '0'"),
    (["relu-vs-tanh", "--target", "1"], "argument --target: expected a fraction between 0 and 1"),
    (["bogus"], "invalid choice: 'bogus'"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(capsys, argv, message):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("python -m tinyalex") and "error: " in err
    assert message in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# relu-vs-tanh


@pytest.mark.parametrize("relu, tanh, line", [
    (3, 14, "relu: 25% training error at epoch 3; tanh: at epoch 14; ratio 4.7"),
    (3, None, "relu: 25% training error at epoch 3; tanh: not reached in 10 epochs; ratio > 3.3"),
    (4, None, "relu: 25% training error at epoch 4; tanh: not reached in 10 epochs; ratio > 2.5"),
    (None, 4, "relu: 25% training error not reached in 10 epochs; tanh: at epoch 4; ratio < 0.4"),
    (None, 3, "relu: 25% training error not reached in 10 epochs; tanh: at epoch 3; ratio < 0.3"),
    (None, None, "relu: 25% training error not reached in 10 epochs; tanh: not reached in 10 "
                 "epochs; ratio unknown"),
    (40, 1, "relu: 25% training error at epoch 40; tanh: at epoch 1; ratio 0.025"),  # not 0.0
])
def test_summary_line_never_claims_more_than_was_measured(relu, tanh, line):
    assert summary_line(relu, tanh, 40 if relu == 40 else 10, 0.25) == line
    match = SUMMARY_PATTERN.match(line)
    assert match and match["target"] == "25"
    assert match["relu"] == (str(relu) if relu else None) and match["tanh"] == (str(tanh) if tanh else None)
    if match["bound"] == ">":  # tanh needs 11 or more epochs
        assert 11 / relu > float(match["ratio"])
    if match["bound"] == "<":  # relu needs 11 or more
        assert tanh / 11 < float(match["ratio"])


@pytest.mark.parametrize("target, percent", [(0.333, "33.3"), (1e-7, "0.00001"), (0.5, "50")])
def test_summary_line_writes_any_target_as_its_pattern_reads_it(target, percent):
    line = summary_line(2, 3, 10, target)
    match = SUMMARY_PATTERN.match(line)
    assert match and match["target"] == percent and match["ratio"] == "1.5"


def test_summary_line_with_one_epoch_is_grammatical_and_parses():
    line = summary_line(None, 1, 1, 0.25)
    assert line == "relu: 25% training error not reached in 1 epoch; tanh: at epoch 1; ratio < 1.0"
    match = SUMMARY_PATTERN.match(line)
    assert match and match["relu_limit"] == "1" and match["tanh"] == "1"


def test_epochs_to_target():
    assert epochs_to_target([0.5, 0.3, 0.25, 0.2], 0.25) == 3
    assert epochs_to_target([0.5, 0.3], 0.25) is None


def read_errors(path):
    with open(path) as f:
        return [float(row["train_top1"]) for row in csv.DictReader(f)]


def check_demo_outputs(out_dir, stdout, epochs):
    """The files exist, and the summary line says what the histories hold."""
    assert (out_dir / "figure1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out_dir / "summary.json").read_text())
    match = SUMMARY_PATTERN.match(stdout.strip().splitlines()[-1])
    assert match, stdout.strip().splitlines()[-1]
    for activation in ("relu", "tanh"):
        errors = read_errors(out_dir / activation / "history.csv")
        history = json.loads((out_dir / activation / "history.json").read_text())["epochs"]
        assert len(errors) == epochs and [row["train_top1"] for row in history] == errors
        assert summary["runs"][activation]["errors"] == errors
        reached = epochs_to_target(errors, summary["target"])
        assert match[activation] == (None if reached is None else str(reached))
    return summary


@pytest.mark.fashion_mnist
def test_relu_vs_tanh_on_real_fashion_mnist(capsys, tmp_path):
    code, out, _ = run(["relu-vs-tanh", "--dataset", "fashion-mnist", "--subset", "128",
                        "--batch-size", "64", "--test-subset", "32", "--epochs", "2",
                        "--target", "0.6", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    assert "Figure 1 on Fashion-MNIST, 128 of its 60,000 training images (1x28x28), 32 test images" in out
    assert "CIFAR-10 is not available" not in out
    summary = check_demo_outputs(tmp_path, out, epochs=2)
    assert summary["dataset"] == "Fashion-MNIST" and summary["runs"]["relu"]["lr"] == 0.03


@pytest.mark.fashion_mnist
def test_relu_vs_tanh_falls_back_to_fashion_mnist_and_says_so(capsys, tmp_path, cifar_offline,
                                                             monkeypatch):
    titles = []

    def plot_curves(series, **options):
        titles.append(options["title"])
        return original(series, **options)

    original = plots.plot_curves
    monkeypatch.setattr(plots, "plot_curves", plot_curves)
    code, out, _ = run(["relu-vs-tanh", "--subset", "64", "--test-subset", "0", "--epochs", "1",
                        "--lr-tanh", "0.05", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "CIFAR-10 is not available, so this run uses Fashion-MNIST instead."
    assert lines[1].strip() == OFFLINE
    assert "Figure 1 on Fashion-MNIST, 64 of its 60,000" in out
    assert titles == ["Figure 1 on Fashion-MNIST (64 training images)"]
    summary = check_demo_outputs(tmp_path, out, epochs=1)
    assert summary["runs"]["tanh"]["lr"] == 0.05


def test_without_any_dataset_the_error_says_how_to_get_one(capsys, tmp_path, cifar_offline,
                                                           monkeypatch):
    def load_fashion_mnist(root=None):
        raise FileNotFoundError("load_fashion_mnist: Fashion-MNIST not found. Install it with "
                                "`sudo apt-get install dataset-fashion-mnist`")

    monkeypatch.setattr(loader, "load_fashion_mnist", load_fashion_mnist)
    code, out, err = run(["relu-vs-tanh", "--out", str(tmp_path)], capsys)
    assert code == 1 and "Traceback" not in err
    assert err.startswith("python -m tinyalex relu-vs-tanh: error: Neither CIFAR-10 nor "
                          "Fashion-MNIST is available; get one of them.")
    assert OFFLINE in err and "apt-get install dataset-fashion-mnist" in err
    assert not any(tmp_path.iterdir())


def test_relu_vs_tanh_refuses_an_unwritable_folder_before_reading_the_data(capsys, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(relu_vs_tanh, "load_dataset", lambda *args, **kwargs: pytest.fail("read"))
    (tmp_path / "afile").write_text("")
    code, _, err = run(["relu-vs-tanh", "--out", str(tmp_path / "afile" / "run")], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "relu-vs-tanh: error: cannot make the folder" in err


def test_an_explicit_cifar10_never_falls_back_outside_the_demo(cifar_offline):
    with pytest.raises(FileNotFoundError, match="could not download"):
        loader.load_dataset("cifar10")


# --------------------------------------------------------------------------------------------
# train


def train_args(out, *more):
    return ["train", "--dataset", "fashion-mnist", "--subset", "96", "--val-subset", "32",
            "--batch-size", "32", "--out", str(out), "--quiet", *more]


@pytest.mark.fashion_mnist
def test_train_resumes_bit_for_bit_from_the_command_line(capsys, tmp_path, monkeypatch):
    assert run(train_args(tmp_path / "whole", "--epochs", "2"), capsys)[0] == 0
    assert run(train_args(tmp_path / "cut", "--epochs", "1"), capsys)[0] == 0
    reads = []  # the resumed checkpoint's arrays are read once (AlexNet's are 0.5 GB)

    def counted(path, meta_only=False):
        reads.append(meta_only)
        return load_checkpoint(path, meta_only)

    monkeypatch.setattr(train, "load_checkpoint", counted)
    code, out, _ = run(["train", "--resume", str(tmp_path / "cut" / "last.npz"), "--epochs", "2",
                        "--quiet"], capsys)
    assert code == 0 and "resumed from" in out and "after epoch 1" in out
    assert reads == [True, False]
    whole, whole_meta = load_checkpoint(tmp_path / "whole" / "last.npz")
    cut, cut_meta = load_checkpoint(tmp_path / "cut" / "last.npz")
    assert sorted(whole) == sorted(cut) and cut_meta["epoch"] == 2
    for name in whole:
        np.testing.assert_array_equal(cut[name], whole[name], err_msg=name)

    def strip(history):
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in history]

    assert strip(cut_meta["history"]) == strip(whole_meta["history"])
    settings = whole_meta["settings"]["config"]
    assert settings["model"] == "figure1" and settings["augment"] and settings["lr"] == 0.01


@pytest.mark.fashion_mnist
def test_train_resume_refuses_to_change_the_run(capsys, tmp_path):
    assert run(train_args(tmp_path, "--epochs", "1"), capsys)[0] == 0
    code, _, err = run(["train", "--resume", str(tmp_path / "last.npz"), "--lr", "0.1"], capsys)
    assert code == 2 and "cannot change --lr" in err and err.count("\n") == 1
    code, _, err = run(["train", "--resume", str(tmp_path / "last.npz"), "--devices", "cpu,cpu"],
                       capsys)
    assert code == 2 and err.count("\n") == 1
    assert "is a Figure-1 net on one device; move it with --device, --devices cannot" in err


def fake_checkpoint(path, config=None, **meta):
    """A checkpoint with the metadata of a ``train`` run that has trained no epoch (and no
    weights: enough for what ``--resume`` checks before it loads the dataset)."""
    meta = {"format": FORMAT, "epoch": 0, "history": [], "random": {},
            "settings": {"config": config or {**TRAIN_DEFAULTS, "dataset": "fashion-mnist"}},
            "preprocess": {"scale": 1.0, "size": None, "channels": 1}, **meta}
    save_checkpoint(path, {"preprocess.mean": np.zeros((1, 28, 28))},
                    {k: v for k, v in meta.items() if v is not None})
    return str(path)


@pytest.mark.parametrize("damage, problem", [
    ({"preprocess": None}, "'preprocess' is missing"),
    ({"epoch": "x"}, "'epoch' is not an integer"),
    ({"config": {"model": "figure1"}}, "its settings lack activation, augment, batch_size"),
    ({"random": {"shuffle": {"bit_generator": "PCG64", "state": 7}}},
     "generator 'shuffle' has a state NumPy cannot restore"),
    ({"random": {"shuffle": {"bit_generator": "Generator"}}},
     "generator 'shuffle' has a state NumPy cannot restore"),
])
def test_train_resume_of_a_damaged_checkpoint_is_a_one_line_error(capsys, tmp_path, damage,
                                                                  problem):
    last = fake_checkpoint(tmp_path / "last.npz", **damage)
    code, _, err = run(["train", "--resume", last], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"train --resume: {last} is damaged: {problem}" in err


def test_train_resume_takes_subset_all_for_the_default(capsys, tmp_path, monkeypatch):
    """--subset all and no --subset are the same run: resuming with either is no change."""
    resumed = []
    monkeypatch.setattr(recipe, "run_training", lambda config, resume: resumed.append(config))
    last = fake_checkpoint(tmp_path / "last.npz")
    code, _, err = run(["train", "--resume", last, "--subset", "all", "--val-subset", "all"],
                       capsys)
    assert code == 0, err
    assert resumed[0]["subset"] is None and resumed[0]["val_subset"] is None
    code, _, err = run(["train", "--resume", last, "--subset", "96"], capsys)
    assert code == 2 and "cannot change --subset" in err


def test_train_resume_does_not_overwrite_a_run_that_went_further(capsys, tmp_path, monkeypatch):
    """Resuming from best.npz (or a copy of an earlier epoch) writes into its folder: where
    that folder's last.npz holds more epochs, they would be lost, so --out must be given."""
    resumed = []
    monkeypatch.setattr(recipe, "run_training", lambda config, resume: resumed.append(config))
    rows = [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]
    best = fake_checkpoint(tmp_path / "best.npz", epoch=1, history=rows[:1])
    fake_checkpoint(tmp_path / "last.npz", epoch=3, history=rows)
    code, _, err = run(["train", "--resume", best, "--epochs", "4"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert (f"{tmp_path / 'last.npz'} holds a run of 3 epochs, and resuming from {best} (after epoch 1) "
            "would overwrite it; give --out for the resumed run") in err
    code, _, err = run(["train", "--resume", best, "--epochs", "4", "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    code, _, err = run(["train", "--resume", str(tmp_path / "last.npz"), "--epochs", "4"], capsys)
    assert code == 0, err  # last.npz itself goes on
    assert [config["out"] for config in resumed] == [str(tmp_path / "b"), str(tmp_path)]


@pytest.mark.fashion_mnist
def test_train_resume_tells_given_options_from_defaults(capsys, tmp_path):
    """An option given with its default value is still given: --epochs 10 trains on to 10,
    and --lr 0.01 (the default) cannot replace a checkpoint's 0.02."""
    assert run(train_args(tmp_path, "--epochs", "1", "--lr", "0.02"), capsys)[0] == 0
    last = str(tmp_path / "last.npz")
    code, _, err = run(["train", "--resume", last, "--lr", "0.01"], capsys)
    assert code == 2 and "cannot change --lr" in err
    code, _, err = run(["train", "--resume", last, "--seed", "0", "--model", "figure1"], capsys)
    assert code == 0, err  # the checkpoint's own values
    assert load_checkpoint(last)[1]["epoch"] == 1  # no --epochs: the checkpoint's 1, done
    code, out, _ = run(["train", "--resume", last, "--epochs", "10", "--quiet"], capsys)
    assert code == 0 and "after epoch 1" in out and "nothing left" not in out
    assert load_checkpoint(last)[1]["epoch"] == 10
    code, out, _ = run(["train", "--resume", last, "--epochs", "10", "--quiet"], capsys)
    assert code == 0 and "after epoch 10 of 10: nothing left to train" in out
    code, _, err = run(["train", "--resume", last, "--epochs", "3"], capsys)
    assert code == 2 and "has trained 10 epochs already, more than --epochs 3" in err


@pytest.mark.fashion_mnist
def test_train_a_small_alexnet_on_two_logical_devices(capsys, tmp_path):
    code, out, _ = run(["train", "--dataset", "fashion-mnist", "--model", "alexnet", "--width",
                        "0.0625", "--input-size", "67", "--devices", "cpu:0,cpu:1", "--subset",
                        "32", "--val-subset", "16", "--batch-size", "16", "--epochs", "1",
                        "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    assert "train: AlexNet" in out and "67x67 inputs" in out
    assert "random 67x67 crops, horizontal flips" in out and "PCA" not in out  # grey images
    history = json.loads((tmp_path / "history.json").read_text())["epochs"]
    assert len(history) == 1 and 0 <= history[0]["val_top1"] <= 1
    arrays, _ = load_checkpoint(tmp_path / "last.npz")
    assert "model.tower1.conv1.weight" in arrays and arrays["preprocess.mean"].shape == (3, 76, 76)
    code, out, _ = run(["train", "--resume", str(tmp_path / "last.npz"), "--epochs", "2", "--quiet"],
                       capsys)  # the towers' devices come from the checkpoint
    assert code == 0 and "after epoch 1" in out
    assert load_checkpoint(tmp_path / "last.npz")[1]["epoch"] == 2
    code, _, err = run(["train", "--resume", str(tmp_path / "last.npz"), "--epochs", "3",
                        "--device", "cpu"], capsys)
    assert code == 2 and "has two towers; move them with --devices A,B, not --device" in err
    assert load_checkpoint(tmp_path / "last.npz")[1]["epoch"] == 2


@pytest.mark.fashion_mnist
def test_training_that_diverges_is_one_line_and_exit_code_1(capsys, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow warnings would come before the line
        code, _, err = run(train_args(tmp_path, "--epochs", "2", "--lr", "1e6"), capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("python -m tinyalex train: error: training diverged in epoch 1")
    assert "1e+06" in err and "Lower the learning rate" in err


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_code_1(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, out, err = run(train_args(tmp_path / "file" / "run", "--epochs", "1"), capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("python -m tinyalex train: error:") and "a file stands where one of the folders above it should be" in err
    assert "epoch 1" not in out  # it failed before training


def test_an_output_folder_is_checked_before_the_data_are_read(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    reads = []
    monkeypatch.setattr(recipe, "load_dataset", lambda *args, **kwargs: reads.append(args))
    code, _, err = run(train_args(tmp_path / "file" / "run", "--epochs", "1"), capsys)
    assert code == 1 and "a file stands where one of the folders above it should be" in err
    assert reads == []


def test_train_on_an_image_folder(capsys, tmp_path, rng):
    from PIL import Image

    for split, count in (("train", 6), ("val", 2)):
        for label, name in enumerate(("cats", "dogs")):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 120, (40, 48, 3)) + 100 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    code, out, _ = run(["train", "--dataset", str(tmp_path / "images"), "--image-size", "32",
                        "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 0
    assert f"{tmp_path / 'images'}, all 12 training images (3x32x32), 4 test images" in out
    assert "random 28x28 crops, horizontal flips, PCA colour noise" in out
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]) == 1
    code, _, err = run(["train", "--dataset", str(tmp_path / "images"), "--image-size", "17",
                        "--out", str(tmp_path / "small"), "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert ("the Figure-1 net takes inputs of at least 15 pixels, and images of 17 pixels give 14 "
            "(random crops of the paper's 224/256 share): use images of at least 18 pixels "
            "(--image-size)") in err


def test_a_corrupt_dataset_file_is_a_failed_run_exit_code_1(capsys, tmp_path):
    for split in ("train", "val"):
        for name in ("cats", "dogs"):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            (folder / "0.png").write_bytes(b"not a png at all")
    code, _, err = run(["train", "--dataset", str(tmp_path / "images"), "--epochs", "1",
                        "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "cannot decode" in err and "0.png" in err


def test_dataset_description_names_what_the_run_uses():
    images = np.zeros((10, 1, 4, 4), np.uint8)
    data = loader.Dataset("Tiny", images, np.arange(10) % 2, images[:3], np.zeros(3, np.int64),
                          classes=("a", "b")).subset(4, None)
    assert data.describe() == "Tiny, 4 of its 10 training images (1x4x4), 3 test images"
    assert data.describe(test=False) == "Tiny, 4 of its 10 training images (1x4x4)"


def test_subsets_draw_the_test_images_apart_from_the_training_images():
    """Runs on 30 or 60 training images (same seed) are validated on the same 10 test images."""
    images = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
    data = loader.Dataset("Tiny", images, np.zeros(100, np.int64), images, np.zeros(100, np.int64),
                          classes=("a",))
    picks = [data.subset(n, 10, seed=3) for n in (None, 30, 60)]
    assert all(np.array_equal(p.test_images, picks[0].test_images) for p in picks)
    expected = np.sort(np.random.default_rng(3).choice(100, 30, replace=False))
    assert np.array_equal(picks[1].train_images.ravel(), expected)  # the training draw as before
    assert not np.array_equal(data.subset(30, 10, seed=4).test_images, picks[0].test_images)
    for bad in (0, 101, 2.5, True, "10"):
        with pytest.raises(ValueError, match=rf"Dataset.subset: Tiny has 100 train images; cannot "
                                             rf"take a subset of {bad!r}"):
            data.subset(bad)


# --------------------------------------------------------------------------------------------
# gradcheck


def test_gradcheck_passes_on_every_op(capsys):
    code, out, _ = run(["gradcheck"], capsys)
    assert code == 0 and "== conv2d" in out and "== lrn" in out
    assert out.strip().splitlines()[-1].startswith("largest relative error:") and "(ok:" in out


def test_small_positive_numbers_are_positive():
    """Any number above 0 is a learning rate or a tolerance (1e-13 was refused as not positive)."""
    assert main_module.RATE("1e-13") == 1e-13 and main_module.FRACTION("1e-300") == 1e-300


@pytest.mark.parametrize("bad", [math.nan, 1e-3])
def test_gradcheck_fails_on_a_large_or_nan_error(capsys, monkeypatch, bad):
    """A NaN error among good ones must fail the command, as a large one does."""
    from tinyalex import gradcheck

    rows = [gradcheck.GradcheckRow("x", (2,), 1e-9, 1e-9), gradcheck.GradcheckRow("w", (2,), bad, bad)]
    monkeypatch.setattr(gradcheck, "check_all_ops",
                        lambda seed, device: {"op": gradcheck.GradcheckResult(rows)})
    code, out, _ = run(["gradcheck"], capsys)
    assert code == 1 and "FAILED" in out
