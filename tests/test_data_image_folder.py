"""ImageFolder: one folder per class, JPEG and PNG through Pillow, and what it skips."""

import os
import re

import numpy as np
import pytest
from PIL import Image

from tinyalex.data import DataError, ImageFolder
from tinyalex.data.transforms import rescale_and_center_crop


def _save(path, pixels_hwc, mode=None, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels_hwc, mode).save(path, **options)
    return path


@pytest.fixture
def folder(tmp_path, rng):
    """root/{bird (empty), cat, dog} with PNG and JPEG files, plus things to skip."""
    root = tmp_path / "root"
    (root / "bird").mkdir(parents=True)
    made = {
        "cat/a.png": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
        "cat/b.PNG": rng.integers(0, 256, (4, 6), dtype=np.uint8),  # grey
        "dog/c.jpg": np.full((16, 24, 3), (200, 30, 90), np.uint8),
        "dog/d.jpeg": np.full((8, 8, 3), (10, 250, 120), np.uint8),
    }
    for name, pixels in made.items():
        _save(root / name, pixels, quality=95) if "jp" in name else _save(root / name, pixels)
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "dog" / "nested").mkdir()
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "README.md").write_text("hello")
    return root, made


def test_classes_samples_and_values(folder):
    root, made = folder
    with pytest.warns(UserWarning, match=r"ImageFolder: skipped 4 entries"):
        data = ImageFolder(root)
    assert data.classes == ["bird", "cat", "dog"]
    assert [(p.relative_to(root).as_posix(), label) for p, label in data.samples] == [
        ("cat/a.png", 1), ("cat/b.PNG", 1), ("dog/c.jpg", 2), ("dog/d.jpeg", 2)]
    assert len(data) == 4 and data.labels.tolist() == [1, 1, 2, 2] and data.labels.dtype == np.int64

    image, label = data[0]
    assert image.dtype == np.uint8 and image.shape == (3, 5, 7) and label == 1
    np.testing.assert_array_equal(image, made["cat/a.png"].transpose(2, 0, 1))  # PNG is lossless
    grey, _ = data[1]
    np.testing.assert_array_equal(grey, np.stack([made["cat/b.PNG"]] * 3))  # grey -> RGB
    jpeg, label = data[2]
    assert jpeg.shape == (3, 16, 24) and label == 2
    assert np.abs(jpeg.astype(int) - [[[200]], [[30]], [[90]]]).max() <= 3  # lossy, but close


def test_skipped_entries_are_listed(folder):
    root, _ = folder
    with pytest.warns(UserWarning):
        data = ImageFolder(root)
    reasons = {p.relative_to(root).as_posix(): reason for p, reason in data.skipped}
    assert reasons == {
        ".DS_Store": "hidden",
        "README.md": "a file that is not in a class folder",
        "dog/nested": "a folder inside a class folder",
        "dog/notes.txt": "not a .jpg/.jpeg/.png file",
    }
    assert "4 images, 4 entries skipped" in repr(data)


def test_palette_and_alpha_become_rgb(tmp_path, rng):
    rgba = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    _save(tmp_path / "x" / "rgba.png", rgba, "RGBA")
    palette = Image.fromarray(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)).quantize(8)
    palette.save(tmp_path / "x" / "palette.png")
    data = ImageFolder(tmp_path)
    np.testing.assert_array_equal(data[1][0], rgba[..., :3].transpose(2, 0, 1))  # alpha dropped
    np.testing.assert_array_equal(data[0][0], np.asarray(palette.convert("RGB")).transpose(2, 0, 1))


