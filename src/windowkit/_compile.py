"""The one compile policy for windowkit's Numba kernels, and how they are run.

Every kernel is written once, as a plain Python function, and decorated with
:func:`kernel`. That keeps three runnable forms of the same source:

- ``.python``: the function itself, run by the interpreter (``impl="python"``);
- ``.serial``: compiled by Numba, one thread;
- ``.parallel``: compiled by Numba with ``parallel=True``, so ``prange``
  spreads the outer loop over ``numba.get_num_threads()`` threads.

Nothing is compiled at import: each form compiles on its first call for the
argument types it meets, and the machine code is cached on disk.
"""

import threading
import types

import numba

# cache: reuse machine code across processes. nogil: let Python threads run
# kernels concurrently. fastmath off: it would let LLVM assume no NaN, which
# breaks NaN propagation in max/min. error_model="numpy": no zero-division
# checks in the loops.
_POLICY = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

# Below this many window reads, starting threads costs more than it saves.
PARALLEL_MIN_WORK = 1 << 16

# Numba's fallback threading layer ("workqueue") must not be entered by two
# Python threads at once. A caller that finds a parallel launch in progress
# runs the serial loop instead: same result, and it still releases the GIL.
_parallel_launch = threading.Lock()


class Kernel:
    """A loop kept in its three runnable forms: Python, serial and parallel."""

    def __init__(self, func):
        self.python = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func
        self.parallel = numba.njit(parallel=True, **_POLICY)(func)
        # Numba's on-disk cache is keyed by the function's qualified name, not
        # by the compile flags, so the serial form gets a name of its own.
        serial = types.FunctionType(
            func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
        )
        serial.__qualname__ = func.__qualname__ + "_serial"
        self.serial = numba.njit(**_POLICY)(serial)

    def __repr__(self):
        return f"<windowkit kernel {self.__name__}>"

    def run(self, *args, impl, work):
        """Run the kernel on ``args``.

        ``impl="python"`` runs the interpreter; otherwise the compiled loop runs
        on several threads when ``work`` (the number of window reads) is large
        enough to pay for them.
        """
        if impl == "python":
            self.python(*args)
        elif work < PARALLEL_MIN_WORK or numba.get_num_threads() == 1:
            self.serial(*args)
        elif _parallel_launch.acquire(blocking=False):
            try:
                self.parallel(*args)
            finally:
                _parallel_launch.release()
        else:
            self.serial(*args)


def kernel(func):
    """Decorator: compile ``func`` under windowkit's policy, lazily."""
    return Kernel(func)
