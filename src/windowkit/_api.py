"""The public functions and their docstrings.

Each hands its arguments to one place: :mod:`windowkit._dask` for Dask
arrays, :mod:`windowkit._plan` for everything else (validation, method
choice, the loop, staging and dispatch), :mod:`windowkit._methods` for the
cost model. The loops are in :mod:`windowkit.kernels`, the vectorised
reference in :mod:`windowkit.strided`.
"""

import dataclasses

import numpy as np

from . import _conv, _dask, _methods, _missing, _padded, _plan, strided
from . import _validation as v

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
    "conv",
    "unpool",
    "choose_method",
]


def output_shape(shape, window, stride=1, *, axes=None, padding="valid", dilation=1,
                 ceil_mode=False):
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
    padding, dilation, ceil_mode
        As in :func:`pool` (see "Beyond valid windows" there).

    Returns
    -------
    tuple of ints
        The input shape with each windowed axis of length ``n`` replaced by
        ``(n + before + after - e) // s + 1``, for stride ``s``, padding
        ``(before, after)`` and window extent ``e = (k - 1) * d + 1`` (window
        ``k``, dilation ``d``); with no padding or dilation, ``(n - k) // s +
        1``, the number of windows that lie wholly inside the axis.

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
    >>> wk.output_shape((112, 112), 3, stride=2, padding=1)
    (56, 56)
    >>> wk.output_shape((10,), 3, stride=2, padding="same")
    (5,)
    >>> wk.output_shape((5,), 2, stride=2, ceil_mode=True)
    (3,)
    """
    return v.geometry(v.as_shape(shape), window, stride, axes, padding=padding,
                      dilation=dilation, ceil_mode=ceil_mode).out_shape


def windows(x, window, stride=1, *, axes=None, padding="valid", mode="constant", cval=0,
            dilation=1):
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
    padding, mode, cval, dilation
        As in :func:`correlate`. Dilated windows are still a view of ``x``;
        padded ones are a view of a padded copy of ``x`` (``np.pad``), the
        only place windowkit copies its input to pad it.

    Returns
    -------
    ndarray
        A read-only view of shape ``output_shape(x.shape, window, stride,
        axes=axes, padding=padding, dilation=dilation) + window``: the
        leading axes say where a window starts, the trailing ones index
        inside it.

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
    >>> wk.windows(np.arange(6), 2, dilation=3)
    array([[0, 3],
           [1, 4],
           [2, 5]])
    >>> wk.windows(np.arange(3), 3, padding="same", mode="edge")
    array([[0, 0, 1],
           [0, 1, 2],
           [1, 2, 2]])
    """
    if _dask.is_dask_array(x):
        raise TypeError(
            "windows() returns a numpy view and would load the whole Dask array; "
            "use dask.array.lib.stride_tricks.sliding_window_view, or compute first"
        )
    x = v.as_input_array(x)
    geometry = v.geometry(x.shape, window, stride, axes, padding=padding, dilation=dilation)
    mode, cval = v.boundary(mode, cval, x.dtype, "correlate")
    return strided.window_view(x, geometry, mode, cval)


