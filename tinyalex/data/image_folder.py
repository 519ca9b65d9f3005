"""Images in one folder per class, the way ImageNet (paper §2) is usually laid out on disk.

    root/
        n01440764/          one sub-folder per class; its name is the class name
            a.JPEG
            b.png
        n01443537/
            c.jpg

Rules, so that nothing happens behind a student's back:

* Classes are the sub-folders of ``root``, sorted by name; label ``i`` is ``classes[i]``. Pass
  ``classes=`` (e.g. the training folder's) to give a validation folder the same labels.
* Images are the files directly in a class folder whose names end in ``.jpg``, ``.jpeg`` or
  ``.png`` (any case). They are decoded by Pillow, which is allowed only its JPEG and PNG
  decoders, and converted to RGB (grey and palette images are expanded, alpha is dropped).
  16-bit PNGs keep the high byte of each value (65535 -> 255): Pillow does that itself for
  colour, and for 16-bit grey (its mode ``I;16``, ``I`` in older Pillow) so does tinyalex,
  where Pillow's ``convert("RGB")`` would clip every value above 255 to white. A JPEG's EXIF
  orientation tag is not applied (nor by torchvision): pixels come as they are stored, so a
  photo a camera stored sideways is read sideways.
* Everything else is skipped and listed in ``skipped`` as ``(path, reason)``, with one warning
  when the folder is read: other files, files directly in ``root``, deeper folders, hidden
  entries (``.DS_Store``), sub-folders not in ``classes``, and symbolic links whose target is
  outside ``root``, missing, or a loop of links. Links that stay inside ``root`` are followed.
* A file with an image name that Pillow cannot decode, or that Pillow refuses as a
  decompression bomb (over twice ``PIL.Image.MAX_IMAGE_PIXELS``), raises ``DataError`` (a
  ``ValueError``) naming it, when it is read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError

__all__ = ["ImageFolder"]

EXTENSIONS = (".jpg", ".jpeg", ".png")


def _rgb(image: Image.Image) -> np.ndarray:
    """``image`` as uint8 ``(H, W, 3)``; 16-bit grey keeps its high byte (see the module)."""
    if image.mode.startswith("I"):  # the PNG decoder's only mode deeper than 8 bits: 16-bit grey
        grey = (np.asarray(image) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


class ImageFolder:
    """An indexable dataset of ``(image, label)``: image uint8 ``(3, H, W)``, label an int.

    ``transform``, when given, is applied to each decoded image, e.g.
    ``transforms.rescale_and_center_crop`` for the paper's §2 256x256 images.
    """

    def __init__(self, root, transform=None, classes=None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a folder")
        self.transform = transform
        self.skipped: list[tuple[Path, str]] = []
        folders = {p.name: p for p in self._entries(self.root) if p.is_dir()}
        self.classes = sorted(folders) if classes is None else list(classes)
        for name in sorted(set(folders) - set(self.classes)):
            self.skipped.append((folders[name], "a folder that is not one of the classes"))
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            if name in folders:
                self.samples += [(p, label) for p in self._images(folders[name])]
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no {'/'.join(EXTENSIONS)} images in class "
                                    f"sub-folders of {self.root}")
        if self.skipped:
            path, reason = self.skipped[0]
            warnings.warn(f"ImageFolder: skipped {len(self.skipped)} entries under {self.root} "
                          f"(first: {path}: {reason}); see .skipped", stacklevel=2)

    def _entries(self, folder: Path) -> list[Path]:
        """The sorted entries of ``folder`` that may be read; records the others as skipped."""
        kept = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                self.skipped.append((path, "hidden"))
            elif path.is_symlink() and (problem := self._link_problem(path)):
                self.skipped.append((path, problem))
            elif folder == self.root and not path.is_dir():
                self.skipped.append((path, "a file that is not in a class folder"))
            else:
                kept.append(path)
        return kept

    def _link_problem(self, link: Path) -> str | None:
        """Why the symbolic link ``link`` is skipped, or None where it is followed."""
        try:
            target = link.resolve(strict=True)
        except FileNotFoundError:
            return f"a symbolic link to {Path(link.parent, link.readlink())}, which does not exist"
        except (OSError, RuntimeError) as error:  # a loop is a RuntimeError before Python 3.13
            return f"a symbolic link that cannot be followed ({error})"
        if self.root in target.parents:
            return None
        return f"a symbolic link to {target}, outside the root"

    def _images(self, folder: Path) -> list[Path]:
        images = []
        for path in self._entries(folder):
            if path.is_dir():
                self.skipped.append((path, "a folder inside a class folder"))
            elif path.suffix.lower() not in EXTENSIONS:
                self.skipped.append((path, f"not a {'/'.join(EXTENSIONS)} file"))
            elif not path.is_file():  # a FIFO would block the reader forever
                self.skipped.append((path, "not a regular file (a FIFO, socket or device)"))
            else:
                images.append(path)
        return images

    @property
    def labels(self) -> np.ndarray:
        """Every image's label, int64 ``(len(self),)``."""
        return np.array([label for _, label in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            with Image.open(path, formats=("JPEG", "PNG")) as image:
                pixels = _rgb(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"ImageFolder: cannot decode {path} as a JPEG or PNG image "
                            f"({error})") from error
        image = pixels.transpose(2, 0, 1).copy()  # (H, W, 3) -> (3, H, W)
        return (image if self.transform is None else self.transform(image)), label

    def batch(self, indices):
        """The images and labels at ``indices``, stacked: ``(len(indices), ...)`` and int64.

        The images must share a shape (give the folder a transform that makes them one size).
        """
        items = [self[i] for i in indices]
        shapes = {image.shape for image, _ in items}
        if len(shapes) > 1:
            raise ValueError(f"ImageFolder.batch: the images have different shapes "
                             f"{sorted(shapes)}; use a transform such as "
                             "rescale_and_center_crop to make them one size")
        return (np.stack([image for image, _ in items]),
                np.array([label for _, label in items], dtype=np.int64))

    def __repr__(self) -> str:
        return (f"ImageFolder({str(self.root)!r}, {len(self.classes)} classes, {len(self)} images, "
                f"{len(self.skipped)} entries skipped)")
