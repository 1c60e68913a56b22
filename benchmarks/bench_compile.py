"""Start-up costs, each timed in a fresh interpreter: import, and a first call.

A first call compiles its kernel (empty Numba cache) or loads it from disk
(warm cache). None of this lands in the other benchmarks, which warm their
kernels in setup().
"""

import subprocess
import sys
import tempfile

IMPORTS = "import numpy, numba"
FIRST_CALL_SETUP = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}
import numpy as np
import windowkit
x = np.zeros((8, 8))
"""
FIRST_CALL = "windowkit.max_pool(x, 2)"


class Startup:
    timeout = 600
    repeat = (3, 5, 60.0)

    def setup(self):
        self.warm_cache = tempfile.mkdtemp(prefix="windowkit-numba-cache-")
        code = FIRST_CALL_SETUP.format(cache_dir=self.warm_cache) + FIRST_CALL
        subprocess.run([sys.executable, "-c", code], check=True)

    def timeraw_import_numpy_numba(self):
        """The baseline windowkit's import builds on."""
        return IMPORTS

    def timeraw_import_windowkit(self):
        """What ``import windowkit`` adds to importing numpy and numba."""
        return "import windowkit", IMPORTS

    def timeraw_first_call_cold_cache(self):
        """First max_pool call with an empty cache: Numba compiles the kernel."""
        # A new, empty cache directory for every repetition.
        cold = tempfile.mkdtemp(prefix="windowkit-numba-cold-")
        return FIRST_CALL, FIRST_CALL_SETUP.format(cache_dir=cold)

    def timeraw_first_call_warm_cache(self):
        """First max_pool call with the kernel already in the on-disk cache."""
        return FIRST_CALL, FIRST_CALL_SETUP.format(cache_dir=self.warm_cache)
