"""Separable pooling: combine a window's rows, then pool along the row.

``separable_pool`` is the general path; windows side by side along the rows
(as wide as their column stride) get ``block_pool``, and 2x2 max/min windows
two columns apart ``extreme_2x2_pool``; sums and means that skip NaN
``held_sum_pool``, which counts each window's values beside its sum. Each factory returns a
:class:`~windowkit.kernels._jit.Loop` compiled with its constants (the
reduction, the row algorithm, the block width) fixed, so that Numba compiles
only their code; factories are cached, so each copy is made once.
"""

import functools

import numpy as np

from ._jit import helper, loop, output_rows, real_float, row_view, scalar
from .rows import (HOLDS_CVAL, HOLDS_NOTHING, MAX, NANMAX, NANMIN, SEGMENT, SUM, combine,
                   depth_row, extreme_rows, finish_held, held_depth_row, pool_row, segments)

# Windows side by side along the rows, at most this many columns wide, are
# pooled by block_pool, one compiled copy per width.
BLOCK_MAX = 8

# Pixels of up to this many interleaved channels (RGB, RGBA) are pooled by
# a block_pool copy with the channel count as a constant, so that the loop
# over a pixel's channels unrolls (0 for more: the count is an argument).
PIXEL_CHANNELS_MAX = 4


def separable_tasks(out, window, stride, step, *args):
    """How many tasks :func:`separable_pool` and :func:`block_pool` have for ``out``:
    row segments."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_segments = segments.py_func(out_cols, (window[2] - 1) * step + 1, stride[2], SEGMENT)[1]
    return n_batch * out_depth * out_rows * n_segments


def pixel_tasks(out, window, stride, step, *args):
    """How many tasks :func:`separable_pool` has for ``out`` with ``pixels``:
    row segments of whole pixels (``step`` channels each)."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_segments = segments.py_func(out_cols // step, window[2], stride[2], SEGMENT // step)[1]
    return n_batch * out_depth * out_rows * n_segments


