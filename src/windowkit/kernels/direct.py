"""The textbook loops: sliding-window reductions, written out in full.

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

The ``padded_*`` loops add the geometry beyond valid windows in its plainest
form: window element ``(i, j, k)`` of output ``(d, r, c)`` sits at padded
position ``d * stride_depth + i * dilation_depth`` (and so on), which is input
position that minus the padding before; :func:`source` says which input
element a position outside the input holds, if any.

Print a loop with ``inspect.getsource(windowkit.kernels.extreme_pool.python)``.
"""

import numpy as np

from ._jit import loop, output_rows, scalar
from .rows import HOLDS_CVAL, HOLDS_NOTHING

# What padded positions hold (the ``mode`` argument of the padded loops):
# np.pad's modes, and IGNORE, no element at all (pools only).
CONSTANT, IGNORE, EDGE, REFLECT, SYMMETRIC, WRAP = range(6)
MODES = ("constant", "ignore", "edge", "reflect", "symmetric", "wrap")
# source returns rows.HOLDS_CVAL for a position that holds cval,
# rows.HOLDS_NOTHING for one that holds nothing.


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


@scalar
def source(position, n, after, mode):
    """The input index that input position ``position`` holds on an axis of
    length ``n`` padded by ``after`` elements at its end (positions before
    0 are the padding before it): itself inside the input, ``HOLDS_CVAL``
    for a constant, ``HOLDS_NOTHING`` for no element (``IGNORE``, or past
    the padded end: the part of a ``ceil_mode`` window outside it)."""
    if position >= n + after:
        return HOLDS_NOTHING
    if 0 <= position < n:
        return position
    if mode == CONSTANT:
        return HOLDS_CVAL
    if mode == IGNORE:
        return HOLDS_NOTHING
    if mode == EDGE:
        return 0 if position < 0 else n - 1
    if mode == WRAP:
        return position % n
    if mode == REFLECT:  # ... 2 1 | 0 1 2 ... n-1 | n-2 ...: the edge once
        if n == 1:
            return 0
        position = position % (2 * n - 2)
        return position if position < n else 2 * n - 2 - position
    position = position % (2 * n)  # SYMMETRIC: ... 1 0 | 0 1 ... n-1 | n-1 ...
    return position if position < n else 2 * n - 1 - position


@loop(output_rows, strided_rows=True)
def padded_extreme_pool(x, window, stride, dilation, before, after, mode, cval, find_max,
                        skip_nan, min_count, first_task, stop_task, out):
    """:func:`extreme_pool` with padding ``before`` and ``after`` each axis,
    what it holds (``mode``, ``cval``) and ``dilation``.

    A window position that holds nothing is not part of the window; the
    caller has checked that every window holds something. ``skip_nan``: a
    NaN is not a value either (``np.nanmax``), and a window of fewer than
    ``min_count`` values (at least one) gives NaN.
    Cost: one comparison per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_depth, n_rows, n_cols = x.shape[1], x.shape[2], x.shape[3]
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            best = cval
            count = 0
            for i in range(window_depth):
                di = source(d * stride[0] + i * dilation[0] - before[0], n_depth, after[0], mode)
                for j in range(window_rows):
                    rj = source(r * stride[1] + j * dilation[1] - before[1], n_rows, after[1],
                                mode)
                    for k in range(window_cols):
                        ck = source(c * stride[2] + k * dilation[2] - before[2], n_cols,
                                    after[2], mode)
                        if di == HOLDS_NOTHING or rj == HOLDS_NOTHING or ck == HOLDS_NOTHING:
                            continue
                        if di == HOLDS_CVAL or rj == HOLDS_CVAL or ck == HOLDS_CVAL:
                            value = cval
                        else:
                            value = x[b, di, rj, ck]
                        if skip_nan and value != value:
                            continue
                        if count == 0:
                            best = value
                        elif find_max:
                            if value > best or value != value:
                                best = value
                        else:
                            if value < best or value != value:
                                best = value
                        count += 1
            if count < max(min_count, 1):
                out[b, d, r, c] = np.nan  # only where skip_nan: floats
            else:
                out[b, d, r, c] = best


@loop(output_rows, strided_rows=True)
def padded_sum_pool(x, window, stride, dilation, before, after, mode, cval, zero, mean,
                    skip_nan, min_count, first_task, stop_task, out):
    """:func:`sum_pool` with padding, ``mode`` and ``dilation`` (see
    :func:`padded_extreme_pool`); ``mean``: divided by how many positions
    of the window hold a value (a constant counts). ``skip_nan``: a NaN is
    not a value (``np.nansum``, ``np.nanmean``), and a window of fewer than
    ``min_count`` values gives NaN.
    Cost: one addition per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_depth, n_rows, n_cols = x.shape[1], x.shape[2], x.shape[3]
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            total = zero
            count = 0
            for i in range(window_depth):
                di = source(d * stride[0] + i * dilation[0] - before[0], n_depth, after[0], mode)
                for j in range(window_rows):
                    rj = source(r * stride[1] + j * dilation[1] - before[1], n_rows, after[1],
                                mode)
                    for k in range(window_cols):
                        ck = source(c * stride[2] + k * dilation[2] - before[2], n_cols,
                                    after[2], mode)
                        if di == HOLDS_NOTHING or rj == HOLDS_NOTHING or ck == HOLDS_NOTHING:
                            continue
                        if di == HOLDS_CVAL or rj == HOLDS_CVAL or ck == HOLDS_CVAL:
                            value = cval
                        else:
                            value = x[b, di, rj, ck]
                        if skip_nan and value != value:
                            continue
                        total += value
                        count += 1
            if count < min_count or (mean and count == 0):
                out[b, d, r, c] = np.nan  # only where skip_nan: floats
            elif mean:  # as np.mean: a float32 sum divided in double, rounded once
                out[b, d, r, c] = total / count
            else:
                out[b, d, r, c] = total


