"""The contract's rules, one by one: values, dtypes, memory, threads, out=."""

import os
import subprocess
import sys
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
import scipy.signal
from conftest import (IMPLS, LAYOUTS, OPS, POOL_OPS, assert_same, make_data, ops_for, run_op,
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
    x = make_data((3, 10), np.int64)
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
    x = make_data((4, 4), dtype)
    assert wk.sum_pool(x, 2).dtype == sum_dtype
    assert wk.mean_pool(x, 2).dtype == mean_dtype
    if np.dtype(dtype).kind != "c":
        assert wk.max_pool(x, 2).dtype == dtype
        assert wk.min_pool(x, 2).dtype == dtype
    assert wk.correlate(x, x[:2, :2]).dtype == sum_dtype


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



# Windows, strides and axes that take every pooling loop ("auto" picks them)
# and both row algorithms, with axes last or not.
PLAN_CASES = [(2, None, None), (3, None, None), ((3, 1), 1, None), ((3, 9), (1, 2), None),
              (31, 1, None), ((2, 1), None, (0, 2))]


def assert_plan_matches_general_path(x, reduce, window, stride, axes, method="auto"):
    """The first call (which builds the plan), a repeat (which replays it) and
    the general path (``out=`` never takes a plan) agree exactly."""
    first = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method)
    again = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method)
    general = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method,
                      out=np.empty_like(first))
    message = f"{reduce} {window} {stride} {axes} {method}"
    np.testing.assert_array_equal(again, general, err_msg=message, strict=True)
    np.testing.assert_array_equal(first, general, err_msg=message, strict=True)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_repeated_calls_replay_the_first_exactly(layout):
    x = LAYOUTS[layout](make_data((3, 40, 41), np.float64))
    before = x.copy()
    for window, stride, axes in PLAN_CASES:
        for reduce in ("max", "min", "sum", "mean"):
            assert_plan_matches_general_path(x, reduce, window, stride, axes)
    for reduce in ("max", "mean"):
        assert_plan_matches_general_path(x, reduce, 3, 2, None, method="direct")
    np.testing.assert_array_equal(x, before, strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.bool_, np.float16, np.complex64])
def test_repeated_calls_replay_the_first_exactly_for_dtypes(dtype):
    x = make_data((2, 20, 21), dtype)
    reductions = ["sum", "mean"] if x.dtype.kind == "c" else ["max", "sum", "mean"]
    for window, stride, axes in PLAN_CASES[:2]:
        for reduce in reductions:
            assert_plan_matches_general_path(x, reduce, window, stride, axes)


def test_plans_tell_apart_arrays_and_arguments():
    from windowkit import _api

    c_order = make_data((40, 42), np.float64)
    f_order = np.asfortranarray(c_order)
    # Same shape, other strides or dtype: each its own plan, each right.
    for x in (c_order, f_order, c_order[:, ::2], c_order[::-1], c_order.T,
              c_order.astype(np.float32)):
        out = np.empty(wk.output_shape(x.shape, (3, 2), (1, 2)), x.dtype)
        expected = wk.max_pool(x, (3, 2), (1, 2), out=out)
        for _ in range(2):
            np.testing.assert_array_equal(wk.max_pool(x, (3, 2), (1, 2)), expected, strict=True)
    # Equal to a cached window, but not a valid one: still the same clear errors.
    wk.max_pool(c_order, 2)
    for window in (2.0, True, (2.0, 2), np.float64(2)):
        with pytest.raises(TypeError, match="window"):
            wk.max_pool(c_order, window)
    with pytest.raises(TypeError, match="stride"):
        wk.max_pool(c_order, 2, 2.0)
    # Equal and valid in another form: the general path, the same answer.
    np.testing.assert_array_equal(wk.max_pool(c_order, [2, 2]), wk.max_pool(c_order, 2))
    np.testing.assert_array_equal(wk.max_pool(c_order, np.int64(2)), wk.max_pool(c_order, 2))
    # Errors are not cached: the second bad call raises as the first did.
    for _ in range(2):
        with pytest.raises(ValueError, match="reduce must be one of"):
            wk.pool(c_order, 2, reduce="median")
        with pytest.raises(ValueError, match="does not fit"):
            wk.max_pool(c_order, 41)
    # The cache is bounded.
    for n in range(_api.MAX_PLANS + 10):
        wk.sum_pool(np.ones(n + 2), 2, 1)
    assert len(_api._PLANS) <= _api.MAX_PLANS


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


