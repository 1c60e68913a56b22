"""The public functions: validate, allocate, dispatch.

Validation lives in :mod:`windowkit._validation`, the loops in
:mod:`windowkit.kernels` and the vectorised reference in
:mod:`windowkit.strided`; this module only wires them together.
"""

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from . import _compile, _dask, _fft
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
    if _dask.is_dask_array(x):
        raise TypeError(
            "windows() returns a numpy view and would load the whole Dask array; "
            "use dask.array.lib.stride_tricks.sliding_window_view, or compute first"
        )
    x = v.as_input_array(x)
    return strided.window_view(x, v.geometry(x.shape, window, stride, axes))


def pool(x, window, stride=None, *, reduce="max", axes=None, out=None, impl="numba",
         method="auto"):
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
    out : ndarray, optional
        Array of the output shape and result dtype to write into (not with
        a Dask array: store its result with ``dask.array.store``).
    impl : {"numba", "python", "strided"}
        ``"numba"``: the compiled loops of :mod:`windowkit.kernels`.
        ``"python"``: the same loops run by the interpreter (slow; for
        teaching). ``"strided"``: the vectorised stride-trick reference of
        :mod:`windowkit.strided`.
    method : {"auto", "direct", "separable", "van_herk"}
        The algorithm of the ``"numba"`` and ``"python"`` loops; see
        :mod:`windowkit.kernels` for each loop and its cost.
        ``"direct"``: the textbook loop, window size operations per output,
        not vectorised. ``"separable"``: for each output row, the window's
        rows are combined element by element into one row, which is then
        pooled along its length; both loops run along contiguous rows
        (packed SIMD), window height (x depth) + window width operations per
        output. ``"van_herk"``: van Herk/Gil-Werman blocks along the rows,
        about 3 row operations per output whatever the window's height, then
        the same pooling along the row. Along rows, windows 8 or more wide
        use doubling spans (about log2(width) vectorised passes; sums take
        one span per set bit of the width, nothing subtracted). Windows as
        wide as their column stride, up to 8, are reduced a window row at a
        time in registers under ``"separable"`` (bitwise the direct loop's
        result, float sums included). ``"auto"``
        runs van Herk when it combines fewer input rows per output row than
        separable, else separable; :func:`choose_method` says which and
        why. Every method
        gives the direct loop's result: exactly for max, min and integer
        sums, and for float sums to rounding (the order of additions
        differs; the tests bound it by 2 (n - 1) eps sum(|x|) for a window
        of n elements, and no method subtracts, so the error does not grow
        with the array).

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
    gives NaN. No method allocates more than the output and a few scratch
    rows per thread (van Herk: window height + 2 rows). A call that repeats
    an earlier one's input shape, strides and dtype and its arguments
    (plain ints, no ``out``) skips validation and dispatch: it replays the
    plan the earlier call kept (256 plans are kept at most). float16 and
    non-native byte order inputs are first converted to a native float32 /
    native copy, since Numba computes on neither. Complex sums and means
    run the fast methods on the real and imaginary parts.

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
    if out is None and impl == "numba" and type(x) is np.ndarray:
        plan = _pool_plan(x, window, stride, axes, reduce, method)
        if plan is not None:
            return plan(x)
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.POOL_METHODS)
    if _dask.is_dask_array(x):
        return _dask_pool(x, window, stride, reduce, axes, out, impl, method)
    x = v.as_input_array(x)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window")
    result_dtype = v.pool_dtype(reduce, x.dtype)
    out = v.prepare_out(out, geometry.out_shape, result_dtype, x)

    if impl == "strided":
        return strided.pool(strided.window_view(x, geometry), reduce, out)
    if method == "auto":
        method = _choose_pool_method(x.shape, geometry).method
    count = math.prod(geometry.window) if reduce == "mean" else None
    _pool_loops(x, geometry, reduce, out, impl, method, divide_by=count)
    return out


class _PoolPlan:
    """A pooling call worked out once for one input shape, strides and dtype
    and one set of arguments: :func:`pool` replays it on later calls.

    Validation, method choice and dispatch cost some 7 us a call, as much
    as pooling an 8x8 image. A plan keeps what they decided (the loop and
    its arguments, the 4-D shapes, the result dtype), so a repeated call
    only allocates its output and runs the loop.
    """

    __slots__ = ("loop", "args", "x_shape4", "out_shape", "out_shape4", "dtype", "divide_by",
                 "work")

    def __call__(self, x):
        out = np.empty(self.out_shape, self.dtype)
        # Views: the plan was made for arrays of this shape and strides.
        x4, out4 = x.reshape(self.x_shape4), out.reshape(self.out_shape4)
        self.loop.run(x4, *self.args, out4, impl="numba", work=self.work)
        if self.divide_by is not None:
            np.divide(out, np.intp(self.divide_by), out=out)
        return out


