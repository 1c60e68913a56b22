"""The fast methods against the direct loop, the memory they take, and choose_method."""

import tracemalloc

import numba
import numpy as np
import pytest
from conftest import POOL_OPS, make_data, ops_for

import windowkit as wk


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
# 3-D windows, whose rows combine over the depth too.
DEEP_CASES = [((2, 3, 5), (1, 2, 1)), ((3, 2, 9), (2, 1, 2)), ((3, 1, 4), 1)]


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
    for window, stride in WIDE_CASES + DEEP_CASES:
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


@pytest.mark.parametrize("method", FAST_METHODS + ["block"])
def test_float32_means_divide_as_np_mean(method):
    """A float32 mean is its float32 sum divided as np.mean divides it: in
    float64, rounded once. The loops divide in float32 where the count is
    exact in it, which gives the same bits; a divisor rounded to float32, or
    a multiplication by its reciprocal, would not (the last window here has
    2**24 + 1 elements, a count float32 cannot hold)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((9, 300)) * 100).astype(np.float32)
    cases = [(2, 2)] if method == "block" else [(5, 1), ((3, 7), 1), ((2, 9), (1, 2))]
    cases += [] if method == "block" else [((4, 5), 1, "same"), ((5, 3), 2, 1)]
    for window, stride, *padding in cases:
        padding = padding[0] if padding else "valid"
        kwargs = dict(padding=padding, method="separable" if method == "block" else method)
        sums = wk.sum_pool(x, window, stride, **kwargs)
        counts = wk.sum_pool(np.ones_like(x), window, stride, **kwargs)  # "ignore": its count
        means = wk.mean_pool(x, window, stride, **kwargs)
        np.testing.assert_array_equal(
            means, (sums.astype(np.float64) / counts).astype(np.float32), strict=True,
            err_msg=f"{window} {stride} {padding}")
    if method == "separable":
        # Every window sums to 3 exactly; 3 / (2**24 + 1) rounds below
        # 3 / 2**24, which is what a divisor rounded to float32 gives.
        window = 2**24 + 1
        long = np.zeros(window + 2, np.float32)
        long[[5, 100, 1000]] = 1
        mean = wk.mean_pool(long, window, 1, method=method)
        expected = np.float32(3 / window)
        assert expected != np.float32(3) / np.float32(window)
        np.testing.assert_array_equal(mean, np.full(3, expected), strict=True)


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
    (np.float64, range(1, wk.kernels.BLOCK_MAX + 1)), (np.float32, [3, 4]), (np.uint8, [2, 3]),
    (np.int16, [5]), (np.float16, [2]), (np.complex128, [2]), (np.bool_, [3]),
])
def test_side_by_side_windows_are_bitwise_the_direct_loop(dtype, widths):
    """Windows as wide as their column stride (up to BLOCK_MAX) are reduced
    in registers a row at a time, the rows in the direct loop's order:
    equal bit for bit, float sums included, NaN and inf where direct puts
    them. Widths 1 to 8, 2-D and 3-D windows, row strides below, at and
    above the window, ragged edges. Every width on float64; the other
    dtypes for their accumulators, NaN and bool, float32 and uint8 on
    widths that other tests compile too, so that they add few compiled
    copies of their own."""
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
    loop = wk.kernels.block_pool(wk.kernels.MAX, window[2]) if name == "block_pool" else (
        wk.kernels.extreme_2x2_pool(wk.kernels.MAX))
    # Rows of 20_000 elements: several segments per row for the 1-D window.
    shape = (2, 5, 9, 20_000) if window[0] == 1 and window[1] == 1 else (3, 6, 11, 40)
    x = make_data(shape, np.float64)
    out_shape = wk.output_shape(shape, window, window, axes=(1, 2, 3))
    args = (x, window, window, np.intp(1), np.intp(0))  # column step 1, no division
    whole = np.full(out_shape, -99.0)
    compiled, n_tasks = loop.prepare(args, whole)
    assert n_tasks > 8
    compiled(*args, 0, n_tasks, whole)
    np.testing.assert_array_equal(whole, wk.pool(x, window, window, axes=(1, 2, 3),
                                                 method="direct"))
    # Task t is segment t % n_segments of output row t // n_segments (C order).
    out_cols = out_shape[-1]
    per_segment = wk.kernels.rows.segments.py_func(out_cols, window[2], window[2],
                                                   wk.kernels.SEGMENT)[0]
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
        compiled(*args, first, stop, piece)
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
    """Same terms, same order: equal bit for bit, even for floats. Column
    strides 2 to FULL_ROW_STRIDE_MAX sum the row at stride 1 and keep every
    stride-th sum; larger ones load along the stride. A kernel 12 wide
    takes a pass of WEIGHTS_PER_PASS weights, one of three and one of one."""
    from windowkit.kernels.correlate_rows import FULL_ROW_STRIDE_MAX, WEIGHTS_PER_PASS

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 30, 41)) * 20).astype(dtype)
    for shape in ((5, 7), (3, WEIGHTS_PER_PASS + 4)):
        kernel = (rng.standard_normal(shape) * 3).astype(dtype)
        for stride in (1, (2, 1), (1, 3), (1, FULL_ROW_STRIDE_MAX), (2, FULL_ROW_STRIDE_MAX + 1)):
            for op in (wk.correlate, wk.convolve):
                np.testing.assert_array_equal(op(x, kernel, stride, method="rows"),
                                              op(x, kernel, stride, method="direct"))


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
    assert "3 van Herk row passes at 1.15 each against 16 separable ones" in choice.reason
    assert choice.work > 0
    # van Herk's passes cost more on short rows and against the in-place
    # integer max of the separable loop.
    assert wk.choose_method("mean", (600, 28, 28), 8, 2).method == "separable"
    assert wk.choose_method("mean", (2048, 2048), 12, 2).method == "van_herk"
    assert wk.choose_method("max", (512, 512), 4, 1, dtype=np.float64).method == "van_herk"
    assert wk.choose_method("max", (512, 512), 4, 1, dtype=np.uint8).method == "separable"
    # auto runs what choose_method names.
    x = make_data((40, 40), np.float64)
    for window, stride in [(4, 4), (9, 1), ((1, 9), 1)]:
        method = wk.choose_method("max", x.shape, window, stride).method
        np.testing.assert_array_equal(wk.max_pool(x, window, stride),
                                      wk.max_pool(x, window, stride, method=method))


def test_one_column_float_max_and_min_on_long_rows_take_the_separable_loop():
    """Windows one column wide go to block_pool, but float max and min on
    rows of SEPARABLE_FLOAT_EXTREME_MIN_COLS outputs or more to the
    separable loop (its row passes are out of place); both give the direct
    loop's results, NaN and inf included."""
    from windowkit import _methods, _plan

    wide = _methods.SEPARABLE_FLOAT_EXTREME_MIN_COLS
    rng = np.random.default_rng(5)
    for shape, dtype, expected in [((3, 9, wide), np.float64, "separable_pool"),
                                   ((3, 9, wide - 1), np.float64, "block_pool"),
                                   ((3, 9, wide), np.uint8, "block_pool"),
                                   ((2, 7, 6, 2 * wide), np.float16, "separable_pool")]:
        x = (rng.standard_normal(shape) * 9).astype(dtype)
        if x.dtype.kind == "f":
            x.flat[::13] = np.nan
            x.flat[5::17] = np.inf
        window, stride = (3, 1), (2, 1)
        for reduce in ("max", "min"):
            plan = _plan.pool_plan(x.shape, x.dtype, window, stride, None, reduce, "separable",
                                   "numba", x.strides)
            assert plan.loop.__name__ == expected, (shape, dtype, reduce)
            np.testing.assert_array_equal(plan(x), wk.pool(x, window, stride, reduce=reduce,
                                                           method="direct"), strict=True)
        # Sums stay in block_pool, which adds in place, vectorised.
        plan = _plan.pool_plan(x.shape, x.dtype, window, stride, None, "sum", "separable",
                               "numba", x.strides)
        assert plan.loop.__name__ == "block_pool"


