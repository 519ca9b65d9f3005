"""The training loop (paper §5): mini-batch SGD on any model and any in-memory dataset, with
evaluation, a per-epoch history, checkpoints and a bit-exact resume.

    preprocess = Preprocess.fit(train_images)                 # tinyalex.batches
    trainer = Trainer(model, (train_images, train_labels), preprocess,
                      val=(val_images, val_labels), lr=0.01, augment=Augment(crop=28),
                      seed=0, out="runs/mine")
    history = trainer.fit(epochs=10)                          # one dict per epoch

**One epoch.**

1. *Training*, in train mode: the training images in a shuffled order (``shuffle_rng``), batch
   by batch: ``preprocess``, ``augment`` (``augment_rng``), a centre crop if the images are still
   larger than the model's input, ``backend.to_device`` onto the model's device, forward, softmax
   cross-entropy, backward, one ``SGD`` step. The progress bar shows the *running* loss and
   top-1 error: the mean over the batches so far, each measured before its own step.
2. *Evaluation*, in eval mode (dropout scaled, no augmentation): with ``measure_train`` the whole
   training set with the weights at the end of the epoch (the *training error*), and the
   validation set, on the centre crop or, with ``ten_crop``, on the paper's ten patches.
3. The paper's schedule: the learning rate is divided by 10 when the validation top-1 error
   stops improving (``optim.ReduceLROnPlateau``; only with validation data and a ``patience``).
4. A history row (``COLUMNS``; ``None`` where not measured), ``history.csv`` and
   ``history.json``, and the checkpoints, all in ``out``.

**Checkpoints.** After every epoch ``out/last.npz`` (the run so far, to resume from) and, when the
validation top-1 error is the lowest so far, a copy of it as ``out/best.npz``; both written
atomically (``tinyalex.atomic``), without pickle (``tinyalex.checkpoint``). One holds the
parameters, the optimizer's velocities and learning rate, the schedule's state, the
preprocessing (mean image and scale), the epoch, the history, and the state of every generator
that draws during training: the shuffling and augmentation generators and each dropout layer's
``rng`` (found by walking the model; ``state_dict()`` holds parameters only). ``Trainer.load`` restores all of it, so
training on from a checkpoint gives the same numbers, bit for bit, as never stopping.

**Divergence.** Logits or a loss that are not finite, or weights that are not finite at the end
of an epoch, stop training with ``Diverged``, naming the epoch (and batch) and suggesting a
lower learning rate; the checkpoint of the last good epoch is left as it was. NumPy's own
floating-point warnings are silenced meanwhile: every inf or NaN they would warn about reaches
one of those checks.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import paper
from .backend import device_of, get_array_module, on_device, to_device
from .atomic import atomic_write
from .batches import Augment, Preprocess, batch_order
from .checkpoint import load_checkpoint, save_checkpoint
from .data import transforms
from .functional import _checks, log_softmax, softmax_cross_entropy
from .metrics import top1_top5
from .optim import SGD, ReduceLROnPlateau

__all__ = ["COLUMNS", "Diverged", "Trainer", "evaluate", "random_generators", "read_checkpoint",
           "writable_folder", "write_history"]

COLUMNS = ("epoch", "lr", "running_loss", "running_top1", "running_top5",
           "train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5",
           "train_seconds", "eval_seconds")
TIMINGS = ("train_seconds", "eval_seconds")  # the only columns that differ between equal runs
FORMAT = "tinyalex-trainer-1"


class Diverged(RuntimeError):
    """Training produced logits, a loss or (after an epoch) weights that are not finite numbers."""


def read_checkpoint(path, who: str = "Trainer.load", meta_only: bool = False) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a checkpoint that ``Trainer.save`` wrote, with its format and the
    parts of its metadata that ``load`` reads checked first: a damaged or foreign file is a
    ``ValueError`` that ``who`` names, not a ``KeyError`` halfway through restoring it.
    ``meta_only``: read and check the metadata alone (``arrays`` is then empty)."""
    arrays, meta = load_checkpoint(path, meta_only)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{who}: {path} is not a training checkpoint "
                         f"(format {meta.get('format')!r}, expected {FORMAT!r})")
    problems = [f"{key!r} is missing" if key not in meta else f"{key!r} is not {what}"
                for key, kind, what in (("epoch", int, "an integer"), ("history", list, "a list"),
                                        ("settings", dict, "a dict"),
                                        ("preprocess", dict, "a dict"), ("random", dict, "a dict"))
                if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool)]
    if not problems:
        if meta["epoch"] < 0 or len(meta["history"]) != meta["epoch"]:
            problems.append(f"epoch {meta['epoch']} with {len(meta['history'])} rows of history")
        if not all(isinstance(row, dict) for row in meta["history"]):
            problems.append("a row of its history is not a dict")
        problems += [f"preprocess {key!r} is missing" for key in ("scale", "size", "channels")
                     if key not in meta["preprocess"]]
        problems += [f"generator {name!r} has a state NumPy cannot restore"
                     for name, state in meta["random"].items() if not _restorable(state)]
        if "preprocess.mean" not in arrays and not meta_only:
            problems.append("the array 'preprocess.mean' is missing")
    if problems:
        raise ValueError(f"{who}: {path} is damaged: " + "; ".join(problems))
    return arrays, meta


