"""From uint8 images to network inputs: batch order, preprocessing (mean, scale, resize) and the
augmentation hook, including the PCA noise in the network's units."""

import numpy as np
import pytest

from tinyalex.batches import Augment, Preprocess, batch_order, resize_images
from tinyalex.data import transforms


def test_batch_order_uses_every_image_once():
    batches = batch_order(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = batch_order(10, 4, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # seeded
    assert np.concatenate(batch_order(10, 4)).tolist() == list(range(10))  # in order without rng
    with pytest.raises(ValueError, match="batch_order: need n >= 1 and batch_size >= 1"):
        batch_order(0, 4)


def test_preprocess_centres_and_scales_to_unit_variance(rng):
    images = rng.integers(0, 256, (50, 3, 6, 6)).astype(np.uint8)
    preprocess = Preprocess.fit(images, chunk_size=7)
    x = preprocess(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    assert x.std() == pytest.approx(1.0, rel=1e-5)
    fixed = Preprocess.fit(images, scale=1.0)
    np.testing.assert_allclose(fixed(images), images - images.mean(axis=0), atol=1e-3)
    restored = Preprocess.from_state(*preprocess.state())
    np.testing.assert_array_equal(restored(images[:5]), x[:5])
    with pytest.raises(ValueError, match="Preprocess: scale must be a finite positive number"):
        Preprocess(preprocess.mean, 0.0)


@pytest.mark.parametrize("scale", [2, 2.0, np.float32(2.0), np.float64(2.0), np.int64(2)])
def test_preprocess_takes_any_real_scale(rng, scale):
    images = rng.integers(0, 256, (4, 1, 3, 3)).astype(np.uint8)
    for preprocess in (Preprocess.fit(images, scale=scale), Preprocess(np.zeros((1, 3, 3)), scale)):
        assert preprocess.scale == 2.0 and type(preprocess.scale) is float


@pytest.mark.parametrize("scale", [0, -1.0, np.float32(0), float("inf"), float("nan"), True, "2", np.ones(1)])
def test_scales_must_be_finite_positive_numbers(rng, scale):
    """Not a bool (True would be 1.0), not zero (every batch would be NaN): the same rule for
    Preprocess, Preprocess.fit and Augment, which divides the PCA eigenvalues by it."""
    images = rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    pca = transforms.fit_pca(images)
    with pytest.raises(ValueError, match=r"^Preprocess: scale must be a finite positive number, got "):
        Preprocess(np.zeros((3, 3, 3)), scale)
    with pytest.raises(ValueError, match=r"^Preprocess.fit: scale must be 'std' or a finite positive number, got "):
        Preprocess.fit(images, scale=scale)
    with pytest.raises(ValueError, match=r"^Augment: scale must be a finite positive number, got "):
        Augment(pca=pca, scale=scale)


@pytest.mark.parametrize("mean, message", [
    (np.zeros((3, 3)), r"mean must be a \(C, R, R\) image, got shape \(3, 3\)"),
    (np.full((1, 3, 3), np.nan), "the mean image holds values that are not finite numbers")])
def test_the_mean_image_must_be_an_image_of_finite_numbers(mean, message):
    """A NaN mean (a damaged checkpoint's) would make every batch NaN, and training would
    stop as if the learning rate were too high."""
    with pytest.raises(ValueError, match="^Preprocess: " + message):
        Preprocess(mean, 1.0)
    with pytest.raises(ValueError, match="^Preprocess: " + message):
        Preprocess.from_state({"mean": mean}, {"scale": 1.0, "size": None, "channels": None})


def test_fit_explains_a_zero_standard_deviation_and_checks_chunk_size(rng):
    same = np.full((5, 1, 4, 4), 7, np.uint8)
    message = (r"Preprocess.fit: scale='std' measured the standard deviation of the mean-subtracted "
               r"training pixels as 0 \(all 5 images are the same\).*give a numeric scale, e.g. scale=1.0")
    with pytest.raises(ValueError, match=message):
        Preprocess.fit(same)
    assert np.array_equal(Preprocess.fit(same, scale=1.0)(same), np.zeros(same.shape, np.float32))
    images = rng.integers(0, 256, (5, 1, 4, 4)).astype(np.uint8)
    for chunk_size in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"Preprocess.fit: chunk_size must be a positive int, got {chunk_size}"):
            Preprocess.fit(images, chunk_size=chunk_size)


def test_resize_and_grey_to_rgb(rng):
    grey = rng.integers(0, 256, (4, 1, 28, 28)).astype(np.uint8)
    out = resize_images(grey, 40, channels=3)
    assert out.shape == (4, 3, 40, 40) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0], out[:, 2])
    np.testing.assert_array_equal(out[1], np.repeat(transforms.rescale_and_center_crop(grey[1], 40), 3, 0))
    assert resize_images(grey) is grey  # nothing to do
    preprocess = Preprocess.fit(grey, size=40, channels=3)
    assert preprocess.mean.shape == (3, 40, 40) and preprocess(grey).shape == (4, 3, 40, 40)
    with pytest.raises(ValueError, match="cannot turn 3 channels into 1"):
        resize_images(out, channels=1)


def test_augment_crops_flips_and_adds_the_papers_colour_noise_in_network_units(rng):
    images = rng.integers(0, 256, (8, 3, 10, 10)).astype(np.uint8)
    eigenvalues, eigenvectors = transforms.fit_pca(images)
    pixels = transforms.subtract_mean(images, transforms.mean_image(images))
    scale = 37.0
    augment = Augment(crop=8, flip=True, pca=(eigenvalues, eigenvectors), scale=scale)
    out = augment(pixels / np.float32(scale), np.random.default_rng(4))
    generator = np.random.default_rng(4)  # the same draws, on the pixel scale
    expected = transforms.random_flip(transforms.random_crop(pixels, 8, generator), generator)
    expected = transforms.pca_color_augment(expected, eigenvalues, eigenvectors, generator)
    assert out.shape == (8, 3, 8, 8)
    np.testing.assert_allclose(out * scale, expected, rtol=1e-5, atol=1e-3)
    assert repr(augment) == ("random 8x8 crops, horizontal flips, PCA colour noise (eigenvalues "
                             + ", ".join(f"{v:.4g}" for v in eigenvalues) + "; input scale 37)")
    assert repr(Augment(flip=False)) == "none"
