"""The one compile policy for windowkit's Numba kernels, and how they are run.

Every kernel is written once, as a plain Python function, and decorated with
:func:`kernel`. That keeps three runnable forms of the same source:

- ``.python``: the function itself, run by the interpreter (``impl="python"``);
- ``.serial``: compiled by Numba, one thread;
- ``.parallel``: compiled by Numba with ``parallel=True``, so ``prange``
  spreads the outer loop over ``numba.get_num_threads()`` threads.

The fast pooling and correlation loops are :class:`TaskKernel` s instead:
one compiled copy per reduction (``kernel[code]``), serial only, run on
Python threads over ranges of independent tasks. They call small helpers
decorated with :func:`helper`, which Numba inlines into each copy; in the
``.python`` form the helpers are their plain Python source, so nothing
compiled runs there.

Nothing is compiled at import: each form compiles on its first call for the
argument types it meets, and the machine code is cached on disk.
"""

import threading
import types
from concurrent.futures import ThreadPoolExecutor

import numba
import numba.core.event
import numba.core.ir_utils

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
        self._func = func
        self._python = None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func
        self.parallel = numba.njit(parallel=True, **_POLICY)(func)
        # Numba's on-disk cache is keyed by the function's qualified name, not
        # by the compile flags, so the serial form gets a name of its own.
        serial = _rebind(func, func.__globals__, func.__qualname__ + "_serial")
        self.serial = numba.njit(**_POLICY)(serial)

    @property
    def python(self):
        """The kernel as plain Python: its helpers replaced by their Python source."""
        if self._python is None:
            plain = _namespace(self._func.__globals__, {}, "", compile_helpers=False)
            self._python = _rebind(self._func, plain)
        return self._python

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


class TaskKernel:
    """A loop over independent tasks, compiled once per reduction, run on Python threads.

    The function's last three parameters are ``first_task, stop_task, out``;
    ``count_tasks(out, *args[1:3])`` says how many tasks a call has. The
    function and its helpers read the global ``REDUCE``: ``kernel[code]`` is
    a copy in which ``REDUCE`` is the constant ``code``, so Numba compiles
    only that reduction's loops, with every helper inlined into one
    function. A kernel may name more such globals (``constants``), each
    copy fixing them all. Only a serial form is compiled: each thread runs
    it on its own contiguous range of tasks with the GIL released, which
    spares the compile time of a ``parallel=True`` form.
    """

    def __init__(self, func, count_tasks, constants=("REDUCE",)):
        self._func = func
        self.count_tasks = count_tasks
        self.constants = constants
        self._copies = {}
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def __repr__(self):
        return f"<windowkit task kernel {self.__name__}>"

    def __getitem__(self, values):
        """The kernel with ``REDUCE = code`` (``kernel[code]``), or with each of
        its constants set (``kernel[code, block]``): ``.python`` and compiled
        ``.serial`` forms."""
        values = values if isinstance(values, tuple) else (values,)
        if values not in self._copies:
            self._copies[values] = _Specialised(self, dict(zip(self.constants, values)))
        return self._copies[values]