def pool(x, window, stride=None, *, reduce="max", axes=None, padding="valid", mode=None,
         cval=0, dilation=1, ceil_mode=False, nan_policy="propagate", min_count=None,
         return_indices=False, out=None, impl="numba", method="auto"):
    """Reduce every window of ``x`` to one number: max, min, mean or sum pooling.

    Parameters
    ----------
    x : array_like or dask.array.Array
        Input array of bool, integer, float or complex dtype, at least 1-D.
        Axes that are not windowed are batch axes, pooled independently.
        A Dask array gives a lazy Dask array, each window computed once by
        one block (see :mod:`windowkit._dask` for the chunk rule).
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
    padding : {"valid", "same", "full"}, int or tuple, optional
        Elements added before and after each windowed axis (see "Beyond
        valid windows" below). ``"valid"`` (default): none. ``"same"``:
        ``ceil(n / stride)`` outputs. ``"full"``: every window that
        overlaps the input. An int ``p`` is ``(p, p)`` on every windowed
        axis; a tuple has one int or ``(before, after)`` pair per axis.
    mode : {None, "ignore", "constant", "edge", "reflect", "symmetric", "wrap"}
        What the padded positions hold. ``None`` (default) is
        ``"ignore"``: they are not part of the window (PyTorch's max
        pooling, ``avg_pool2d(count_include_pad=False)``). The others are
        ``np.pad``'s modes; with ``"constant"`` a mean counts the ``cval``
        elements (``count_include_pad=True``).
    cval : scalar, optional
        The value of ``mode="constant"``'s padding. Default 0.
    dilation : int or tuple of ints, optional
        Spacing of the window's elements: element ``a`` at offset ``a *
        dilation``. Default 1.
    ceil_mode : bool, optional
        Round the output length up, as PyTorch's pools do: a last window
        that runs past the padded end, but starts inside the input or the
        padding before it, is kept, holding only its elements up to the
        padded end. Default False.
    nan_policy : {"propagate", "omit", "raise"}
        ``"propagate"`` (default): a window holding a NaN gives NaN (max,
        min, as ``np.max``; sums as IEEE). ``"omit"``: NaN values are
        skipped (``np.nanmax``, ``nanmin``, ``nansum``, ``nanmean``).
        ``"raise"``: a ValueError if ``x`` holds a NaN. Complex: a NaN in
        either part.
    min_count : int, optional
        With ``"omit"`` (or a masked array): a window with fewer values
        gives NaN (masked, for a masked array). Default 1. Padded values
        count, positions ``"ignore"`` leaves out do not; ``min_count=0``:
        an empty window's sum is 0. An integer result that a window could
        leave short is a ValueError.
    return_indices : bool, optional
        Max and min only: return ``(values, indices)``, ``indices`` int64
        of shape ``values.shape + (len(axes),)``, the coordinates in ``x``
        along the windowed axes (in the order of ``axes``) of each
        window's first extreme in row-major order (ties to the first, as
        ``np.argmax``; ``"propagate"``: its first NaN; ``"omit"``: -1 for
        a window without values). A padded constant lies outside ``[0,
        n)``, a padded copy at the element it copies. With ``out=``, a
        pair ``(values_out, indices_out)``. Dask: two lazy arrays, valid
        windows only for now.
    out : ndarray, optional
        Array of the output shape and result dtype to write into (not with
        a Dask array: store its result with ``dask.array.store``).
    impl : {"numba", "python", "strided"}
        ``"numba"``: the compiled loops of :mod:`windowkit.kernels`.
        ``"python"``: the same loops run by the interpreter (slow; for
        teaching). ``"strided"``: the vectorised stride-trick reference of
        :mod:`windowkit.strided`.
    method : {"auto", "direct", "separable", "van_herk"}
        The algorithm of the ``"numba"`` and ``"python"`` loops.
        ``"direct"``: the textbook loop, window size operations per output.
        ``"separable"``: the window's rows combined into one row, then
        pooled along it, both vectorised. ``"van_herk"``: van Herk/Gil-Werman
        blocks along the rows, about 3 row operations per output whatever
        the window's height. ``"auto"`` picks by a cost model;
        :func:`choose_method` says which and why. Every method gives the
        direct loop's result: exactly for max, min and integer sums, and for
        float sums to rounding. docs/methods.md describes each method, its
        cost and its exactness.

    Returns
    -------
    ndarray, or MaskedArray for a masked ``x``
        (a Dask array for a Dask ``x``: of masked blocks, for masked ones).
        With ``return_indices``, the pair ``(values, indices)``.
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
        For a window that does not fit, bad strides, axes, padding, mode or
        ``cval``, a window with no element of ``x`` (``mode="ignore"``), or
        a bad ``out``.

    Notes
    -----
    **Beyond valid windows.** Per windowed axis of length ``n``, window
    ``k``, stride ``s``, dilation ``d`` and padding ``(before, after)``,
    the window's extent is ``e = (k - 1) * d + 1`` and there are ``(n +
    before + after - e) // s + 1`` outputs (``ceil_mode``: rounded up, as
    PyTorch does). ``"same"`` pads ``max((L - 1) * s + e - n, 0)`` elements
    for ``L = ceil(n / s)`` outputs, the odd one after (TensorFlow, JAX and
    PyTorch's ``padding="same"``); ``"full"`` pads ``e - 1`` on each side.
    The input is never padded to a copy: the interior windows run the
    methods below on ``x`` in place, and only the windows that touch the
    padding are computed from small gathered pieces of it. Dilation runs
    the same methods on the strided views ``x[r::d]``, one per residue
    class. The result is that of ``np.pad`` followed by the valid pool
    over windows of extent ``e`` taking every ``d``-th element (for
    ``"ignore"``, of the valid pool over the elements of ``x`` only).

    max and min follow ``np.max`` and ``np.min``: a window holding a NaN
    gives NaN. No method allocates more than the output and a few scratch
    rows per thread (van Herk: window height + 2 rows). A call that repeats
    an earlier one's input shape, strides and dtype and its arguments
    (plain ints and strings) replays the plan the earlier call worked out
    (256 plans are kept at most): validation, method choice and dispatch
    run once. float16 and non-native byte order inputs are first converted
    to a native float32 / native copy, since Numba computes on neither.

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

    Padding: ResNet's stem pools 3x3 windows at stride 2 with one padded
    element on each side, which max pooling ignores; "same" keeps the size.

    >>> wk.pool(x, 3, stride=2, padding=1)
    array([[4, 5],
           [9, 9]])
    >>> wk.pool(x, 3, stride=1, padding="same", reduce="mean", mode="edge").shape
    (4, 4)

    Missing data: NaN left out of the window, and where each max came from.

    >>> signal = np.array([1.0, np.nan, 3.0, np.nan, np.nan, 2.0])
    >>> wk.pool(signal, 2, reduce="mean", nan_policy="omit")
    array([1., 3., 2.])
    >>> wk.pool(signal, 3, stride=1, reduce="sum", nan_policy="omit", min_count=2)
    array([ 4., nan, nan, nan])
    >>> values, indices = wk.max_pool(x, 2, return_indices=True)
    >>> indices[..., 0], indices[..., 1]
    (array([[1, 0],
           [3, 2]]), array([[1, 2],
           [1, 2]]))
    """
    if not _missing.is_plain_call(x, nan_policy, min_count, return_indices):
        def run(array, reduce, cval, out):
            return _pool(array, window, stride, reduce, axes, padding, mode, cval, dilation,
                         ceil_mode, out, impl, method)

        v.check_choice(reduce, "reduce", v.REDUCTIONS)
        call = _missing.Call(window, stride, axes, padding, mode, cval, dilation, ceil_mode,
                             impl, method, run)
        return _missing.pool(x, call, reduce, nan_policy, min_count, return_indices, out)
    return _pool(x, window, stride, reduce, axes, padding, mode, cval, dilation, ceil_mode,
                 out, impl, method)


