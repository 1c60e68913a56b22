"""Inputs and warm-up shared by the asv benchmarks and the comparison script.

Not a benchmark module: asv finds no ``time_`` or ``peakmem_`` names here.
"""

import math

import numpy as np

import windowkit as wk


class Timed:
    """asv timing attributes shared by every class with time_ benchmarks.

    One process, 2 to 7 samples within about a second each, a short warm-up
    (kernels are already compiled in setup). asv reports the median sample.
    Together they keep the full grid to minutes on 2 cores.
    """

    processes = 1
    repeat = (2, 7, 1.0)
    warmup_time = 0.05


SHAPES = {
    "512x512": (512, 512),  # the seed notebook's grey astronaut size
    "2048x2048": (2048, 2048),
    "60000x28x28": (60000, 28, 28),  # an MNIST-sized batch
}


def make_input(shape, dtype, seed=0):
    """Seeded random data: uniform floats in [0, 1), or uint8 over its whole range."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.random(shape, dtype=np.dtype(dtype))


def warm(call, dtype, ndim, window, stride, methods=("separable", "van_herk")):
    """Compile ``call(x, method)`` for ``dtype`` and ``ndim`` outside any timing.

    ``window`` and ``stride`` are the benchmark's (square window, one stride).
    ``call`` gets a small C-contiguous input like the benchmark's, with every
    method that ``method="auto"`` may pick at full size: the loops compile
    once per dtype and layout, whatever the size and thread count, so
    nothing compiles inside a timed call.
    """
    n = window + stride
    shape = (2,) * (ndim - 2) + (n, n)
    for method in methods:
        call(make_input(shape, dtype), method)


def skip(reason):
    """asv's way to leave a parameter combination out: NotImplementedError."""
    raise NotImplementedError(reason)


def stride_value(stride, window):
    return window if stride == "block" else stride


# Combinations whose method="auto" does more element operations than this
# (wk.choose_method(...).work) would take most of a second per call and are
# left out of the grid.
NUMBA_MAX_WORK = 4 * 10**8
# The stride-trick reference is slower still, and tensordot copies every
# window: output x window elements of memory.
STRIDED_MAX_WORK = 2 * 10**7


def too_slow(impl, op, shape, window, stride):
    """Whether one call would read too many window elements for the grid."""
    if impl == "strided":
        return work(shape, window, stride) > STRIDED_MAX_WORK
    return wk.choose_method(op, shape, window, stride).work > NUMBA_MAX_WORK


def work(shape, window, stride):
    """Window reads of one call with a square window: output times window elements."""
    return math.prod(wk.output_shape(shape, window, stride)) * window**2


# One colour image's data laid out as each layout of issue 15: the windowed
# axes and how the data lies in memory. "CHW" is the reference the others
# are measured against (the windowed axes last, C order).
LAYOUTS = {
    "CHW": (1, 2),  # channels first, C order
    "HWC": (0, 1),  # channels last, interleaved (an RGB image as it loads)
    "F": (1, 2),  # channels first, Fortran order (a transpose, MATLAB)
}


def layout_input(layout, height, width, dtype, seed=0):
    """``(x, axes)``: a ``height`` x ``width`` x 3 image's data in ``layout``."""
    hwc = make_input((height, width, 3), dtype, seed)
    if layout == "HWC":
        return hwc, LAYOUTS[layout]
    chw = np.ascontiguousarray(np.moveaxis(hwc, -1, 0))
    return (chw if layout == "CHW" else np.asfortranarray(chw)), LAYOUTS[layout]
