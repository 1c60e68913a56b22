"""van Herk / Gil-Werman pooling: 3 row combines per input row, whatever the
window's height."""

import functools

import numpy as np

from ._jit import loop, row_view, scalar
from .rows import (SEGMENT, SUM, combine_into, copy_into, depth_row, extreme_row_into,
                   finish_held, held_depth_row, pair_into, pool_row, segments)

# van Herk keeps one scratch row per row of the window. Its segments narrow
# when that would pass VAN_HERK_SCRATCH elements (windows over 16 rows on
# rows over 8192 elements, over 64 rows on 2048), down to MIN_SEGMENT: a
# window of 2000 rows then keeps 2000 rows of 512, not of 8192 (128 MB per
# thread in float64).
VAN_HERK_SCRATCH = 1 << 17
MIN_SEGMENT = 1 << 9


@scalar
def van_herk_segment(window_rows):
    """The segment size :func:`van_herk_pool` uses for a window this tall."""
    return max(min(SEGMENT, VAN_HERK_SCRATCH // window_rows), MIN_SEGMENT)


def van_herk_tasks(out, window, stride, step, *args):
    """How many tasks :func:`van_herk_pool` has for ``out``: row blocks x segments."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_blocks = (out_rows - 1) * stride[1] // window[1] + 1
    size = van_herk_segment.py_func(window[1])
    n_segments = segments.py_func(out_cols, (window[2] - 1) * step + 1, stride[2], size)[1]
    return n_batch * out_depth * n_blocks * n_segments


@functools.cache
def van_herk_pool(reduce, doubling, in_place=False):
    """The van Herk loop for ``reduce``, its rows pooled by doubling spans
    (``doubling``) or directly; max and min combined in place (``in_place``,
    for integers, as in :func:`~windowkit.kernels.separable.separable_pool`)
    or out of place (floats)."""
    # Sums, and in-place max and min, accumulate into one row.
    accumulate = reduce == SUM or in_place

    @loop(van_herk_tasks)
    def van_herk_pool(x, window, stride, step, divide_by, first_task, stop_task, out):
        """Pooling with 3 row combines per input row, whatever the window's height.

        van Herk/Gil-Werman along the rows: input rows are cut into blocks of
        ``window_rows``. A window starting at row ``a`` covers the end of its
        block (the suffix from ``a``) and the start of the next one (a
        running prefix), so each output row is one combine of two
        precomputed rows, then pooled along its length
        (:func:`~windowkit.kernels.rows.pool_row`). Each input row is combined
        over the window's depth, then into one suffix and one prefix. Sums
        never subtract, so their error does not grow with the image. One task
        is one block of rows, one segment wide (:func:`van_herk_segment`).
        The window's columns are ``step`` elements apart, as in
        :func:`~windowkit.kernels.separable.separable_pool`.
        Cost per output: about ``2 * window_depth * stride_rows + 1``
        combines per input column, plus the row pooling. Scratch:
        ``window_rows + 3`` segments of :func:`van_herk_segment` elements (max and
        min out of place alternate between two prefix rows).
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        last_start = (out_rows - 1) * stride_rows
        n_blocks = last_start // window_rows + 1
        size = van_herk_segment(window_rows)
        extent = (window_cols - 1) * step + 1
        per_segment, n_segments = segments(out_cols, extent, stride_cols, size)
        span = (min(per_segment, out_cols) - 1) * stride_cols + extent
        suffix_space = np.empty((window_rows, span), out.dtype)
        prefix_space = np.empty((2, span), out.dtype)
        scratch_space = np.empty(span, out.dtype)
        for task in range(first_task, stop_task):
            block_task = task // n_segments
            b = block_task // (out_depth * n_blocks)
            d = block_task // n_blocks % out_depth
            block_start = block_task % n_blocks * window_rows
            first_out = task % n_segments * per_segment
            stop_out = min(out_cols, first_out + per_segment)
            first_col = first_out * stride_cols
            width = (stop_out - first_out - 1) * stride_cols + extent
            prefix = prefix_space[0, :width]
            first_depth = d * stride_depth
            # One input row per step i, combined over the window's depth.
            # Steps 0 to window_rows - 1 read the block's rows, last first:
            # suffix t, the reduction of rows block_start + t to the block's
            # end, is row t of suffix_space (indexed [t, :width], a
            # contiguous row for Numba). Later steps read the next block's
            # rows into the running prefix. Step window_rows - 1 + t
            # completes the window starting at block_start + t: suffix t
            # combined with the prefix.
            for i in range(2 * window_rows - 1):
                if i < window_rows:
                    t = window_rows - 1 - i
                    row, first = block_start + t, i == 0
                    # Suffix t starts from suffix t + 1 (none for the last,
                    # i == 0: the clamp only keeps the index in range).
                    target = suffix_space[t, :width]
                    previous = suffix_space[min(t + 1, window_rows - 1), :width]
                else:
                    t = i - window_rows + 1
                    if block_start + t > last_start:
                        break
                    row, first = block_start + t + window_rows - 1, t == 1
                    # Sums and in-place max and min combine into one prefix
                    # row; out-of-place max and min alternate between two.
                    target = prefix_space[0 if accumulate else t % 2, :width]
                    previous = prefix_space[0 if accumulate else (t - 1) % 2, :width]
                    prefix = target
                if first or accumulate:
                    if not first and i < window_rows:
                        copy_into(target, previous)
                    depth_row(x, b, first_depth, window_depth, row, first_col, target, first,
                              reduce)
                else:  # max and min out of place (see rows.extreme_rows)
                    extreme_row_into(target, previous, x, b, first_depth, window_depth, row,
                                     first_col, reduce)
                if i < window_rows - 1:
                    continue
                start = block_start + t
                if start % stride_rows != 0:
                    continue
                # Suffix t is not read again: the window's row is it combined
                # with the prefix, in place for sums and in-place max and min,
                # else into the scratch row (suffix t then is the scratch).
                window_row, spare = suffix_space[t, :width], scratch_space[:width]
                if t > 0 and accumulate:
                    combine_into(window_row, prefix, reduce)
                elif t > 0:
                    window_row, spare = spare, window_row
                    pair_into(window_row, spare, prefix, reduce)
                out_row = row_view(out, b, d, start // stride_rows)
                pool_row(window_row, window_cols, stride_cols, step, divide_by, spare,
                         out_row[first_out:stop_out], reduce, doubling, in_place)

    return van_herk_pool


@functools.cache
def held_van_herk_pool(doubling, uint8_counts=False):
    """The van Herk loop for sums and means that skip NaN
    (nan_policy="omit"), its rows pooled by doubling spans (``doubling``)
    or directly, its counts uint8 (``uint8_counts``) or float32, as
    :func:`~windowkit.kernels.separable.held_sum_pool`'s."""

    count_type = np.uint8 if uint8_counts else np.float32

    @loop(van_herk_tasks)
    def held_van_herk_pool(x, window, stride, step, mean, min_count, first_task, stop_task,
                           out):
        """:func:`van_herk_pool`'s sums with each window's values counted beside them.

        Every suffix and prefix row has a twin that counts the
        values which are not NaN (a NaN adds zero to the sum:
        :func:`~windowkit.kernels.rows.held_depth_row`); an output row and
        its counts are each pooled along the row, and the window's result
        is NaN below ``min_count`` values, else its sum or (``mean``) its
        mean (:func:`~windowkit.kernels.rows.finish_held`). The arguments
        are :func:`~windowkit.kernels.separable.held_sum_pool`'s, and so is
        the counts' dtype and the plan's limit on the window's size.
        Cost per output: twice :func:`van_herk_pool`'s sums', in one pass
        over the input. Scratch: ``2 * window_rows + 5`` segments.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        last_start = (out_rows - 1) * stride_rows
        n_blocks = last_start // window_rows + 1
        size = van_herk_segment(window_rows)
        extent = (window_cols - 1) * step + 1
        per_segment, n_segments = segments(out_cols, extent, stride_cols, size)
        span = (min(per_segment, out_cols) - 1) * stride_cols + extent
        suffix_space = np.empty((window_rows, span), out.dtype)
        suffix_count_space = np.empty((window_rows, span), count_type)
        prefix_space = np.empty(span, out.dtype)
        prefix_count_space = np.empty(span, count_type)
        scratch_space = np.empty(span, out.dtype)
        count_scratch_space = np.empty(span, count_type)
        counted_space = np.empty(min(per_segment, out_cols), count_type)
        one = count_type(1)
        for task in range(first_task, stop_task):
            block_task = task // n_segments
            b = block_task // (out_depth * n_blocks)
            d = block_task // n_blocks % out_depth
            block_start = block_task % n_blocks * window_rows
            first_out = task % n_segments * per_segment
            stop_out = min(out_cols, first_out + per_segment)
            first_col = first_out * stride_cols
            width = (stop_out - first_out - 1) * stride_cols + extent
            prefix, prefix_count = prefix_space[:width], prefix_count_space[:width]
            first_depth = d * stride_depth
            # The steps of van_herk_pool's sums, each on a row and its count.
            for i in range(2 * window_rows - 1):
                if i < window_rows:
                    t = window_rows - 1 - i
                    row, first = block_start + t, i == 0
                    target, count = suffix_space[t, :width], suffix_count_space[t, :width]
                    if not first:
                        copy_into(target, suffix_space[t + 1, :width])
                        copy_into(count, suffix_count_space[t + 1, :width])
                else:
                    t = i - window_rows + 1
                    if block_start + t > last_start:
                        break
                    row, first = block_start + t + window_rows - 1, t == 1
                    target, count = prefix, prefix_count
                held_depth_row(x, b, first_depth, window_depth, row, first_col, target, count,
                               first, one)
                if i < window_rows - 1:
                    continue
                start = block_start + t
                if start % stride_rows != 0:
                    continue
                window_row, window_count = suffix_space[t, :width], suffix_count_space[t, :width]
                if t > 0:
                    combine_into(window_row, prefix, SUM)
                    combine_into(window_count, prefix_count, SUM)
                out_row = row_view(out, b, d, start // stride_rows)[first_out:stop_out]
                counted = counted_space[:stop_out - first_out]
                pool_row(window_row, window_cols, stride_cols, step, 0, scratch_space[:width],
                         out_row, SUM, doubling, False)
                pool_row(window_count, window_cols, stride_cols, step, 0,
                         count_scratch_space[:width], counted, SUM, doubling, False)
                finish_held(out_row, counted, mean, min_count)

    return held_van_herk_pool
