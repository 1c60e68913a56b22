"""The contract's rules, one by one: the notebook's cases, shapes, values,
dtypes, inputs, outputs and memory."""

import tracemalloc

import numpy as np
import pytest
import scipy.signal
from conftest import (IMPLS, OPS, assert_same, make_data, make_kernel, run_op,
                      tolerance)
from skimage import color, data
from skimage.util import view_as_blocks, view_as_windows

import windowkit as wk


# -- the user's notebook -----------------------------------------------------


@pytest.fixture(scope="module")
def grey_astronaut():
    return color.rgb2gray(data.astronaut())


def test_seed_block_max_pooling(grey_astronaut):
    g = grey_astronaut
    expected = view_as_blocks(g, (4, 4)).reshape(128, 128, 16).max(axis=2)
    np.testing.assert_array_equal(wk.max_pool(g, 4), expected, strict=True)


def test_seed_window_view_shapes(grey_astronaut):
    assert wk.windows(grey_astronaut, 4, 1).shape == (509, 509, 4, 4)
    assert wk.windows(grey_astronaut, 4, 2).shape == (255, 255, 4, 4)


def test_seed_overlapping_min_pooling(grey_astronaut):
    g = grey_astronaut
    expected = view_as_windows(g, (4, 4), 2).min(axis=(-2, -1))
    np.testing.assert_array_equal(wk.min_pool(g, 4, 2), expected, strict=True)


def test_seed_colour_image_pooled_per_channel():
    rgb = data.astronaut()
    pooled = wk.max_pool(rgb, 4, axes=(0, 1))
    assert pooled.shape == (128, 128, 3) and pooled.dtype == np.uint8
    for channel in range(3):
        expected = view_as_blocks(rgb[:, :, channel], (4, 4)).max(axis=(-2, -1))
        np.testing.assert_array_equal(pooled[:, :, channel], expected)


@pytest.mark.parametrize("n, k, s, expected", [
    (5, 3, 1, 3), (6, 3, 1, 4), (512, 4, 1, 509), (512, 4, 2, 255), (512, 4, 4, 128), (7, 7, 3, 1),
])
def test_valid_output_sizes(n, k, s, expected):
    # The notebook's (512 / 2) - 4 + 1 = 253 is wrong; (512 - 4) // 2 + 1 = 255.
    assert wk.output_shape(n, k, s) == (expected,)
    assert wk.output_shape((2, n, n), k, s) == (2, expected, expected)
    assert wk.max_pool(np.zeros((n, n)), k, s).shape == (expected, expected)


# -- windows and output_shape ------------------------------------------------


@pytest.mark.parametrize("window, stride", [(1, 1), (3, 1), (4, 2), ((2, 5), (3, 1)), (6, 6)])
def test_windows_equals_view_as_windows(window, stride):
    x = make_data((9, 11), np.float64)
    view = wk.windows(x, window, stride)
    k = window if isinstance(window, tuple) else (window, window)
    expected = view_as_windows(x, k, stride)
    assert view.shape == expected.shape == wk.output_shape(x.shape, window, stride) + k
    np.testing.assert_array_equal(view, expected)
    assert not view.flags.writeable
    assert np.shares_memory(view, x), "windows() must be a view, not a copy"


def test_windows_blocks_equal_view_as_blocks():
    x = make_data((8, 12, 3), np.int32)
    np.testing.assert_array_equal(
        wk.windows(x, (4, 3, 1), (4, 3, 1)), view_as_blocks(x, (4, 3, 1))
    )


def test_windows_on_chosen_axes_and_lists():
    x = make_data((6, 3, 7), np.uint8)
    view = wk.windows(x, 3, 2, axes=(2, 0))
    assert view.shape == (2, 3, 3, 3, 3)
    np.testing.assert_array_equal(view[1, 2, 0], x[2:5, 2, 0:3].T)
    np.testing.assert_array_equal(wk.windows([1, 2, 3], 2), [[1, 2], [2, 3]])


