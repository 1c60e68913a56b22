"""Valid correlation across kernel sizes, strides, dtypes and input sizes."""

import numpy as np

import windowkit as wk

from .common import LAYOUTS, SHAPES, Timed, layout_input, make_input, warm

class _CorrelateInput:
    """One input for every combination of a class's grid (no benchmarks)."""

    shape = "512x512"
    impl = "numba"

    def prepare(self, kernel, stride, dtype):
        shape = SHAPES[self.shape]
        self.x = make_input(shape, dtype)
        self.kernel = make_input((kernel, kernel), dtype, seed=1)
        self.stride = stride
        # "auto" runs rows or fft; only rows compiles anything.
        warm(lambda x, method: wk.correlate(x, self.kernel, stride, impl=self.impl,
                                            method=method),
             dtype, len(shape), kernel, stride, methods=("rows",))

    def call(self):
        wk.correlate(self.x, self.kernel, self.stride, impl=self.impl)


class Correlate(_CorrelateInput, Timed):
    """correlate the seed's 512x512 image with a square kernel: the dtype
    sweep (CorrelateLarge sweeps the sizes); convolve runs the same loop."""

    params = [[3, 8, 31], [1, 2], ["float32", "float64", "uint8"]]
    param_names = ["kernel", "stride", "dtype"]

    def setup(self, kernel, stride, dtype):
        self.prepare(kernel, stride, dtype)

    def time_correlate(self, kernel, stride, dtype):
        self.call()


class CorrelateLarge(_CorrelateInput, Timed):
    """A 2048x2048 float32 image."""

    shape = "2048x2048"
    params = [[2, 3, 5, 8], [1, 2, 4]]
    param_names = ["kernel", "stride"]

    def setup(self, kernel, stride):
        self.prepare(kernel, stride, "float32")

    def time_correlate(self, kernel, stride):
        self.call()


class CorrelateLargeKernel(CorrelateLarge):
    """A 31x31 kernel on the 2048x2048 image, where "auto" runs the FFT (16x16
    and strided 31x31 run the direct sum, over the grid's work limit)."""

    params = [[31], [1]]


class CorrelateBatch(_CorrelateInput, Timed):
    """An MNIST-sized batch of uint8 images, at the strides CNNs use (exact
    integer sums: the direct sum, vectorised)."""

    shape = "60000x28x28"
    params = [[2, 3], [2]]
    param_names = ["kernel", "stride"]

    def setup(self, kernel, stride):
        self.prepare(kernel, stride, "uint8")

    def time_correlate(self, kernel, stride):
        self.call()


class CorrelateStrided(_CorrelateInput, Timed):
    """The stride-trick reference on the seed image, for scale."""

    impl = "strided"
    params = [[3, 5], [1, 2]]
    param_names = ["kernel", "stride"]

    def setup(self, kernel, stride):
        self.prepare(kernel, stride, "float64")

    def time_correlate(self, kernel, stride):
        self.call()


class CorrelateMemory(_CorrelateInput):
    """Peak memory of a call, beside that of its setup alone (see PoolMemory)."""

    params = [[3, 5], ["512x512", "2048x2048"]]
    param_names = ["kernel", "shape"]
    processes = 1

    def setup(self, kernel, shape):
        self.shape = shape
        self.prepare(kernel, 1, "float32")

    def peakmem_correlate(self, kernel, shape):
        self.call()

    def peakmem_reference(self, kernel, shape):
        """Setup alone."""


class CorrelateMemoryStrided(CorrelateMemory):
    """CorrelateMemory for the stride-trick reference, on the seed image."""

    impl = "strided"
    params = [[3], ["512x512"]]


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


class CorrelateLayout(Timed):
    """A 1080x1920 float32 colour image correlated with a 3x3 kernel over its
    height and width in each layout of ``common.LAYOUTS``, at strides 1 and 2."""

    params = [list(LAYOUTS), [1, 2]]
    param_names = ["layout", "stride"]

    def setup(self, layout, stride):
        self.x, self.axes = layout_input(layout, 1080, 1920, "float32")
        self.kernel = make_input((3, 3), "float32", seed=1)
        small, axes = layout_input(layout, 8, 9, "float32")
        wk.correlate(small, self.kernel, stride, axes=axes)

    def time_correlate(self, layout, stride):
        wk.correlate(self.x, self.kernel, stride, axes=self.axes)


class CorrelatePadded(Timed):
    """A 3x3 correlation of a 2048x2048 float32 image with each padding
    (zeros) and dilation: the border's cost beside the valid call, and
    dilation's residue classes (one strided view of x each)."""

    params = [["valid", "same", "full"], [1, 2]]
    param_names = ["padding", "dilation"]

    def setup(self, padding, dilation):
        self.x = make_input(SHAPES["2048x2048"], "float32")
        self.kernel = make_input((3, 3), "float32", seed=1)
        wk.correlate(make_input((13, 13), "float32"), self.kernel, padding=padding,
                     dilation=dilation)

    def time_correlate(self, padding, dilation):
        wk.correlate(self.x, self.kernel, padding=padding, dilation=dilation)
