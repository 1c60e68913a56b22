"""The one path from a call's arguments to its loop, and the cache of its result.

A :class:`Plan` is everything a call needs decided for inputs of one shape,
strides and dtype: the validated geometry, the result dtype, the method
(``"auto"`` resolved by :mod:`windowkit._methods`), the loop and its
arguments, the staging of data the compiled loops cannot take as it is
(float16, byte-swapped, unaligned), the moved axes and 4-D folding, and
whether threads pay. Building a plan raises every argument error; running
it checks ``out=`` and computes.

:func:`pool` keeps the plans it builds for plain arguments, so a repeated
call only allocates its output and runs the loop: the cache holds this one
path's result, nothing else. Correlation plans are built per call (a
kernel is an array, not a key).

This module knows nothing of :mod:`windowkit._api` or Dask.
"""

import functools
import math

import numba
import numpy as np

from . import _methods, strided
from . import _validation as v
from .kernels import (
    BLOCK_MAX,
    MAX,
    MIN,
    NANMAX,
    NANMIN,
    PIXEL_CHANNELS_MAX,
    SUM,
    UINT8_COUNTS_MAX,
    block_pool,
    correlate_rows,
    extreme_2x2_pool,
    held_sum_pool,
    held_van_herk_pool,
    padded_correlate_rows,
    padded_separable_pool,
    row_uses_doubling,
    separable_pool,
    van_herk_pool,
)
from .kernels import direct, fft
from .kernels.correlate_rows import FULL_ROW_STRIDE_MAX
from .kernels._jit import Loop, rows_contiguous, run_tasks, thread_pool

_REDUCE_CODES = {"max": MAX, "min": MIN, "sum": SUM, "mean": SUM}


class Plan:
    """One call worked out for inputs of one shape, strides and dtype."""

    __slots__ = ("out_shape", "dtype", "others", "impl", "reference", "loop", "args", "stage",
                 "compute", "parts", "axes", "order", "inverse", "follow_layout", "target_shape",
                 "divide_by", "threaded", "x_shape4", "target_shape4", "prepared", "interleaved",
                 "choice", "moved", "reversed", "plain")

    def __call__(self, x, out=None, others=None):
        """Compute into ``out`` (checked, also against overlapping ``others``,
        the call's other inputs: by default the plan's) or a new array, and
        return it."""
        new = out is None
        if new and x.flags.aligned and self._is_plain():
            # The common call in fewest steps (a few us of a small input's
            # call): a new C-ordered output the loop writes directly.
            out = np.empty(self.out_shape, self.dtype)
            self._run(x, out, numba.get_num_threads() if self.threaded else 1)
            if self.divide_by is not None:
                np.divide(out, np.intp(self.divide_by), out=out)
            return out
        if new and self.follow_layout:
            # Laid out as x is (numpy's order="K"): the loops write it in place.
            out = np.empty(self.target_shape, self.dtype).transpose(self.inverse)
        else:
            out = v.prepare_out(out, self.out_shape, self.dtype, x,
                                *(self.others if others is None else others))
        if self.reference is not None:  # impl="strided"
            return self.reference(x, out)
        result = out
        if self.reversed is not None:
            # Axes of negative stride turned around (see reversed_axes). A
            # new output is returned reversed along them as x is, so the
            # loops write it forwards; a given one is written reversed.
            x_index, out_index = self.reversed
            x = x[x_index]
            if new:
                result = out[out_index]
            else:
                out = out[out_index]
        if self.stage is not None:
            x = x.astype(self.stage)
        elif not x.flags.aligned:
            x = x.copy(order="K")  # keeps the layout the plan was made for
        # The loops take the batch axes first, then the windowed ones, and
        # write their output in that order, in place if its rows are
        # contiguous (see Loop.entry), else through a temporary; so is an
        # interleaved one unless it is C-contiguous (see interleaved_channels).
        if self.moved:
            x = x.transpose(self.order)
        out_view = out.transpose(self.order) if self.moved else out
        direct_out = out_view.dtype == self.compute and (
            out_view.flags.c_contiguous or (rows_contiguous(out_view) and not self.interleaved))
        target = out_view if direct_out else np.empty(self.target_shape, self.compute)
        n_threads = numba.get_num_threads() if self.threaded else 1
        if self.parts:
            # Sums are linear: pool the real and imaginary parts as float
            # arrays, so the fast loops need no complex code.
            for part in ("real", "imag"):
                part_target = np.empty(self.target_shape, target.real.dtype)
                self._run(getattr(x, part), part_target, n_threads)
                getattr(target, part)[...] = part_target
        else:
            self._run(x, target, n_threads)
        if self.divide_by is not None:
            # As np.mean: dividing by an intp count computes complex64 and
            # float32 means in double precision, then rounds once.
            np.divide(target, np.intp(self.divide_by), out=target)
        if target is not out_view:
            out_view[...] = target
        return result

    def _is_plain(self):
        """Whether a call with a new output and an aligned input needs none of
        ``__call__``'s steps around the loop: no reference, reversal,
        staging, moved axes, complex parts or intermediate target."""
        if self.plain is None:
            self.plain = (self.reference is None and self.reversed is None
                          and self.stage is None and not self.moved and not self.parts
                          and self.compute == self.dtype)
        return self.plain

    def _run(self, x, target, n_threads):
        """The loop over 4-D views of ``x`` and ``target`` (see :mod:`windowkit.kernels.direct`)."""
        try:
            x4 = x.reshape(self.x_shape4, copy=False)
            out4 = target.reshape(self.target_shape4, copy=False)
        except ValueError:
            if self.interleaved:  # planned to fold (see interleaved_channels)
                raise
            # Batch axes that do not fold without a copy: one pair for each
            # index of the leading ones, leaving a single batch axis.
            n_window_dims = len(self.axes)
            leading = x.shape[: x.ndim - n_window_dims - 1]
            for index in np.ndindex(leading):
                self._run4(folded(x[index], n_window_dims), folded(target[index], n_window_dims),
                           n_threads)
            return
        self._run4(x4, out4, n_threads)

    def _run4(self, x4, out4, n_threads):
        """The loop over one pair of 4-D views, on ``n_threads`` threads."""
        if not (rows_contiguous(x4) or getattr(self.loop, "strided_rows", False)):
            # Rows of strided elements (x[:, ::2], a residue class of a
            # dilated axis, a small batch axis fastest in memory): the row
            # loops take only contiguous rows (see Loop.entry); the block
            # loops index planes and read such a view in place (max 2/2 on
            # 2048² float32 x[:, ::2]: the copy had cost 1.7x).
            x4 = np.ascontiguousarray(x4)
        args = (x4,) + self.args
        if not isinstance(self.loop, Loop):
            self.loop.run(args, out4, n_threads, self.impl)
            return
        # The dtype is the plan's; the compiled copy depends on the layouts
        # (an unaligned input's aligned copy can be C-contiguous where the
        # plan's first input was not), the task count on the shape (an
        # out= that does not fold is run in pieces, see _run).
        layout = (x4.flags.c_contiguous and out4.flags.c_contiguous, out4.shape)
        prepared = self.prepared.get(layout)
        if prepared is None:
            prepared = self.prepared[layout] = self.loop.prepare(args, out4, self.impl)
        function, n_tasks = prepared
        if n_threads == 1 or self.impl == "python":
            function(*args, 0, n_tasks, out4)
        else:
            run_tasks(function, args, out4, n_tasks, n_threads)