# Plans by (shape, strides, dtype, window, stride, axes, reduce, method). A
# plan of None marks a call that needs the general path. Past this many
# plans, the cache starts again.
_PLANS = {}
MAX_PLANS = 256


def _pool_plan(x, window, stride, axes, reduce, method):
    """The plan for pooling ``x`` this way (built on first use), or None.

    Only calls whose arguments compare equal exactly when they mean the
    same are cached: ``window``, ``stride`` and ``axes`` as plain ints or
    tuples of them (``2.0 == 2`` and ``True == 1``, but neither is a valid
    window), strings for ``reduce`` and ``method``. Building a plan checks
    everything the general path checks, raising the same errors.
    """
    if not (v.plain(window) and v.plain(stride) and v.plain(axes)
            and type(reduce) is str and type(method) is str):
        return None
    key = (x.shape, x.strides, x.dtype, window, stride, axes, reduce, method)
    try:
        return _PLANS[key]
    except KeyError:
        pass
    plan = _build_pool_plan(x, window, stride, axes, reduce, method)
    if len(_PLANS) >= MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _build_pool_plan(x, window, stride, axes, reduce, method):
    """A :class:`_PoolPlan` for the common case: a real, native, non-float16
    ndarray whose windowed axes are its last and fold into 4-D without a
    copy. None for anything else."""
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(method, "method", v.POOL_METHODS)
    x = v.as_input_array(x)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window")
    dtype = v.pool_dtype(reduce, x.dtype)
    n_window_dims = len(geometry.axes)
    if (x.dtype.kind == "c" or not _numba_computes_on(x.dtype)
            or geometry.axes != _last_axes(x.ndim, n_window_dims)):
        return None
    try:
        _folded(x, n_window_dims)
    except ValueError:
        return None
    if method == "auto":
        method = _choose_pool_method(x.shape, geometry).method
    count = math.prod(geometry.window) if reduce == "mean" else None
    plan = _PoolPlan()
    plan.loop, head, plan.divide_by = _pool_loop(geometry, reduce, method, dtype, count)
    plan.args = (head[0], _pad3(geometry.stride, 1)) + head[1:]
    plan.x_shape4 = _folded_shape(x.shape, n_window_dims)
    plan.out_shape = geometry.out_shape
    plan.out_shape4 = _folded_shape(geometry.out_shape, n_window_dims)
    plan.dtype = dtype
    plan.work = math.prod(geometry.out_shape) * math.prod(geometry.window)
    return plan


def _dask_pool(x, window, stride, reduce, axes, out, impl, method):
    """:func:`pool` of a Dask array: a lazy Dask array, see :mod:`windowkit._dask`."""
    _dask.check_input(x, out)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window")
    if method == "auto":
        # The whole array's choice, in every block: blocks are smaller, and
        # a float sum's last bit can depend on the method.
        method = _choose_pool_method(x.shape, geometry).method
    units = _dask.units_for(geometry, reduce, method, x.dtype)
    return _dask.windowed(
        x, geometry, v.pool_dtype(reduce, x.dtype), pool, units,
        window=geometry.window, stride=geometry.stride, axes=geometry.axes,
        reduce=reduce, impl=impl, method=method,
    )


_REDUCE_CODES = {"max": kernels.MAX, "min": kernels.MIN, "sum": kernels.SUM, "mean": kernels.SUM}


def _pool_loops(x, geometry, reduce, out, impl, method, divide_by=None):
    """The loop of ``method`` for ``reduce`` over ``geometry``'s windows, into ``out``."""
    if x.dtype.kind == "c" and method != "direct":
        # Sums are linear: pool the real and imaginary parts as two float
        # arrays (views, no copy), so the fast loops need no complex code.
        # Means divide afterwards, as complex numbers, as np.mean does.
        loop, args, _ = _pool_loop(geometry, reduce, method, out.real.dtype, None)
        for part in ("real", "imag"):
            _run_loops(loop, getattr(x, part), args, geometry, getattr(out, part), impl)
        if divide_by:
            np.divide(out, np.intp(divide_by), out=out)
        return
    loop, args, divide_after = _pool_loop(geometry, reduce, method, out.dtype, divide_by)
    _run_loops(loop, x, args, geometry, out, impl, divide_by=divide_after)


