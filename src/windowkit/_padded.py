"""Windows beyond the valid ones: padding, boundary modes, dilation and ceil_mode.

Nothing here pads the input. Along each windowed axis the outputs split in
three ranges: those whose windows touch the padding before the input, the
interior ones, whose windows lie wholly inside it, and those that touch the
padding after it. The interior, all windowed axes at once, is the valid
operation on a slice of the input, run by the plan layer on the input in
place and written into the interior of the output. What is left is a frame
of border strips, peeled one windowed axis at a time: the strips along the
first axis span every output of the others, those along the second only
the interior range of the first, and so on. Each strip is computed from a
small piece of the padded input, gathered through one index table per axis
(:func:`source_index`): the ``(outputs - 1) * stride + extent`` positions
its windows span along each axis, sliced from the input where they all lie
in it.

Dilation needs no kernel of its own: along an axis of dilation ``d`` and
stride ``s``, the outputs ``o0, o0 + P, o0 + 2P, ...`` (``P = d / gcd(s,
d)``) read only the input elements of one residue class ``r = o0 * s mod
d``, so they are a valid, undilated operation on the view ``x[r::d]`` at
stride ``s / gcd(s, d)``, written into the slice ``out[o0::P]``
(:func:`dilated`).

``method="direct"`` runs none of this: the padded textbook loops of
:mod:`windowkit.kernels.direct` take the whole geometry, one window element
at a time, reading the input in place (the teaching reference).

``mode`` says what a padded position holds: ``"constant"`` (``cval``),
``"edge"``, ``"reflect"``, ``"symmetric"`` and ``"wrap"`` as ``np.pad``, and
for pools ``"ignore"``: no element at all, as is every position of a
``ceil_mode`` window past the padded end. Max and min fill those with the
value that never wins, sums with the one that adds nothing (``-0.0`` for
floats, so that a window of ``-0.0`` still sums to ``-0.0``), and a mean
divides the border's sums by how many elements each window holds.
"""

import functools
import itertools
import math

import numpy as np

from . import _methods, _plan
from . import _validation as v
from .kernels import BLOCK_MAX
from .kernels.rows import HOLDS_CVAL, HOLDS_NOTHING

# Index-table entries for padded positions that hold no input element.
CVAL, IGNORE = HOLDS_CVAL, HOLDS_NOTHING

# A border strip at most this many outputs long along the last windowed
# axis and at least LONG_ROW along another runs with that axis last (see
# long_rows).
SHORT_ROW, LONG_ROW = 4, 16


def source_index(positions, n, before, after, mode):
    """For padded positions (0 is the first element of the padding before),
    the input index each holds: ``CVAL`` for a constant, ``IGNORE`` for a
    position outside the window's elements (``"ignore"``, or past the
    padded end)."""
    i = np.asarray(positions, dtype=np.intp) - before
    inside = (i >= 0) & (i < n)
    past_end = i >= n + after
    if mode in ("constant", "ignore"):
        index = np.where(inside, i, CVAL if mode == "constant" else IGNORE)
    elif mode == "edge":
        index = np.clip(i, 0, n - 1)
    elif mode == "wrap":
        index = i % n
    elif mode == "reflect":
        if n == 1:
            index = np.zeros_like(i)
        else:
            index = i % (2 * n - 2)
            index = np.where(index >= n, 2 * n - 2 - index, index)
    else:  # symmetric
        index = i % (2 * n)
        index = np.where(index >= n, 2 * n - 1 - index, index)
    return np.where(past_end, IGNORE, index)