def _new_plan(shape, geometry, dtype, impl, order=None, others=()):
    """A plan's shapes and axis order; ``order`` from :func:`in_memory_order`
    (None: the default order)."""
    plan = Plan()
    plan.out_shape = geometry.out_shape
    plan.dtype = dtype
    plan.others = others
    plan.impl = impl
    plan.reference = None
    plan.axes = geometry.axes
    plan.order = order or default_order(len(shape), geometry.axes)
    plan.moved = plan.order != tuple(range(len(shape)))
    plan.inverse = tuple(int(axis) for axis in np.argsort(plan.order))
    plan.follow_layout = order is not None
    plan.target_shape = tuple(geometry.out_shape[axis] for axis in plan.order)
    plan.target_shape4 = folded_shape(plan.target_shape, len(geometry.axes))
    plan.x_shape4 = folded_shape(tuple(shape[axis] for axis in plan.order), len(geometry.axes))
    plan.prepared = {}
    plan.parts = False
    plan.divide_by = None
    plan.interleaved = False
    plan.choice = None
    plan.reversed = None
    plan.plain = None
    return plan


def layout(plan, shape, given_axes):
    """How ``plan``'s loops take an input of ``shape`` whose windowed axes
    the caller gave as ``given_axes``, in words (:func:`windowkit.choose_method`)."""
    turned = "" if plan.reversed is None else "axes {} reversed to run forwards; ".format(
        tuple(axis for axis, index in enumerate(plan.reversed[1]) if index.step == -1))
    return turned + _order_in_words(plan, shape, given_axes)


def _order_in_words(plan, shape, given_axes):
    if plan.interleaved:
        row, channels = plan.order[-2], plan.order[-1]
        return (f"interleaved channels: axis {row} and the {shape[channels]} channels of "
                f"axis {channels} as one row")
    if len(plan.axes) > len(given_axes):
        channels = plan.axes[-1]
        return f"channels as rows: the {shape[channels]} channels of axis {channels} as the row"
    if plan.follow_layout:
        return f"memory order: the axes {plan.order}, slowest first"
    return f"the axes' order: the batch axes, then the windowed axes {tuple(given_axes)}"


def default_order(ndim, axes):
    """The batch axes in their order, then the windowed ones in the caller's."""
    return tuple(axis for axis in range(ndim) if axis not in axes) + tuple(axes)


