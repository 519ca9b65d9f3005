"""The paper's preprocessing (§2) and augmentation (§4.1), on hand-made images."""

import numpy as np
import pytest

from tinyalex.batches import Augment
from tinyalex.data import transforms as T


def _arange_images(n, c, h, w, dtype=np.int64):
    """Every pixel of every image is a different number, so a crop tells where it came from."""
    return np.arange(n * c * h * w, dtype=dtype).reshape(n, c, h, w)


# --------------------------------------------------------------------------------------------
# §2 rescale and centre-crop


def _banded(h, w):
    """Green in the central min(h, w) square, red outside it (the parts the crop must drop)."""
    image = np.zeros((3, h, w), np.uint8)
    image[0] = 255
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    image[:, top:top + s, left:left + s] = np.array([0, 255, 0], np.uint8)[:, None, None]
    return image


@pytest.mark.parametrize("h, w", [(300, 200), (200, 300), (512, 384), (40, 30), (30, 40), (100, 100), (600, 600)],
                         ids=["portrait", "landscape", "large", "small-portrait", "small-landscape",
                              "small-square", "large-square"])
def test_rescale_and_center_crop_keeps_the_central_square(h, w):
    out = T.rescale_and_center_crop(_banded(h, w))
    assert out.shape == (3, 256, 256) and out.dtype == np.uint8
    # Resampling blurs the green/red border over about one source pixel (more output pixels when
    # enlarging); everything else is pure green.
    margin = 2 + int(np.ceil(256 / min(h, w)))
    inner = out[:, margin:-margin, margin:-margin]
    assert (inner[0] == 0).all() and (inner[1] == 255).all() and (inner[2] == 0).all()


@pytest.mark.parametrize("h, w, top, left", [(256, 400, 0, 72), (401, 256, 72, 0), (256, 256, 0, 0)])
def test_no_resampling_when_the_shorter_side_is_256(rng, h, w, top, left):
    """Only the crop: rows/columns [(H - 256) // 2, ... + 256) exactly."""
    image = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    np.testing.assert_array_equal(T.rescale_and_center_crop(image), image[:, top:top + 256, left:left + 256])


def test_rescale_rounds_the_longer_side_and_crops_its_centre(rng):
    """302 x 200 scales to 386.56 x 256: 387 rows (rounded, not cut to 386), of which rows
    65..320 are kept; the same pixels as Pillow's own resize and crop."""
    from PIL import Image

    image = rng.integers(0, 256, (3, 302, 200), dtype=np.uint8)
    resized = np.asarray(Image.fromarray(image.transpose(1, 2, 0)).resize((256, 387), Image.BILINEAR))
    np.testing.assert_array_equal(T.rescale_and_center_crop(image), resized[65:321].transpose(2, 0, 1))


def test_rescale_grey_and_other_sizes(rng):
    grey = rng.integers(0, 256, (1, 64, 48), dtype=np.uint8)
    assert T.rescale_and_center_crop(grey, size=32).shape == (1, 32, 32)
    constant = np.full((3, 90, 70), 77, np.uint8)
    np.testing.assert_array_equal(T.rescale_and_center_crop(constant, size=50), np.full((3, 50, 50), 77))
    with pytest.raises(ValueError, match=r"rescale_and_center_crop: image must be uint8 \(C, H, W\).*float64 \(3, 4, 4\)"):
        T.rescale_and_center_crop(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"rescale_and_center_crop: image has no pixels, shape \(3, 0, 10\)"):
        T.rescale_and_center_crop(np.zeros((3, 0, 10), np.uint8))


# --------------------------------------------------------------------------------------------
# §2 mean image


