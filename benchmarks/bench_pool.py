"""Pooling across window sizes, strides, dtypes and input sizes.

One class per input, each a grid whose every combination runs: asv starts a
process per combination, so a combination skipped in setup() would still
cost one. The dtype sweep runs on the seed-sized 512x512 image; the
2048x2048 image runs in float32 and the MNIST-sized batch in uint8, the
dtypes they come in. min and sum cost what max and mean cost (see
PoolReductions). ``tests/test_benchmarks.py`` checks that no combination
is one ``too_slow`` would leave out.
"""

import windowkit as wk

from .common import LAYOUTS, SHAPES, Timed, layout_input, make_input, stride_value, warm

WINDOWS = [2, 3, 5, 8, 16, 31]
STRIDES = [1, 2, "block"]


class _PoolInput:
    """One input for every combination of a class's grid (no benchmarks)."""

    shape = "512x512"
    impl = "numba"

    def prepare(self, reduce, window, stride, dtype):
        shape = SHAPES[self.shape]
        self.stride = stride_value(stride, window)
        self.x = make_input(shape, dtype)
        warm(lambda x, method: wk.pool(x, window, self.stride, reduce=reduce, impl=self.impl,
                                       method=method),
             dtype, len(shape), window, self.stride)

    def call(self, reduce, window):
        wk.pool(self.x, window, self.stride, reduce=reduce, impl=self.impl)


class Pool(_PoolInput, Timed):
    """max and mean pooling of the seed's 512x512 image: the dtype sweep, on a
    narrow, a block-sized and a wide window (PoolLarge sweeps the sizes)."""

    params = [["max", "mean"], [2, 3, 16], STRIDES, ["float32", "float64", "uint8"]]
    param_names = ["reduce", "window", "stride", "dtype"]

    def setup(self, reduce, window, stride, dtype):
        self.prepare(reduce, window, stride, dtype)

    def time_pool(self, reduce, window, stride, dtype):
        self.call(reduce, window)


class PoolLarge(_PoolInput, Timed):
    """A 2048x2048 float32 image: the window-size and stride grid."""

    shape = "2048x2048"
    params = [["max", "mean"], WINDOWS, STRIDES]
    param_names = ["reduce", "window", "stride"]

    def setup(self, reduce, window, stride):
        self.prepare(reduce, window, stride, "float32")

    def time_pool(self, reduce, window, stride):
        self.call(reduce, window)


class PoolBatch(_PoolInput, Timed):
    """An MNIST-sized batch of 60000 28x28 uint8 images."""

    shape = "60000x28x28"
    params = [["max", "mean"], [2, 3, 5, 8], STRIDES]
    param_names = ["reduce", "window", "stride"]

    def setup(self, reduce, window, stride):
        self.prepare(reduce, window, stride, "uint8")

    def time_pool(self, reduce, window, stride):
        self.call(reduce, window)


class PoolStrided(_PoolInput, Timed):
    """The stride-trick reference (impl="strided") on the seed image, for scale."""

    impl = "strided"
    params = [["max", "mean"], [2, 3, 5, 8], [1, "block"]]
    param_names = ["reduce", "window", "stride"]

    def setup(self, reduce, window, stride):
        self.prepare(reduce, window, stride, "float64")

    def time_pool(self, reduce, window, stride):
        self.call(reduce, window)


class PoolMemory(_PoolInput):
    """Peak memory of a call, beside that of its setup alone.

    peakmem_pool minus peakmem_reference is what the call itself needs: the
    output, plus any temporary it makes (the strided reference's window
    copies show here, in PoolMemoryStrided). Memory depends little on the
    window size, so the grid is smaller.
    """

    params = [["max", "mean"], [3, 16], [1, "block"], list(SHAPES)]
    param_names = ["reduce", "window", "stride", "shape"]
    processes = 1

    def setup(self, reduce, window, stride, shape):
        self.shape = shape
        self.prepare(reduce, window, stride, "uint8" if shape == "60000x28x28" else "float32")

    def peakmem_pool(self, reduce, window, stride, shape):
        self.call(reduce, window)

    def peakmem_reference(self, reduce, window, stride, shape):
        """Setup alone."""


class PoolMemoryStrided(PoolMemory):
    """PoolMemory for the stride-trick reference, on the seed image."""

    impl = "strided"
    params = [["max", "mean"], [3], [1, "block"], ["512x512"]]


