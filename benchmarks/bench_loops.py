"""The teaching comparison: one loop interpreted, the same loop compiled, and vectorised.

A 64x64 image, so that the interpreted loop finishes in a fraction of a second.
"""

import numpy as np

import windowkit as wk

from .common import Timed, make_input, warm

OPS = {
    "max_pool 3/1": lambda x, impl: wk.max_pool(x, 3, 1, impl=impl),
    "mean_pool 4/4": lambda x, impl: wk.mean_pool(x, 4, impl=impl),
    "correlate 3x3": lambda x, impl: wk.correlate(x, KERNEL, impl=impl),
}
KERNEL = np.random.default_rng(1).random((3, 3))


class Loops(Timed):
    params = [list(OPS), ["python", "numba", "strided"]]
    param_names = ["op", "impl"]

    def setup(self, op, impl):
        self.x = make_input((64, 64), "float64")
        self.op = OPS[op]
        # The ops here use method="auto"; the 64x64 input and the warm-up
        # inputs pick the same method.
        warm(lambda x, method: self.op(x, impl), "float64", 2, 4, 1, methods=("auto",))

    def time_op(self, op, impl):
        self.op(self.x, impl)
