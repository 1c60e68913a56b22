"""Valid correlation by FFT, tile by tile: ``method="fft"``.

The direct sum costs one multiply-add per kernel element per output; a
Fourier transform costs about ``log2(tile size)`` operations per output,
whatever the kernel. For large kernels on floating-point data, transforms
win. This module works on the 4-D form of :mod:`windowkit.kernels.direct`
(``x4`` of shape ``(batch, depth, rows, cols)``, ``weights`` of shape
``(window_depth, window_rows, window_cols)``, already conjugated or flipped
by the caller), with ``scipy.fft`` (three times faster than ``numpy.fft``
on batches of tiles; docs/performance.md).

Overlap-save: the rows and columns are cut into tiles of ``tile`` input
elements that overlap by the window minus one, so each tile holds every
input of ``tile - window + 1`` outputs; the depth axis is transformed
whole. A tile's circular convolution with the reversed weights equals the
linear one at the indices the valid outputs need, so nothing wraps around.
One band of tiles (one row of tiles, for a few batch items at a time) is
transformed at once, and bands run on threads: memory stays a few bands,
never the whole transformed image.

Accuracy: the result is rounded in a different order from the direct sum,
so it agrees with it to within ``10 * eps * log2(tile elements) * max|x|
* sum|weights|`` per output (tested; measured errors are 20-30 times
smaller), not bitwise. Integer results could lose their exactness, so
integer and bool data never get here. A NaN or inf would spread over its
whole tile, so :func:`correlate` reports non-finite data and the caller
falls back to the direct sum. ``impl="python"`` runs this same code: it
is numpy and scipy either way.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Tile edge along rows and columns, at least: measured faster than 128 and
# 512 on 2048x2048 float32 with 11x11 and 31x31 kernels. Larger kernels take
# tiles of TILE_WINDOWS windows, up to TILE_MAX (and at least two windows):
# each tile then gives more of its length as outputs. On 2048x2048 float32,
# 2026-12-04, against the edge of max(256, 2 windows) before: 127x127
# 43-46 -> 24-25 ms (768), 91x91 28-31 -> 25 (768), 75x75 26-34 -> 26-31
# (512), 181x181 43-50 (375) -> 31-46 (768, 113-119 with 256); tiles of
# 1024 and 1536 ran slower (53-59 ms), tiles of 300, 375, 450 and 576
# slower than powers of two and three times one.
TILE = 256
TILE_WINDOWS = 6
TILE_MAX = 768
# Tile length along a 1-D signal (one row): the same number of elements.
TILE_1D = TILE * TILE
# Input elements per band, so bands of small images take several items.
BAND_ELEMENTS = 1 << 18


def tile_length(n, window, tile):
    """The transform's length along an axis of ``n`` inputs with this
    ``window``: a tile edge of at least ``tile``, :data:`TILE_WINDOWS`
    windows up to :data:`TILE_MAX` and twice the window, rounded up to a
    power of two or three times one; the whole axis (rounded up to a
    length scipy.fft transforms fast) if it is no longer."""
    import scipy.fft

    wanted = max(tile, min(TILE_WINDOWS * window, TILE_MAX), 2 * window)
    length = 1 << (wanted - 1).bit_length()
    if length * 3 // 4 >= wanted:
        length = length * 3 // 4
    return scipy.fft.next_fast_len(n, real=True) if n <= length else length


def fft_shape(shape, window):
    """The shape of one tile's transform, for a 4-D ``shape`` and 3-D ``window``."""
    _, depth, rows, cols = shape
    tile_cols = TILE_1D if rows == 1 else TILE
    return (tile_length(depth, window[0], depth), tile_length(rows, window[1], TILE),
            tile_length(cols, window[2], tile_cols))