def _paces(shape, strides):
    """``(pace, by_pace)``: an axis's step in memory (axes of length 1 or
    stride 0 say nothing about the layout and count as the slowest), and
    axes sorted by it, slowest first (stable: ties keep their order)."""

    def pace(axis):
        return math.inf if shape[axis] == 1 or strides[axis] == 0 else abs(strides[axis])

    return pace, functools.partial(sorted, key=pace, reverse=True)


def in_memory_order(geometry, shape, strides):
    """``(geometry, order)``: ``geometry`` with its windowed axes in the
    order the loops run them, and the order of every axis (None: the default).

    The loops read along their last axis. When every windowed axis varies
    faster in memory than every batch axis (Fortran order, a transposed
    view), both kinds are taken in memory order, slowest first, so that the
    loops read rows along memory and a contiguous input stays contiguous.
    When instead one batch axis of at least ``CHANNELS_MIN`` elements varies
    fastest, ahead of one or two windowed axes that vary faster than the
    other batch axes (channels last, NHWC), it is added as the last windowed
    axis with a window and stride of 1, so that the loops combine runs of
    channels. Otherwise (or for a Dask block, ``strides=None``) the batch
    axes keep their order and the windowed axes the caller's. Axes of length
    1 or stride 0 say nothing about the layout and count as the slowest.
    The fast pooling loops take :func:`interleaved_channels` instead where
    it applies.
    """
    order = default_order(len(shape), geometry.axes)
    if strides is None:
        return geometry, None

    pace, by_pace = _paces(shape, strides)
    batch = order[: len(order) - len(geometry.axes)]
    window_paces = [pace(axis) for axis in geometry.axes if pace(axis) < math.inf]
    if not window_paces:
        return geometry, None
    channels = []
    if max(window_paces) >= min(map(pace, batch), default=math.inf):
        # A batch axis varies faster than a windowed one: channels last?
        *slower, fastest = by_pace(batch)
        if not (len(geometry.axes) < 3 and shape[fastest] >= _methods.CHANNELS_MIN
                and pace(fastest) < min(window_paces)
                and max(window_paces) < min(map(pace, slower), default=math.inf)):
            return geometry, None
        channels = [fastest]
    others = [axis for axis in batch if axis not in channels]
    memory = tuple(by_pace(others)) + tuple(by_pace(geometry.axes)) + tuple(channels)
    if memory == order:
        return geometry, None  # C order already
    position = [geometry.axes.index(axis) for axis in memory[len(others):] if axis not in channels]
    ones = (1,) * len(channels)
    return v.Geometry(tuple(geometry.axes[j] for j in position) + tuple(channels),
                      tuple(geometry.window[j] for j in position) + ones,
                      tuple(geometry.stride[j] for j in position) + ones,
                      geometry.out_shape), memory


def reversed_axes(geometry, shape, strides):
    """``(shape, strides, reversed)`` for an input whose axes of
    negative stride are turned around, or None if it has none.

    Reversed, such an axis reads forwards in memory, so a C array viewed
    backwards runs the C-contiguous loops (on the strided view they ran 2-4x
    slower). ``reversed`` holds the index of ``x`` and of the output that
    turn them: along a windowed axis of length ``n``, with window ``w`` and
    stride ``s``, the reversed input starts ``(n - w) % s`` elements in, so
    that its windows are the original ones, in reverse order (the output is
    reversed along every turned axis). ``shape`` is the reversed view's
    (``geometry`` holds for it too), ``strides`` are positive. Max and min
    are unchanged; a window's sum adds its elements in reverse order along
    those axes.
    """
    if strides is None:
        return None
    turned = [axis for axis in range(len(shape)) if strides[axis] < 0 and shape[axis] > 1]
    if not turned:
        return None
    x_index = [slice(None)] * len(shape)
    out_index = [slice(None)] * len(shape)
    shape = list(shape)
    for axis in turned:
        out_index[axis] = slice(None, None, -1)
        start = 0
        if axis in geometry.axes:
            j = geometry.axes.index(axis)
            start = (shape[axis] - geometry.window[j]) % geometry.stride[j]
        x_index[axis] = slice(shape[axis] - 1 - start, None, -1)
        shape[axis] -= start
    return tuple(shape), tuple(abs(step) for step in strides), (tuple(x_index), tuple(out_index))