@functools.cache
def separable_pool(reduce, doubling, in_place=False, pixels=False):
    """The separable loop for ``reduce``, its rows pooled by doubling spans
    (``doubling``) or directly; max and min combined in place (``in_place``,
    for integers: LLVM vectorises an in-place integer max, and in place
    saves the alternating passes, which on 28-element rows cost 1.3-1.7x
    the time) or out of place (floats, see
    :func:`~windowkit.kernels.rows.extreme_rows`). ``pixels``: channels
    interleaved in the row at a column stride above 1 (a copy of its own:
    its second row pass made every copy's first compile 1.3-1.5 s longer)."""

    @loop(pixel_tasks if pixels else separable_tasks)
    def separable_pool(x, window, stride, step, divide_by, first_task, stop_task, out):
        """Pooling one output row at a time: the window's rows first, then along the row.

        For each output row, the ``window_depth * window_rows`` input rows
        under it are combined element by element into one scratch row, then
        that row is pooled along its length (:func:`~windowkit.kernels.rows.pool_row`).
        Both loops run along contiguous rows. ``divide_by`` > 0 divides the
        sums by it (mean), 0 does not. One task is one segment of an output
        row (:data:`~windowkit.kernels.rows.SEGMENT`).

        The window's columns are ``step`` elements apart: 1, or for channels
        interleaved in the row (an RGB image, NHWC maps, the width and
        channel axes taken as one row), the channel count, so that every
        loop runs along the interleaved row (docs/methods.md). At a column
        stride above 1 (``pixels``) the row is pooled at stride 1 and the
        output pixels picked from it.
        Cost per output: ``window_depth * window_rows`` combines per input
        column, plus at most ``window_cols`` along the row (with
        ``pixels``, per input column). Scratch: two segments, three with
        ``pixels``.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        extent = (window_cols - 1) * step + 1
        # pixels: an output pixel's step channels are contiguous, but
        # pixels are stride_cols * step elements apart, so the row is
        # pooled at stride 1 and every stride_cols-th pixel picked.
        # Segments hold whole pixels.
        if pixels:
            per_segment, n_segments = segments(out_cols // step, window_cols, stride_cols,
                                               SEGMENT // step)
            span = ((min(per_segment, out_cols // step) - 1) * stride_cols + window_cols) * step
            per_segment *= step
        else:
            per_segment, n_segments = segments(out_cols, extent, stride_cols, SEGMENT)
            span = (min(per_segment, out_cols) - 1) * stride_cols + extent
        column_space = np.empty(span, out.dtype)
        scratch_space = np.empty(span, out.dtype)
        every_space = np.empty(span if pixels else 0, out.dtype)
        # Task = ((b * out_depth + d) * out_rows + r) * n_segments + segment,
        # counted up from first_task without a division per task.
        segment = first_task % n_segments
        r = first_task // n_segments % out_rows
        d = first_task // (n_segments * out_rows) % out_depth
        b = first_task // (n_segments * out_rows * out_depth)
        for _ in range(first_task, stop_task):
            first_out = segment * per_segment
            stop_out = min(out_cols, first_out + per_segment)
            first_col = first_out * stride_cols
            if pixels:  # the last output pixel's window, all its channels
                width = (((stop_out - first_out) // step - 1) * stride_cols + window_cols) * step
            else:
                width = (stop_out - first_out - 1) * stride_cols + extent
            column = column_space[:width]
            first_depth = d * stride_depth
            first_row = r * stride_rows
            if reduce == SUM or in_place:
                for j in range(window_rows):
                    depth_row(x, b, first_depth, window_depth, first_row + j, first_col, column,
                              j == 0, reduce)
            else:
                extreme_rows(x, b, first_depth, window_depth, first_row, window_rows, first_col,
                             column, scratch_space[:width], reduce)
            if pixels:
                every = every_space[:width - (window_cols - 1) * step]
                pool_row(column, window_cols, 1, step, divide_by, scratch_space[:width], every,
                         reduce, doubling, in_place)
                out_row = row_view(out, b, d, r)
                for o in range(0, stop_out - first_out, step):
                    start = o * stride_cols
                    for c in range(step):
                        out_row[first_out + o + c] = every[start + c]
            else:
                pool_row(column, window_cols, stride_cols, step, divide_by,
                         scratch_space[:width], row_view(out, b, d, r)[first_out:stop_out], reduce,
                         doubling, in_place)
            segment += 1
            if segment == n_segments:
                segment, r = 0, r + 1
                if r == out_rows:
                    r, d = 0, d + 1
                    if d == out_depth:
                        d, b = 0, b + 1

    return separable_pool


@functools.cache
def padded_separable_pool(reduce, doubling, in_place=False):
    """:func:`separable_pool` beyond valid, undilated windows, reading ``x``
    in place: the copy for ``reduce``, ``doubling`` and ``in_place`` (as
    :func:`separable_pool`'s)."""
    # Sums store their passes over the input's columns at a 64-byte
    # boundary (see below); max and min keep the row as allocated.
    aligned = reduce == SUM

    @loop(separable_tasks)
    def padded_separable_pool(x, window, stride, step, depth_index, row_index, col_index,
                              before, constant, nothing, divide_by, depth_counts, row_counts,
                              col_counts, first_task, stop_task, out):
        """:func:`separable_pool`'s two passes over padded windows, border and all.

        The index tables say which input plane, row and column each padded
        position holds (``HOLDS_CVAL``: the constant; ``HOLDS_NOTHING``: no
        element, which holds the value that changes no result), over the
        positions the outputs' windows span (see
        :func:`windowkit._padded.source_index`).
        ``constant`` and ``nothing`` are rows of those two values as long as
        ``x``'s: a window row in the padding along the rows or planes is one
        of them. The window's rows are combined into the scratch row as
        :func:`separable_pool` combines them: its columns in ``x``
        (``before`` columns of padding before them) by the same vectorised
        passes over the input rows in place; then the few padded columns on
        either side through the column table, each over the window's rows
        in one loop. The row is then pooled by
        :func:`~windowkit.kernels.rows.pool_row`. Every position holds what
        the padded input holds there, combined in the valid loop's order,
        and a pooled row's outputs depend on their windows' elements alone,
        so the result is the valid loop's on the padded input, bitwise.
        ``divide_by`` > 0 divides the sums by it (mean), -1 by each
        window's count, the product of its counts along the axes
        (``depth_counts``, ``row_counts``, ``col_counts``: mean with
        ``"ignore"`` or a ``ceil_mode`` overhang), 0 not at all. ``step`` is
        1 (the task count's argument). One task is one segment of an
        output row.
        Cost per output: :func:`separable_pool`'s, plus a scalar combine
        per window row for each padded column. Scratch: two segments.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        n_cols = x.shape[3]
        n_rows = window_depth * window_rows
        accumulate = reduce == SUM or in_place
        per_segment, n_segments = segments(out_cols, window_cols, stride_cols, SEGMENT)
        span = (min(per_segment, out_cols) - 1) * stride_cols + window_cols
        # With room to start each task's scratch rows where their first
        # input column (low, below) lies on a 64-byte boundary.
        room = 64 if aligned and stride_cols == 1 else 0
        column_space = np.empty(span + room, out.dtype)
        scratch_space = np.empty(span + room, out.dtype)
        cval, fill = constant[0], nothing[0]
        # Every count up to the window's size is exact in out's dtype when
        # the size and the one below it are (an odd integer past the
        # dtype's last exact one is not).
        size = window_depth * window_rows * window_cols
        exact_counts = (real_float(out) and out.dtype.type(size) == size
                        and out.dtype.type(size - 1) == size - 1)
        # Tasks counted as in separable_pool.
        segment = first_task % n_segments
        r = first_task // n_segments % out_rows
        d = first_task // (n_segments * out_rows) % out_depth
        b = first_task // (n_segments * out_rows * out_depth)
        for _ in range(first_task, stop_task):
            first_out = segment * per_segment
            stop_out = min(out_cols, first_out + per_segment)
            first_col = first_out * stride_cols
            width = (stop_out - first_out - 1) * stride_cols + window_cols
            # The scratch row's columns in x: [low, high), input column
            # first_col - before + q at q.
            low = min(max(before - first_col, 0), width)
            high = max(low, min(before + n_cols - first_col, width))
            if aligned:
                # Sums at stride 1 add the input's columns into the scratch
                # row from column low on at a 64-byte boundary: stores that
                # split cache lines made 2048² mean 5/1 "same" 1.05-1.12x
                # the time (the loop alone, one thread). Max and min, and
                # larger column strides, whose pool_row reads the row
                # strided, did not gain (the stem, max 3/2: 1.03x). Item
                # sizes are powers of two up to 8: the offsets are below
                # 64 // item <= room.
                first_c = first_o = 0
                if room:
                    item = column_space.itemsize
                    first_c = (64 - (column_space.ctypes.data + low * item) % 64) % 64 // item
                    first_o = (64 - (scratch_space.ctypes.data + low * item) % 64) % 64 // item
                column = column_space[first_c:first_c + width]
                other = scratch_space[first_o:first_o + width]
            else:
                column, other = column_space[:width], scratch_space[:width]
            shift = first_col - before
            first_row = constant  # the first window row, for the second pass
            for t in range(n_rows):
                plane = depth_index[d * stride_depth + t % window_depth]
                source = row_index[r * stride_rows + t // window_depth]
                ignored = plane == HOLDS_NOTHING or source == HOLDS_NOTHING
                if ignored:
                    row = nothing
                elif plane < 0 or source < 0:
                    row = constant
                else:
                    row = row_view(x, b, plane, source)
                # Sums and in-place max and min combine into the scratch
                # row; float max and min alternate between it and the other
                # so that the last pass lands in it (rows.extreme_rows).
                if accumulate or (n_rows - 1 - t) % 2 == 0:
                    target, previous = column, other
                else:
                    target, previous = other, column
                if accumulate:
                    previous = column
                # The input's columns, vectorised, on slices as depth_row's.
                into, before_it = target[low:high], previous[low:high]
                inputs = row[low + shift:high + shift]
                if t == 0 and (accumulate or n_rows == 1):
                    for c in range(high - low):
                        c = np.uintp(c)
                        into[c] = inputs[c]
                elif t == 0:
                    first_row = row  # combined with the second in its pass
                elif t == 1 and not accumulate:
                    first_inputs = first_row[low + shift:high + shift]
                    for c in range(high - low):
                        c = np.uintp(c)
                        into[c] = combine(first_inputs[c], inputs[c], reduce)
                elif reduce == SUM:
                    for c in range(high - low):
                        c = np.uintp(c)
                        into[c] = into[c] + inputs[c]
                else:
                    for c in range(high - low):
                        c = np.uintp(c)
                        into[c] = combine(before_it[c], inputs[c], reduce)
            # The padded columns through the table, each combined over the
            # window's rows in one loop, after the input's columns: inside
            # the passes above, this loop kept LLVM from vectorising them
            # (2048² max 3/1 "same" took 2.2x the valid loop, one thread).
            q = 0
            while q < width:
                if q == low:
                    q = max(low, high)
                    if q >= width:
                        break
                position = col_index[first_col + q]
                for t in range(n_rows):
                    plane = depth_index[d * stride_depth + t % window_depth]
                    source = row_index[r * stride_rows + t // window_depth]
                    if (position == HOLDS_NOTHING or plane == HOLDS_NOTHING
                            or source == HOLDS_NOTHING):
                        value = fill
                    elif position == HOLDS_CVAL or plane < 0 or source < 0:
                        value = cval
                    else:
                        value = x[b, plane, source, position]
                    if t == 0:
                        column[q] = value
                    else:
                        column[q] = combine(column[q], value, reduce)
                q += 1
            out_row = row_view(out, b, d, r)[first_out:stop_out]
            pool_row(column, window_cols, stride_cols, 1, max(divide_by, 0), other, out_row,
                     reduce, doubling, in_place)
            if divide_by < 0:
                # Each window's count, in the row's own dtype where that
                # holds every count up to the window's size (see pool_row).
                in_plane = depth_counts[d] * row_counts[r]
                if exact_counts:
                    for o in range(stop_out - first_out):
                        out_row[o] = out_row[o] / out.dtype.type(
                            in_plane * col_counts[first_out + o])
                else:
                    for o in range(stop_out - first_out):
                        out_row[o] = out_row[o] / (in_plane * col_counts[first_out + o])
            segment += 1
            if segment == n_segments:
                segment, r = 0, r + 1
                if r == out_rows:
                    r, d = 0, d + 1
                    if d == out_depth:
                        d, b = 0, b + 1

    return padded_separable_pool


@functools.cache
def held_sum_pool(doubling, uint8_counts=False):
    """The separable loop for sums and means that skip NaN
    (nan_policy="omit"), its rows pooled by doubling spans (``doubling``)
    or directly, its counts uint8 (``uint8_counts``, windows of at most
    :data:`~windowkit.kernels.rows.UINT8_COUNTS_MAX` elements) or float32."""

    count_type = np.uint8 if uint8_counts else np.float32

    @loop(separable_tasks)
    def held_sum_pool(x, window, stride, step, mean, min_count, first_task, stop_task, out):
        """:func:`separable_pool`'s sums with each window's values counted beside them.

        The window's rows are added element by element into one scratch
        row, a NaN as zero, and the values that are not NaN counted into a
        second (:func:`~windowkit.kernels.rows.held_depth_row`); both rows
        are pooled along their length the same way
        (:func:`~windowkit.kernels.rows.pool_row`). An output whose window
        holds fewer than ``min_count`` values is NaN, else its sum, or
        with ``mean`` its sum divided by the count
        (:func:`~windowkit.kernels.rows.finish_held`). The counts are
        exact: uint8 for the factory's small windows, else float32, for
        windows below ``2**24`` elements (the plan keeps to those). One
        task is one segment of an output row.
        Cost per output: twice :func:`separable_pool`'s, in one pass over
        the input. Scratch: four segments.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        extent = (window_cols - 1) * step + 1
        per_segment, n_segments = segments(out_cols, extent, stride_cols, SEGMENT)
        span = (min(per_segment, out_cols) - 1) * stride_cols + extent
        column_space = np.empty(span, out.dtype)
        count_space = np.empty(span, count_type)
        scratch_space = np.empty(span, out.dtype)
        count_scratch_space = np.empty(span, count_type)
        counted_space = np.empty(min(per_segment, out_cols), count_type)
        one = count_type(1)
        # Tasks counted as in separable_pool.
        segment = first_task % n_segments
        r = first_task // n_segments % out_rows
        d = first_task // (n_segments * out_rows) % out_depth
        b = first_task // (n_segments * out_rows * out_depth)
        for _ in range(first_task, stop_task):
            first_out = segment * per_segment
            stop_out = min(out_cols, first_out + per_segment)
            first_col = first_out * stride_cols
            width = (stop_out - first_out - 1) * stride_cols + extent
            column, counts = column_space[:width], count_space[:width]
            for j in range(window_rows):
                held_depth_row(x, b, d * stride_depth, window_depth, r * stride_rows + j,
                               first_col, column, counts, j == 0, one)
            out_row = row_view(out, b, d, r)[first_out:stop_out]
            counted = counted_space[:stop_out - first_out]
            pool_row(column, window_cols, stride_cols, step, 0, scratch_space[:width], out_row,
                     SUM, doubling, False)
            pool_row(counts, window_cols, stride_cols, step, 0, count_scratch_space[:width],
                     counted, SUM, doubling, False)
            finish_held(out_row, counted, mean, min_count)
            segment += 1
            if segment == n_segments:
                segment, r = 0, r + 1
                if r == out_rows:
                    r, d = 0, d + 1
                    if d == out_depth:
                        d, b = 0, b + 1

    return held_sum_pool


@scalar
def extreme(a, b, find_max, skip_nan):
    """The larger (``find_max``) or smaller of ``a`` and ``b``: NaN if
    either is, or with ``skip_nan`` only if both are (np.fmax)."""
    if skip_nan:
        if find_max:
            return b if (b > a or a != a) else a
        return b if (b < a or a != a) else a
    if find_max:
        return b if (b > a or b != b) else a
    return b if (b < a or b != b) else a


@helper
def block_row_sum(out_plane, r, first_out, stop_out, rows, row, first, block, channels):
    """Outputs ``first_out`` to ``stop_out`` of row ``r`` of ``out_plane``,
    each with the ``block`` elements under it in row ``row`` of ``rows``
    added left to right in registers, onto the output's value unless
    ``first``. With ``channels`` > 1 interleaved in the rows, outputs are
    counted in pixels, each ``channels`` values, and a window's elements
    are ``channels`` apart.

    The output is the accumulator (uint8 sums add into uint64, as in the
    direct loop). ``block`` is a constant of this copy, so the loop over
    it unrolls and LLVM vectorises the loop over outputs, its loads an
    interleaved group; so is ``channels`` when it is small (see
    :func:`block_pool`). Elements are indexed in the 2-D planes with
    unsigned indices: a 1-D view per row took as long as the pooling
    itself on 28x28 images.
    """
    r, row, step = np.uintp(r), np.uintp(row), np.uintp(channels)
    for o in range(first_out, stop_out):
        for c in range(channels):
            at = np.uintp(o) * step + np.uintp(c)
            start = np.uintp(o) * np.uintp(block) * step + np.uintp(c)
            if first:
                out_plane[r, at] = rows[row, start]  # to the accumulator's dtype
                value = out_plane[r, at]
            else:
                value = out_plane[r, at] + rows[row, start]
            for k in range(1, block):
                value = value + rows[row, start + np.uintp(k) * step]
            out_plane[r, at] = value

@helper
def block_row_plain(out_plane, r, first_out, stop_out, rows, row, first, block, channels,
                    find_max, skip_nan):
    """:func:`block_row_sum` for max and min, by the plain comparison,
    which drops a NaN it meets (one instruction for floats, against
    four). Returns whether it may have: a sum of each output's values,
    kept beside it, is NaN when one of them is (or holds both
    infinities). A NaN already in the output stays, since nothing
    compares larger. For integers the sum is never NaN, and LLVM drops
    it and the second pass (:func:`block_row_nan_aware`). With
    ``skip_nan`` dropping a NaN is right, and the only wrong result is a
    NaN the output started from (a first NaN, or an earlier row's): the
    result is checked instead of the sum.
    """
    r, row, step = np.uintp(r), np.uintp(row), np.uintp(channels)
    maybe_nan = False
    for o in range(first_out, stop_out):
        for c in range(channels):
            at = np.uintp(o) * step + np.uintp(c)
            start = np.uintp(o) * np.uintp(block) * step + np.uintp(c)
            item = rows[row, start]
            value = item
            if not first:
                # The plain comparison (the output's value if the item is
                # NaN) written out: called as a scalar function, max 3/3 of
                # 60000 28x28 uint8 images took 1.35x as long (two threads).
                value = out_plane[r, at]
                if find_max:
                    value = item if item > value else value
                else:
                    value = item if item < value else value
            total = item
            for k in range(1, block):
                item = rows[row, start + np.uintp(k) * step]
                if find_max:
                    value = item if item > value else value
                else:
                    value = item if item < value else value
                total = total + item
            out_plane[r, at] = value
            if skip_nan:
                maybe_nan |= value != value
            else:
                maybe_nan |= total != total
    return maybe_nan

@helper
def block_row_nan_aware(out_plane, r, first_out, stop_out, rows, row, first, block, channels,
                        find_max, skip_nan):
    """:func:`block_row_plain` again with the NaN-aware comparison, for a
    row in which it may have dropped a NaN: the first row from its
    values again, later rows on top of the first try's results (a max or
    min of values already counted changes nothing). So the results are
    the direct loop's, NaN where it puts NaN.
    """
    r, row, step = np.uintp(r), np.uintp(row), np.uintp(channels)
    for o in range(first_out, stop_out):
        for c in range(channels):
            at = np.uintp(o) * step + np.uintp(c)
            start = np.uintp(o) * np.uintp(block) * step + np.uintp(c)
            item = rows[row, start]
            value = item if first else extreme(out_plane[r, at], item, find_max, skip_nan)
            for k in range(1, block):
                value = extreme(value, rows[row, start + np.uintp(k) * step], find_max,
                                skip_nan)
            out_plane[r, at] = value


@functools.cache
def block_pool(reduce, block, channels=1):
    """The loop for windows side by side along the rows, ``block`` columns
    wide; with ``channels`` other than 1, windows of pixels side by side
    along rows of interleaved channels, ``channels`` to a pixel (0: as
    many as the ``step`` argument, for more than
    :data:`PIXEL_CHANNELS_MAX`)."""
    find_max = reduce in (MAX, NANMAX)
    skip_nan = reduce in (NANMAX, NANMIN)

    @loop(separable_tasks if channels == 1 else pixel_tasks, strided_rows=True)
    def block_pool(x, window, stride, step, divide_by, first_task, stop_task, out):
        """Pooling of windows side by side along the rows: the separable path
        when ``window_cols == stride_cols == block``, a constant of each
        compiled copy (up to :data:`BLOCK_MAX`).

        Each window row's ``block`` values are reduced in registers and into
        the output row (``block_row_sum``, ``block_row_plain``), the window's rows in
        the direct loop's order, so even float sums are bitwise the direct loop's. The
        general row pass instead makes ``window_cols`` read-modify-write
        passes over the output with strided loads. ``divide_by`` > 0 divides
        the sums (mean). One task is one segment of an output row, as in
        :func:`separable_pool`, of whole pixels with interleaved channels.
        ``step`` is 1, or the channel count: with ``channels`` 1, the window
        is then one column wide (the input's and the output's rows match
        element for element); otherwise a window's columns are pixels,
        ``step`` elements apart, and the loop over a pixel's channels has
        ``channels`` passes, a constant up to :data:`PIXEL_CHANNELS_MAX`.
        Cost per output: one combine per window element, from registers, and
        ``window_depth * window_rows`` passes over the output row. Scratch: none.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        # Per pixel with interleaved channels (one element without).
        pixel = 1 if channels == 1 else (channels or step)
        # window_cols == stride_cols == block; the variables, not the
        # constant, so that segments compiles once for every width.
        per_segment, n_segments = segments(out_cols // pixel, window_cols, stride_cols,
                                           SEGMENT // pixel)
        plane_tasks = out_rows * n_segments
        # A plane (batch item b, output depth d) at a time, counted loops
        # over its rows and segments, elements indexed in 2-D planes: on
        # batches of small images, working b, d and r out and taking 1-D row
        # views for each task cost 3.5x.
        for plane in range(first_task // plane_tasks, (stop_task - 1) // plane_tasks + 1):
            b = plane // out_depth
            d = plane % out_depth
            first = max(first_task - plane * plane_tasks, 0)
            stop = min(stop_task - plane * plane_tasks, plane_tasks)
            out_plane = out[b, d]
            for r in range(first // n_segments, (stop - 1) // n_segments + 1):
                for segment in range(max(first - r * n_segments, 0),
                                     min(stop - r * n_segments, n_segments)):
                    first_out = segment * per_segment
                    stop_out = min(out_cols // pixel, first_out + per_segment)
                    for i in range(window_depth):
                        rows = x[b, d * stride_depth + i]
                        for j in range(window_rows):
                            row, first_row = r * stride_rows + j, i == 0 and j == 0
                            if reduce == SUM:
                                block_row_sum(out_plane, r, first_out, stop_out, rows, row,
                                              first_row, block, pixel)
                            elif block_row_plain(out_plane, r, first_out, stop_out, rows, row,
                                                 first_row, block, pixel, find_max, skip_nan):
                                block_row_nan_aware(out_plane, r, first_out, stop_out, rows, row,
                                                    first_row, block, pixel, find_max, skip_nan)
                    if reduce == SUM and divide_by > 0:
                        # Sums to means, as np.mean, in the row's own dtype
                        # where it holds the count (see pool_row).
                        own = out_plane.dtype.type(divide_by)
                        if real_float(out_plane) and own == divide_by:
                            for o in range(first_out * pixel, stop_out * pixel):
                                o = np.uintp(o)
                                out_plane[np.uintp(r), o] = out_plane[np.uintp(r), o] / own
                        else:
                            for o in range(first_out * pixel, stop_out * pixel):
                                o = np.uintp(o)
                                out_plane[np.uintp(r), o] = (out_plane[np.uintp(r), o]
                                                             / divide_by)

    return block_pool


@functools.cache
def extreme_2x2_pool(reduce):
    """The loop for 2x2 max (``reduce`` is MAX or NANMAX) or min windows two
    columns apart."""
    find_max = reduce in (MAX, NANMAX)
    skip_nan = reduce in (NANMAX, NANMIN)

    @loop(output_rows, strided_rows=True)
    def extreme_2x2_pool(x, window, stride, step, divide_by, first_task, stop_task, out):
        """Max or min of 2x2 windows two columns apart: the separable path for
        the commonest pooling (``window`` is ``(1, 2, 2)``, the column stride 2).

        The two input rows are read once and each output's four values are
        combined in registers and stored once; :func:`block_pool` makes a
        pass over the output per window row. A kernel of its own, so its
        small loop is all that ``max_pool(x, 2)`` compiles. One task is one
        output row; ``step`` (1) and ``divide_by`` are unused (the arguments
        are those of every fast pooling loop).
        Cost per output: 3 combines. Scratch: none.
        """
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        # Plane by plane, as in block_pool.
        for plane in range(first_task // out_rows, (stop_task - 1) // out_rows + 1):
            b = plane // out_depth
            d = plane % out_depth
            rows = x[b, d * stride_depth]
            out_plane = out[b, d]
            for r in range(max(first_task - plane * out_rows, 0),
                           min(stop_task - plane * out_rows, out_rows)):
                # Elements indexed in the planes, as in block_row.
                upper = np.uintp(r * stride_rows)
                lower = upper + np.uintp(1)
                for o in range(out_cols):
                    left = np.uintp(o) * np.uintp(2)
                    right = left + np.uintp(1)
                    out_plane[np.uintp(r), np.uintp(o)] = extreme(
                        extreme(rows[upper, left], rows[lower, left], find_max, skip_nan),
                        extreme(rows[upper, right], rows[lower, right], find_max, skip_nan),
                        find_max, skip_nan)

    return extreme_2x2_pool
