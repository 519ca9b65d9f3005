"""Top-k error rates and atomic, pickle-free checkpoints."""

import os
import time
import zipfile

import numpy as np
import pytest

from tinyalex import checkpoint, metrics


def test_topk_error_by_hand(xp):
    scores = xp.asarray([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = xp.asarray([2, 0, 0])
    assert metrics.topk_error(scores, labels, 1) == pytest.approx(2 / 3)  # only row 1 is right
    assert metrics.topk_error(scores, labels, 2) == pytest.approx(1 / 3)  # row 2's label is 3rd
    assert metrics.topk_error(scores, labels, 3) == 0.0
    assert metrics.top1_top5(scores, labels) == (pytest.approx(2 / 3), 0.0)


def test_topk_error_matches_argsort(rng):
    scores = rng.standard_normal((200, 20))
    labels = rng.integers(0, 20, 200)
    for k in (1, 5):
        top = np.argsort(-scores, axis=1)[:, :k]
        expected = 1 - np.mean([labels[i] in top[i] for i in range(200)])
        assert metrics.topk_error(scores, labels, k) == pytest.approx(expected)


def test_topk_error_breaks_ties_like_argmax(xp, rng):
    """Among equal scores the lower class comes first (argmax, a stable argsort): a model whose
    outputs are all equal is at chance, not perfect."""
    labels = xp.asarray([0, 3, 5, 9])
    assert metrics.topk_error(xp.zeros((4, 10)), labels, 1) == 0.75  # it predicts class 0
    assert metrics.topk_error(xp.zeros((4, 10)), labels, 5) == 0.5  # classes 0..4
    scores = rng.integers(0, 4, (300, 8)).astype(float)  # many ties
    labels = rng.integers(0, 8, 300)
    for k in (1, 3, 5):
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        expected = 1 - np.mean([labels[i] in top[i] for i in range(300)])
        assert metrics.topk_error(xp.asarray(scores), xp.asarray(labels), k) == pytest.approx(expected)
    assert metrics.topk_error(scores, labels, 1) == np.mean(scores.argmax(axis=1) != labels)


@pytest.mark.parametrize(
    "scores, labels, k, message",
    [
        (np.zeros(3), np.zeros(3, int), 1, "scores must be (N, num_classes)"),
        (np.zeros((3, 4)), np.zeros(2, int), 1, "labels must have shape (3,)"),
        (np.zeros((3, 4)), np.zeros(3, int), 5, "k must be an int in 1..4, got 5"),
        (np.zeros((3, 4)), np.zeros(3, int), 0, "k must be an int in 1..4, got 0"),
        (np.zeros((3, 4)), np.zeros(3, int), 1.5, "k must be an int in 1..4, got 1.5"),
        (np.zeros((3, 4)), np.zeros(3, int), True, "k must be an int in 1..4, got True"),
        (np.zeros((3, 4)), np.zeros(3), 1, "labels must be integers (class indices), got dtype float64"),
        (np.zeros((3, 4)), np.array([0, -1, 2]), 1, "labels must be in 0..3, got values from -1 to 2"),
        (np.zeros((3, 4)), np.array([0, 4, 2]), 1, "labels must be in 0..3, got values from 0 to 4"),
    ],
)
def test_topk_error_bad_input(scores, labels, k, message):
    with pytest.raises(ValueError, match="topk_error") as info:
        metrics.topk_error(scores, labels, k)
    assert message in str(info.value)
    if not message.startswith("k must"):  # top1_top5 checks the same, in its own name
        with pytest.raises(ValueError, match="^top1_top5: ") as info:
            metrics.top1_top5(scores, labels)
        assert message in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_topk_error_refuses_nan_and_plus_infinity(xp, bad):
    """A diverged model's logits (NaN, or overflowed to +inf) must not score as hits: nothing
    is higher than NaN, and a row of equal infinities ties with its label."""
    labels = xp.asarray([1, 0])
    for scores in (xp.full((2, 3), bad), xp.asarray([[0.1, 0.5, 0.4], [0.9, bad, 0.05]])):
        for op in ("topk_error", "top1_top5"):
            with pytest.raises(ValueError, match=f"^{op}: scores must not be NaN or \\+inf, "
                                                 "got [0-9]+ such values"):
                getattr(metrics, op)(scores, labels)


def test_topk_error_takes_minus_infinity_the_log_of_a_zero_probability(xp):
    with np.errstate(divide="ignore"):
        log_p = xp.asarray(np.log([[0.0, 1.0, 0.0], [0.7, 0.0, 0.3]]))  # -inf where p == 0
    assert metrics.topk_error(log_p, xp.asarray([1, 1])) == 0.5
    assert metrics.topk_error(log_p, xp.asarray([0, 1]), k=2) == 0.5


def test_checkpoint_round_trip(tmp_path, rng):
    arrays = {"conv1.weight": rng.standard_normal((4, 3, 2, 2)).astype(np.float32),
              "step": np.array(7)}
    state = np.random.default_rng(5).bit_generator.state
    meta = {"epoch": 3, "lr": 0.01, "rng": state}
    path = checkpoint.save_checkpoint(tmp_path / "run" / "ckpt.npz", arrays, meta)
    loaded, loaded_meta = checkpoint.load_checkpoint(path)
    assert loaded.keys() == arrays.keys()
    for name in arrays:
        assert loaded[name].dtype == arrays[name].dtype
        np.testing.assert_array_equal(loaded[name], arrays[name])
    assert loaded_meta == meta  # the generator state survives JSON exactly (big ints included)
    restored = np.random.default_rng()
    restored.bit_generator.state = loaded_meta["rng"]
    assert restored.random() == np.random.default_rng(5).random()
    assert os.listdir(tmp_path / "run") == ["ckpt.npz"]  # no temporary left behind


def test_checkpoint_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    checkpoint.save_checkpoint(path, {"w": np.ones(3)}, {"epoch": 1})

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", explode)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 2})
    arrays, meta = checkpoint.load_checkpoint(path)
    assert meta == {"epoch": 1} and arrays["w"].tolist() == [1, 1, 1]
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_checkpoint_arrays_may_have_any_name(tmp_path):
    """numpy.savez would take these two for its own keyword arguments."""
    arrays = {"file": np.ones(2), "allow_pickle": np.zeros(3), "args": np.arange(4)}
    path = checkpoint.save_checkpoint(tmp_path / "c.npz", arrays)
    loaded, _ = checkpoint.load_checkpoint(path)
    assert {name: a.tolist() for name, a in loaded.items()} == {name: a.tolist() for name, a in arrays.items()}


def test_checkpoint_refuses_pickled_content(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}], dtype=object), __meta__=np.frombuffer(b"{}", np.uint8))
    with pytest.raises(ValueError, match="not a tinyalex checkpoint"):
        checkpoint.load_checkpoint(path)
    with pytest.raises(ValueError, match="dtype object, which needs pickle"):
        checkpoint.save_checkpoint(tmp_path / "x.npz", {"a": np.array([None], dtype=object)})


