"""Inputs whose windowed axes vary fastest in memory (Fortran order, transposed
views) run the loops along memory, as the C array of their memory order;
channels last (NHWC) with at least CHANNELS_MIN channels run with the
channels as the loops' rows; the results are laid out as the inputs are."""

import numpy as np
import pytest
from conftest import make_data, make_kernel

import windowkit as wk
from windowkit import _plan


def transposed(x):
    """A view whose memory order is its axes reversed."""
    return np.ascontiguousarray(x.T).T


# make the layout, shape, window, stride, axes
CASES = [
    (np.asfortranarray, (23, 31), (3, 4), (1, 2), None),
    (np.asfortranarray, (23, 31), 2, 2, None),
    (np.asfortranarray, (20, 27, 3), (3, 5), 1, (0, 1)),  # (H, W, C): channel planes
    (transposed, (9, 13, 4), (2, 3, 2), (1, 2, 1), None),
    (np.ascontiguousarray, (19, 22), (4, 3), (2, 1), (1, 0)),  # axes given the other way
    (np.ascontiguousarray, (2, 9, 11, 32), (3, 2), (2, 1), (1, 2)),  # NHWC
    (np.ascontiguousarray, (10, 12, 40), (2, 3), (1, 2), (1, 0)),  # HWC, axes reversed
    (np.ascontiguousarray, (3, 17, 33), (4,), (3,), (1,)),  # signals of 33 channels
]
IDS = ["F", "F blocks", "F colour", "transposed 3-D", "C, axes reversed", "NHWC", "HWC 40",
       "NLC"]


def with_nan(x):
    if x.dtype.kind == "f":
        x = x.copy()
        x.flat[::17] = np.nan
    return x


@pytest.mark.parametrize("layout, shape, window, stride, axes", CASES, ids=IDS)
def test_memory_order_is_what_the_loops_run(layout, shape, window, stride, axes):
    x = layout(make_data(shape, np.float64))
    for reduce in ("max", "mean"):
        plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, reduce, "auto", "numba",
                               x.strides)
        assert x.transpose(plan.order).flags.c_contiguous, plan.order
        result = plan(x)
        assert [key[0] for key in plan.prepared] == [True], \
            "the loop ran on a non-contiguous view"
        # Laid out as x: C-contiguous in the same memory order.
        assert result.transpose(plan.order).flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8, np.float16,
                                   np.complex128])
@pytest.mark.parametrize("layout, shape, window, stride, axes", CASES, ids=IDS)
def test_memory_order_gives_the_c_arrays_results(layout, shape, window, stride, axes, dtype):
    """Max, min and integer results are exact; float sums add in the
    memory order's sequence, equal to rounding."""
    c_order = with_nan(make_data(shape, dtype))
    x = layout(c_order)
    before = x.copy()
    exact = np.dtype(dtype).kind in "biu"
    reductions = ["sum", "mean"] if np.dtype(dtype).kind == "c" else ["max", "min", "sum", "mean"]
    for reduce in reductions:
        for method in ("direct", "separable", "van_herk", "auto"):
            expected = wk.pool(c_order, window, stride, reduce=reduce, axes=axes, method=method)
            actual = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method)
            # The loops in the caller's axis order, on the strided view.
            as_given = _plan.pool(x, window, stride, axes, reduce, method, "numba",
                                  memory_order=False)
            assert_equal_or_close(actual, as_given, exact or reduce in ("max", "min"),
                                  f"{reduce} {method}, as given")
            into = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method,
                           out=np.empty(expected.shape, expected.dtype))
            message = f"{reduce} {method}"
            np.testing.assert_array_equal(into, actual, err_msg=message, strict=True)
            if exact or reduce in ("max", "min"):
                np.testing.assert_array_equal(actual, expected, err_msg=message, strict=True)
            else:
                np.testing.assert_allclose(actual, expected, rtol=4 * np.finfo(dtype).eps,
                                           err_msg=message, strict=True)
    for op in ("correlate", "convolve"):
        kernel = make_kernel(_window_tuple(window, axes, len(shape)), dtype)
        for method in ("direct", "rows", "auto"):
            expected = getattr(wk, op)(c_order, kernel, stride, axes=axes, method=method)
            actual = getattr(wk, op)(x, kernel, stride, axes=axes, method=method)
            as_given = _plan.correlate(x, kernel, stride, axes, method, "numba",
                                       op == "convolve", memory_order=False)
            assert_equal_or_close(actual, as_given, exact, f"{op} {method}, as given")
            if exact:
                np.testing.assert_array_equal(actual, expected, err_msg=f"{op} {method}",
                                              strict=True)
            else:
                np.testing.assert_allclose(actual, expected, rtol=64 * np.finfo(dtype).eps,
                                           err_msg=f"{op} {method}", strict=True)
    np.testing.assert_array_equal(x, before, strict=True)