def interleaved_channels(geometry, shape, strides, stride_channels_max=0):
    """``(geometry, order, step)`` for pooling or correlating a channels-last
    input along its interleaved rows, or None.

    When the fastest axis in memory is a batch axis (channels: an RGB
    image, NHWC feature maps) right after the fastest windowed axis, which
    the window crosses at a stride of 1, the two are one row to the loops:
    a window's columns are ``step`` (the channel count) elements apart, and
    the outputs of a row, channels interleaved, are contiguous too. Every
    loop then runs along memory at unit stride, where the strided view in
    the caller's order loads with the channel count as stride. ``geometry``
    is that of :func:`in_memory_order`'s channels (a window and stride of 1
    on the channel axis, last) and ``order`` takes the other batch axes
    first, then the windowed axes, slowest first, then the channels; the
    other batch axes must fold into one and the row axes merge without a
    copy. Up to ``stride_channels_max`` channels, and at any count for
    pixels side by side (block windows, up to ``BLOCK_MAX``), the window
    may cross the row at any stride: the separable loop then pools the
    row at stride 1 and picks the strided outputs' pixels, the rows
    correlation loop sums every pixel and keeps the strided ones.
    """
    if strides is None or len(geometry.axes) > 3:
        return None

    pace, by_pace = _paces(shape, strides)
    batch = [axis for axis in range(len(shape)) if axis not in geometry.axes]
    if not batch or min(map(pace, batch)) == math.inf:
        return None
    channels = min(batch, key=pace)
    others = by_pace(axis for axis in batch if axis != channels)
    windowed = by_pace(geometry.axes)
    last = windowed[-1]
    if pace(last) == math.inf:
        return None
    window_cols, stride_cols = (geometry.window[geometry.axes.index(last)],
                                geometry.stride[geometry.axes.index(last)])
    if stride_cols != 1 and not (stride_channels_max and (
            shape[channels] <= stride_channels_max or window_cols == stride_cols <= BLOCK_MAX)):
        return None
    # The row (last windowed axis, then the channels) and the other batch
    # axes must each be one run of memory.
    for slow, fast in list(zip(others, others[1:])) + [(last, channels)]:
        if shape[slow] > 1 and shape[fast] > 1 and strides[slow] != shape[fast] * strides[fast]:
            return None
    position = [geometry.axes.index(axis) for axis in windowed]
    return v.Geometry(tuple(windowed) + (channels,),
                      tuple(geometry.window[j] for j in position) + (1,),
                      tuple(geometry.stride[j] for j in position) + (1,),
                      geometry.out_shape), tuple(others) + tuple(windowed) + (channels,), \
        shape[channels]


def _staging(dtype, impl):
    """The dtype ``x`` is converted to before the loops run, or None.

    Numba computes on neither float16 (float32 then) nor byte-swapped data.
    """
    refuse_long_double(dtype, impl, "x")
    native = dtype.newbyteorder("=")
    if native == np.float16:
        return np.dtype(np.float32)
    return None if dtype.isnative else native


def refuse_long_double(dtype, impl, name):
    """Long doubles reach no compiled loop: Numba has no such type. The
    interpreted loops and the stride-trick reference compute in them."""
    if dtype.char in "gG" and impl == "numba":
        raise TypeError(
            f"{name} has dtype {dtype}, which Numba cannot compute in; convert it with "
            ".astype(np.float64) (or np.complex128), or use impl='strided' (or 'python'), "
            "which computes in it"
        )


def folded_shape(shape, n_window_dims):
    """``shape`` (batch axes, then windowed axes) as (batch, depth, rows, cols)."""
    batch = math.prod(shape[: len(shape) - n_window_dims])
    return (batch,) + _methods.pad3(shape[len(shape) - n_window_dims:], 1)


def folded(a, n_window_dims):
    """View ``a`` (batch axes, then windowed axes) as (batch, depth, rows, cols)."""
    return a.reshape(folded_shape(a.shape, n_window_dims), copy=False)


# -- pooling --------------------------------------------------------------------

# Plans by (shape, strides, dtype, window, stride, axes, reduce, method,
# impl). Past this many plans, the cache starts again.
_PLANS = {}
MAX_PLANS = 256


def pool(x, window, stride, axes, reduce, method, impl, out=None, memory_order=True,
         skip_nan=False, min_count=1):
    """Pool ``x`` (an array-like, not Dask): the plan for it, run.

    ``memory_order=False`` keeps the axes' order whatever the layout (see
    :func:`in_memory_order`); ``skip_nan`` and ``min_count``: see
    :func:`pool_plan`.
    """
    if type(x) is np.ndarray and _plain_args((window, stride, axes, min_count),
                                             (reduce, method, impl)):
        key = (x.shape, x.strides, x.dtype, window, stride, axes, reduce, method, impl,
               memory_order, skip_nan, min_count)
        return _cached_plan(_PLANS, key, lambda: pool_plan(
            x.shape, x.dtype, window, stride, axes, reduce, method, impl,
            x.strides if memory_order else None, skip_nan, min_count))(x, out)
    x = v.as_input_array(x)
    strides = x.strides if memory_order else None
    return pool_plan(x.shape, x.dtype, window, stride, axes, reduce, method, impl, strides,
                     skip_nan, min_count)(x, out)


def _plain_args(ints, strings):
    """Whether the arguments compare equal exactly when they mean the same:
    ``ints`` plain ints, tuples of them or None (``2.0 == 2`` and ``True ==
    1``, but neither is a valid window), ``strings`` strings."""
    for value in ints:
        if not v.plain(value):
            return False
    for value in strings:
        if type(value) is not str:
            return False
    return True


def _cached_plan(cache, key, make):
    """The plan in ``cache`` under ``key``, made by ``make()`` the first
    time; past MAX_PLANS plans the cache starts again."""
    plan = cache.get(key)
    if plan is None:
        plan = make()
        if len(cache) >= MAX_PLANS:
            cache.clear()
        cache[key] = plan
    return plan


