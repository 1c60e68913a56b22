"""Shared dtypes, layouts, data makers and the comparison helper, and the
compile budget."""

import hashlib
import os
import pathlib

# Numba's on-disk cache is invalidated by its own source file's time stamp,
# not by a change in a helper it inlines from another file: the suite keeps
# its cache in a folder named after every kernel source, so it never runs a
# stale loop. Set before Numba is imported. The pytest-xdist workers share
# the folder, so that a loop one worker compiled the other loads (a whole
# run took 20.3 CPU-minutes with a folder per worker, 15.7 shared), with
# the cache's index updates made one at a time (_serialise_index_updates).
_KERNELS = pathlib.Path(__file__).parents[1] / "src" / "windowkit" / "kernels"
_SOURCES = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(_KERNELS.glob("*.py"))))
_ROOT = os.environ.setdefault("WINDOWKIT_SUITE_CACHE", os.environ.get(
    "NUMBA_CACHE_DIR", str(pathlib.Path(__file__).parents[1] / ".numba-cache")))
_FOLDER = os.path.join(_ROOT, _SOURCES.hexdigest()[:16])


def _serialise_index_updates(folder):
    """Make each update of a Numba cache index in ``folder`` hold a file
    lock; True if it could.

    Numba writes every file atomically, but adds an entry by reading the
    index, taking the first free data file name and writing both back: two
    processes adding at once can take the same name, and an index entry
    can then point at the other's machine code, which a third load would
    run for the wrong types. This wraps that one step of Numba's cache
    (numba.core.caching, not a public API), for the test suite only; where
    the step or ``fcntl`` is missing, each worker keeps a folder of its own.
    """
    try:
        import fcntl

        from numba.core.caching import IndexDataCacheFile
        add_entry = IndexDataCacheFile.save
    except (ImportError, AttributeError):
        return False
    os.makedirs(folder, exist_ok=True)
    lock_path = os.path.join(folder, "index.lock")

    def locked(self, key, data):
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            return add_entry(self, key, data)

    IndexDataCacheFile.save = locked
    return True


os.environ["NUMBA_CACHE_DIR"] = _FOLDER
if not _serialise_index_updates(_FOLDER):
    from numba.core import config

    os.environ["NUMBA_CACHE_DIR"] = os.path.join(
        _FOLDER, os.environ.get("PYTEST_XDIST_WORKER", "main"))
    config.reload_config()  # Numba read the variable when it was imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import windowkit as wk  # noqa: E402
from windowkit.kernels import _jit  # noqa: E402

# hypothesis draws the same examples every run, so the suite compiles the
# same signatures every run (and a failure replays without a database).
settings.register_profile("windowkit", derandomize=True, database=None)
settings.load_profile("windowkit")

