"""Dask input: the in-memory image pooled and filtered block by block.

Skipped where Dask is not installed (``pip install "windowkit[dask]"``).
The full-size version, a 20000 x 20000 image on disk, is
``examples/large_image.py``.
"""

import numpy as np

import windowkit as wk

from .common import Timed, make_input, skip

SMOOTHING = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
OPS = {
    "max_pool 4x4": lambda x: wk.max_pool(x, 4),
    "correlate 3x3": lambda x: wk.correlate(x, SMOOTHING),
}


class Dask(Timed):
    """A 4096 x 4096 float32 image in bands of 256 rows, on Dask's threads,
    beside the same call on the numpy array: the ratio is Dask's overhead."""

    params = [list(OPS), ["dask", "numpy"]]
    param_names = ["op", "input"]

    def setup(self, op, kind):
        try:
            import dask.array as da
        except ImportError:
            skip("Dask is not installed")
        x = make_input((4096, 4096), "float32")
        self.x = da.from_array(x, chunks=(256, -1)) if kind == "dask" else x
        self.run = OPS[op]
        self.run(x[:300, :300])  # compile outside the timing

    def time_call(self, op, kind):
        result = self.run(self.x)
        if kind == "dask":
            result.compute(scheduler="threads")

    def peakmem_call(self, op, kind):
        self.time_call(op, kind)
