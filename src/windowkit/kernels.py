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
that) and allocate nothing: memory is the input and the output. The outer
``prange`` hands whole output rows to threads; each output is accumulated in
the same order whatever the thread count, so results are bitwise identical.

Each kernel is a :class:`windowkit._compile.Kernel`: ``kernel.python`` is
this very source, run by the interpreter, and print it with
``inspect.getsource(windowkit.kernels.extreme_pool.python)``.

The first three kernels are the textbook loops (``method="direct"``). After
them come the faster pooling algorithms, each with its cost per output:
``separable_pool``, its paths for windows side by side along the rows
(``block_pool``, ``extreme_2x2_pool``), and ``van_herk_pool``. They turn
the loop order around so that the innermost loop runs along a contiguous
row of the image, which LLVM compiles to packed SIMD instructions, and they
share a few small helpers.
They run over a range of independent tasks, which Python threads share out
(see :class:`windowkit._compile.TaskKernel`).
"""

import numpy as np
from numba import prange

from ._compile import helper, kernel, task_kernel

# Reduction codes for the fast pooling kernels. They read the global REDUCE,
# which each compiled copy (``separable_pool[MAX, False]``, ...) fixes as a
# constant: Numba compiles only that reduction's loops. DOUBLING, fixed the
# same way, says which row algorithm a copy has (pool_row_fastest).
MAX, MIN, SUM = 0, 1, 2
REDUCE = MAX
DOUBLING = False



@kernel
def extreme_pool(x, window, stride, find_max, out):
    """Largest (``find_max``) or smallest value of each window.

    Like ``np.max`` and ``np.min``, a window that holds a NaN gives NaN.
    Cost: one comparison per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in prange(n_batch * out_depth * out_rows):
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