def _pool_loop(geometry, reduce, method, out_dtype, divide_by):
    """``(loop, args, divide_after)`` for pooling into ``out_dtype``.

    ``loop`` is the loop of ``method`` for ``reduce`` over ``geometry``'s
    windows (complex dtypes only with ``"direct"``), ``args`` its arguments
    after the input, the window first (the stride follows it), and
    ``divide_after`` the count to divide the sums by once it has run: None
    when there is none or the loop divides them itself.
    """
    window = _pad3(geometry.window, 1)
    if method == "direct":
        if reduce in ("max", "min"):
            return kernels.extreme_pool, (window, reduce == "max"), None
        zero = v.accumulator_dtype(out_dtype).type(0)
        return kernels.sum_pool, (window, zero), divide_by
    code = _REDUCE_CODES[reduce]
    block, stride_cols = window[2], _pad3(geometry.stride, 1)[2]
    side_by_side = block == stride_cols <= kernels.BLOCK_MAX
    if method == "separable" and side_by_side and window == (1, 2, 2) and reduce in ("max", "min"):
        return kernels.extreme_2x2_pool[code], (window,), None
    if method == "separable" and side_by_side:
        # Windows side by side along the rows: reduced in registers.
        loop = kernels.block_pool[code, block]
    else:
        loop = kernels.separable_pool if method == "separable" else kernels.van_herk_pool
        # Each copy compiles one row algorithm: doubling or direct.
        loop = loop[code, kernels.row_uses_doubling.py_func(block, stride_cols)]
    # The fast loops divide sums into means themselves (0: no division).
    return loop, (window, np.intp(divide_by or 0)), None


@dataclass(frozen=True)
class MethodChoice:
    """What :func:`choose_method` picked, and why."""

    method: str
    reason: str
    work: int  # the chosen method's estimated element operations in one call

    def __str__(self):
        return f"{self.method}: {self.reason}"


def choose_method(op, shape, window, stride=None, *, axes=None, dtype=np.float64):
    """The algorithm ``method="auto"`` runs for ``op`` on an array of ``shape``, and why.

    Parameters
    ----------
    op : {"max", "min", "mean", "sum", "correlate", "convolve"}
    shape, window, stride, axes
        As in :func:`pool` (``stride=None`` is the window) or, for
        correlate and convolve, with ``window`` the kernel's shape.
    dtype : dtype, optional
        For correlate and convolve, the result's dtype (``np.result_type``
        of the data and the kernel; pooling does not depend on it): only
        float and complex results can get ``"fft"``. Default float64.

    Returns
    -------
    MethodChoice
        ``.method`` is the name to pass as ``method=``; ``.reason`` says why;
        ``.work`` is the chosen method's estimated number of element
        operations (reads and combines) for one call.

    Examples
    --------
    >>> import windowkit as wk
    >>> wk.choose_method("max", (512, 512), 2).method
    'separable'
    >>> print(wk.choose_method("max", (2048, 2048), 31, stride=1))
    van_herk: window rows 31 at stride 1: van Herk combines 3 input rows per output row, separable 31
    >>> wk.choose_method("correlate", (512, 512), (3, 3)).method
    'rows'
    >>> wk.choose_method("correlate", (2048, 2048), (31, 31)).method
    'fft'
    >>> wk.choose_method("correlate", (2048, 2048), (31, 31), dtype=np.int32).method
    'rows'
    """
    v.check_choice(op, "op", v.REDUCTIONS + ("correlate", "convolve"))
    shape = v.as_shape(shape)
    if op in ("correlate", "convolve"):
        geometry = v.geometry(shape, window, 1 if stride is None else stride, axes)
        return _choose_correlate_method(shape, geometry, np.dtype(dtype))
    geometry = v.geometry(shape, window, stride, axes, default_stride="window")
    return _choose_pool_method(shape, geometry)


# "fft" when the direct sum would take at least this many multiply-adds per
# input element (about the window's size over the strides' product).
# Measured, 2 threads, rows against fft: 2048x2048 float32 15x15 22.5 / 28.8
# ms, 17x17 30.9 / 30.5, 21x21 36.7 / 27.6; 512x512 float64 15x15 4.7 / 5.9,
# 17x17 6.4 / 6.1; a float64 signal of 2**20, 128 taps 13.9 / 18.2, 200
# taps 21.0 / 18.3.
FFT_MIN_WORK_PER_INPUT = 256
# Nor below this many input elements, where the transforms' set-up costs
# more than the sum.
FFT_MIN_SIZE = 1 << 16


