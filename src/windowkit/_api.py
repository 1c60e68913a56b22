"""The public functions: validate, allocate, dispatch.

Validation lives in :mod:`windowkit._validation`, the loops in
:mod:`windowkit.kernels` and the vectorised reference in
:mod:`windowkit.strided`; this module only wires them together.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import _validation as v
from . import kernels, strided

__all__ = [
    "windows",
    "output_shape",
    "correlate",
    "convolve",
    "pool",
    "max_pool",
    "min_pool",
    "mean_pool",
    "sum_pool",
    "choose_method",
]


def output_shape(shape, window, stride=1, *, axes=None):
    """Shape of the valid sliding-window output for an array of ``shape``.

    Parameters
    ----------
    shape : int or tuple of ints
        Shape of the input array.
    window : int or tuple of ints
        Window size, 1 to 3 entries. A lone int is a square window over the
        last two axes (the only axis of a 1-D shape), or the same size on
        every axis in ``axes`` when ``axes`` is given.
    stride : int or tuple of ints, optional
        Step between window starts, one entry per windowed axis, or one int
        for all of them. Default 1.
    axes : int or tuple of ints, optional
        The axes the window slides over. Default: the last ``len(window)``.

    Returns
    -------
    tuple of ints
        The input shape with each windowed axis of length ``n`` replaced by
        ``(n - k) // s + 1``, for window ``k`` and stride ``s``: the number of
        windows that lie wholly inside the axis.

    Examples
    --------
    >>> import windowkit as wk
    >>> wk.output_shape(5, 3)
    (3,)
    >>> wk.output_shape((512, 512), 4)
    (509, 509)
    >>> wk.output_shape((512, 512), 4, stride=2)
    (255, 255)
    >>> wk.output_shape((512, 512, 3), 4, stride=4, axes=(0, 1))
    (128, 128, 3)
    """
    return v.geometry(v.as_shape(shape), window, stride, axes).out_shape


def windows(x, window, stride=1, *, axes=None):
    """Read-only view of every valid window of ``x``, without copying.

    Parameters
    ----------
    x : array_like
        Input array, at least 1-D.
    window : int or tuple of ints
        Window size, 1 to 3 entries; a lone int as in :func:`output_shape`.
    stride : int or tuple of ints, optional
        Step between window starts along each windowed axis. Default 1.
    axes : int or tuple of ints, optional
        The axes the window slides over. Default: the last ``len(window)``.

    Returns
    -------
    ndarray
        A read-only view of shape ``output_shape(x.shape, window, stride,
        axes=axes) + window``: the leading axes say where a window starts,
        the trailing ones index inside it.

    Notes
    -----
    This is ``numpy.lib.stride_tricks.sliding_window_view`` sliced with
    ``[::stride]``, and the same view as ``skimage.util.view_as_windows``.
    The view itself costs no memory, but it repeats every element
    ``window size / stride size`` times; copying or reducing it with numpy
    does that much work. The pooling and correlation functions do not build
    it unless asked to with ``impl="strided"``.

    Examples
    --------
    >>> import numpy as np
    >>> import windowkit as wk
    >>> wk.windows(np.arange(6), 3)
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4],
           [3, 4, 5]])
    >>> wk.windows(np.arange(6), 3, stride=2)
    array([[0, 1, 2],
           [2, 3, 4]])
    >>> image = np.arange(16).reshape(4, 4)
    >>> wk.windows(image, 2, stride=2).shape
    (2, 2, 2, 2)
    >>> wk.windows(image, 2, stride=2)[1, 0]
    array([[ 8,  9],
           [12, 13]])
    """
    x = v.as_input_array(x)
    return strided.window_view(x, v.geometry(x.shape, window, stride, axes))


def pool(x, window, stride=None, *, reduce="max", axes=None, out=None, impl="numba",
         method="auto"):
    """Reduce every window of ``x`` to one number: max, min, mean or sum pooling.

    Parameters
    ----------
    x : array_like
        Input array of bool, integer, float or complex dtype, at least 1-D.
        Axes that are not windowed are batch axes, pooled independently.
    window : int or tuple of ints
        Window size, 1 to 3 entries. A lone int is a square window over the
        last two axes (the only axis of a 1-D array), or the same size on
        every axis in ``axes``.
    stride : int or tuple of ints, optional
        Step between window starts. Default: the window, so that windows
        tile ``x`` without overlapping (as in ``view_as_blocks`` and
        ``torch.nn.functional.max_pool2d``).
    reduce : {"max", "min", "mean", "sum"}
        The reduction applied to each window.
    axes : int or tuple of ints, optional
        The axes the window slides over. Default: the last ``len(window)``.
    out : ndarray, optional
        Array of the output shape and result dtype to write into.
    impl : {"numba", "python", "strided"}
        ``"numba"``: the compiled loops of :mod:`windowkit.kernels`.
        ``"python"``: the same loops run by the interpreter (slow; for
        teaching). ``"strided"``: the vectorised stride-trick reference of
        :mod:`windowkit.strided`.
    method : {"auto", "direct", "separable"}
        The algorithm of the ``"numba"`` and ``"python"`` loops.
        ``"direct"``: the textbook loop, O(window size) per output.
        ``"separable"``: one windowed axis at a time, O(sum of the window's
        sides) per output, through an intermediate array of the reduced
        axes so far. ``"auto"`` picks the one that reads fewer window
        elements; :func:`choose_method` says which and why. Every method
        gives the direct loop's result: exactly for max, min and integer
        sums, to rounding for float sums (the order of additions differs).

    Returns
    -------
    ndarray
        Shape ``output_shape(x.shape, window, stride, axes=axes)``: each
        windowed axis of length ``n`` becomes ``(n - k) // s + 1``, trailing
        elements that no window covers are dropped. dtype: ``x.dtype`` for
        max and min, that of ``np.sum`` for sum (bool and small integers to
        64 bits, so sums never wrap around) and of ``np.mean`` for mean.

    Raises
    ------
    TypeError
        For unsupported dtypes, complex max/min, or non-integer sizes.
    ValueError
        For a window that does not fit, bad strides or axes, or a bad ``out``.

    Notes
    -----
    max and min follow ``np.max`` and ``np.min``: a window holding a NaN
    gives NaN. The direct loop costs O(window size) per output and needs no
    memory besides the output; the separable passes cost O(sum of the
    window's sides) and add one intermediate array. float16 and non-native
    byte order inputs are first converted to a native float32 / native copy,
    since Numba computes on neither.

    Examples
    --------
    >>> import numpy as np
    >>> import windowkit as wk
    >>> x = np.array([[1, 2, 5, 0],
    ...               [3, 4, 1, 1],
    ...               [0, 0, 2, 2],
    ...               [0, 9, 2, 2]])
    >>> wk.pool(x, 2)
    array([[4, 5],
           [9, 2]])
    >>> wk.pool(x, 2, reduce="mean")
    array([[2.5 , 1.75],
           [2.25, 2.  ]])
    >>> wk.pool(x, 3, stride=1, reduce="min")
    array([[0, 0],
           [0, 0]])
    >>> wk.pool([1.0, np.nan, 3.0, 4.0], 2, reduce="max")
    array([nan,  4.])
    """
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.POOL_METHODS)
    x = v.as_input_array(x)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window")
    result_dtype = v.pool_dtype(reduce, x.dtype)
    out = v.prepare_out(out, geometry.out_shape, result_dtype, x)

    if impl == "strided":
        return strided.pool(strided.window_view(x, geometry), reduce, out)
    if method == "auto":
        method = _choose_pool_method(x.shape, geometry).method
    count = math.prod(geometry.window) if reduce == "mean" else None
    if method == "direct":
        _pool_loops(x, geometry, reduce, out, impl, divide_by=count)
        return out

    # Separable: reduce one windowed axis at a time, innermost first. The
    # intermediates keep the accumulator dtype, so no pass rounds or wraps.
    current = x
    passes = _separable_passes(x.shape, geometry)
    for index, (one_axis, shape) in enumerate(passes):
        last = index == len(passes) - 1
        target = out if last else np.empty(shape, v.accumulator_dtype(result_dtype))
        _pool_loops(current, one_axis, reduce, target, impl, divide_by=count if last else None)
        current = target
    return out


def _pool_loops(x, geometry, reduce, out, impl, divide_by=None):
    """The direct loop of ``reduce`` over ``geometry``'s windows, into ``out``."""
    window = _pad3(geometry.window, 1)
    if reduce in ("max", "min"):
        _run_loops(kernels.extreme_pool, x, (window, reduce == "max"), geometry, out, impl)
    else:
        zero = v.accumulator_dtype(out.dtype).type(0)
        _run_loops(kernels.sum_pool, x, (window, zero), geometry, out, impl, divide_by=divide_by)


def _separable_passes(shape, geometry):
    """One 1-axis geometry per windowed axis, innermost axis first, with its output shape."""
    passes = []
    for index in sorted(range(len(geometry.axes)), key=lambda i: -geometry.axes[i]):
        one_axis = geometry.one_axis(index, shape)
        shape = one_axis.out_shape
        passes.append((one_axis, shape))
    return passes


# Separable passes write and re-read an intermediate array. Measured on
# 512x512 float64 and 2048x2048 float32 max pooling (windows 2 to 31,
# strides 1 to 8), they win once they read about 1.65x fewer window
# elements than the direct loop (3/1: 1.5x fewer, 0.99x the time; 4/1: 2x
# fewer, 1.25x faster; 31/1: 15x fewer, 8x faster).
SEPARABLE_OVERHEAD = 1.7


@dataclass(frozen=True)
class MethodChoice:
    """What :func:`choose_method` picked, and why."""

    method: str
    reason: str
    reads: int  # window elements the chosen method reads in one call

    def __str__(self):
        return f"{self.method}: {self.reason}"


def choose_method(op, shape, window, stride=None, *, axes=None):
    """The algorithm ``method="auto"`` runs for ``op`` on an array of ``shape``, and why.

    Parameters
    ----------
    op : {"max", "min", "mean", "sum", "correlate", "convolve"}
    shape, window, stride, axes
        As in :func:`pool` (``stride=None`` is the window) or, for
        correlate and convolve, with ``window`` the kernel's shape.

    Returns
    -------
    MethodChoice
        ``.method`` is the name to pass as ``method=``; ``.reason`` says why,
        in window reads per call; ``.reads`` is that method's count.

    Examples
    --------
    >>> import windowkit as wk
    >>> wk.choose_method("max", (512, 512), 2).method
    'direct'
    >>> print(wk.choose_method("max", (2048, 2048), 31, stride=1))
    separable: separable passes read 2.5e+08 window elements (x1.7 for the intermediate), direct reads 3.9e+09
    >>> wk.choose_method("correlate", (512, 512), (3, 3)).method
    'direct'
    """
    v.check_choice(op, "op", v.REDUCTIONS + ("correlate", "convolve"))
    shape = v.as_shape(shape)
    if op in ("correlate", "convolve"):
        geometry = v.geometry(shape, window, 1 if stride is None else stride, axes)
        reads = math.prod(geometry.out_shape) * math.prod(geometry.window)
        return MethodChoice("direct", "the direct loop is the only correlation method so far", reads)
    geometry = v.geometry(shape, window, stride, axes, default_stride="window")
    return _choose_pool_method(shape, geometry)


def _choose_pool_method(shape, geometry):
    direct = math.prod(geometry.out_shape) * math.prod(geometry.window)
    if sum(k > 1 for k in geometry.window) < 2:
        return MethodChoice(
            "direct", "a window with one side longer than 1 has nothing to separate", direct
        )
    separable = sum(
        math.prod(pass_shape) * one_axis.window[0]
        for one_axis, pass_shape in _separable_passes(shape, geometry)
    )
    reads = (
        f"separable passes read {separable:.2g} window elements (x{SEPARABLE_OVERHEAD} for "
        f"the intermediate), direct reads {direct:.2g}"
    )
    if separable * SEPARABLE_OVERHEAD < direct:
        return MethodChoice("separable", reads, separable)
    return MethodChoice("direct", reads, direct)


def _pool_variant(reduce):
    def variant(x, window, stride=None, *, axes=None, out=None, impl="numba", method="auto"):
        return pool(x, window, stride, reduce=reduce, axes=axes, out=out, impl=impl,
                    method=method)

    variant.__name__ = variant.__qualname__ = f"{reduce}_pool"
    return variant


max_pool = _pool_variant("max")
min_pool = _pool_variant("min")
mean_pool = _pool_variant("mean")
sum_pool = _pool_variant("sum")

max_pool.__doc__ = """Max pooling: the largest value of each window (NaN if it holds a NaN).

Same as ``pool(x, window, stride, reduce="max", ...)``; see :func:`pool` for
the parameters. The result has ``x.dtype``; complex input is a TypeError.

Examples
--------
>>> import numpy as np
>>> import windowkit as wk
>>> wk.max_pool(np.arange(16).reshape(4, 4), 2)
array([[ 5,  7],
       [13, 15]])
>>> wk.max_pool(np.arange(16).reshape(4, 4), 2, stride=1).shape
(3, 3)
"""

min_pool.__doc__ = """Min pooling: the smallest value of each window (NaN if it holds a NaN).

Same as ``pool(x, window, stride, reduce="min", ...)``; see :func:`pool` for
the parameters. The result has ``x.dtype``; complex input is a TypeError.

Examples
--------
>>> import numpy as np
>>> import windowkit as wk
>>> wk.min_pool(np.arange(16).reshape(4, 4), 2)
array([[ 0,  2],
       [ 8, 10]])
"""

mean_pool.__doc__ = """Mean pooling: the average of each window.

Same as ``pool(x, window, stride, reduce="mean", ...)``; see :func:`pool` for
the parameters. The result dtype is that of ``np.mean``: float64 for bool and
integers, otherwise ``x.dtype``.

Examples
--------
>>> import numpy as np
>>> import windowkit as wk
>>> wk.mean_pool(np.arange(16, dtype=np.uint8).reshape(4, 4), 2)
array([[ 2.5,  4.5],
       [10.5, 12.5]])
"""

sum_pool.__doc__ = """Sum pooling: the sum of each window, without integer wrap-around.

Same as ``pool(x, window, stride, reduce="sum", ...)``; see :func:`pool` for
the parameters. The result dtype is that of ``np.sum``: int64 for bool and
signed integers, uint64 for unsigned ones, otherwise ``x.dtype``.

Examples
--------
>>> import numpy as np
>>> import windowkit as wk
>>> wk.sum_pool(np.full((4, 4), 200, dtype=np.uint8), 2)
array([[800, 800],
       [800, 800]], dtype=uint64)
"""


def correlate(x, kernel, stride=1, *, axes=None, out=None, impl="numba", method="auto"):
    """Valid correlation of ``x`` with ``kernel``: slide it, multiply, sum.

    ``out[i] = sum over a of x[i * stride + a] * conj(kernel[a])``, over the
    windowed axes, for every window that lies wholly inside ``x``.

    Parameters
    ----------
    x : array_like
        Input array of bool, integer, float or complex dtype, at least 1-D.
        Axes that are not windowed are batch axes, filtered independently.
    kernel : array_like
        The weights, 1 to 3 dims and not empty; ``kernel.shape`` is the
        window, its axes matching ``axes`` in order.
    stride : int or tuple of ints, optional
        Step between window starts. Default 1.
    axes : int or tuple of ints, optional
        The axes the kernel slides over. Default: the last ``kernel.ndim``.
    out : ndarray, optional
        Array of the output shape and result dtype to write into.
    impl : {"numba", "python", "strided"}
        As in :func:`pool`.
    method : {"auto", "direct"}
        The algorithm; so far only the direct loop, O(kernel size) per
        output, which ``"auto"`` picks.

    Returns
    -------
    ndarray
        Shape ``output_shape(x.shape, kernel.shape, stride, axes=axes)``,
        dtype that of ``np.sum`` over ``np.result_type(x, kernel)``: a uint8
        image correlated with a uint8 kernel gives exact uint64 sums.

    See Also
    --------
    convolve : the same with the kernel flipped.
    scipy.signal.correlate : equal to this with ``mode="valid"`` and stride 1.

    Examples
    --------
    >>> import numpy as np
    >>> import windowkit as wk
    >>> wk.correlate([1, 2, 3, 4, 5], [1, 0, -1])
    array([-2, -2, -2])
    >>> wk.correlate([1, 2, 3, 4, 5], [1, 0, -1], stride=2)
    array([-2, -2])
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> wk.correlate(image, np.ones((3, 3)) / 9)
    array([[ 5.,  6.],
           [ 9., 10.]])
    """
    return _correlate(x, kernel, stride, axes, out, impl, method, flip=False)


def convolve(x, kernel, stride=1, *, axes=None, out=None, impl="numba", method="auto"):
    """Valid convolution of ``x`` with ``kernel``: correlation with the kernel flipped.

    ``out[i] = sum over a of x[i * stride + a] * kernel[k - 1 - a]``, for a
    kernel of shape ``k``, flipped along every windowed axis and not
    conjugated. Parameters, returns and dtypes as in :func:`correlate`.

    See Also
    --------
    correlate : the same without the flip.
    scipy.signal.convolve : equal to this with ``mode="valid"`` and stride 1.

    Examples
    --------
    >>> import windowkit as wk
    >>> wk.convolve([1, 2, 3, 4, 5], [1, 0, -1])
    array([2, 2, 2])

    Convolving an impulse reproduces the kernel; correlating it reverses it:

    >>> wk.convolve([0, 0, 1, 0, 0], [1, 2, 3])
    array([1, 2, 3])
    >>> wk.correlate([0, 0, 1, 0, 0], [1, 2, 3])
    array([3, 2, 1])
    """
    return _correlate(x, kernel, stride, axes, out, impl, method, flip=True)


def _correlate(x, kernel, stride, axes, out, impl, method, *, flip):
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.CORRELATE_METHODS)
    x = v.as_input_array(x)
    kernel = v.as_kernel_array(kernel)
    geometry = v.geometry(x.shape, kernel.shape, stride, axes)
    result_dtype = v.correlate_dtype(x.dtype, kernel.dtype)
    out = v.prepare_out(out, geometry.out_shape, result_dtype, x, kernel)

    # Small (kernel-sized) copy: flipped or conjugated, in the dtype to sum in.
    weights = np.flip(kernel) if flip else np.conj(kernel)
    weights = weights.astype(v.accumulator_dtype(result_dtype))
    if impl == "strided":
        return strided.correlate(strided.window_view(x, geometry), weights, out)

    weights = weights.reshape(_pad3(weights.shape, 1))
    zero = weights.dtype.type(0)
    _run_loops(kernels.correlate, x, (weights, zero), geometry, out, impl)
    return out