def pool_plan(shape, dtype, window, stride, axes, reduce, method, impl, strides=None,
              skip_nan=False, min_count=1):
    """The :class:`Plan` for pooling arrays of ``shape``, ``dtype`` and
    ``strides`` (None: the axes' order, see :func:`in_memory_order`).

    ``skip_nan``: real floats skip NaN, in the fast loops only (not with
    ``method="direct"`` or ``impl="strided"``, whose loops propagate NaN:
    ValueError). Max and min are NaN only for a window of NaN (NANMAX,
    NANMIN, by any fast method); sums and means take the separable or van
    Herk loop (as the method says, or ``"auto"`` picks) that counts each
    window's values (:func:`held_sum_pool`, :func:`held_van_herk_pool`),
    NaN where there are fewer than ``min_count``, for windows below
    ``2**24`` elements (ValueError otherwise). Integers hold no NaN:
    ``skip_nan`` changes nothing for them.
    """
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.POOL_METHODS)
    v.check_dtype(dtype)
    geometry = v.geometry(shape, window, stride, axes, default_stride="window")
    result = v.pool_dtype(reduce, dtype)
    if skip_nan and dtype.kind == "c":
        raise ValueError("the NaN-skipping loops take real floats, not complex ones")
    skip_nan = skip_nan and dtype.kind == "f"
    if skip_nan and (impl == "strided" or method == "direct"):
        raise ValueError("the NaN-skipping loops are fast loops only")
    counted = skip_nan and reduce in ("sum", "mean")
    if counted:
        if not held_counts_exact(result, math.prod(geometry.window)):
            raise ValueError("the counting loop's float32 counts would not be exact: "
                             f"windows of {math.prod(geometry.window)} elements")
    if impl == "strided":
        plan = _new_plan(shape, geometry, result, impl)
        plan.reference = lambda x, out: strided.pool(strided.window_view(x, geometry), reduce, out)
        return plan
    turned = reversed_axes(geometry, shape, strides)
    if turned is not None:
        shape, strides, reversal = turned
    given = geometry
    geometry, order = in_memory_order(geometry, shape, strides)
    choice = None
    if method == "auto":
        choice = _methods.choose_pool_method(shape, geometry, reduce, dtype.kind)
        method = choice.method
    work = _methods.pool_work(shape, geometry, method, reduce)
    # At column strides above 1 only the separable loop takes interleaved
    # channels, max and min up to more of them than sums.
    stride_channels_max = 0
    if method == "separable" and not counted:
        stride_channels_max = (_methods.PIXELS_EXTREME_CHANNELS_MAX if reduce in ("max", "min")
                               else _methods.CHANNELS_MIN - 1)
    interleaved = None if method == "direct" else interleaved_channels(
        given, shape, strides, stride_channels_max)
    step = 1
    if interleaved is not None:
        geometry, order, step = interleaved
    plan = _new_plan(shape, geometry, result, impl, order)
    plan.reversed = None if turned is None else reversal
    plan.choice = choice
    plan.stage = _staging(dtype, impl)
    plan.compute = v.accumulator_dtype(result)
    plan.threaded = _methods.threaded(work, geometry, plan.compute,
                                      math.prod(shape) * dtype.itemsize)
    count = math.prod(geometry.window) if reduce == "mean" else None
    window3 = _methods.pad3(geometry.window, 1)
    stride3 = _methods.pad3(geometry.stride, 1)
    if interleaved is not None:
        # The channels join the last windowed axis in one row (4-D views
        # made without a copy, see interleaved_channels).
        window3 = _methods.pad3(geometry.window[:-1], 1)
        stride3 = _methods.pad3(geometry.stride[:-1], 1)
        in_order = tuple(shape[axis] for axis in plan.order)
        plan.x_shape4 = _interleaved_shape(in_order, len(geometry.axes))
        plan.target_shape4 = _interleaved_shape(plan.target_shape, len(geometry.axes))
        plan.interleaved = True
    if method == "direct":
        if reduce in ("max", "min"):
            plan.loop, plan.args = direct.extreme_pool, (window3, stride3, reduce == "max")
        else:
            plan.loop, plan.args = direct.sum_pool, (window3, stride3, plan.compute.type(0))
            plan.divide_by = count
        return plan
    # The fast loops divide sums into means themselves (0: no division),
    # except complex ones, pooled part by part and divided as complex numbers.
    plan.parts = plan.compute.kind == "c"
    if plan.parts:
        plan.divide_by, count = count, None
    if counted:
        # The separable or van Herk loop that counts (block windows too
        # take the separable one).
        counting = held_van_herk_pool if method == "van_herk" else held_sum_pool
        size = math.prod(window3)
        plan.loop = counting(row_uses_doubling(window3[2], stride3[2]), size <= UINT8_COUNTS_MAX)
        # No window holds more than size values: a larger min_count says
        # what size + 1 does, and fits the counts' dtype.
        plan.args = (window3, stride3, np.intp(step), reduce == "mean",
                     np.intp(min(min_count, size + 1)))
        return plan
    code = _REDUCE_CODES[reduce]
    if skip_nan:
        code = NANMAX if reduce == "max" else NANMIN
    plan.loop = fast_pool_loop(method, code, window3, stride3, plan.compute,
                               plan.target_shape4[-1], step if stride3[2] > 1 else 1)
    plan.args = (window3, stride3, np.intp(step), np.intp(count or 0))
    return plan