def assert_equal_or_close(actual, expected, exact, message):
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=message, strict=True)
    else:
        np.testing.assert_allclose(actual, expected, rtol=64 * np.finfo(actual.dtype).eps,
                                   err_msg=message, strict=True)


def _window_tuple(window, axes, ndim):
    """``window`` with one entry per windowed axis, as a kernel's shape."""
    if isinstance(window, tuple):
        return window
    return (window,) * (len(axes) if axes is not None else min(ndim, 2))


def test_channels_fastest_keep_the_axes_order():
    """A batch axis that varies faster than a windowed one (channels last,
    an F-ordered batch) is not reordered. The loops take only contiguous
    rows (kernels._jit.row_view), so such a view, whose rows run across
    the channels, is copied first and the C-contiguous loops run on the
    copy (issue 16; the cost of that copy against the strided loops it
    replaced is not yet measured). Channels last are interleaved in the
    rows for the separable loop only (see
    test_interleaved_channels_at_column_strides_above_1), not van Herk's."""
    for x, axes in ((make_data((20, 21, 3), np.float64), (0, 1)),
                    (np.asfortranarray(make_data((3, 20, 21), np.float64)), (1, 2))):
        for reduce in ("max", "mean"):
            plan = _plan.pool_plan(x.shape, x.dtype, 2, 2, axes, reduce, "van_herk", "numba",
                                   x.strides)
            assert plan.order == ((2, 0, 1) if axes == (0, 1) else (0, 1, 2))
            assert not plan.follow_layout
            result = plan(x)
            assert result.flags.c_contiguous
            if axes == (0, 1):
                assert [key[0] for key in plan.prepared] == [True], \
                    "the strided rows were not copied"
            expected = wk.pool(np.ascontiguousarray(x), 2, reduce=reduce, axes=axes,
                               method="van_herk")
            np.testing.assert_array_equal(result, expected, strict=True)


def test_many_channels_last_become_the_rows():
    """NHWC sums with CHANNELS_MIN channels or more (max and min with more
    than PIXELS_EXTREME_CHANNELS_MAX): the channel axis is the loops' row
    axis, window 1; fewer, and the channels are interleaved in the rows
    (the separable loop's pixels)."""
    from windowkit._methods import CHANNELS_MIN, PIXELS_EXTREME_CHANNELS_MAX

    for channels, reduce, taken in ((CHANNELS_MIN, "sum", True),
                                    (CHANNELS_MIN - 1, "sum", False),
                                    (PIXELS_EXTREME_CHANNELS_MAX + 1, "max", True),
                                    (PIXELS_EXTREME_CHANNELS_MAX, "max", False)):
        x = make_data((2, 9, 10, channels), np.float32)
        plan = _plan.pool_plan(x.shape, x.dtype, 3, 2, (1, 2), reduce, "auto", "numba",
                               x.strides)
        assert plan.interleaved != taken
        assert plan.axes == (1, 2, 3), plan.axes  # the channels as rows, or in them
        assert plan.follow_layout
        result = plan(x)
        assert result.flags.c_contiguous
        nchw = np.ascontiguousarray(np.moveaxis(x, -1, 1))
        expected = np.moveaxis(wk.pool(nchw, 3, 2, reduce=reduce), 1, -1)
        if reduce == "max":
            np.testing.assert_array_equal(result, expected, strict=True)
        else:  # the separable order of additions
            np.testing.assert_allclose(result, expected, rtol=1e-6, strict=True)


# shape, window, stride, axes: channels last, the column stride 1, so that the
# windowed axis varying fastest and the channels are one row to the loops.
INTERLEAVED = [
    ((13, 17, 3), (3, 3), 1, (0, 1)),  # an RGB image
    ((13, 17, 3), (2, 9), (3, 1), (0, 1)),  # wide: rows by doubling spans
    ((17, 13, 4), (3, 2), (1, 2), (1, 0)),  # the axes given the other way
    ((2, 9, 10, 5), (4, 3), (2, 1), (1, 2)),  # NHWC
    ((2, 9, 10, 40), (3, 3), 1, (1, 2)),  # NHWC with many channels
    ((3, 40, 2), (5,), (1,), (1,)),  # signals of two channels
    ((2, 5, 6, 7, 3), (2, 3, 4), (2, 1, 1), (1, 2, 3)),  # volumes, 3-D windows
    ((4, 3000, 3), (2, 3), 1, (0, 1)),  # rows of several segments
]


