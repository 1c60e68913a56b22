"""im2col: the column matrix of a convolutional layer's windows, gathered by a loop."""

from ._jit import loop


def _column_rows(out, *args):
    """The task count of :func:`gather_columns`: the column matrix's rows."""
    return out.shape[0]


@loop(_column_rows)
def gather_columns(x, window, stride, dilation, tile, first_task, stop_task, out):
    """Rows of the column matrix of a tile of output rows: row ``(c, i, j,
    k)`` of ``out`` (channels times window elements, row-major) holds, for
    each output position ``(r, col)`` of the tile, the element window
    element ``(i, j, k)`` of that position's window reads in channel ``c``:

        out[(c, i, j, k), r * out_cols + col] =
            x[c, d*s0 + i*d0, (first_row + r)*s1 + j*d1, col*s2 + k*d2]

    ``x`` is a padded batch item (channels, depth, rows, cols); ``tile`` is
    ``(d, first_row, n_rows, out_cols)``. What the copy of the stride-trick
    window view does (``sliding_window_view(...).transpose(...).reshape``),
    one contiguous run of the output row per input row, without numpy's
    iteration over seven axes. One task is one row of ``out``.
    Cost: one copy per element of ``out``.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    dilation_depth, dilation_rows, dilation_cols = dilation
    d, first_row, n_rows, out_cols = tile
    elements = window_depth * window_rows * window_cols
    for task in range(first_task, stop_task):
        c = task // elements
        i = task % elements // (window_rows * window_cols)
        j = task % (window_rows * window_cols) // window_cols
        k = task % window_cols
        depth = d * stride_depth + i * dilation_depth
        target = out[task]
        for r in range(n_rows):
            row = x[c, depth, (first_row + r) * stride_rows + j * dilation_rows]
            start = k * dilation_cols
            for col in range(out_cols):
                target[r * out_cols + col] = row[start + col * stride_cols]


def _channels(out, *args):
    """The task count of :func:`scatter_columns`: the channels of ``out``."""
    return out.shape[0]


@loop(_channels)
def scatter_columns(columns, window, stride, dilation, tile, first_task, stop_task, out):
    """The adjoint of :func:`gather_columns` (col2im): each element of the
    column matrix of a tile added to the element of the padded item
    ``out`` (channels, depth, rows, cols) it was gathered from,

        out[c, d*s0 + i*d0, (first_row + r)*s1 + j*d1, col*s2 + k*d2] +=
            columns[(c, i, j, k), r * out_cols + col]

    so that windows sharing an element add up: the gradient of the input
    of a strided layer from the gradient of its column matrix. One task is
    one channel (its rows of ``columns``), so no two tasks add to the same
    element. Cost: one add per element of ``columns``.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    dilation_depth, dilation_rows, dilation_cols = dilation
    d, first_row, n_rows, out_cols = tile
    elements = window_depth * window_rows * window_cols
    for c in range(first_task, stop_task):
        for element in range(elements):
            i = element // (window_rows * window_cols)
            j = element % (window_rows * window_cols) // window_cols
            k = element % window_cols
            depth = d * stride_depth + i * dilation_depth
            source = columns[c * elements + element]
            for r in range(n_rows):
                row = out[c, depth, (first_row + r) * stride_rows + j * dilation_rows]
                start = k * dilation_cols
                for col in range(out_cols):
                    row[start + col * stride_cols] += source[r * out_cols + col]