class PoolReductions(Timed):
    """All four reductions on the seed's 512x512 float64 grey image."""

    params = [["max", "min", "mean", "sum"], [2, 4], [1, "block"], ["numba", "strided"]]
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


class PoolLayout(Timed):
    """A 1080x1920 colour image (uint8) pooled over its height and width in
    each layout of ``common.LAYOUTS``: channels first in C order (the
    reference), interleaved channels last, and Fortran order."""

    params = [list(LAYOUTS), ["max 3/1", "max 2/2", "mean 3/1"]]
    param_names = ["layout", "case"]

    def setup(self, layout, case):
        reduce, sizes = case.split()
        self.window, self.stride = map(int, sizes.split("/"))
        self.reduce = reduce
        self.x, self.axes = layout_input(layout, 1080, 1920, "uint8")
        # Compile on a small input of the same layout (the loops compile
        # per dtype and layout, not per size).
        small, axes = layout_input(layout, 8, 9, "uint8")
        for method in ("separable", "van_herk"):
            wk.pool(small, self.window, self.stride, reduce=reduce, axes=axes, method=method)

    def time_pool(self, layout, case):
        wk.pool(self.x, self.window, self.stride, reduce=self.reduce, axes=self.axes)


class PoolPadded(Timed):
    """Padding beside the valid call on the same 2048x2048 float32 image
    (and ResNet's stem on a batch of its 64-channel maps): what the border
    costs, the interior being the valid call's work. ``padding`` 1 is
    PyTorch's padded pooling (the padding ignored), "same" keeps the size
    (with mode "reflect" for the mean, as an image filter)."""

    params = [["max 3/1", "max 3/2", "mean 5/1", "stem 3/2"], ["valid", 1, "same", "full"]]
    param_names = ["case", "padding"]

    def setup(self, case, padding):
        reduce, sizes = case.split()
        self.window, self.stride = map(int, sizes.split("/"))
        self.reduce = "max" if reduce == "stem" else reduce
        self.mode = "reflect" if reduce == "mean" and padding != "valid" else None
        self.padding = padding
        shape = (8, 64, 112, 112) if reduce == "stem" else SHAPES["2048x2048"]
        self.x = make_input(shape, "float32")
        small = make_input(shape[:-2] + (2 * self.window + 3,) * 2, "float32")
        for method in ("separable", "van_herk"):
            self.call(small, method)

    def call(self, x, method="auto"):
        return wk.pool(x, self.window, self.stride, reduce=self.reduce, padding=self.padding,
                       mode=self.mode, method=method)

    def time_pool(self, case, padding):
        self.call(self.x)


class PoolMissing(Timed):
    """Missing data beside the plain call on the same 2048x2048 float32
    image with 1% NaN (issue 17): ``nan_policy="omit"`` (``min_count`` 1,
    and 32 for the mean), and max pooling's ``return_indices`` on the
    same data without NaN. "plain" is the call without them; "same" and
    "omit same" the calls padded to the input's shape (``mode="reflect"``),
    "omit same" by the NaN-skipping loops on the interior and the strips."""

    params = [["max 31/1", "mean 15/1", "max 2/2", "max 3/2"],
              ["plain", "omit", "omit min_count", "indices", "same", "omit same"]]
    param_names = ["case", "keywords"]

    def setup(self, case, keywords):
        reduce, sizes = case.split()
        self.window, self.stride = map(int, sizes.split("/"))
        self.reduce = reduce
        self.keywords = {"plain": {}, "omit": {"nan_policy": "omit"},
                         "omit min_count": {"nan_policy": "omit", "min_count": 32},
                         "indices": {"return_indices": True},
                         "same": {"padding": "same", "mode": "reflect"},
                         "omit same": {"nan_policy": "omit", "padding": "same",
                                       "mode": "reflect"}}[keywords]
        if keywords == "indices" and reduce != "max":
            self.keywords = {}  # a mean has no indices: the plain call
        self.x = make_input(SHAPES["2048x2048"], "float32")
        if keywords.startswith("omit"):
            self.x[make_input(self.x.shape, "float64", seed=3) < 0.01] = float("nan")
        # Compiled on a small C-ordered copy, the layout of the timed input.
        self.call(self.x[: 2 * self.window + 3, : 2 * self.window + 3].copy())

    def call(self, x):
        return wk.pool(x, self.window, self.stride, reduce=self.reduce, **self.keywords)

    def time_pool(self, case, keywords):
        self.call(self.x)
