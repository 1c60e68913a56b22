"""Valid correlation with the output row innermost: the direct sum, vectorised."""

import numpy as np

from ._jit import helper, loop, output_rows, row_view


# Column strides up to this are computed at stride 1 along the row, then
# every stride-th sum kept: contiguous, vectorised loads for stride times the
# sums beat strided loads (docs/performance.md has the measurements).
FULL_ROW_STRIDE_MAX = 8


@loop(output_rows)
def correlate_rows(x, weights, stride, step, first_task, stop_task, out):
    """Valid correlation one output row at a time, the output row innermost.

    The same sum as :func:`~windowkit.kernels.direct.correlate`, term for term
    and in the same order (so bitwise the same result), but the loop over
    the output's columns is the inner one: each weight multiplies a
    contiguous run of an input row (packed SIMD), accumulating into the
    output row. At column strides 2 to :data:`FULL_ROW_STRIDE_MAX` the row
    is summed at every column into a scratch row, and every stride-th sum
    is kept; only the input rows an output row needs are read. A kernel
    three columns wide at stride 1 takes its rows three at a time
    (:func:`correlate_three_rows`: one pass over the output row for
    nine weights; from three rows on the first pass writes the sums, so
    they are not zeroed first). One task is one output row.

    The kernel's columns are ``step`` elements apart: 1, or for channels
    interleaved in the row (an RGB image, NHWC maps), the channel count,
    so that every load runs along the interleaved row; the column stride
    then counts pixels, and at strides above 1 every stride-th pixel's
    sums are kept (``step`` is 1 at strides above
    :data:`FULL_ROW_STRIDE_MAX`).
    Cost per output: one multiply-add per kernel element, vectorised
    (:func:`correlate_row`); times the column stride at strides 2 to 8;
    one load and store of the output per pass (a third of them for
    three-column kernels). Scratch: one row at those strides.
    """
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    full_row = 1 < stride_cols <= FULL_ROW_STRIDE_MAX
    pace = 1 if full_row else stride_cols  # input columns from one sum to the next
    out_pixels = out_cols // step
    scratch = np.empty(((out_pixels - 1) * stride_cols + 1) * step if full_row else 0, out.dtype)
    three_rows = step == 1 and pace == 1 and window_cols == 3  # (correlate_three_rows)
    zero = np.zeros(1, out.dtype)[0]
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        target = row_view(out, b, d, r)
        sums = scratch if full_row else target
        fresh = three_rows and window_rows >= 3  # the first pass writes the sums
        if not fresh:
            for c in range(sums.shape[0]):
                sums[c] = 0
        for i in range(window_depth):
            j = 0
            while j < window_rows:
                at = r * stride_rows + j
                row = row_view(x, b, d * stride_depth + i, at)
                if three_rows and j + 3 <= window_rows:
                    correlate_three_rows(sums, row, row_view(x, b, d * stride_depth + i, at + 1),
                                         row_view(x, b, d * stride_depth + i, at + 2),
                                         weights[i, j:j + 3], zero, fresh)
                    fresh = False
                    j += 3
                    continue
                if step == 1:
                    correlate_row(sums, row, weights[i, j], pace)
                else:
                    correlate_pixel_row(sums, row, weights[i, j], step)
                j += 1
        if full_row and step == 1:
            for c in range(out_cols):
                target[c] = scratch[c * stride_cols]
        elif full_row:
            for p in range(out_pixels):
                for c in range(step):
                    target[p * step + c] = scratch[p * stride_cols * step + c]


