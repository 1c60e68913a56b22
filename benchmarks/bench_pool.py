"""Pooling across window sizes, strides, dtypes and input sizes."""

import windowkit as wk

from .common import SHAPES, Timed, make_input, skip, stride_value, too_slow, warm

class _PoolSetup:
    """Inputs and skips shared by the time and memory classes (no benchmarks)."""

    param_names = ["reduce", "window", "stride", "dtype", "shape", "impl"]

    def setup(self, reduce, window, stride, dtype, shape, impl):
        shape = SHAPES[shape]
        if window > min(shape[-2:]):
            skip("window larger than the image")
        if stride == "block" and window == 2:
            skip("same as stride 2")
        if shape != SHAPES["512x512"] and dtype != {2: "float32", 3: "uint8"}[len(shape)]:
            skip("dtype sweep only on the 512x512 image")
        self.stride = stride_value(stride, window)
        if too_slow(impl, reduce, shape, window, self.stride):
            skip("too slow for this grid")
        self.x = make_input(shape, dtype)
        warm(lambda x, method: wk.pool(x, window, self.stride, reduce=reduce, impl=impl,
                                       method=method),
             dtype, len(shape), window, self.stride)


class Pool(_PoolSetup, Timed):
    """max and mean pooling: the window-size and stride grid.

    The dtype sweep runs on the seed-sized 512x512 image; the 2048x2048 image
    runs in float32 and the MNIST-sized batch in uint8, the dtypes they come
    in. min and sum cost what max and mean cost (see PoolReductions).
    """

    params = [
        ["max", "mean"],
        [2, 3, 5, 8, 16, 31],
        [1, 2, 4, "block"],
        ["float32", "float64", "uint8"],
        list(SHAPES),
        ["numba", "strided"],
    ]

    def time_pool(self, reduce, window, stride, dtype, shape, impl):
        wk.pool(self.x, window, self.stride, reduce=reduce, impl=impl)


class PoolMemory(_PoolSetup):
    """Peak memory of a call, beside that of its setup alone.

    peakmem_pool minus peakmem_reference is what the call itself needs: the
    output, plus any temporary it makes (the strided reference's window
    copies show here). Memory depends little on the window size, so the grid
    is smaller.
    """

    params = [["max", "mean"], [3, 16], [1, "block"], ["float32"], list(SHAPES), ["numba", "strided"]]
    processes = 1

    def peakmem_pool(self, reduce, window, stride, dtype, shape, impl):
        wk.pool(self.x, window, self.stride, reduce=reduce, impl=impl)

    def peakmem_reference(self, reduce, window, stride, dtype, shape, impl):
        """Setup alone."""


class PoolReductions(Timed):
    """All four reductions on the seed's 512x512 float64 grey image."""

    params = [["max", "min", "mean", "sum"], [2, 4], [1, 2, "block"], ["numba", "strided"]]
    param_names = ["reduce", "window", "stride", "impl"]

    def setup(self, reduce, window, stride, impl):
        self.stride = stride_value(stride, window)
        self.x = make_input((512, 512), "float64")
        warm(lambda x, method: wk.pool(x, window, self.stride, reduce=reduce, impl=impl,
                                       method=method),
             "float64", 2, window, self.stride)

    def time_pool(self, reduce, window, stride, impl):
        wk.pool(self.x, window, self.stride, reduce=reduce, impl=impl)


class SmallInput(Timed):
    """The whole call on an 8x8 image: validation, dispatch, allocation.

    Compare with torch.nn.functional.max_pool2d on the same input (the
    comparison script's 8x8 row).
    """

    params = [["max", "mean"]]
    param_names = ["reduce"]

    def setup(self, reduce):
        self.x = make_input((8, 8), "float32")
        wk.pool(self.x, 2, reduce=reduce)

    def time_pool_8x8(self, reduce):
        wk.pool(self.x, 2, reduce=reduce)
