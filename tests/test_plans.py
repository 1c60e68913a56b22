"""Repeated calls replay the plan of the first: the cache of the one path."""

import numpy as np
import pytest
from conftest import LAYOUTS, make_data

import windowkit as wk


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
    from windowkit import _plan

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
    for n in range(_plan.MAX_PLANS + 10):
        wk.sum_pool(np.ones(n + 2), 2, 1)
    assert len(_plan._PLANS) <= _plan.MAX_PLANS


def test_unaligned_inputs_are_copied_and_replays_stay_right():
    """An unaligned array is copied before the loops run; the copy may be
    C-contiguous where an aligned array of the same strides is not, and a
    plan replayed on both still runs the right compiled copy for each."""
    base = make_data((40, 42), np.float64)
    buffer = np.zeros(base.nbytes + 1, np.uint8)
    unaligned = buffer[1:].view(np.float64).reshape(base.shape)
    unaligned[...] = base
    assert not unaligned.flags.aligned
    for x, same in ((unaligned[:, ::2], base[:, ::2]), (unaligned, base)):
        assert x.strides == same.strides
        for reduce in ("max", "sum"):
            expected = wk.pool(np.ascontiguousarray(same), (3, 2), 1, reduce=reduce,
                               method="direct")
            for first, second in ((x, same), (same, x)):
                for array in (first, second):
                    np.testing.assert_array_equal(wk.pool(array, (3, 2), 1, reduce=reduce),
                                                  expected, strict=True)
    np.testing.assert_array_equal(unaligned, base)


def test_correlation_plans_tell_apart_kernels():
    """Correlation plans are cached by the kernel's shape, dtype and values
    too: a kernel of the same shape but other values, or the same values in
    another dtype, gets its own plan, and the overlap check sees the kernel
    of the call, not the plan's first."""
    import reference
    from windowkit import _plan

    x = make_data((30, 33), np.float64)
    kernels = [np.arange(9.0).reshape(3, 3), np.arange(9.0).reshape(3, 3)[::-1],
               -np.arange(9.0).reshape(3, 3), np.arange(9, dtype=np.int64).reshape(3, 3),
               np.zeros((3, 3)), np.full((3, 3), -0.0)]
    for _ in range(2):
        for kernel in kernels:
            for flip in (False, True):
                call = wk.convolve if flip else wk.correlate
                result = call(x, kernel)
                expected = reference.correlate(x, kernel, (1, 1), (0, 1), result.dtype,
                                               convolve=flip)
                np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-9)
    buffer = np.ones(8)
    wk.correlate(np.zeros(6), np.ones(3))  # a plan for this shape, dtype and values
    with pytest.raises(ValueError, match=r"out shares memory with the input"):
        wk.correlate(np.zeros(6), buffer[:3], out=buffer[2:6])
    for n in range(_plan.MAX_PLANS + 10):
        wk.correlate(np.ones(n + 3), np.ones(2))
    assert len(_plan._CORRELATE_PLANS) <= _plan.MAX_PLANS


def test_replays_into_an_out_that_does_not_fold():
    """A plan first run into a new output, then into an ``out=`` whose batch
    axes do not fold into one, which runs piece by piece: each piece counts
    its own tasks (replaying the whole output's count wrote past the
    pieces, a crash)."""
    x = make_data((4, 9, 10), np.float64)
    for reduce in ("max", "mean"):
        for method in ("direct", "separable", "auto"):
            expected = wk.pool(x, 3, 1, reduce=reduce, axes=(0,), method=method)
            out = np.full((2, 9, 11), -1.0)[:, :, :10]  # (9, 10) do not fold
            wk.pool(x, 3, 1, reduce=reduce, axes=(0,), method=method, out=out)
            np.testing.assert_array_equal(out, expected, err_msg=f"{reduce} {method}",
                                          strict=True)