@loop(output_rows)
def padded_correlate_rows(x, weights, stride, depth_index, row_index, col_index, lo, hi,
                          before, cval, first_task, stop_task, out):
    """:func:`correlate_rows` beyond valid windows, reading ``x`` in place.

    The index tables say which input depth plane, row and column each padded
    position holds (-1: the constant ``cval``), one per windowed axis over
    the positions the outputs' windows span (see
    :func:`windowkit._padded.source_index`). A window row that lies in the
    padding along the rows or planes is a row of ``cval``. Along a row, the
    sums ``lo`` to ``hi`` (those whose windows lie wholly in ``x``'s
    columns, ``before`` columns of padding before them) are the valid
    loop's, vectorised on the input row in place; the few on either side
    take their columns through the table, each in one loop over its window
    once the row's interior is done, from the same input rows while they
    are in cache (per window row, as the interior, they had cost 1.13x the
    valid loop's time, one thread, against 1.08x). The sums are indexed as
    :func:`correlate_rows` indexes them (every column at strides 2 to
    :data:`FULL_ROW_STRIDE_MAX`, else every output); each adds its terms in
    the textbook order, so the result is
    :func:`~windowkit.kernels.direct.padded_correlate`'s, bitwise.
    One task is one output row.
    Cost per output: one multiply-add per kernel element, as correlate_rows.
    Scratch: a row of ``cval`` as long as ``x``'s; a row of sums at strides
    2 to 8.
    """
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    full_row = 1 < stride_cols <= FULL_ROW_STRIDE_MAX
    pace = 1 if full_row else stride_cols  # input columns from one sum to the next
    n_sums = (out_cols - 1) * stride_cols + 1 if full_row else out_cols
    scratch = np.empty(n_sums if full_row else 0, out.dtype)
    constant = np.empty(x.shape[3], x.dtype)
    for c in range(constant.shape[0]):
        constant[c] = cval
    three_rows = pace == 1 and window_cols == 3  # (correlate_three_rows)
    zero = np.zeros(1, out.dtype)[0]
    start = lo * pace - before  # the first interior sum's first column in x
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        target = row_view(out, b, d, r)
        sums = scratch if full_row else target
        interior = sums[lo:hi]
        fresh = three_rows and window_rows >= 3  # the first pass writes the interior
        if not fresh:
            for c in range(interior.shape[0]):
                interior[c] = 0
        for i in range(window_depth):
            plane = depth_index[d * stride_depth + i]
            j = 0
            while j < window_rows and lo < hi:
                at = r * stride_rows + j
                row = padded_row(x, constant, b, plane, row_index[at])
                if three_rows and j + 3 <= window_rows:
                    correlate_three_rows(
                        interior, row[start:],
                        padded_row(x, constant, b, plane, row_index[at + 1])[start:],
                        padded_row(x, constant, b, plane, row_index[at + 2])[start:],
                        weights[i, j:j + 3], zero, fresh)
                    fresh = False
                    j += 3
                    continue
                correlate_row(interior, row[start:], weights[i, j], pace)
                j += 1
        # The border sums, before lo and from hi on: each window in one loop.
        # Its window rows are looked up as padded_row does, written out:
        # that helper, in this loop, made it 1.28x
        # the valid loop's time on one thread, against 1.08x.
        c = 0
        while c < n_sums:
            if c == lo:
                c = max(lo, hi)
                if c >= n_sums:
                    break
            total = zero
            for i in range(window_depth):
                plane = depth_index[d * stride_depth + i]
                for j in range(window_rows):
                    source_row = row_index[r * stride_rows + j]
                    if plane < 0 or source_row < 0:
                        row = constant
                    else:
                        row = row_view(x, b, plane, source_row)
                    for k in range(window_cols):
                        source = col_index[c * pace + k]
                        value = row[source] if source >= 0 else cval
                        total += value * weights[i, j, k]
            sums[c] = total
            c += 1
        if full_row:
            for c in range(out_cols):
                target[c] = scratch[c * stride_cols]


@helper
def padded_row(x, constant, b, plane, row):
    """Row ``row`` of plane ``plane`` of ``x[b]``, or the row of ``cval``
    where either is -1 (in the padding)."""
    if plane < 0 or row < 0:
        return constant
    return row_view(x, b, plane, row)


# Weights per pass over the output row at stride 1: each output is loaded
# and stored once per pass, and a pass of this many weights keeps its sum in
# a register in between. 11x11 float32 on 2048x2048 ran 1.3x faster than
# with passes of three weights only, 8 faster than 4, 6 or 12 (medians;
# docs/performance.md).
WEIGHTS_PER_PASS = 8