def test_symlinks_inside_root_followed_outside_skipped(tmp_path, rng):
    outside = _save(tmp_path / "elsewhere" / "secret.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    root = tmp_path / "root"
    inside = _save(root / "a" / "real.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    (root / "a" / "alias.png").symlink_to(inside)
    (root / "a" / "leak.png").symlink_to(outside)
    (root / "b").symlink_to(outside.parent, target_is_directory=True)
    with pytest.warns(UserWarning, match="skipped 2 entries"):
        data = ImageFolder(root)
    assert data.classes == ["a"]
    assert [p.name for p, _ in data.samples] == ["alias.png", "real.png"]
    np.testing.assert_array_equal(data[0][0], data[1][0])
    assert sorted((p.name, reason.split(",")[0]) for p, reason in data.skipped) == [
        ("b", f"a symbolic link to {outside.parent.resolve()}"),
        ("leak.png", f"a symbolic link to {outside.resolve()}")]


def test_broken_and_looping_symlinks_are_skipped(tmp_path, rng):
    """Path.resolve raises on a loop of links and on a file used as a folder; a link to
    nothing is no FIFO."""
    _save(tmp_path / "a" / "real.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    (tmp_path / "a" / "gone.png").symlink_to(tmp_path / "a" / "deleted.png")
    (tmp_path / "a" / "loop.png").symlink_to("loop.png")
    (tmp_path / "a" / "through.png").symlink_to(tmp_path / "a" / "real.png" / "x.png")
    with pytest.warns(UserWarning, match="skipped 3 entries"):
        data = ImageFolder(tmp_path)
    assert [p.name for p, _ in data.samples] == ["real.png"]
    assert [p.name for p, _ in data.skipped] == ["gone.png", "loop.png", "through.png"]
    gone, loop, through = (reason for _, reason in data.skipped)
    assert gone == f"a symbolic link to {tmp_path / 'a' / 'deleted.png'}, which does not exist"
    assert re.fullmatch(r"a symbolic link that cannot be followed \(.*(loop|levels).*\)", loop)
    assert re.fullmatch(r"a symbolic link that cannot be followed \(.*Not a directory.*\)", through)


def test_a_fifo_named_like_an_image_is_skipped(tmp_path, rng):
    """Opening it would wait forever for a writer."""
    _save(tmp_path / "a" / "real.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    os.mkfifo(tmp_path / "a" / "pipe.png")
    with pytest.warns(UserWarning, match="skipped 1 entries"):
        data = ImageFolder(tmp_path)
    assert [p.name for p, _ in data.samples] == ["real.png"]
    assert data.skipped == [(tmp_path / "a" / "pipe.png", "not a regular file (a FIFO, socket or device)")]


def test_undecodable_image_names_the_file(tmp_path, rng):
    _save(tmp_path / "a" / "good.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    _save(tmp_path / "a" / "gif.png", rng.integers(0, 256, (2, 2), dtype=np.uint8), format="GIF")
    data = ImageFolder(tmp_path)
    assert [p.name for p, _ in data.samples] == ["broken.jpg", "gif.png", "good.png"]
    for index, name in [(0, "broken.jpg"), (1, "gif.png")]:  # GIF is not a decoder we allow
        with pytest.raises(DataError, match=rf"ImageFolder: cannot decode .*{name} as a JPEG or PNG"):
            data[index]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_sixteen_bit_grey_keeps_the_high_byte(tmp_path, monkeypatch, mode):
    """Not clipped to 255 by Pillow's convert("RGB"). Pillow opens a 16-bit grey PNG as "I;16",
    older Pillow as "I"; "I;16B" holds the same values big-endian."""
    values = np.array([[0, 255, 256, 1000, 2000, 65280, 65535]], np.uint16)
    _save(tmp_path / "a" / "deep.png", values)
    with Image.open(tmp_path / "a" / "deep.png") as saved:
        assert saved.mode in ("I;16", "I")
    decoded = {"I;16B": lambda: Image.frombytes("I;16B", (7, 1), values.astype(">u2").tobytes()),
               "I": lambda: Image.fromarray(values.astype(np.int32))}
    if mode in decoded:
        monkeypatch.setattr(Image, "open", lambda *args, **kwargs: decoded[mode]())
    image, _ = ImageFolder(tmp_path)[0]
    np.testing.assert_array_equal(image, np.stack([[[0, 0, 1, 3, 7, 255, 255]]] * 3))


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    _save(tmp_path / "a" / "bomb.png", np.zeros((5, 5), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # Pillow refuses more than twice this
    with pytest.raises(DataError, match=r"ImageFolder: cannot decode .*bomb\.png .*decompression bomb"):
        ImageFolder(tmp_path)[0]


def test_transform_batch_and_shared_classes(tmp_path, rng):
    for name, shape in [("cat/a.png", (300, 200, 3)), ("cat/b.png", (200, 300, 3)), ("dog/c.png", (256, 256, 3))]:
        _save(tmp_path / "train" / name, rng.integers(0, 256, shape, dtype=np.uint8))
    plain = ImageFolder(tmp_path / "train")
    with pytest.raises(ValueError, match=r"different shapes \[\(3, 200, 300\), \(3, 300, 200\)\]"):
        plain.batch([0, 1])
    resized = ImageFolder(tmp_path / "train", transform=rescale_and_center_crop)
    images, labels = resized.batch([2, 0, 1])
    assert images.shape == (3, 3, 256, 256) and images.dtype == np.uint8
    assert labels.tolist() == [1, 0, 0] and labels.dtype == np.int64
    np.testing.assert_array_equal(images[0], plain[2][0])  # already 256x256: untouched

    _save(tmp_path / "val" / "dog" / "d.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    val = ImageFolder(tmp_path / "val", classes=plain.classes)
    assert val.classes == ["cat", "dog"] and val.labels.tolist() == [1]  # same label as in train


def test_no_images(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no .jpg/.jpeg/.png images in class sub-folders"):
        ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        ImageFolder(tmp_path / "missing")