def channels_last_and_first(shape, axes, dtype):
    """``(x, first, first_axes)``: channels-last data of ``shape`` (NaN and
    inf included for floats), its channels-first C copy, and the windowed
    axes in that copy."""
    x = with_nan(make_data(shape, dtype))
    if x.dtype.kind == "f":
        x.flat[5::23] = np.inf
        x.flat[11::29] = -np.inf
    first = np.ascontiguousarray(np.moveaxis(x, x.ndim - 1, 0))
    return x, first, tuple(a + 1 for a in axes)


@pytest.mark.parametrize("dtype", [np.float64, np.uint8, np.float16])
@pytest.mark.parametrize("shape, window, stride, axes", INTERLEAVED, ids=lambda v: str(v))
def test_interleaved_channels_are_the_channels_first_results(shape, window, stride, axes, dtype):
    """Channels last at a column stride of 1: the loops run along the
    interleaved rows, the window's columns the channel count apart, and
    combine in the order they do for the channels-first copy, so even
    float sums are bitwise its results; NaN and inf where it has them."""
    x, first, first_axes = channels_last_and_first(shape, axes, dtype)
    before = x.copy()
    channels = x.ndim - 1
    for reduce in ("max", "min", "sum", "mean"):
        for method in ("separable", "van_herk", "auto"):
            plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, reduce, method,
                                   "numba", x.strides)
            assert plan.interleaved, (reduce, method)
            actual = plan(x)
            assert actual.transpose(plan.order).flags.c_contiguous  # laid out as x
            expected = np.moveaxis(wk.pool(first, window, stride, reduce=reduce,
                                           axes=first_axes, method=method), 0, channels)
            message = f"{reduce} {method}"
            np.testing.assert_array_equal(actual, expected, err_msg=message, strict=True)
            # Into a given output of another layout: through a temporary.
            into = np.zeros(expected.shape[::-1], expected.dtype).T
            wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method, out=into)
            np.testing.assert_array_equal(into, expected, err_msg=message, strict=True)
    np.testing.assert_array_equal(x, before, strict=True)


# shape, window, stride, axes, loop: channels last at a column stride above 1
INTERLEAVED_STRIDED = [
    ((13, 17, 3), (2, 2), 2, (0, 1), "block_pool"),  # RGB blocks: pixels side by side
    ((13, 20, 4), (3, 4), (3, 4), (0, 1), "block_pool"),  # RGBA, 4 pixels wide
    ((2, 9, 12, 5), (2, 3), (2, 3), (1, 2), "block_pool"),  # 5 channels: the count an argument
    ((2, 5, 6, 8, 3), (2, 2, 2), 2, (1, 2, 3), "block_pool"),  # volumes, 3-D blocks
    ((2, 6000, 3), (2, 2), 2, (0, 1), "block_pool"),  # rows of two segments
    ((13, 17, 3), (3, 3), (1, 2), (0, 1), "separable_pool"),
    ((13, 20, 4), (2, 9), (2, 3), (0, 1), "separable_pool"),  # wide: the row by doubling spans
    ((2, 9, 10, 5), (3, 2), 3, (1, 2), "separable_pool"),  # NHWC, few channels
    ((3, 40, 2), (5,), (4,), (1,), "separable_pool"),  # signals of two channels
    ((4, 3000, 3), (2, 3), 2, (0, 1), "separable_pool"),  # rows of several segments
]


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
@pytest.mark.parametrize("shape, window, stride, axes, loop", INTERLEAVED_STRIDED,
                         ids=lambda v: str(v))