def held_counts_exact(result_dtype, window_size):
    """Whether :func:`held_sum_pool` takes a real float ``result_dtype``
    and counts windows of ``window_size`` exactly: its float32 counts are
    sums of ones, exact below ``2**24``."""
    return result_dtype.kind == "f" and window_size < 2 ** 24


def _interleaved_shape(shape, n_window_dims):
    """:func:`folded_shape` with the last two axes (the last windowed one and
    the channels) as one."""
    return folded_shape(shape[:-2] + (shape[-2] * shape[-1],), n_window_dims - 1)


def fast_pool_loop(method, code, window3, stride3, dtype, out_cols, pixel=1):
    """The compiled copy of ``method`` ("separable" or "van_herk") for this
    reduction code and window, on ``dtype`` into rows of ``out_cols``;
    ``pixel`` > 1: that many channels interleaved, at a column stride
    above 1 (see :func:`interleaved_channels`): pixels side by side take
    block_pool, and the separable loop otherwise pools the row at
    stride 1 and picks the outputs' pixels."""
    block, stride_cols = window3[2], stride3[2]
    if pixel > 1 and block == stride_cols <= BLOCK_MAX:
        return block_pool(code, block, pixel if pixel <= PIXEL_CHANNELS_MAX else 0)
    if pixel > 1:
        return separable_pool(code, row_uses_doubling(block, 1),
                              code != SUM and dtype.kind in "biu", pixels=True)
    # Float max and min one column wide take the separable loop's
    # out-of-place row passes on long rows (see _methods).
    in_place_slow = (block == 1 and code != SUM and dtype.kind == "f"
                     and out_cols >= _methods.SEPARABLE_FLOAT_EXTREME_MIN_COLS)
    if method == "separable" and block == stride_cols <= BLOCK_MAX and not in_place_slow:
        # Windows side by side along the rows: reduced in registers.
        if window3 == (1, 2, 2) and code != SUM:
            return extreme_2x2_pool(code)
        return block_pool(code, block)
    doubling = row_uses_doubling(block, stride_cols)
    in_place = code != SUM and dtype.kind in "biu"
    if method == "van_herk":
        return van_herk_pool(code, doubling, in_place)
    return separable_pool(code, doubling, in_place)


# -- correlation ----------------------------------------------------------------


# Plans by the pooling key's entries and the kernel's shape, dtype and
# bytes (its values are in the plan), for kernels of at most this many
# elements: building a plan took 50-100 us, a third of correlating a 512²
# image with a 3x3 kernel.
_CORRELATE_PLANS = {}
CACHED_KERNEL_MAX = 1 << 12


def correlate(x, kernel, stride, axes, method, impl, flip, out=None, memory_order=True):
    """Correlate (``flip``: convolve) ``x`` (an array-like, not Dask) with ``kernel``."""
    x = v.as_input_array(x)
    kernel = v.as_kernel_array(kernel)
    strides = x.strides if memory_order else None
    def make():
        return correlate_plan(x.shape, x.dtype, kernel, stride, axes, method, impl, flip,
                              strides)

    if not (kernel.size <= CACHED_KERNEL_MAX and _plain_args((stride, axes), (method, impl))):
        return make()(x, out)
    key = (x.shape, x.strides, x.dtype, kernel.shape, kernel.dtype, kernel.tobytes(), stride,
           axes, method, impl, flip, memory_order)
    return _cached_plan(_CORRELATE_PLANS, key, make)(x, out, (kernel,))