# -- threads -------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    n = numba.get_num_threads()
    yield
    numba.set_num_threads(n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_bitwise_identical_for_any_thread_count(dtype, restore_threads):
    rng = np.random.default_rng(11)
    # Large enough for both the prange loops and the threaded task loops.
    x = (rng.standard_normal((4, 400, 410)) * 50).astype(dtype)
    assert x.size >= wk._compile.TASK_PARALLEL_MIN_WORK
    kernel = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    results = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results[threads] = [
            wk.correlate(x, kernel, method="direct"), wk.correlate(x, kernel, method="rows"),
            wk.mean_pool(x, 7, 2, method="separable"), wk.mean_pool(x, 7, 1, method="van_herk"),
            wk.max_pool(x, (3, 9), (1, 2), method="separable"),
            wk.max_pool(x, (9, 70), 1, method="van_herk"), wk.max_pool(x, 4, method="direct"),
        ]
    assert wk.kernels.correlate.parallel.signatures, "the prange loops never ran in parallel"
    assert wk._compile._pool is not None, "the task loops never ran on threads"
    for one, many in zip(*results.values()):
        assert one.tobytes() == many.tobytes()


def test_concurrent_calls_from_python_threads():
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((200, 300)) for _ in range(8)]
    kernel = rng.standard_normal((4, 4))
    expected = [(wk.correlate(x, kernel), wk.max_pool(x, 3, 1)) for x in inputs]
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait() if i < 4 else None
        return wk.correlate(inputs[i], kernel), wk.max_pool(inputs[i], 3, 1)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    for (corr, mx), (corr_expected, mx_expected) in zip(results, expected):
        assert corr.tobytes() == corr_expected.tobytes()
        assert mx.tobytes() == mx_expected.tobytes()


# -- compilation ---------------------------------------------------------------


