"""The teaching comparison: one loop interpreted, the same loop compiled, and vectorised.

A 64x64 image, so that the interpreted loop finishes in a fraction of a second.
The python and numba rows run the very same textbook loop (method="direct");
windowkit's default methods are timed in bench_pool and bench_correlate.
"""

import numpy as np

import windowkit as wk

from .common import Timed, make_input, warm

OPS = {
    "max_pool 3/1": lambda x, impl: wk.max_pool(x, 3, 1, impl=impl, method="direct"),
    "mean_pool 4/4": lambda x, impl: wk.mean_pool(x, 4, impl=impl, method="direct"),
    "correlate 3x3": lambda x, impl: wk.correlate(x, KERNEL, impl=impl, method="direct"),
}
KERNEL = np.random.default_rng(1).random((3, 3))


class Loops(Timed):
    params = [list(OPS), ["python", "numba", "strided"]]
    param_names = ["op", "impl"]

    def setup(self, op, impl):
        self.x = make_input((64, 64), "float64")
        self.op = OPS[op]
        warm(lambda x, method: self.op(x, impl), "float64", 2, 4, 1, methods=("direct",))

    def time_op(self, op, impl):
        self.op(self.x, impl)
