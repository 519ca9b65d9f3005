"""The paper's preprocessing (§2) and data augmentation (§4.1), as pure functions on arrays.

Images are NCHW (or CHW for one image), on the 0..255 pixel scale throughout: uint8 as read, and
float32 once the mean is subtracted or colour noise added. Random functions take a seeded
``numpy.random.Generator`` and draw nothing else, so a seed reproduces a run. They run on the
host with NumPy; move a finished batch to its device afterwards.

The paper's pipeline for one training image, in order:

    rescale_and_center_crop   §2    any size -> 3x256x256 uint8 (done once, when reading)
    subtract_mean             §2    minus mean_image(training set) -> float32
    random_crop, random_flip  §4.1  a random 224x224 patch, mirrored with probability 1/2
    pca_color_augment         §4.1  plus a random multiple of the RGB principal components

and at test time ``ten_crop_predict`` averages the predictions on ``ten_crops`` (§4.1, end).
``mean_image`` and ``fit_pca`` read the training set once, batch by batch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .. import paper
from ..backend import get_array_module
from ..functional import _checks

__all__ = [
    "PIXEL_SCALE",
    "center_crop",
    "check_pca",
    "fit_pca",
    "mean_image",
    "pca_color_augment",
    "pca_offsets",
    "proportional_crop_size",
    "random_crop",
    "random_flip",
    "rescale_and_center_crop",
    "subtract_mean",
    "ten_crop_predict",
    "ten_crops",
]

PIXEL_SCALE = 255.0  # fit_pca works on pixels / PIXEL_SCALE, i.e. on the 0..1 scale


def _check_batch(op: str, images, size: int | None = None) -> None:
    """``images`` is ``(N, C, H, W)`` and, when ``size`` is given, at least ``size`` square."""
    if getattr(images, "ndim", None) != 4:
        raise ValueError(f"{op}: images must be 4-D (N, C, H, W), got shape "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if size is not None and _checks.positive_int(op, "size", size) > min(images.shape[2:]):
        raise ValueError(f"{op}: crop size {size} does not fit images of shape {images.shape} "
                         f"(it must be 1..{min(images.shape[2:])})")


def _check_generator(op: str, rng) -> None:
    """The augmentations draw from a seeded ``numpy.random.Generator``, never a global state."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")


def _batches(op: str, images, chunk_size: int):
    """An ``(N, C, H, W)`` array in chunks of ``chunk_size`` images, or an iterable of such
    batches as given (e.g. read from disk one at a time); each checked to be 4-D."""
    if hasattr(images, "ndim"):
        _check_batch(op, images)
        batches = (images[i:i + chunk_size] for i in range(0, len(images), chunk_size))
    else:
        batches = images
    for batch in batches:
        _check_batch(op, batch)
        yield batch


# --------------------------------------------------------------------------------------------
# §2 The dataset: a fixed resolution, and the mean image subtracted


