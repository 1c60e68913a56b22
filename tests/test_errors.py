"""One test per bad argument: a clear error naming the value and the limit."""

import re

import numpy as np
import pytest

import windowkit as wk

X = np.zeros((5, 6))


def test_window_too_large():
    with pytest.raises(ValueError, match=r"window 6 does not fit axis 0 of length 5 "
                                         r"\(window shape \(6, 2\), x shape \(5, 6\)\)"):
        wk.max_pool(X, (6, 2))


def test_window_too_large_for_correlate_kernel():
    """The message names the kernel's shape and the input's, not only the axis."""
    with pytest.raises(ValueError, match=r"kernel 7 does not fit axis 1 of length 6 "
                                         r"\(kernel shape \(2, 7\), x shape \(5, 6\)\)"):
        wk.correlate(X, np.ones((2, 7)))
    with pytest.raises(ValueError, match=r"kernel 3 does not fit axis 0 of length 2 "
                                         r"\(kernel shape \(3,\), x shape \(2,\)\)"):
        wk.convolve(np.ones(2), [1, 2, 3])


@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble])
@pytest.mark.parametrize("call", [
    lambda x: wk.max_pool(x.real, 2), lambda x: wk.sum_pool(x, 2),
    lambda x: wk.correlate(x, x[:2]), lambda x: wk.convolve(x[:4].real.astype(np.float64), x[:2]),
], ids=["max_pool", "sum_pool", "correlate", "long_double_kernel"])
def test_long_doubles_are_a_type_error_for_numba(dtype, call):
    """Numba has no long double: a TypeError that says what to do, not a
    TypingError from inside the compiled loop (found by scipy.signal's tests)."""
    x = np.arange(6, dtype=dtype)
    with pytest.raises(TypeError, match=r"which Numba cannot compute in; convert it with "
                                        r"\.astype\(np\.float64\)"):
        call(x)


def test_long_doubles_are_computed_by_the_reference_and_the_interpreter():
    """impl="strided" and impl="python" compute in long double, as scipy does."""
    x = np.arange(6, dtype=np.longdouble) / 3
    kernel = np.array([1, 2], dtype=np.longdouble) / 7
    for impl in ("strided", "python"):
        result = wk.correlate(x, kernel, impl=impl)
        assert result.dtype == np.longdouble
        expected = np.array([x[i] * kernel[0] + x[i + 1] * kernel[1] for i in range(5)])
        np.testing.assert_allclose(result, expected, rtol=4 * np.finfo(np.longdouble).eps)
        assert wk.max_pool(x, 2, impl=impl).dtype == np.longdouble
        np.testing.assert_array_equal(wk.max_pool(x, 2, impl=impl), x[1::2])


@pytest.mark.parametrize("window", [0, -1, (2, 0)])
def test_window_not_positive(window):
    with pytest.raises(ValueError, match=r"window entries must be positive, got \("):
        wk.max_pool(X, window)


@pytest.mark.parametrize("window", [2.0, "2", (2, 1.5), None, True])
def test_window_not_integer(window):
    with pytest.raises(TypeError, match=r"window must be an integer or a tuple of integers, got"):
        wk.pool(X, window)


def test_window_too_many_dims():
    with pytest.raises(ValueError, match=r"window must have 1 to 3 entries .* got 4 in \(1, 1, 1, 1\)"):
        wk.pool(np.zeros((2, 2, 2, 2)), (1, 1, 1, 1))


def test_window_empty_tuple():
    with pytest.raises(ValueError, match=r"window must have 1 to 3 entries .* got 0 in \(\)"):
        wk.pool(X, ())


def test_window_more_dims_than_array():
    with pytest.raises(ValueError, match=r"window \(2, 2\) has 2 dimensions but x has only 1"):
        wk.pool(np.zeros(5), (2, 2))


def test_window_and_axes_lengths_differ():
    with pytest.raises(ValueError, match=r"window \(2, 2\) has 2 entries but axes \(0,\) names 1 axes"):
        wk.pool(X, (2, 2), axes=0)


@pytest.mark.parametrize("stride", [0, -2, (1, 0)])
def test_stride_not_positive(stride):
    with pytest.raises(ValueError, match=r"stride entries must be positive, got \("):
        wk.max_pool(X, 2, stride)


@pytest.mark.parametrize("stride", [1.0, (1, "a")])
def test_stride_not_integer(stride):
    with pytest.raises(TypeError, match=r"stride must be an integer or a tuple of integers"):
        wk.max_pool(X, 2, stride)


def test_stride_wrong_length():
    with pytest.raises(ValueError, match=r"stride \(1, 1, 1\) has 3 entries but the window has 2"):
        wk.max_pool(X, 2, (1, 1, 1))


def test_axis_out_of_range():
    with pytest.raises(ValueError, match=r"axis 2 is out of bounds for an array of dimension 2"):
        wk.max_pool(X, 2, axes=(0, 2))


def test_negative_axis_out_of_range():
    with pytest.raises(ValueError, match=r"axis -3 is out of bounds for an array of dimension 2"):
        wk.max_pool(X, 2, axes=-3)