def test_import_compiles_nothing():
    code = (
        "import windowkit.kernels as k\n"
        "forms = [f for n in ('extreme_pool', 'sum_pool', 'correlate')"
        " for f in (getattr(k, n).serial, getattr(k, n).parallel)]\n"
        "assert all(not f.signatures for f in forms), [f.signatures for f in forms]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_impl_runs_the_same_source():
    import inspect

    for name in ("extreme_pool", "sum_pool", "correlate"):
        loop = getattr(wk.kernels, name)
        assert loop.serial.py_func.__code__ is loop.python.__code__
        assert loop.parallel.py_func.__code__ is loop.python.__code__
        assert "for task in prange" in inspect.getsource(loop.python)
    codes = (wk.kernels.MAX, wk.kernels.MIN, wk.kernels.SUM)
    copies = [(getattr(wk.kernels, name)[code, doubling], {"REDUCE": code, "DOUBLING": doubling})
              for name in ("separable_pool", "van_herk_pool")
              for code in codes for doubling in (False, True)]
    copies += [(wk.kernels.extreme_2x2_pool[code], {"REDUCE": code}) for code in codes]
    copies.append((wk.kernels.block_pool[wk.kernels.SUM, 5], {"REDUCE": wk.kernels.SUM, "BLOCK": 5}))
    for loop, constants in copies:
        assert loop.serial.py_func.__code__ is loop.python.__code__
        # In the Python form, the copy's constants are set and helpers are plain Python.
        namespace = loop.python.__globals__
        assert {name: namespace[name] for name in constants} == constants
        assert inspect.isfunction(namespace["combine"])
        assert namespace["pick_into"].__globals__ is namespace


# -- methods -------------------------------------------------------------------

FAST_METHODS = ["separable", "van_herk"]
# Windows and strides that reach every row algorithm of the fast methods:
# direct rows (narrower than 8, or strides too large for doubling to pay),
# doubling from 8 wide (at the threshold, odd widths whose sums take several
# pieces, strides above 1), van Herk blocks of several heights, strides
# below and above the window.
WIDE_CASES = [((4, 3), 1), ((5, 5), (2, 1)), ((2, 7), (1, 3)), ((3, 8), 1), ((2, 13), (1, 2)),
              ((3, 16), (2, 5)), ((7, 65), 1), ((9, 70), (2, 3)), ((3, 100), (1, 7)),
              ((6, 81), (4, 1))]


@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("impl", ["numba", "python"])
def test_fast_methods_keep_integer_sums_exact(method, impl):
    u8 = np.full((6, 6), 255, np.uint8)
    result = wk.sum_pool(u8, 4, 1, impl=impl, method=method)
    assert result.dtype == np.uint64 and (result == 255 * 16).all()
    i8 = np.full((5, 7), -128, np.int8)
    assert (wk.sum_pool(i8, (5, 7), impl=impl, method=method) == -128 * 35).all()
    big = np.full((3, 3), 2**62, np.uint64)
    assert wk.sum_pool(big, (1, 3), 1, impl=impl, method=method)[0, 0] == 3 * 2**62
    extremes = np.array([[np.iinfo(np.int64).min, 0], [1, np.iinfo(np.int64).max]])
    assert wk.max_pool(extremes, 2, impl=impl, method=method)[0, 0] == np.iinfo(np.int64).max
    assert wk.min_pool(extremes, 2, impl=impl, method=method)[0, 0] == np.iinfo(np.int64).min
    # Wide windows: row sums by doubling, still exact in the 64-bit accumulator.
    u8_wide = np.full((3, 150), 255, np.uint8)
    assert (wk.sum_pool(u8_wide, (2, 90), (1, 3), impl=impl, method=method) == 255 * 180).all()


@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int16, np.uint8])
def test_fast_methods_match_direct_exactly_for_max_min(method, dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 23, 190)) * 50).astype(dtype)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 25, replace=False)] = np.nan
        flat[rng.choice(flat.size, 10, replace=False)] = np.inf
        flat[rng.choice(flat.size, 10, replace=False)] = -np.inf
    for window, stride in WIDE_CASES:
        for reduce in ("max", "min"):
            direct = wk.pool(x, window, stride, reduce=reduce, method="direct")
            fast = wk.pool(x, window, stride, reduce=reduce, method=method)
            np.testing.assert_array_equal(fast, direct, err_msg=f"{reduce} {window} {stride}")


@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_fast_methods_float_sums_within_tolerance(method, dtype):
    """Float sums add in another order: equal to within the worst-case rounding.

    Any order of adding n terms is within (n - 1) eps sum|x| of the exact sum,
    so two orders are within 2 (n - 1) eps sum|x| of each other. One dropped
    or doubled term would be off by about sum|x| / n, far more.
    """
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((40, 280)) * 100).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x += 1j * (rng.standard_normal(x.shape) * 100).astype(x.dtype)
    for window, stride in WIDE_CASES:
        n = np.prod(window)
        for reduce in ("sum", "mean"):
            direct = wk.pool(x, window, stride, reduce=reduce, method="direct")
            fast = wk.pool(x, window, stride, reduce=reduce, method=method)
            scale = wk.pool(np.abs(x), window, stride, reduce=reduce, method="direct")
            eps = np.finfo(dtype).eps
            assert fast.dtype == direct.dtype
            assert (np.abs(fast - direct) <= 2 * (n - 1) * eps * scale).all(), (window, stride)


@pytest.mark.parametrize("method", FAST_METHODS)
def test_fast_sum_error_does_not_grow_with_length(method):
    """No running sum that subtracts: the error at the end of a long signal
    is as small as at its start (float32, a large offset, a million samples)."""
    rng = np.random.default_rng(2)
    x = (1000 + rng.random(1_000_000)).astype(np.float32)
    window = 100
    exact = wk.sum_pool(x.astype(np.float64), window, 1, method="direct")
    fast = wk.sum_pool(x, window, 1, method=method)
    bound = 2 * (window - 1) * np.finfo(np.float32).eps * exact
    error = np.abs(fast - exact)
    assert (error <= bound).all()


