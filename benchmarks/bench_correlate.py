"""Valid correlation across kernel sizes, strides, dtypes and input sizes."""

import numpy as np

import windowkit as wk

from .common import SHAPES, Timed, make_input, skip, too_slow, warm

class _CorrelateSetup:
    """Inputs and skips shared by the time and memory classes (no benchmarks)."""

    param_names = ["kernel", "stride", "dtype", "shape", "impl"]

    def setup(self, kernel, stride, dtype, shape, impl):
        shape = SHAPES[shape]
        if kernel > min(shape[-2:]):
            skip("kernel larger than the image")
        if shape != SHAPES["512x512"] and dtype != {2: "float32", 3: "uint8"}[len(shape)]:
            skip("dtype sweep only on the 512x512 image")
        if too_slow(impl, "correlate", shape, kernel, stride):
            skip("too slow for this grid")
        self.x = make_input(shape, dtype)
        self.kernel = make_input((kernel, kernel), dtype, seed=1)
        # "auto" runs rows or fft; only rows compiles anything.
        warm(lambda x, method: wk.correlate(x, self.kernel, stride, impl=impl, method=method),
             dtype, len(shape), kernel, stride, methods=("rows",))


class Correlate(_CorrelateSetup, Timed):
    """correlate with a square kernel; convolve runs the same loop (flipped kernel)."""

    params = [
        [2, 3, 5, 8, 16, 31],
        [1, 2, 4],
        ["float32", "float64", "uint8"],
        list(SHAPES),
        ["numba", "strided"],
    ]

    def time_correlate(self, kernel, stride, dtype, shape, impl):
        wk.correlate(self.x, self.kernel, stride, impl=impl)


class CorrelateMemory(_CorrelateSetup):
    """Peak memory of a call, beside that of its setup alone (see PoolMemory)."""

    params = [[3, 11], [1], ["float32"], list(SHAPES), ["numba", "strided"]]
    processes = 1

    def peakmem_correlate(self, kernel, stride, dtype, shape, impl):
        wk.correlate(self.x, self.kernel, stride, impl=impl)

    def peakmem_reference(self, kernel, stride, dtype, shape, impl):
        """Setup alone."""


class Convolve(Timed):
    """convolve on the seed image, to catch a regression in its own wrapper."""

    params = [[3, 11], ["numba", "strided"]]
    param_names = ["kernel", "impl"]

    def setup(self, kernel, impl):
        self.x = make_input((512, 512), "float64")
        self.kernel = np.random.default_rng(1).random((kernel, kernel))
        warm(lambda x, method: wk.convolve(x, self.kernel, impl=impl, method=method),
             "float64", 2, kernel, 1, methods=("rows",))

    def time_convolve(self, kernel, impl):
        wk.convolve(self.x, self.kernel, impl=impl)
