"""The paper's training recipe (§4, §5) for a chosen model on a chosen dataset: what
``python -m tinyalex train`` runs.

A run is described by a plain ``config`` dict (the command line's options, stored in every
checkpoint so that ``--resume`` rebuilds the same run):

* **Model.** ``"figure1"``: ``models.Figure1Net`` (``activation``, ``lrn``), fed crops of the
  dataset's own images. ``"alexnet"``: ``models.AlexNet`` with every layer's width multiplied by
  ``width`` (1.0 is the paper's) and ``input_size`` x ``input_size`` inputs (227 in the paper, at
  least 67), on one device or with ``devices`` on two (one tower each, §3.2). Images of another
  size are resized as they are batched (grey ones repeated to RGB).
* **Preprocessing** (§2, ``batches.Preprocess``): minus the training mean image, divided by
  ``input_scale``: by default the pixels' standard deviation for the Figure-1 net (fan-in
  initialisation) and 1 for AlexNet (the paper's raw centred pixels, for its N(0, 0.01) weights).
* **Augmentation** (§4.1, unless ``augment`` is off): random crops (the paper's 224/256 share of
  the image, e.g. 28 of 32, 24 of 28; 227 of 256 for AlexNet), horizontal flips, and PCA colour
  noise on RGB images (``pca``). Evaluation uses the centre crop, or the ten patches
  (``ten_crop``).
* **Optimisation** (§5): SGD with momentum 0.9 and weight decay 5e-4, batch 128, learning rate
  0.01 divided by 10 when the validation error stops improving (``patience`` epochs), at most
  three times. The dataset's test split is the validation set.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from . import paper
from .batches import Augment, Preprocess
from .checkpoint import load_checkpoint
from .data import transforms
from .loader import load_dataset
from .models import AlexNet, Figure1Net
from .models.alexnet import INPUT_SIZE
from .models.figure1 import MIN_INPUT_SIZE
from .train import Trainer, read_checkpoint, writable_folder

__all__ = ["RESUMABLE", "alexnet_widths", "build_model", "resume_config", "run_training"]

# What --resume may change; everything else comes from the checkpoint.
RESUMABLE = ("epochs", "device", "devices", "out")


def alexnet_widths(width: float) -> tuple:
    """AlexNet's conv kernels and fc units times ``width``, rounded to even numbers >= 2
    (half per tower): ``((96, 256, 384, 384, 256), 4096)`` for 1.0."""
    def even(n):
        return max(2, 2 * round(n * width / 2))

    return tuple(even(c) for c in paper.CONV_CHANNELS), even(paper.FC_HIDDEN)


def _sizes(config: dict, image_side: int) -> tuple:
    """``(R, S)``: the side batches are cut from and the model's input side."""
    if config["model"] == "figure1":
        side = transforms.proportional_crop_size(image_side) if config["augment"] else image_side
        if side < MIN_INPUT_SIZE:
            smallest = (next(s for s in itertools.count(MIN_INPUT_SIZE)
                             if transforms.proportional_crop_size(s) >= MIN_INPUT_SIZE)
                        if config["augment"] else MIN_INPUT_SIZE)
            raise ValueError(
                f"the Figure-1 net takes inputs of at least {MIN_INPUT_SIZE} pixels, and images "
                f"of {image_side} pixels give {side}"
                + (" (random crops of the paper's 224/256 share)" if config["augment"] else "")
                + f": use images of at least {smallest} pixels (--image-size)")
        return image_side, side
    side = config["input_size"]
    return (math.ceil(side * paper.IMAGE_SIZE / INPUT_SIZE) if config["augment"] else side), side


def build_model(config: dict, num_classes: int, channels: int, side: int):
    """The model of ``config`` for ``side`` x ``side`` inputs with ``channels`` channels."""
    common = {"num_classes": num_classes, "seed": config["seed"]}
    if config["weight_std"] is not None:
        common["weight_std"] = config["weight_std"]
    if config["model"] == "figure1":
        return Figure1Net(config["activation"], config["lrn"], in_channels=channels,
                          input_size=side, device=config["device"] or "cpu", inplace=True,
                          **common)
    convs, hidden = alexnet_widths(config["width"])
    return AlexNet(devices=config["devices"] or (config["device"] or "cpu",), input_size=side,
                   channels=convs, hidden=hidden, inplace=True, **common)