@kernel
def sum_pool(x, window, stride, zero, out):
    """Sum of each window, accumulated from ``zero`` (which sets its dtype).

    Mean pooling is this sum divided by the window size.
    Cost: one addition per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in prange(n_batch * out_depth * out_rows):
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


@kernel
def correlate(x, weights, stride, zero, out):
    """Valid correlation: each window times ``weights``, summed from ``zero``.

    ``weights`` has shape ``(window_depth, window_rows, window_cols)``. The
    caller conjugates it for correlation and flips it for convolution.
    Cost: one multiply-add per window element, O(window size) per output.
    """
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    for task in prange(n_batch * out_depth * out_rows):
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


# ---------------------------------------------------------------------------
# Faster pooling: the same results, other loop orders.


@helper
def combine(a, b):
    """``a`` and ``b`` reduced to one value; max and min keep a NaN, as np.max does."""
    if REDUCE == MAX:
        return b if (b > a or b != b) else a
    if REDUCE == MIN:
        return b if (b < a or b != b) else a
    return a + b


@helper
def copy_into(into, row):
    """``into[c] = row[c]`` along a whole row.

    Written as a loop, not ``into[:] = row``: Numba compiles a slice
    assignment with a shape check whose error message alone took 3 s to
    compile, on every kernel's first call in a process.
    """
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = row[c]


@helper
def combine_into(into, row):
    """``into[c] = combine(into[c], row[c])`` along a whole row (packed SIMD).

    The row loops index with unsigned counters: with a signed one, Numba
    adds a negative-index check that LLVM does not always remove (see
    :func:`shift_combine`), and a loop that keeps it does not vectorise.
    """
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = combine(into[c], row[c])


@helper
def depth_row(x, b, first_depth, window_depth, row, first_col, into, first):
    """Columns ``first_col`` on of row ``row`` of ``x[b]``, combined over
    ``window_depth`` depth slices, into ``into`` (which sets how many):
    stored if ``first``, else combined with what ``into`` holds.

    One helper for both, called from one place in each kernel: every call
    site is inlined, and compile time grows with their number.
    """
    last_col = first_col + into.shape[0]
    for i in range(window_depth):
        depth_slice = x[b, first_depth + i, row, first_col:last_col]
        if first and i == 0:
            copy_into(into, depth_slice)
        else:
            combine_into(into, depth_slice)


# The fast kernels work on segments of a row of at most this many input
# elements (or one window, if wider), so their scratch rows stay small and in
# cache however long the rows are (a 1-D signal is one long row).
SEGMENT = 1 << 13
# van Herk keeps one scratch row per row of the window. Its segments narrow
# when that would pass VAN_HERK_SCRATCH elements (windows over 16 rows on
# rows over 8192 elements, over 64 rows on 2048), down to MIN_SEGMENT: a
# window of 2000 rows then keeps 2000 rows of 512, not of 8192 (128 MB per
# thread in float64). Narrowing always cost speed (2048x2048 float32, max
# 9x9 stride 1: 4.3-5.0 ms in segments of 910, 3.3-3.5 ms in whole rows).
VAN_HERK_SCRATCH = 1 << 17
MIN_SEGMENT = 1 << 9


@helper
def segments(out_cols, window_cols, stride_cols, size):
    """Outputs per row segment of about ``size`` input elements, and
    segments per output row."""
    per_segment = max(1, (size - window_cols) // stride_cols + 1)
    return per_segment, (out_cols + per_segment - 1) // per_segment


@helper
def van_herk_segment(window_rows):
    """The segment size :func:`van_herk_pool` uses for a window this tall."""
    return max(min(SEGMENT, VAN_HERK_SCRATCH // window_rows), MIN_SEGMENT)


@helper
def shift_combine(row, span, into):
    """``into[c] = combine(row[c], row[c + span])`` for every ``c`` of ``into``.

    ``row[span:]`` is sliced first, so the loop indexes with its counter
    alone, and the counter is unsigned: no index that might be negative is
    left to check, and the loop vectorises. Written as ``row[c + span]`` it
    did not (4-7x slower); with a signed ``c`` it did in some copies and
    not in others (the check's select stayed in the loop): max rows of 31
    ran 2x slower in copies with the doubling path alone.
    """
    shifted = row[span:]
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = combine(row[c], shifted[c])


@helper
def pick_into(out_row, row, offset, stride, first):
    """``row[offset + o * stride]`` into ``out_row[o]``: stored if ``first``,
    else combined with what ``out_row`` holds.

    The index is unsigned, so Numba adds no negative-index check, and LLVM
    vectorises the loop with a version of its own for stride 1: as fast as
    a loop written for stride 1, faster at stride 2 (float32, 2048-element
    rows, window 3: 0.29 and 0.61 ms per 512 rows, against 0.29 and 0.85
    with a signed index), and half the loops to compile.
    """
    picked = row[offset:]
    step = np.uintp(stride)
    if first:
        for o in range(out_row.shape[0]):
            out_row[o] = picked[np.uintp(o) * step]
    else:
        for o in range(out_row.shape[0]):
            out_row[o] = combine(out_row[o], picked[np.uintp(o) * step])


@helper
def doubling_pool_row(row, window, stride, scratch, out_row):
    """1-D pooling by doubling spans: about log2(window) vectorised passes.

    Level ``b`` holds, at ``c``, the reduction of ``row[c : c + 2**b]``;
    level ``b + 1`` is level ``b`` combined with itself shifted by ``2**b``
    (:func:`shift_combine`), written alternately into ``scratch`` and
    ``row``. Max and min take two pieces of the largest level that fits, one
    at each end of the window (their overlap is harmless). Sums take one
    piece per set bit of ``window``, side by side (``window = 13 = 1 + 4 +
    8``: pieces of 1, 4 and 8 elements), so nothing is counted twice and
    nothing is subtracted: a float sum's error is bounded by the window's
    size, whatever the row's length. Overwrites ``row`` and ``scratch``.

    Sums pick their pieces into ``out_row`` as they go. For max and min the
    caller picks: this returns the level, the number of pieces (2) and
    their spacing, so that :func:`pool_row_fastest` has one
    :func:`pick_into` call for both row algorithms (each call site is
    inlined, and fewer sites compile faster). Sums return 0 pieces.
    """
    n_out = out_row.shape[0]
    length = (n_out - 1) * stride + window  # elements of the current level
    level, spare = row, scratch
    span = 1
    if REDUCE == SUM:
        remaining = window
        offset = 0
        while True:
            if remaining & 1:
                pick_into(out_row, level, offset, stride, offset == 0)
                offset += span
            remaining >>= 1
            if remaining == 0:
                return level, 0, 0
            length -= span
            shift_combine(level, span, spare[:length])
            level, spare = spare, level
            span *= 2
    else:
        while 2 * span <= window:
            length -= span
            shift_combine(level, span, spare[:length])
            level, spare = spare, level
            span *= 2
        return level, 2, window - span


@helper
def divide_row(out_row, divide_by):
    """Sums to means. As np.mean: the intp count promotes float32 sums to
    float64 for the division, and the quotient is rounded once."""
    for c in range(out_row.shape[0]):
        c = np.uintp(c)
        out_row[c] = out_row[c] / divide_by


# Windows narrower than this are pooled along the row directly (``window``
# vectorised combines per output); wider ones by doubling (about
# ``stride * log2(window)``). Measured on 2048-element rows, one thread:
# float32 max direct 0.6 us at window 3, 1.4 us at 8, 4.7 us at 31;
# doubling 0.8, 1.1 and 1.3 us.
ROW_DOUBLING_MIN_WINDOW = 8


@helper
def row_uses_doubling(window, stride):
    """Whether rows of this window are pooled by doubling: the ``DOUBLING``
    of the kernel copy that pools them."""
    passes = 0
    span = 1
    while 2 * span <= window:
        passes += 1
        span *= 2
    return window >= ROW_DOUBLING_MIN_WINDOW and stride * passes < window


@helper
def pool_row_fastest(row, window, stride, divide_by, scratch, out_row):
    """1-D pooling of ``row`` by the row algorithm that suits ``window``.

    Narrow windows directly: ``window`` vectorised combines per output, the
    window's offset outside and the output position inside
    (:func:`pick_into`). Wide ones by :func:`doubling_pool_row`. The
    copy's constant ``DOUBLING`` says which (the caller picks the copy by
    :func:`row_uses_doubling`), so each copy compiles one path: separable
    mean pooling 3x3 compiled in 0.8-1.2 s instead of 1.5-1.8 s, van Herk
    max 31x31 in about 0.2 s less. ``divide_by`` > 0 turns sums into
    means. Overwrites ``row`` and ``scratch``.
    """
    if DOUBLING:
        level, n_pieces, spacing = doubling_pool_row(row, window, stride, scratch, out_row)
    else:
        level, n_pieces, spacing = row, window, 1
    for piece in range(n_pieces):
        pick_into(out_row, level, piece * spacing, stride, piece == 0)
    if REDUCE == SUM:
        if divide_by > 0:
            divide_row(out_row, divide_by)


def separable_tasks(out, window, stride):
    """How many tasks :func:`separable_pool` has for ``out``: row segments."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_segments = segments.py_func(out_cols, window[2], stride[2], SEGMENT)[1]
    return n_batch * out_depth * out_rows * n_segments