def test_interleaved_channels_at_column_strides_above_1(shape, window, stride, axes, loop,
                                                        dtype):
    """Windows of pixels side by side take block_pool, with the channels
    interleaved in its rows; otherwise the separable loop pools the
    interleaved row at stride 1 and picks the strided outputs' pixels.
    The results are the channels-first copy's: exactly here, the values
    being small integers (NaN and inf included), whose sums are exact in
    any order."""
    x, first, first_axes = channels_last_and_first(shape, axes, dtype)
    before = x.copy()
    channels = x.ndim - 1
    for reduce in ("max", "min", "sum", "mean"):
        plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, reduce, "separable",
                               "numba", x.strides)
        assert plan.interleaved, reduce
        assert plan.loop.__name__ == loop, reduce
        expected = np.moveaxis(wk.pool(first, window, stride, reduce=reduce, axes=first_axes,
                                       method="direct"), 0, channels)
        np.testing.assert_array_equal(plan(x), expected, err_msg=reduce, strict=True)
        into = np.zeros(expected.shape[::-1], expected.dtype).T
        wk.pool(x, window, stride, reduce=reduce, axes=axes, method="separable", out=into)
        np.testing.assert_array_equal(into, expected, err_msg=reduce, strict=True)
        with np.errstate(invalid="ignore"):  # inf - inf, in numpy scalars
            python = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, reduce,
                                     "separable", "python", x.strides)(x)
        np.testing.assert_array_equal(python, expected, err_msg=reduce, strict=True)
    np.testing.assert_array_equal(x, before, strict=True)