def _pad3(values, fill):
    """Pad a 1- or 2-entry window description to 3 entries at the front."""
    return (fill,) * (3 - len(values)) + tuple(values)


def _run_loops(loop, x, args, geometry, out, impl, divide_by=None):
    """Run ``loop(x4, args[0], stride, *args[1:], out4)`` over 4-D views of x and out.

    The windowed axes are moved last and the batch axes folded into one
    without copying; see :mod:`windowkit.kernels` for the 4-D form.
    ``divide_by`` turns sums into means before any rounding to float16.
    """
    # Numba computes on neither float16 nor byte-swapped data: convert (a copy).
    native = x.dtype.newbyteorder("=")
    if native == np.float16:
        x = x.astype(np.float32)
    elif native != x.dtype:
        x = x.astype(native)
    # Numba has no float16: compute into float32, then round once at the end.
    target = np.empty(out.shape, np.float32) if out.dtype == np.float16 else out

    n_window_dims = len(geometry.axes)
    window_last = range(x.ndim - n_window_dims, x.ndim)
    x_moved = np.moveaxis(x, geometry.axes, window_last)
    target_moved = np.moveaxis(target, geometry.axes, window_last)
    stride = _pad3(geometry.stride, 1)
    work = out.size * math.prod(geometry.window)
    for x4, out4 in _folded_pairs(x_moved, target_moved, n_window_dims):
        loop.run(x4, args[0], stride, *args[1:], out4, impl=impl, work=work)
    if divide_by is not None:
        # As np.mean: dividing by an intp count computes complex64 and
        # float32 means in double precision, then rounds once.
        np.divide(target, np.intp(divide_by), out=target)
    if target is not out:
        out[...] = target


def _folded(a, n_window_dims):
    """View ``a`` (batch axes, then windowed axes) as (batch, depth, rows, cols)."""
    batch = math.prod(a.shape[: a.ndim - n_window_dims])
    shape = (batch,) + _pad3(a.shape[a.ndim - n_window_dims :], 1)
    return np.reshape(a, shape, copy=False)


def _folded_pairs(x, out, n_window_dims):
    """4-D views of ``x`` and ``out`` that together cover every batch item.

    One pair when the batch axes fold into one without a copy (always, for
    contiguous arrays); otherwise one pair for each index of the leading
    batch axes, leaving a single batch axis, which always folds.
    """
    try:
        return [(_folded(x, n_window_dims), _folded(out, n_window_dims))]
    except ValueError:
        leading = x.shape[: x.ndim - n_window_dims - 1]
        return [
            (_folded(x[index], n_window_dims), _folded(out[index], n_window_dims))
            for index in np.ndindex(leading)
        ]