@task_kernel(separable_tasks, constants=("REDUCE", "DOUBLING"))
def separable_pool(x, window, stride, divide_by, first_task, stop_task, out):
    """Pooling one output row at a time: the window's rows first, then along the row.

    For each output row, the ``window_depth * window_rows`` input rows under
    it are combined element by element into one scratch row, then that row
    is pooled along its length (:func:`pool_row_fastest`). Both loops run
    along contiguous rows. The reduction is the global ``REDUCE``;
    ``divide_by`` > 0 divides the sums by it (mean), 0 does not. One task
    is one segment of an output row (:data:`SEGMENT`); this call runs tasks
    ``first_task`` to ``stop_task``.
    Cost per output: ``window_depth * window_rows`` combines per input
    column, plus at most ``window_cols`` along the row. Scratch: two
    segments.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    per_segment, n_segments = segments(out_cols, window_cols, stride_cols, SEGMENT)
    span = (min(per_segment, out_cols) - 1) * stride_cols + window_cols
    column_space = np.empty(span, out.dtype)
    scratch_space = np.empty(span, out.dtype)
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
        width = (stop_out - first_out - 1) * stride_cols + window_cols
        column = column_space[:width]
        first_depth = d * stride_depth
        first_row = r * stride_rows
        for j in range(window_rows):
            depth_row(x, b, first_depth, window_depth, first_row + j, first_col, column, j == 0)
        pool_row_fastest(column, window_cols, stride_cols, divide_by, scratch_space[:width],
                         out[b, d, r, first_out:stop_out])
        segment += 1
        if segment == n_segments:
            segment, r = 0, r + 1
            if r == out_rows:
                r, d = 0, d + 1
                if d == out_depth:
                    d, b = 0, b + 1


# Windows side by side along the rows, at most this many columns wide, are
# pooled by :func:`block_pool`, one compiled copy per width.
BLOCK_MAX = 8
BLOCK = 2


@helper
def block_row(out_plane, r, first_out, stop_out, rows, row, first):
    """Outputs ``first_out`` to ``stop_out`` of ``out_plane``'s row ``r``,
    each with the ``BLOCK`` elements under it in ``rows``' row ``row``,
    reduced left to right in registers; ``first`` starts from the row's
    first element instead of the output's value.

    The output is the accumulator (uint8 sums add into uint64, as in the
    direct loop). ``BLOCK`` is a constant, so the loop over it unrolls and
    LLVM vectorises the loop over outputs, its loads an interleaved group.
    Elements are indexed in the 2-D planes with unsigned indices: a 1-D
    view per row took as long as the pooling itself on 28x28 images.

    Max and min first try :func:`block_row_unchecked`; only a row in which
    it may have dropped a NaN is reduced again here, with the NaN-aware
    :func:`combine`: the first row from its values again, later rows on
    top of the first try's results (a max or min of values already
    counted changes nothing). So the results are the direct loop's, NaN
    where it puts NaN.
    """
    r, row = np.uintp(r), np.uintp(row)
    if REDUCE != SUM:
        if not block_row_unchecked(out_plane, r, first_out, stop_out, rows, row, first):
            return
    if first:
        for o in range(first_out, stop_out):
            start = np.uintp(o) * np.uintp(BLOCK)
            out_plane[r, np.uintp(o)] = rows[row, start]  # to the accumulator's dtype
            value = out_plane[r, np.uintp(o)]
            for k in range(1, BLOCK):
                value = combine(value, rows[row, start + np.uintp(k)])
            out_plane[r, np.uintp(o)] = value
    else:
        for o in range(first_out, stop_out):
            start = np.uintp(o) * np.uintp(BLOCK)
            value = out_plane[r, np.uintp(o)]
            for k in range(BLOCK):
                value = combine(value, rows[row, start + np.uintp(k)])
            out_plane[r, np.uintp(o)] = value


@helper
def block_row_unchecked(out_plane, r, first_out, stop_out, rows, row, first):
    """:func:`block_row` for max and min with the plain comparison, which
    drops a NaN it meets (``b if b > a else a``: one instruction for floats,
    against four for :func:`combine`). Returns whether it may have: a sum
    of each output's values, kept beside it, is NaN when one of them is
    (or holds both infinities). A NaN already in the output stays, since
    nothing compares larger. For integers the sum is never NaN, and LLVM
    drops it and :func:`block_row`'s second pass.

    Measured on 512x512 float64, max over 4x4 blocks, one thread: 40 us
    against 50 us with :func:`combine` (one read pass, ``x.max()``, 26 us).
    """
    maybe_nan = False
    for o in range(first_out, stop_out):
        start = np.uintp(o) * np.uintp(BLOCK)
        item = rows[row, start]
        value = item if first else plain_combine(out_plane[r, np.uintp(o)], item)
        total = item
        for k in range(1, BLOCK):
            item = rows[row, start + np.uintp(k)]
            value = plain_combine(value, item)
            total = total + item
        out_plane[r, np.uintp(o)] = value
        maybe_nan |= total != total
    return maybe_nan


@helper
def plain_combine(a, b):
    """Max or min of ``a`` and ``b`` by one comparison: ``a`` if ``b`` is NaN."""
    if REDUCE == MAX:
        return b if b > a else a
    return b if b < a else a


@task_kernel(separable_tasks, constants=("REDUCE", "BLOCK"))
def block_pool(x, window, stride, divide_by, first_task, stop_task, out):
    """Pooling of windows side by side along the rows: ``separable_pool``'s
    path when ``window_cols == stride_cols == BLOCK``, a constant of each
    compiled copy (``block_pool[code, BLOCK]``, up to :data:`BLOCK_MAX`).

    Each window row's ``BLOCK`` values are reduced in registers and into
    the output row (:func:`block_row`), the window's rows in the direct
    loop's order, so even float sums are bitwise the direct loop's. The
    general row pass instead makes ``window_cols`` read-modify-write passes
    over the output with strided loads. Measured on 4096x4096 float32, max
    over 3x3 blocks, one thread: 2.8 ms against 10 ms (one read pass,
    ``x.max()``, 2.7 ms). ``divide_by`` > 0 divides the sums (mean). One
    task is one segment of an output row, as in :func:`separable_pool`;
    this call runs tasks ``first_task`` to ``stop_task``.
    Cost per output: one combine per window element, from registers, and
    ``window_depth * window_rows`` passes over the output row. Scratch: none.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    per_segment, n_segments = segments(out_cols, BLOCK, BLOCK, SEGMENT)
    plane_tasks = out_rows * n_segments
    # A plane (batch item b, output depth d) at a time, counted loops over
    # its rows and segments, elements indexed in 2-D planes. Written this
    # way, extreme_2x2_pool took 5.4 ms on one thread for 60000 28x28 uint8
    # images, against 19 ms working b, d and r out and taking 1-D row views
    # for each task.
    for plane in range(first_task // plane_tasks, (stop_task - 1) // plane_tasks + 1):
        b = plane // out_depth
        d = plane % out_depth
        first = max(first_task - plane * plane_tasks, 0)
        stop = min(stop_task - plane * plane_tasks, plane_tasks)
        out_plane = out[b, d]
        for r in range(first // n_segments, (stop - 1) // n_segments + 1):
            for segment in range(max(first - r * n_segments, 0), min(stop - r * n_segments, n_segments)):
                first_out = segment * per_segment
                stop_out = min(out_cols, first_out + per_segment)
                for i in range(window_depth):
                    rows = x[b, d * stride_depth + i]
                    for j in range(window_rows):
                        block_row(out_plane, r, first_out, stop_out, rows, r * stride_rows + j,
                                  i == 0 and j == 0)
                if REDUCE == SUM:
                    if divide_by > 0:
                        divide_row(out_plane[r, first_out:stop_out], divide_by)


def block_pair_tasks(out, window, stride):
    """How many tasks :func:`extreme_2x2_pool` has for ``out``: one per output row."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    return n_batch * out_depth * out_rows


@task_kernel(block_pair_tasks)
def extreme_2x2_pool(x, window, stride, first_task, stop_task, out):
    """Max or min of 2x2 windows two columns apart: :func:`separable_pool`'s
    path for the commonest pooling (``window`` is ``(1, 2, 2)``, the column
    stride 2).

    The two input rows are read once and each output's four values are
    combined in registers and stored once; :func:`block_pool` makes a pass
    over the output per window row, and on rows of 28 uint8 values one pass
    for both rows was 1.8x faster (a side experiment: 9.1 against 16.4 ms
    for 60000 images, one thread). Against the general row pass: 4.6 ms
    against 12 ms on 4096x4096 float32, one thread (one read pass,
    ``x.max()``, 2.4-3.7 ms). A kernel of its own, so its small loop is
    all that ``max_pool(x, 2)`` compiles. Unsigned indices, as in
    :func:`pick_into`. One task is one output row.
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
                out_plane[np.uintp(r), np.uintp(o)] = combine(
                    combine(rows[upper, left], rows[lower, left]),
                    combine(rows[upper, right], rows[lower, right]))


def van_herk_tasks(out, window, stride):
    """How many tasks :func:`van_herk_pool` has for ``out``: row blocks x segments."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    n_blocks = (out_rows - 1) * stride[1] // window[1] + 1
    size = van_herk_segment.py_func(window[1])
    n_segments = segments.py_func(out_cols, window[2], stride[2], size)[1]
    return n_batch * out_depth * n_blocks * n_segments


@task_kernel(van_herk_tasks, constants=("REDUCE", "DOUBLING"))
def van_herk_pool(x, window, stride, divide_by, first_task, stop_task, out):
    """Pooling with 3 row combines per input row, whatever the window's height.

    van Herk/Gil-Werman along the rows: input rows are cut into blocks of
    ``window_rows``. A window starting at row ``a`` covers the end of its
    block (the suffix from ``a``) and the start of the next one (a running
    prefix), so each output row is one combine of two precomputed rows, then
    pooled along its length (:func:`pool_row_fastest`). Each input row is
    combined over the window's depth, then into one suffix and one prefix.
    The reduction is the global ``REDUCE``; sums never subtract, so their
    error does not grow with the image. One task is one block of rows, one
    segment wide (:func:`van_herk_segment`); this call runs tasks
    ``first_task`` to ``stop_task``.
    Cost per output: about ``2 * window_depth * stride_rows + 1`` combines
    per input column, plus the row pooling. Scratch: ``window_rows + 2``
    segments of :func:`van_herk_segment` elements: at most about
    ``VAN_HERK_SCRATCH`` elements up to 256 rows, ``MIN_SEGMENT *
    (window_rows + 2)`` beyond.
    """
    window_depth, window_rows, window_cols = window
    stride_depth, stride_rows, stride_cols = stride
    n_batch, out_depth, out_rows, out_cols = out.shape
    last_start = (out_rows - 1) * stride_rows
    n_blocks = last_start // window_rows + 1
    size = van_herk_segment(window_rows)
    per_segment, n_segments = segments(out_cols, window_cols, stride_cols, size)
    span = (min(per_segment, out_cols) - 1) * stride_cols + window_cols
    suffix_space = np.empty((window_rows, span), out.dtype)
    prefix_space = np.empty(span, out.dtype)
    scratch_space = np.empty(span, out.dtype)
    for task in range(first_task, stop_task):
        block_task = task // n_segments
        b = block_task // (out_depth * n_blocks)
        d = block_task // n_blocks % out_depth
        block_start = block_task % n_blocks * window_rows
        first_out = task % n_segments * per_segment
        stop_out = min(out_cols, first_out + per_segment)
        first_col = first_out * stride_cols
        width = (stop_out - first_out - 1) * stride_cols + window_cols
        prefix = prefix_space[:width]
        first_depth = d * stride_depth
        # One input row per step i, combined over the window's depth by the
        # one depth_row call (each call site is inlined, and fewer sites
        # compile faster). Steps 0 to window_rows - 1 read the block's rows,
        # last first: suffix t, the reduction of rows block_start + t to
        # the block's end, is row t of suffix_space (indexed [t, :width], a
        # contiguous row for Numba; suffix_space[:, :width][t] is strided).
        # Later steps read the next block's rows into the running prefix.
        # Step window_rows - 1 + t completes the window starting at
        # block_start + t: suffix t combined with the prefix.
        for i in range(2 * window_rows - 1):
            if i < window_rows:
                t = window_rows - 1 - i
                if i > 0:
                    copy_into(suffix_space[t, :width], suffix_space[t + 1, :width])
                target, row, first = suffix_space[t, :width], block_start + t, i == 0
            else:
                t = i - window_rows + 1
                if block_start + t > last_start:
                    break
                target, row, first = prefix, block_start + t + window_rows - 1, t == 1
            depth_row(x, b, first_depth, window_depth, row, first_col, target, first)
            if i < window_rows - 1:
                continue
            t = i - window_rows + 1
            start = block_start + t
            if start % stride_rows != 0:
                continue
            # Suffix t is not read again: combine and pool it in place.
            window_row = suffix_space[t, :width]
            if t > 0:
                combine_into(window_row, prefix)
            pool_row_fastest(window_row, window_cols, stride_cols, divide_by, scratch_space[:width],
                             out[b, d, start // stride_rows, first_out:stop_out])


# ---------------------------------------------------------------------------
# Faster correlation.


def correlate_rows_tasks(out, weights, stride):
    """How many tasks :func:`correlate_rows` has for ``out``: one per output row."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    return n_batch * out_depth * out_rows


@task_kernel(correlate_rows_tasks)
def correlate_rows(x, weights, stride, first_task, stop_task, out):
    """Valid correlation one output row at a time, the output row innermost.

    The same sum as :func:`correlate`, term for term and in the same order
    (so bitwise the same result), but the loop over the output's columns is
    the inner one: each weight multiplies a contiguous run of an input row
    (packed SIMD when ``stride_cols`` is 1), accumulating into the output
    row. One task is one output row; this call runs tasks ``first_task`` to
    ``stop_task``.
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
    third of the loads and stores of ``target`` (11x11 kernels 1.4x faster).
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