# shape, kernel, stride, axes: channels last, the rows loop along the interleaved row
INTERLEAVED_CORRELATE = [
    ((13, 17, 3), (3, 3), 1, (0, 1)),  # an RGB image
    ((13, 20, 4), (2, 9), 1, (0, 1)),  # a pass of eight weights, then one
    ((17, 13, 4), (3, 2), (1, 2), (1, 0)),  # the axes given the other way, stride 2
    ((2, 9, 10, 5), (3, 2), (2, 3), (1, 2)),  # NHWC, stride 3
    ((2, 9, 10, 40), (3, 3), 1, (1, 2)),  # NHWC with many channels
    ((3, 40, 2), (5,), (4,), (1,)),  # signals of two channels
    ((2, 5, 6, 7, 3), (2, 3, 4), (2, 1, 2), (1, 2, 3)),  # volumes, 3-D kernels
    ((2, 6000, 3), (2, 3), 1, (0, 1)),  # long rows
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
@pytest.mark.parametrize("shape, kernel_shape, stride, axes", INTERLEAVED_CORRELATE,
                         ids=lambda v: str(v))
def test_interleaved_correlation(shape, kernel_shape, stride, axes, dtype):
    """The rows loop correlates along the interleaved row, the kernel's
    columns the channel count apart, summing at every pixel at column
    strides above 1 and keeping every stride-th pixel's sums. The terms
    and their order are those of the channels-first copy's loops, so the
    results are its own bit for bit (NaN and inf included), also into an
    ``out=`` of another layout and by the Python interpreter."""
    x, first, first_axes = channels_last_and_first(shape, axes, dtype)
    before = x.copy()
    channels = x.ndim - 1
    kernel = make_kernel(kernel_shape, dtype)
    for op in ("correlate", "convolve"):
        plan = _plan.correlate_plan(x.shape, x.dtype, kernel, stride, axes, "rows", "numba",
                                    op == "convolve", x.strides)
        assert plan.interleaved, op
        for method in ("rows", "direct"):
            expected = np.moveaxis(getattr(wk, op)(first, kernel, stride, axes=first_axes,
                                                   method=method), 0, channels)
            message = f"{op}, against the channels-first copy's {method} loop"
            np.testing.assert_array_equal(plan(x), expected, err_msg=message, strict=True)
        into = np.zeros(expected.shape[::-1], expected.dtype).T
        getattr(wk, op)(x, kernel, stride, axes=axes, method="rows", out=into)
        np.testing.assert_array_equal(into, expected, err_msg=op, strict=True)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, in numpy scalars
            python = _plan.correlate_plan(x.shape, x.dtype, kernel, stride, axes, "rows",
                                          "python", op == "convolve", x.strides)(x)
        np.testing.assert_array_equal(python, expected, err_msg=op, strict=True)
    layout = wk.choose_method("correlate", x.shape, kernel_shape, stride, axes=axes,
                              dtype=dtype, strides=x.strides).layout
    assert layout.startswith("interleaved channels"), layout
    np.testing.assert_array_equal(x, before, strict=True)


def test_interleaved_correlation_only_in_the_rows_loop():
    """Not in the direct loop nor by transforms, not at column strides above
    FULL_ROW_STRIDE_MAX (the rows loop loads along the stride there), and
    not where the row and its channels are not one run of memory."""
    from windowkit.kernels.correlate_rows import FULL_ROW_STRIDE_MAX

    rgb = make_data((13, 40, 3), np.float64)
    kernel = make_kernel((3, 3), np.float64)

    def interleaved(x, stride=1, method="rows"):
        plan = _plan.correlate_plan(x.shape, x.dtype, kernel, stride, (0, 1), method, "numba",
                                    False, x.strides)
        np.testing.assert_allclose(plan(x), wk.correlate(x, kernel, stride, axes=(0, 1),
                                                         method="direct"), atol=1e-12)
        return plan.interleaved

    assert interleaved(rgb)
    assert interleaved(rgb, stride=(1, FULL_ROW_STRIDE_MAX))
    assert not interleaved(rgb, stride=(1, FULL_ROW_STRIDE_MAX + 1))
    assert not interleaved(rgb, method="direct")
    assert not interleaved(rgb, method="fft")
    assert not interleaved(make_data((13, 80, 3), np.float64)[:, ::2])  # gaps in the row


def test_interleaved_only_where_the_row_is_one_run():
    """At a column stride above 1 only in the separable loop and with fewer
    than CHANNELS_MIN channels; not for the direct loop, not when
    the channels are not the fastest axis next to the row, nor when the
    row and its channels are not one run of memory (then the strided view
    in the caller's order, as before)."""
    rgb = make_data((13, 17, 3), np.float64)

    def interleaved(x, window=3, stride=1, axes=(0, 1), method="auto", reduce="max"):
        plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, reduce, method,
                               "numba", x.strides)
        expected = wk.pool(x, window, stride, reduce=reduce, axes=axes, method="direct")
        if reduce in ("max", "min"):
            np.testing.assert_array_equal(plan(x), expected, strict=True)
        else:  # the separable order of additions
            np.testing.assert_allclose(plan(x), expected, rtol=1e-13, strict=True)
        return plan.interleaved

    assert interleaved(rgb)
    # At a column stride above 1: the separable loop's pixels, few channels only.
    assert interleaved(rgb, stride=(1, 2))
    assert interleaved(rgb, stride=(1, 2), method="separable")
    assert not interleaved(rgb, window=(9, 3), stride=(1, 2), method="van_herk")
    # Max and min up to PIXELS_EXTREME_CHANNELS_MAX channels, sums fewer than
    # CHANNELS_MIN; pixels side by side at any count.
    many = wk._methods.PIXELS_EXTREME_CHANNELS_MAX
    assert interleaved(make_data((2, 9, 10, many), np.float64), stride=(1, 2), axes=(1, 2))
    assert not interleaved(make_data((2, 9, 10, many + 1), np.float64), stride=(1, 2),
                           axes=(1, 2))
    assert not interleaved(make_data((2, 9, 10, 32), np.float64), stride=(1, 2), axes=(1, 2),
                           reduce="mean")
    assert interleaved(make_data((2, 9, 10, 31), np.float64), stride=(1, 2), axes=(1, 2),
                       reduce="mean")
    assert interleaved(make_data((2, 9, 12, many + 1), np.float64), window=(3, 2),
                       stride=(1, 2), axes=(1, 2), reduce="sum")
    assert not interleaved(rgb, method="direct")
    assert not interleaved(np.asfortranarray(rgb))
    assert not interleaved(make_data((13, 34, 3), np.float64)[:, ::2])  # gaps in the row
    assert not interleaved(make_data((13, 17, 4), np.float64)[..., :3])
    # Every other channel of six: one run of stride 2, still one row.
    assert interleaved(make_data((13, 17, 6), np.float64)[..., ::2])
    assert not interleaved(make_data((3, 13, 17), np.float64), axes=(1, 2))  # channels first
    assert interleaved(make_data((13, 17, 3), np.float64)[::-1])  # rows reversed: still one run


# shape, window, stride, axes, the axes reversed in memory
REVERSED = [
    ((23, 31), (3, 4), (1, 2), None, (0,)),  # rows: the windows start 0 in
    ((23, 31), (3, 3), (2, 3), None, (0, 1)),  # both: 0 and 1 in
    ((22, 30), 2, 2, None, (0, 1)),  # blocks
    ((4, 9, 10), (3,), (2,), (0,), (2,)),  # a batch axis, the windowed one moved
    ((2, 9, 11, 5), (3, 2), (2, 1), (1, 2), (0, 3)),  # batch axes around the windows
]


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
@pytest.mark.parametrize("shape, window, stride, axes, turned", REVERSED,
                         ids=[str(case[-1]) for case in REVERSED])
