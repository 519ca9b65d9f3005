"""The training loop: it learns, it reports top-1/top-5, it writes a consistent history, it
resumes bit for bit, and it stops with a clear message when training diverges."""

import csv
import json
import warnings

import numpy as np
import pytest

from tinyalex import train
from tinyalex.batches import Augment, Preprocess
from tinyalex.checkpoint import load_checkpoint, save_checkpoint
from tinyalex.data import transforms
from tinyalex.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinyalex.metrics import top1_top5
from tinyalex.train import COLUMNS, TIMINGS, Diverged, Trainer, evaluate, random_generators

CLASSES = 6


def synthetic(n, seed, side=8):
    """uint8 ``(n, 3, side, side)`` noise; class ``k`` brightens channel ``k % 3`` in the top
    (``k < 3``) or the bottom half of the image, so crops and flips keep the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.integers(0, 80, (n, 3, side, side))
    for i, label in enumerate(labels):
        rows = slice(0, side // 2) if label < 3 else slice(side // 2, side)
        images[i, label % 3, rows] += 150
    return images.astype(np.uint8), labels


def tiny_model(seed=0, dropout=True, side=6, dtype=np.float32):
    """conv 3x3 -> ReLU -> pool 2/2 -> fc 16 -> ReLU -> [dropout] -> fc 6, for side x side inputs."""
    rng = np.random.default_rng(seed)
    layers = {"conv": Conv2d(3, 4, 3, padding=1, rng=rng, weight_std="fan_in", dtype=dtype),
              "relu": ReLU(), "pool": MaxPool2d(2, 2), "flat": Flatten(),
              "fc1": Linear(4 * (side // 2) ** 2, 16, rng=rng, weight_std="fan_in", dtype=dtype),
              "relu1": ReLU()}
    if dropout:
        layers["drop"] = Dropout(0.5, rng=seed + 1)
    layers["fc2"] = Linear(16, CLASSES, rng=rng, weight_std="fan_in", dtype=dtype)
    return Sequential(layers, input_shape=(3, side, side))


@pytest.fixture(scope="module")
def data():
    train, val = synthetic(200, 1), synthetic(60, 2)
    return train, val, Preprocess.fit(train[0])


def make_trainer(data, out=None, model_seed=0, **options):
    train, val, preprocess = data
    settings = dict(val=val, lr=0.05, weight_decay=5e-4, batch_size=32, seed=3, verbose=False,
                    augment=Augment(crop=6, flip=True, pca=transforms.fit_pca(train[0]),
                                    scale=preprocess.scale))
    settings.update(options)
    return Trainer(tiny_model(model_seed), train, preprocess, out=out, **settings)


def without_timings(history):
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in history]


def assert_load_refused(trainer, path, match):
    """``trainer.load(path)`` fails with a ``ValueError`` matching ``match``, having restored
    nothing (the weights and the epoch are as they were)."""
    before = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        trainer.load(path)
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert trainer.epoch == 0


def test_training_lowers_the_loss_and_the_error(data):
    history = make_trainer(data, measure_train=True).fit(6)
    assert [row["epoch"] for row in history] == list(range(1, 7))
    assert history[-1]["running_loss"] < 0.5 * history[0]["running_loss"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_top1"] < 0.1 < history[0]["running_top1"]


def test_a_float64_model_trains_in_float64(data):
    """``Preprocess`` makes float32 batches; a float64 model gets them as float64 (before, its
    first layer refused the mixed dtypes), and its weights, gradients and velocities stay so."""
    train, val, preprocess = data
    model = tiny_model(dtype=np.float64)
    trainer = Trainer(model, train, preprocess, val=val, ten_crop=True, batch_size=50,
                      augment=Augment(crop=6), verbose=False)
    history = trainer.fit(2)
    assert history[-1]["running_loss"] < history[0]["running_loss"]
    assert {a.dtype for a in [*model.params.values(), *model.grads.values(),
                              *trainer.optimizer.state_dict().values()]} == {np.dtype(np.float64)}


def test_top1_and_top5_are_those_of_the_models_outputs(data):
    _, (images, labels), preprocess = data
    model = tiny_model(5)
    result = evaluate(model.train(), images, labels, preprocess, batch_size=16)
    assert model.training  # the mode is restored
    model.eval()
    logits = np.asarray(model.forward(transforms.center_crop(preprocess(images), 6)))
    top1, top5 = top1_top5(logits, labels)
    assert result["top1"] == pytest.approx(top1) and result["top5"] == pytest.approx(top5)
    assert 0 < result["top5"] < result["top1"]  # an untrained net: both measured, top-5 lower
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert result["loss"] == pytest.approx(-log_p[np.arange(len(labels)), labels].mean(), rel=1e-5)


def test_ten_crop_evaluation_averages_the_softmax_of_the_ten_patches(data):
    _, (images, labels), preprocess = data
    model = tiny_model(5).eval()
    result = evaluate(model, images, labels, preprocess, batch_size=40, ten_crop=True)

    def predict(x):
        z = np.asarray(model.forward(x))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    probabilities = transforms.ten_crop_predict(predict, preprocess(images), 6)
    assert result["top1"] == pytest.approx(top1_top5(probabilities, labels)[0])
    assert result["loss"] == pytest.approx(-np.log(probabilities[np.arange(60), labels]).mean(), rel=1e-5)


def test_ten_crop_evaluation_survives_probabilities_below_float32s_range(data):
    """A class whose probability underflows to 0 in all ten patches (a logit 150 below the
    others) still has a finite log-probability: the loss stays finite and that class, the
    least likely, does not tie with the label for top-5 (averaged as plain probabilities,
    its log was -inf: an infinite loss and every such label a top-5 hit)."""
    _, (images, labels), preprocess = data
    model = tiny_model(5).eval()
    model.params["fc2.bias"][0] = 150  # class 0 takes all the probability
    keep = labels != 0
    images, labels = images[keep], labels[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "divide by zero encountered in log"
        ten = evaluate(model, images, labels, preprocess, batch_size=40, ten_crop=True)
    centre = evaluate(model, images, labels, preprocess, batch_size=40)

    def log_softmax(x):
        z = np.asarray(model.forward(x), dtype=np.float64)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    exact = np.log(transforms.ten_crop_predict(lambda x: np.exp(log_softmax(x)), preprocess(images), 6))
    assert 140 < ten["loss"] < 160 and 140 < centre["loss"] < 160
    assert ten["loss"] == pytest.approx(-exact[np.arange(len(labels)), labels].mean(), rel=1e-5)
    assert ten["top5"] == pytest.approx(top1_top5(exact, labels)[1]) and ten["top5"] > 0


def test_history_files_and_checkpoints(data, tmp_path):
    trainer = make_trainer(data, out=tmp_path, measure_train=True)
    history = trainer.fit(3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "history.csv",
                                                           "history.json", "last.npz"]
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 3
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["epochs"] == history and saved["settings"]["batch_size"] == 32
    for row, line in zip(history, rows):
        assert set(row) == set(COLUMNS)
        for key in COLUMNS:
            assert float(line[key]) == pytest.approx(row[key], rel=1e-12)
        for prefix in ("running", "train", "val"):
            assert 0 <= row[f"{prefix}_top5"] <= row[f"{prefix}_top1"] <= 1
    _, meta = load_checkpoint(tmp_path / "last.npz")
    assert meta["epoch"] == 3 and meta["history"] == history
    best = min(history, key=lambda row: row["val_top1"])
    _, meta = load_checkpoint(tmp_path / "best.npz")
    assert meta["epoch"] == best["epoch"]


def test_history_leaves_unmeasured_columns_empty(data, tmp_path):
    train, _, preprocess = data
    Trainer(tiny_model(), train, preprocess, batch_size=64, verbose=False, out=tmp_path).fit(1)
    with open(tmp_path / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert row["val_top1"] == row["train_top1"] == "" and float(row["running_top1"]) > 0
    assert json.loads((tmp_path / "history.json").read_text())["epochs"][0]["val_top1"] is None
    assert not (tmp_path / "best.npz").exists()  # best needs a validation error


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(data, tmp_path):
    # Dropout in the model, crops + flips + PCA colour noise, and a schedule that fires.
    whole = make_trainer(data, out=tmp_path / "whole", patience=1)
    whole.fit(4)
    assert "drop" in random_generators(whole.model)
    make_trainer(data, out=tmp_path / "cut").fit(2)

    fresh = make_trainer(data, out=tmp_path / "cut", model_seed=99)  # other weights: load replaces them
    fresh.load(tmp_path / "cut" / "last.npz")
    assert fresh.epoch == 2 and len(fresh.history) == 2
    fresh.fit(4)
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(fresh.model.state_dict()[name], value, err_msg=name)
    for name, value in whole.optimizer.state_dict().items():
        np.testing.assert_array_equal(fresh.optimizer.state_dict()[name], value, err_msg=name)
    assert without_timings(fresh.history) == without_timings(whole.history)
    assert len({row["lr"] for row in whole.history}) > 1  # the schedule did divide the rate
    assert without_timings(load_checkpoint(tmp_path / "cut" / "last.npz")[1]["history"]) == \
        without_timings(whole.history)


def test_resume_depends_on_the_dropout_generators_state(data, tmp_path):
    """The check above can fail: a dropout generator not restored changes the result."""
    whole = make_trainer(data)
    whole.fit(2)
    cut = make_trainer(data, out=tmp_path)
    cut.fit(1)
    fresh = make_trainer(data).load(tmp_path / "last.npz")
    random_generators(fresh.model)["drop"].bit_generator.state = \
        np.random.default_rng(12345).bit_generator.state
    fresh.fit(2)
    assert not np.array_equal(fresh.model.state_dict()["fc2.weight"],
                              whole.model.state_dict()["fc2.weight"])


def test_resume_with_a_dropout_generator_of_another_kind(data, tmp_path):
    """A dropout layer may draw from any NumPy generator, not only ``default_rng``'s PCG64: its
    checkpoint loads and training goes on as if never stopped. A state for another kind of
    generator is refused, naming the generator, before anything is restored."""
    def trainer(seed, **options):
        made = make_trainer(data, **options)
        made.model.layers["drop"].rng = np.random.Generator(np.random.PCG64DXSM(seed))
        return made

    whole = trainer(1)
    whole.fit(2)
    trainer(1, out=tmp_path).fit(1)
    fresh = trainer(99).load(tmp_path / "last.npz")  # another seed: load replaces its state
    fresh.fit(2)
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(fresh.model.state_dict()[name], value, err_msg=name)
    assert without_timings(fresh.history) == without_timings(whole.history)

    assert_load_refused(make_trainer(data), tmp_path / "last.npz",  # a PCG64 dropout generator
                        "holds a PCG64DXSM state for the generator 'layer drop', which is a "
                        "PCG64 in this trainer$")


def test_numpy_scalar_arguments_go_into_the_checkpoint_as_python_numbers(data, tmp_path):
    """Each setting is recorded as checked (a Python number), not as given: NumPy scalars,
    which JSON refuses, used to crash the first save, after a whole epoch of training."""
    trainer = make_trainer(data, out=tmp_path, lr=np.float32(0.05), momentum=np.float32(0.9),
                           weight_decay=np.float32(5e-4), patience=np.int64(1),
                           seed=np.int64(3), measure_train=np.bool_(True), ten_crop=np.bool_(False))
    trainer.fit(1)
    settings = load_checkpoint(tmp_path / "last.npz")[1]["settings"]
    assert settings["lr"] == float(np.float32(0.05)) and settings["seed"] == 3
    assert settings["measure_train"] is True and settings["ten_crop"] is False
    make_trainer(data, lr=np.float32(0.05), momentum=np.float32(0.9),
                 weight_decay=np.float32(5e-4), measure_train=True).load(tmp_path / "last.npz")


def test_load_refuses_a_checkpoint_of_another_run(data, tmp_path):
    make_trainer(data, out=tmp_path).fit(1)
    with pytest.raises(ValueError, match="batch_size=32 there, 16 here"):
        make_trainer(data, batch_size=16).load(tmp_path / "last.npz")
    # The starting rate too: the checkpoint's rate would replace lr= without a word.
    with pytest.raises(ValueError, match="lr=0.05 there, 0.5 here"):
        make_trainer(data, lr=0.5).load(tmp_path / "last.npz")
    train, val, _ = data
    other = Trainer(tiny_model(), train, Preprocess.fit(val[0]), val=val, lr=0.05,
                    weight_decay=5e-4, batch_size=32, seed=3, verbose=False)
    with pytest.raises(ValueError, match="preprocessing"):
        other.load(tmp_path / "last.npz")
    save_checkpoint(tmp_path / "other.npz", {"x": np.zeros(1)}, {"epoch": 1})
    with pytest.raises(ValueError, match="not a training checkpoint"):
        make_trainer(data).load(tmp_path / "other.npz")


def test_load_takes_a_checkpoint_from_before_the_starting_rate_was_recorded(data, tmp_path):
    make_trainer(data, out=tmp_path).fit(1)
    arrays, meta = load_checkpoint(tmp_path / "last.npz")
    del meta["settings"]["lr"]
    save_checkpoint(tmp_path / "older.npz", arrays, meta)
    trainer = make_trainer(data, lr=0.5).load(tmp_path / "older.npz")
    assert trainer.optimizer.lr == 0.05  # the checkpoint's rate, as always


def test_load_refuses_a_checkpoint_of_another_network_or_augmentation(data, tmp_path):
    """Layers without parameters (an activation, a dropout rate) change what a network computes
    as much as a weight's shape does: the checkpoint names every layer's hyper-parameters."""
    make_trainer(data, out=tmp_path).fit(1)
    last = tmp_path / "last.npz"
    trainer = make_trainer(data)
    trainer.model.layers["drop"].p = 0.25  # Dropout(0.5) there
    with pytest.raises(ValueError, match=r"the network differs in 1 layer\(s\), first drop: "
                                         r"Dropout\(p=0.5, inverted=False\) there, drop: "
                                         r"Dropout\(p=0.25, inverted=False\) here"):
        trainer.load(last)
    with pytest.raises(ValueError, match=r"the augmentation differs: random 6x6 crops, horizontal "
                                         r"flips, PCA colour noise \(eigenvalues [\d.e-]+, [\d.e-]+, "
                                         r"[\d.e-]+; input scale [\d.]+\) there, none here"):
        make_trainer(data, augment=Augment(flip=False)).load(last)
    train, _, preprocess = data
    pca = transforms.fit_pca(train[0])
    for stronger in (Augment(crop=6, pca=pca, scale=75 * preprocess.scale),  # another scale
                     Augment(crop=6, pca=(100 * pca[0], pca[1]), scale=preprocess.scale)):
        with pytest.raises(ValueError, match="the augmentation differs: .* PCA colour noise"):
            make_trainer(data, augment=stronger).load(last)
    with pytest.raises(ValueError, match="the augmentation differs"):
        make_trainer(data, augment=None).load(last)
    make_trainer(data).load(last)  # the same run loads
    make_trainer(data, augment=lambda x, rng: x).load(last)  # a hook of one's own: not compared
    arrays, meta = load_checkpoint(last)
    del meta["settings"]["architecture"]  # as checkpoints written before it was recorded
    meta["settings"]["augment"] = "random 6x6 crops, horizontal flips, PCA colour noise"  # likewise
    save_checkpoint(tmp_path / "older.npz", arrays, meta)
    trainer.load(tmp_path / "older.npz")


@pytest.mark.parametrize("damage, problem", [
    (lambda meta: meta.pop("preprocess"), "'preprocess' is missing"),
    (lambda meta: meta.update(epoch="1"), "'epoch' is not an integer"),
    (lambda meta: meta.update(epoch=True), "'epoch' is not an integer"),
    (lambda meta: meta.update(epoch=2), "epoch 2 with 1 rows of history"),
    (lambda meta: meta.update(settings=[]), "'settings' is not a dict"),
    (lambda meta: meta["preprocess"].pop("scale"), "preprocess 'scale' is missing"),
    (lambda meta: meta.update(history=[[]]), "a row of its history is not a dict"),
    (lambda meta: meta["random"]["shuffle"].pop("state"), "generator 'shuffle' has a state NumPy cannot restore"),
    (lambda meta: meta["random"].update({"layer drop": 7}), "generator 'layer drop' has a state NumPy cannot restore"),
])
def test_load_names_what_is_damaged_in_a_checkpoint(data, tmp_path, damage, problem):
    make_trainer(data, out=tmp_path).fit(1)
    arrays, meta = load_checkpoint(tmp_path / "last.npz")
    damage(meta)
    save_checkpoint(tmp_path / "damaged.npz", arrays, meta)
    with pytest.raises(ValueError, match=f"Trainer.load: .*damaged.npz is damaged: {problem}"):
        make_trainer(data).load(tmp_path / "damaged.npz")


def test_load_refuses_a_checkpoint_without_the_schedule_before_restoring_anything(data, tmp_path):
    make_trainer(data, out=tmp_path, val=None).fit(1)  # no validation data: no schedule
    assert_load_refused(make_trainer(data), tmp_path / "last.npz",
                        "written by a run without a learning-rate schedule .* this trainer has one")


def test_the_trainers_own_arrays_are_made_on_the_models_device(data, monkeypatch):
    """CuPy makes arrays and runs kernels on the *current* GPU, which need not be the model's (a
    model on cuda:1, a second tower's weights): every step, evaluated batch and check of the
    weights makes its arrays' device current first. On a CPU that changes nothing, so the test
    records what is asked for: the model's device, for each of the 7 training batches, the 2
    validation batches, and the 6 weight arrays (and the logits) checked to be finite."""
    entered = []
    real = train.on_device
    monkeypatch.setattr(train, "on_device", lambda device: entered.append(device) or real(device))
    trainer = make_trainer(data)
    trainer.fit(1)
    assert set(entered) == {trainer.model.device} and len(entered) >= 7 + 2 + 6 + 9


def test_an_output_folder_that_cannot_be_written_fails_before_training(data, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        make_trainer(data, out=tmp_path / "file" / "run")


def test_divergence_stops_training_with_a_clear_message(data, tmp_path):
    trainer = make_trainer(data, out=tmp_path)
    trainer.fit(1)
    trainer.optimizer.lr = 1e12
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the message, not NumPy's overflow warnings
        with pytest.raises(Diverged, match=r"diverged in epoch 2, batch \d+ of 7: .* not finite .* "
                                           r"Lower the learning rate \(now 1e\+12; e\.g\. 1e\+11\)"):
            trainer.fit(2)
    assert load_checkpoint(tmp_path / "last.npz")[1]["epoch"] == 1  # the last good epoch is kept


def test_finite_logits_whose_loss_overflows_stop_training_without_warnings(data):
    """Logits of +-3e38 are finite, but their softmax's arithmetic overflows: the loss's
    Diverged says so, and NumPy's overflow warnings stay silenced there too."""
    trainer = make_trainer(data, augment=None)
    trainer.model.params["fc2.bias"][:] = np.where(np.arange(CLASSES) % 2, 3e38, -3e38)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Diverged, match=r"diverged in epoch 1, batch 1 of 7: the loss is inf"):
            trainer.fit(1)


