"""The cost model: which method ``method="auto"`` runs, and every threshold.

:func:`windowkit.choose_method` reads this module, and so does the plan layer
(:mod:`windowkit._plan`), so the answer it gives is the method a call runs.
docs/methods.md describes the methods; docs/performance.md has the
measurements behind the thresholds.
"""

import functools
import math
from dataclasses import dataclass

from .kernels import SEGMENT, fft, row_uses_doubling

# Below this estimated cost, in bytes of element operations (a method's
# ``work`` times the itemsize it computes in, plus ROW_COST_BYTES per
# output row, see :func:`threaded`), handing half the tasks to a second
# thread costs more than it saves: one threshold for every loop. On this
# project's 2-core machine a hand-off costs 40-250 us, so two threads win
# only from about a millisecond of serial work. Measured (2 threads over
# 1, medians of alternated runs, docs/performance.md): correlate 3x3
# float32 on 512² 1.6-1.8 (serial now), on 1448² 0.68; float64 max 3/1 on
# 724² 1.05 (serial), on 1024² 0.82; uint8 max 3/1 on 1448² 1.40 (serial).
# Counting element operations alone (2**21 before) sent the 512² calls to
# two threads.
THREADS_MIN_BYTES = 1 << 25

# What one output row costs beyond its element operations (views, the row
# loop's set-up), in the same bytes: 60-170 ns a row against 0.03-0.09 ns a
# byte, measured on batches of 28x28 and 128x128 images, where it is most
# of the time (a (6000, 28, 28) uint8 max 3/1 took 24 ms on one thread).
ROW_COST_BYTES = 1 << 12

# Inputs of at least this many bytes run on threads whatever their
# estimated cost: streaming them from memory is itself worth two threads.
# 2048² images, two threads over one: block max 16/16 uint8 0.71 and
# float32 0.62, max 2/2 float32 0.57 (1.9 ms on one thread), where the cost
# estimate counts only an element operation per input element; every loop
# measured at that size but uint8 max 2/2 (150 us, 1.34) ran faster on two.
THREADS_MIN_INPUT_BYTES = 1 << 24

# A batch axis at least this long that varies fastest in memory (channels
# last, NHWC) becomes the loops' row axis, with a window of 1: the loops then
# combine whole runs of channels, vectorised, instead of loading with the
# channel count as stride (docs/performance.md has the measurements). At a
# column stride of 1 pooling instead runs along the interleaved rows, for
# any channel count (windowkit._plan.interleaved_channels).
CHANNELS_MIN = 32

# Float and integer max and min at a column stride above 1 instead run along
# the interleaved rows up to this many channels (the separable loop's
# pixels, see interleaved_channels): taken as the rows, the channels made
# rows too short for its combines. float32, 2 threads, medians of three,
# rows / interleaved in ms: (32, 56, 56, 32) max 3/2 4.06 / 0.54; (32, 56,
# 56, 128) max 3/2 5.05 / 3.68, max 5/3 5.37 / 3.18; (4, 300, 300, 40) max
# 3/2 16.5 / 4.25; (32, 112, 112, 64) max 3/2 20.5 / 7.4; but (8, 28, 28,
# 512) max 3/2 0.69 / 0.89. Sums and means stay below CHANNELS_MIN:
# (32, 56, 56, 128) mean 3/2 2.62 / 3.39, (4, 300, 300, 40) 2.34 / 4.10.
PIXELS_EXTREME_CHANNELS_MAX = 128

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

# van Herk's row passes cost more than separable's: each reads two rows
# and writes a third (separable's add one row into another), and each
# starts a row of its own in a loop of more steps. One pass costs
# VAN_HERK_PASS_COST separable passes plus VAN_HERK_ROW_OVERHEAD elements'
# worth on rows of that many elements, and VAN_HERK_INTEGER_EXTREME_COST
# times that for integer max and min (the separable loop combines those in
# place). Fitted to van Herk over separable timings (one process, both
# methods alternated, docs/performance.md): sums and max on batches of
# 28x28, 64x64 and 128x128 images and on 512² and 2048² images, windows
# 4-16, strides 1-4. On 28x28 uint8, mean 8/2 then runs separable (van
# Herk took 1.36-1.47x as long), mean 8/1 van Herk (0.99), max 8/1 van
# Herk (0.82).
VAN_HERK_PASS_COST = 1.1
VAN_HERK_ROW_OVERHEAD = 24
VAN_HERK_INTEGER_EXTREME_COST = 1.3

# "fft" when the direct sum would take at least FFT_WORK_RATIO times the
# transforms' element operations (fft.work, which counts the tiles'
# overlap, plus FFT_SETUP_WORK for a call's fixed costs), on at least
# FFT_MIN_SIZE input elements. Fitted to the crossovers measured on 2
# threads, "rows" against "fft" (docs/performance.md): 2048x2048 float32
# between 17x17 and 19x19, a float64 signal of 2**20 between 200 and 324
# taps, 512x512 float64 at 25x25, 300x300 float64 at 41x41 and 1000x1000
# float64 below 21x21.
FFT_WORK_RATIO = 5
FFT_SETUP_WORK = 5_000_000
FFT_MIN_SIZE = 1 << 16