def window_counts(n_out, k, s, d, low, high, outputs=None):
    """How many of each window's ``k`` elements (at ``o * s + a * d``) lie in
    the padded positions ``[low, high)``, for the ``n_out`` outputs (or for
    the output indices ``outputs``)."""
    if outputs is None:
        outputs = np.arange(n_out, dtype=np.intp)
    start = outputs * s
    first = np.maximum(0, -((start - low) // d))  # ceil((low - start) / d), at least 0
    stop = np.minimum(k, -((start - high) // d))  # ceil((high - start) / d), at most k
    return np.maximum(stop - first, 0)


def identity(reduce, dtype):
    """The value that leaves ``reduce`` unchanged: max's never wins, min's
    never wins, a sum's adds nothing."""
    if reduce == "max":
        if dtype.kind == "b":
            return False
        return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
    if reduce == "min":
        if dtype.kind == "b":
            return True
        return np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    if dtype.kind in "fc":
        return complex(-0.0, -0.0) if dtype.kind == "c" else -0.0
    return 0


# -- the frame ---------------------------------------------------------------------


class Frame:
    """One call's geometry split into the interior and the border strips."""

    def __init__(self, shape, geometry, mode):
        self.shape, self.geometry, self.mode = shape, geometry, mode
        self.extent = geometry.extent
        self.spans, self.kept_counts = {}, {}  # by strip (see span, counts)
        self.interior = []
        for axis, e, s, (before, after) in zip(geometry.axes, self.extent, geometry.stride,
                                                geometry.padding):
            n_out = geometry.out_shape[axis]
            low = min(-(-before // s), n_out)
            high = max(low, min(n_out, (before + shape[axis] - e) // s + 1))
            self.interior.append((low, high))

    def boxes(self):
        """``(position, side, box)`` for the border strips of every windowed
        axis in turn (side 0 before the interior, 1 after it), empty or not,
        each ``box`` one output range per windowed axis: along the axes
        before ``position`` their interior range, along those after it all
        of their outputs."""
        g = self.geometry
        ranges = [(0, g.out_shape[axis]) for axis in g.axes]
        for position, (low, high) in enumerate(self.interior):
            n_out = ranges[position][1]
            for side, part in enumerate(((0, low), (high, n_out))):
                yield position, side, [*ranges[:position], part, *ranges[position + 1:]]
            ranges[position] = (low, high)

    def strips(self):
        """Every non-empty border strip, as one output range per windowed axis."""
        for _, _, box in self.boxes():
            if all(start < stop for start, stop in box):
                yield box

    def interior_slices(self):
        """The input slice the interior outputs read, and those outputs."""
        g = self.geometry
        x_index = [slice(None)] * len(self.shape)
        out_index = [slice(None)] * len(self.shape)
        for axis, e, s, (before, _), (low, high) in zip(g.axes, self.extent, g.stride,
                                                         g.padding, self.interior):
            if low == high:
                return None
            x_index[axis] = slice(low * s - before, (high - 1) * s - before + e)
            out_index[axis] = slice(low, high)
        return tuple(x_index), tuple(out_index)

    def tables(self, ranges):
        """The index table of each windowed axis for the outputs ``ranges``."""
        g = self.geometry
        tables = []
        for axis, e, s, (before, after), (start, stop) in zip(
                g.axes, self.extent, g.stride, g.padding, ranges):
            positions = np.arange(start * s, (stop - 1) * s + e)
            tables.append(source_index(positions, self.shape[axis], before, after, self.mode))
        return tables

    def counts(self, ranges, input_only):
        """Elements per window of the outputs ``ranges``, broadcast over the
        output's axes: along each windowed axis, those that lie in the input
        (``input_only``) or anywhere in the padded axis. Kept on the frame."""
        key = (tuple(map(tuple, ranges)), input_only)
        if key not in self.kept_counts:
            self.kept_counts[key] = self._counts(ranges, input_only)
        return self.kept_counts[key]

    def _counts(self, ranges, input_only):
        g = self.geometry
        total = None
        shape = [1] * len(self.shape)
        for axis, k, e, s, d, (before, after), (start, stop) in zip(
                g.axes, g.window, self.extent, g.stride, g.dilation, g.padding, ranges):
            n = self.shape[axis]
            low, high = (before, before + n) if input_only else (0, n + before + after)
            along = window_counts(stop, k, s, d, low, high)[start:]
            shape[axis] = stop - start
            along = along.reshape(shape)
            shape[axis] = 1
            total = along if total is None else total * along
        return total


# The frame of a call, made once for each shape, geometry and mode: its
# strips' spans and counts are kept on it, as calls repeat.
frame_of = functools.lru_cache(maxsize=64)(Frame)


def span(frame, ranges):
    """Where the outputs ``ranges`` read in the input: ``(index, gathers,
    tables, fills)``, the slice their index tables span, the ``(axis,
    table)`` to gather along each axis whose table is not a run of input
    indices (relative to the slice; 0 at positions that hold no input
    element), the tables themselves, and where the fills go
    (:func:`fill_positions`). Kept on the frame: a call's strips come back
    call after call."""
    key = tuple(map(tuple, ranges))
    if key not in frame.spans:
        frame.spans[key] = _span(frame, ranges)
    return frame.spans[key]


def _span(frame, ranges):
    g = frame.geometry
    tables = frame.tables(ranges)
    index, gathers = [slice(None)] * len(frame.shape), []
    for axis, table in zip(g.axes, tables):
        if table[0] >= 0 and np.array_equal(table, np.arange(table[0], table[0] + table.size)):
            index[axis] = slice(table[0], table[0] + table.size)
        else:
            held = table[table >= 0]
            low = held.min() if held.size else 0
            index[axis] = slice(low, held.max() + 1 if held.size else 1)
            gathers.append((axis, np.where(table >= 0, table - low, 0)))
    return tuple(index), gathers, tables, fill_positions(g.axes, tables, len(frame.shape))


def piece(x, frame, ranges, fill_cval, fill_ignore):
    """The padded input the outputs ``ranges`` read, gathered (a copy the
    size of their windows' span)."""
    index, gathers, tables, fills = span(frame, ranges)
    # The gathers come last, on the sliced view (the whole input, were it
    # not sliced, would be read).
    gathered = x[index]
    start, stop = ranges[-1]
    short = stop - start <= SHORT_ROW  # along the last windowed axis: see long_rows
    for axis, table in gathers:
        gathered = take(gathered, table, axis, short and axis == x.ndim - 1)
    if not gathers:  # every window of the strip lies in x: a copy to fill
        gathered = gathered.copy()

    for is_cval, at in fills:
        gathered[at] = fill_cval if is_cval else fill_ignore
    return gathered


def take(a, table, axis, turned=False):
    """``np.take(a, table, axis=axis)``, C-ordered; for a strip that
    long_rows turns (``turned``, gathered along the last axis) by indexing
    instead, which reads a non-contiguous ``a`` in one pass (np.take copies
    it whole first: ResNet's stem's column strip took 2.9 ms, 1.0 ms so)
    and lays the gathered axis out slowest, so that the piece's long axis
    runs along memory, as the loops then take it. A strip long along the
    last axis keeps a C piece (laid out turned, the stem's top strip took
    2.8 ms against 0.4)."""
    if turned:
        return a[..., table]
    return np.take(a, table, axis=axis)


def fill(gathered, axes, tables, fill_cval, fill_ignore):
    """Write the fills at the positions of ``gathered`` (gathered through
    ``tables``) that hold no input element."""
    for is_cval, index in fill_positions(axes, tables, gathered.ndim):
        gathered[index] = fill_cval if is_cval else fill_ignore


def fill_positions(axes, tables, ndim):
    """``(is_cval, index)`` for each fill :func:`fill` writes, in its order:
    the constant's positions, then those of no element, one windowed axis
    at a time (an index of ``ndim`` entries, a mask along that axis)."""
    positions = []
    for is_cval, marker in ((True, CVAL), (False, IGNORE)):
        for axis, table in zip(axes, tables):
            where = table == marker
            if where.any():
                index = [slice(None)] * ndim
                index[axis] = where
                positions.append((is_cval, tuple(index)))
    return positions


def needs_fill(tables):
    """Whether a piece gathered through ``tables`` has positions to fill."""
    return any((table < 0).any() for table in tables)


def out_slice(frame, ranges):
    index = [slice(None)] * len(frame.shape)
    for axis, (start, stop) in zip(frame.geometry.axes, ranges):
        index[axis] = slice(start, stop)
    return tuple(index)


def check_windows_hold_elements(frame):
    """ValueError if a window holds no input element (pools with "ignore")."""
    g = frame.geometry
    for axis, k, s, d, (before, _) in zip(g.axes, g.window, g.stride, g.dilation, g.padding):
        n, n_out = frame.shape[axis], g.out_shape[axis]
        empty = np.flatnonzero(window_counts(n_out, k, s, d, before, before + n) == 0)
        if empty.size:
            raise ValueError(
                f"window {empty[0]} along axis {axis} holds no element of x "
                f"(length {n}, padding {g.padding[g.axes.index(axis)]}, window {k}, "
                f"stride {s}, dilation {d}) with mode='ignore'; use less padding "
                "or a mode that fills it, such as mode='constant'")


# -- dilation ----------------------------------------------------------------------


def residue_classes(geometry, out_shape):
    """``(x_index, out_index, stride)`` per combination of residue classes
    of the dilated axes (see the module docstring), for the output shape
    ``out_shape`` of the dilated, valid windows at ``geometry.stride``."""
    per_axis = []
    for axis, k, s, d in zip(geometry.axes, geometry.window, geometry.stride,
                             geometry.dilation):
        n_out = out_shape[axis]
        period = d // math.gcd(s, d)
        step = s // math.gcd(s, d)
        classes = []
        for o0 in range(min(period, n_out)):
            count = -(-(n_out - o0) // period)
            residue, first = (o0 * s) % d, (o0 * s) // d
            last = residue + (first + (count - 1) * step + k - 1) * d  # its last element
            x_slice = slice(residue + first * d, last + 1, d)
            classes.append((x_slice, slice(o0, None, period), step))
        per_axis.append(classes)
    for combination in itertools.product(*per_axis):
        x_index = [slice(None)] * len(out_shape)
        out_index = [slice(None)] * len(out_shape)
        strides = []
        for axis, (x_slice, o_slice, step) in zip(geometry.axes, combination):
            x_index[axis], out_index[axis] = x_slice, o_slice
            strides.append(step)
        yield tuple(x_index), tuple(out_index), tuple(strides)


def dilated(valid, x, geometry, out):
    """``valid(x_view, stride, out_view)`` over the residue classes of every
    dilated axis; ``out`` has the output shape of the dilated, valid
    windows of ``x`` at ``geometry.stride``."""
    if all(d == 1 for d in geometry.dilation):
        valid(x, geometry.stride, out)
        return
    for x_index, out_index, stride in residue_classes(geometry, out.shape):
        valid(x[x_index], stride, out[out_index])


def region_method(op, method, view, geometry, out_shape, dtype, memory_order=True):
    """``method`` with "auto" resolved once for a region (the interior or a
    border piece): the plan's choice for the first residue class's view
    of ``view`` (an array, or its shape alone: the plan in the axes' order),
    run by every class. ``op`` is a reduction, or "correlate" with ``dtype``
    the result's. The Dask path resolves each region as the in-memory call
    does, so the two run the same loops."""
    if method != "auto":
        return method
    if isinstance(view, tuple):
        shape, strides = view, None
    else:
        shape, strides = view.shape, view.strides if memory_order else None
    return _auto_method(op, shape, strides, np.dtype(dtype), geometry, tuple(out_shape))


@functools.lru_cache(maxsize=256)
def _auto_method(op, shape, strides, dtype, geometry, out_shape):
    """:func:`region_method`'s choice, cached: the same regions come back
    call after call (it costs 50 us, and a call has five regions)."""
    x_index, _, stride = next(residue_classes(geometry, out_shape))
    view = np.lib.stride_tricks.as_strided(np.empty((), dtype), shape, strides or (0,) * len(shape))
    view = view[x_index]
    shape = view.shape
    if op == "correlate":
        valid = v.geometry(shape, geometry.window, stride, geometry.axes, name="kernel")
        return _plan.correlate_method("auto", shape, valid, dtype)
    return _plan.pool_plan(shape, dtype, geometry.window, stride, geometry.axes, op, "auto",
                           "numba", view.strides if strides else None).choice.method


@functools.lru_cache(maxsize=256)
def long_rows(geometry, out_shape):
    """``(geometry, order)``: for a border strip whose outputs are short along
    the last windowed axis (at most ``SHORT_ROW`` of them) and long along
    another, ``geometry`` with the two swapped, and the permutation of its
    per-axis entries (None: unchanged). The loops then run along the long
    axis (the piece's gather lays it out so, see take; else the plan copies
    it turned), not along rows of one to four outputs each, whose per-row
    cost dominates."""
    lengths = [out_shape[axis] for axis in geometry.axes]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    if len(lengths) < 2 or lengths[-1] > SHORT_ROW or lengths[longest] < LONG_ROW:
        return geometry, None
    order = list(range(len(lengths)))
    order[-1], order[longest] = longest, order[-1]  # the two swapped
    return permuted(geometry, tuple(order)), tuple(order)


def permuted(geometry, order):
    """``geometry`` with its per-axis entries in ``order`` (positions)."""
    def entries(values):
        return tuple(values[i] for i in order)

    g = geometry
    return v.Geometry(entries(g.axes), entries(g.window), entries(g.stride), g.out_shape,
                      entries(g.dilation), entries(g.padding), g.ceil_mode)


@functools.lru_cache(maxsize=256)
def in_loop_order(geometry, shape, strides):
    """``(geometry, order)``: ``geometry`` with its windowed axes in the order
    the loops run them on an array of ``shape`` and ``strides`` (windowed
    axes named against memory order, as ``axes=(2, 1)`` of a C array, turned
    around as :func:`windowkit._plan.in_memory_order` turns them), and the
    permutation applied to its per-axis entries (None: none), which a
    kernel takes too. The regions, and Dask's blocks, then run one order."""
    in_memory, _ = _plan.in_memory_order(geometry, shape, strides)
    axes = tuple(axis for axis in in_memory.axes if axis in geometry.axes)
    if axes == geometry.axes:
        return geometry, None
    order = tuple(geometry.axes.index(axis) for axis in axes)
    return permuted(geometry, order), order


def follows_memory(x, geometry):
    """Whether the regions of ``x`` run their loops in memory order: only
    when x's own layout asks for another order than the axes' (Fortran
    order, transposed, channels last, negative strides). A region of a
    C-ordered x runs the axes' order, as a Dask block does, even where its
    view would be reordered (an axis of length 1 counts as the slowest):
    the order of a float sum's additions depends on it."""
    return _follows_memory(geometry, x.shape, x.strides)


@functools.lru_cache(maxsize=256)
def _follows_memory(geometry, shape, strides):
    """:func:`follows_memory`, cached: a call's regions repeat call after call."""
    return (_plan.reversed_axes(geometry, shape, strides) is not None
            or _plan.in_memory_order(geometry, shape, strides)[1] is not None)


# -- the operations ----------------------------------------------------------------


def pool(x, geometry, reduce, mode, cval, method, impl, out, skip_nan=False, min_count=1):
    """``pool`` with ``geometry``'s padding, dilation and ceil_mode.
    ``skip_nan`` and ``min_count`` (float ``x``): NaN is no value, a window
    of fewer than ``min_count`` values NaN; the textbook loop's (see
    :func:`windowkit._plan.padded_direct_plan`) or the fast loops'
    (:func:`_omitting_pool`)."""
    out = v.prepare_out(out, geometry.out_shape, v.pool_dtype(reduce, x.dtype), x)
    geometry, _ = in_loop_order(geometry, x.shape, x.strides)
    frame = frame_of(x.shape, geometry, mode)
    if mode == "ignore":
        check_windows_hold_elements(frame)
    if method == "direct" and impl != "strided":
        # The textbook loop, padding and all (the teaching reference).
        return _plan.padded_direct_plan(x.shape, x.dtype, geometry, reduce, mode, cval, impl,
                                        skip_nan=skip_nan, min_count=min_count)(x, out)
    memory_order = follows_memory(x, geometry)
    if skip_nan:
        return _omitting_pool(x, frame, reduce, cval, method, impl, out, min_count,
                              memory_order)
    if border_in_loop(x.shape, x.dtype, geometry, reduce, method, impl, memory_order):
        # The separable loop takes the border itself, from the input rows
        # the interior reads (see kernels.padded_separable_pool).
        return padded_separable(x, frame, reduce, cval, impl)(x, out)
    inner = frame.interior_slices()
    if inner is not None:
        x_index, out_index = inner
        # The interior's output rows are a slice of the output's, contiguous:
        # the loops write them in place (see kernels._jit.row_view).
        pool_interior(x[x_index], geometry, reduce, method, impl, out[out_index], memory_order)
    for ranges in frame.strips():
        gathered = piece(x, frame, ranges, cval, pool_fill(reduce, x.dtype))
        pool_strip(gathered, frame, ranges, reduce, method, impl, out[out_slice(frame, ranges)],
                   memory_order)
    return out


# A padded pool whose interior "auto" gives to van Herk takes the separable
# loop with its border in the loop (padded_separable_pool) while van Herk's
# weighed row passes, times this, are at least the separable loop's: by
# regions the border costs about a quarter on top (docs/performance.md).
VAN_HERK_MARGIN = 1.25


def border_in_loop(shape, dtype, geometry, reduce, method, impl, memory_order):
    """Whether the pool runs :func:`padded_separable`'s one loop, border and
    all: the separable method (chosen, or "auto" choosing it, see
    :data:`VAN_HERK_MARGIN`), undilated windows, the axes' order (not
    ``memory_order``), real dtypes that are not float16 (whose means are
    rounded once by the regions, twice by the loop), and not windows side
    by side along the rows (the separable method gives those to
    ``block_pool``, which adds in another order). The Dask path asks the
    same, so that its strips run what this loop runs."""
    window, stride = geometry.window, geometry.stride
    if (impl == "strided" or memory_order or any(d != 1 for d in geometry.dilation)
            or dtype.kind not in "biuf" or dtype.itemsize < 4 and dtype.kind == "f"
            or window[-1] == stride[-1] <= BLOCK_MAX or method not in ("auto", "separable")):
        return False
    if method == "separable":
        return True
    return _auto_in_loop(shape, geometry, reduce, dtype.kind)


@functools.lru_cache(maxsize=256)
def _auto_in_loop(shape, geometry, reduce, kind):
    """:func:`border_in_loop`'s "auto" choice, cached: the valid rule's
    (:func:`windowkit._methods.choose_pool_method`) with van Herk's side
    weighed by the margin too."""
    separable, van_herk, weight = _methods.weighed_row_passes(shape, geometry, reduce, kind)
    return van_herk * weight * VAN_HERK_MARGIN >= separable


def padded_separable(x, frame, reduce, cval, impl):
    """The plan of :func:`windowkit._plan.padded_separable_plan` for ``x`` and
    ``frame``, kept as the plan layer keeps the valid ones."""
    cval = np.asarray(cval)  # a scalar of x's dtype (see _validation.boundary)
    key = ("padded", x.shape, x.strides, x.dtype, frame.geometry, frame.mode, reduce,
           cval.dtype, cval.tobytes(), impl)

    def make():
        g = frame.geometry
        full = [(0, g.out_shape[axis]) for axis in g.axes]
        counts = None
        if reduce == "mean":
            counts = [window_counts(g.out_shape[axis], k, s, 1, *(
                (before, before + n) if frame.mode == "ignore" else (0, n + before + after)))
                for axis, k, s, (before, after), n in zip(
                    g.axes, g.window, g.stride, g.padding, (x.shape[a] for a in g.axes))]
            if all((along == k).all() for along, k in zip(counts, g.window)):
                counts = None  # every window holds its size: a constant divisor
        return _plan.padded_separable_plan(x.shape, x.dtype, g, reduce, frame.tables(full),
                                           cval[()], pool_fill(reduce, x.dtype), counts, impl)

    return _plan._cached_plan(_plan._PLANS, key, make)


def _omitting_pool(x, frame, reduce, cval, method, impl, out, min_count, memory_order):
    """The pool of float ``x`` under ``nan_policy="omit"`` by the fast
    loops' NaN-skipping copies, in place on the interior; each border
    strip's piece holds NaN where a window has no element (``"ignore"``,
    a ``ceil_mode`` overhang): no value, so neither chosen nor counted."""
    geometry = frame.geometry
    inner = frame.interior_slices()
    if inner is not None:
        x_index, out_index = inner
        dilated(_omitting_valid(geometry, reduce, method, impl, memory_order, min_count),
                x[x_index], geometry, out[out_index])
    for ranges in frame.strips():
        gathered = piece(x, frame, ranges, cval, np.nan)
        into = out[out_slice(frame, ranges)]
        strip, _ = long_rows(geometry, into.shape)
        dilated(_omitting_valid(strip, reduce, method, impl, memory_order, min_count),
                gathered, strip, into)
    return out


def _omitting_valid(geometry, reduce, method, impl, memory_order, min_count):
    """The valid pool skipping NaN (see :func:`windowkit._plan.pool_plan`):
    sums and means count their values as they go; a max or min with
    ``min_count`` above 1 counts them in a second pool."""
    def run(view, stride, into):
        if reduce in ("sum", "mean"):
            _plan.pool(view, geometry.window, stride, geometry.axes, reduce, method, impl,
                       into, memory_order, skip_nan=True, min_count=min_count)
            return
        _plan.pool(view, geometry.window, stride, geometry.axes, reduce, method, impl, into,
                   memory_order, skip_nan=True)
        if min_count > 1:
            held = (~np.isnan(view)).astype(np.float32 if math.prod(geometry.window) < 2**24
                                             else np.float64)
            counts = _plan.pool(held, geometry.window, stride, geometry.axes, "sum", method,
                                impl, None, memory_order)
            np.copyto(into, np.nan, where=counts < min_count)
    return run


def pool_fill(reduce, dtype):
    """What a pooled piece holds where a window has no element."""
    return identity("sum" if reduce == "mean" else reduce, dtype)


def pool_interior(view, geometry, reduce, method, impl, into, memory_order=True):
    """The valid, dilated pool of ``view`` (the interior's input) into ``into``."""
    method = region_method(reduce, method, view, geometry, into.shape, view.dtype, memory_order)
    dilated(_valid_pool(geometry, reduce, method, impl, memory_order), view, geometry, into)


def pool_strip(gathered, frame, ranges, reduce, method, impl, into, memory_order=True,
               turn=True):
    """The pool of the border strip ``ranges`` into ``into``, from its
    ``gathered`` piece (filled with :func:`pool_fill`); with the axes
    :func:`long_rows` may swap if ``turn``."""
    geometry = long_rows(frame.geometry, into.shape)[0] if turn else frame.geometry
    op, target = reduce, into
    if reduce == "mean":
        # The window's sum over the elements it holds (float16 summed in
        # float32, as the loops do), divided by their count below.
        if gathered.dtype == np.float16:
            gathered = gathered.astype(np.float32)
        op, target = "sum", np.empty(into.shape, v.pool_dtype("sum", gathered.dtype))
    method = region_method(op, method, gathered, geometry, into.shape, gathered.dtype,
                           memory_order)
    dilated(_valid_pool(geometry, op, method, impl, memory_order), gathered, geometry, target)
    if reduce == "mean":
        with np.errstate(invalid="ignore"):  # complex infinities, as the loops' NaN
            np.divide(target, frame.counts(ranges, frame.mode == "ignore"), out=into)


def _valid_pool(geometry, reduce, method, impl, memory_order):
    def run(view, stride, into):
        _plan.pool(view, geometry.window, stride, geometry.axes, reduce, method, impl, into,
                   memory_order)
    return run


def correlate(x, kernel, geometry, mode, cval, method, impl, flip, out):
    """``correlate`` (``flip``: convolve) with ``geometry``'s padding and dilation."""
    dtype = v.correlate_dtype(x.dtype, kernel.dtype)
    out = v.prepare_out(out, geometry.out_shape, dtype, x, kernel)
    geometry, order = in_loop_order(geometry, x.shape, x.strides)
    if order is not None:
        kernel = kernel.transpose(order)
    if method == "direct" and impl != "strided":
        return _plan.padded_direct_plan(x.shape, x.dtype, geometry, "correlate", mode, cval,
                                        impl, kernel, flip)(x, out)
    frame = frame_of(x.shape, geometry, mode)
    memory_order = follows_memory(x, geometry)
    inner = frame.interior_slices()
    if impl != "strided" and not memory_order and all(d == 1 for d in geometry.dilation) and (
            method == "rows" or inner is not None and region_method(
                "correlate", method, x[inner[0]].shape, geometry, out[inner[1]].shape,
                out.dtype) == "rows"):
        # The rows loop takes the border itself, from the input rows the
        # interior reads (see kernels.padded_correlate_rows): a 2048²
        # "same" 3x3 took 1.42-1.51 ms by regions, the valid call 1.11.
        return padded_rows(x, kernel, frame, cval, impl, flip)(x, out)
    if inner is not None:
        x_index, out_index = inner
        correlate_region(x[x_index], kernel, geometry, method, impl, flip, out[out_index],
                         memory_order)
    for ranges in frame.strips():
        correlate_region(piece(x, frame, ranges, cval, 0), kernel, geometry, method, impl, flip,
                         out[out_slice(frame, ranges)], memory_order, strip=True)
    return out


def padded_rows(x, kernel, frame, cval, impl, flip):
    """The plan of :func:`windowkit._plan.padded_rows_plan` for ``x`` and
    ``frame``, kept as the plan layer keeps the valid ones."""
    def make():
        full = [(0, frame.geometry.out_shape[axis]) for axis in frame.geometry.axes]
        return _plan.padded_rows_plan(x.shape, x.dtype, kernel, frame.geometry,
                                      frame.tables(full), cval[()], impl, flip)

    if kernel.size > _plan.CACHED_KERNEL_MAX:
        return make()
    cval = np.asarray(cval)  # a scalar of x's dtype (see _validation.boundary)
    key = ("padded", x.shape, x.strides, x.dtype, kernel.shape, kernel.dtype, kernel.tobytes(),
           frame.geometry, frame.mode, cval.dtype, cval.tobytes(), impl, flip)
    return _plan._cached_plan(_plan._CORRELATE_PLANS, key, make)


def correlate_region(view, kernel, geometry, method, impl, flip, into, memory_order=True,
                     strip=False):
    """The valid, dilated correlation of ``view`` (the interior's input, or a
    border ``strip``'s piece) into ``into``. Strips alone take
    :func:`long_rows` (but for the rows loop): it looks at the outputs'
    shape, which a Dask block of the interior does not share with the whole."""
    if strip:
        turned, order = long_rows(geometry, into.shape)
        # Not for the rows loop: turned, it would add a window's terms in
        # another order than padded_correlate_rows, which a Dask block's
        # strip must match bitwise.
        if order is not None and region_method("correlate", method, view.shape, turned,
                                               into.shape, into.dtype) != "rows":
            geometry, kernel = turned, kernel.transpose(order)
    method = region_method("correlate", method, view.shape, geometry, into.shape, into.dtype)

    def valid(view, stride, into):
        _plan.correlate(view, kernel, stride, geometry.axes, method, impl, flip, into,
                        memory_order)

    dilated(valid, view, geometry, into)