def _choose_correlate_method(shape, geometry, dtype):
    """rows, or fft for large float kernels on large inputs."""
    size = math.prod(shape)
    rows_work = math.prod(geometry.out_shape) * math.prod(geometry.window)
    per_input = rows_work / max(1, size)
    if dtype.kind not in "fc":
        reason = "integer and bool sums stay exact: the direct sum with the output row innermost"
    elif size < FFT_MIN_SIZE or per_input < FFT_MIN_WORK_PER_INPUT:
        reason = (
            f"{per_input:.0f} multiply-adds per input element: the direct sum (vectorised) "
            f"costs less than transforms below {FFT_MIN_WORK_PER_INPUT} or below "
            f"{FFT_MIN_SIZE} elements"
        )
    else:
        reason = (
            f"{per_input:.0f} multiply-adds per input element in the direct sum: "
            f"transforms cost less from {FFT_MIN_WORK_PER_INPUT}"
        )
        return MethodChoice("fft", reason, _fft.work(size))
    return MethodChoice("rows", reason, rows_work)


@functools.lru_cache(maxsize=256)
def _choose_pool_method(shape, geometry):
    """separable or van_herk, by how many input rows each combines per output row.

    Cached: the same shapes come back call after call, and on small inputs
    this Python arithmetic is a visible part of the call.
    """
    window_depth, window_rows, window_cols = _pad3(geometry.window, 1)
    _, stride_rows, stride_cols = _pad3(geometry.stride, 1)
    separable = window_depth * window_rows
    # van Herk combines each input row (over the window's depth) into one
    # suffix and one prefix, then one more combine per output row.
    van_herk = 2 * window_depth * min(stride_rows, window_rows) + 1
    reason = (
        f"window rows {window_rows} at stride {stride_rows}: van Herk combines {van_herk} "
        f"input rows per output row, separable {separable}"
    )
    method, rows = ("van_herk", van_herk) if van_herk < separable else ("separable", separable)
    # Estimated element operations: row combines, then pooling along the rows.
    row_axis = geometry.axes[-1]
    out_size = math.prod(geometry.out_shape)
    out_rows = out_size // max(1, geometry.out_shape[row_axis])
    if kernels.row_uses_doubling.py_func(window_cols, stride_cols):
        along_row = stride_cols * (window_cols.bit_length() - 1) + 2
    else:
        along_row = window_cols
    work = out_rows * shape[row_axis] * rows + out_size * along_row
    return MethodChoice(method, reason, work)


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
    out : ndarray, optional
        Array of the output shape and result dtype to write into (not with
        a Dask array: store its result with ``dask.array.store``).
    impl : {"numba", "python", "strided"}
        As in :func:`pool`.
    method : {"auto", "direct", "rows", "fft"}
        ``"direct"``: the textbook loop, one multiply-add per kernel element
        per output. ``"rows"``: the same sum, term for term and in the same
        order, so bitwise the same result, with the loop over output
        columns innermost, so that it compiles to packed SIMD instructions.
        ``"fft"``: overlap-save with ``scipy.fft`` on tiles of 256 x 256
        (see :mod:`windowkit._fft`), about ``log2(tile)`` operations per
        input element whatever the kernel, computed at stride 1; float and
        complex data only (an integer result would lose its exactness),
        within ``10 * eps * log2(tile elements) * max|x| * sum|kernel|``
        of the direct sum per output; data holding a NaN or an infinity,
        which a transform would spread over its tile, runs ``"rows"``
        instead.
        ``"auto"`` runs ``"fft"`` for float data of at least 2**16
        elements when the direct sum would take at least 256 multiply-adds
        per input element (a 16 x 16 kernel at stride 1), else ``"rows"``;
        :func:`choose_method` says which and why.

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
    if _dask.is_dask_array(x):
        _dask.check_input(x, out)
        kernel = v.as_kernel_array(kernel)
        geometry = v.geometry(x.shape, kernel.shape, stride, axes)
        result_dtype = v.correlate_dtype(x.dtype, kernel.dtype)
        method = _correlate_method(method, x.shape, geometry, result_dtype)
        return _dask.windowed(
            x, geometry, result_dtype,
            convolve if flip else correlate, geometry.stride,
            kernel=kernel, stride=geometry.stride, axes=geometry.axes, impl=impl, method=method,
        )
    x = v.as_input_array(x)
    kernel = v.as_kernel_array(kernel)
    geometry = v.geometry(x.shape, kernel.shape, stride, axes)
    result_dtype = v.correlate_dtype(x.dtype, kernel.dtype)
    method = _correlate_method(method, x.shape, geometry, result_dtype)
    out = v.prepare_out(out, geometry.out_shape, result_dtype, x, kernel)

    # Small (kernel-sized) copy: flipped or conjugated, in the dtype to sum in.
    weights = np.flip(kernel) if flip else np.conj(kernel)
    weights = weights.astype(v.accumulator_dtype(result_dtype))
    if impl == "strided":
        return strided.correlate(strided.window_view(x, geometry), weights, out)

    weights = weights.reshape(_pad3(weights.shape, 1))
    if method == "direct":
        zero = weights.dtype.type(0)
        _run_loops(kernels.correlate, x, (weights, zero), geometry, out, impl)
    elif method == "fft":
        _run_loops(_FFTLoop, x, (weights,), geometry, out, impl)
    else:
        _run_loops(_ROWS, x, (weights,), geometry, out, impl)
    return out