def test_negative_strides_run_as_reversed_views(shape, window, stride, axes, turned, dtype):
    """An array laid out backwards along some axes runs the loops on the
    view that reads it forwards, and gives the C array's results: exactly
    here, the values being small integers (NaN included), whose sums are
    exact in any order. A new output is reversed as the input is."""
    c_order = with_nan(make_data(shape, dtype))
    flip = tuple(slice(None, None, -1) if axis in turned else slice(None)
                 for axis in range(len(shape)))
    x = np.ascontiguousarray(c_order[flip])[flip]
    assert np.array_equal(x, c_order, equal_nan=True)
    before = x.copy()
    plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, "max", "auto", "numba",
                           x.strides)
    forwards = x[plan.reversed[0]]  # a view, read forwards
    assert np.shares_memory(forwards, x) and all(step > 0 for step in forwards.strides)
    reductions = ["max", "min", "sum", "mean"]
    for reduce in reductions:
        for method in ("direct", "separable", "van_herk", "auto"):
            expected = wk.pool(c_order, window, stride, reduce=reduce, axes=axes, method=method)
            actual = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method)
            message = f"{reduce} {method}"
            np.testing.assert_array_equal(actual, expected, err_msg=message, strict=True)
            assert all((step < 0) == (axis in turned)
                       for axis, step in enumerate(actual.strides)
                       if actual.shape[axis] > 1), (message, actual.strides)
            into = np.empty(expected.shape, expected.dtype)
            assert wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method,
                           out=into) is into
            np.testing.assert_array_equal(into, expected, err_msg=message, strict=True)
            python = wk.pool(x, window, stride, reduce=reduce, axes=axes, method=method,
                             impl="python")
            np.testing.assert_array_equal(python, expected, err_msg=message, strict=True)
    kernel = make_kernel(_window_tuple(window, axes, len(shape)), dtype)
    methods = ("direct", "rows", "fft", "auto") if x.dtype.kind == "f" else ("direct", "rows")
    for op in ("correlate", "convolve"):
        for method in methods:
            expected = getattr(wk, op)(c_order, kernel, stride, axes=axes, method=method)
            actual = getattr(wk, op)(x, kernel, stride, axes=axes, method=method)
            np.testing.assert_array_equal(actual, expected, err_msg=f"{op} {method}",
                                          strict=True)
    np.testing.assert_array_equal(x, before, strict=True)


def test_rows_reversed_run_the_c_loop():
    """Rows laid out backwards (``x[::-1]`` of a C array) are a C array read
    forwards: the loops' C copy runs, without a copy of the input."""
    c_order = make_data((40, 41), np.float64)
    x = c_order[::-1]
    choice = wk.choose_method("max", x.shape, 3, 1, strides=x.strides)
    assert choice.layout.startswith("axes (0,) reversed to run forwards; "), choice.layout
    for reduce in ("max", "mean"):
        plan = _plan.pool_plan(x.shape, x.dtype, 3, 1, None, reduce, "auto", "numba", x.strides)
        result = plan(x)
        assert [key[0] for key in plan.prepared] == [True], \
            "the loop ran on a strided view"
        np.testing.assert_array_equal(
            result, wk.pool(np.ascontiguousarray(x), 3, 1, reduce=reduce), strict=True)


@pytest.mark.parametrize("reduce, window, shape", [
    ("max", 2, (2, 30, 2 * 41)),  # extreme_2x2_pool
    ("min", 2, (30, 2 * 40)),
    ("sum", 3, (2, 30, 2 * 39)),  # block_pool
    ("mean", 4, (30, 2 * 40)),
    ("max", 3, (33, 2 * 39)),
])
def test_block_loops_read_rows_of_strided_elements_in_place(reduce, window, shape):
    """Windows side by side along rows of strided elements (x[..., ::2]) are
    pooled by the block loops, which index the input's planes, on the view
    itself: right, and without the copy the row loops need."""
    import tracemalloc

    base = with_nan(make_data(shape, np.float64))
    x = base[..., ::2]
    expected = wk.pool(np.ascontiguousarray(x), window, reduce=reduce, method="direct")
    np.testing.assert_array_equal(wk.pool(x, window, reduce=reduce, method="separable"),
                                  expected, strict=True)
    tracemalloc.start()
    result = wk.pool(x, window, reduce=reduce, method="separable")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < result.nbytes + x.nbytes // 2, (peak, result.nbytes, x.nbytes)