def _pool(x, window, stride, reduce, axes, padding, mode, cval, dilation, ceil_mode, out, impl,
          method):
    """:func:`pool` without ``nan_policy``, ``min_count`` and ``return_indices``."""
    if not _is_valid(padding, dilation, ceil_mode):
        return _beyond_valid_pool(x, window, stride, reduce, axes, padding, mode, cval,
                                  dilation, ceil_mode, out, impl, method)
    if mode is not None or type(cval) is not int or cval != 0:
        v.boundary(mode, cval, _dtype_of(x), "pool")  # checked, though nothing is padded
    if _dask.is_dask_array(x):
        return _dask.pool(x, window, stride, reduce, axes, out, impl, method)
    return _plan.pool(x, window, stride, axes, reduce, method, impl, out)


def _is_valid(padding, dilation, ceil_mode):
    """Whether the call asks for nothing beyond valid windows (in the
    defaults' own spelling: the common call's test)."""
    return (type(padding) is str and padding == "valid" and type(dilation) is int
            and dilation == 1 and ceil_mode is False)


def _dtype_of(x):
    return x.dtype if isinstance(x, np.ndarray) or _dask.is_dask_array(x) else np.asarray(x).dtype


def _beyond_valid_pool(x, window, stride, reduce, axes, padding, mode, cval, dilation,
                       ceil_mode, out, impl, method):
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.POOL_METHODS)
    if _dask.is_dask_array(x):
        _dask.check_input(x, out)
    else:
        x = v.as_input_array(x)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window",
                          padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    mode, cval = v.boundary(mode, cval, x.dtype, "pool")
    if geometry.is_valid:  # padding 0, dilation 1, ceil_mode off
        if _dask.is_dask_array(x):
            return _dask.pool(x, geometry.window, geometry.stride, reduce, geometry.axes, out,
                              impl, method)
        return _plan.pool(x, geometry.window, geometry.stride, geometry.axes, reduce, method,
                          impl, out)
    if _dask.is_dask_array(x):
        return _dask.padded_pool(x, geometry, reduce, mode, cval, method, impl)
    return _padded.pool(x, geometry, reduce, mode, cval, method, impl, out)