def test_lone_int_window_rules():
    assert wk.output_shape(10, 3) == (8,)  # 1-D: the only axis
    assert wk.output_shape((4, 10, 10), 3) == (4, 8, 8)  # the last two axes
    assert wk.output_shape((10, 10, 10), 3, axes=(0, 1, 2)) == (8, 8, 8)  # every axis in axes
    assert wk.output_shape((60000, 28, 28), 2, 2) == (60000, 27 // 2 + 1, 27 // 2 + 1)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("impl", IMPLS)
def test_stride_longer_than_axis(op, impl):
    # float64 holding small integers, which other tests compile anyway: the
    # stride rule does not depend on the dtype.
    x = make_data((3, 10), np.float64)
    result = run_op(op, x, (2, 3), (2**70, 11), None, impl)
    assert result.shape == (1, 1)
    assert_same(result, run_op(op, x[:2, :3], (2, 3), 1, None, impl), op=op, impl=impl)


def test_pool_stride_defaults_to_window_and_correlate_to_one():
    x = make_data((12, 12), np.float64)
    assert wk.max_pool(x, 3).shape == (4, 4)
    assert wk.max_pool(x, (3, 2)).shape == (4, 6)
    assert wk.correlate(x, np.ones((3, 3))).shape == (10, 10)
    assert wk.convolve(x, np.ones((3, 3))).shape == (10, 10)


# -- values: NaN, inf, extremes, rounding --------------------------------------


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("impl", IMPLS)
def test_nan_and_inf_in_every_window_position(position, special, impl):
    for dtype in (np.float16, np.float32, np.float64):
        window = np.array([1.0, 5.0, -2.0], dtype)
        window[{"first": 0, "middle": 1, "last": 2}[position]] = special
        x = np.concatenate([window, np.array([0.0, 1.0, 2.0], dtype)])
        for reduce in ("max", "min", "sum", "mean"):
            result = wk.pool(x, 3, reduce=reduce, impl=impl)
            expected = np.array([getattr(np, reduce)(x[:3]), getattr(np, reduce)(x[3:])])
            np.testing.assert_array_equal(
                result, expected.astype(result.dtype),
                err_msg=f"{reduce} {special} {position} {np.dtype(dtype)} {impl}",
            )
        corr = wk.correlate(x, np.array([1.0, 2.0, 1.0], dtype), 3, impl=impl)
        assert np.isnan(corr[0]) == np.isnan(x[:3] @ np.array([1.0, 2.0, 1.0])), (position, special)


def test_nan_sticks_after_later_larger_values():
    # A naive `if v > best` would replace the NaN by 9 here.
    x = np.array([[1.0, np.nan, 9.0, 3.0]])
    assert np.isnan(wk.max_pool(x, (1, 4))[0, 0])
    assert np.isnan(wk.min_pool(x, (1, 4))[0, 0])


@pytest.mark.parametrize("impl", IMPLS)
def test_integer_extremes_never_wrap(impl):
    u8 = np.full((4, 4), 255, np.uint8)
    assert wk.sum_pool(u8, 4, impl=impl)[0, 0] == 255 * 16
    assert wk.correlate(u8, u8[:3, :3], impl=impl)[0, 0] == 255 * 255 * 9
    assert wk.mean_pool(u8, 2, impl=impl)[0, 0] == 255.0
    i8 = np.full(8, -128, np.int8)
    assert wk.sum_pool(i8, 8, impl=impl)[0] == -1024
    assert wk.correlate(i8, np.full(4, -128, np.int8), impl=impl)[0] == 4 * 128 * 128
    big = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], np.int64)
    np.testing.assert_array_equal(wk.max_pool(big, 2, 1, impl=impl), [big[1], big[1]])
    np.testing.assert_array_equal(wk.min_pool(big, 2, 1, impl=impl), [big[0], 0])
    top = np.array([2**64 - 1, 2**63, 1], np.uint64)
    np.testing.assert_array_equal(wk.max_pool(top, 2, 1, impl=impl), top[:2])
    assert wk.sum_pool(np.array([2**62, 2**62, 2**62], np.uint64), 3, impl=impl)[0] == 3 * 2**62