@pytest.mark.parametrize("method", FAST_METHODS)
def test_fast_methods_float16_mean_does_not_overflow(method):
    x = np.full((8, 80), 60000, np.float16)
    for window in (4, (4, 70)):
        result = wk.mean_pool(x, window, 1, method=method)
        np.testing.assert_array_equal(result, np.full(result.shape, 60000, np.float16))


@pytest.mark.parametrize("method", FAST_METHODS)
def test_fast_methods_on_volumes_and_batches(method):
    """3-D windows combine depth slices first; batch axes in any position."""
    x = make_data((4, 9, 11, 75), np.float64)
    for window, stride, axes in [((2, 3, 4), 1, (1, 2, 3)), ((3, 7, 66), (2, 1, 3), (1, 2, 3)),
                                 ((5, 3), (1, 2), (3, 1)), (3, 1, (0, 3))]:
        for reduce in ("max", "sum"):
            direct = wk.pool(x, window, stride, reduce=reduce, axes=axes, method="direct")
            fast = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method)
            np.testing.assert_allclose(fast, direct, rtol=1e-13, err_msg=f"{window} {axes}")


# -- windows side by side along the rows ---------------------------------------


@pytest.mark.parametrize("dtype, widths", [
    (np.float64, range(1, wk.kernels.BLOCK_MAX + 1)), (np.float32, [3, 7]), (np.uint8, [2, 4]),
    (np.int16, [5]), (np.float16, [2]), (np.complex128, [2]), (np.bool_, [3]),
])
def test_side_by_side_windows_are_bitwise_the_direct_loop(dtype, widths):
    """Windows as wide as their column stride (up to BLOCK_MAX) are reduced
    in registers a row at a time, the rows in the direct loop's order:
    equal bit for bit, float sums included, NaN and inf where direct puts
    them. Widths 1 to 8, 2-D and 3-D windows, row strides below, at and
    above the window, ragged edges."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3, 7, 13, 61)) * 40).astype(dtype)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 40, replace=False)] = np.nan
        flat[rng.choice(flat.size, 20, replace=False)] = np.inf
        flat[rng.choice(flat.size, 20, replace=False)] = -np.inf
    for width in widths:
        for window, stride in [((1, width), (1, width)), ((3, width), (2, width)),
                               ((2, width), (3, width)), ((2, 2, width), (3, 1, width))]:
            for reduce in ops_for(dtype, POOL_OPS):
                direct = wk.pool(x, window, stride, reduce=reduce, method="direct")
                fast = wk.pool(x, window, stride, reduce=reduce, method="separable")
                np.testing.assert_array_equal(fast, direct, strict=True,
                                              err_msg=f"{reduce} {window} {stride}")


@pytest.mark.parametrize("name, window", [("block_pool", (2, 3, 3)), ("block_pool", (1, 1, 4)),
                                          ("extreme_2x2_pool", (1, 2, 2))])
def test_side_by_side_kernels_run_exactly_their_tasks(name, window):
    """Threads run contiguous task ranges, which may start and stop inside a
    plane or inside a row's segments: each range writes exactly its own
    outputs, with the whole run's values."""
    loop = getattr(wk.kernels, name)[wk.kernels.MAX, window[2]] if name == "block_pool" else (
        wk.kernels.extreme_2x2_pool[wk.kernels.MAX])
    # Rows of 20_000 elements: several segments per row for the 1-D window.
    shape = (2, 5, 9, 20_000) if window[0] == 1 and window[1] == 1 else (3, 6, 11, 40)
    x = make_data(shape, np.float64)
    out_shape = wk.output_shape(shape, window, window, axes=(1, 2, 3))
    args = (x, window, window) + ((np.intp(0),) if name == "block_pool" else ())
    whole = np.full(out_shape, -99.0)
    n_tasks = loop.count_tasks(whole, window, window)
    assert n_tasks > 8
    loop.serial(*args, 0, n_tasks, whole)
    np.testing.assert_array_equal(whole, wk.pool(x, window, window, axes=(1, 2, 3),
                                                 method="direct"))
    # Task t is segment t % n_segments of output row t // n_segments (C order).
    out_cols = out_shape[-1]
    per_segment = wk.kernels.segments.py_func(out_cols, window[2], window[2], wk.kernels.SEGMENT)[0]
    n_segments = -(-out_cols // per_segment)
    if name == "extreme_2x2_pool":
        per_segment, n_segments = out_cols, 1
    assert n_tasks == np.prod(out_shape[:-1]) * n_segments

    def outputs_of(first, stop):
        flat = [row * out_cols + col for task in range(first, stop)
                for row, segment in [divmod(task, n_segments)]
                for col in range(segment * per_segment, min(out_cols, (segment + 1) * per_segment))]
        return np.array(flat)

    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, n_tasks), 6, replace=False))
    for first, stop in zip([0, *cuts], [*cuts, n_tasks]):
        piece = np.full(out_shape, -99.0)
        loop.serial(*args, first, stop, piece)
        written = np.flatnonzero(piece != -99.0)
        np.testing.assert_array_equal(written, outputs_of(first, stop), err_msg=f"{first}:{stop}")
        np.testing.assert_array_equal(piece.reshape(-1)[written], whole.reshape(-1)[written])