def test_choose_method_reports_the_layout_the_call_runs():
    """With ``strides=``, choose_method answers for that array: the method
    of its memory order (an F-ordered image's window is swapped, 31 rows
    becoming 31 columns) and the layout the plan takes, the same plan a
    call builds."""
    from windowkit import _plan

    image = np.asfortranarray(make_data((64, 48), np.float64))
    assert wk.choose_method("max", image.shape, (31, 3), 1).method == "van_herk"  # C order
    in_memory = wk.choose_method("max", image.shape, (31, 3), 1, strides=image.strides)
    assert in_memory.method == "separable"
    assert in_memory.layout == "memory order: the axes (1, 0), slowest first"
    rgb = make_data((20, 30, 3), np.uint8)
    nhwc = make_data((2, 9, 10, 200), np.float32)  # above PIXELS_EXTREME_CHANNELS_MAX
    cases = [
        (rgb, 3, 1, (0, 1), "interleaved channels: axis 1 and the 3 channels of axis 2 as one "
                            "row"),
        (rgb, 2, 2, (0, 1), "interleaved channels: axis 1 and the 3 channels of axis 2 as one "
                            "row"),  # the separable loop's pixels
        (rgb, (9, 3), (1, 2), (0, 1),  # van Herk: the strided view
         "the axes' order: the batch axes, then the windowed axes (0, 1)"),
        (nhwc, 3, 2, (1, 2), "channels as rows: the 200 channels of axis 3 as the row"),
        (image, (31, 3), 1, None, "memory order: the axes (1, 0), slowest first"),
    ]
    for x, window, stride, axes, expected in cases:
        for op in ("max", "mean"):
            choice = wk.choose_method(op, x.shape, window, stride, axes=axes, dtype=x.dtype,
                                      strides=x.strides)
            assert choice.layout == expected, (x.shape, op)
            plan = _plan.pool_plan(x.shape, x.dtype, window, stride, axes, op, "auto", "numba",
                                   x.strides)
            assert plan.choice.method == choice.method
            np.testing.assert_array_equal(
                wk.pool(x, window, stride, reduce=op, axes=axes),
                wk.pool(x, window, stride, reduce=op, axes=axes, method=choice.method))
    assert wk.choose_method("correlate", nhwc.shape, (3, 3), 2, axes=(1, 2),
                            strides=nhwc.strides).layout.startswith("channels as rows")
    with pytest.raises(ValueError, match=r"strides \(8,\) has 1 entries for a shape of 2 axes"):
        wk.choose_method("max", (5, 5), 2, strides=(8,))


def test_choose_method_validates_like_the_ops():
    with pytest.raises(ValueError, match=r"op must be one of 'max', 'min', 'mean', 'sum', 'correlate', 'convolve'"):
        wk.choose_method("median", (5, 5), 2)
    with pytest.raises(ValueError, match=r"window 6 does not fit axis 0 of length 5"):
        wk.choose_method("max", (5, 5), 6)