def test_weights_that_the_last_step_made_infinite_stop_training(data, tmp_path):
    """With no evaluation to notice, the end of the epoch does: no checkpoint of such weights."""
    train, _, preprocess = data
    model = tiny_model()
    trainer = Trainer(model, train, preprocess, batch_size=200, out=tmp_path, verbose=False)
    update = trainer.optimizer.step

    def overflowing_update(grads):  # as an update whose product overflows float32 would
        update(grads)
        model.params["fc2.weight"][0, 0] = np.inf

    trainer.optimizer.step = overflowing_update
    with pytest.raises(Diverged, match=r"diverged in epoch 1: after its last batch the weights "
                                       r"are not finite numbers\. Lower the learning rate \(now 0\.01; e\.g\. 0\.001\)"):
        trainer.fit(1)
    assert not (tmp_path / "last.npz").exists()


def test_divergence_after_the_last_step_is_caught_by_the_evaluation(data):
    train, val, preprocess = data
    model = tiny_model()
    model.params["fc2.bias"][0] = np.nan
    with pytest.raises(Diverged, match="evaluate: the network's outputs are not finite"):
        evaluate(model, *val, preprocess)
    trainer = Trainer(model, train, preprocess, val=val, batch_size=500, verbose=False)
    trainer._train_epoch = lambda epoch, epochs: {"epoch": epoch, "lr": 0.01}  # skip the step
    with pytest.raises(Diverged, match="diverged in epoch 1: after its last step"):
        trainer.fit(1)