def test_checkpoint_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load_checkpoint(tmp_path / "nope.npz")
    np.savez(tmp_path / "plain.npz", w=np.ones(2))
    with pytest.raises(ValueError, match="not a tinyalex checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "plain.npz")


def test_checkpoint_truncated_corrupt_or_odd_files(tmp_path):
    """Every way a file can fail to be a checkpoint ends in one ValueError naming the file."""
    good = checkpoint.save_checkpoint(tmp_path / "good.npz", {"w": np.arange(1000.0)}, {"epoch": 1})
    content = good.read_bytes()
    corrupt = bytearray(content)
    corrupt[content.index(b"w.npy") + 200] ^= 0xFF  # a byte of the array's data: a CRC error
    np.save(tmp_path / "single.npy", np.ones(2))
    np.savez(tmp_path / "list.npz", __meta__=np.frombuffer(b"[1, 2]", np.uint8))
    np.savez(tmp_path / "json.npz", __meta__=np.frombuffer(b"{not json", np.uint8))
    checkpoint.save_checkpoint(tmp_path / "meta.npz", {})
    with zipfile.ZipFile(tmp_path / "meta.npz", "a") as archive:  # numpy.load gives its bytes
        archive.writestr("weights", b"not an array")
    files = {"truncated.npz": content[: len(content) // 2], "corrupt.npz": bytes(corrupt),
             "empty.npz": b"", "garbage.npz": b"garbage\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for name in (*files, "single.npy", "list.npz", "json.npz", "meta.npz"):
        with pytest.raises(ValueError, match=f"load_checkpoint: .*{name} is not a tinyalex checkpoint") as error:
            checkpoint.load_checkpoint(tmp_path / name)
        assert "allow_pickle" not in str(error.value)  # numpy's advice to load it unsafely
    with pytest.raises(ValueError, match=r"garbage.npz is not a tinyalex checkpoint \(not an .npz "
                                         r"archive: it starts with b'garb'\)"):
        checkpoint.load_checkpoint(tmp_path / "garbage.npz")


def test_checkpoint_metadata_alone(tmp_path):
    path = checkpoint.save_checkpoint(tmp_path / "c.npz", {"w": np.ones(3)}, {"epoch": 4})
    assert checkpoint.load_checkpoint(path, meta_only=True) == ({}, {"epoch": 4})


def test_checkpoint_files_get_the_usual_permissions(tmp_path):
    """A checkpoint is as readable as any file the process writes (0666 less the umask)."""
    mask = os.umask(0o027)
    try:
        path = checkpoint.save_checkpoint(tmp_path / "c.npz", {"w": np.ones(2)})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o640


def test_checkpoint_written_through_a_symbolic_link(tmp_path):
    """As open() does: last.npz -> epoch-3.npz stays a link, and its target gets the bytes."""
    target = checkpoint.save_checkpoint(tmp_path / "epoch-3.npz", {"w": np.ones(2)})
    (tmp_path / "last.npz").symlink_to("epoch-3.npz")
    checkpoint.save_checkpoint(tmp_path / "last.npz", {"w": np.zeros(2)})
    assert (tmp_path / "last.npz").is_symlink()
    assert checkpoint.load_checkpoint(target)[0]["w"].tolist() == [0, 0]
    assert sorted(os.listdir(tmp_path)) == ["epoch-3.npz", "last.npz"]


def test_checkpoint_writes_remove_what_killed_writes_left(tmp_path):
    """kill -9 mid-save leaves .last.npz.<random>.tmp (0.5 GB for AlexNet); the next save to
    last.npz removes it once an hour old, but not a recent one, nor another file's."""
    stale, live = tmp_path / ".last.npz.abc.tmp", tmp_path / ".last.npz.def.tmp"
    other = tmp_path / ".best.npz.abc.tmp"
    for orphan in (stale, live, other):
        orphan.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    for orphan in (stale, other):
        os.utime(orphan, (old, old))
    checkpoint.save_checkpoint(tmp_path / "last.npz", {"w": np.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, live.name, "last.npz"]