def test_mean_image_and_subtraction(rng):
    images = rng.integers(0, 256, (7, 3, 4, 5), dtype=np.uint8)
    expected = images.astype(np.float64).mean(axis=0)
    for source in [images, [images[:2], images[2:6], images[6:]]]:  # array in chunks, or batches
        mean = T.mean_image(source, chunk_size=3)
        assert mean.shape == (3, 4, 5) and mean.dtype == np.float32
        np.testing.assert_allclose(mean, expected, rtol=1e-6)
    centred = T.subtract_mean(images, mean)
    assert centred.dtype == np.float32 and centred.shape == images.shape
    np.testing.assert_array_equal(centred, images.astype(np.float32) - mean)
    np.testing.assert_allclose(centred.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_array_equal(T.subtract_mean(images[0], mean), centred[0])  # one image


def test_mean_image_errors(rng):
    with pytest.raises(ValueError, match=r"mean_image: images must be 4-D \(N, C, H, W\), got shape \(3, 4\)"):
        T.mean_image(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"every image must have shape \(1, 2, 2\), got a batch of shape \(1, 1, 3, 3\)"):
        T.mean_image([np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))])
    with pytest.raises(ValueError, match="no images"):
        T.mean_image([])
    with pytest.raises(ValueError, match=r"subtract_mean: mean must have the images' \(C, H, W\) = \(3, 4, 5\), got shape \(3, 5, 4\)"):
        T.subtract_mean(np.zeros((2, 3, 4, 5)), np.zeros((3, 5, 4)))


# --------------------------------------------------------------------------------------------
# §4.1 crops and reflections


def test_proportional_crop_size():
    assert [T.proportional_crop_size(s) for s in (256, 32, 28, 8, 1)] == [224, 28, 24, 7, 1]
    assert T.proportional_crop_size(32, crop=3, full=4) == 24
    with pytest.raises(ValueError, match="proportional_crop_size"):
        T.proportional_crop_size(32, crop=300)


def test_random_crop_takes_real_patches_at_every_position(rng):
    images = _arange_images(400, 2, 6, 7)
    crops = T.random_crop(images, 4, rng)
    assert crops.shape == (400, 2, 4, 4) and crops.dtype == images.dtype
    seen = set()
    for n in range(400):
        # The first pixel of an arange image tells where the patch starts.
        top, left = divmod(int(crops[n, 0, 0, 0] - images[n, 0, 0, 0]), 7)
        np.testing.assert_array_equal(crops[n], images[n, :, top:top + 4, left:left + 4])
        seen.add((top, left))
    assert seen == {(t, l) for t in range(3) for l in range(4)}  # 0..H-size and 0..W-size