def test_bad_data_is_refused(data):
    train, _, preprocess = data
    with pytest.raises(ValueError, match="Trainer: training images must be uint8"):
        Trainer(tiny_model(), (train[0].astype(np.float32), train[1]), preprocess)
    with pytest.raises(ValueError, match=r"Trainer: validation labels must be integers of shape \(3,\)"):
        Trainer(tiny_model(), train, preprocess, val=(train[0][:3], train[1][:2]))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        Trainer(tiny_model(), train, preprocess, batch_size=0)
    with pytest.raises(ValueError, match="Trainer: training images: none given"):
        Trainer(tiny_model(), (train[0][:0], train[1][:0]), preprocess)


@pytest.mark.parametrize("option, problem", [
    ({"seed": -1}, "seed must be an int >= 0, got -1"),
    ({"patience": 0}, "patience must be an int >= 1, got 0"),  # without validation data too
    ({"measure_train": "no"}, "measure_train must be True or False, got 'no'"),
    ({"ten_crop": 1}, "ten_crop must be True or False, got 1"),
])
def test_bad_settings_are_refused(data, option, problem):
    train, _, preprocess = data
    with pytest.raises(ValueError, match=f"Trainer: {problem}"):
        Trainer(tiny_model(), train, preprocess, **option)


def test_an_output_folder_that_cannot_be_made_is_named_at_once(data, tmp_path):
    """Before training starts, with what stands in the way (not just '[Errno 17] File exists')."""
    train, _, preprocess = data
    (tmp_path / "afile").write_text("")
    with pytest.raises(FileExistsError, match=r"cannot make the folder .*afile: a file of that name is there"):
        Trainer(tiny_model(), train, preprocess, out=tmp_path / "afile")
    with pytest.raises(NotADirectoryError, match=r"cannot make the folder .*afile/runs: a file stands "
                                                 r"where one of the folders above it should be"):
        Trainer(tiny_model(), train, preprocess, out=tmp_path / "afile" / "runs")


