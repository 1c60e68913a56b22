"""The one compile policy for windowkit's kernels, and how they run on threads.

Every kernel is a plain Python function over a range of independent tasks,
``func(*args, first_task, stop_task, out)``, wrapped in a :class:`Loop`:

- ``loop.python`` is the same code run by the interpreter
  (``impl="python"``), its helpers too (:func:`interpreted`);
- ``loop.dispatcher`` is the function compiled by Numba under
  :data:`POLICY`, and :meth:`Loop.run` calls it for one explicit signature
  per dtype and input layout (see :meth:`Loop.entry`).

A kernel that depends on a constant (a reduction, a row algorithm, a block
width) is built by a cached factory as a closure over plain ints and bools:
Numba treats them as compile-time constants, prunes the branches they rule
out, and keys its on-disk cache on their values. Kernels call two kinds of
functions:

- :func:`helper`: a loop Numba inlines into the kernel's own code before
  typing, so that the kernel is one function to compile and the
  constants it passes prune the helper's branches too. Helpers call no
  other helper: nested inlining renumbers the inner blocks from the largest
  label the process has used, and the labels would grow with every
  compile.
- :func:`scalar`: a small function of scalars (one combine), compiled once
  per argument types and inlined by LLVM.

Kernels take a row of a 4-D array with :func:`row_view`, never ``x[b, d, r]``:
Numba does not know that the rows of an array of any layout are
contiguous, and a loop along such a row does not vectorise.

Nothing is compiled at import.
"""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from types import FunctionType

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array

# cache: reuse machine code across processes. nogil: let threads run
# kernels concurrently. fastmath off: it would let LLVM assume no NaN, which
# breaks NaN propagation in max/min. error_model="numpy": no zero-division
# checks in the loops.
POLICY = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

# Every loop and scalar function made, so that tests can count what the
# process compiled.
LOOPS = []
SCALARS = []


def helper(func):
    """Decorator for a loop that kernels call, inlined into each (see above)."""
    return numba.njit(inline="always", **POLICY)(func)


def scalar(func):
    """Decorator for a small function of scalars that kernels and helpers call."""
    dispatcher = numba.njit(**POLICY)(func)
    SCALARS.append(dispatcher)
    return dispatcher


def row_view(a, b, d, r):
    """Row ``r`` of depth slice ``d`` of batch item ``b`` of the 4-D array
    ``a``, as a 1-D view.

    Compiled, the view is typed C-contiguous whatever ``a``'s layout, so
    that LLVM vectorises the loops along it: Loop.entry passes arrays of
    any other layout only if their rows are contiguous
    (:func:`rows_contiguous`). A loop along a row of an "A"-layout array
    indexed as ``a[b, d, r]`` multiplies each index by a stride it does
    not know is the item size, and stays scalar: 2.9x slower on 2048²
    float32 windows of a sliced input (docs/methods.md, "Beyond valid").
    """
    return a[b, d, r]


def rows_contiguous(a):
    """Whether the elements along ``a``'s last axis are adjacent in memory."""
    return a.shape[-1] <= 1 or a.strides[-1] == a.itemsize


@intrinsic
def _contiguous_row(typingctx, a, b, d, r):
    """:func:`row_view`, compiled: the view's data pointer, length and item stride."""
    view = types.Array(a.dtype, 1, "C", readonly=not a.mutable, aligned=a.aligned)

    def codegen(context, builder, signature, args):
        array = make_array(signature.args[0])(context, builder, args[0])
        strides = cgutils.unpack_tuple(builder, array.strides)
        shape = cgutils.unpack_tuple(builder, array.shape)
        offset = builder.add(builder.add(builder.mul(args[1], strides[0]),
                                         builder.mul(args[2], strides[1])),
                             builder.mul(args[3], strides[2]))
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(view.dtype)))
        result = make_array(view)(context, builder)
        # A borrowed view, without a reference count: it lives inside the
        # kernel, whose argument keeps ``a`` alive.
        context.populate_array(result, data=cgutils.pointer_add(builder, array.data, offset),
                               shape=cgutils.pack_array(builder, [shape[3]]),
                               strides=cgutils.pack_array(builder, [itemsize]),
                               itemsize=itemsize, meminfo=None)
        return result._getvalue()

    index = types.intp
    return view(a, index, index, index), codegen


def real_float(a):
    """Whether ``a``'s elements are real floats; compiled, a constant of the copy."""
    return a.dtype.kind == "f"


@overload(real_float)
def _real_float(a):
    flag = isinstance(a.dtype, types.Float)
    return lambda a: flag


@overload(row_view)
def _row(a, b, d, r):
    if isinstance(a, types.Array) and a.ndim == 4:
        return lambda a, b, d, r: _contiguous_row(a, b, d, r)
    return None


