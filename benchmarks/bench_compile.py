"""Start-up costs, each timed in a fresh interpreter: import, and a first call.

A first call compiles its kernel (empty Numba cache) or loads it from disk
(warm cache). None of this lands in the other benchmarks, which warm their
kernels in setup().
"""

import os
import subprocess
import sys
import tempfile

IMPORTS = "import numpy, numba"
FIRST_CALL_SETUP = """
import os, sys
os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}
sys.path.insert(0, {module_dir!r})
import numpy as np
import windowkit
import numba_alone
x = np.zeros((40, 40))
"""
# The floor under every first call: a trivial cached Numba function's, in
# the same process state. Numba sets up its typing and target contexts on a
# process's first compile or cache load (and imports scipy.linalg for its
# BLAS check), whatever the function.
NUMBA_ALONE = """
import numba


@numba.njit(cache=True)
def total(x):
    result = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            result += x[i, j]
    return result
"""
# One first call per kind of loop: each compiles (or loads) its own kernel.
FIRST_CALLS = {
    "max_pool": "windowkit.max_pool(x, 2)",  # 2x2 blocks: extreme_2x2_pool, the max copy
    "max_pool 3": "windowkit.max_pool(x, 3)",  # 3x3 blocks: block_pool, the max copy for 3
    "mean_pool": "windowkit.mean_pool(x, 2)",  # 2x2 blocks: block_pool, the sum copy for 2
    "mean_pool 3/1": "windowkit.mean_pool(x, 3, 1)",  # separable, the sum copy
    "max_pool 31/1": "windowkit.max_pool(x, 31, 1)",  # van Herk
    "correlate": "windowkit.correlate(x, np.ones((3, 3)))",  # the direct loop
    "numba alone": "numba_alone.total(x)",  # the floor: no windowkit code
}


class Startup:
    timeout = 600
    repeat = (3, 5, 60.0)
    params = [list(FIRST_CALLS)]
    param_names = ["call"]

    def setup(self, call):
        self.module_dir = tempfile.mkdtemp(prefix="windowkit-numba-alone-")
        with open(os.path.join(self.module_dir, "numba_alone.py"), "w") as module:
            module.write(NUMBA_ALONE)
        self.warm_cache = tempfile.mkdtemp(prefix="windowkit-numba-cache-")
        code = self._setup_code(self.warm_cache) + FIRST_CALLS[call]
        subprocess.run([sys.executable, "-c", code], check=True)

    def _setup_code(self, cache_dir):
        return FIRST_CALL_SETUP.format(cache_dir=cache_dir, module_dir=self.module_dir)

    def timeraw_first_call_cold_cache(self, call):
        """First call with an empty cache: Numba compiles the kernel."""
        # A new, empty cache directory for every repetition.
        cold = tempfile.mkdtemp(prefix="windowkit-numba-cold-")
        return FIRST_CALLS[call], self._setup_code(cold)

    def timeraw_first_call_warm_cache(self, call):
        """First call with the kernel already in the on-disk cache."""
        return FIRST_CALLS[call], self._setup_code(self.warm_cache)


class Import:
    timeout = 120
    repeat = (3, 5, 60.0)

    def timeraw_import_numpy_numba(self):
        """The baseline windowkit's import builds on."""
        return IMPORTS

    def timeraw_import_windowkit(self):
        """What ``import windowkit`` adds to importing numpy and numba."""
        return "import windowkit", IMPORTS