@pytest.mark.parametrize("dtype, sum_dtype, mean_dtype", [
    # Written from numpy's documented reduction rules, not from windowkit.
    (np.bool_, np.int64, np.float64),
    (np.int8, np.int64, np.float64),
    (np.int16, np.int64, np.float64),
    (np.int32, np.int64, np.float64),
    (np.int64, np.int64, np.float64),
    (np.uint8, np.uint64, np.float64),
    (np.uint16, np.uint64, np.float64),
    (np.uint32, np.uint64, np.float64),
    (np.uint64, np.uint64, np.float64),
    (np.float16, np.float16, np.float16),
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.complex64, np.complex64, np.complex64),
    (np.complex128, np.complex128, np.complex128),
])
def test_result_dtypes(dtype, sum_dtype, mean_dtype):
    # test_every_dtype's 2-D geometry, so that no dtype compiles a copy for
    # this test alone: the result dtype is the plan's, whatever the window.
    x = make_data((7, 9), dtype)
    window, stride = (2, 3), (1, 2)
    assert wk.sum_pool(x, window, stride).dtype == sum_dtype
    assert wk.mean_pool(x, window, stride).dtype == mean_dtype
    if np.dtype(dtype).kind != "c":
        assert wk.max_pool(x, window, stride).dtype == dtype
        assert wk.min_pool(x, window, stride).dtype == dtype
    assert wk.correlate(x, make_kernel(window, dtype), stride).dtype == sum_dtype


@pytest.mark.parametrize("x_dtype, k_dtype, expected", [
    (np.uint8, np.uint8, np.uint64),
    (np.uint8, np.int8, np.int64),
    (np.int8, np.float32, np.float32),
    (np.uint8, np.float16, np.float16),
    (np.int32, np.float32, np.float64),
    (np.float32, np.complex64, np.complex64),
    (np.bool_, np.bool_, np.int64),
    (np.uint64, np.int64, np.float64),
])
def test_correlate_mixed_dtypes(x_dtype, k_dtype, expected):
    x = make_data((6, 7), x_dtype)
    kernel = make_data((3, 2), k_dtype, seed=3)
    for impl in IMPLS:
        result = wk.correlate(x, kernel, impl=impl)
        assert result.dtype == expected, (x_dtype, k_dtype, impl)
        reference = scipy.signal.correlate(
            x.astype(np.float64 if expected != np.complex64 else np.complex128),
            kernel.astype(np.complex128 if expected == np.complex64 else np.float64),
            mode="valid", method="direct",
        )
        np.testing.assert_array_equal(result, reference.astype(expected))