@helper
def correlate_row(target, row, weights, stride):
    """``target[c] += row[c * stride + k] * weights[k]`` for each ``k`` in turn.

    At stride 1, :data:`WEIGHTS_PER_PASS` weights per pass over ``target``
    while that many are left, then three: the same products added in the
    same order, ``((t + a) + b) + c``, so the same bits, with fewer loads
    and stores of ``target``.
    """
    n_out = target.shape[0]
    k = 0
    if stride == 1:
        while k + WEIGHTS_PER_PASS <= weights.shape[0]:
            block, shifted = weights[k:k + WEIGHTS_PER_PASS], row[k:]
            for c in range(n_out):
                total = target[c]
                for q in range(WEIGHTS_PER_PASS):
                    total += shifted[c + q] * block[q]
                target[c] = total
            k += WEIGHTS_PER_PASS
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


@helper
def correlate_three_rows(target, row0, row1, row2, weights, zero, fresh):
    """``target[c] += row0[c + k] * weights[0, k]``, then the same for
    ``row1`` and ``row2``: :func:`correlate_row` at stride 1 for three rows
    of a kernel three columns wide, in one pass over ``target``, the same
    terms added in the same order (so the same bits). ``fresh``: the sums
    start from ``zero``, not from ``target``.

    One pass, not three (and no pass to zero the sums): 3x3 on 2048x2048
    float32 took 0.63x the time of a pass per row on one thread, 0.66x on
    two (medians of 11 alternated rounds).
    """
    a0, a1, a2 = weights[0, 0], weights[0, 1], weights[0, 2]
    b0, b1, b2 = weights[1, 0], weights[1, 1], weights[1, 2]
    c0, c1, c2 = weights[2, 0], weights[2, 1], weights[2, 2]
    for c in range(target.shape[0]):
        total = zero if fresh else target[c]
        total = ((total + row0[c] * a0) + row0[c + 1] * a1) + row0[c + 2] * a2
        total = ((total + row1[c] * b0) + row1[c + 1] * b1) + row1[c + 2] * b2
        target[c] = ((total + row2[c] * c0) + row2[c + 1] * c1) + row2[c + 2] * c2


@helper
def correlate_pixel_row(target, row, weights, step):
    """``target[c] += row[c + k * step] * weights[k]`` for each ``k`` in
    turn: :func:`correlate_row` at stride 1 for a kernel's columns ``step``
    elements apart (interleaved channels), in passes of three weights.

    A loop of its own: with ``step`` in the passes of eight weights, their
    offsets were no longer constants and LLVM left them scalar (2048²
    11x11 7.6x slower), and one body for both doubled the loop's first
    compile (0.65 to 1.3 s).
    """
    n_out = target.shape[0]
    k = 0
    while k + 3 <= weights.shape[0]:
        w0, w1, w2 = weights[k], weights[k + 1], weights[k + 2]
        row0, row1, row2 = row[k * step:], row[(k + 1) * step:], row[(k + 2) * step:]
        for c in range(n_out):
            target[c] = ((target[c] + row0[c] * w0) + row1[c] * w1) + row2[c] * w2
        k += 3
    while k < weights.shape[0]:
        shifted, weight = row[k * step:], weights[k]
        for c in range(n_out):
            target[c] += shifted[c] * weight
        k += 1