def test_side_by_side_windows_on_threads():
    """Batches of small images and long signals, big enough for threads,
    F-ordered input and a strided out=."""
    images = make_data((3000, 28, 28), np.uint8)
    for reduce in ("max", "mean"):
        expected = wk.pool(images, 2, reduce=reduce, method="direct")
        np.testing.assert_array_equal(wk.pool(images, 2, reduce=reduce), expected, strict=True)
    signal = make_data((1_000_003,), np.float32)
    np.testing.assert_array_equal(wk.sum_pool(signal, 4), wk.sum_pool(signal, 4, method="direct"))
    image = np.asfortranarray(make_data((1500, 1400), np.float64))
    out = np.zeros((500, 2 * 466))[:, ::2]
    wk.min_pool(image, 3, out=out)
    np.testing.assert_array_equal(out, wk.min_pool(image, 3, method="direct"))


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float16, np.float32, np.complex128])
def test_correlate_rows_is_bitwise_the_direct_sum(dtype):
    """Same terms, same order: equal bit for bit, even for floats."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 30, 41)) * 20).astype(dtype)
    kernel = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    for stride in (1, (2, 1), (1, 3)):
        for op in (wk.correlate, wk.convolve):
            np.testing.assert_array_equal(op(x, kernel, stride, method="rows"),
                                          op(x, kernel, stride, method="direct"))


# -- correlation by FFT ---------------------------------------------------------

# (shape, kernel shape, stride, axes): 1-D signals in one tile and in
# several, images in several tiles and bands, strides, a batch axis between
# the windowed ones, a volume, a batch of small images (many per band), a
# kernel the size of the array, a kernel taller than half a tile.
FFT_CASES = [((1000,), (7,), 1, None), ((140_000,), (300,), (3,), None),
             ((600, 530), (11, 13), 1, None), ((600, 530), (11, 13), (2, 3), None),
             ((300, 5, 290), (21, 4), (1, 5), (0, 2)), ((7, 40, 270), (5, 11, 13), (2, 1, 1), None),
             ((3, 2, 28, 28), (5, 5), 1, None), ((20, 9), (20, 9), 1, None),
             ((300, 270), (200, 3), 1, None)]


def fft_bound(x4_shape, kernel, x, dtype):
    """The documented agreement of "fft" with the direct sum, per output:
    10 eps log2(tile elements) max|x| sum|kernel|."""
    tile = np.prod(wk._fft.fft_shape(x4_shape, kernel.shape))
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
    big, small = rng.standard_normal((25, 25)), rng.standard_normal((5, 5))
    choice = wk.choose_method("correlate", x.shape, big.shape)
    assert choice.method == "fft" and "transforms" in choice.reason
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


@pytest.mark.parametrize("method, scratch_rows", [("separable", 2), ("van_herk", 9 + 2)])
def test_fast_methods_allocate_the_output_and_a_few_rows(method, scratch_rows):
    """Peak memory (tracemalloc sees Numba's allocations too) is the output
    plus the documented scratch rows per thread, not an image-sized array."""
    x = make_data((600, 600), np.float64)
    wk.max_pool(x, 9, 1, method=method)
    tracemalloc.start()
    result = wk.max_pool(x, 9, 1, method=method)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scratch = numba.get_num_threads() * scratch_rows * x.shape[1] * x.itemsize
    assert peak < result.nbytes + scratch + 16 * 1024, (peak, result.nbytes, scratch)
    # A 1-D signal is one long row: scratch is a segment of it, not all of it.
    signal = make_data((2_000_000,), np.float64)
    wk.sum_pool(signal, 100, 1, method=method)
    tracemalloc.start()
    result = wk.sum_pool(signal, 100, 1, method=method)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    segment = (wk.kernels.SEGMENT + 100) * signal.itemsize
    assert peak < result.nbytes + numba.get_num_threads() * 4 * segment + 16 * 1024


def test_van_herk_scratch_stays_small_for_tall_windows():
    """One scratch row per window row, but of narrower segments: a window of
    250 rows on 8192-wide rows keeps 252 rows of at most 1024 elements per
    thread (VAN_HERK_SCRATCH // 250 = 524), not of 8192 (16 MB per thread)."""
    x = make_data((300, 8192), np.float64)
    wk.max_pool(x, (250, 3), 1, method="van_herk")
    tracemalloc.start()
    result = wk.max_pool(x, (250, 3), 1, method="van_herk")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scratch = numba.get_num_threads() * (250 + 2) * 1024 * x.itemsize
    assert peak < result.nbytes + scratch + 16 * 1024, (peak, result.nbytes, scratch)
    np.testing.assert_array_equal(result, wk.max_pool(x, (250, 3), 1, method="separable"))


def test_choose_method():
    assert wk.choose_method("max", (512, 512), 4).method == "separable"
    assert wk.choose_method("mean", (512, 512), 2, 1).method == "separable"
    assert wk.choose_method("max", (2048, 2048), 31, 1).method == "van_herk"
    assert wk.choose_method("max", (2048, 2048), 31, 16).method == "separable"
    assert wk.choose_method("sum", (100, 100, 100), 5, 1, axes=(0, 1, 2)).method == "van_herk"
    assert wk.choose_method("min", (4096,), 31, 1).method == "separable"  # 1-D: one row
    assert wk.choose_method("correlate", (512, 512), (11, 11)).method == "rows"
    choice = wk.choose_method("max", (512, 512), 16, 1)
    assert "van Herk combines 3 input rows per output row, separable 16" in choice.reason
    assert choice.work > 0
    # auto runs what choose_method names.
    x = make_data((40, 40), np.float64)
    for window, stride in [(4, 4), (9, 1), ((1, 9), 1)]:
        method = wk.choose_method("max", x.shape, window, stride).method
        np.testing.assert_array_equal(wk.max_pool(x, window, stride),
                                      wk.max_pool(x, window, stride, method=method))


def test_choose_method_validates_like_the_ops():
    with pytest.raises(ValueError, match=r"op must be one of 'max', 'min', 'mean', 'sum', 'correlate', 'convolve'"):
        wk.choose_method("median", (5, 5), 2)
    with pytest.raises(ValueError, match=r"window 6 does not fit axis 0 of length 5"):
        wk.choose_method("max", (5, 5), 6)


def test_block_labels_do_not_grow_with_each_compile(tmp_path):
    """Numba renumbers inlined blocks from the largest label so far, and our
    nested inlining multiplied it by ~200 per compiled kernel, until LLVM
    rejected the block names (after ~400 compiles, as in this test suite).
    Six fresh compiles (an empty cache) left it 26 digits long without the
    reset, 8 with it."""
    code = """if True:
        import numpy as np, windowkit as wk
        from numba.core import ir_utils
        x = np.random.default_rng(0).random((12, 14))
        for method in ("separable", "van_herk"):
            for layout in (x, np.asfortranarray(x), x[:, ::2]):
                wk.max_pool(layout, 3, 1, method=method)
        print(len(str(ir_utils._the_max_label._value)))
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    digits = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                            capture_output=True, text=True).stdout
    assert int(digits) < 12