# The most distinct signatures the whole suite may compile (or load), over
# every process and every windowkit loop and scalar function; measured 398
# on a fresh clone at 959b46e (345 of loops, 53 of scalar functions;
# CONTRIBUTING.md), 456 with an empty cache once pixels side by side took
# block_pool with interleaved channels (55 more block_pool copies: test_ops'
# transposed_view layout, channels last, sweeps every block width through
# them). 477 with an empty cache once padding came (issue 16: an interior
# that is a slice of x, and dilation's residue views, run the loops'
# any-layout copies for the dtypes test_padded sweeps). 512 with an empty
# cache once method="direct" took the padded textbook loops (24: three
# loops and their source function over the dtype classes test_padded
# sweeps) and the block loops read strided-row views in place (their
# any-layout copies, where a C copy of the view had run before; that and
# one-window axes no longer capped to the window's stride: the other 28,
# attributed, not measured apart). 534 on a fresh clone at bdafd1c, once
# the pools took nan_policy, masked arrays and return_indices (issue 17, 20
# more than 514): locate_extreme and write_coordinates over the dtype
# classes test_missing sweeps (11) and the sum pools of the values' masks
# that count them, in copies of layouts the suite had not run before. 553
# once float max and min skip NaN in the fast loops (19: the NANMAX and
# NANMIN copies of block_pool 9, separable_pool 6, van_herk_pool 5 and
# extreme_2x2_pool 3, less 4 elsewhere), 564 on a fresh clone of 885e2c4
# with an empty cache (its scalar functions compile there: 55 of them
# against 44). 617 once return_indices ran in one pass and sums skipped NaN
# in the loops that count (54 more than 563): indexed_extreme_pool 49 (a
# copy per reduction, NaN rule and block width 2 to 4 or row pass, per
# dtype class test_missing sweeps) and held_sum_pool and
# held_van_herk_pool 8, where locate_extreme's and the count pools' copies
# had run. 629 once the CNN layer came (issue 18: conv 5, conv_rows 4,
# gather_columns 4, its float dtypes and layouts), 637 once its backward
# pass ran as loops (scatter_columns 2, spread 2, and add_at 5: unpool over
# the dtype classes test_grad sweeps, bool counted in int64), 641 with the
# depthwise weight gradient's loop (conv_weight_rows 2, conv 1 more: every
# method's gradients against autograd). 660 on a fresh clone of dd018c1
# with an empty cache (its scalar functions compile there), once "omit"
# beyond valid windows ran the NaN-skipping loops on the interior's views
# and the strips' pieces (their any-layout copies, separable_pool,
# van_herk_pool, block_pool and the held sums over the methods
# test_missing sweeps) and Dask pooled masked blocks (locate_extreme on
# int32): the budget 680, for headroom. 668 on a fresh clone of e896ae6,
# once the index loop had copies for column stride 2 (indexed_extreme_pool
# 6 more). 678 in a full local run of a04485d, once padded, undilated
# correlations by the rows loop ran padded_correlate_rows (8: the dtype
# classes and layouts test_padded sweeps), some correlate_rows copies no
# longer compiling for strips: the budget 700. 706 in a full local run
# once padded, undilated pools by the separable method ran
# padded_separable_pool (28: max, min and the sums into their two result
# dtypes, over the dtype classes and the C and any-layout copies
# test_padded sweeps; the strips' separable copies still compile for the
# methods that keep the regions): the budget 730. A change that multiplies
# compiles fails the run.
SIGNATURE_BUDGET = 730


def compiled():
    """Every signature this process compiled (or loaded), each named
    ``"<kind> <function> <constants> <types>"``: kind "loop" or "scalar"
    (pytest_terminal_summary counts by both), the function, the constants
    of its copy and its types."""
    names = []
    for kind, dispatchers in [("loop", [loop.dispatcher for loop in _jit.LOOPS]),
                              ("scalar", _jit.SCALARS)]:
        for dispatcher in dispatchers:
            func = dispatcher.py_func
            constants = [cell.cell_contents for cell in func.__closure__ or ()
                         if isinstance(cell.cell_contents, (bool, int))]
            names += [f"{kind} {func.__name__} {constants} {signature}"
                      for signature in dispatcher.signatures]
    return names


# What each pytest-xdist worker compiled, gathered by the controller.
_WORKERS = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKERS.append(getattr(node, "workeroutput", {}).get("windowkit_compiled", []))


def _suite_compiled():
    """``(distinct, compiles)``: the signatures the run compiled, counted
    once, and how many compiles that took over every process."""
    processes = _WORKERS or [compiled()]
    return sorted(set().union(*processes)), sum(map(len, processes))


def pytest_terminal_summary(terminalreporter):
    distinct, compiles = _suite_compiled()
    if os.environ.get("WINDOWKIT_SIGNATURES"):  # a file to list them in, one a line
        pathlib.Path(os.environ["WINDOWKIT_SIGNATURES"]).write_text("\n".join(distinct) + "\n")
    verdict = "over the budget: the run fails" if len(distinct) > SIGNATURE_BUDGET else "within"
    processes = f" ({compiles} compiles in {len(_WORKERS)} workers)" if _WORKERS else ""
    loops = sum(name.startswith("loop ") for name in distinct)
    terminalreporter.write_line(
        f"windowkit: {len(distinct)} compiled signatures{processes}, "
        f"{verdict} the budget of {SIGNATURE_BUDGET} (tests/conftest.py): {loops} of "
        f"loops called from Python, {len(distinct) - loops} of scalar functions the "
        f"loops call (counted where a loop compiled in this run: a loop loaded from the "
        f"cache loads without them)")
    by_name = {}
    for name in distinct:
        function = name.split(" ", 2)[1]
        by_name[function] = by_name.get(function, 0) + 1
    counts = [f"{name} {n}" for name, n in sorted(by_name.items(), key=lambda item: -item[1])]
    if counts:
        terminalreporter.write_line("  by function: " + ", ".join(counts))


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller counts
        workeroutput["windowkit_compiled"] = compiled()
        return
    # Only a whole run is held to the budget; a selection compiles less.
    if session.config.option.keyword or session.config.args != session.config.getini("testpaths"):
        return
    if len(_suite_compiled()[0]) > SIGNATURE_BUDGET:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