class _Specialised:
    """One copy of a :class:`TaskKernel`, its constants fixed."""

    def __init__(self, task_kernel, constants):
        func = task_kernel._func
        self.count_tasks = task_kernel.count_tasks
        # Its own name for Numba's on-disk cache: "_reduce0", "_reduce2_block4".
        suffix = "".join(f"_{name.lower()}{value}" for name, value in constants.items())
        compiled = _namespace(func.__globals__, constants, suffix, compile_helpers=True)
        plain = _namespace(func.__globals__, constants, suffix, compile_helpers=False)
        self.serial = numba.njit(**_POLICY)(_rebind(func, compiled, func.__qualname__ + suffix))
        self.python = _rebind(func, plain)

    def run(self, *args, impl, work=None):
        """Run ``args`` (``x``, ..., ``out``) over every task, on threads if it pays.

        Threads are used when ``x`` has at least ``TASK_PARALLEL_MIN_WORK``
        elements (``work`` is not used: it is the direct loops' measure).
        """
        head, out = args[:-1], args[-1]
        n_tasks = self.count_tasks(out, head[1], head[2])
        if impl == "python":
            self.python(*head, 0, n_tasks, out)
            return
        n_threads = 1
        if head[0].size >= TASK_PARALLEL_MIN_WORK:
            n_threads = min(numba.get_num_threads(), n_tasks)
        if n_threads <= 1:
            self.serial(*head, 0, n_tasks, out)
            return
        bounds = [n_tasks * i // n_threads for i in range(n_threads + 1)]
        pending = [
            _thread_pool().submit(self.serial, *head, bounds[i], bounds[i + 1], out)
            for i in range(1, n_threads)
        ]
        self.serial(*head, bounds[0], bounds[1], out)
        for future in pending:
            future.result()


# Below this many input elements, handing tasks to another thread costs more
# than it saves (measured: 512x512 float64 max pooling runs 1.4x slower on
# two threads, 2048x2048 float32 1.3x faster).
TASK_PARALLEL_MIN_WORK = 1 << 19


def _namespace(module_globals, constants, suffix, compile_helpers):
    """The module's globals updated with ``constants``, every helper re-bound to them.

    Helpers that call helpers then see the same namespace. Compiled helpers
    are marked for inlining into the kernel, so the whole loop is one
    function for LLVM; plain ones stay Python functions.
    """
    namespace = dict(module_globals, **constants)
    for name, value in namespace.items():
        if isinstance(value, numba.core.dispatcher.Dispatcher):
            func = _rebind(value.py_func, namespace, value.py_func.__qualname__ + suffix)
            if compile_helpers:
                func = numba.njit(inline="always", **_POLICY)(func)
            namespace[name] = func
    return namespace


_pool = None
_pool_lock = threading.Lock()


def _thread_pool():
    """The threads that run task kernels, created on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS, "windowkit")
        return _pool


def _rebind(func, namespace, qualname=None):
    """A copy of ``func`` that reads its globals from ``namespace``."""
    copy = types.FunctionType(
        func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__doc__ = func.__doc__
    copy.__qualname__ = qualname or func.__qualname__
    return copy


def kernel(func):
    """Decorator: compile ``func`` under windowkit's policy, lazily."""
    return Kernel(func)


def task_kernel(count_tasks, constants=("REDUCE",)):
    """Decorator: compile a task loop, run by :class:`TaskKernel`."""
    return lambda func: TaskKernel(func, count_tasks, constants)


def helper(func):
    """Decorator for a small function that task kernels call.

    Each :class:`TaskKernel` copy re-binds and inlines it; the dispatcher
    made here is what ``_namespace`` finds and what tests may call directly.
    """
    return numba.njit(**_POLICY)(func)


class _FreshBlockLabels(numba.core.event.Listener):
    """Restart Numba's block-label counter before each outermost compile.

    When Numba inlines a function, it renumbers the callee's blocks from the
    largest label the process has used so far. The helpers inlined into the
    task kernels are themselves built by inlining, so one kernel's compile
    multiplies that largest label by about 200 (2-3 more digits). After some
    400 signatures in one process (the test suite gets there), the block
    names (``B`` and the label) pass LLVM's 1024-character limit and
    compiling fails with "LLVM IR parsing error: name is too long".

    The counter starts at 0 in a fresh process; setting it back to 0 when
    the outermost compile starts gives every compile that same start. It
    runs under Numba's compiler lock (no other compile is in progress, in
    any thread), and only for windowkit's own kernels.
    """

    def __init__(self):
        self._depth = 0

    def on_start(self, event):
        self._depth += 1
        dispatcher = event.data["dispatcher"]
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "")
        if self._depth == 1 and module.startswith("windowkit."):
            numba.core.ir_utils._the_max_label._value = 0

    def on_end(self, event):
        self._depth -= 1


numba.core.event.register("numba:compile", _FreshBlockLabels())
