"""Every op and impl against the oracles, swept over geometry, dtype and layout."""

import itertools

import numpy as np
import pytest
from conftest import (
    DTYPES,
    IMPLS,
    LAYOUTS,
    OPS,
    assert_same,
    make_data,
    methods_for,
    ops_for,
    reference_op,
    run_op,
)

SHAPES = {1: (13,), 2: (8, 7), 3: (7, 6, 8), 4: (6, 7, 6, 7)}


def axes_choices(ndim):
    """Every ordered choice of 1 to 3 distinct axes, negatives for variety."""
    for n in range(1, min(3, ndim) + 1):
        for axes in itertools.permutations(range(ndim), n):
            yield axes
            yield tuple(a - ndim for a in axes)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "ndim, axes", [(n, axes) for n in SHAPES for axes in axes_choices(n) if min(axes) >= 0 or n == 3]
)
def test_every_window_and_stride(ndim, axes, op):
    """Windows and strides 1 to 6 on every axis choice, numba and strided.

    The geometry does not depend on the dtype: float64 holding small
    integers (exact in any order of adding), the dtype most other tests
    compile too, so the sweep adds few compiled copies of its own
    (test_every_dtype has each dtype's rules)."""
    x = make_data(SHAPES[ndim], np.float64)
    lengths = [SHAPES[ndim][a] for a in axes]
    for k, s in itertools.product(range(1, 7), repeat=2):
        # Different sizes on different axes: rotate through 1..6.
        window = tuple(min((k + j - 1) % 6 + 1, n) for j, n in enumerate(lengths))
        stride = tuple((s + 2 * j - 1) % 6 + 1 for j in range(len(axes)))
        expected = reference_op(op, x, window, stride, axes)
        actual = run_op(op, x, window, stride, axes, "strided")
        assert_same(actual, expected, op=op, impl="strided", dtype="float64",
                    shape=x.shape, window=window, stride=stride, axes=axes)
        for method in methods_for(op):
            actual = run_op(op, x, window, stride, axes, "numba", method=method)
            assert_same(actual, expected, op=op, impl="numba", method=method, dtype="float64",
                        shape=x.shape, window=window, stride=stride, axes=axes)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_python_loop_matches_numba(ndim):
    """impl="python" runs the same loops; check it on a smaller sweep."""
    x = make_data(SHAPES[ndim], np.float64)
    for axes in axes_choices(ndim):
        for k, s in [(1, 1), (2, 3), (3, 1), (4, 2)]:
            window = (k,) * len(axes)
            for op in OPS:
                for method in methods_for(op):
                    expected = run_op(op, x, window, s, axes, "numba", method=method)
                    actual = run_op(op, x, window, s, axes, "python", method=method)
                    assert_same(actual, expected, op=op, impl="python", method=method,
                                shape=x.shape, window=window, stride=s, axes=axes)


# shape, window, stride, axes: the windowed axes last (C inputs then keep
# their C layout in the loops), each dtype's rules on every op.
GEOMETRIES = [
    ((11,), (3,), (2,), None),
    ((7, 9), (2, 3), (1, 2), None),
    ((2, 6, 5, 7), (2, 3, 2), (1, 2, 3), None),
]
# Batch axes between or after the windowed ones: the loops run on moved,
# strided views; test_every_layout runs them on a few dtypes.
MOVED_GEOMETRIES = [
    ((3, 8, 2, 7), (3, 2), (2, 1), (1, 3)),
    ((5, 4, 6), (4, 3, 2), (4, 3, 2), (1, 2, 0)),
]
FEW_DTYPES = [np.float64, np.uint8, np.float16, np.complex64]


def check_geometry(op, dtype, impl, geometry, layout="C"):
    shape, window, stride, axes = geometry
    base = make_data(shape, dtype)
    x = LAYOUTS[layout](base)
    axes_used = axes if axes is not None else tuple(range(len(shape) - len(window), len(shape)))
    expected = reference_op(op, base, window, stride, axes_used)
    for method in methods_for(op) if impl != "strided" else ["auto"]:
        actual = run_op(op, x, window, stride, axes, impl, method=method)
        assert actual.dtype.isnative, f"{op} returned non-native {actual.dtype}"
        assert_same(actual, expected, op=op, impl=impl, method=method, layout=layout,
                    dtype=np.dtype(dtype).name, shape=shape, window=window, stride=stride,
                    axes=axes)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}")
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op, dtype", [(op, dtype) for dtype in DTYPES for op in ops_for(dtype)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_every_dtype(op, dtype, impl, geometry):
    check_geometry(op, dtype, impl, geometry)


@pytest.mark.parametrize("geometry", GEOMETRIES + MOVED_GEOMETRIES, ids=lambda g: f"{g[0]}")
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("op, dtype", [(op, dtype) for dtype in FEW_DTYPES for op in ops_for(dtype)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_every_layout(op, dtype, layout, impl, geometry):
    check_geometry(op, dtype, impl, geometry, layout)