def _pool_variant(reduce):
    def variant(x, window, stride=None, *, axes=None, padding="valid", mode=None, cval=0,
                dilation=1, ceil_mode=False, nan_policy="propagate", min_count=None,
                return_indices=False, out=None, impl="numba", method="auto"):
        return pool(x, window, stride, reduce=reduce, axes=axes, padding=padding, mode=mode,
                    cval=cval, dilation=dilation, ceil_mode=ceil_mode, nan_policy=nan_policy,
                    min_count=min_count, return_indices=return_indices, out=out, impl=impl,
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


def correlate(x, kernel, stride=1, *, axes=None, padding="valid", mode="constant", cval=0,
             dilation=1, out=None, impl="numba", method="auto"):
    """Correlation of ``x`` with ``kernel``: slide it, multiply, sum.

    ``out[i] = sum over a of x[i * stride + a * dilation] * conj(kernel[a])``,
    over the windowed axes, for every window that lies wholly inside ``x``
    (``padding="valid"``, the default) or inside ``x`` padded.

    Parameters
    ----------
    x : array_like or dask.array.Array
        Input array of bool, integer, float or complex dtype, at least 1-D.
        Axes that are not windowed are batch axes, filtered independently.
        A Dask array gives a lazy Dask array, each window computed once by
        one block (see :mod:`windowkit._dask` for the chunk rule).
    kernel : array_like
        The weights, 1 to 3 dims and not empty; ``kernel.shape`` is the
        window, its axes matching ``axes`` in order.
    stride : int or tuple of ints, optional
        Step between window starts. Default 1.
    axes : int or tuple of ints, optional
        The axes the kernel slides over. Default: the last ``kernel.ndim``.
    padding, dilation
        As in :func:`pool` (see its "Beyond valid windows"):
        ``padding="same"`` at stride 1 gives an output of ``x``'s shape.
    mode : {"constant", "edge", "reflect", "symmetric", "wrap"}
        What the padded positions hold, as in ``np.pad``. Default
        ``"constant"``. ``scipy.ndimage``'s ``"reflect"`` is numpy's
        ``"symmetric"``, its ``"mirror"`` numpy's ``"reflect"`` (OpenCV's
        ``BORDER_REFLECT_101``) and its ``"nearest"`` numpy's ``"edge"``.
    cval : scalar, optional
        The value of ``mode="constant"``'s padding. Default 0.
    out : ndarray, optional
        Array of the output shape and result dtype to write into (not with
        a Dask array: store its result with ``dask.array.store``).
    impl : {"numba", "python", "strided"}
        As in :func:`pool`.
    method : {"auto", "direct", "rows", "fft"}
        ``"direct"``: the textbook loop, one multiply-add per kernel element
        per output. ``"rows"``: the same sum, term for term and in the same
        order (bitwise the same result), vectorised along the output row.
        ``"fft"``: overlap-save with ``scipy.fft`` on tiles (see
        :mod:`windowkit.kernels.fft`), float and complex data only, within
        ``10 * eps * log2(tile elements) * max|x| * sum|kernel|`` of the
        direct sum per output; data holding a NaN or an infinity runs
        ``"rows"`` instead. ``"auto"`` runs ``"fft"`` for large float
        kernels on large inputs, else ``"rows"``; :func:`choose_method`
        says which and why, docs/methods.md how each method works.

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

    A "same" filter keeps the image's shape; dilation spreads the kernel:

    >>> wk.correlate(image, np.ones((3, 3)) / 9, padding="same", mode="edge").shape
    (4, 4)
    >>> wk.correlate([1, 2, 3, 4, 5], [1, -1], dilation=3)
    array([-3, -3])
    """
    return _correlate(x, kernel, stride, axes, padding, mode, cval, dilation, out, impl,
                      method, flip=False)


def convolve(x, kernel, stride=1, *, axes=None, padding="valid", mode="constant", cval=0,
             dilation=1, out=None, impl="numba", method="auto"):
    """Convolution of ``x`` with ``kernel``: correlation with the kernel flipped.

    ``out[i] = sum over a of x[i * stride + a * dilation] * kernel[k - 1 - a]``,
    for a kernel of shape ``k``, flipped along every windowed axis and not
    conjugated. Parameters (padding, modes and dilation included), returns
    and dtypes as in :func:`correlate`: the padding is that of the flipped
    kernel's correlation.

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
    return _correlate(x, kernel, stride, axes, padding, mode, cval, dilation, out, impl,
                      method, flip=True)


def _correlate(x, kernel, stride, axes, padding, mode, cval, dilation, out, impl, method, *,
               flip):
    if not _is_valid(padding, dilation, False):
        v.check_choice(impl, "impl", v.IMPLS)
        v.check_choice(method, "method", v.CORRELATE_METHODS)
        if _dask.is_dask_array(x):
            _dask.check_input(x, out)
        else:
            x = v.as_input_array(x)
        kernel = v.as_kernel_array(kernel)
        geometry = v.geometry(x.shape, kernel.shape, stride, axes, name="kernel",
                              padding=padding, dilation=dilation)
        mode, cval = v.boundary(mode, cval, x.dtype, "correlate")
        if not geometry.is_valid:
            if _dask.is_dask_array(x):
                return _dask.padded_correlate(x, kernel, geometry, mode, cval, method, impl,
                                              flip)
            return _padded.correlate(x, kernel, geometry, mode, cval, method, impl, flip, out)
    elif mode != "constant" or type(cval) is not int or cval != 0:
        v.boundary(mode, cval, _dtype_of(x), "correlate")  # checked, though nothing is padded
    if _dask.is_dask_array(x):
        return _dask.correlate(x, kernel, stride, axes, out, impl, method, flip)
    return _plan.correlate(x, kernel, stride, axes, method, impl, flip, out)


def conv(x, weight, stride=1, *, padding="valid", mode="constant", cval=0, dilation=1, groups=1,
         bias=None, out=None, impl="numba", method="auto"):
    """A convolutional layer's forward pass: PyTorch's ``conv1d``, ``conv2d``
    and ``conv3d``.

    ``out[..., o, p] = bias[o] + sum over c, a of
    x[..., g * C_in / groups + c, p * stride + a * dilation] * weight[o, c, a]``
    for output channel ``o`` of group ``g = o // (C_out / groups)``: a
    correlation (the weight is not flipped, nor conjugated: PyTorch's rule,
    where :func:`correlate` conjugates as ``np.correlate`` does) that mixes
    the channels of each group.

    Parameters
    ----------
    x : array_like
        ``(..., C_in, *spatial)``, channels first, with as many spatial axes
        (1 to 3) as ``weight`` has window axes; leading axes are batch axes.
    weight : array_like
        ``(C_out, C_in // groups, *window)``.
    stride, padding, dilation
        One per spatial axis or one for all, as in :func:`correlate`
        (padding ``"valid"``, ``"same"``, ``"full"``, an int or pairs).
    mode, cval
        What padded positions hold, as in :func:`correlate`. Default zeros.
    groups : int, optional
        Input and output channels split into ``groups`` independent groups
        (``groups == C_in``: a depthwise layer). Default 1.
    bias : array_like, optional
        ``(C_out,)``, added to each output channel.
    out : ndarray, optional
        Array of the output shape and result dtype to write into.
    impl : {"numba", "python", "strided"}
        ``"python"`` runs the textbook loop interpreted; ``"strided"``, the
        vectorised reference (``np.einsum`` over each batch item's window view).
    method : {"auto", "direct", "im2col", "shifted"}
        ``"direct"``: the textbook loop nest, compiled. ``"im2col"``: the
        window view gathered a tile at a time into a column matrix, times
        the weight matrix in one product. ``"shifted"`` (stride 1): one
        product per window element on the padded input laid out flat, no
        column matrix. ``"auto"``: ``"direct"`` for thin products (fewer
        than 32 multiply-adds per output: depthwise layers), else
        ``"shifted"`` at stride 1 and ``"im2col"`` otherwise. See
        :mod:`windowkit._conv`.

    Returns
    -------
    ndarray
        ``(..., C_out, *out_spatial)``, the spatial lengths those of
        :func:`output_shape`; dtype that of ``np.sum`` over the promoted
        dtypes of ``x``, ``weight`` and ``bias`` (integers exact).

    Examples
    --------
    >>> import numpy as np
    >>> import windowkit as wk
    >>> x = np.arange(2 * 4 * 4.0).reshape(1, 2, 4, 4)        # one image, 2 channels
    >>> weight = np.ones((3, 2, 2, 2))                         # 3 filters of 2x2x(2 channels)
    >>> wk.conv(x, weight).shape
    (1, 3, 3, 3)
    >>> float(wk.conv(x, weight)[0, 0, 0, 0]), float(x[0, :, :2, :2].sum())
    (84.0, 84.0)
    >>> wk.conv(x, weight, stride=2, padding=1).shape
    (1, 3, 3, 3)
    """
    return _conv.conv(x, weight, stride, padding, mode, cval, dilation, groups, bias, out, impl,
                      method)


def unpool(values, indices, shape, *, axes=None, impl="numba"):
    """The inverse of a max or min pool as far as it goes: zeros of ``shape``
    with each value added at its index.

    ``indices`` are the coordinates of ``max_pool(x, ..., return_indices=True)``
    (or ``min_pool``): values whose windows chose the same element add up,
    as in the gradient of the pool. Coordinates outside the array (a
    padded constant chosen, or -1 for a window without values) send
    nothing. PyTorch's ``max_unpool2d`` where windows do not overlap.

    Parameters
    ----------
    values : array_like
        The pooled values (or any values of their shape: a gradient).
    indices : array_like of int
        ``values.shape + (len(axes),)``, coordinates along ``axes`` in their order.
    shape : tuple of ints
        The output's shape: the pooled array's. Axes not in ``axes`` must
        equal ``values``' own.
    axes : int or tuple of ints, optional
        The windowed axes, as given to the pool. Default: the last
        ``indices.shape[-1]``.
    impl : {"numba", "python", "strided"}, optional
        The loop that adds each value at its index
        (:func:`windowkit.kernels.add_at`) compiled, or interpreted; or
        the vectorised reference, ``np.add.at``. bool values add as "or";
        float16 values add in float32, rounded once (``np.add.at`` rounds
        each add to float16).

    Returns
    -------
    ndarray
        ``shape``, ``values``' dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import windowkit as wk
    >>> x = np.array([[1, 5, 2, 0], [3, 4, 8, 1]])
    >>> values, indices = wk.max_pool(x, 2, return_indices=True)
    >>> wk.unpool(values, indices, x.shape)
    array([[0, 5, 0, 0],
           [0, 0, 8, 0]])
    """
    return _missing.unpool(values, indices, shape, axes, impl)


def choose_method(op, shape, window, stride=None, *, axes=None, dtype=np.float64, strides=None,
                  padding="valid", mode=None, cval=0, dilation=1, ceil_mode=False, groups=1):
    """The algorithm ``method="auto"`` runs for ``op`` on an array of ``shape``, and why.

    Parameters
    ----------
    op : {"max", "min", "mean", "sum", "correlate", "convolve", "conv"}
    shape, window, stride, axes
        As in :func:`pool` (``stride=None`` is the window) or, for
        correlate and convolve, with ``window`` the kernel's shape; for
        :func:`conv`, ``window`` is the weight's shape (``axes`` unused).
    groups : int, optional
        For ``"conv"``, as in :func:`conv`.
    dtype : dtype, optional
        For correlate and convolve, the result's dtype (``np.result_type``
        of the data and the kernel; pooling does not depend on it): only
        float and complex results can get ``"fft"``. Default float64.
    strides : tuple of int, optional
        The input's ``.strides``, in bytes: the method and layout are then
        those of a call on that array (a Fortran-ordered image is pooled as
        the C-ordered transpose it is in memory, with the window swapped;
        see docs/methods.md). Default: C order, with ``dtype``'s itemsize.
    padding, mode, cval, dilation, ceil_mode
        As in :func:`pool` (or :func:`correlate`, whose ``mode=None`` is
        ``"constant"``): the method is the one the interior windows run
        (the border strips run the same on small pieces), ``.padding`` the
        ``(before, after)`` pairs the padding resolved to and ``.mode`` the
        mode (both None when nothing is padded). They are checked as the
        call checks them (``cval`` against ``dtype``; ``mode="ignore"``
        with a window of padding alone is a ValueError); the mode does not
        change the method.

    Returns
    -------
    MethodChoice
        ``.method`` is the name to pass as ``method=``; ``.reason`` says why;
        ``.work`` is the chosen method's estimated number of element
        operations (reads and combines) for one call; ``.layout`` says how
        the loops take the input (the axes' order, memory order, channels
        as rows or interleaved channels).

    Examples
    --------
    >>> import windowkit as wk
    >>> wk.choose_method("max", (512, 512), 2).method
    'separable'
    >>> print(wk.choose_method("max", (2048, 2048), 31, stride=1))
    van_herk: window rows 31 at stride 1: 3 van Herk row passes at 1.11 each against 31 separable ones, per output row
    >>> wk.choose_method("correlate", (512, 512), (3, 3)).method
    'rows'
    >>> wk.choose_method("correlate", (2048, 2048), (31, 31)).method
    'fft'
    >>> wk.choose_method("correlate", (2048, 2048), (31, 31), dtype=np.int32).method
    'rows'
    >>> rgb = np.zeros((1080, 1920, 3), np.uint8)
    >>> print(wk.choose_method("mean", rgb.shape, 3, 1, axes=(0, 1), strides=rgb.strides).layout)
    interleaved channels: axis 1 and the 3 channels of axis 2 as one row
    >>> wk.choose_method("conv", (32, 64, 56, 56), (64, 64, 3, 3), 1, padding=1).method
    'shifted'
    >>> wk.choose_method("conv", (32, 64, 56, 56), (64, 1, 3, 3), 1, padding=1, groups=64).method
    'rows'
    """
    v.check_choice(op, "op", v.REDUCTIONS + ("correlate", "convolve", "conv"))
    shape, dtype = v.as_shape(shape), np.dtype(dtype)
    correlation = op in ("correlate", "convolve", "conv")
    if correlation and mode is None:
        mode = "constant"
    mode, _ = v.boundary(mode, cval, dtype, "correlate" if correlation else "pool")
    if op == "conv":
        weight = np.zeros(v.as_shape(window), dtype)
        x = np.broadcast_to(np.zeros((), bool), shape)  # a shape to check, no memory
        _, _, groups = _conv.check_layer(x, weight, None, groups)
        n_spatial = weight.ndim - 2
        geometry = v.geometry(shape, weight.shape[2:], 1 if stride is None else stride,
                              tuple(range(len(shape) - n_spatial, len(shape))), name="weight",
                              padding=padding, dilation=dilation)
        choice = _conv.auto_choice(geometry, weight.shape)
        return dataclasses.replace(choice, layout="channels first, the batch axes folded",
                                   padding=None if geometry.is_valid else geometry.padding,
                                   mode=None if geometry.is_valid else mode)
    if strides is None:
        strides = tuple(int(np.prod(shape[i + 1:])) * dtype.itemsize for i in range(len(shape)))
    elif len(strides) != len(shape):
        raise ValueError(f"strides {tuple(strides)} has {len(strides)} entries for a shape of "
                         f"{len(shape)} axes")
    strides = tuple(int(s) for s in strides)
    if correlation and ceil_mode:
        raise ValueError("ceil_mode is for pools only; correlate and convolve reject it")
    padded = v.geometry(shape, window, stride, axes, default_stride=1 if correlation else "window",
                        name="kernel" if correlation else "window", padding=padding,
                        dilation=dilation, ceil_mode=ceil_mode)
    if mode == "ignore" and not padded.is_valid:
        _padded.check_windows_hold_elements(_padded.frame_of(shape, padded, mode))
    # The method reported is that of the valid windows of x padded (a window
    # need not fit x itself); the interior and each border piece resolve
    # "auto" for their own shape (docs/methods.md, "Beyond valid windows").
    plan_shape = list(shape)
    for axis, (before, after) in zip(padded.axes, padded.padding):
        plan_shape[axis] += before + after
    plan_shape = tuple(plan_shape)
    if correlation:
        geometry = v.geometry(plan_shape, window, 1 if stride is None else stride, axes,
                              name="kernel")
        kernel = np.zeros(geometry.window, dtype)
        plan = _plan.correlate_plan(plan_shape, dtype, kernel, geometry.stride, geometry.axes,
                                    "auto", "numba", op == "convolve", strides)
        choice = _methods.choose_correlate_method(plan_shape, geometry, dtype)
    else:
        geometry = v.geometry(plan_shape, window, stride, axes, default_stride="window")
        plan = _plan.pool_plan(plan_shape, dtype, geometry.window, geometry.stride,
                               geometry.axes, op, "auto", "numba", strides)
        choice = plan.choice
    layout = _plan.layout(plan, shape, geometry.axes)
    if padded.is_valid:
        return dataclasses.replace(choice, layout=layout)
    loop_geometry, memory_order = padded, False  # as windowkit._padded runs them
    if not correlation or choice.method == "rows":
        loop_geometry, _ = _padded.in_loop_order(padded, shape, strides)
        memory_order = _padded._follows_memory(loop_geometry, shape, strides)
    if correlation and choice.method == "rows" and not memory_order and all(
            d == 1 for d in padded.dilation):
        layout += "; the rows loop takes the border itself, reading x in place"
    elif not correlation and _padded.border_in_loop(shape, dtype, loop_geometry, op, "auto",
                                                    "numba", memory_order):
        if choice.method != "separable":
            choice = dataclasses.replace(choice, method="separable", reason=(
                f"{choice.reason}; padded, within {_padded.VAN_HERK_MARGIN} of van Herk: "
                "separable, its border in the loop"))
        layout += "; the separable loop takes the border itself, reading x in place"
    else:
        layout += ("; the interior windows on x in place, those that touch the padding "
                   "from gathered pieces of it")
    if any(d > 1 for d in padded.dilation):
        layout += f"; dilation {padded.dilation}: one strided view of x per residue class"
    return dataclasses.replace(choice, layout=layout, padding=padded.padding, mode=mode)