def test_random_crop_is_reproducible_and_varies(rng):
    images = _arange_images(50, 3, 8, 8, np.uint8)
    a = T.random_crop(images, 5, np.random.default_rng(1))
    b = T.random_crop(images, 5, np.random.default_rng(1))
    c = T.random_crop(images, 5, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(T.random_crop(images, 8, rng), images)  # a full-size crop


def test_random_flip(rng):
    images = _arange_images(300, 2, 3, 5)
    flipped = T.random_flip(images, rng)
    assert flipped.shape == images.shape and flipped.dtype == images.dtype
    mirrored = np.array([not np.array_equal(f, x) for f, x in zip(flipped, images)])
    np.testing.assert_array_equal(flipped[mirrored], images[mirrored][..., ::-1])
    np.testing.assert_array_equal(flipped[~mirrored], images[~mirrored])
    assert 110 < mirrored.sum() < 190  # p = 1/2: 150 expected, sd 8.7
    np.testing.assert_array_equal(T.random_flip(images, rng, p=1.0)[0, 0, 0], [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(T.random_flip(images, rng, p=0.0), images)
    np.testing.assert_array_equal(T.random_flip(images, np.random.default_rng(3)),
                                  T.random_flip(images, np.random.default_rng(3)))


def test_crop_errors():
    images = np.zeros((2, 3, 6, 5))
    for op in (T.random_crop, lambda x, s, _: T.center_crop(x, s), lambda x, s, _: T.ten_crops(x, s)):
        with pytest.raises(ValueError, match=r"crop size 6 does not fit images of shape \(2, 3, 6, 5\) \(it must be 1\.\.5\)"):
            op(images, 6, None)
    with pytest.raises(ValueError, match=r"random_flip: images must be 4-D \(N, C, H, W\), got shape \(3, 6, 5\)"):
        T.random_flip(images[0], np.random.default_rng(0))


def test_bad_sizes_generators_and_probabilities_are_named():
    images, image, rng = np.zeros((2, 3, 6, 6), np.uint8), np.zeros((3, 6, 6), np.uint8), np.random.default_rng(0)
    for call in (lambda: T.center_crop(images, 4.0), lambda: T.random_crop(images, True, rng),
                 lambda: T.ten_crops(images, "4")):
        with pytest.raises(ValueError, match=r"size must be a positive int, got (4\.0|True|'4')"):
            call()
    for size in (0, 31.5):
        with pytest.raises(ValueError, match=f"rescale_and_center_crop: size must be a positive int, got {size}"):
            T.rescale_and_center_crop(image, size)
    for call, op in ((lambda: T.random_crop(images, 4, 0), "random_crop"),
                     (lambda: T.random_flip(images, None), "random_flip"),
                     (lambda: T.pca_color_augment(images, np.ones(3), np.eye(3), 7), "pca_offsets")):
        with pytest.raises(TypeError, match=f"{op}: rng must be a numpy.random.Generator"):
            call()
    for p in (2, -0.1, "0.5", None):
        with pytest.raises(ValueError, match=r"random_flip: p is a probability, in \[0, 1\]"):
            T.random_flip(images, rng, p)
    with pytest.raises(ValueError, match="Augment: crop must be a positive int, got 0"):
        Augment(crop=0)
    with pytest.raises(ValueError, match="Augment: flip must be True or False, got 'no'"):
        Augment(flip="no")
    with pytest.raises(ValueError, match=r"subtract_mean: images must be an array \(N, C, H, W\) or \(C, H, W\), got list"):
        T.subtract_mean([[1.0]], np.zeros((3, 6, 6)))


@pytest.mark.parametrize("eigenvalues, eigenvectors, which, got", [
    (np.ones(2), np.eye(3), "eigenvalues", r"float64 \(2,\)"),
    (np.ones(3), np.eye(3)[:2], "eigenvectors", r"float64 \(2, 3\)"),
    (np.ones(3), np.eye(3)[:, :2], "eigenvectors", r"float64 \(3, 2\)"),
    (np.array([1, np.nan, 0]), np.eye(3), "eigenvalues", r"float64 \(3,\)"),
    (np.ones(3), np.full((3, 3), "a"), "eigenvectors", r"<U1 \(3, 3\)"),
])
def test_pca_shapes_are_checked(eigenvalues, eigenvectors, which, got):
    images, rng = np.zeros((4, 3, 2, 2), np.float32), np.random.default_rng(0)
    for call, op in ((lambda: T.pca_color_augment(images, eigenvalues, eigenvectors, rng), "pca_offsets"),
                     (lambda: Augment(pca=(eigenvalues, eigenvectors)), "Augment")):
        with pytest.raises(ValueError, match=rf"{op}: {which} must be .* finite real numbers \(from fit_pca\), got {got}"):
            call()
    with pytest.raises(ValueError, match=r"Augment: pca must be the pair \(eigenvalues, eigenvectors\)"):
        Augment(pca=np.ones(3))


def test_center_crop():
    x = _arange_images(2, 1, 6, 7)
    np.testing.assert_array_equal(T.center_crop(x, 4), x[:, :, 1:5, 1:5])
    np.testing.assert_array_equal(T.center_crop(x, 3), x[:, :, 1:4, 2:5])


# --------------------------------------------------------------------------------------------
# §4.1 ten-crop testing


def test_ten_crops_positions():
    x = _arange_images(2, 2, 6, 8)
    crops = T.ten_crops(x, 4)
    assert crops.shape == (2, 10, 2, 4, 4)
    expected = [x[:, :, 0:4, 0:4], x[:, :, 0:4, 4:8], x[:, :, 2:6, 0:4], x[:, :, 2:6, 4:8], x[:, :, 1:5, 2:6]]
    for j, patch in enumerate(expected):
        np.testing.assert_array_equal(crops[:, j], patch)
        np.testing.assert_array_equal(crops[:, 5 + j], patch[..., ::-1])
    assert crops[0, 0, 0, 0, 0] == 0 and crops[0, 3, 0, -1, -1] == 47  # the corners really are corners
    odd = _arange_images(1, 1, 7, 9)  # margins 3 and 5: the centre starts at (1, 2), rounded down
    np.testing.assert_array_equal(T.ten_crops(odd, 4)[:, 4], odd[:, :, 1:5, 2:6])
    np.testing.assert_array_equal(T.ten_crops(odd, 4)[:, 9], odd[:, :, 1:5, 2:6][..., ::-1])


def test_ten_crop_predict_averages():
    x = _arange_images(3, 1, 5, 5).astype(np.float64)
    calls = []

    def predict(batch):
        calls.append(batch.shape)
        first = batch[:, 0, 0, 0]  # a different 'probability' for each patch
        return np.stack([first, 1 - first, 2 * first], axis=1)

    probabilities = T.ten_crop_predict(predict, x, 3)
    assert calls == [(30, 1, 3, 3)] and probabilities.shape == (3, 3)
    firsts = T.ten_crops(x, 3)[:, :, 0, 0, 0]  # (N, 10)
    np.testing.assert_allclose(probabilities, np.stack([firsts.mean(1), 1 - firsts.mean(1), 2 * firsts.mean(1)], axis=1))
    with pytest.raises(ValueError, match=r"predict must return \(M, K\) = \(30, K\) .* got shape \(3, 3\)"):
        T.ten_crop_predict(lambda batch: np.zeros((3, 3)), x, 3)

    calls.clear()  # in chunks of batch_size images: same numbers, bounded memory
    chunked = T.ten_crop_predict(predict, x, 3, batch_size=np.int64(2))  # NumPy ints too
    assert calls == [(20, 1, 3, 3), (10, 1, 3, 3)]
    np.testing.assert_array_equal(chunked, probabilities)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="ten_crop_predict: batch_size must be an int >= 1"):
            T.ten_crop_predict(predict, x, 3, batch_size=bad)


def test_ten_crop_predict_in_log_space():
    """``log=True`` averages the probabilities whose logs ``predict`` returns, and stays finite
    where a probability is below the smallest float32 (the plain average's log is -inf)."""
    x = np.random.default_rng(0).standard_normal((4, 2, 5, 5)).astype(np.float32)

    def log_softmax(batch):  # 6 classes from each patch's first row, and a 7th far below them
        z = batch[:, :, 0, :].reshape(len(batch), -1)
        z = np.concatenate([z, np.full((len(batch), 1), -200, np.float32)], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    log_p = T.ten_crop_predict(log_softmax, x, 3, log=True)
    assert log_p.shape == (4, 7) and log_p.dtype == np.float32 and np.isfinite(log_p).all()
    exact = T.ten_crop_predict(lambda b: np.exp(log_softmax(b).astype(np.float64)), x, 3)
    np.testing.assert_allclose(log_p, np.log(exact), rtol=1e-5)
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(T.ten_crop_predict(lambda b: np.exp(log_softmax(b)), x, 3))).any()
    with pytest.raises(ValueError, match=r"predict must return \(M, K\) = \(40, K\) log-probabilities"):
        T.ten_crop_predict(lambda batch: np.zeros((3, 3)), x, 3, log=True)
    with pytest.raises(ValueError, match="ten_crop_predict: log must be True or False, got 'no'"):
        T.ten_crop_predict(log_softmax, x, 3, log="no")


# --------------------------------------------------------------------------------------------
# §4.1 PCA colour augmentation


def test_fit_pca_matches_numpy_cov(rng):
    images = rng.integers(0, 256, (7, 3, 4, 6), dtype=np.uint8)
    images[:, 1] = images[:, 0] // 2 + images[:, 1] // 2  # correlated channels, like real photos
    pixels = images.transpose(1, 0, 2, 3).reshape(3, -1) / 255.0
    cov = np.cov(pixels)
    for source in [images, [images[:3], images[:0], images[3:]]]:  # chunks; batches, one empty
        eigenvalues, eigenvectors = T.fit_pca(source, chunk_size=2)
        assert eigenvalues.shape == (3,) and eigenvectors.shape == (3, 3)
        assert eigenvalues[0] >= eigenvalues[1] >= eigenvalues[2] > 0
        np.testing.assert_allclose(eigenvectors @ np.diag(eigenvalues) @ eigenvectors.T, cov, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(eigenvectors.T @ eigenvectors, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(eigenvalues, np.linalg.eigvalsh(cov)[::-1], rtol=1e-10)
        for i in range(3):  # each column is an eigenvector of numpy's covariance
            np.testing.assert_allclose(cov @ eigenvectors[:, i], eigenvalues[i] * eigenvectors[:, i], atol=1e-14)


def test_fit_pca_is_on_the_0_to_1_scale():
    """Half the pixels black, half white, grey: each channel's variance is about 1/4 on 0..1."""
    images = np.zeros((2, 3, 2, 2), np.uint8)
    images[1] = 255
    eigenvalues, eigenvectors = T.fit_pca(images)
    np.testing.assert_allclose(eigenvalues, [3 * 0.25 * 8 / 7, 0, 0], atol=1e-12)  # count - 1 = 7
    np.testing.assert_allclose(np.abs(eigenvectors[:, 0]), np.full(3, 3 ** -0.5))


def test_fit_pca_errors():
    with pytest.raises(ValueError, match=r"fit_pca: images must have 3 \(RGB\) channels, got shape \(2, 1, 4, 4\)"):
        T.fit_pca(np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="need at least 2 pixels, got 1"):
        T.fit_pca(np.zeros((1, 3, 1, 1), np.uint8))


@pytest.fixture
def pca(rng):
    """A rank-2 colour distribution: eigenvalues (0.05, 0.01, 0), a random orthonormal basis."""
    basis, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return np.array([0.05, 0.01, 0.0]), basis


def test_pca_offset_is_one_colour_per_image_in_the_eigenvector_span(rng, pca):
    eigenvalues, eigenvectors = pca
    images = rng.integers(0, 256, (2000, 3, 4, 5), dtype=np.uint8)
    out = T.pca_color_augment(images, eigenvalues, eigenvectors, rng)
    assert out.shape == images.shape and out.dtype == np.float32
    delta = out.astype(np.float64) - images
    # The same offset at every pixel of an image ...
    np.testing.assert_allclose(delta, np.broadcast_to(delta[:, :, :1, :1], delta.shape), atol=1e-4)
    offsets = delta[:, :, 0, 0] / T.PIXEL_SCALE  # (N, 3) on the 0..1 scale
    # ... equal to sum_i (a_i * l_i) p_i: nothing along p3, whose eigenvalue is 0 ...
    coefficients = offsets @ eigenvectors  # column i: a_i * l_i
    np.testing.assert_allclose(coefficients[:, 2], 0, atol=1e-7)
    # ... with a_i = coefficient / l_i ~ N(0, 0.1), drawn independently for each image.
    alphas = coefficients[:, :2] / eigenvalues[:2]
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.08)
    np.testing.assert_allclose(alphas.mean(axis=0), 0, atol=0.01)
    assert abs(np.corrcoef(alphas.T)[0, 1]) < 0.1
    assert len(np.unique(alphas[:, 0])) == len(images)


def test_pca_offsets_formula_and_seed(pca):
    eigenvalues, eigenvectors = pca
    offsets = T.pca_offsets(5, eigenvalues, eigenvectors, np.random.default_rng(7), std=0.3)
    alphas = np.random.default_rng(7).normal(0.0, 0.3, size=(5, 3))  # the documented draw
    for k in range(5):
        expected = sum(alphas[k, i] * eigenvalues[i] * eigenvectors[:, i] for i in range(3))
        np.testing.assert_allclose(offsets[k], expected, atol=1e-15)
    images = np.zeros((5, 3, 2, 2), np.float32) - 3.5  # mean-subtracted images work the same
    out = T.pca_color_augment(images, eigenvalues, eigenvectors, np.random.default_rng(7), std=0.3)
    np.testing.assert_allclose(out[:, :, 1, 1], -3.5 + 255 * offsets, rtol=1e-5)
    with pytest.raises(ValueError, match=r"pca_color_augment: images must have 3 \(RGB\) channels"):
        T.pca_color_augment(np.zeros((1, 1, 2, 2)), eigenvalues, eigenvectors, np.random.default_rng(0))
