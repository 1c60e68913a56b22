"""1-D row algorithms that the fast pooling kernels share.

Each helper runs along a contiguous row, the index innermost, so LLVM
compiles it to packed SIMD instructions. ``reduce`` is one of :data:`MAX`,
:data:`MIN`, :data:`SUM`, :data:`NANMAX` and :data:`NANMIN`; the kernels
pass it, and ``doubling``, as constants of their compiled copy, so that
Numba prunes the branches for the others once it has inlined the helper.

The row loops index with unsigned counters (``np.uintp``): with a signed
one, Numba adds a negative-index check that LLVM does not always remove,
and a loop that keeps it does not vectorise.
"""

import numpy as np

from ._jit import helper, real_float, row_view, scalar

# Reduction codes. NANMAX and NANMIN skip NaN (nan_policy="omit"): a
# window's result is NaN only if all its values are.
MAX, MIN, SUM, NANMAX, NANMIN = 0, 1, 2, 3, 4

# What an index table of padded positions holds for a position that holds
# cval, or nothing (windowkit._padded.source_index, direct.source); other
# entries are input indices.
HOLDS_CVAL, HOLDS_NOTHING = -1, -2

# The fast kernels work on segments of a row of at most this many input
# elements (or one window, if wider), so their scratch rows stay small and
# in cache however long the rows are (a 1-D signal is one long row).
SEGMENT = 1 << 13

# Windows of at most this many elements count their values (nan_policy=
# "omit") in uint8 rows, larger ones in float32 rows (exact below 2**24):
# a vector holds four times as many uint8 counts, and the counting loops
# took 1.30-1.37x the plain mean's time, against 1.67-1.78x with float32
# counts (2048² float32 mean 15/1, 1% NaN, van Herk). A count, and
# min_count clamped to one past the window's size, fit in a uint8.
UINT8_COUNTS_MAX = 254

# Windows narrower than this are pooled along the row directly (``window``
# vectorised combines per output); wider ones by doubling spans (about
# ``stride * log2(window)``); see docs/methods.md.
ROW_DOUBLING_MIN_WINDOW = 8


@scalar
def combine(a, b, reduce):
    """``a`` and ``b`` reduced to one value; max and min keep a NaN, as
    np.max does, NANMAX and NANMIN drop it, as np.fmax does (the same
    comparisons: whether ``a``, not ``b``, is NaN)."""
    if reduce == MAX:
        return b if (b > a or b != b) else a
    if reduce == MIN:
        return b if (b < a or b != b) else a
    if reduce == NANMAX:
        return b if (b > a or a != a) else a
    if reduce == NANMIN:
        return b if (b < a or a != a) else a
    return a + b


