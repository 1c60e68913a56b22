"""The backward pass of pooling as loops: each output's gradient added back
where its window read.

- :func:`spread`: the adjoint of the sum pool (the gradient of a sum or a
  mean pool): an output's weight added at every position of its window;
- :func:`add_at`: the adjoint of choosing one element (max and min
  pooling's gradient, :func:`windowkit.unpool`): a value added at its
  index.

Reading a window and adding back into it are the same loop nest with the
assignment turned round. Windows overlap, so two outputs may add to the
same element: one task is one batch item, whose elements no other task
touches, and within it the adds run in one fixed order, so results are
bitwise identical for any number of threads.

Print a loop with ``inspect.getsource(windowkit.kernels.spread.python)``.
"""

from ._jit import loop


def _batch_items(out, *args):
    """The task count of these loops: one task per batch item of ``out``."""
    return out.shape[0]


@loop(_batch_items)
def spread(weights, window, stride, dilation, first_task, stop_task, out):
    """Each output's weight added at every position of its window:

        out[b, d*s0 + i*d0, r*s1 + j*d1, c*s2 + k*d2] += weights[b, d, r, c]

    for every window element ``(i, j, k)``. ``weights`` is (batch,
    out_depth, out_rows, out_cols); ``out`` (batch, depth, rows, cols), in
    the padded coordinates of the pool (position 0 the first of the
    padding before), zeros on entry. The gradient of a sum pool is this
    with the output gradient as the weights; of a mean pool, with the
    output gradient divided by each window's count.
    Cost: one add per window element and output.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    dilation_depth, dilation_rows, dilation_cols = dilation
    n_batch, out_depth, out_rows, out_cols = weights.shape
    for b in range(first_task, stop_task):
        for d in range(out_depth):
            for r in range(out_rows):
                # The output row innermost: one window element at a time,
                # a run of adds along a row of out (vectorised at stride 1).
                source = weights[b, d, r]
                for i in range(window_depth):
                    depth = d * stride_depth + i * dilation_depth
                    for j in range(window_rows):
                        target = out[b, depth, r * stride_rows + j * dilation_rows]
                        for k in range(window_cols):
                            start = k * dilation_cols
                            for c in range(out_cols):
                                target[start + c * stride_cols] += source[c]


@loop(_batch_items)
def add_at(values, indices, lengths, first_task, stop_task, out):
    """Each value added at its coordinates: ``out[b, (i0, i1, ...)] +=
    values[b, m]`` for ``(i0, i1, ...) = indices[b, m]``, coordinates
    outside ``[0, lengths)`` sending nothing. ``values`` is (batch, values
    per item), ``indices`` (batch, values per item, coordinates), ``out``
    (batch, elements per item), its elements in row-major order over axes
    of ``lengths``, zeros on entry.
    Cost: one add per value.
    """
    n_batch, n_values = values.shape
    n_axes = lengths.shape[0]
    for b in range(first_task, stop_task):
        for m in range(n_values):
            at = 0
            inside = True
            for axis in range(n_axes):
                coordinate = indices[b, m, axis]
                inside = inside and 0 <= coordinate < lengths[axis]
                at = at * lengths[axis] + coordinate
            if inside:
                out[b, at] += values[b, m]