# A task kernel has one copy per reduction; correlation uses none.
_ROWS = kernels.correlate_rows[kernels.SUM]


def _correlate_method(method, shape, geometry, result_dtype):
    """``method`` with "auto" resolved; "fft" refused for integer and bool results."""
    if method == "auto":
        return _choose_correlate_method(shape, geometry, result_dtype).method
    if method == "fft" and result_dtype.kind not in "fc":
        raise TypeError(
            f"method='fft' needs float or complex data, got a {result_dtype} result: a "
            "transform rounds, and the exact integer sum would be lost; use method='rows'"
        )
    return method


class _FFTLoop:
    """``method="fft"`` in the form :func:`_run_loops` runs: by transforms,
    or by the rows loop when the data is not finite."""

    @staticmethod
    def run(x4, weights, stride, out4, *, impl, work):
        big = x4.size >= _compile.TASK_PARALLEL_MIN_WORK
        n_threads = numba.get_num_threads() if big else 1
        pool = _compile._thread_pool() if n_threads > 1 else None
        if not _fft.correlate(x4, weights, stride, out4, n_threads, pool):
            _ROWS.run(x4, weights, stride, out4, impl=impl, work=work)


def _pad3(values, fill):
    """Pad a 1- or 2-entry window description to 3 entries at the front."""
    return (fill,) * (3 - len(values)) + tuple(values)


def _run_loops(loop, x, args, geometry, out, impl, divide_by=None):
    """Run ``loop(x4, args[0], stride, *args[1:], out4)`` over 4-D views of x and out.

    The windowed axes are moved last and the batch axes folded into one
    without copying; see :mod:`windowkit.kernels` for the 4-D form.
    ``divide_by`` turns sums into means before any rounding to float16.
    """
    # Data the compiled loops cannot take as it is: convert (a copy).
    if not _numba_computes_on(x.dtype):
        native = x.dtype.newbyteorder("=")
        x = x.astype(np.float32 if native == np.float16 else native)
    # Numba has no float16: compute into float32, then round once at the end.
    target = np.empty(out.shape, np.float32) if out.dtype == np.float16 else out

    n_window_dims = len(geometry.axes)
    window_last = _last_axes(x.ndim, n_window_dims)
    if geometry.axes == window_last:
        x_moved, target_moved = x, target  # the common case: skip moveaxis' checks
    else:
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


def _numba_computes_on(dtype):
    """Whether the compiled loops take ``dtype`` as it is: Numba computes on
    neither float16 nor byte-swapped data."""
    return dtype.char != "e" and dtype.isnative


def _last_axes(ndim, n_window_dims):
    """The last ``n_window_dims`` axes of an array of ``ndim`` dimensions."""
    return tuple(range(ndim - n_window_dims, ndim))


def _folded_shape(shape, n_window_dims):
    """``shape`` (batch axes, then windowed axes) as (batch, depth, rows, cols)."""
    batch = math.prod(shape[: len(shape) - n_window_dims])
    return (batch,) + _pad3(shape[len(shape) - n_window_dims :], 1)


def _folded(a, n_window_dims):
    """View ``a`` (batch axes, then windowed axes) as (batch, depth, rows, cols)."""
    return a.reshape(_folded_shape(a.shape, n_window_dims), copy=False)


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