class Loop:
    """A kernel over independent tasks, compiled once per dtype and input layout.

    ``count_tasks(out, *args[1:])`` says how many tasks a call has. Each
    thread runs the compiled loop on its own contiguous range of tasks with
    the GIL released. A task's outputs are computed in the same order
    whatever the range, so results are bitwise identical for any number of
    threads.
    """

    def __init__(self, func, count_tasks, strided_rows=False, written=()):
        self._func = func
        self.strided_rows = strided_rows
        self.written = written
        self._python = None
        self.count_tasks = count_tasks
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func
        self.dispatcher = numba.njit(**POLICY)(func)
        self._entries = {}
        LOOPS.append(self)

    def __repr__(self):
        return f"<windowkit loop {self.__name__}>"

    @property
    def python(self):
        """The loop as the interpreter runs it (:func:`interpreted`), made on first use."""
        if self._python is None:
            self._python = interpreted(self._func)
        return self._python

    def entry(self, args, out):
        """The compiled loop for ``args`` and ``out``: its entry point.

        The input ``args[0]`` (typed read-only) and ``out`` are typed
        C-contiguous when both are, and otherwise both of any layout ("A"),
        their rows contiguous (ValueError if not: the plan copies such an
        input, and writes such an output through a temporary); a loop made
        with ``strided_rows=True`` indexes the input's 2-D planes, never
        its rows, and takes an input of any strides. So each
        dtype has two copies whatever the views' offsets, pitches and
        flags, both with packed SIMD loads along rows (:func:`row_view`). Other
        arrays (weights) are typed read-only by their own layout, but for the
        positions in ``args`` that the loop was made to write (``written``:
        a second output, such as the coordinates beside the values).
        """
        x = args[0]
        layout = "C" if x.flags.c_contiguous and out.flags.c_contiguous else "A"
        if layout == "A" and not ((self.strided_rows or rows_contiguous(x))
                                  and rows_contiguous(out)):
            raise ValueError(f"{self.__name__} takes arrays whose rows are contiguous")
        key = (x.dtype, x.ndim, layout) + tuple(map(_arg_key, args[1:])) + (out.dtype, out.ndim)
        try:
            return self._entries[key]
        except KeyError:
            pass
        signature = (_array_type(x.dtype, x.ndim, layout == "C"),) + tuple(
            _arg_type(arg, position in self.written)
            for position, arg in enumerate(args[1:], 1)) + (
            types.intp, types.intp, types.Array(numba.from_dtype(out.dtype), out.ndim, layout))
        entry = self.dispatcher.compile(signature)
        self._entries[key] = entry
        return entry

    def prepare(self, args, out, impl="numba"):
        """``(function, n_tasks)``: what :func:`run_tasks` runs for these
        arguments, the compiled loop or (``impl="python"``) the interpreted one."""
        n_tasks = self.count_tasks(out, *args[1:])
        return (self.python if impl == "python" else self.entry(args, out)), n_tasks

    def run(self, args, out, n_threads=1, impl="numba"):
        """Run every task of ``args`` into ``out``, on up to ``n_threads`` threads."""
        function, n_tasks = self.prepare(args, out, impl)
        run_tasks(function, args, out, n_tasks, 1 if impl == "python" else n_threads)


def run_tasks(function, args, out, n_tasks, n_threads):
    """``function(*args, first, stop, out)`` over tasks 0 to ``n_tasks``, in
    one contiguous range per thread."""
    n_threads = max(1, min(n_threads, n_tasks))
    if n_threads == 1:
        function(*args, 0, n_tasks, out)
        return
    bounds = [n_tasks * i // n_threads for i in range(n_threads + 1)]
    pending = [thread_pool().submit(function, *args, bounds[i], bounds[i + 1], out)
               for i in range(1, n_threads)]
    function(*args, bounds[0], bounds[1], out)
    for future in pending:
        future.result()


def interpreted(func):
    """``func`` as the interpreter runs it: a copy whose helpers (and theirs)
    are their Python source, not their compiled forms.

    The source is the same, so ``impl="python"`` runs exactly the loop that
    Numba compiles, one bytecode at a time.
    """
    return FunctionType(func.__code__, _interpreted_globals(func.__globals__),
                              func.__name__, func.__defaults__, func.__closure__)


_INTERPRETED = {}


def _interpreted_globals(module_globals):
    """A module's globals with every Numba dispatcher replaced by its
    interpreted Python function; one namespace per module, made once the
    module is imported (loops make theirs on first use)."""
    name = module_globals["__name__"]
    if name not in _INTERPRETED:
        namespace = _INTERPRETED[name] = dict(module_globals)
        for key, value in module_globals.items():
            if isinstance(value, numba.core.dispatcher.Dispatcher):
                namespace[key] = interpreted(value.py_func)
    return _INTERPRETED[name]


def loop(count_tasks, strided_rows=False, written=()):
    """Decorator: make ``func`` a :class:`Loop` with this task count
    (``strided_rows`` and ``written``: see :meth:`Loop.entry`)."""
    return lambda func: Loop(func, count_tasks, strided_rows, written)


def output_rows(out, *args):
    """The task count of loops whose task is one output row of a 4-D ``out``."""
    n_batch, out_depth, out_rows, out_cols = out.shape
    return n_batch * out_depth * out_rows


def _arg_key(value):
    """What of an argument decides its Numba type."""
    if isinstance(value, np.ndarray):
        return (value.dtype, value.ndim, value.flags.c_contiguous)
    if isinstance(value, tuple):
        return (tuple, len(value))  # windows and strides: tuples of ints
    return type(value)


@functools.lru_cache(maxsize=None)
def _array_type(dtype, ndim, c_contiguous, readonly=True):
    return types.Array(numba.from_dtype(dtype), ndim, "C" if c_contiguous else "A",
                       readonly=readonly)


def _arg_type(value, written=False):
    if isinstance(value, np.ndarray):
        return _array_type(value.dtype, value.ndim, value.flags.c_contiguous, not written)
    return numba.typeof(value)


def compiled_signatures():
    """How many signatures windowkit's loops and scalar functions have
    compiled (or loaded from the cache) in this process."""
    dispatchers = [loop.dispatcher for loop in LOOPS] + SCALARS
    return sum(len(dispatcher.signatures) for dispatcher in dispatchers)


_pool = None
_pool_lock = threading.Lock()


def thread_pool():
    """The threads that run loops, created on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS, "windowkit")
        return _pool