def _restorable(state) -> bool:
    """Whether ``state`` is the state of a NumPy bit generator that the kind it names (its
    ``"bit_generator"``, e.g. ``"PCG64"``) takes."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    kind = getattr(np.random, name, None) if isinstance(name, str) else None
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        return False
    try:
        kind().state = state
    except (TypeError, ValueError, KeyError):
        return False
    return True


def _input_size(model) -> int | None:
    shape = getattr(model, "input_shape", None)
    return shape[-1] if shape else None


# The floating-point warnings that the Diverged checks make redundant (see "Divergence").
_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _logits(model, x):
    """``model.forward(x)`` for a host batch ``x``, on the model's device and in its weights'
    dtype (``Preprocess`` makes float32; a float64 model gets float64); ``Diverged`` if any
    output is not finite."""
    dtypes = {p.dtype for p in model.params.values()}
    if len(dtypes) == 1:
        x = x.astype(dtypes.pop(), copy=False)
    logits = model.forward(to_device(x, model.device))  # (its callers silence NumPy's warnings)
    if not _finite(logits):
        raise Diverged("the network's outputs are not finite numbers")
    return logits


def _finite(a) -> bool:
    """Whether every entry of ``a`` is a finite number, computed on ``a``'s device (a GPU's
    kernels run on the current GPU, which need not be the one that holds ``a``)."""
    with on_device(device_of(a)):
        return bool(get_array_module(a).isfinite(a).all())


def evaluate(model, images, labels, preprocess: Preprocess, *, batch_size: int = paper.BATCH_SIZE,
             ten_crop: bool = False, progress: bool = False, desc: str = "evaluate") -> dict:
    """``{"loss", "top1", "top5"}`` of ``model`` on uint8 ``images`` ``(N, C, H, W)`` with int
    ``labels`` ``(N,)``, in eval mode (the model's mode is restored afterwards).

    Each batch is preprocessed, then cut to the model's input size: the centre crop, or with
    ``ten_crop`` the paper's ten patches (§4.1: corners, centre and their mirrors), whose
    softmax outputs are averaged, in log space (``ten_crop_predict(..., log=True)``; cut from
    the preprocessed batch, which ``preprocess`` may have resized; where it is the model's size
    already, the patches are the image and its mirror).
    ``loss`` is the mean cross-entropy of the predicted class probabilities; ``top1``/``top5``
    the error rates (§6). ``Diverged`` if an output is not finite.
    """
    size = _patch_size("evaluate", model, ten_crop)
    classes = _classes(model)
    _check_data("evaluate", "", (images, labels), classes)  # before any work
    step = max(1, batch_size // 10) if ten_crop else batch_size

    def log_probabilities(x):
        return log_softmax(_logits(model, x))

    was_training = model.training
    model.eval()
    totals, count = np.zeros(3), 0
    try:
        for idx in tqdm(batch_order(len(images), step), desc=desc, unit="batch", leave=False,
                        disable=not progress):
            x = preprocess(images[idx])
            # On the logits' GPU: new arrays (indices, crops) go there.
            with on_device(model.device), np.errstate(**_QUIET):
                if ten_crop:  # averaged as probabilities, in log space (finite where p is 0)
                    log_p = transforms.ten_crop_predict(log_probabilities, x, size, log=True)
                else:
                    log_p = log_softmax(_logits(model, _to_input_size(x, size)))
                if count == 0 and classes is None:  # a model without an input_shape: known now
                    _check_data("evaluate", "", (images, labels), log_p.shape[1])
                xp = get_array_module(log_p)
                y = to_device(labels[idx], model.device)
                loss = -float(log_p[xp.arange(len(idx)), y].sum())
                totals += (loss, *(len(idx) * e for e in top1_top5(log_p, y)))
            count += len(idx)
    except Diverged as error:
        raise Diverged(f"{desc}: {error}") from None
    finally:
        model.train(was_training)
    return dict(zip(("loss", "top1", "top5"), (totals / count).tolist()))


def _patch_size(op: str, model, ten_crop: bool):
    """The model's input size (None if it has no ``input_shape``), which ``ten_crop`` needs."""
    size = _input_size(model)
    if ten_crop and size is None:
        raise ValueError(f"{op}: ten_crop needs a model with an input_shape (the patch size)")
    return size


def _to_input_size(x, size):
    """The centre ``size`` x ``size`` crop of a batch larger than the model's input, else ``x``."""
    return transforms.center_crop(x, size) if size is not None and size < x.shape[-1] else x


def random_generators(model) -> dict:
    """``{layer name: numpy Generator}`` for every layer of ``model`` with an ``rng`` attribute
    (the dropout layers): the randomness a model draws while it trains."""
    found = {}

    def walk(module):
        rng = getattr(module, "rng", None)
        if isinstance(rng, np.random.Generator):
            if module.label in found:
                raise ValueError(f"random_generators: two layers are named {module.label!r}")
            found[module.label] = rng
        for _, child in module.children():
            walk(child)

    walk(model)
    return found


def writable_folder(out) -> Path:
    """The folder ``out``, made if need be: a folder that cannot be written fails now, not
    after an epoch of training (an ``OSError``)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileExistsError(f"cannot make the folder {out}: a file of that name is there") from None
    except NotADirectoryError:
        raise NotADirectoryError(f"cannot make the folder {out}: a file stands where one of the "
                                 "folders above it should be") from None
    except OSError as error:  # a read-only parent, ...
        raise type(error)(f"cannot make the folder {out}: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write into the folder {out}")
    return out


def write_history(history: list, out, settings: dict | None = None) -> None:
    """``out/history.csv`` (one row per epoch, ``COLUMNS``, empty where not measured) and
    ``out/history.json`` (``{"settings": ..., "epochs": [row, ...]}``, ``null`` where not measured)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows([{k: "" if row[k] is None else row[k] for k in COLUMNS} for row in history])
    (out / "history.json").write_text(json.dumps({"settings": settings or {}, "epochs": history},
                                                 indent=1) + "\n")


def _check_data(op: str, name: str, data, classes: int | None) -> tuple:
    """``data = (images, labels)``: uint8 ``(N, C, H, W)`` images, at least one, and ``N``
    integer labels in ``[0, classes)`` (``>= 0`` where the number of classes is not known).
    ``name`` says which set, in the errors ``op`` raises ("" for the only one)."""
    images, labels = data
    what = f"{op}: {name} " if name else f"{op}: "
    if getattr(images, "ndim", None) != 4 or images.dtype != np.uint8:
        got = f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}"
        raise ValueError(f"{what}images must be uint8 (N, C, H, W), got {got}")
    if getattr(labels, "shape", None) != (len(images),) or labels.dtype.kind not in "iu":
        got = f"{getattr(labels, 'dtype', type(labels).__name__)} {getattr(labels, 'shape', '')}"
        raise ValueError(f"{what}labels must be integers of shape ({len(images)},), got {got}")
    if not len(images):
        raise ValueError(f"{what}images: none given")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or (classes is not None and hi >= classes):
        allowed = f"0..{classes - 1} (the model has {classes} outputs)" if classes else ">= 0"
        raise ValueError(f"{what}labels must be {allowed}, got labels from {lo} to {hi}")
    return images, labels


