"""The convolution's fast paths (im2col with a shared Workspace, cols rebuilt in backward; the
rows, fourier and gather algorithms) against the readable im2col version and the defining loop, and the Workspace's
promise: results never depend on call history."""

import numpy as np
import pytest

import reference
from test_conv import CONFIGS, _inputs, _pair
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy
from tinyalex.functional import conv_fourier
from tinyalex.functional.conv import choose_algorithm

# The rows and fourier algorithms need stride 1; these add pads of 0, and larger than the kernel, a "same"
# width (OW == W, the shifted-copies path) whose kernel is wider than the image, and kernels
# taller and wider than the image (kernel rows and columns that see nothing but padding), one
# of them shifting a "same" row by more than all the images' entries together.
ROWS_CONFIGS = [c for c in CONFIGS if _pair(c[2]) == (1, 1)] + [
    ((2, 6, 8, 7), (4, 3, 5, 3), 1, (2, 1), 2),
    ((2, 3, 4, 5), (2, 3, 2, 2), 1, 3, 1),
    ((1, 2, 6, 6), (2, 2, 3, 1), 1, (4, 0), 1),
    ((2, 3, 4, 2), (2, 3, 3, 7), 1, (1, 3), 1),
    ((2, 2, 3, 3), (3, 2, 7, 7), 1, 2, 1),
    ((2, 2, 3, 2), (3, 2, 6, 6), 1, 2, 1),
    ((1, 2, 1, 1), (2, 2, 6, 6), 1, 3, 1),
    ((3, 1, 1, 1), (2, 1, 13, 13), 1, 6, 1),
]
ALGORITHMS = ["im2col", "rows", "fourier", "gather"]
# The fourier algorithm forced into tiles of these output rows x columns (None: one tile along
# that axis): single pixels, tiles that overlap by more than their step, tiles cropped at the
# edge or lying wholly in the padding, one axis tiled and the other not.
FOURIER_TILES = {"fourier, tiles 1x1": (1, 1), "fourier, tiles 2x3": (2, 3),
                 "fourier, tiles 3xall": (3, None), "fourier, tiles allx2": (None, 2)}
FAST = [(algorithm, workspace) for algorithm in [*ALGORITHMS, *FOURIER_TILES]
        for workspace in (False, True)]


def _tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _configs(algorithm):
    """im2col and gather take any stride; the gather's stride-1 input gradient is its own path,
    so it gets the rows algorithm's extra stride-1 cases as well."""
    extra = [c for c in ROWS_CONFIGS if c not in CONFIGS]
    return {"im2col": CONFIGS, "rows": ROWS_CONFIGS, "fourier": ROWS_CONFIGS,
            "gather": CONFIGS + extra}[algorithm]


def _use(name, monkeypatch):
    """The algorithm ``name`` stands for; a ``FOURIER_TILES`` name forces its tiles."""
    if name in FOURIER_TILES:
        step = FOURIER_TILES[name]
        monkeypatch.setattr(conv_fourier, "plan",
                            lambda size, kernel, pad, *_: conv_fourier.tiling(size, kernel, pad,
                                                                              step))
        return "fourier"
    return name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm, workspace", FAST)
def test_fast_matches_naive_and_loop(xp, rng, monkeypatch, algorithm, workspace, dtype):
    algorithm = _use(algorithm, monkeypatch)
    for x_shape, w_shape, stride, pad, groups in _configs(algorithm):
        x, w, b = _inputs(rng, xp, x_shape, w_shape, dtype)
        kwargs = dict(stride=stride, pad=pad, groups=groups)
        out, cache = F.conv2d_forward_naive(x, w, b, **kwargs)
        fast_out, fast_cache = F.conv2d_forward(
            x, w, b, workspace=F.Workspace() if workspace else None, algorithm=algorithm, **kwargs)
        assert fast_out.dtype == dtype and fast_out.shape == out.shape
        np.testing.assert_allclose(to_numpy(fast_out), to_numpy(out), **_tolerance(dtype))
        expected = reference.conv2d(*map(to_numpy, (x, w, b)), _pair(stride), _pair(pad), groups)
        np.testing.assert_allclose(to_numpy(fast_out), expected, **_tolerance(dtype))
        dout = xp.asarray(rng.standard_normal(out.shape).astype(dtype))
        naive = F.conv2d_backward_naive(dout, cache)
        for fast, plain in zip(F.conv2d_backward(dout, fast_cache), naive, strict=True):
            assert fast.dtype == dtype and fast.shape == plain.shape
            np.testing.assert_allclose(to_numpy(fast), to_numpy(plain), **_tolerance(dtype))


