"""Correlation by FFT: its agreement with the direct sum, and when it runs."""

import numpy as np
import pytest
from conftest import LAYOUTS

import windowkit as wk


# -- correlation by FFT ---------------------------------------------------------

# (shape, kernel shape, stride, axes): 1-D signals in one tile and in
# several, images in several tiles and bands, strides, a batch axis between
# the windowed ones, a volume, a batch of small images (many per band), a
# kernel the size of the array, a kernel taller than half a tile, tiles of
# 384 rows for a kernel of 45 (two of them) beside tiles of 256 columns.
FFT_CASES = [((1000,), (7,), 1, None), ((140_000,), (300,), (3,), None),
             ((600, 530), (11, 13), 1, None), ((600, 530), (11, 13), (2, 3), None),
             ((300, 5, 290), (21, 4), (1, 5), (0, 2)), ((7, 40, 270), (5, 11, 13), (2, 1, 1), None),
             ((3, 2, 28, 28), (5, 5), 1, None), ((20, 9), (20, 9), 1, None),
             ((300, 270), (200, 3), 1, None), ((420, 300), (45, 5), 1, None)]


def fft_bound(x4_shape, kernel, x, dtype):
    """The documented agreement of "fft" with the direct sum, per output:
    10 eps log2(tile elements) max|x| sum|kernel|."""
    tile = np.prod(wk.kernels.fft.fft_shape(x4_shape, kernel.shape))
    eps = np.finfo(dtype).eps
    return 10 * eps * np.log2(tile) * np.abs(x).max() * np.abs(kernel).sum()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64,
                                   np.complex128])
def test_fft_agrees_with_direct_and_strided(dtype):
    rng = np.random.default_rng(7)
    for shape, kernel_shape, stride, axes in FFT_CASES:
        x = (rng.standard_normal(shape) * 10).astype(dtype)
        kernel = rng.standard_normal(kernel_shape).astype(dtype)
        if np.dtype(dtype).kind == "c":
            x += 1j * rng.standard_normal(shape).astype(dtype)
            kernel -= 2j * rng.standard_normal(kernel_shape).astype(dtype)
        axes_ = axes or tuple(range(len(shape) - len(kernel_shape), len(shape)))
        windowed = tuple(shape[a] for a in axes_)
        x4_shape = (1,) + (1,) * (3 - len(windowed)) + windowed
        kernel3 = kernel.reshape((1,) * (3 - kernel.ndim) + kernel.shape)
        bound = fft_bound(x4_shape, kernel3, x, wk._validation.correlate_dtype(x.dtype, kernel.dtype))
        for op in (wk.correlate, wk.convolve):
            fft = op(x, kernel, stride, axes=axes, method="fft")
            for expected in (op(x, kernel, stride, axes=axes, method="direct"),
                             op(x, kernel, stride, axes=axes, impl="strided")):
                assert fft.dtype == expected.dtype and fft.shape == expected.shape
                error = np.abs(fft.astype(np.complex128) - expected).max()
                assert error <= bound, (op.__name__, shape, kernel_shape, stride, error, bound)


def test_tiles_grow_with_the_kernel():
    """Tile edges of at least 256, TILE_WINDOWS windows up to TILE_MAX and
    two windows, as a power of two or three times one; an axis no longer
    than that is transformed whole."""
    from windowkit.kernels.fft import TILE_MAX, fft_shape

    for k, edge in ((3, 256), (31, 256), (45, 384), (75, 512), (127, TILE_MAX), (255, 768),
                    (400, 1024)):
        assert fft_shape((1, 1, 2048, 2048), (1, k, k)) == (1, edge, edge), k
    assert fft_shape((1, 1, 300, 290), (1, 45, 45)) == (1, 300, 300)  # whole (300: 2^2 3 5^2)
    assert fft_shape((2, 1, 1, 2**20), (1, 1, 301)) == (1, 1, 2**16)  # along a signal


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fft_on_every_layout_leaves_the_input_alone(layout):
    rng = np.random.default_rng(8)
    base = rng.standard_normal((40, 300, 3))
    x = LAYOUTS[layout](base)
    before = x.copy()
    kernel = rng.standard_normal((9, 21))
    result = wk.correlate(x, kernel, axes=(0, 1), method="fft")
    np.testing.assert_array_equal(x, before)
    expected = wk.correlate(base, kernel, axes=(0, 1), method="direct")
    x4_shape = (1, 1, 40, 300)
    assert np.abs(result - expected).max() <= fft_bound(x4_shape, kernel[None], base, np.float64)


def test_fft_runs_the_direct_sum_on_nan_and_inf():
    """A transform spreads a NaN over its tile; such data gets the rows loop,
    so NaN and inf land exactly where the direct sum puts them."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 290))
    kernel = rng.standard_normal((21, 21))
    for special in (np.nan, np.inf, -np.inf):
        spoiled = x.copy()
        spoiled[150, 100] = special
        np.testing.assert_array_equal(wk.correlate(spoiled, kernel, method="fft"),
                                      wk.correlate(spoiled, kernel, method="rows"))
        spoiled_kernel = kernel.copy()
        spoiled_kernel[3, 4] = special
        np.testing.assert_array_equal(wk.correlate(x, spoiled_kernel, method="fft"),
                                      wk.correlate(x, spoiled_kernel, method="rows"))


def test_fft_refuses_integer_results_and_auto_never_picks_it_for_them():
    x = np.ones((300, 300), np.int32)
    for values, kernel in ((x, np.ones((25, 25), np.int32)), (x > 0, np.ones((25, 25), bool))):
        with pytest.raises(TypeError, match="method='fft' needs float or complex data"):
            wk.correlate(values, kernel, method="fft")
        assert wk.choose_method("correlate", x.shape, (25, 25), dtype=values.dtype).method == "rows"
        assert (wk.correlate(values, kernel) == 625).all()  # exact, by the rows loop
    # A float kernel makes a float result: allowed.
    assert wk.correlate(x, np.ones((25, 25)), method="fft").dtype == np.float64


def test_auto_picks_fft_for_large_float_kernels():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((300, 300))
    big, small = rng.standard_normal((41, 41)), rng.standard_normal((5, 5))
    choice = wk.choose_method("correlate", x.shape, big.shape)
    assert choice.method == "fft" and "transforms" in choice.reason
    # Cut into tiles, a small image transforms more elements than it holds:
    # 25x25 costs transforms several times what it costs on the whole image.
    assert wk.choose_method("correlate", x.shape, (25, 25)).method == "rows"
    assert wk.choose_method("correlate", (2000, 2000), (25, 25)).method == "fft"
    np.testing.assert_array_equal(wk.correlate(x, big), wk.correlate(x, big, method="fft"))
    assert wk.choose_method("correlate", x.shape, small.shape).method == "rows"
    # Strides make the direct sum cheaper per input; the transforms' cost stays.
    assert wk.choose_method("correlate", x.shape, big.shape, stride=2).method == "rows"
    # Too small an input for transforms to pay.
    assert wk.choose_method("correlate", (100, 100), (25, 25)).method == "rows"


def test_fft_into_out_and_float16():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((90, 80)).astype(np.float16)
    kernel = rng.standard_normal((9, 9)).astype(np.float16)
    out = np.empty((82, 72), np.float16)
    result = wk.correlate(x, kernel, out=out, method="fft")
    assert result is out
    expected = wk.correlate(x, kernel, method="direct")
    bound = fft_bound((1, 1, 90, 80), kernel[None], x.astype(np.float32), np.float16)
    assert np.abs(out.astype(np.float64) - expected).max() <= bound