def _classes(model) -> int | None:
    """How many classes ``model`` tells apart: the size of its output for its ``input_shape``
    (None for a model without one, or without the layer interface's ``summary``)."""
    if getattr(model, "input_shape", None) is None or not hasattr(model, "summary"):
        return None
    shape = model.summary().rows[-1][2]
    return shape[0] if len(shape) == 1 else None


class Trainer:
    """Trains ``model`` on ``train = (images, labels)`` (see the module docstring).

    ``preprocess``: a ``batches.Preprocess`` fitted on the training images. ``val``:
    ``(images, labels)`` for the validation error, the schedule and ``best.npz``, or ``None``.
    ``lr``, ``momentum``, ``weight_decay``: the paper's SGD (§5); ``patience``: evaluations
    without improvement before the learning rate is divided by 10 (``None``: a fixed rate).
    ``augment``: a hook ``augment(x, rng) -> x`` on each preprocessed training batch (e.g.
    ``batches.Augment``), or ``None``. ``measure_train``: evaluate the training set after each
    epoch. ``ten_crop``: validate on ten patches. ``seed``: the shuffling and augmentation
    generators. ``out``: the folder for the history and checkpoints, made at once (``None``:
    write nothing).
    ``name`` prefixes the progress bar and the log; ``settings`` (JSON-able) is stored in the
    history and the checkpoints (the command line keeps its arguments there). ``verbose``:
    show a progress bar and print one line per epoch.
    """

    def __init__(self, model, train, preprocess: Preprocess, *, val=None,
                 lr: float = paper.LEARNING_RATE, momentum: float = paper.MOMENTUM,
                 weight_decay: float = paper.WEIGHT_DECAY, batch_size: int = paper.BATCH_SIZE,
                 patience: int | None = 1, augment=None, measure_train: bool = False,
                 ten_crop: bool = False, seed: int = 0, out=None, name: str = "",
                 settings: dict | None = None, verbose: bool = True):
        batch_size = _checks.int_at_least("Trainer", "batch_size", batch_size, 1)
        if patience is not None:
            patience = _checks.int_at_least("Trainer", "patience", patience, 1)
        measure_train = _checks.flag("Trainer", "measure_train", measure_train)
        ten_crop = _checks.flag("Trainer", "ten_crop", ten_crop)
        seed = _checks.int_at_least("Trainer", "seed", seed, 0)
        _patch_size("Trainer", model, ten_crop)  # before the first epoch, not at its end
        self.model, self.preprocess, self.augment = model, preprocess, augment
        classes = _classes(model)
        self.train_data = _check_data("Trainer", "training", train, classes)
        self.val_data = None if val is None else _check_data("Trainer", "validation", val, classes)
        self.optimizer = SGD(model.params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.schedule = (ReduceLROnPlateau(self.optimizer, patience=patience)
                         if val is not None and patience is not None else None)
        self.batch_size, self.measure_train, self.ten_crop = batch_size, measure_train, ten_crop
        self.shuffle_rng, self.augment_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        self.out = None if out is None else writable_folder(out)
        self.name = name
        # The checked values, Python numbers: a NumPy scalar given would not go into JSON.
        self.own_settings = {"lr": self.optimizer.lr, "batch_size": batch_size,
                             "momentum": self.optimizer.momentum,
                             "weight_decay": self.optimizer.weight_decay, "patience": patience,
                             "measure_train": measure_train, "ten_crop": ten_crop, "seed": seed}
        self.settings = {**(settings or {}), **self.own_settings, "augment": repr(augment),
                         "architecture": model.architecture()}
        self.verbose = verbose
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []

    # ----------------------------------------------------------------------------------------
    # Training

    def fit(self, epochs: int) -> list:
        """Train until ``epochs`` epochs are complete (counting those of a loaded checkpoint)."""
        for epoch in range(self.epoch + 1, epochs + 1):
            row = self._train_epoch(epoch, epochs)
            row.update(self._evaluate(epoch))
            if self.schedule is not None and self.schedule.step(row["val_top1"]) and self.verbose:
                print(f"{self.name}learning rate divided by 10: now {self.optimizer.lr:g}")
            self.epoch = epoch
            self.history.append(row)
            if self.verbose:
                print(self._describe(row, epochs))
            if self.out is not None:
                self._write(row)
        return self.history

    def _train_epoch(self, epoch: int, epochs: int) -> dict:
        images, labels = self.train_data
        batches = batch_order(len(images), self.batch_size, self.shuffle_rng)
        self.model.train()
        lr, start = self.optimizer.lr, time.perf_counter()
        totals, count = np.zeros(3), 0
        bar = tqdm(batches, desc=f"{self.name}epoch {epoch}/{epochs}", unit="batch", leave=False,
                   disable=not self.verbose)
        for number, idx in enumerate(bar, 1):
            x = self.preprocess(images[idx])
            if self.augment is not None:
                x = self.augment(x, self.augment_rng)
            try:
                results = self._step(_to_input_size(x, _input_size(self.model)), labels[idx])
            except Diverged as error:
                raise self._diverged(epoch, f", batch {number} of {len(batches)}: {error}") from None
            totals += [len(idx) * r for r in results]
            count += len(idx)
            bar.set_postfix(loss=f"{totals[0] / count:.3f}", error=f"{totals[1] / count:.1%}")
        if not all(_finite(p) for p in self.model.params.values()):
            raise self._diverged(epoch, ": after its last batch the weights are not finite numbers")
        running = (totals / count).tolist()
        return {"epoch": epoch, "lr": lr, "running_loss": running[0], "running_top1": running[1],
                "running_top5": running[2], "train_seconds": time.perf_counter() - start}

    def _diverged(self, epoch: int, where: str) -> Diverged:
        """The error for a run that diverged in ``epoch``, ``where`` saying where and how."""
        lr = self.optimizer.lr
        return Diverged(f"{self.name}training diverged in epoch {epoch}{where}. Lower the learning "
                        f"rate (now {lr:g}; e.g. {lr / 10:g}) and train again.")

    def _step(self, x, labels) -> tuple:
        """One SGD step on a host batch; returns its loss, top-1 and top-5 error, measured before
        the step. The loss and its gradient are computed on the model's device (the current GPU
        then), where the logits are."""
        with on_device(self.model.device), np.errstate(**_QUIET):
            logits = _logits(self.model, x)
            y = to_device(labels, self.model.device)
            loss, dlogits = softmax_cross_entropy(logits, y)
            if not math.isfinite(loss):
                raise Diverged(f"the loss is {loss}")
            top1, top5 = top1_top5(logits, y)
            self.model.backward(dlogits)
            self.optimizer.step(self.model.grads)
        return loss, top1, top5

    def _evaluate(self, epoch: int) -> dict:
        start = time.perf_counter()
        row = {f"{prefix}_{key}": None for prefix in ("train", "val")
               for key in ("loss", "top1", "top5")}
        parts = [("train", self.train_data, False) if self.measure_train else None,
                 ("val", self.val_data, self.ten_crop) if self.val_data is not None else None]
        for prefix, (images, labels), ten_crop in filter(None, parts):
            try:
                result = evaluate(self.model, images, labels, self.preprocess, ten_crop=ten_crop,
                                  batch_size=self.batch_size, progress=self.verbose,
                                  desc=f"{self.name}{prefix} error")
            except Diverged:
                raise self._diverged(epoch, ": after its last step the network's outputs are not "
                                     "finite numbers") from None
            row.update({f"{prefix}_{key}": value for key, value in result.items()})
        row["eval_seconds"] = time.perf_counter() - start
        return row

    def _describe(self, row: dict, epochs: int) -> str:
        parts = [f"{self.name}epoch {row['epoch']}/{epochs}: running error "
                 f"{row['running_top1']:.2%} (loss {row['running_loss']:.3f})"]
        for prefix, what in (("train", "training"), ("val", "validation")):
            if row[f"{prefix}_top1"] is not None:
                parts.append(f"{what} error {row[f'{prefix}_top1']:.2%} "
                             f"(top-5 {row[f'{prefix}_top5']:.2%})")
        parts.append(f"lr {row['lr']:g}; {row['train_seconds']:.0f} s training + "
                     f"{row['eval_seconds']:.0f} s evaluation")
        return "; ".join(parts)

    def _write(self, row: dict) -> None:
        write_history(self.history, self.out, self.settings)
        last = self.save(self.out / "last.npz")
        before = [r["val_top1"] for r in self.history[:-1] if r["val_top1"] is not None]
        if row["val_top1"] is not None and row["val_top1"] < min(before, default=math.inf):
            with open(last, "rb") as source, atomic_write(self.out / "best.npz") as copy:
                shutil.copyfileobj(source, copy)

    # ----------------------------------------------------------------------------------------
    # Checkpoints

    def save(self, path) -> Path:
        """Write everything ``load`` needs to continue bit for bit (see the module docstring)."""
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.schedule is not None:
            arrays.update({f"schedule.{k}": v for k, v in self.schedule.state_dict().items()})
        preprocess_arrays, preprocess_meta = self.preprocess.state()
        arrays.update({f"preprocess.{k}": v for k, v in preprocess_arrays.items()})
        meta = {"format": FORMAT, "epoch": self.epoch, "history": self.history,
                "settings": self.settings, "preprocess": preprocess_meta,
                "random": {name: g.bit_generator.state for name, g in self._generators().items()}}
        return save_checkpoint(path, arrays, meta)

    def load(self, path, checkpoint: tuple[dict, dict] | None = None) -> "Trainer":
        """Restore a checkpoint written by ``save`` into this trainer (built with the same model,
        data and settings); ``fit`` then goes on from the epoch after the checkpoint's.
        ``checkpoint``: what ``read_checkpoint(path)`` returned, where it was read already
        (AlexNet's is 0.5 GB), else ``path`` is read."""
        arrays, meta = checkpoint if checkpoint is not None else read_checkpoint(path)
        self._check_same(path, meta, arrays)
        generators = self._generators()
        if set(generators) != set(meta["random"]):
            raise ValueError(f"Trainer.load: {path} holds the generators {sorted(meta['random'])}, "
                             f"this trainer has {sorted(generators)}")
        for name, rng in generators.items():  # read_checkpoint checked each state for its kind
            saved, kind = meta["random"][name]["bit_generator"], type(rng.bit_generator).__name__
            if saved != kind:
                raise ValueError(f"Trainer.load: {path} holds a {saved} state for the generator "
                                 f"{name!r}, which is a {kind} in this trainer")
        part = {prefix: {k.split(".", 1)[1]: v for k, v in arrays.items()
                         if k.startswith(prefix + ".")} for prefix in ("model", "optimizer", "schedule")}
        if bool(part["schedule"]) != (self.schedule is not None):  # checked before any restoring
            raise ValueError(f"Trainer.load: {path} was written by a run "
                             f"{'with' if part['schedule'] else 'without'} a learning-rate schedule "
                             f"(validation data and a patience), this trainer has "
                             f"{'one' if self.schedule is not None else 'none'}")
        self.model.load_state_dict(part["model"])
        self.optimizer.load_state_dict(part["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(part["schedule"])
        for name, rng in generators.items():
            rng.bit_generator.state = meta["random"][name]
        self.epoch, self.history = meta["epoch"], list(meta["history"])
        return self

    def _generators(self) -> dict:
        """Every generator that draws during training, by a name that a checkpoint keeps."""
        layers = random_generators(self.model)
        return {"shuffle": self.shuffle_rng, "augment": self.augment_rng,
                **{f"layer {name}": rng for name, rng in layers.items()}}

    def _check_same(self, path, meta: dict, arrays: dict) -> None:
        """The settings, network, augmentation and preprocessing must be those of the run that
        wrote the checkpoint (a hook of one's own as ``augment`` is not compared: its ``repr``
        names an address in memory; a checkpoint from before the network, or the starting
        learning rate, was recorded is not held to one). The learning rate compared is the one
        the run started with; the optimizer's, which the schedule may have divided since, is
        restored from the checkpoint."""
        theirs = meta["settings"]
        differ = [f"{key}={theirs.get(key)!r} there, {value!r} here"
                  for key, value in self.own_settings.items()
                  if theirs.get(key) != value and (key != "lr" or key in theirs)]
        if "architecture" in theirs:
            layers = [f"{a or '(none)'} there, {b or '(none)'} here" for a, b in
                      itertools.zip_longest(theirs["architecture"], self.model.architecture())
                      if a != b]
            if layers:
                differ.append(f"the network differs in {len(layers)} layer(s), first {layers[0]}")
        known, ours = isinstance(self.augment, (Augment, type(None))), repr(self.augment)
        # (checkpoints from before the noise's strength was recorded say "PCA colour noise")
        if known and theirs.get("augment") not in (ours, ours.split(" (eigenvalues")[0]):
            differ.append(f"the augmentation differs: {theirs.get('augment')} there, "
                          f"{self.augment!r} here")
        same_mean = np.array_equal(arrays["preprocess.mean"], self.preprocess.mean)
        if not same_mean or meta["preprocess"].get("scale") != self.preprocess.scale:
            differ.append("the preprocessing (mean image or input scale) differs: other data?")
        if differ:
            raise ValueError(f"Trainer.load: {path} was written by another run: "
                             + "; ".join(differ))