def correlate_plan(shape, dtype, kernel, stride, axes, method, impl, flip, strides=None):
    """The :class:`Plan` for correlating arrays of ``shape``, ``dtype`` and
    ``strides`` with ``kernel`` (see :func:`pool_plan`)."""
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.CORRELATE_METHODS)
    geometry = v.geometry(shape, kernel.shape, stride, axes, name="kernel")
    result = v.correlate_dtype(dtype, kernel.dtype)
    method = correlate_method(method, shape, geometry, result)
    # Small (kernel-sized) copy: flipped or conjugated, in the dtype to sum in.
    weights = np.flip(kernel) if flip else np.conj(kernel)
    weights = weights.astype(v.accumulator_dtype(result))
    if impl == "strided":
        plan = _new_plan(shape, geometry, result, impl, others=(kernel,))
        plan.reference = lambda x, out: strided.correlate(strided.window_view(x, geometry),
                                                          weights, out)
        return plan
    turned = reversed_axes(geometry, shape, strides)
    if turned is not None:
        # The kernel turned with the input along the windowed axes.
        shape, strides, reversal = turned
        weights = weights[tuple(reversal[1][axis] for axis in geometry.axes)]
    given_axes = geometry.axes
    # The rows loop runs along interleaved channels (at column strides it
    # sums at every column, see correlate_rows); other loops, in memory order.
    interleaved = None if method != "rows" else interleaved_channels(
        geometry, shape, strides, stride_channels_max=_methods.CHANNELS_MIN - 1)
    if interleaved is not None and interleaved[0].stride[-2] > FULL_ROW_STRIDE_MAX:
        interleaved = None
    step = 1
    if interleaved is not None:
        geometry, order, step = interleaved
    else:
        geometry, order = in_memory_order(geometry, shape, strides)
    weights = weights.transpose([given_axes.index(axis) for axis in geometry.axes
                                 if axis in given_axes])
    # A channel axis taken as windowed (see in_memory_order) has weight 1.
    weights = weights.reshape(weights.shape + (1,) * (len(geometry.axes) - len(given_axes)))
    plan = _new_plan(shape, geometry, result, impl, order, others=(kernel,))
    plan.reversed = None if turned is None else reversal
    plan.stage = _staging(dtype, impl)
    refuse_long_double(result, impl, "the result")  # a long double kernel
    plan.compute = weights.dtype
    stride3 = _methods.pad3(geometry.stride, 1)
    if interleaved is not None:
        # The channels join the last windowed axis in one row, as in pool_plan.
        weights = weights[..., 0]
        stride3 = _methods.pad3(geometry.stride[:-1], 1)
        plan.x_shape4 = _interleaved_shape(tuple(shape[axis] for axis in plan.order),
                                           len(geometry.axes))
        plan.target_shape4 = _interleaved_shape(plan.target_shape, len(geometry.axes))
        plan.interleaved = True
    weights = np.ascontiguousarray(weights.reshape(_methods.pad3(weights.shape, 1)))
    work = _methods.correlate_work(shape, geometry, method)
    plan.threaded = _methods.threaded(work, geometry, plan.compute,
                                      math.prod(shape) * dtype.itemsize)
    if method == "direct":
        plan.loop, plan.args = direct.correlate, (weights, stride3, weights.dtype.type(0))
    elif method == "fft":
        plan.loop, plan.args = _FFT, (weights, stride3)
    else:
        plan.loop, plan.args = correlate_rows, (weights, stride3, np.intp(step))
    return plan