@pytest.mark.parametrize("algorithm, workspace", FAST)
def test_fast_backward_matches_finite_differences(xp, rng, monkeypatch, algorithm, workspace):
    algorithm = _use(algorithm, monkeypatch)
    for x_shape, w_shape, stride, pad, groups in _configs(algorithm):
        if algorithm == "fourier" and (w_shape[2] > x_shape[2] or w_shape[3] > x_shape[3]):
            # Kernels larger than the image have weights that see only padding: their gradient
            # is 0. The fourier output depends on them through rounding alone (every DFT mixes
            # all weights), so finite differences measure rounding noise (1e-11) against 0,
            # which the relative error turns into 1e-3; the test above holds those gradients
            # to the readable backward's within 1e-12 instead.
            continue
        x, w, b = _inputs(rng, xp, x_shape, w_shape)
        result = gradcheck.check_layer(F.conv2d_forward, F.conv2d_backward, x, w, b,
                                       stride=stride, pad=pad, groups=groups,
                                       workspace=F.Workspace() if workspace else None,
                                       algorithm=algorithm)
        assert result.max_error <= 1e-6, (x_shape, w_shape, result)


def test_naive_backward_matches_finite_differences(xp, rng):
    x, w, b = _inputs(rng, xp, (2, 4, 7, 6), (6, 2, 3, 2))
    result = gradcheck.check_layer(F.conv2d_forward_naive, F.conv2d_backward_naive, x, w, b,
                                   stride=(2, 1), pad=1, groups=2)
    assert result.max_error <= 1e-6, result


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_skipping_the_input_gradient(xp, rng, algorithm):
    x, w, b = _inputs(rng, xp, (2, 4, 7, 7), (6, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, b, pad=1, groups=2, algorithm=algorithm)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dx, dw, db = F.conv2d_backward(dout, cache)
    skipped = F.conv2d_backward(dout, cache, input_grad=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(to_numpy(skipped[1]), to_numpy(dw))
    np.testing.assert_array_equal(to_numpy(skipped[2]), to_numpy(db))


def test_the_automatic_choice():
    """im2col for the first layers (3 input channels, or stride 4); fourier for the Figure-1
    net's conv2 and conv3 and AlexNet's conv2 (5x5 kernels); rows for AlexNet's 3x3 layers
    (the DFTs save too little), for kernels larger than the image, and where every tiling
    needs planes over 400 pixels."""
    assert choose_algorithm((128, 3, 32, 32), (32, 3, 5, 5), 1, 2, 1) == "im2col"  # Figure 1
    assert choose_algorithm((128, 32, 15, 15), (32, 32, 5, 5), 1, 2, 1) == "fourier"
    assert choose_algorithm((128, 32, 7, 7), (64, 32, 5, 5), 1, 2, 1) == "fourier"
    assert choose_algorithm((31, 32, 15, 15), (32, 32, 5, 5), 1, 2, 1) == "fourier"  # in tiles
    assert choose_algorithm((64, 32, 4, 5), (32, 32, 5, 5), 1, 2, 1) == "rows"  # KH > H
    assert choose_algorithm((64, 32, 5, 4), (32, 32, 5, 5), 1, 2, 1) == "rows"  # KW > W
    assert choose_algorithm((128, 32, 4, 4), (32, 32, 3, 3), 1, 1, 1) == "rows"  # saves 2.4x
    assert choose_algorithm((128, 32, 30, 30), (32, 32, 21, 21), 1, 0, 1) == "rows"  # 21 x 21
    assert choose_algorithm((32, 3, 227, 227), (96, 3, 11, 11), 4, 0, 1) == "im2col"  # AlexNet
    assert choose_algorithm((32, 96, 27, 27), (256, 48, 5, 5), 1, 2, 2) == "fourier"
    for x_shape, w_shape, groups in [((32, 256, 13, 13), (384, 256, 3, 3), 1),
                                     ((32, 384, 13, 13), (384, 192, 3, 3), 2),
                                     ((32, 384, 13, 13), (256, 192, 3, 3), 2)]:
        assert choose_algorithm(x_shape, w_shape, 1, 1, groups) == "rows"
    assert choose_algorithm((128, 32, 15, 15), (32, 32, 5, 5), (1, 2), 2, 1) == "im2col"


def test_fourier_plans_the_fewest_multiplications():
    """One tile (the whole image, the smallest planes) where the batch outnumbers the kernels;
    else tiles enough for the products to have as many columns as kernels, the cheapest of
    them: AlexNet's conv2 at batch 16 in 3x3 tiles of 9x9 outputs (13x13 planes, 7 * 13
    frequencies, 91 * 4 * 9 multiplications per image, channel and kernel instead of 25 * 729
    for the direct sum)."""
    plan = conv_fourier.plan
    assert plan((15, 15), (5, 5), (2, 2), 128, 32) == conv_fourier.tiling((15, 15), (5, 5), (2, 2))
    assert plan((15, 15), (5, 5), (2, 2), 31, 32).counts == (1, 2)
    tiles = plan((27, 27), (5, 5), (2, 2), 16, 128)
    assert tiles == conv_fourier.Tiles((3, 3), (9, 9), (13, 13), (0, 0), (2, 2))
    assert conv_fourier.plane_size(tiles.size, (5, 5), tiles.pad) == (13, 13)
    assert plan((13, 13), (3, 3), (1, 1), 32, 384) is None
    assert plan((30, 30), (21, 21), (0, 0), 128, 32) is None


def test_gather_is_the_choice_on_a_gpu(xp, rng):
    x, w, b = _inputs(rng, xp, (2, 4, 7, 7), (6, 4, 3, 3))
    _, cache = F.conv2d_forward(x, w, b, pad=1)
    assert cache.algorithm == ("rows" if xp is np else "gather")


def test_bad_algorithm(xp, rng):
    x, w, b = _inputs(rng, xp, (1, 2, 6, 6), (2, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d_forward: the rows algorithm needs stride 1"):
        F.conv2d_forward(x, w, b, stride=2, algorithm="rows")
    with pytest.raises(ValueError, match=r"the fourier algorithm needs stride 1, got \(1, 2\)"):
        F.conv2d_forward(x, w, b, stride=(1, 2), algorithm="fourier")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        F.conv2d_forward(x, w, b, algorithm="fft")
    _, cache = F.conv2d_forward_naive(x, w, b)
    with pytest.raises(ValueError, match=r"conv2d_backward_naive: dout must have shape \(1, 2, 4, 4\)"):
        F.conv2d_backward_naive(xp.zeros((1, 2, 4, 5)), cache)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_layers_sharing_a_workspace_do_not_disturb_each_other(xp, rng, algorithm):
    """Two convolutions and a pooling (and an LRN in float32) share one workspace, their passes
    interleaved as in a network; every result equals the one computed without a workspace."""
    ws = F.Workspace()
    x1, w1, b1 = _inputs(rng, xp, (2, 4, 11, 11), (6, 2, 3, 3))
    x2, w2, b2 = _inputs(rng, xp, (2, 6, 5, 5), (8, 3, 5, 5))
    x3 = xp.asarray(rng.standard_normal((2, 5, 9, 9)).astype(np.float32))
    conv = dict(workspace=ws, algorithm=algorithm)
    a, cache_a = F.conv2d_forward(x1, w1, b1, pad=1, groups=2, **conv)
    p, cache_p = F.maxpool2d_forward(a, 3, 2, workspace=ws)
    c, cache_c = F.conv2d_forward(x2, w2, b2, pad=2, groups=2, **conv)
    n, cache_n = F.lrn_forward(x3, alpha=1.0, workspace=ws)
    douts = [xp.asarray(rng.standard_normal(o.shape).astype(o.dtype)) for o in (a, p, c, n)]
    grads_n = F.lrn_backward(douts[3], cache_n)
    grads_c = F.conv2d_backward(douts[2], cache_c)
    grads_p = F.maxpool2d_backward(douts[1], cache_p)
    grads_a = F.conv2d_backward(douts[0], cache_a)
    results = [a, p, c, n, grads_n, *grads_c, grads_p, *grads_a]
    for buffer in ws._buffers.values():  # scribble over the scratch: no result may change
        buffer.fill(np.nan)

    plain = dict(algorithm=algorithm)
    a0, ca = F.conv2d_forward(x1, w1, b1, pad=1, groups=2, **plain)
    p0, cp = F.maxpool2d_forward(a0, 3, 2)
    c0, cc = F.conv2d_forward(x2, w2, b2, pad=2, groups=2, **plain)
    n0, cn = F.lrn_forward(x3, alpha=1.0)
    expected = [a0, p0, c0, n0, F.lrn_backward(douts[3], cn), *F.conv2d_backward(douts[2], cc),
                F.maxpool2d_backward(douts[1], cp), *F.conv2d_backward(douts[0], ca)]
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_result_is_a_view_of_the_workspace(xp, rng, algorithm):
    """One image and no padding: where a transposed copy would already be contiguous."""
    ws = F.Workspace()
    x, w, b = _inputs(rng, xp, (1, 2, 5, 5), (1, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, b, workspace=ws, algorithm=algorithm)
    results = [out, *F.conv2d_backward(xp.ones_like(out), cache)]
    for result in results:
        for buffer in ws._buffers.values():
            assert not xp.shares_memory(result, buffer)


def test_workspace_reuses_grows_and_separates_dtypes(xp):
    ws = F.Workspace()
    like32 = xp.zeros(1, dtype=xp.float32)
    big = ws.empty("cols", (4, 5), like32)
    small = ws.empty("cols", (2, 3), like32)
    assert small.shape == (2, 3) and small.dtype == xp.float32
    assert xp.shares_memory(big, small)  # reused, not allocated again
    other = ws.empty("cols", (2, 3), xp.zeros(1, dtype=xp.float64))
    assert other.dtype == xp.float64 and not xp.shares_memory(other, small)
    grown = ws.empty("cols", (10, 10), like32)
    assert grown.shape == (10, 10) and ws.nbytes == 100 * 4 + 6 * 8
    assert "2 buffers" in repr(ws)
    ws.clear()
    assert ws.nbytes == 0


@pytest.mark.parametrize("algorithm, size", [("im2col", 3 * 9 * 2 * 81), ("rows", 3 * 3 * 9 * 2 * 9),
                                             ("gather", 3 * 9 * 2 * 81)])
def test_copies_are_cached_only_without_a_workspace(xp, rng, algorithm, size):
    """The memory trade-off: the plain path keeps its copies of the input (im2col's cols, or the
    rows algorithm's width copies) for backward; the workspace path keeps nothing larger than
    the input."""
    x, w, b = _inputs(rng, xp, (2, 3, 9, 9), (4, 3, 3, 3))
    _, cache = F.conv2d_forward(x, w, b, pad=1, algorithm=algorithm)
    _, fast_cache = F.conv2d_forward(x, w, b, pad=1, workspace=F.Workspace(), algorithm=algorithm)
    assert cache.saved is not None and cache.saved.size == size
    assert fast_cache.saved is None


def test_fourier_keeps_the_spectra_with_or_without_a_workspace(xp, rng):
    """The fourier algorithm keeps the input's spectrum and the kernels' (smaller than the
    width copies, and rebuilding them costs more than it saves), never views of the workspace:
    9x9 maps with pad 1 take 10x10 planes, 6 * 10 frequencies."""
    x, w, b = _inputs(rng, xp, (2, 3, 9, 9), (4, 3, 3, 3))
    _, cache = F.conv2d_forward(x, w, b, pad=1, algorithm="fourier")
    ws = F.Workspace()
    _, fast_cache = F.conv2d_forward(x, w, b, pad=1, workspace=ws, algorithm="fourier")
    spectrum, kernels, tiles = cache.saved
    assert spectrum.shape == (1, 60, 2 * 3, 2) and kernels.shape == (1, 60, 2 * 4, 2 * 3)
    assert tiles == fast_cache.saved[2] == conv_fourier.tiling((9, 9), (3, 3), (1, 1))
    for kept, fast in zip(cache.saved[:2], fast_cache.saved[:2], strict=True):
        np.testing.assert_array_equal(to_numpy(fast), to_numpy(kept))
        assert not any(xp.shares_memory(fast, buffer) for buffer in ws._buffers.values())


def test_fourier_planes_are_as_small_as_they_can_be(rng, monkeypatch):
    """One row or column fewer than ``plane_size`` and the circular correlation wraps around
    onto the image: the result is wrong (so the cases above do reach the planes' edges)."""
    x, w, b = _inputs(rng, np, (2, 3, 6, 5), (4, 3, 3, 2))
    expected = reference.conv2d(x, w, b, (1, 1), (2, 1), 1)
    size = conv_fourier.plane_size
    for shrink in [(1, 0), (0, 1)]:
        conv_fourier.dft_matrices.cache_clear()
        monkeypatch.setattr(conv_fourier, "plane_size", lambda *a, s=shrink: tuple(
            n - d for n, d in zip(size(*a), s)))
        out, _ = F.conv2d_forward(x, w, b, pad=(2, 1), algorithm="fourier")
        assert np.abs(out - expected).max() > 0.1, shrink
    conv_fourier.dft_matrices.cache_clear()
    monkeypatch.setattr(conv_fourier, "plane_size", size)
    out, _ = F.conv2d_forward(x, w, b, pad=(2, 1), algorithm="fourier")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