@loop(output_rows, strided_rows=True)
def padded_correlate(x, weights, stride, dilation, before, after, mode, cval, zero,
                     first_task, stop_task, out):
    """:func:`correlate` with padding, ``mode`` and ``dilation`` (see
    :func:`padded_extreme_pool`; every padded position holds an element).
    Cost: one multiply-add per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = weights.shape
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_depth, n_rows, n_cols = x.shape[1], x.shape[2], x.shape[3]
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            total = zero
            for i in range(window_depth):
                di = source(d * stride[0] + i * dilation[0] - before[0], n_depth, after[0], mode)
                for j in range(window_rows):
                    rj = source(r * stride[1] + j * dilation[1] - before[1], n_rows, after[1],
                                mode)
                    for k in range(window_cols):
                        ck = source(c * stride[2] + k * dilation[2] - before[2], n_cols,
                                    after[2], mode)
                        if di == HOLDS_CVAL or rj == HOLDS_CVAL or ck == HOLDS_CVAL:
                            value = cval
                        else:
                            value = x[b, di, rj, ck]
                        total += value * weights[i, j, k]
            out[b, d, r, c] = total


def _located_rows(out, *args):
    """The task count of :func:`locate_extreme`: output rows of its 5-D ``out``."""
    return out.shape[0] * out.shape[1] * out.shape[2]


@loop(_located_rows, strided_rows=True)
def locate_extreme(x, missing, values, window, stride, dilation, before, after, mode, cval,
                   skip_missing, first_task, stop_task, out):
    """Where each window's max or min came from: ``out[b, d, r, c]`` is the
    coordinates ``(depth, row, col)`` in ``x`` (the last ``out.shape[4]``
    of them) of the first element of
    window ``(b, d, r, c)``, in the window's row-major order, equal to
    ``values[b, d, r, c]``; for a NaN value, of its first NaN; ``-1`` in
    every coordinate for none.

    Elements where ``missing`` is true are skipped (``skip_missing``; else
    ``missing`` is a placeholder). The window has the padded geometry of
    :func:`padded_extreme_pool`: a padded constant lies at its position
    outside ``[0, n)``, a copied element at that of the element it copies.
    A max or min is the first of its equals that the pool kept (every
    method keeps the first), so this is numpy's ``argmax`` of the window.
    Valid windows of an ndarray take the one-pass loop instead
    (:mod:`windowkit.kernels.indexed`); this scan serves padded windows,
    masked arrays, ``method="direct"``, ``impl="strided"`` and Dask's blocks.
    Cost: at most one comparison per window element; it stops at the first match.
    """
    window_depth, window_rows, window_cols = window
    n_batch, out_depth, out_rows, out_cols = values.shape
    n_depth, n_rows, n_cols = x.shape[1], x.shape[2], x.shape[3]
    for task in range(first_task, stop_task):
        b = task // (out_depth * out_rows)
        d = task // out_rows % out_depth
        r = task % out_rows
        for c in range(out_cols):
            target = values[b, d, r, c]
            is_nan = target != target
            found = False
            found_depth, found_row, found_col = -1, -1, -1
            for i in range(window_depth):
                p = d * stride[0] + i * dilation[0] - before[0]
                di = source(p, n_depth, after[0], mode)
                if di == HOLDS_NOTHING:
                    continue
                at_depth = p if di == HOLDS_CVAL else di
                for j in range(window_rows):
                    q = r * stride[1] + j * dilation[1] - before[1]
                    rj = source(q, n_rows, after[1], mode)
                    if rj == HOLDS_NOTHING:
                        continue
                    at_row = q if rj == HOLDS_CVAL else rj
                    for k in range(window_cols):
                        t = c * stride[2] + k * dilation[2] - before[2]
                        ck = source(t, n_cols, after[2], mode)
                        if ck == HOLDS_NOTHING:
                            continue
                        if di == HOLDS_CVAL or rj == HOLDS_CVAL or ck == HOLDS_CVAL:
                            value = cval
                        elif skip_missing and missing[b, di, rj, ck]:
                            continue
                        else:
                            value = x[b, di, rj, ck]
                        if value == target or (is_nan and value != value):
                            found_depth, found_row = at_depth, at_row
                            found_col = t if ck == HOLDS_CVAL else ck
                            found = True
                            break
                    if found:
                        break
                if found:
                    break
            write_coordinates(out, b, d, r, c, found_depth, found_row, found_col)


@scalar
def write_coordinates(out, b, d, r, c, depth, row, col):
    """The last ``out.shape[4]`` of the coordinates ``(depth, row, col)``
    into ``out[b, d, r, c]``: those of the windowed axes (the others are of
    a window 1 long)."""
    n_coordinates = out.shape[4]
    if n_coordinates == 3:
        out[b, d, r, c, 0] = depth
    if n_coordinates >= 2:
        out[b, d, r, c, n_coordinates - 2] = row
    out[b, d, r, c, n_coordinates - 1] = col


def _conv_rows(out, *args):
    """The task count of :func:`conv`: output rows of its 5-D ``out``."""
    return out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3]


@loop(_conv_rows, strided_rows=True)
def conv(x, weight, bias, stride, dilation, before, after, mode, cval, first_task, stop_task,
         out):
    """A convolutional layer's forward pass, PyTorch's ``conv3d``: ``x`` is
    ``(batch, in_channels, depth, rows, cols)``, ``weight`` is
    ``(out_channels, in_channels // groups, window_depth, window_rows,
    window_cols)``, and output channel ``o`` of group ``g = o //
    (out_channels // groups)`` is ``bias[o]`` plus the correlation (no
    conjugate) of its group of input channels with ``weight[o]``:

        out[b, o, d, r, c] = bias[o] + sum over ci, i, j, k of
            x[b, g * group_in + ci, d*s0 + i*d0, r*s1 + j*d1, c*s2 + k*d2]
            * weight[o, ci, i, j, k]

    in padded positions (``before``, ``after``, ``mode``, ``cval``: see
    :func:`padded_extreme_pool`). The loop nest reads as the formula: output
    channel and position outside, input channel and window inside.
    Cost: one multiply-add per weight element, O(in_channels // groups *
    window size) per output.
    """
    n_out, group_in, window_depth, window_rows, window_cols = weight.shape
    n_batch, _, out_depth, out_rows, out_cols = out.shape
    n_depth, n_rows, n_cols = x.shape[2], x.shape[3], x.shape[4]
    group_out = n_out // (x.shape[1] // group_in)
    for task in range(first_task, stop_task):
        b = task // (n_out * out_depth * out_rows)
        o = task // (out_depth * out_rows) % n_out
        d = task // out_rows % out_depth
        r = task % out_rows
        first_in = o // group_out * group_in  # the group's first input channel
        for c in range(out_cols):
            total = bias[o]
            for ci in range(group_in):
                for i in range(window_depth):
                    di = source(d * stride[0] + i * dilation[0] - before[0], n_depth, after[0],
                                mode)
                    for j in range(window_rows):
                        rj = source(r * stride[1] + j * dilation[1] - before[1], n_rows,
                                    after[1], mode)
                        for k in range(window_cols):
                            ck = source(c * stride[2] + k * dilation[2] - before[2], n_cols,
                                        after[2], mode)
                            if di == HOLDS_CVAL or rj == HOLDS_CVAL or ck == HOLDS_CVAL:
                                value = cval
                            else:
                                value = x[b, first_in + ci, di, rj, ck]
                            total += value * weight[o, ci, i, j, k]
            out[b, o, d, r, c] = total
