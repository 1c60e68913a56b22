"""Missing data and where the extreme is: nan_policy, min_count, masked arrays
and return_indices, against oracles that share no code with windowkit:
numpy's nan-reductions and argmax over sliding_window_view, np.pad for
the padded geometry, np.ma's own reductions, bottleneck's moving windows
and PyTorch's max pooling indices."""

import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import windowkit as wk

import reference

METHODS = ("direct", "separable", "van_herk")
NANS = {"max": np.nanmax, "min": np.nanmin, "sum": np.nansum, "mean": np.nanmean}
ARGS = {"max": np.argmax, "min": np.argmin}


def with_nans(shape, dtype=np.float64, fraction=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(-20, 20, shape).astype(dtype)  # ties too
    x[rng.random(shape) < fraction] = np.nan
    return x


def padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode, cval):
    """The windows of x (np.pad, or masked out for "ignore") and whether
    each position is part of its window: tests.reference's view."""
    return reference._padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode,
                                     cval)


def omit_oracle(x, window, stride, axes, reduce, min_count=1, pads=None, dilation=None,
                ceil_mode=False, mode="ignore", cval=0):
    """numpy's nan-reduction of each window's values, NaN below min_count."""
    pads = pads or ((0, 0),) * len(window)
    dilation = dilation or (1,) * len(window)
    view, held = padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode, cval)
    within = tuple(range(x.ndim, view.ndim))
    values = held & ~np.isnan(view)
    counts = values.sum(axis=within)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if reduce in ("max", "min"):
            result = NANS[reduce](np.where(values, view, np.nan), axis=within)
        else:
            result = np.sum(np.where(values, view, 0), axis=within)
            if reduce == "mean":
                result = result / counts
    threshold = max(min_count, 1) if reduce in ("max", "min") else min_count
    return np.where(counts < threshold, np.nan, result)


# -- nan_policy="omit" and min_count ------------------------------------------------