def test_repeated_axes():
    with pytest.raises(ValueError, match=r"axes must be distinct, got \(1, -1\)"):
        wk.max_pool(X, 2, axes=(1, -1))


def test_axes_not_integer():
    with pytest.raises(TypeError, match=r"axes must be an integer or a tuple of integers, got 0.5"):
        wk.max_pool(X, 2, axes=0.5)


def test_zero_dimensional_input():
    with pytest.raises(ValueError, match=r"x must have at least 1 dimension, got a 0-d array"):
        wk.max_pool(np.float64(3.0), 1)


def test_zero_dimensional_shape():
    with pytest.raises(ValueError, match=r"at least 1 dimension, got a 0-d array"):
        wk.output_shape((), 1)


def test_negative_shape():
    with pytest.raises(ValueError, match=r"shape entries must be non-negative, got \(5, -1\)"):
        wk.output_shape((5, -1), 1)


def test_empty_kernel():
    with pytest.raises(ValueError, match=r"kernel must not be empty, got shape \(0, 3\)"):
        wk.correlate(X, np.zeros((0, 3)))


def test_zero_dimensional_kernel():
    with pytest.raises(ValueError, match=r"kernel must have 1 to 3 dimensions, got 0"):
        wk.convolve(X, 2.0)


def test_four_dimensional_kernel():
    with pytest.raises(ValueError, match=r"kernel must have 1 to 3 dimensions, got 4 \(shape \(1, 1, 1, 1\)\)"):
        wk.correlate(np.zeros((2, 2, 2, 2)), np.ones((1, 1, 1, 1)))


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([None, 1], dtype=object),
                                 np.array(["2020-01-01"] * 3, dtype="datetime64[D]")])
def test_unsupported_dtype(bad):
    with pytest.raises(TypeError, match=rf"x has dtype {re.escape(str(bad.dtype))}, which windowkit does not support"):
        wk.sum_pool(bad, 1)


def test_unsupported_kernel_dtype():
    with pytest.raises(TypeError, match=r"kernel has dtype object, which windowkit does not support"):
        wk.correlate(X, np.array([1, None], dtype=object))


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_complex_max_min(reduce):
    with pytest.raises(TypeError, match=rf"{reduce} pooling is not defined for complex dtype complex128"):
        wk.pool(X.astype(complex), 2, reduce=reduce)


def test_unknown_reduce():
    with pytest.raises(ValueError, match=r"reduce must be one of 'max', 'min', 'mean', 'sum', got 'median'"):
        wk.pool(X, 2, reduce="median")


@pytest.mark.parametrize("call", [
    lambda: wk.pool(X, 2, impl="cuda"),
    lambda: wk.correlate(X, np.ones((2, 2)), impl="fast"),
])
def test_unknown_impl(call):
    with pytest.raises(ValueError, match=r"impl must be one of 'numba', 'python', 'strided', got"):
        call()


def test_out_wrong_shape():
    with pytest.raises(ValueError, match=r"out has shape \(2, 2\), but the output shape is \(2, 3\)"):
        wk.max_pool(X, 2, out=np.empty((2, 2)))


def test_out_wrong_dtype():
    with pytest.raises(ValueError, match=r"out has dtype float32, but the result dtype is float64"):
        wk.max_pool(X, 2, out=np.empty((2, 3), np.float32))


def test_out_byteswapped():
    with pytest.raises(ValueError, match=r"out has dtype >f8, but the result dtype is float64"):
        wk.max_pool(X, 2, out=np.empty((2, 3), ">f8"))


def test_out_not_ndarray():
    with pytest.raises(TypeError, match=r"out must be a numpy.ndarray, got list"):
        wk.max_pool(X, 2, out=[[0.0] * 3] * 2)


def test_out_read_only():
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        wk.max_pool(X, 2, out=out)


def test_out_shares_memory_with_input():
    x = np.zeros((4, 6))
    with pytest.raises(ValueError, match=r"out shares memory with the input"):
        wk.max_pool(x, (2, 1), stride=(2, 1), out=x[:2])


def test_out_shares_memory_with_kernel():
    buffer = np.ones(8)
    with pytest.raises(ValueError, match=r"out shares memory with the input"):
        wk.correlate(np.zeros(6), buffer[:3], out=buffer[2:6])


def test_errors_leave_input_untouched():
    x = np.arange(30.0).reshape(5, 6)
    before = x.copy()
    with pytest.raises(ValueError):
        wk.max_pool(x, 2, out=x[:2, :3])
    np.testing.assert_array_equal(x, before)


def test_unknown_pool_method():
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'direct', 'separable', 'van_herk', got 'fft'"):
        wk.max_pool(X, 2, method="fft")


@pytest.mark.parametrize("op", [wk.correlate, wk.convolve])
def test_correlate_has_no_separable_method(op):
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'direct', 'rows', 'fft', got 'separable'"):
        op(X, np.ones((2, 2)), method="separable")
