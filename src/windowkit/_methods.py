"""The cost model: which method ``method="auto"`` runs, and every threshold.

:func:`windowkit.choose_method` reads this module, and so does the plan layer
(:mod:`windowkit._plan`), so the answer it gives is the method a call runs.
docs/methods.md describes the methods; docs/performance.md has the
measurements behind the thresholds.
"""

import functools
import math
from dataclasses import dataclass

from .kernels import fft, row_uses_doubling

# Below this many estimated element operations (a method's ``work``),
# handing tasks to another thread costs more than it saves: one threshold
# for every loop. A 512x512 float64 image pooled 3x3 at stride 1 (about
# 1.6e6) stays on one thread; 2048x2048 images and MNIST batches use all.
THREADS_MIN_WORK = 1 << 21

# A batch axis at least this long that varies fastest in memory (channels
# last, NHWC) becomes the loops' row axis, with a window of 1: the loops then
# combine whole runs of channels, vectorised, instead of loading with the
# channel count as stride (docs/performance.md has the measurements). At a
# column stride of 1 pooling instead runs along the interleaved rows, for
# any channel count (windowkit._plan.interleaved_channels).
CHANNELS_MIN = 32

# Windows one column wide (a window of (k, 1), channels as rows) run
# block_pool, whose float max and min combine each window row into the
# output in place, which LLVM does not vectorise (see rows.extreme_rows):
# from rows of this many outputs the separable loop's out-of-place passes
# win. (n, 28, cols) float32 max (3, 1) at stride (2, 1), separable over
# block: 16 columns 0.99, 32 0.73, 64 0.72, 128 0.64; NHWC (32, 112, 112,
# 64) max 3/2 17-20 ms against 34-35. uint8 ran 1.6-2.7x faster in
# block_pool at every width, and short rows (MNIST) pay the separable
# loop's per-row cost.
SEPARABLE_FLOAT_EXTREME_MIN_COLS = 32

# "fft" when the direct sum would take at least this many multiply-adds per
# input element (about the window's size over the strides' product), on at
# least FFT_MIN_SIZE input elements, where the transforms' set-up pays.
FFT_MIN_WORK_PER_INPUT = 256
FFT_MIN_SIZE = 1 << 16


@dataclass(frozen=True)
class MethodChoice:
    """What :func:`choose_method` picked, and why."""

    method: str
    reason: str
    work: int  # the chosen method's estimated element operations in one call
    layout: str = "the axes' order"  # how the loops take the input (windowkit._plan.layout)

    def __str__(self):
        return f"{self.method}: {self.reason}"


def pad3(values, fill):
    """Pad a 1- or 2-entry window description to 3 entries at the front."""
    return (fill,) * (3 - len(values)) + tuple(values)


def rows_per_output_row(geometry, method):
    """How many input rows ``method`` ("separable" or "van_herk") combines per output row."""
    window_depth, window_rows, _ = pad3(geometry.window, 1)
    stride_rows = pad3(geometry.stride, 1)[1]
    if method == "van_herk":
        # Each input row (over the window's depth) into one suffix and one
        # prefix, then one more combine per output row.
        return 2 * window_depth * min(stride_rows, window_rows) + 1
    return window_depth * window_rows


@functools.lru_cache(maxsize=256)
def choose_pool_method(shape, geometry):
    """separable or van_herk, by how many input rows each combines per output row.

    Cached: the same shapes come back call after call.
    """
    window_rows, stride_rows = pad3(geometry.window, 1)[1], pad3(geometry.stride, 1)[1]
    separable = rows_per_output_row(geometry, "separable")
    van_herk = rows_per_output_row(geometry, "van_herk")
    reason = (
        f"window rows {window_rows} at stride {stride_rows}: van Herk combines {van_herk} "
        f"input rows per output row, separable {separable}"
    )
    method = "van_herk" if van_herk < separable else "separable"
    return MethodChoice(method, reason, pool_work(shape, geometry, method))


def pool_work(shape, geometry, method):
    """Estimated element operations of pooling by ``method``: row combines,
    then pooling along the rows (the direct loop: output times window)."""
    out_size = math.prod(geometry.out_shape)
    if method == "direct":
        return out_size * math.prod(geometry.window)
    window_cols = geometry.window[-1]
    stride_cols = geometry.stride[-1]
    row_axis = geometry.axes[-1]
    out_rows = out_size // max(1, geometry.out_shape[row_axis])
    if row_uses_doubling(window_cols, stride_cols):
        along_row = stride_cols * (window_cols.bit_length() - 1) + 2
    else:
        along_row = window_cols
    return out_rows * shape[row_axis] * rows_per_output_row(geometry, method) + out_size * along_row


def choose_correlate_method(shape, geometry, dtype):
    """rows, or fft for large float kernels on large inputs."""
    size = math.prod(shape)
    rows_work = math.prod(geometry.out_shape) * math.prod(geometry.window)
    per_input = rows_work / max(1, size)
    if dtype.kind not in "fc":
        reason = "integer and bool sums stay exact: the direct sum with the output row innermost"
    elif size < FFT_MIN_SIZE or per_input < FFT_MIN_WORK_PER_INPUT:
        reason = (
            f"{per_input:.0f} multiply-adds per input element: the direct sum (vectorised) "
            f"costs less than transforms below {FFT_MIN_WORK_PER_INPUT} or below "
            f"{FFT_MIN_SIZE} elements"
        )
    else:
        reason = (
            f"{per_input:.0f} multiply-adds per input element in the direct sum: "
            f"transforms cost less from {FFT_MIN_WORK_PER_INPUT}"
        )
        return MethodChoice("fft", reason, fft.work(size))
    return MethodChoice("rows", reason, rows_work)


def correlate_work(shape, geometry, method):
    """Estimated element operations of correlating by ``method``."""
    if method == "fft":
        return fft.work(math.prod(shape))
    return math.prod(geometry.out_shape) * math.prod(geometry.window)