@dataclass(frozen=True)
class MethodChoice:
    """What :func:`choose_method` picked, and why."""

    method: str
    reason: str
    work: int  # the chosen method's estimated element operations in one call
    layout: str = "the axes' order"  # how the loops take the input (windowkit._plan.layout)
    padding: tuple = None  # (before, after) per windowed axis, as resolved; None: valid
    mode: str = None  # what padded positions hold, as resolved; None: valid

    def __str__(self):
        return f"{self.method}: {self.reason}"


def pad3(values, fill):
    """Pad a 1- or 2-entry window description to 3 entries at the front."""
    return (fill,) * (3 - len(values)) + tuple(values)


def rows_per_output_row(geometry, method, reduce="max"):
    """How many row passes ``method`` ("separable" or "van_herk") makes per
    output row, each over one row of input columns."""
    window_depth, window_rows, _ = pad3(geometry.window, 1)
    stride_rows = pad3(geometry.stride, 1)[1]
    if method == "van_herk":
        # Each input row (over the window's depth) into one suffix and one
        # prefix, then one more combine per output row. A sum's suffix
        # starts from a copy of the next suffix: one more pass.
        copies = 1 if reduce in ("sum", "mean") else 0
        return (2 * window_depth + copies) * min(stride_rows, window_rows) + 1
    return window_depth * window_rows


def weighed_row_passes(shape, geometry, reduce, dtype_kind):
    """``(separable, van_herk, weight)``: the row passes each method makes
    per output row, and what one of van Herk's costs in separable ones
    (:func:`van_herk_pass_cost`)."""
    return (rows_per_output_row(geometry, "separable", reduce),
            rows_per_output_row(geometry, "van_herk", reduce),
            van_herk_pass_cost(shape[geometry.axes[-1]], reduce, dtype_kind))


@functools.lru_cache(maxsize=256)
def choose_pool_method(shape, geometry, reduce="max", dtype_kind="f"):
    """separable or van_herk, by the row passes each makes per output row,
    van Herk's weighed (:func:`weighed_row_passes`).

    Cached: the same shapes come back call after call.
    """
    window_rows, stride_rows = pad3(geometry.window, 1)[1], pad3(geometry.stride, 1)[1]
    separable, van_herk, weight = weighed_row_passes(shape, geometry, reduce, dtype_kind)
    reason = (
        f"window rows {window_rows} at stride {stride_rows}: {van_herk} van Herk row passes "
        f"at {weight:.2f} each against {separable} separable ones, per output row"
    )
    method = "van_herk" if van_herk * weight < separable else "separable"
    return MethodChoice(method, reason, pool_work(shape, geometry, method, reduce))


def van_herk_pass_cost(row_length, reduce, dtype_kind):
    """What one of van Herk's row passes costs, in separable row passes,
    on rows of ``row_length`` elements (see :data:`VAN_HERK_PASS_COST`)."""
    cost = VAN_HERK_PASS_COST + VAN_HERK_ROW_OVERHEAD / max(1, min(row_length, SEGMENT))
    if reduce in ("max", "min") and dtype_kind in "biu":
        cost *= VAN_HERK_INTEGER_EXTREME_COST
    return cost


def pool_work(shape, geometry, method, reduce="max"):
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
    row_passes = rows_per_output_row(geometry, method, reduce)
    return out_rows * shape[row_axis] * row_passes + out_size * along_row


def choose_correlate_method(shape, geometry, dtype):
    """rows, or fft for large float kernels on large inputs."""
    size = math.prod(shape)
    rows_work = math.prod(geometry.out_shape) * math.prod(geometry.window)
    if dtype.kind not in "fc":
        reason = "integer and bool sums stay exact: the direct sum with the output row innermost"
    elif size < FFT_MIN_SIZE:
        reason = (f"the direct sum (vectorised): transforms do not pay below "
                  f"{FFT_MIN_SIZE} elements")
    else:
        fft_work = correlate_work(shape, geometry, "fft")
        ratio = rows_work / (fft_work + FFT_SETUP_WORK)
        reason = (f"the direct sum takes {ratio:.1f} times the transforms' element "
                  f"operations and set-up; transforms run from {FFT_WORK_RATIO} times")
        if ratio >= FFT_WORK_RATIO:
            return MethodChoice("fft", reason, fft_work)
    return MethodChoice("rows", reason, rows_work)


def threaded(work, geometry, dtype, input_bytes):
    """Whether a call of ``work`` element operations over ``geometry``,
    computing in ``dtype``, on an input of ``input_bytes``, runs on threads
    (see :data:`THREADS_MIN_BYTES` and :data:`THREADS_MIN_INPUT_BYTES`)."""
    out_rows = math.prod(geometry.out_shape) // max(1, geometry.out_shape[geometry.axes[-1]])
    cost = work * dtype.itemsize + out_rows * ROW_COST_BYTES
    return cost >= THREADS_MIN_BYTES or input_bytes >= THREADS_MIN_INPUT_BYTES


def correlate_work(shape, geometry, method):
    """Estimated element operations of correlating by ``method``."""
    if method == "fft":
        lengths = pad3([shape[axis] for axis in geometry.axes], 1)
        batch = math.prod(shape) // math.prod(lengths)
        return fft.work((batch, *lengths), pad3(geometry.window, 1))
    return math.prod(geometry.out_shape) * math.prod(geometry.window)