def resume_config(path, given: dict, keys, verbose: bool = True) -> dict:
    """The config of the run in checkpoint ``path``, with the ``RESUMABLE`` options that
    ``given`` holds (the options given on the command line; ``out`` defaults to the
    checkpoint's folder) and ``verbose``. ``keys``: every option a config has (the checkpoint
    must hold them all).

    Any other option in ``given`` must equal the checkpoint's: a resumed run is the same run,
    so changing, say, the learning rate is a ``ValueError``. The devices may change, not how
    many there are: ``device`` moves a one-device run, ``devices`` a two-tower one.
    """
    _, meta = read_checkpoint(path, "train --resume", meta_only=True)
    saved = meta["settings"].get("config")
    if not isinstance(saved, dict):
        raise ValueError(f"train --resume: {path} was not written by `python -m tinyalex train`")
    missing = sorted(set(keys) - set(saved))
    if missing:
        raise ValueError(f"train --resume: {path} is damaged: its settings lack "
                         f"{', '.join(missing)}")
    changed = [key for key, value in given.items() if key not in RESUMABLE and value != saved.get(key)]
    if changed:
        raise ValueError(f"train --resume: the run in {path} keeps its own settings; "
                         f"cannot change {', '.join('--' + k.replace('_', '-') for k in changed)}")
    if saved.get("devices") and "device" in given:
        raise ValueError(f"train --resume: the run in {path} has two towers; move them with "
                         "--devices A,B, not --device")
    if not saved.get("devices") and "devices" in given:
        what = "one tower" if saved.get("model") == "alexnet" else "a Figure-1 net"
        raise ValueError(f"train --resume: the run in {path} is {what} on one device; move it "
                         "with --device, --devices cannot split it into two towers")
    done, epochs = meta["epoch"], given.get("epochs", saved["epochs"])  # read_checkpoint: an int
    if epochs < done:
        raise ValueError(f"train --resume: {path} has trained {done} epochs already, more than "
                         f"--epochs {epochs}")
    config = {**saved, "out": str(Path(path).parent), "verbose": verbose}
    config.update({key: given[key] for key in RESUMABLE if key in given})
    _check_no_later_run(path, Path(config["out"]) / "last.npz", done)
    return config


def _check_no_later_run(path, last: Path, done: int) -> None:
    """Resuming from an earlier checkpoint (``best.npz``, a copy) into a folder whose
    ``last.npz`` has gone further would overwrite that run's later epochs and history."""
    if not last.is_file() or last.resolve() == Path(path).resolve():
        return
    try:
        later = load_checkpoint(last, meta_only=True)[1].get("epoch")
    except ValueError:  # not a checkpoint: nothing of a run to lose
        return
    if isinstance(later, int) and later > done:
        raise ValueError(f"train --resume: {last} holds a run of {later} epochs, and resuming "
                         f"from {path} (after epoch {done}) would overwrite it; give --out for "
                         "the resumed run")


def run_training(config: dict, resume=None, log=print) -> list:
    """Train as ``config`` says (see the module docstring), from checkpoint ``resume`` if given.

    Writes ``history.csv``, ``history.json``, ``last.npz`` and ``best.npz`` into
    ``config["out"]``; returns the history (one dict per epoch).
    """
    writable_folder(config["out"])  # before the data are read, which may take minutes
    data = load_dataset(config["dataset"], image_size=config["image_size"], progress=config["verbose"])
    data = data.subset(config["subset"], config["val_subset"], seed=config["seed"])
    channels = 3 if config["model"] == "alexnet" else data.image_shape[0]
    stored, side = _sizes(config, data.image_shape[-1])
    model = build_model(config, len(data.classes), channels, side)
    log(f"train: {type(model).__name__} ({model.num_params:,} parameters, {side}x{side} inputs) "
        f"on {data.describe()}; the test images are the validation set")
    if resume is not None:
        checkpoint = read_checkpoint(resume, "train --resume")  # read once, used twice
        arrays, meta = checkpoint
        preprocess = Preprocess.from_state(
            {k.removeprefix("preprocess."): v for k, v in arrays.items() if k.startswith("preprocess.")},
            meta["preprocess"])
    else:
        scale = config["input_scale"] or ("std" if config["model"] == "figure1" else 1.0)
        resize = stored if stored != data.image_shape[-1] else None
        preprocess = Preprocess.fit(data.train_images, scale=scale, size=resize,
                                    channels=channels if channels != data.image_shape[0] else None,
                                    progress=config["verbose"])
    augment = None
    if config["augment"]:
        pca = transforms.fit_pca(data.train_images) if config["pca"] and data.image_shape[0] == 3 else None
        augment = Augment(crop=side if side < stored else None, pca=pca, scale=preprocess.scale)
    log(f"train: inputs (image - mean) / {preprocess.scale:.4g}; augmentation: {augment or 'none'}")
    trainer = Trainer(model, (data.train_images, data.train_labels), preprocess,
                      val=(data.test_images, data.test_labels), lr=config["lr"],
                      momentum=config["momentum"], weight_decay=config["weight_decay"],
                      batch_size=config["batch_size"], patience=config["patience"],
                      augment=augment, ten_crop=config["ten_crop"], seed=config["seed"],
                      out=config["out"], settings={"config": config}, verbose=config["verbose"])
    if resume is not None:
        trainer.load(resume, checkpoint)
        del checkpoint, arrays  # the model has its own copies now
        done = trainer.epoch >= config["epochs"]
        left = f" of {config['epochs']}: nothing left to train" if done else ""
        log(f"train: resumed from {resume} after epoch {trainer.epoch}{left}")
    history = trainer.fit(config["epochs"])
    log(f"train: history and checkpoints in {config['out']}")
    return history
