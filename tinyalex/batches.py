"""From uint8 images in memory to float32 network inputs, one mini-batch at a time.

The training loop (``tinyalex.train``) keeps a dataset as uint8 ``(N, C, H, W)`` images, as the
readers in ``tinyalex.data`` return them, and turns each mini-batch into network inputs only
when it needs it, so a float copy of the whole set is never made:

    order      ``batch_order``   which images go in which batch (shuffled with a seeded generator)
    preprocess ``Preprocess``    resize (optional), grey -> RGB (optional), minus the training
                                 mean image (paper §2), divided by one constant (the input scale)
    augment    ``Augment``       training only: random crop, horizontal flip, PCA colour noise (§4.1)

**Input scaling.** The paper feeds the centred raw pixel values, ``image - mean`` on the 0..255
scale (§2), which suits its N(0, 0.01) initialisation. ``Preprocess`` divides by one constant
``scale`` as well, the same for training and evaluation and stored in every checkpoint:

* ``scale="std"``: the standard deviation of all mean-subtracted training pixels (one number,
  measured once on the training images used), so the inputs have unit variance. This suits
  the fan-in initialisation ``N(0, 1/fan_in)`` of the Figure-1 net, under which a layer's
  weighted sums have about the variance of its inputs. For Fashion-MNIST it is 75.2 (all
  60,000 training images).
* ``scale=1.0``: the paper's raw centred pixels (AlexNet with its N(0, 0.01) weights).

**Augmentation runs after preprocessing**, on inputs already divided by ``scale``. Crops and
flips do not care; the PCA colour noise of §4.1 is defined on pixels, so ``Augment`` takes the
eigenvalues divided by ``scale`` (the offset is linear in them), which adds exactly
``offset / scale``: the paper's noise, in the network's units.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm import tqdm

from .data import transforms
from .functional import _checks

__all__ = ["Augment", "Preprocess", "batch_order", "resize_images"]


def batch_order(n: int, batch_size: int, rng: np.random.Generator | None = None) -> list:
    """The indices of each mini-batch of an epoch over ``n`` images.

    With ``rng`` the images are shuffled (one ``rng.permutation(n)`` per epoch, so the
    generator's state after an epoch is all a checkpoint needs to repeat the next one); without
    it they come in order (evaluation). Every image is used once; the last batch may be smaller.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"batch_order: need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _is_scale(value) -> bool:
    """Whether ``value`` can be an input scale: a real number (not a bool), finite and > 0."""
    return _checks.is_real(value) and math.isfinite(value) and value > 0


def resize_images(images, size: int | None = None, channels: int | None = None) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` images as ``(N, C', size, size)``: what a network of another size
    or another number of input channels takes.

    ``size``: each image is rescaled so its shorter side is ``size`` and centre-cropped (paper
    §2, ``transforms.rescale_and_center_crop``, Pillow bilinear); ``None`` or the images' own
    size: unchanged. ``channels=3`` repeats a grey channel three times (AlexNet's first layer
    takes RGB). Feeds 28- or 32-pixel images to AlexNet, whose smallest input is 67 pixels.
    """
    if size is not None and tuple(images.shape[-2:]) != (size, size):
        images = np.stack([transforms.rescale_and_center_crop(image, size) for image in images])
    if channels is not None and images.shape[1] != channels:
        if (images.shape[1], channels) != (1, 3):
            raise ValueError(f"resize_images: cannot turn {images.shape[1]} channels into {channels}")
        images = np.repeat(images, 3, axis=1)
    return images


class Preprocess:
    """``(resize(images) - mean) / scale`` in float32 (see the module docstring).

    ``mean``: float32 ``(C, R, R)``, the training mean image at the size the network's batches
    are cut from; ``scale``: a finite positive number (any real type but bool); ``size``: ``R``
    when batches must be resized first (``None``: the images are used at their own size);
    ``channels``: 3 to expand grey images to RGB (``None``: keep). Build it with
    ``Preprocess.fit(training images, ...)``.
    """

    def __init__(self, mean, scale: float, size: int | None = None, channels: int | None = None):
        if not _is_scale(scale):
            raise ValueError(f"Preprocess: scale must be a finite positive number, got {scale!r}")
        self.mean = np.asarray(mean, dtype=np.float32)
        if self.mean.ndim != 3:
            raise ValueError(f"Preprocess: mean must be a (C, R, R) image, got shape {self.mean.shape}")
        if not np.isfinite(self.mean).all():
            raise ValueError("Preprocess: the mean image holds values that are not finite numbers")
        self.scale, self.size, self.channels = float(scale), size, channels

    @classmethod
    def fit(cls, images, *, scale="std", size: int | None = None, channels: int | None = None,
            chunk_size: int = 1000, progress: bool = False) -> "Preprocess":
        """Measure the mean image (and, for ``scale="std"``, the scale) on training ``images``.

        Reads ``images`` (uint8 ``(N, C, H, W)``) ``chunk_size`` at a time, resizing each chunk
        when ``size`` is given, in float64; nothing the size of the whole set is made.
        ``scale="std"`` needs images that differ (identical ones have no spread to divide by).
        """
        if not (scale == "std" if isinstance(scale, str) else _is_scale(scale)):
            raise ValueError(
                f"Preprocess.fit: scale must be 'std' or a finite positive number, got {scale!r}"
            )
        chunk_size = _checks.positive_int("Preprocess.fit", "chunk_size", chunk_size)

        def prepare(chunk):
            return resize_images(chunk, size, channels)

        chunks = [images[i:i + chunk_size] for i in range(0, len(images), chunk_size)]
        bar = tqdm(chunks, desc="mean image", unit="chunk", disable=not progress, leave=False)
        mean = transforms.mean_image(prepare(chunk) for chunk in bar)
        if scale == "std":
            centre = mean.astype(np.float64)
            squares = sum(float(((prepare(chunk) - centre) ** 2).sum()) for chunk in chunks)
            scale = math.sqrt(squares / (len(images) * mean.size))
            if scale == 0:
                raise ValueError(
                    "Preprocess.fit: scale='std' measured the standard deviation of the "
                    f"mean-subtracted training pixels as 0 (all {len(images)} images are the "
                    "same), so there is nothing to divide by; give a numeric scale, e.g. scale=1.0"
                )
        return cls(mean, scale, size, channels)

    def __call__(self, images) -> np.ndarray:
        """uint8 ``(N, C, H, W)`` -> float32 ``(N, C', R, R)``, ready for the network."""
        centred = transforms.subtract_mean(resize_images(images, self.size, self.channels), self.mean)
        centred *= np.float32(1.0 / self.scale)
        return centred

    def state(self) -> tuple[dict, dict]:
        """``(arrays, meta)`` for a checkpoint; ``Preprocess.from_state`` reverses it."""
        return {"mean": self.mean}, {"scale": self.scale, "size": self.size, "channels": self.channels}

    @classmethod
    def from_state(cls, arrays: dict, meta: dict) -> "Preprocess":
        return cls(arrays["mean"], meta["scale"], meta["size"], meta["channels"])


class Augment:
    """The paper's training-time augmentation (§4.1) as a per-batch hook ``augment(x, rng)``.

    ``x``: float32 ``(N, C, R, R)`` from ``Preprocess``; returns ``(N, C, crop, crop)``: a random
    ``crop x crop`` patch of each image (``crop=None``: the whole image), mirrored with
    probability 1/2 when ``flip``, plus PCA colour noise when ``pca`` is given as
    ``(eigenvalues, eigenvectors)`` from ``transforms.fit_pca`` on the training pixels (RGB
    only). ``scale`` is the ``Preprocess`` scale, a finite positive number (see the module
    docstring). All randomness comes from ``rng``.
    """

    def __init__(self, crop: int | None = None, flip: bool = True, pca=None, scale: float = 1.0):
        if not _is_scale(scale):
            raise ValueError(f"Augment: scale must be a finite positive number, got {scale!r}")
        if crop is not None:
            crop = _checks.positive_int("Augment", "crop", crop)
        self.crop, self.flip, self.scale = crop, _checks.flag("Augment", "flip", flip), float(scale)
        self.pca = None
        if pca is not None:
            if not isinstance(pca, (tuple, list)) or len(pca) != 2:
                raise ValueError("Augment: pca must be the pair (eigenvalues, eigenvectors) that "
                                 f"fit_pca returns, got {type(pca).__name__}")
            eigenvalues, eigenvectors = transforms.check_pca("Augment", *pca)
            self.pca = (eigenvalues / scale, eigenvectors)

    def __call__(self, x, rng: np.random.Generator) -> np.ndarray:
        if self.crop is not None:
            x = transforms.random_crop(x, self.crop, rng)
        if self.flip:
            x = transforms.random_flip(x, rng)
        if self.pca is not None:
            x = transforms.pca_color_augment(x, *self.pca, rng)
        return x

    def __repr__(self) -> str:
        """What the augmentation does, with the noise's strength: ``Trainer.load`` compares it
        (4 significant digits: a PCA recomputed on another machine may differ in the last bit)."""
        noise = ""
        if self.pca is not None:
            eigenvalues = ", ".join(f"{v:.4g}" for v in self.pca[0] * self.scale)
            noise = f"PCA colour noise (eigenvalues {eigenvalues}; input scale {self.scale:.4g})"
        parts = [f"random {self.crop}x{self.crop} crops" if self.crop else "",
                 "horizontal flips" if self.flip else "", noise]
        return ", ".join(p for p in parts if p) or "none"