def test_complex_kernel_is_conjugated_not_in_convolve():
    x = np.array([1 + 2j, 3 - 1j, -2 + 0.5j, 4j])
    kernel = np.array([2 - 1j, 1 + 3j])
    for impl in IMPLS:
        np.testing.assert_allclose(wk.correlate(x, kernel, impl=impl),
                                   scipy.signal.correlate(x, kernel, mode="valid"))
        np.testing.assert_allclose(wk.convolve(x, kernel, impl=impl),
                                   scipy.signal.convolve(x, kernel, mode="valid"))
    manual = x[:-1] * np.conj(kernel[0]) + x[1:] * np.conj(kernel[1])
    np.testing.assert_allclose(wk.correlate(x, kernel), manual)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_float_rounding_within_tolerance(dtype):
    """Random, non-integer data: agreement to rounding, tolerance from eps."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((40, 50)) + (1j * rng.standard_normal((40, 50)) if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    kernel = x[:5, :4].copy()
    tol = tolerance(np.finfo(dtype).dtype)
    # Sums of 20 terms of size ~1: allow 20 roundings relative to the sum of magnitudes.
    scale = 20 * np.finfo(dtype).eps * 20
    for op in ("sum", "mean"):
        expected = getattr(np, op)(view_as_windows(x, (5, 4), (2, 3)), axis=(-2, -1))
        np.testing.assert_allclose(wk.pool(x, (5, 4), (2, 3), reduce=op), expected, rtol=tol["rtol"], atol=scale)
    expected = scipy.signal.correlate(x.astype(np.complex128), kernel.astype(np.complex128), mode="valid")
    np.testing.assert_allclose(wk.correlate(x, kernel), expected, rtol=tol["rtol"], atol=scale)


def test_float16_computed_and_returned_as_float16():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 16)).astype(np.float16)
    np.testing.assert_array_equal(wk.max_pool(x, 4), view_as_blocks(x, (4, 4)).max(axis=(-2, -1)))
    mean = wk.mean_pool(x, 4)
    assert mean.dtype == np.float16
    np.testing.assert_allclose(mean, view_as_blocks(x, (4, 4)).mean(axis=(-2, -1)), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("impl", IMPLS)
def test_float16_mean_divides_before_rounding(impl):
    # The float16 sum of these windows overflows; their mean does not.
    x = np.full((8, 8), 60000, np.float16)
    np.testing.assert_array_equal(wk.mean_pool(x, 4, impl=impl), np.full((2, 2), 60000, np.float16))
    with np.errstate(over="ignore"):  # numpy warns when a sum overflows float16
        assert np.isinf(wk.sum_pool(x, 4, impl=impl)).all()
    rng = np.random.default_rng(2)
    y = rng.uniform(0, 2048, (32, 32)).astype(np.float16)
    expected = view_as_blocks(y, (4, 4)).mean(axis=(-2, -1))
    np.testing.assert_array_equal(wk.mean_pool(y, 4, impl=impl), expected)


# -- inputs, outputs and memory ------------------------------------------------


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("impl", IMPLS)
def test_input_never_modified(op, impl):
    x = make_data((3, 7, 8), np.float64)
    x[0, 0, 0] = np.nan
    before = x.tobytes()
    run_op(op, x, (3, 2), (2, 1), None, impl)
    assert x.tobytes() == before


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("impl", IMPLS)
def test_out_is_filled_and_returned(op, impl):
    x = make_data((3, 9, 8), np.float32)
    expected = run_op(op, x, (3, 2), (2, 1), None, impl)
    # A strided, Fortran-ordered window into a larger buffer.
    buffer = np.full((3, 2 * expected.shape[1], 2 * expected.shape[2]), -99, expected.dtype, order="F")
    out = buffer[:, ::2, ::2]
    result = run_op(op, x, (3, 2), (2, 1), None, impl, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)
    assert (buffer[:, 1::2] == -99).all(), "out= wrote outside its own elements"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("impl", IMPLS)
def test_zero_size_batch(op, impl):
    x = np.zeros((0, 5, 6), np.uint8)
    result = run_op(op, x, (2, 3), 1, None, impl)
    assert result.shape == (0, 4, 4)


def test_array_likes_are_accepted():
    np.testing.assert_array_equal(wk.max_pool([[1, 2], [3, 4]], 2), [[4]])
    np.testing.assert_array_equal(wk.correlate((1, 2, 3), [1, 1]), [3, 5])
    np.testing.assert_array_equal(wk.sum_pool([True, True, False], 2, 1), [2, 1])


def test_numba_path_allocates_only_the_output():
    """No window-sized temporaries: peak traced memory is the output plus a little."""
    x = make_data((600, 600), np.float64)
    kernel = np.ones((5, 5))
    for call in (lambda: wk.correlate(x, kernel), lambda: wk.max_pool(x, 5, 1, method="direct"),
                 lambda: wk.mean_pool(x, 5, 1, method="direct")):
        call()  # compile outside the measurement
        tracemalloc.start()
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < result.nbytes + 64 * 1024, (peak, result.nbytes)
    # The measurement does see temporaries: the stride-trick reference copies every window.
    tracemalloc.start()
    result = wk.correlate(x, kernel, impl="strided")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak > 10 * result.nbytes


def test_more_than_2_to_the_31_elements():
    # np.zeros maps untouched pages to the zero page: 2 GiB of address space,
    # little real memory. Flat offsets past 2**31 must not wrap.
    n = 2**31 + 48
    x = np.zeros(n, np.uint8)
    x[n - 5] = 7
    result = wk.max_pool(x, 16)
    assert result.shape == (n // 16,)
    assert result[-1] == 7 and result[(n - 5) // 16] == 7
    assert result[:-1].max() == 0