def test_labels_out_of_range_are_refused_before_training(data):
    """Before, a validation label of 6 for 6 classes was a bare IndexError after an epoch."""
    train, (images, labels), preprocess = data
    model = tiny_model()
    for bad, got in ((labels + 1, "from 1 to 6"), (labels - 1, "from -1 to 4")):
        with pytest.raises(ValueError, match=r"Trainer: validation labels must be 0\.\.5 \(the "
                                             rf"model has 6 outputs\), got labels {got}"):
            Trainer(model, train, preprocess, val=(images, bad))
        with pytest.raises(ValueError, match=rf"evaluate: labels must be 0\.\.5 .* {got}"):
            evaluate(model, images, bad, preprocess)
    with pytest.raises(ValueError, match=r"Trainer: training labels must be 0\.\.5"):
        Trainer(model, (train[0], train[1] + 6), preprocess)
    with pytest.raises(ValueError, match=r"evaluate: labels must be integers of shape \(60,\), got float64"):
        evaluate(model, images, labels.astype(float), preprocess)
    model.input_shape = None  # the number of classes unknown: only negative labels are sure to be wrong
    with pytest.raises(ValueError, match="Trainer: validation labels must be >= 0, got labels from -1"):
        Trainer(model, train, preprocess, val=(images, labels - 1))
    with pytest.raises(ValueError, match=r"evaluate: labels must be 0\.\.5 \(the model has 6 outputs\)"):
        small = images[:, :, 1:7, 1:7]  # the model's size: no crop without an input_shape
        evaluate(model, small, labels + 1, Preprocess.fit(small))  # known at the first batch