def rescale_and_center_crop(image, size: int = paper.IMAGE_SIZE, resample=Image.BILINEAR):
    """Rescale one image so its shorter side is ``size``, then crop the central ``size x size``
    (paper §2: "rescaled the image such that the shorter side was of length 256, and then
    cropped out the central 256x256 patch").

    image: uint8 ``(C, H, W)`` with C = 1 or 3. For ``S = min(H, W)`` the image is resized to
    ``H' x W' = round(H * size / S) x round(W * size / S)`` (the shorter side becomes exactly
    ``size``; smaller images are enlarged), then rows ``(H' - size) // 2`` onwards and columns
    ``(W' - size) // 2`` onwards, ``size`` of each, are kept. Returns uint8 ``(C, size, size)``.

    The paper does not name its resampling filter. We use Pillow's bilinear filter, whose
    support Pillow widens when shrinking, so downscaling averages every source pixel instead of
    aliasing (this is also torchvision's default). An image already ``size`` on its shorter
    side is not resampled at all.
    """
    op = "rescale_and_center_crop"
    if getattr(image, "ndim", None) != 3 or image.shape[0] not in (1, 3) or image.dtype != np.uint8:
        raise ValueError(f"{op}: image must be uint8 (C, H, W) with C = 1 or 3, got "
                         f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    size = _checks.positive_int(op, "size", size)
    c, h, w = image.shape
    if min(h, w) == 0:
        raise ValueError(f"{op}: image has no pixels, shape {image.shape}")
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    pil = Image.fromarray(image[0] if c == 1 else image.transpose(1, 2, 0))
    if (new_w, new_h) != pil.size:
        pil = pil.resize((new_w, new_h), resample=resample)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    pixels = np.asarray(pil)[top:top + size, left:left + size]
    return (pixels[None] if c == 1 else pixels.transpose(2, 0, 1)).copy()


def mean_image(images, chunk_size: int = 64) -> np.ndarray:
    """The per-pixel mean over a training set (paper §2, "subtracting the mean activity over
    the training set from each pixel"): ``mean[c, y, x] = (1/N) sum_n images[n, c, y, x]``.

    images: ``(N, C, H, W)``, or an iterable of such batches (e.g. read from disk), summed in
    float64 ``chunk_size`` images at a time so no float copy of the whole set is made.
    Returns float32 ``(C, H, W)`` on the images' pixel scale.
    """
    total, count = None, 0
    for batch in _batches("mean_image", images, chunk_size):
        part = batch.sum(axis=0, dtype=np.float64)
        if total is not None and part.shape != total.shape:
            raise ValueError(f"mean_image: every image must have shape {total.shape}, got a "
                             f"batch of shape {batch.shape}")
        total = part if total is None else total + part
        count += len(batch)
    if count == 0:
        raise ValueError("mean_image: no images")
    return (total / count).astype(np.float32)


def subtract_mean(images, mean) -> np.ndarray:
    """``images - mean`` in float32: ``(N, C, H, W)`` or ``(C, H, W)`` minus ``(C, H, W)``.

    Pass the mean of the *training* set, also for validation and test images (paper §2).
    """
    if getattr(images, "ndim", None) not in (3, 4):
        raise ValueError(f"subtract_mean: images must be an array (N, C, H, W) or (C, H, W), got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if getattr(mean, "ndim", None) != 3 or tuple(images.shape[-3:]) != tuple(mean.shape):
        raise ValueError(f"subtract_mean: mean must have the images' (C, H, W) = "
                         f"{tuple(images.shape[-3:])}, got shape {getattr(mean, 'shape', None)}")
    return images.astype(np.float32) - mean.astype(np.float32)


# --------------------------------------------------------------------------------------------
# §4.1 Data augmentation, first form: random patches and horizontal reflections


def proportional_crop_size(side: int, crop: int = paper.CROP_SIZE, full: int = paper.IMAGE_SIZE) -> int:
    """The side of the patch that takes the paper's share of a ``side``-pixel image.

    The paper trains on 224x224 patches of 256x256 images, 7/8 of each side. For other image
    sizes we keep that share and round down: ``floor(side * crop / full)``, computed in integers.
    32 (CIFAR-10) gives 28, 28 (Fashion-MNIST) gives 24, 256 gives 224.
    """
    if not 1 <= crop <= full or side < 1:
        raise ValueError(f"proportional_crop_size: need side >= 1 and 1 <= crop <= full, got "
                         f"side={side}, crop={crop}, full={full}")
    return max(1, side * crop // full)


def _crop_at(images, top, left, size: int) -> np.ndarray:
    """``out[n] = images[n, :, top[n]:top[n]+size, left[n]:left[n]+size]`` for every n at once.

    ``sliding_window_view`` is every ``size x size`` patch of every image as a view of shape
    ``(N, C, H-size+1, W-size+1, size, size)``; fancy indexing picks patch ``(top[n], left[n])``
    of image ``n``, giving ``(N, C, size, size)``.
    """
    patches = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(2, 3))
    return patches[np.arange(len(images)), :, top, left]


def center_crop(images, size: int) -> np.ndarray:
    """The central ``size x size`` patch of every image (single-crop evaluation).

    images: ``(N, C, H, W)``; the patch starts at row ``(H - size) // 2`` and column
    ``(W - size) // 2``. Returns ``(N, C, size, size)``, same dtype.
    """
    _check_batch("center_crop", images, size)
    h, w = images.shape[2:]
    return images[:, :, (h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size].copy()


def random_crop(images, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random ``size x size`` patch per image (paper §4.1: "extracting random 224x224
    patches ... from the 256x256 images").

    images: ``(N, C, H, W)``. For each image the top-left corner ``(top, left)`` is drawn
    uniformly from every position where the patch fits, ``0..H-size`` and ``0..W-size``: 33
    per axis for 224 of 256 (the paper's "factor of 2048" = 2 * 32 * 32 counts 32 per axis).
    Returns ``(N, C, size, size)``, same dtype.
    """
    _check_batch("random_crop", images, size)
    _check_generator("random_crop", rng)
    n, _, h, w = images.shape
    top = rng.integers(0, h - size + 1, size=n)
    left = rng.integers(0, w - size + 1, size=n)
    return _crop_at(images, top, left, size)


def random_flip(images, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p`` (paper §4.1, "horizontal
    reflections"): ``out[n, c, y, x] = images[n, c, y, W-1-x]`` for the chosen ``n``.

    images: ``(N, C, H, W)``. Returns a new array of the same shape and dtype.
    """
    _check_batch("random_flip", images)
    _check_generator("random_flip", rng)
    if not (_checks.is_real(p) and 0 <= p <= 1):
        raise ValueError(f"random_flip: p is a probability, in [0, 1], got {p!r}")
    flip = rng.random(len(images)) < p
    return np.where(flip[:, None, None, None], images[..., ::-1], images)


# --------------------------------------------------------------------------------------------
# §4.1 Data augmentation, second form: PCA colour noise


def fit_pca(images, chunk_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of the RGB values of every pixel of a training set (paper §4.1).

    images: ``(N, 3, H, W)`` on the 0..255 scale, or an iterable of such batches. Each pixel is
    a point ``v / PIXEL_SCALE`` in ``[0, 1]^3``; the 3x3 covariance of all those points
    (denominator ``count - 1``, as ``numpy.cov``) is accumulated chunk by chunk in float64 with
    Chan's pairwise update, so only ``chunk_size`` images are ever held as floats. Returns
    ``(eigenvalues, eigenvectors)``: float64 ``(3,)`` in decreasing order, and ``(3, 3)`` whose
    *column* ``i`` is the unit eigenvector ``p_i`` of ``eigenvalues[i]``.

    The scale matters: the noise ``alpha_i * lambda_i`` is linear in the eigenvalues, which grow
    with the square of the pixel scale, so on 0..255 it would be 255^2 times larger.
    """
    count, mean, scatter = 0, np.zeros(3), np.zeros((3, 3))
    for batch in _batches("fit_pca", images, chunk_size):
        if batch.shape[1] != 3:
            raise ValueError(f"fit_pca: images must have 3 (RGB) channels, got shape {batch.shape}")
        pixels = np.moveaxis(batch, 1, -1).reshape(-1, 3) / PIXEL_SCALE  # (pixels, 3), float64
        if not len(pixels):
            continue
        m = len(pixels)
        batch_mean = pixels.mean(axis=0)
        centred = pixels - batch_mean
        delta = batch_mean - mean
        scatter += centred.T @ centred + np.outer(delta, delta) * count * m / (count + m)
        mean += delta * m / (count + m)
        count += m
    if count < 2:
        raise ValueError(f"fit_pca: need at least 2 pixels, got {count}")
    eigenvalues, eigenvectors = np.linalg.eigh(scatter / (count - 1))
    return eigenvalues[::-1].copy(), eigenvectors[:, ::-1].copy()


def pca_offsets(n: int, eigenvalues, eigenvectors, rng: np.random.Generator,
                std: float = paper.PCA_STD) -> np.ndarray:
    """One colour offset per image (paper §4.1): ``[p1 p2 p3] [a1*l1, a2*l2, a3*l3]^T``.

    ``a_i ~ N(0, std)`` (``std`` is the standard deviation, 0.1 in the paper) are drawn fresh
    for each of the ``n`` images, so call this once per presentation. ``eigenvalues`` ``(3,)``
    and ``eigenvectors`` ``(3, 3)`` (columns) come from ``fit_pca``. Returns float64 ``(n, 3)``
    on the 0..1 scale of ``fit_pca``: row ``k`` is ``eigenvectors @ (a[k] * eigenvalues)``.
    """
    eigenvalues, eigenvectors = check_pca("pca_offsets", eigenvalues, eigenvectors)
    _check_generator("pca_offsets", rng)
    alphas = rng.normal(0.0, std, size=(n, 3))
    return (alphas * eigenvalues) @ eigenvectors.T


def check_pca(op: str, eigenvalues, eigenvectors) -> tuple[np.ndarray, np.ndarray]:
    """``(eigenvalues, eigenvectors)`` as float64 arrays ``(3,)`` and ``(3, 3)`` of finite real
    numbers (what ``fit_pca`` returns), or a ``ValueError`` that ``op`` names."""
    for name, value, shape in (("eigenvalues", eigenvalues, (3,)), ("eigenvectors", eigenvectors, (3, 3))):
        array = np.asarray(value)
        if array.shape != shape or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
            raise ValueError(f"{op}: {name} must be {shape} finite real numbers (from fit_pca), "
                             f"got {array.dtype} {array.shape}")
    return np.asarray(eigenvalues, dtype=np.float64), np.asarray(eigenvectors, dtype=np.float64)


def pca_color_augment(images, eigenvalues, eigenvectors, rng: np.random.Generator,
                      std: float = paper.PCA_STD) -> np.ndarray:
    """Add each image's ``pca_offsets`` row to all of its pixels (paper §4.1): for image n,
    ``out[n, :, y, x] = images[n, :, y, x] + PIXEL_SCALE * offset[n]`` at every ``(y, x)``.

    images: ``(N, 3, H, W)`` on the 0..255 scale, raw or mean-subtracted (the offset is the same
    either way). The offset is on the 0..1 scale of ``fit_pca``, hence the factor
    ``PIXEL_SCALE``. Returns float32 ``(N, 3, H, W)``, not clipped.
    """
    _check_batch("pca_color_augment", images)
    if images.shape[1] != 3:
        raise ValueError(f"pca_color_augment: images must have 3 (RGB) channels, got shape {images.shape}")
    offsets = PIXEL_SCALE * pca_offsets(len(images), eigenvalues, eigenvectors, rng, std)
    return images.astype(np.float32) + offsets.astype(np.float32)[:, :, None, None]


# --------------------------------------------------------------------------------------------
# §4.1 Testing: ten patches per image


def ten_crops(images, size: int) -> np.ndarray:
    """The paper's ten test patches of each image (§4.1: "the four corner patches and the
    center patch as well as their horizontal reflections").

    images: ``(N, C, H, W)``. Returns ``(N, 10, C, size, size)``, along axis 1:

        0 top-left   1 top-right   2 bottom-left   3 bottom-right   4 centre
        5..9         the same five patches, each mirrored left-right

    Corners touch the image's edges; the centre starts at ``((H-size)//2, (W-size)//2)``.
    """
    _check_batch("ten_crops", images, size)
    n, _, h, w = images.shape
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size),
               ((h - size) // 2, (w - size) // 2)]
    patches = [images[:, :, t:t + size, l:l + size] for t, l in corners]
    patches += [p[..., ::-1] for p in patches]
    return np.stack(patches, axis=1)


def ten_crop_predict(predict, images, size: int, batch_size: int = 32, log: bool = False):
    """Class probabilities averaged over the ten patches of each image (paper §4.1).

    ``predict`` is any callable taking a ``(M, C, size, size)`` batch and returning ``(M, K)``
    probabilities (e.g. a model's softmax). It is called on ``batch_size`` images at a time,
    ``M = 10 * batch_size`` patches (fewer for the last call), the ten patches of each image in
    consecutive rows in the order of ``ten_crops``, so memory stays bounded however many images
    there are. Returns ``(N, K)``: for image ``n``, ``mean_j`` of its ten rows, in the array
    type ``predict`` returned (NumPy or CuPy).

    ``log=True``: ``predict`` returns log-probabilities (e.g. ``log_softmax``) and so does this,
    the log of the same average, ``log mean_j exp(l_j) = m + log mean_j exp(l_j - m)`` with
    ``m = max_j l_j``. It stays finite where a class's probability underflows to 0 in every
    patch (a float32 softmax does below about 1e-45), so its log, a loss and the order of the
    unlikely classes (top-5) survive.
    """
    _check_batch("ten_crop_predict", images, size)
    batch_size = _checks.int_at_least("ten_crop_predict", "batch_size", batch_size, 1)
    log = _checks.flag("ten_crop_predict", "log", log)
    what = "log-probabilities" if log else "probabilities"
    averages = []
    for start in range(0, len(images), batch_size):
        crops = ten_crops(images[start:start + batch_size], size)
        n = len(crops)
        predicted = predict(crops.reshape(n * 10, *crops.shape[2:]))
        if getattr(predicted, "ndim", None) != 2 or predicted.shape[0] != n * 10:
            raise ValueError(f"ten_crop_predict: predict must return (M, K) = ({n * 10}, K) "
                             f"{what} for M = {n * 10} patches, got shape "
                             f"{getattr(predicted, 'shape', type(predicted).__name__)}")
        rows = predicted.reshape(n, 10, -1)
        if log:
            xp = get_array_module(rows)
            top = rows.max(axis=1)  # (n, K): m for each image and class
            averages.append(top + xp.log(xp.exp(rows - top[:, None]).mean(axis=1)))
        else:
            averages.append(rows.mean(axis=1))
    return get_array_module(*averages).concatenate(averages)
