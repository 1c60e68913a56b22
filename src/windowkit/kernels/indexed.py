"""Max and min pooling with the coordinates of each window's choice, in one pass.

``return_indices=True`` on valid windows: beside each output's value the
loop keeps the window row and column of the element it came from, and
writes that element's coordinates in ``x`` once the window is done. The
window's elements are compared in its row-major order, and a choice is
replaced only by a strictly better element, so the first of equals stays,
as ``np.argmax`` keeps it.
"""

import functools

import numpy as np

from ._jit import helper, loop, output_rows, row_view

# Windows side by side along the rows, 2 to this many columns wide (CNN
# pooling's 2/2, 3/3 and 4/4), are compared in registers, one compiled copy
# per width: 2/2 on (32, 64, 112, 112) float32 took 0.44x the time of the
# pass per window column at a stride the copy does not know.
BLOCK_MAX = 4
# Column strides compiled into copies of their own where windows are not
# side by side: 1, and 2 (ResNet's 3/2 max pool). At a stride the copy
# does not know the loads stay scalar: 3/2 on (32, 64, 112, 112) float32
# took 80-85 ms with return_indices, against 12 ms for the values alone.
FIXED_STRIDES = (1, 2)


@helper
def better(value, held, find_max, skip_nan):
    """Whether ``value`` replaces the choice ``held``: larger (``find_max``)
    or smaller; propagating NaN, the first NaN, which nothing replaces;
    skipping NaN, anything replaces a NaN (it lasts only while the window
    has shown no value)."""
    wins = value > held if find_max else value < held
    if skip_nan:
        return wins or held != held
    return wins or (value != value and held == held)


@functools.cache
def indexed_extreme_pool(find_max, skip_nan, block=0, column_stride=0):
    """The loop for max (``find_max``) or min, NaN propagated (the first NaN
    chosen) or skipped (``skip_nan``: the first extreme of the values,
    coordinates ``-1`` for a window of NaN). ``block`` > 0: windows side
    by side along the rows, that many columns wide and apart, a constant of
    the copy; else ``column_stride`` > 0: the column stride, a constant too
    (one of :data:`FIXED_STRIDES`); 0: read from ``stride``."""

    @loop(output_rows, written=(3,))
    def indexed_extreme_pool(x, window, stride, coordinates, n_coordinates, first_task,
                             stop_task, out):
        """``out[b, d, r, c]``: the max or min of window ``(b, d, r, c)`` of
        ``x``; ``coordinates[b, d, r, c * n_coordinates:][:n_coordinates]``:
        the last ``n_coordinates`` of the coordinates ``(depth, row, col)``
        in ``x`` of the element chosen, the first in the window's row-major
        order (numpy's ``argmax`` of the flattened window).

        Each window row is compared along the whole row of outputs, its
        choices kept in two int32 scratch rows: ``i * window_rows + j``
        and ``k`` of window element ``(i, j, k)``. Windows side by side
        (``block``) take their row's ``block`` elements in registers, in
        one pass over the outputs; other windows make a pass per window
        column, which vectorises at a column stride the copy knows
        (``column_stride``; at a stride it does not know, the loads stay
        scalar). One task is
        one output row. Cost per output: one comparison and three selects
        per window element. Scratch: two rows of ``out_cols`` int32.
        """
        window_depth, window_rows, window_cols = window
        stride_depth, stride_rows, stride_cols = stride
        n_batch, out_depth, out_rows, out_cols = out.shape
        jump = np.uintp(block if block else (column_stride if column_stride else stride_cols))
        chosen_row = np.empty(out_cols, np.int32)
        chosen_col = np.empty(out_cols, np.int32)
        for task in range(first_task, stop_task):
            b = task // (out_depth * out_rows)
            d = task // out_rows % out_depth
            r = task % out_rows
            best = row_view(out, b, d, r)
            for i in range(window_depth):
                for j in range(window_rows):
                    row = row_view(x, b, d * stride_depth + i, r * stride_rows + j)
                    at_row = np.int32(i * window_rows + j)
                    first = i == 0 and j == 0
                    if block:
                        for o in range(out_cols):
                            o = np.uintp(o)
                            start = o * jump
                            if first:
                                held, row_of, col_of = row[start], np.int32(0), np.int32(0)
                            else:
                                held, row_of, col_of = best[o], chosen_row[o], chosen_col[o]
                            for k in range(1 if first else 0, block):
                                value = row[start + np.uintp(k)]
                                wins = better(value, held, find_max, skip_nan)
                                held = value if wins else held
                                row_of = at_row if wins else row_of
                                col_of = np.int32(k) if wins else col_of
                            best[o] = held
                            chosen_row[o] = row_of
                            chosen_col[o] = col_of
                        continue
                    for k in range(window_cols):
                        picked = row[k:]
                        if first and k == 0:
                            for o in range(out_cols):
                                o = np.uintp(o)
                                best[o] = picked[o * jump]
                                chosen_row[o] = 0
                                chosen_col[o] = 0
                            continue
                        at_col = np.int32(k)
                        for o in range(out_cols):
                            o = np.uintp(o)
                            value = picked[o * jump]
                            held = best[o]
                            wins = better(value, held, find_max, skip_nan)
                            best[o] = value if wins else held
                            chosen_row[o] = at_row if wins else chosen_row[o]
                            chosen_col[o] = at_col if wins else chosen_col[o]
            where = row_view(coordinates, b, d, r)
            top = r * stride_rows  # the window's first row, and depth, in x
            # One loop per number of coordinates, whose stride in ``where``
            # is then a constant: the stores vectorise.
            if n_coordinates == 1:
                for o in range(out_cols):
                    where[o] = o * stride_cols + chosen_col[o]
            elif n_coordinates == 2:
                for o in range(out_cols):
                    where[2 * o] = top + chosen_row[o]
                    where[2 * o + 1] = o * stride_cols + chosen_col[o]
            else:
                front = d * stride_depth
                for o in range(out_cols):
                    # chosen_row: i * window_rows + j.
                    i = chosen_row[o] // window_rows
                    where[3 * o] = front + i
                    where[3 * o + 1] = top + chosen_row[o] - i * window_rows
                    where[3 * o + 2] = o * stride_cols + chosen_col[o]
            if skip_nan:
                for o in range(out_cols):
                    if best[o] != best[o]:  # a window of NaN: no value
                        for a in range(n_coordinates):
                            where[o * n_coordinates + a] = -1

    return indexed_extreme_pool
