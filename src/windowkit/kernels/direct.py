"""The textbook loops: valid sliding-window reductions, written out in full.

Each kernel works on a 4-D input ``x`` of shape ``(batch, depth, rows, cols)``
and writes a 4-D ``out`` of shape ``(batch, out_depth, out_rows, out_cols)``.
Signals, images and volumes all fit this one form: the public functions move
the windowed axes last, fold the other (batch) axes into one and pad a 1-D or
2-D window to 3-D with windows of size 1. Output element ``(b, d, r, c)`` is
computed from the window whose first element is
``x[b, d * stride_depth, r * stride_rows, c * stride_cols]``.

The loops run the output position outside and the window inside, exactly as
the formula reads. They check no arguments (``windowkit._validation`` does
that) and allocate nothing: memory is the input and the output. One task is
one output row of one batch item; a call runs tasks ``first_task`` to
``stop_task``, and threads share the tasks out (``windowkit.kernels._jit``).
Each output is accumulated in the same order whatever the thread count, so
results are bitwise identical.

Print a loop with ``inspect.getsource(windowkit.kernels.extreme_pool.python)``.
"""

from ._jit import loop, output_rows


@loop(output_rows)
def extreme_pool(x, window, stride, find_max, first_task, stop_task, out):
    """Largest (``find_max``) or smallest value of each window.

    Like ``np.max`` and ``np.min``, a window that holds a NaN gives NaN.
    Cost: one comparison per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in range(first_task, stop_task):
        # One task is one output row of one batch item.
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            first_depth = d * stride_depth
            first_row = r * stride_rows
            first_col = c * stride_cols
            best = x[b, first_depth, first_row, first_col]
            for i in range(window_depth):
                for j in range(window_rows):
                    for k in range(window_cols):
                        value = x[b, first_depth + i, first_row + j, first_col + k]
                        # value != value only for NaN. A NaN taken as best stays,
                        # since no comparison with NaN is true: as in np.max.
                        if find_max:
                            if value > best or value != value:
                                best = value
                        else:
                            if value < best or value != value:
                                best = value
            out[b, d, r, c] = best


@loop(output_rows)
def sum_pool(x, window, stride, zero, first_task, stop_task, out):
    """Sum of each window, accumulated from ``zero`` (which sets its dtype).

    Mean pooling is this sum divided by the window size.
    Cost: one addition per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            first_depth = d * stride_depth
            first_row = r * stride_rows
            first_col = c * stride_cols
            total = zero
            for i in range(window_depth):
                for j in range(window_rows):
                    for k in range(window_cols):
                        total += x[b, first_depth + i, first_row + j, first_col + k]
            out[b, d, r, c] = total


@loop(output_rows)
def correlate(x, weights, stride, zero, first_task, stop_task, out):
    """Valid correlation: each window times ``weights``, summed from ``zero``.

    ``weights`` has shape ``(window_depth, window_rows, window_cols)``. The
    caller conjugates it for correlation and flips it for convolution.
    Cost: one multiply-add per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            first_depth = d * stride_depth
            first_row = r * stride_rows
            first_col = c * stride_cols
            total = zero
            for i in range(window_depth):
                for j in range(window_rows):
                    for k in range(window_cols):
                        value = x[b, first_depth + i, first_row + j, first_col + k]
                        total += value * weights[i, j, k]
            out[b, d, r, c] = total
