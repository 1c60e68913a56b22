"""Hypothesis: random shapes, windows, strides and axes beyond the sweeps."""

import numpy as np
from conftest import OPS, assert_same, make_data, reference_op, run_op
from hypothesis import given, settings
from hypothesis import strategies as st

import windowkit as wk


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    n_window = draw(st.integers(1, min(3, ndim)))
    axes = tuple(draw(st.permutations(range(ndim)))[:n_window])
    window = tuple(draw(st.integers(1, shape[a])) for a in axes)
    stride = tuple(draw(st.integers(1, 10)) for _ in axes)
    op = draw(st.sampled_from(OPS))
    dtype = draw(st.sampled_from([np.float64, np.int32, np.uint8, np.float32]))
    return shape, axes, window, stride, op, dtype, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(cases())
def test_matches_reference(case):
    shape, axes, window, stride, op, dtype, seed = case
    x = make_data(shape, dtype, seed)
    if np.dtype(dtype).kind == "f" and x.size > 1:
        # NaN somewhere: max/min must propagate it, sums too.
        x.flat[seed % x.size] = np.nan
    expected = reference_op(op, x, window, stride, axes)
    assert wk.output_shape(shape, window, stride, axes=axes) == expected.shape
    for impl in ("numba", "strided"):
        assert_same(run_op(op, x, window, stride, axes, impl), expected,
                    op=op, impl=impl, dtype=np.dtype(dtype).name, shape=shape,
                    window=window, stride=stride, axes=axes)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=4),
       st.data())
def test_output_shape_formula(shape, data):
    axes = tuple(data.draw(st.permutations(range(len(shape))))[: data.draw(st.integers(1, min(3, len(shape))))])
    if any(shape[a] == 0 for a in axes):
        return
    window = tuple(data.draw(st.integers(1, shape[a])) for a in axes)
    stride = tuple(data.draw(st.integers(1, 60)) for _ in axes)
    result = wk.output_shape(tuple(shape), window, stride, axes=axes)
    for axis, n in enumerate(shape):
        if axis in axes:
            j = axes.index(axis)
            # Count the window starts that fit, one by one.
            starts = [i for i in range(0, n, stride[j]) if i + window[j] <= n]
            assert result[axis] == len(starts)
        else:
            assert result[axis] == n