def correlate(x4, weights, stride, out4, n_threads, pool):
    """``out4`` = valid correlation of ``x4`` with ``weights`` at ``stride``, by FFT.

    Returns False, leaving ``out4`` untouched, when the sum of ``x4`` or of
    ``weights`` is not finite (they hold a NaN or an infinity, or values so
    large that their sum overflows): the caller then runs the direct sum.
    ``pool`` is a thread pool, used when ``n_threads`` > 1.
    """
    # Imported here, not with windowkit: only this method needs scipy.fft.
    import scipy.fft

    if not (np.isfinite(np.sum(x4)) and np.isfinite(np.sum(weights))):
        return False
    n_batch, depth, rows, cols = x4.shape
    window_depth, window_rows, window_cols = weights.shape
    stride_depth, stride_rows, stride_cols = stride
    # Outputs at stride 1 along each axis; the strided ones are among them.
    full_rows = rows - window_rows + 1
    full_cols = cols - window_cols + 1
    shape = fft_shape(x4.shape, weights.shape)
    step_rows = min(shape[1] - window_rows + 1, full_rows)
    step_cols = min(shape[2] - window_cols + 1, full_cols)
    n_col_tiles = -(-full_cols // step_cols)
    padded_cols = (n_col_tiles - 1) * step_cols + shape[2]

    real = not (np.iscomplexobj(x4) or np.iscomplexobj(weights))
    forward, inverse = (
        (scipy.fft.rfftn, scipy.fft.irfftn) if real else (scipy.fft.fftn, scipy.fft.ifftn)
    )
    compute = np.result_type(x4.dtype, weights.dtype)
    # Transform only the axes longer than 1 (a transform of length 1 does
    # nothing): 2-D transforms for images ran 1.6x faster than 3-D ones
    # with a depth of 1.
    tile_axes = [axis for axis in range(3) if shape[axis] > 1] or [2]
    lengths = [shape[axis] for axis in tile_axes]
    axes = [axis + 2 for axis in tile_axes]
    # Correlation is convolution with the reversed weights; the valid
    # outputs sit at index window - 1 of each tile's circular convolution.
    reversed_weights = np.ascontiguousarray(weights[::-1, ::-1, ::-1], dtype=compute)
    spectrum = forward(reversed_weights, s=lengths, axes=tile_axes)

    items_per_band = max(1, BAND_ELEMENTS // (depth * shape[1] * padded_cols))
    bands = [(first_item, first_row)
             for first_item in range(0, n_batch, items_per_band)
             for first_row in range(0, full_rows, step_rows)]

    def run_band(band):
        first_item, first_row = band
        stop_item = min(n_batch, first_item + items_per_band)
        source = x4[first_item:stop_item, :, first_row:first_row + shape[1]]
        block = np.zeros(source.shape[:3] + (padded_cols,), compute)
        block[..., :cols] = source
        # (items, column tile, depth, tile rows, tile columns), a view.
        tiles = sliding_window_view(block, shape[2], axis=3)[:, :, :, ::step_cols]
        tiles = tiles.transpose(0, 3, 1, 2, 4)
        product = forward(tiles, s=lengths, axes=axes)
        product *= spectrum
        result = inverse(product, s=lengths, axes=axes)
        valid = result[:, :, window_depth - 1:depth,
                       window_rows - 1:window_rows - 1 + step_rows,
                       window_cols - 1:window_cols - 1 + step_cols]
        # Back to (items, depth, rows, columns), then the strided outputs.
        n_items, _, out_depth, band_rows, _ = valid.shape
        valid = valid.transpose(0, 2, 3, 1, 4).reshape(
            n_items, out_depth, band_rows, n_col_tiles * step_cols)
        band_rows = min(band_rows, full_rows - first_row)
        first_out = -(-first_row // stride_rows)
        stop_out = -(-(first_row + band_rows) // stride_rows)
        picked = valid[:, ::stride_depth,
                       first_out * stride_rows - first_row:band_rows:stride_rows,
                       :full_cols:stride_cols]
        out4[first_item:stop_item, :, first_out:stop_out] = picked

    if n_threads > 1 and len(bands) > 1:
        for _ in pool.map(run_band, bands):
            pass
    else:
        for band in bands:
            run_band(band)
    return True


def work(shape, window):
    """Estimated element operations of :func:`correlate` on a 4-D ``shape``
    with a 3-D ``window``: three transforms of ``log2(tile elements)`` per
    element of every tile, tiles overlapping by the window minus one (so a
    small image cut into tiles transforms more elements than it holds)."""
    tile = fft_shape(shape, window)
    elements = shape[0]
    for n, w, length in zip(shape[1:], window, tile):
        full = n - w + 1
        elements *= -(-full // min(length - w + 1, full)) * length
    return 3 * elements * max(1, math.log2(math.prod(tile)))