def test_ten_crop_cuts_the_preprocessed_batch(data):
    """Ten patches are cut from the batch ``preprocess`` returns, even where it resizes small
    images up to more than the model's input (as the command line does for Fashion-MNIST)."""
    _, (images, labels), _ = data
    small = images[:, :, 1:7, 1:7]  # 6x6: the model's size, resized to 8x8 by preprocess
    preprocess = Preprocess.fit(small, size=8)
    model = tiny_model(5).eval()
    ten = evaluate(model, small, labels, preprocess, batch_size=40, ten_crop=True)
    centre = evaluate(model, small, labels, preprocess, batch_size=40)
    assert ten["loss"] != centre["loss"]

    def predict(x):
        z = np.asarray(model.forward(x))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    probabilities = transforms.ten_crop_predict(predict, preprocess(small), 6)
    assert ten["loss"] == pytest.approx(-np.log(probabilities[np.arange(60), labels]).mean(), rel=1e-5)


def test_ten_crop_needs_a_patch_size(data):
    train, (images, labels), preprocess = data
    model = tiny_model(5)
    model.input_shape = None
    with pytest.raises(ValueError, match="evaluate: ten_crop needs a model with an input_shape"):
        evaluate(model, images, labels, preprocess, ten_crop=True)
    with pytest.raises(ValueError, match="Trainer: ten_crop needs a model with an input_shape"):
        Trainer(model, train, preprocess, ten_crop=True)