@scalar
def segments(out_cols, window_cols, stride_cols, size):
    """Outputs per row segment of about ``size`` input elements, and
    segments per output row."""
    per_segment = max(1, (size - window_cols) // stride_cols + 1)
    return per_segment, (out_cols + per_segment - 1) // per_segment


@helper
def copy_into(into, row):
    """``into[c] = row[c]`` along a whole row."""
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = row[c]


@helper
def combine_into(into, row, reduce):
    """``into[c] = combine(into[c], row[c])`` along a whole row."""
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = combine(into[c], row[c], reduce)


@helper
def depth_row(x, b, first_depth, window_depth, row, first_col, into, first, reduce):
    """Columns ``first_col`` on of row ``row`` of ``x[b]``, combined over
    ``window_depth`` depth slices, into ``into`` (which sets how many):
    stored if ``first``, else combined with what ``into`` holds."""
    last_col = first_col + into.shape[0]
    for i in range(window_depth):
        depth_slice = row_view(x, b, first_depth + i, row)[first_col:last_col]
        if first and i == 0:
            for c in range(into.shape[0]):
                c = np.uintp(c)
                into[c] = depth_slice[c]
        elif reduce == SUM:
            # Written out, not through combine: a uint8 row added into a
            # float64 one ran 1.3-2x slower through it (mean 3/2 on 512²).
            for c in range(into.shape[0]):
                c = np.uintp(c)
                into[c] = into[c] + depth_slice[c]
        else:
            for c in range(into.shape[0]):
                c = np.uintp(c)
                into[c] = combine(into[c], depth_slice[c], reduce)


@helper
def held_depth_row(x, b, first_depth, window_depth, row, first_col, into, counts, first, one):
    """:func:`depth_row` for sums that skip NaN (nan_policy="omit"): the
    values of row ``row`` that are not NaN added into ``into``, and
    counted in ``counts``, uint8 or float32 (``one`` is 1 in their dtype:
    the counts are sums of ones, exact up to the window's size, see
    :data:`UINT8_COUNTS_MAX`). A NaN adds zero, so the sums are bitwise
    those of the input with its NaN set to 0."""
    last_col = first_col + into.shape[0]
    zero, none = into.dtype.type(0), counts.dtype.type(0)
    for i in range(window_depth):
        depth_slice = row_view(x, b, first_depth + i, row)[first_col:last_col]
        if first and i == 0:
            for c in range(into.shape[0]):
                c = np.uintp(c)
                value = depth_slice[c]
                held = value == value
                into[c] = value if held else zero
                counts[c] = one if held else none
        else:
            for c in range(into.shape[0]):
                c = np.uintp(c)
                value = depth_slice[c]
                held = value == value
                into[c] = into[c] + (value if held else zero)
                counts[c] = counts[c] + (one if held else none)


@helper
def finish_held(out_row, counted, mean, min_count):
    """Sums that skipped NaN (:func:`held_depth_row`) into results: NaN
    where the window's count ``counted`` is below ``min_count`` (at most
    one past the window's size, so that it fits the counts' dtype), else
    with ``mean`` the sum over the count as a float32 (as np.nanmean: the
    quotient rounded once, since a float32 sum over a float32 count is the
    float64 quotient rounded: float64 has more than twice float32's
    digits), else the sum."""
    least = counted.dtype.type(min_count)
    for o in range(out_row.shape[0]):
        o = np.uintp(o)
        held = counted[o]
        total = out_row[o]
        if mean:
            total = total / np.float32(held)
        out_row[o] = total if held >= least else np.nan


@helper
def extreme_rows(x, b, first_depth, window_depth, first_row, window_rows, first_col, into,
                 other, reduce):
    """The max or min (``reduce``) of the window's ``window_depth *
    window_rows`` rows of ``x[b]``, columns ``first_col`` on, element by
    element into ``into`` (which sets how many); ``other`` is scratch as long.

    The rows combine in :func:`depth_row`'s order, each pass two of them
    into a third buffer, alternating between ``into`` and ``other`` so that
    the last pass lands in ``into``: LLVM does not vectorise an in-place max
    (``into[c] = combine(into[c], row[c])``), which ran 7x slower than
    combining two rows into a third (docs/performance.md). Sums add in
    place (:func:`depth_row`), which vectorises, and into a wider
    accumulator.
    """
    n_cols = into.shape[0]
    last_col = first_col + n_cols
    n_rows = window_depth * window_rows
    first = row_view(x, b, first_depth, first_row)[first_col:last_col]
    if n_rows == 1:
        for c in range(n_cols):
            c = np.uintp(c)
            into[c] = first[c]
    for t in range(1, n_rows):
        row = row_view(x, b, first_depth + t % window_depth,
                       first_row + t // window_depth)[first_col:last_col]
        # Pass t writes into ``into`` when the passes left are even.
        previous, target = (other, into) if (n_rows - 1 - t) % 2 == 0 else (into, other)
        if t == 1:
            for c in range(n_cols):
                c = np.uintp(c)
                target[c] = combine(first[c], row[c], reduce)
        else:
            for c in range(n_cols):
                c = np.uintp(c)
                target[c] = combine(previous[c], row[c], reduce)


@helper
def pair_into(into, a, b, reduce):
    """``into[c] = combine(a[c], b[c])`` along a whole row (out of place, see
    :func:`extreme_rows`)."""
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = combine(a[c], b[c], reduce)


@helper
def extreme_row_into(into, previous, x, b, first_depth, window_depth, row, first_col, reduce):
    """``previous`` combined with columns ``first_col`` on of row ``row`` of
    ``x[b]`` over ``window_depth`` depth slices, into ``into``, in
    :func:`depth_row`'s order: out of place for the first slice (see
    :func:`extreme_rows`), in place for the others."""
    last_col = first_col + into.shape[0]
    first_slice = row_view(x, b, first_depth, row)[first_col:last_col]
    for c in range(into.shape[0]):
        c = np.uintp(c)
        into[c] = combine(previous[c], first_slice[c], reduce)
    for i in range(1, window_depth):
        depth_slice = row_view(x, b, first_depth + i, row)[first_col:last_col]
        for c in range(into.shape[0]):
            c = np.uintp(c)
            into[c] = combine(into[c], depth_slice[c], reduce)


def row_uses_doubling(window, stride):
    """Whether rows of this window are pooled by doubling spans rather than
    directly: the ``doubling`` constant of the kernel copy that pools them."""
    passes = 0
    span = 1
    while 2 * span <= window:
        passes += 1
        span *= 2
    return window >= ROW_DOUBLING_MIN_WINDOW and stride * passes < window


@helper
def pool_row(row, window, stride, step, divide_by, scratch, out_row, reduce, doubling, in_place):
    """1-D pooling of ``row`` into ``out_row``: ``out_row[o]`` is the
    reduction of ``row[o * stride + a * step]`` for ``a`` below ``window``
    (``step`` is 1 but for channels interleaved in the row, see
    :func:`~windowkit.kernels.separable.separable_pool`).

    Directly (``doubling`` false): the window's offset outside, the output
    position inside, ``window`` vectorised combines per output.

    By doubling spans: level ``b`` holds, at ``c``, the reduction of
    ``row[c : c + 2**b * step : step]``; level ``b + 1`` is level ``b``
    combined with itself shifted by ``2**b * step``, written alternately
    into ``scratch`` and ``row``: about ``stride * log2(window)`` combines
    per output. Max and min take two pieces of the largest level that
    fits, one at each end of the window (their overlap is harmless). Sums
    take one piece per set bit of ``window``, side by side (``13 = 1 + 4 +
    8``), so nothing is counted twice and nothing is subtracted: a float
    sum's error is bounded by the window's size, whatever the row's length.

    A piece is picked as ``row[offset + o * stride]`` into ``out_row[o]``,
    stored for the first piece and combined for the others, with an
    unsigned index, so LLVM vectorises the loop (with a version of its own
    for stride 1). Sums, and max and min if ``in_place`` (integers), combine
    into ``out_row`` in place; float max and min alternate between
    ``out_row`` and ``scratch`` (see :func:`extreme_rows`). ``divide_by`` > 0
    turns sums into means, as np.mean does: the intp count promotes float32
    sums to float64 for the division, and the quotient is rounded once.
    Overwrites ``row`` and ``scratch``.
    """
    n_out = out_row.shape[0]
    jump = np.uintp(stride)
    level, n_pieces, spacing = row, window, step
    spare = scratch
    if doubling:
        # Elements of the current level that the outputs' windows reach.
        length = (n_out - 1) * stride + (window - 1) * step + 1
        span = 1
        remaining = window
        offset = 0
        while 2 * span <= window:
            if reduce == SUM and remaining & 1:
                # This level's piece of the sum, at the next offset.
                picked = level[offset:]
                if offset == 0:
                    for o in range(n_out):
                        o = np.uintp(o)
                        out_row[o] = picked[o * jump]
                else:
                    for o in range(n_out):
                        o = np.uintp(o)
                        out_row[o] = combine(out_row[o], picked[o * jump], reduce)
                offset += span * step
            remaining >>= 1
            length -= span * step
            shifted, into = level[span * step:], spare[:length]
            for c in range(length):
                c = np.uintp(c)
                into[c] = combine(level[c], shifted[c], reduce)
            level, spare = spare, level
            span *= 2
        if reduce == SUM:
            # The last set bit's piece: the largest level.
            n_pieces, spacing, first_offset = 1, 0, offset
        else:
            n_pieces, spacing, first_offset = 2, (window - span) * step, 0
    else:
        first_offset = 0
    if reduce != SUM and not in_place and n_pieces > 1:
        # Max and min: each pass combines the last pass's result with the
        # next piece into the other buffer (out_row or spare), so that the
        # last lands in out_row; an in-place max does not vectorise (see
        # extreme_rows). Sums add in place.
        first = level[first_offset:]
        for piece in range(1, n_pieces):
            picked = level[first_offset + piece * spacing:]
            previous, target = ((spare, out_row) if (n_pieces - 1 - piece) % 2 == 0
                                else (out_row, spare))
            if piece == 1:
                for o in range(n_out):
                    o = np.uintp(o)
                    target[o] = combine(first[o * jump], picked[o * jump], reduce)
            else:
                for o in range(n_out):
                    o = np.uintp(o)
                    target[o] = combine(previous[o], picked[o * jump], reduce)
        n_pieces = 0  # every piece is in: nothing left for the loop below
    for piece in range(n_pieces):
        picked = level[first_offset + piece * spacing:]
        if first_offset == 0 and piece == 0:
            for o in range(n_out):
                o = np.uintp(o)
                out_row[o] = picked[o * jump]
        else:
            for o in range(n_out):
                o = np.uintp(o)
                out_row[o] = combine(out_row[o], picked[o * jump], reduce)
    if reduce == SUM and divide_by > 0:
        # Sums to means, as np.mean divides. A real float row is divided in
        # its own dtype where that holds the count exactly: a float32
        # quotient is correctly rounded, and so is a float64 quotient of
        # float32 operands rounded to float32 (53 >= 2 * 24 + 2 bits), so
        # the bits are the same. The separable kernel alone, 2048² float32
        # means, one thread: 3/1 0.64x, 5/1 0.76x, 15/1 0.81x the time of
        # the conversions to float64 and back (medians of 15).
        own = out_row.dtype.type(divide_by)
        if real_float(out_row) and own == divide_by:
            for c in range(n_out):
                c = np.uintp(c)
                out_row[c] = out_row[c] / own
        else:
            for c in range(n_out):
                c = np.uintp(c)
                out_row[c] = out_row[c] / divide_by