def padded_rows_plan(shape, dtype, kernel, geometry, tables, cval, impl, flip):
    """The :class:`Plan` that correlates (``flip``: convolves) beyond valid,
    undilated windows by :func:`~windowkit.kernels.padded_correlate_rows`,
    reading ``x`` in place, border and all. ``tables``: the index table of
    each windowed axis over the positions its outputs' windows span (see
    :func:`windowkit._padded.source_index`). The axes run in their default
    order."""
    result = v.correlate_dtype(dtype, kernel.dtype)
    plan = _new_plan(shape, geometry, result, impl, others=(kernel,))
    plan.stage = _staging(dtype, impl)
    weights = np.flip(kernel) if flip else np.conj(kernel)
    weights = np.ascontiguousarray(weights.astype(v.accumulator_dtype(result)).reshape(
        _methods.pad3(weights.shape, 1)))
    plan.compute = weights.dtype
    stride3 = _methods.pad3(geometry.stride, 1)
    # The sums along a row, as the loop indexes them, and those whose
    # windows lie wholly in x (see padded_correlate_rows).
    n, k, s = shape[geometry.axes[-1]], geometry.window[-1], geometry.stride[-1]
    before = geometry.padding[-1][0]
    out_cols = geometry.out_shape[geometry.axes[-1]]
    pace = 1 if 1 < s <= FULL_ROW_STRIDE_MAX else s
    n_sums = (out_cols - 1) * s + 1 if pace == 1 else out_cols
    lo = min(-(-before // pace), n_sums)
    hi = max(lo, min(n_sums, (before + n - k) // pace + 1))
    unpadded = (np.zeros(1, np.intp),) * (3 - len(tables))
    cval = (plan.stage or dtype.newbyteorder("=")).type(cval)
    plan.threaded = _methods.threaded(_methods.correlate_work(shape, geometry, "rows"), geometry,
                                      plan.compute, math.prod(shape) * dtype.itemsize)
    plan.loop = padded_correlate_rows
    plan.args = (weights, stride3, *unpadded, *tables, np.intp(lo), np.intp(hi),
                 np.intp(before), cval)
    return plan


def padded_separable_plan(shape, dtype, geometry, reduce, tables, cval, fill, counts, impl):
    """The :class:`Plan` that pools beyond valid, undilated windows by
    :func:`~windowkit.kernels.separable.padded_separable_pool`, reading
    ``x`` in place, border and all. ``tables``: the index table of each
    windowed axis over the positions its outputs' windows span (see
    :func:`windowkit._padded.source_index`); ``fill``: what a position
    with no element holds; ``counts``: for a mean, each window's element
    count along each windowed axis (None: the window's size). The axes
    run in their default order."""
    result = v.pool_dtype(reduce, dtype)
    plan = _new_plan(shape, geometry, result, impl)
    plan.stage = _staging(dtype, impl)
    plan.compute = v.accumulator_dtype(result)
    window3 = _methods.pad3(geometry.window, 1)
    stride3 = _methods.pad3(geometry.stride, 1)
    code = _REDUCE_CODES[reduce]
    plan.threaded = _methods.threaded(_methods.pool_work(shape, geometry, "separable", reduce),
                                      geometry, plan.compute, math.prod(shape) * dtype.itemsize)
    plan.loop = padded_separable_pool(code, row_uses_doubling(window3[2], stride3[2]),
                                      code != SUM and plan.compute.kind in "biu")
    unpadded = (np.zeros(1, np.intp),) * (3 - len(tables))
    if counts is None:
        divide_by = math.prod(geometry.window) if reduce == "mean" else 0
        counts = (np.ones(1, np.intp),) * 3
    else:
        divide_by = -1
        counts = (np.ones(1, np.intp),) * (3 - len(counts)) + tuple(counts)
    # Rows of cval and of fill as long as x's, read-only arguments as x is
    # (the loop reads them as it reads x's rows).
    n_cols = shape[geometry.axes[-1]]
    as_x = plan.stage or dtype.newbyteorder("=")
    plan.args = (window3, stride3, np.intp(1), *unpadded, *tables,
                 np.intp(geometry.padding[-1][0]), np.full(n_cols, cval, as_x),
                 np.full(n_cols, fill, as_x), np.intp(divide_by), *counts)
    return plan


# -- the textbook loops beyond valid windows ----------------------------------------


def padded_direct_plan(shape, dtype, geometry, op, mode, cval, impl, kernel=None, flip=False,
                       skip_nan=False, min_count=1):
    """The :class:`Plan` that runs the padded textbook loop of ``op`` (a
    reduction, or "correlate" with ``kernel``) over ``geometry``'s padding,
    dilation and ceil_mode: ``method="direct"``, the plainest form, reading
    ``x`` in place. The axes run in their default order. ``skip_nan``
    (reductions): NaN is no value, and a window of fewer than ``min_count``
    values gives NaN."""
    if kernel is None:
        result = v.pool_dtype(op, dtype)
    else:
        result = v.correlate_dtype(dtype, kernel.dtype)
    plan = _new_plan(shape, geometry, result, impl)
    plan.stage = _staging(dtype, impl)
    plan.compute = v.accumulator_dtype(result)
    window3 = _methods.pad3(geometry.window, 1)
    padding3 = _methods.pad3(geometry.padding, (0, 0))
    geometry_args = (_methods.pad3(geometry.stride, 1), _methods.pad3(geometry.dilation, 1),
                     tuple(before for before, _ in padding3),
                     tuple(after for _, after in padding3),
                     np.intp(direct.MODES.index(mode)),
                     (plan.stage or dtype.newbyteorder("=")).type(cval))
    work = math.prod(geometry.out_shape) * math.prod(window3)
    plan.threaded = _methods.threaded(work, geometry, plan.compute,
                                      math.prod(shape) * dtype.itemsize)
    if kernel is not None:
        weights = np.flip(kernel) if flip else np.conj(kernel)
        weights = np.ascontiguousarray(
            weights.astype(plan.compute).reshape(_methods.pad3(weights.shape, 1)))
        plan.loop = direct.padded_correlate
        plan.args = (weights,) + geometry_args + (plan.compute.type(0),)
    elif op in ("max", "min"):
        plan.loop = direct.padded_extreme_pool
        plan.args = (window3,) + geometry_args + (op == "max", skip_nan, np.intp(min_count))
    else:
        plan.loop = direct.padded_sum_pool
        plan.args = (window3,) + geometry_args + (plan.compute.type(0), op == "mean", skip_nan,
                                                  np.intp(min_count))
    return plan


def correlate_method(method, shape, geometry, result_dtype):
    """``method`` with "auto" resolved; "fft" refused for integer and bool results."""
    if method == "auto":
        return _methods.choose_correlate_method(shape, geometry, result_dtype).method
    if method == "fft" and result_dtype.kind not in "fc":
        raise TypeError(
            f"method='fft' needs float or complex data, got a {result_dtype} result: a "
            "transform rounds, and the exact integer sum would be lost; use method='rows'"
        )
    return method


class _FFT:
    """``method="fft"`` as a loop: by transforms, or by the rows loop when
    the data is not finite."""

    @staticmethod
    def run(args, out4, n_threads, impl):
        x4, weights, stride = args
        pool = thread_pool() if n_threads > 1 else None
        if not fft.correlate(x4, weights, stride, out4, n_threads, pool):
            correlate_rows.run(args + (np.intp(1),), out4, n_threads, impl)