@loop(output_rows)
def conv_rows(x, weight, bias, stride, dilation, first_task, stop_task, out):
    """A convolutional layer (:func:`~windowkit.kernels.direct.conv`) on one
    padded batch item ``x`` (in_channels, depth, rows, cols), valid
    windows, into ``out`` (out_channels, depth, rows, cols), the output row
    innermost as in :func:`correlate_rows`: each weight multiplies a run of
    an input row, accumulating into the output row from ``bias[o]``.

    Columns of a dilated window are :func:`correlate_pixel_row`'s ``step``;
    at column strides 2 to :data:`FULL_ROW_STRIDE_MAX` (or any, dilated) the
    row is summed at every column into a scratch row and every stride-th
    sum kept. One task is one output row of one output channel.
    Cost per output: one multiply-add per weight element of its group,
    vectorised; times the column stride where the row is summed in full.
    """
    n_out, group_in, window_depth, window_rows, window_cols = weight.shape
    stride_depth, stride_rows, stride_cols = stride
    dilation_depth, dilation_rows, dilation_cols = dilation
    _, out_depth, out_rows, out_cols = out.shape
    group_out = n_out // (x.shape[0] // group_in)
    full_row = stride_cols > 1 and (stride_cols <= FULL_ROW_STRIDE_MAX or dilation_cols > 1)
    scratch = np.empty((out_cols - 1) * stride_cols + 1 if full_row else 0, out.dtype)
    for task in range(first_task, stop_task):
        o = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        first_in = o // group_out * group_in
        target = row_view(out, o, d, r)
        sums = scratch if full_row else target
        for c in range(sums.shape[0]):
            sums[c] = bias[o]
        for ci in range(group_in):
            for i in range(window_depth):
                for j in range(window_rows):
                    row = row_view(x, first_in + ci, d * stride_depth + i * dilation_depth,
                                   r * stride_rows + j * dilation_rows)
                    if dilation_cols == 1:
                        correlate_row(sums, row, weight[o, ci, i, j],
                                      1 if full_row else stride_cols)
                    else:
                        correlate_pixel_row(sums, row, weight[o, ci, i, j], dilation_cols)
        if full_row:
            for c in range(out_cols):
                target[c] = scratch[c * stride_cols]


def _out_channels(out, *args):
    """The task count of :func:`conv_weight_rows`: the output channels."""
    return out.shape[0]


@loop(_out_channels)
def conv_weight_rows(x, grad_output, stride, dilation, zero, first_task, stop_task, out):
    """The weight gradient of :func:`conv_rows`'s layer for one padded batch
    item ``x`` (in_channels, depth, rows, cols) and the gradient of its
    output ``grad_output`` (out_channels, depth, rows, cols):

        out[o, ci, i, j, k] = sum over (d, r, c) of grad_output[o, d, r, c]
            * x[first_in + ci, d*s0 + i*d0, r*s1 + j*d1, c*s2 + k*d2]

    (``first_in`` the first input channel of ``o``'s group): per weight
    element, the output gradient times the inputs that element read. The
    products are added along each output row into a row of partial sums
    (elementwise, so vectorised), and the row summed once the element's
    rows are done. One task is one output channel. ``grad_output``'s rows
    are read as contiguous (:func:`~windowkit.kernels._jit.row_view`): the
    caller passes it C-ordered.
    Cost: one multiply-add per weight element per output, vectorised.
    Scratch: one output row.
    """
    n_out, group_in, window_depth, window_rows, window_cols = out.shape
    stride_depth, stride_rows, stride_cols = stride
    dilation_depth, dilation_rows, dilation_cols = dilation
    _, out_depth, out_rows, out_cols = grad_output.shape
    group_out = n_out // (x.shape[0] // group_in)
    sums = np.empty(out_cols, out.dtype)
    for o in range(first_task, stop_task):
        first_in = o // group_out * group_in
        for ci in range(group_in):
            for i in range(window_depth):
                for j in range(window_rows):
                    for k in range(window_cols):
                        for c in range(out_cols):
                            sums[c] = zero
                        start = k * dilation_cols
                        for d in range(out_depth):
                            for r in range(out_rows):
                                gradient = row_view(grad_output, o, d, r)
                                row = row_view(x, first_in + ci,
                                               d * stride_depth + i * dilation_depth,
                                               r * stride_rows + j * dilation_rows)
                                if stride_cols == 1:  # contiguous loads: vectorised
                                    shifted = row[start:]
                                    for c in range(out_cols):
                                        sums[c] += gradient[c] * shifted[c]
                                else:
                                    for c in range(out_cols):
                                        sums[c] += gradient[c] * row[start + c * stride_cols]
                        total = zero
                        for c in range(out_cols):
                            total += sums[c]
                        out[o, ci, i, j, k] = total