DTYPES = [
    np.bool_,
    np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
    np.complex64, np.complex128,
]
REAL_DTYPES = [dt for dt in DTYPES if np.dtype(dt).kind != "c"]
IMPLS = ["numba", "python", "strided"]
OPS = ["max", "min", "sum", "mean", "correlate", "convolve"]
POOL_OPS = OPS[:4]


def ops_for(dtype, ops=OPS):
    """``ops`` without max and min for complex dtypes, which have no order."""
    return [op for op in ops if not (np.dtype(dtype).kind == "c" and op in ("max", "min"))]


def make_data(shape, dtype, seed=0):
    """Small integer values, so every sum in the tests is exact in any order.

    Windows of up to 216 elements times kernel weights up to 3 stay below
    2048, where float16 still holds every integer.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "u":
        return rng.integers(0, 4, shape).astype(dtype)
    values = rng.integers(-3, 4, shape)
    if dtype.kind == "c":
        return (values + 1j * rng.integers(-3, 4, shape)).astype(dtype)
    return values.astype(dtype)


def _noncontiguous(x):
    big = np.zeros(tuple(2 * n + 1 for n in x.shape), x.dtype)
    every_other = tuple(slice(1, None, 2) for _ in x.shape)
    big[every_other] = x
    return big[every_other]


def _negative_strides(x):
    flip = tuple(slice(None, None, -1) for _ in x.shape)
    return np.ascontiguousarray(x[flip])[flip]


def _readonly(x):
    x = x.copy()
    x.flags.writeable = False
    return x


LAYOUTS = {
    "C": lambda x: np.ascontiguousarray(x),
    "F": lambda x: np.asfortranarray(x),
    "noncontiguous": _noncontiguous,
    "negative_strides": _negative_strides,
    "readonly": _readonly,
    "byteswapped": lambda x: x.astype(x.dtype.newbyteorder()),
    "transposed_view": lambda x: np.ascontiguousarray(np.moveaxis(x, 0, -1)).transpose(
        (x.ndim - 1,) + tuple(range(x.ndim - 1))
    ),
}


POOL_METHODS = ["direct", "separable", "van_herk", "auto"]


def methods_for(op):
    """Every method of ``op``."""
    return ["direct", "rows", "auto"] if op in ("correlate", "convolve") else POOL_METHODS


def run_op(op, x, window, stride, axes, impl="numba", out=None, method="auto"):
    """Call windowkit's ``op``; correlate and convolve use a kernel from make_data."""
    if op in ("correlate", "convolve"):
        kernel = make_kernel(window, x.dtype)
        return getattr(wk, op)(x, kernel, stride, axes=axes, out=out, impl=impl, method=method)
    return wk.pool(x, window, stride, reduce=op, axes=axes, out=out, impl=impl, method=method)


def make_kernel(window, dtype):
    """A deterministic, asymmetric kernel, so a missing flip shows."""
    kernel = make_data(window, dtype, seed=1)
    kernel.flat[0] = 1 if np.dtype(dtype).kind in "bu" else 3
    return kernel


def reference_op(op, x, window, stride, axes):
    """The oracle of ``tests/reference.py`` for ``op``."""
    import reference

    if op in ("correlate", "convolve"):
        kernel = make_kernel(window, x.dtype)
        dtype = np.sum(np.zeros(1, np.result_type(x.dtype, kernel.dtype))).dtype
        return reference.correlate(x, kernel, stride, axes, dtype, convolve=op == "convolve")
    return reference.pool(x, window, stride, axes, op)


def assert_same(actual, expected, exact=True, **context):
    """Compare dtype, shape and values; name the case in every failure."""
    where = ", ".join(f"{key}={value}" for key, value in context.items())
    assert isinstance(actual, np.ndarray), f"not an ndarray: {type(actual)} ({where})"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype} ({where})"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} ({where})"
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=where, strict=True)
    else:
        np.testing.assert_allclose(actual, expected, err_msg=where, **tolerance(actual.dtype))


def tolerance(dtype):
    """Rounding tolerance for float results computed in a different order."""
    eps = np.finfo(dtype).eps
    return {"rtol": 8 * eps, "atol": 8 * eps}


@pytest.fixture(params=DTYPES, ids=lambda dt: np.dtype(dt).name)
def dtype(request):
    return np.dtype(request.param)
