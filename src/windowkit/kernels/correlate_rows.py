"""Valid correlation with the output row innermost: the direct sum, vectorised."""

from ._jit import helper, loop, output_rows


@loop(output_rows)
def correlate_rows(x, weights, stride, first_task, stop_task, out):
    """Valid correlation one output row at a time, the output row innermost.

    The same sum as :func:`~windowkit.kernels.direct.correlate`, term for term
    and in the same order (so bitwise the same result), but the loop over
    the output's columns is the inner one: each weight multiplies a
    contiguous run of an input row (packed SIMD when ``stride_cols`` is 1),
    accumulating into the output row. One task is one output row.
    Cost per output: one multiply-add per kernel element, vectorised
    (:func:`correlate_row`). Scratch: none.
    """
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        target = out[b, d, r]
        for c in range(out_cols):
            target[c] = 0
        for i in range(window_depth):
            for j in range(window_rows):
                row = x[b, d * stride_depth + i, r * stride_rows + j]
                correlate_row(target, row, weights[i, j], stride_cols)


@helper
def correlate_row(target, row, weights, stride):
    """``target[c] += row[c * stride + k] * weights[k]`` for each ``k`` in turn.

    At stride 1, three weights per pass over ``target``: the same products
    added in the same order, ``((t + a) + b) + c``, so the same bits, with a
    third of the loads and stores of ``target``.
    """
    n_out = target.shape[0]
    k = 0
    if stride == 1:
        while k + 3 <= weights.shape[0]:
            w0, w1, w2 = weights[k], weights[k + 1], weights[k + 2]
            row0, row1, row2 = row[k:], row[k + 1:], row[k + 2:]
            for c in range(n_out):
                target[c] = ((target[c] + row0[c] * w0) + row1[c] * w1) + row2[c] * w2
            k += 3
        while k < weights.shape[0]:
            shifted, weight = row[k:], weights[k]
            for c in range(n_out):
                target[c] += shifted[c] * weight
            k += 1
    else:
        for k in range(weights.shape[0]):
            weight = weights[k]
            for c in range(n_out):
                target[c] += row[c * stride + k] * weight