@pytest.mark.parametrize("reduce", ["max", "min", "sum", "mean"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("window, stride", [(3, 1), (2, 2), (3, 2), (2, 3), ((1, 4), (1, 1)),
                                            (3, 3), ((2, 5), (2, 5))])
def test_omit_against_nan_reductions(reduce, method, window, stride):
    x = with_nans((9, 11))
    window2 = (window, window) if isinstance(window, int) else window
    stride2 = (stride, stride) if isinstance(stride, int) else stride
    for min_count in (None, 0, 2, 5):
        got = wk.pool(x, window, stride, reduce=reduce, nan_policy="omit", min_count=min_count,
                      method=method)
        want = omit_oracle(x, window2, stride2, (0, 1), reduce,
                           1 if min_count is None else min_count)
        if reduce == "sum" and min_count == 0:
            assert not np.isnan(got).any()  # np.nansum's 0 for a window without values
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert got.dtype == np.float64


@pytest.mark.parametrize("impl", ["python", "strided"])
def test_omit_every_impl(impl):
    x = with_nans((6, 7))
    for reduce in ("max", "mean"):
        got = wk.pool(x, 3, 1, reduce=reduce, nan_policy="omit", min_count=3, impl=impl)
        np.testing.assert_allclose(got, omit_oracle(x, (3, 3), (1, 1), (0, 1), reduce, 3),
                                   rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.complex128])
def test_omit_dtypes(dtype):
    x = with_nans((8, 8), np.float64)
    if dtype == np.complex128:
        # A NaN in either part is a NaN, as np.isnan says.
        x = x + 1j * np.where(np.arange(64).reshape(8, 8) % 7 == 0, np.nan, 1.0)
    x = x.astype(dtype)
    reductions = ("sum", "mean") if dtype == np.complex128 else ("max", "min", "sum", "mean")
    for reduce in reductions:
        got = wk.pool(x, 2, 1, reduce=reduce, nan_policy="omit")
        assert got.dtype == getattr(np, reduce)(np.zeros(1, x.dtype)).dtype  # numpy's dtype
        holds = ~np.isnan(x)
        view = sliding_window_view(x, (2, 2))
        held = sliding_window_view(holds, (2, 2))
        counts = held.sum(axis=(-2, -1))
        with np.errstate(all="ignore"):
            if reduce in ("max", "min"):
                want = NANS[reduce](view.astype(np.float64), axis=(-2, -1))
            else:
                want = np.sum(np.where(held, view, 0).astype(np.complex128), axis=(-2, -1))
                if reduce == "mean":
                    want = want / counts
        want = np.where(counts == 0, np.nan, want)
        tolerance = {np.float16: 1e-3, np.float32: 1e-6, np.complex128: 1e-12}[dtype]
        np.testing.assert_allclose(got.astype(np.complex128), want, rtol=tolerance)


def test_omit_without_nan_is_the_ordinary_pool():
    x = np.random.default_rng(1).standard_normal((20, 30)).astype(np.float32)
    for reduce in ("max", "min", "sum", "mean"):
        for method in METHODS:
            plain = wk.pool(x, 4, 1, reduce=reduce, method=method)
            omitted = wk.pool(x, 4, 1, reduce=reduce, method=method, nan_policy="omit")
            np.testing.assert_array_equal(omitted, plain)


def test_omit_infinities_and_all_nan_windows():
    x = np.array([-np.inf, np.nan, np.nan, np.nan, np.inf, np.nan, 1.0, -np.inf])
    np.testing.assert_array_equal(wk.max_pool(x, 2, nan_policy="omit"),
                                  [-np.inf, np.nan, np.inf, 1.0])
    np.testing.assert_array_equal(wk.min_pool(x, 2, nan_policy="omit"),
                                  [-np.inf, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(wk.sum_pool(x, 2, nan_policy="omit"),
                                  [-np.inf, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(wk.sum_pool(x, 2, nan_policy="omit", min_count=0),
                                  [-np.inf, 0.0, np.inf, -np.inf])
    np.testing.assert_array_equal(wk.mean_pool(x, 2, nan_policy="omit", min_count=0),
                                  [-np.inf, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(wk.max_pool(x, 2, nan_policy="omit", min_count=0),
                                  [-np.inf, np.nan, np.inf, 1.0])


@pytest.mark.parametrize("position", [0, 2, 4])
def test_nan_at_each_window_position(position):
    x = np.arange(10.0)
    x[position::5] = np.nan
    for reduce in ("max", "min", "sum", "mean"):
        got = wk.pool(x, 5, 1, reduce=reduce, nan_policy="omit", method="van_herk")
        want = NANS[reduce](sliding_window_view(x, 5), axis=-1)
        np.testing.assert_allclose(got, want)
        propagated = wk.pool(x, 5, 1, reduce=reduce)
        assert np.isnan(propagated).all()  # every window holds one NaN


def test_bottleneck_moving_windows():
    bn = pytest.importorskip("bottleneck")
    signal = with_nans(5000, fraction=0.1, seed=3)
    for window, min_count in [(64, 32), (7, 1), (10, 10)]:
        for name, reduce in [("move_mean", "mean"), ("move_sum", "sum"), ("move_max", "max"),
                             ("move_min", "min")]:
            want = getattr(bn, name)(signal, window, min_count=min_count)[window - 1:]
            got = wk.pool(signal, window, 1, reduce=reduce, nan_policy="omit",
                          min_count=min_count)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["separable", "van_herk"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_counting_loops_add_a_nan_as_zero(method, dtype):
    """The loops that count each window's values beside its sum add the
    same numbers in the same order as the ordinary loop on the input with
    its NaN set to 0: bitwise equal (windows side by side along the rows
    are left out: the ordinary sums take the block loops, in another order)."""
    rng = np.random.default_rng(21)
    cases = [((40, 57), (5, 3), (1, 1), None), ((40, 57), (7, 3), (3, 2), None),
             ((9, 8, 30), (3, 2, 4), (1, 2, 1), None), ((3000,), (64,), (1,), None),
             ((12, 15, 3), (3, 3), (1, 1), (0, 1))]  # interleaved channels
    for shape, window, stride, axes in cases:
        x = rng.standard_normal(shape).astype(dtype)
        x[rng.random(shape) < 0.2] = np.nan
        zeroed = np.where(np.isnan(x), dtype(0), x)
        for reduce in ("sum", "mean"):
            got = wk.pool(x, window, stride, axes=axes, reduce=reduce, method=method,
                          nan_policy="omit", min_count=0)
            if reduce == "sum":
                np.testing.assert_array_equal(
                    got, wk.pool(zeroed, window, stride, axes=axes, reduce="sum",
                                 method=method))
            else:
                counts = wk.pool((~np.isnan(x)).astype(dtype), window, stride, axes=axes,
                                 reduce="sum", method=method)
                sums = wk.pool(zeroed, window, stride, axes=axes, reduce="sum", method=method)
                with np.errstate(invalid="ignore"):
                    want = (sums.astype(np.float64) / counts).astype(dtype)
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", ["separable", "van_herk"])
@pytest.mark.parametrize("window", [(2, 127), (1, 255), (3, 85), (16, 16)])
def test_counts_either_side_of_uint8(method, window):
    """Windows of up to 254 elements count in uint8, larger ones in
    float32 (kernels.rows.UINT8_COUNTS_MAX): min_count at, below and past
    the window's size, and far past a uint8's range, says the same either
    way."""
    size = window[0] * window[1]
    x = with_nans((20, 300), fraction=0.004, seed=5)
    assert wk.kernels.UINT8_COUNTS_MAX == 254
    for min_count in (0, 1, size - 1, size, size + 1, 256, 10 ** 6):
        for reduce in ("sum", "mean"):
            got = wk.pool(x, window, 1, reduce=reduce, method=method, nan_policy="omit",
                          min_count=min_count)
            want = omit_oracle(x, window, (1, 1), (0, 1), reduce, min_count)
            np.testing.assert_array_equal(got, want, err_msg=f"{reduce} {min_count}")
            if min_count == size - 1:  # full windows and windows one short both occur
                assert np.isfinite(got).any() and np.isnan(
                    wk.pool(x, window, 1, reduce=reduce, method=method, nan_policy="omit",
                            min_count=size)).any()


def test_counts_past_float32s_digits():
    """Windows of 2**24 elements and more are counted outside the counting
    loops (their float32 counts would round): exact either way."""
    x = np.ones(2 ** 24 + 2, np.float32)
    x[1] = np.nan
    got = wk.sum_pool(x, 2 ** 24, 1, nan_policy="omit", min_count=2 ** 24)
    np.testing.assert_array_equal(got, [np.nan, np.nan, 2 ** 24])
    with pytest.raises(ValueError, match="exact"):
        wk._plan.pool_plan((2 ** 24,), np.dtype(np.float32), (2 ** 24,), (1,), (0,), "sum",
                           "auto", "numba", skip_nan=True)
    with pytest.raises(ValueError, match="real floats"):
        wk._plan.pool_plan((8,), np.dtype(np.complex64), (2,), (1,), (0,), "sum", "auto",
                           "numba", skip_nan=True)


def test_omit_batch_axes_and_layouts():
    x = with_nans((3, 10, 12), np.float32, seed=4)
    want = omit_oracle(x, (3, 2), (1, 2), (1, 2), "mean", 2)
    for view in (x, np.asfortranarray(x), x.transpose(0, 2, 1).copy().transpose(0, 2, 1)):
        got = wk.mean_pool(view, (3, 2), (1, 2), axes=(1, 2), nan_policy="omit", min_count=2)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    wide = np.zeros((3, 10, 24), np.float32)[:, :, ::2]
    wide[...] = x
    np.testing.assert_allclose(
        wk.mean_pool(wide, (3, 2), (1, 2), axes=(1, 2), nan_policy="omit", min_count=2), want,
        rtol=1e-6)


@pytest.mark.parametrize("mode", ["ignore", "constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("reduce", ["max", "sum", "mean"])
@pytest.mark.parametrize("method", ["auto", "direct"])
def test_omit_with_padding(mode, reduce, method):
    x = with_nans((7, 8), seed=5)
    for padding, dilation, ceil_mode, stride in [(1, 1, False, 2), ("same", 2, False, 1),
                                                 (((2, 0), (1, 1)), 1, True, 3)]:
        got = wk.pool(x, 3, stride, reduce=reduce, padding=padding, mode=mode, cval=2.5,
                      dilation=dilation, ceil_mode=ceil_mode, nan_policy="omit", min_count=2,
                      method=method)
        geometry_pads = [reference.same_padding(n, 3, stride, dilation) if padding == "same"
                         else (padding, padding) if isinstance(padding, int) else padding[i]
                         for i, n in enumerate(x.shape)]
        want = omit_oracle(x, (3, 3), (stride, stride), (0, 1), reduce, 2, geometry_pads,
                           (dilation, dilation), ceil_mode, mode, 2.5)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{padding} {dilation}")


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_a_nan_cval_is_missing_too(method):
    x = np.array([1.0, 2.0, 3.0])
    got = wk.mean_pool(x, 3, 1, padding=1, mode="constant", cval=np.nan, nan_policy="omit",
                       method=method)
    np.testing.assert_array_equal(got, [1.5, 2.0, 2.5])
    propagated = wk.mean_pool(x, 3, 1, padding=1, mode="constant", cval=np.nan, method=method)
    np.testing.assert_array_equal(propagated, [np.nan, 2.0, np.nan])


@pytest.mark.parametrize("impl", ["numba", "python"])
def test_textbook_loop_skips_nan(impl):
    """method="direct" under "omit": the textbook loops with NaN no value,
    windows without values as np.nansum (0) and np.nanmean (NaN) say, and
    indices by the scan; complex sums too."""
    x = np.array([[np.nan, np.nan, 1.0, 4.0], [np.nan, np.nan, -2.0, np.nan]])
    for reduce, want in [("sum", [[0.0, 3.0]]), ("mean", [[np.nan, 1.0]]),
                         ("max", [[np.nan, 4.0]]), ("min", [[np.nan, -2.0]])]:
        got = wk.pool(x, 2, reduce=reduce, nan_policy="omit", min_count=0, method="direct",
                      impl=impl)
        np.testing.assert_array_equal(got, want, err_msg=reduce)
    values, indices = wk.max_pool(x, 2, nan_policy="omit", method="direct",
                                  return_indices=True, impl=impl)
    np.testing.assert_array_equal(indices, [[[-1, -1], [0, 3]]])
    z = with_nans((5, 6), seed=30) + 1j * with_nans((5, 6), seed=31)
    got = wk.sum_pool(z, 3, 1, padding=1, mode="reflect", nan_policy="omit", min_count=3,
                      method="direct", impl=impl)
    pads = ((1, 1), (1, 1))
    view, held = padded_windows(z, (3, 3), (1, 1), (0, 1), pads, (1, 1), False, "reflect", 0)
    values_held = held & ~np.isnan(view)
    want = np.where(values_held.sum(axis=(2, 3)) < 3, np.nan,
                    np.where(values_held, view, 0).sum(axis=(2, 3)))
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_integers_with_omit():
    x = np.arange(30, dtype=np.int16).reshape(5, 6)
    for reduce in ("max", "min", "sum", "mean"):
        np.testing.assert_array_equal(
            wk.pool(x, 2, 1, reduce=reduce, nan_policy="omit", min_count=4),
            wk.pool(x, 2, 1, reduce=reduce))
    # A mean is a float: windows short of min_count are NaN.
    assert np.isnan(wk.mean_pool(x, 2, nan_policy="omit", min_count=5)).all()
    edges = wk.mean_pool(x, 3, 1, padding=1, nan_policy="omit", min_count=5)
    assert np.isnan(edges[0, 0]) and edges[1, 1] == x[:3, :3].mean()


def test_nan_policy_raise():
    x = np.arange(8.0)
    np.testing.assert_array_equal(wk.max_pool(x, 2, nan_policy="raise"), wk.max_pool(x, 2))
    x[3] = np.nan
    with pytest.raises(ValueError, match="holds NaN"):
        wk.max_pool(x, 2, nan_policy="raise")
    with pytest.raises(ValueError, match="holds NaN"):
        wk.mean_pool(x + 0j, 2, nan_policy="raise")
    ints = np.arange(8)
    np.testing.assert_array_equal(wk.sum_pool(ints, 2, nan_policy="raise"),
                                  wk.sum_pool(ints, 2))


# -- masked arrays ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64, np.bool_])
@pytest.mark.parametrize("reduce", ["max", "min", "sum", "mean"])
def test_masked_arrays_against_np_ma(dtype, reduce):
    rng = np.random.default_rng(6)
    data = rng.integers(0, 50, (8, 9)).astype(dtype)
    mask = rng.random((8, 9)) < 0.4
    x = np.ma.masked_array(data, mask=mask)
    before = x.copy()
    for window, stride, min_count in [(2, 2, None), (3, 1, None), (3, 1, 4)]:
        got = wk.pool(x, window, stride, reduce=reduce, min_count=min_count)
        assert isinstance(got, np.ma.MaskedArray)
        view = np.ma.masked_array(sliding_window_view(data, (window, window)),
                                  mask=sliding_window_view(mask, (window, window)))
        view = view[::stride, ::stride]
        flat = view.reshape(view.shape[:2] + (-1,))
        want = getattr(np.ma, reduce)(flat, axis=-1) if reduce != "mean" else flat.mean(-1)
        counts = (~flat.mask).sum(-1)
        short = counts < (1 if min_count is None else min_count)
        np.testing.assert_array_equal(np.ma.getmaskarray(got), short)
        kept = ~short
        np.testing.assert_allclose(np.ma.getdata(got)[kept].astype(float),
                                   np.ma.getdata(want)[kept].astype(float), rtol=1e-12)
        assert got.dtype == wk.pool(data, window, stride, reduce=reduce).dtype
    np.testing.assert_array_equal(x.data, before.data)
    np.testing.assert_array_equal(x.mask, before.mask)


def test_masked_issue_example():
    x = np.arange(16).reshape(4, 4)
    got = wk.max_pool(np.ma.masked_array(x, mask=x > 10), 2)
    np.testing.assert_array_equal(got, [[5, 7], [9, 10]])
    assert not np.ma.getmaskarray(got).any()


def test_masked_with_nans():
    data = np.array([1.0, np.nan, 5.0, 2.0, 7.0, 3.0])
    x = np.ma.masked_array(data, mask=[0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(np.ma.getdata(wk.max_pool(x, 2)), [np.nan, 2.0, 7.0])
    np.testing.assert_array_equal(np.ma.getdata(wk.max_pool(x, 2, nan_policy="omit")),
                                  [1.0, 2.0, 7.0])
    with pytest.raises(ValueError, match="holds NaN"):
        wk.max_pool(x, 2, nan_policy="raise")
    # A masked NaN is not a value at all.
    quiet = np.ma.masked_array(data, mask=np.isnan(data))
    np.testing.assert_array_equal(np.ma.getdata(wk.max_pool(quiet, 2, nan_policy="raise")),
                                  [1.0, 5.0, 7.0])


def test_masked_with_padding():
    data = np.arange(12.0).reshape(3, 4)
    x = np.ma.masked_array(data, mask=data % 5 == 0)
    got = wk.mean_pool(x, 3, 1, padding="same", mode="edge", min_count=7)
    view, held = padded_windows(data, (3, 3), (1, 1), (0, 1), ((1, 1), (1, 1)), (1, 1), False,
                                "edge", 0)
    unmasked = ~padded_windows(x.mask, (3, 3), (1, 1), (0, 1), ((1, 1), (1, 1)), (1, 1), False,
                               "edge", 0)[0]
    counts = unmasked.sum((-2, -1))
    want = np.where(unmasked, view, 0).sum((-2, -1)) / counts
    np.testing.assert_array_equal(np.ma.getmaskarray(got), counts < 7)
    np.testing.assert_allclose(np.ma.getdata(got)[counts >= 7], want[counts >= 7])


# -- return_indices -----------------------------------------------------------------


def index_oracle(x, window, stride, axes, reduce, nan_policy="propagate", pads=None,
                 dilation=None, ceil_mode=False, mode="ignore", cval=0):
    """Coordinates of each window's first extreme, from np.argmax over the
    padded view's flattened windows and np.pad of each axis's positions."""
    n_axes = len(window)
    pads = pads or ((0, 0),) * n_axes
    dilation = dilation or (1,) * n_axes
    view, held = padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode, cval)
    out_shape = view.shape[:x.ndim]
    flat = view.reshape(out_shape + (-1,)).astype(np.float64)
    held = held.reshape(out_shape + (-1,))
    never = -np.inf if reduce == "max" else np.inf
    if nan_policy == "omit":
        held = held & ~np.isnan(flat)
    flat = np.where(held, flat, never)
    if nan_policy == "omit":
        # Ties to the first: argmax over values with every NaN out.
        chosen = ARGS[reduce](flat, axis=-1)
    else:
        has_nan = np.isnan(flat).any(-1)
        chosen = np.where(has_nan, np.argmax(np.isnan(flat), -1), ARGS[reduce](flat, -1))
    empty = ~held.any(-1)
    offsets = np.unravel_index(chosen, window)
    coordinates = []
    for axis_index, (axis, k, s, d, (before, after)) in enumerate(
            zip(axes, window, stride, dilation, pads)):
        n = x.shape[axis]
        positions = np.arange(-before, n + after)
        if mode in ("constant", "ignore"):
            source = positions
        else:
            source = np.pad(np.arange(n), (before, after), mode=mode)
        source = np.concatenate([source, np.full(k * d + s, -10**6)])  # ceil_mode's overhang
        start = np.arange(out_shape[axis]) * s
        shape = [1] * len(out_shape)
        shape[axis] = -1
        padded_position = start.reshape(shape) + offsets[axis_index] * d
        coordinates.append(source[padded_position])
    result = np.stack(coordinates, axis=-1)
    result[empty] = -1
    return result


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("method", METHODS)
def test_indices_against_argmax(reduce, method):
    x = with_nans((10, 11), fraction=0.15, seed=7)
    x[2, :] = x[2, 0]  # a row of ties
    for window, stride in [(2, 2), (3, 1), (3, 2), (4, 3), ((1, 5), (2, 1))]:
        window2 = (window, window) if isinstance(window, int) else window
        stride2 = (stride, stride) if isinstance(stride, int) else stride
        for nan_policy in ("propagate", "omit"):
            values, indices = wk.pool(x, window, stride, reduce=reduce, method=method,
                                      nan_policy=nan_policy, return_indices=True)
            want = index_oracle(x, window2, stride2, (0, 1), reduce, nan_policy)
            np.testing.assert_array_equal(indices, want, err_msg=f"{window} {stride}")
            assert indices.dtype == np.int64
            assert indices.shape == values.shape + (2,)
            # The values are those at the indices.
            ok = (indices >= 0).all(-1)
            picked = x[indices[..., 0][ok], indices[..., 1][ok]]
            np.testing.assert_array_equal(picked, values[ok])


def one_pass_case(x, window, stride, axes):
    for reduce in ("max", "min"):
        for nan_policy in ("propagate", "omit"):
            values, indices = wk.pool(x, window, stride, axes=axes, reduce=reduce,
                                      nan_policy=nan_policy, return_indices=True)
            want = index_oracle(x, window, stride, axes, reduce, nan_policy)
            np.testing.assert_array_equal(
                indices, want, err_msg=f"{x.dtype} {window} {stride} {reduce} {nan_policy}")
            # The values are the elements at the oracle's coordinates (NaN
            # for a window of NaN alone).
            found = (want >= 0).all(-1)
            at = list(np.indices(values.shape))
            for j, axis in enumerate(axes):
                at[axis] = np.where(found, want[..., j], 0)
            picked = np.where(found, x[tuple(at)], np.nan if x.dtype.kind == "f" else 0)
            np.testing.assert_array_equal(values, picked.astype(x.dtype))
            assert values.dtype == x.dtype


def tied_with_nans(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 3, shape).astype(dtype)  # many ties
    if np.dtype(dtype).kind == "f":
        x[rng.random(shape) < 0.2] = np.nan
        x[..., 4:8] = np.nan  # windows of NaN alone
    return x


@pytest.mark.parametrize("shape, axes", [((60,), (0,)), ((3, 13, 40), (1, 2)),
                                         ((7, 9, 20), (0, 1, 2)), ((12, 30, 3), (0, 1))])
def test_indices_of_every_one_pass_copy(shape, axes):
    """The one-pass loop's copies: windows side by side in registers (up to
    BLOCK_MAX columns, and one past it), a column stride of 1, any other
    stride; windows of depth; channels last (rows read through a copy)."""
    x = tied_with_nans(shape, np.float32, 22)
    n = len(axes)
    for cols, col_stride in [(2, 2), (3, 3), (4, 4), (5, 5), (3, 1), (1, 1), (2, 3)]:
        one_pass_case(x, (2,) * (n - 1) + (cols,), (1,) * (n - 1) + (col_stride,), axes)


@pytest.mark.parametrize("dtype", [np.float16, np.int16, np.bool_])
def test_one_pass_indices_dtypes(dtype):
    x = tied_with_nans((13, 40), dtype, 24)
    for window, stride in [((2, 2), (2, 2)), ((2, 3), (1, 1))]:
        one_pass_case(x, window, stride, (0, 1))


def test_one_pass_indices_with_min_count():
    x = with_nans((9, 12), fraction=0.5, seed=23)
    values, indices = wk.max_pool(x, 3, 1, nan_policy="omit", min_count=5,
                                  return_indices=True)
    np.testing.assert_array_equal(values, omit_oracle(x, (3, 3), (1, 1), (0, 1), "max", 5))
    short = np.isnan(values)
    assert short.any() and not short.all()
    assert (indices[short] == -1).all()
    np.testing.assert_array_equal(indices[~short],
                                  index_oracle(x, (3, 3), (1, 1), (0, 1), "max", "omit")[~short])


def test_indices_follow_the_axes_order():
    x = np.random.default_rng(8).permutation(4 * 6 * 5).reshape(4, 6, 5).astype(np.int32)
    values, indices = wk.max_pool(x, (3, 2), (2, 1), axes=(2, 0), return_indices=True)
    assert indices.shape == values.shape + (2,)
    want = index_oracle(x, (3, 2), (2, 1), (2, 0), "max")
    np.testing.assert_array_equal(indices, want)
    b = np.arange(6).reshape(1, 6, 1)
    np.testing.assert_array_equal(x[indices[..., 1], b, indices[..., 0]], values)


@pytest.mark.parametrize("mode", ["ignore", "constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("method", ["auto", "direct"])
def test_indices_with_padding(mode, method):
    x = with_nans((6, 7), fraction=0.1, seed=9)
    for cval in (0.0, 100.0):
        for padding, stride, dilation, ceil_mode in [(1, 2, 1, False), ("same", 1, 2, False),
                                                     (((0, 2), (1, 0)), 3, 1, True)]:
            pads = [reference.same_padding(n, 3, stride, dilation) if padding == "same"
                    else (padding, padding) if isinstance(padding, int) else padding[i]
                    for i, n in enumerate(x.shape)]
            for nan_policy in ("propagate", "omit"):
                _, indices = wk.max_pool(x, 3, stride, padding=padding, mode=mode, cval=cval,
                                         dilation=dilation, ceil_mode=ceil_mode,
                                         nan_policy=nan_policy, return_indices=True,
                                         method=method)
                want = index_oracle(x, (3, 3), (stride, stride), (0, 1), "max", nan_policy,
                                    pads, (dilation, dilation), ceil_mode, mode, cval)
                np.testing.assert_array_equal(indices, want, err_msg=f"{padding} {cval}")
    # A chosen constant lies outside the input.
    _, indices = wk.max_pool(np.zeros(4), 2, 2, padding=1, mode="constant", cval=1.0,
                             return_indices=True)
    np.testing.assert_array_equal(indices[:, 0], [-1, 1, 4])


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64, np.float16, np.float32])
def test_indices_dtypes(dtype):
    x = np.random.default_rng(10).integers(0, 4, (3, 9, 8)).astype(dtype)
    for reduce in ("max", "min"):
        values, indices = wk.pool(x, 3, 2, reduce=reduce, return_indices=True)
        np.testing.assert_array_equal(indices, index_oracle(x, (3, 3), (2, 2), (1, 2), reduce))
        assert values.dtype == x.dtype


def test_indices_of_masked_arrays():
    data = np.array([[3, 9, 1, 1], [2, 0, 1, 1]])
    x = np.ma.masked_array(data, mask=[[0, 1, 1, 1], [0, 0, 1, 1]])
    values, indices = wk.max_pool(x, 2, return_indices=True)
    np.testing.assert_array_equal(np.ma.getdata(values)[0, 0], 3)
    np.testing.assert_array_equal(indices[0, 0], [0, 0])
    np.testing.assert_array_equal(indices[0, 1], [-1, -1])
    assert np.ma.getmaskarray(values).tolist() == [[False, True]]


def test_indices_out_pair():
    x = np.random.default_rng(11).standard_normal((6, 6))
    values_out = np.empty((3, 3))
    indices_out = np.empty((3, 3, 2), np.int64)
    values, indices = wk.max_pool(x, 2, return_indices=True, out=(values_out, indices_out))
    assert values is values_out and indices is indices_out
    np.testing.assert_array_equal(values, wk.max_pool(x, 2))
    with pytest.raises(TypeError, match="pair"):
        wk.max_pool(x, 2, return_indices=True, out=values_out)
    with pytest.raises(ValueError, match="dtype"):
        wk.max_pool(x, 2, return_indices=True, out=(values_out, np.empty((3, 3, 2))))
    with pytest.raises(ValueError, match="shape"):
        wk.max_pool(x, 2, return_indices=True, out=(values_out, np.empty((3, 3), np.int64)))


@pytest.mark.parametrize("axes, window", [((1,), 3), ((1, 2), (2, 3)), ((2, 0), 2),
                                          ((0, 1, 2), 2)])
@pytest.mark.parametrize("layout", ["C", "F", "sliced"])
def test_indices_out_pair_in_any_layout(axes, window, layout):
    # C-ordered outputs are written by the loop in place, the others after:
    # the same values and coordinates.
    x = np.random.default_rng(12).standard_normal((5, 6, 7)).astype(np.float32)
    values, indices = wk.max_pool(x, window, 1, axes=axes, return_indices=True)
    def made(shape, dtype):
        if layout == "sliced":
            every_other = (slice(None, None, 2),) * len(shape)
            return np.empty(tuple(2 * n for n in shape), dtype)[every_other]
        return np.empty(shape, dtype, order=layout)
    values_out = made(values.shape, values.dtype)
    indices_out = made(indices.shape, np.int64)
    got = wk.max_pool(x, window, 1, axes=axes, return_indices=True, out=(values_out, indices_out))
    assert got[0] is values_out and got[1] is indices_out
    np.testing.assert_array_equal(values_out, values)
    np.testing.assert_array_equal(indices_out, indices)


def test_indices_out_pair_sharing_memory():
    x = np.random.default_rng(13).standard_normal((6, 6))
    indices_out = np.empty((3, 3, 2), np.int64)
    values_out = indices_out.view(np.float64)[..., 0]
    with pytest.raises(ValueError, match="values and indices share memory"):
        wk.max_pool(x, 2, return_indices=True, out=(values_out, indices_out))
    with pytest.raises(ValueError, match="out shares memory with the input"):
        wk.max_pool(x, 2, return_indices=True,
                    out=(values_out.copy(), x.view(np.int64)[:3].reshape(3, 3, 2)))


def _torch_coordinates(flat, spatial):
    return np.stack(np.unravel_index(flat.numpy(), spatial), axis=-1)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_indices_against_pytorch(dims):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    spatial = (9, 10, 8)[:dims]
    x = rng.permutation(2 * 3 * int(np.prod(spatial))).reshape((2, 3) + spatial)
    x = x.astype(np.float64)  # tie-free: PyTorch's tie rule is its own
    pools = {1: torch.nn.functional.max_pool1d, 2: torch.nn.functional.max_pool2d,
             3: torch.nn.functional.max_pool3d}
    for kernel, stride, padding, ceil_mode in [(2, 2, 0, False), (3, 2, 1, False),
                                               (3, 2, 1, True), (2, 1, 0, False)]:
        want_values, want_flat = pools[dims](torch.from_numpy(x), kernel, stride, padding,
                                             ceil_mode=ceil_mode, return_indices=True)
        values, indices = wk.max_pool(x, (kernel,) * dims, stride, padding=padding,
                                      ceil_mode=ceil_mode, return_indices=True)
        np.testing.assert_array_equal(values, want_values.numpy())
        np.testing.assert_array_equal(indices, _torch_coordinates(want_flat, spatial))


# -- Dask -------------------------------------------------------------------------


def test_dask_omit_and_min_count():
    da = pytest.importorskip("dask.array")
    x = with_nans((23, 19), seed=13)
    lazy = da.from_array(x, chunks=((5, 7, 1, 10), (3, 9, 7)))
    for reduce in ("max", "min", "sum", "mean"):
        for keywords in [dict(window=3, stride=1), dict(window=2, stride=2, min_count=3),
                         dict(window=3, stride=2, padding="same", mode="reflect", min_count=4)]:
            got = wk.pool(lazy, reduce=reduce, nan_policy="omit", **keywords)
            assert isinstance(got, da.Array)
            np.testing.assert_array_equal(
                got.compute(), wk.pool(x, reduce=reduce, nan_policy="omit", **keywords))
    x[4, 4] = np.nan
    raising = wk.max_pool(da.from_array(x, chunks=5), 2, nan_policy="raise")
    with pytest.raises(ValueError, match="holds NaN"):
        raising.compute()


# -- bad arguments ----------------------------------------------------------------


def test_bad_arguments():
    x = np.arange(16.0).reshape(4, 4)
    with pytest.raises(ValueError, match="nan_policy must be one of 'propagate', 'omit'"):
        wk.max_pool(x, 2, nan_policy="skip")
    with pytest.raises(ValueError, match="nan_policy"):
        wk.max_pool(x, 2, nan_policy=None)
    with pytest.raises(ValueError, match="min_count is for nan_policy='omit'"):
        wk.max_pool(x, 2, min_count=1)
    with pytest.raises(ValueError, match="non-negative"):
        wk.max_pool(x, 2, nan_policy="omit", min_count=-1)
    for bad in (1.5, True, "2", np.array([1, 2])):
        with pytest.raises(TypeError, match="min_count"):
            wk.max_pool(x, 2, nan_policy="omit", min_count=bad)
    for reduce in ("sum", "mean"):
        with pytest.raises(ValueError, match="return_indices=True is for max and min"):
            wk.pool(x, 2, reduce=reduce, return_indices=True)
    with pytest.raises(TypeError, match="return_indices"):
        wk.max_pool(x, 2, return_indices=1)
    ints = np.arange(16).reshape(4, 4)
    with pytest.raises(ValueError, match="only 4 elements"):
        wk.max_pool(ints, 2, nan_policy="omit", min_count=5)
    with pytest.raises(ValueError, match="only 4 elements"):
        wk.sum_pool(ints, 3, 1, padding=1, nan_policy="omit", min_count=5)
    wk.sum_pool(ints, 3, 1, padding=1, mode="edge", nan_policy="omit", min_count=9)
    with pytest.raises(TypeError, match="complex"):
        wk.max_pool(x + 1j, 2, nan_policy="omit")


def test_the_input_is_never_modified():
    x = with_nans((8, 8), seed=14)
    before = x.copy()
    for reduce in ("max", "mean"):
        wk.pool(x, 3, 1, reduce=reduce, nan_policy="omit", min_count=2, padding=1)
    wk.max_pool(x, 2, return_indices=True, nan_policy="omit")
    np.testing.assert_array_equal(x, before)


def test_every_pool_variant_takes_the_keywords():
    x = with_nans((6, 6), seed=15)
    for name in ("max_pool", "min_pool", "mean_pool", "sum_pool"):
        reduce = name.split("_")[0]
        np.testing.assert_array_equal(
            getattr(wk, name)(x, 2, nan_policy="omit", min_count=2),
            wk.pool(x, 2, reduce=reduce, nan_policy="omit", min_count=2))
    for name in ("max_pool", "min_pool"):
        values, indices = getattr(wk, name)(x, 2, return_indices=True)
        np.testing.assert_array_equal(values, getattr(wk, name)(x, 2))
        assert indices.shape == (3, 3, 2)


def test_indices_of_byte_swapped_and_strided_inputs():
    x = np.random.default_rng(16).permutation(90).reshape(9, 10).astype(">i2")
    want = index_oracle(x.astype(np.int16), (3, 3), (2, 2), (0, 1), "max")
    np.testing.assert_array_equal(wk.max_pool(x, 3, 2, return_indices=True)[1], want)
    wide = np.zeros((9, 20), np.float16)[:, ::2]
    wide[...] = x
    np.testing.assert_array_equal(wk.max_pool(wide, 3, 2, return_indices=True)[1], want)


def test_indices_every_impl_and_long_double():
    x = with_nans((7, 8), fraction=0.2, seed=17)
    want = index_oracle(x, (3, 3), (2, 2), (0, 1), "min", "omit")
    for impl in ("numba", "python", "strided"):
        _, indices = wk.min_pool(x, 3, 2, nan_policy="omit", return_indices=True, impl=impl)
        np.testing.assert_array_equal(indices, want, err_msg=impl)
    wide = x.astype(np.longdouble)
    if wide.dtype.itemsize > 8:
        with pytest.raises(TypeError, match="long double"):
            wk.min_pool(wide, 3, 2, return_indices=True, impl="strided")
        _, indices = wk.min_pool(wide, 3, 2, nan_policy="omit", return_indices=True,
                                 impl="python")
        np.testing.assert_array_equal(indices, want)


@pytest.mark.parametrize("method", METHODS)
def test_omit_max_where_a_window_starts_with_nan(method):
    """The block loops' plain comparison sticks at a NaN it starts from: a
    NaN first in a window row, or an all-NaN first row under finite ones."""
    x = np.arange(48.0).reshape(6, 8)
    x[:, ::4] = np.nan  # the first element of every other 4-wide window row
    x[0, :] = np.nan  # a first row of NaN above finite rows
    x[4:, 4:] = np.nan  # windows of NaN alone
    for window in (2, 3, 4, (2, 4)):
        for reduce in ("max", "min"):
            got = wk.pool(x, window, reduce=reduce, method=method, nan_policy="omit")
            w = (window, window) if isinstance(window, int) else window
            np.testing.assert_array_equal(got, omit_oracle(x, w, w, (0, 1), reduce))
    # A first window row of NaN, then rows without one.
    stuck = np.arange(36.0).reshape(6, 6)
    stuck[0, :] = np.nan
    for window in (3, (3, 2)):
        w = (window, window) if isinstance(window, int) else window
        np.testing.assert_array_equal(
            wk.max_pool(stuck, window, method=method, nan_policy="omit"),
            omit_oracle(stuck, w, w, (0, 1), "max"))
    rgb = np.repeat(x[:, :, None], 3, axis=2)  # interleaved channels
    got = wk.max_pool(rgb, 2, axes=(0, 1), method=method, nan_policy="omit")
    np.testing.assert_array_equal(got, omit_oracle(rgb, (2, 2), (2, 2), (0, 1), "max"))


def test_dask_indices():
    da = pytest.importorskip("dask.array")
    x = with_nans((3, 23, 19), fraction=0.2, seed=18)
    x[:, 5, :] = 1.0  # ties
    lazy = da.from_array(x, chunks=((2, 1), (5, 7, 1, 10), (3, 9, 7)))
    for reduce, window, stride, nan_policy, min_count in [
            ("max", 3, 1, "propagate", None), ("min", 2, 2, "omit", None),
            ("max", 4, 3, "omit", 5), ("max", (1, 5), (2, 1), "propagate", None)]:
        values, indices = wk.pool(lazy, window, stride, reduce=reduce, nan_policy=nan_policy,
                                  min_count=min_count, return_indices=True)
        assert isinstance(values, da.Array) and isinstance(indices, da.Array)
        want_values, want = wk.pool(x, window, stride, reduce=reduce, nan_policy=nan_policy,
                                    min_count=min_count, return_indices=True)
        np.testing.assert_array_equal(values.compute(), want_values)
        np.testing.assert_array_equal(indices.compute(), want)
    # Axes against memory order: the coordinates follow axes.
    values, indices = wk.max_pool(lazy, (3, 2), (2, 1), axes=(2, 1), return_indices=True)
    np.testing.assert_array_equal(
        indices.compute(), wk.max_pool(x, (3, 2), (2, 1), axes=(2, 1), return_indices=True)[1])


@pytest.mark.parametrize("mode", [None, "constant", "edge", "reflect", "symmetric", "wrap"])
def test_dask_indices_beyond_valid(mode):
    """Padding, dilation and ceil_mode on Dask: the indices of the numpy
    call, whatever the chunks (a chunk narrower than the padding, too)."""
    da = pytest.importorskip("dask.array")
    x = with_nans((2, 17, 13), fraction=0.15, seed=19)
    x[:, 4, :] = 0.5  # ties
    lazy = da.from_array(x, chunks=((1, 1), (1, 6, 10), (5, 2, 6)))
    for reduce, window, stride, keywords in [
            ("max", 3, 1, dict(padding="same")),
            ("min", 3, 2, dict(padding=(2, 1), ceil_mode=True)),
            ("max", (2, 3), (2, 1), dict(padding="full", dilation=(2, 1))),
            ("max", 4, 3, dict(padding=1, nan_policy="omit", min_count=3)),
            ("min", 2, 2, dict(padding=((0, 1), (1, 1)), nan_policy="omit"))]:
        for cval in ((0.7, np.nan) if mode == "constant" else (0,)):
            call = dict(keywords, mode=mode, cval=cval, axes=(1, 2), reduce=reduce)
            values, indices = wk.pool(lazy, window, stride, return_indices=True, **call)
            want_values, want = wk.pool(x, window, stride, return_indices=True, **call)
            np.testing.assert_array_equal(values.compute(), want_values, err_msg=str(call))
            np.testing.assert_array_equal(indices.compute(), want, err_msg=str(call))


@pytest.mark.parametrize("mode", [None, "constant", "reflect", "wrap"])
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_dask_masked_arrays(mode, dtype):
    """A Dask array of masked blocks (dask.array.ma) pools as its numpy
    masked array does: masked elements skipped, the result masked where a
    window holds fewer than min_count values, the indices the same;
    whatever the chunks (one narrower than the padding)."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(20)
    data = rng.integers(0, 9, (3, 13, 11)).astype(dtype)  # ties
    if dtype == np.float64:
        data[rng.random(data.shape) < 0.1] = np.nan
    x = np.ma.masked_array(data, mask=rng.random(data.shape) < 0.3)
    lazy = da.from_array(x, chunks=((2, 1), (1, 7, 5), (4, 7)))
    assert isinstance(lazy._meta, np.ma.MaskedArray)
    keyword_sets = [dict(), dict(min_count=4), dict(padding=1, ceil_mode=True),
                    dict(padding=(2, 1), dilation=(1, 2), min_count=2)]
    if dtype == np.float64:
        keyword_sets.append(dict(nan_policy="omit", min_count=3, padding="same"))
    for reduce in ("max", "min", "sum", "mean"):
        for keywords in keyword_sets:
            call = dict(keywords, reduce=reduce, axes=(1, 2), mode=mode, cval=5)
            want = wk.pool(x, 3, (2, 1), **call)
            got = wk.pool(lazy, 3, (2, 1), **call)
            assert isinstance(got, da.Array) and isinstance(got._meta, np.ma.MaskedArray)
            got = got.compute()
            assert isinstance(got, np.ma.MaskedArray), str(call)
            np.testing.assert_array_equal(np.ma.getmaskarray(got), want.mask, err_msg=str(call))
            np.testing.assert_array_equal(got.filled(0), want.filled(0), err_msg=str(call))
            if reduce in ("max", "min"):
                _, want_indices = wk.pool(x, 3, (2, 1), return_indices=True, **call)
                _, indices = wk.pool(lazy, 3, (2, 1), return_indices=True, **call)
                np.testing.assert_array_equal(indices.compute(), want_indices,
                                              err_msg=str(call))
    assert np.ma.getmaskarray(x).any()  # the mask was there to skip


def test_dask_masked_nan_policy_raise():
    da = pytest.importorskip("dask.array")
    quiet = np.ma.masked_array([1.0, np.nan, 3.0, 4.0], mask=[0, 1, 0, 0])
    got = wk.max_pool(da.from_array(quiet, chunks=2), 2, 1, nan_policy="raise").compute()
    np.testing.assert_array_equal(got, wk.max_pool(quiet, 2, 1, nan_policy="raise"))
    loud = np.ma.masked_array([1.0, np.nan, 3.0, 4.0], mask=[1, 0, 0, 0])
    with pytest.raises(ValueError, match="holds NaN"):
        wk.max_pool(da.from_array(loud, chunks=2), 2, 1, nan_policy="raise").compute()


@pytest.mark.parametrize("reduce", ["max", "min", "sum", "mean"])
@pytest.mark.parametrize("method", ["auto", "separable", "van_herk"])
def test_padded_omit_fast_loops_against_textbook(reduce, method):
    """Beyond valid windows, "omit" runs the fast NaN-skipping loops on the
    interior and the strips' pieces (positions of no element NaN): the
    textbook loop's results for every mode, NaN cval, ceil_mode's
    overhang, dilation, min_count and axes order, an all-NaN patch too."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 15, 13))
    x[rng.random(x.shape) < 0.25] = np.nan
    x[1, 3:9, 2:8] = np.nan
    before = x.copy()
    for window, stride, keywords in [
            (3, 1, dict(padding="same")), (3, 2, dict(padding=1)),
            ((2, 4), (2, 3), dict(padding=(1, 2), ceil_mode=True)),
            (3, 1, dict(padding="full", dilation=2))]:
        for mode, cval in [(None, 0), ("constant", 0.5), ("constant", np.nan), ("edge", 0),
                           ("reflect", 0), ("symmetric", 0), ("wrap", 0)]:
            for min_count in (None, 0, 3):
                for axes in ((1, 2), (2, 1)):
                    call = dict(keywords, reduce=reduce, mode=mode, cval=cval, axes=axes,
                                nan_policy="omit", min_count=min_count)
                    want = wk.pool(x, window, stride, method="direct", **call)
                    got = wk.pool(x, window, stride, method=method, **call)
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12,
                                               err_msg=str(call))
    np.testing.assert_array_equal(x, before)
