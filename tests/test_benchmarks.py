"""The asv benchmarks time no compilation: setup() has compiled every kernel.

A compile (or a load from Numba's disk cache) inside a timed call adds a
signature to one of the kernels' dispatchers; none may appear.
"""

import itertools

import pytest

from benchmarks import bench_conv, bench_correlate, bench_loops, bench_pool
from benchmarks.common import SHAPES, stride_value, too_slow
from windowkit.kernels import _jit

CASES = [
    (bench_pool.PoolLarge, "time_pool", ("max", 3, 1)),
    (bench_pool.Pool, "time_pool", ("mean", 3, "block", "float64")),
    (bench_pool.PoolBatch, "time_pool", ("max", 2, 2)),
    (bench_pool.Pool, "time_pool", ("mean", 16, 2, "uint8")),
    (bench_pool.PoolReductions, "time_pool", ("min", 4, 2, "numba")),
    (bench_pool.PoolReductions, "time_pool", ("sum", 2, 1, "numba")),
    (bench_correlate.CorrelateLarge, "time_correlate", (3, 1)),
    (bench_correlate.Correlate, "time_correlate", (8, 2, "uint8")),
    (bench_correlate.CorrelateBatch, "time_correlate", (3, 2)),
    (bench_correlate.Convolve, "time_convolve", (11, "numba")),
    (bench_loops.Loops, "time_op", ("correlate 3x3", "numba")),
    (bench_loops.Loops, "time_op", ("mean_pool 4/4", "numba")),
    (bench_pool.PoolPadded, "time_pool", ("mean 5/1", "same")),
    (bench_pool.PoolPadded, "time_pool", ("max 3/2", 1)),
    (bench_pool.PoolPadded, "time_pool", ("stem 3/2", 1)),
    (bench_pool.PoolMissing, "time_pool", ("max 31/1", "omit")),
    (bench_pool.PoolMissing, "time_pool", ("mean 15/1", "omit min_count")),
    (bench_pool.PoolMissing, "time_pool", ("max 2/2", "indices")),
    (bench_pool.PoolMissing, "time_pool", ("max 3/2", "indices")),
    (bench_pool.PoolMissing, "time_pool", ("max 3/2", "omit same")),
    (bench_pool.PoolMissing, "time_pool", ("mean 15/1", "omit same")),
    (bench_conv.PoolGrad, "time_pool_gradient", ("max", "3/2 padding 1")),
    (bench_conv.PoolGrad, "time_pool_gradient", ("mean", "2/2")),
    (bench_conv.PoolGrad, "time_pool_gradient", ("unpool", "2/2")),
    (bench_correlate.CorrelatePadded, "time_correlate", ("same", 2)),
    (bench_correlate.CorrelatePadded, "time_correlate", ("full", 1)),
] + [(bench_pool.PoolLayout, "time_pool", (layout, case)) for layout in ("HWC", "F")
     for case in ("max 3/1", "max 2/2", "mean 3/1")] + [
    (bench_correlate.CorrelateLayout, "time_correlate", (layout, stride))
    for layout in ("HWC", "F") for stride in (1, 2)]


def signatures():
    """Every signature every windowkit loop has compiled or loaded."""
    return [list(loop.dispatcher.signatures) for loop in _jit.LOOPS]


@pytest.mark.parametrize("cls, method, params", CASES, ids=lambda c: getattr(c, "__name__", None))
def test_setup_compiles_everything_the_timed_call_needs(cls, method, params):
    benchmark = cls()
    benchmark.setup(*params)
    before = signatures()
    getattr(benchmark, method)(*params)
    assert signatures() == before, f"{cls.__name__}.{method}{params} compiled inside the timing"


GRIDS = [bench_pool.Pool, bench_pool.PoolLarge, bench_pool.PoolBatch, bench_pool.PoolStrided,
         bench_pool.PoolMemory, bench_pool.PoolMemoryStrided, bench_correlate.Correlate,
         bench_correlate.CorrelateLarge, bench_correlate.CorrelateLargeKernel,
         bench_correlate.CorrelateBatch,
         bench_correlate.CorrelateStrided, bench_correlate.CorrelateMemory,
         bench_correlate.CorrelateMemoryStrided]


@pytest.mark.parametrize("cls", GRIDS, ids=lambda c: c.__name__)
def test_grids_need_no_skipping(cls):
    """asv starts a process for every combination, skipped or not: every
    combination of a grid fits its input and stays within the grid's work
    limit (``common.too_slow``), so none is a process spent on a skip."""
    names = cls.param_names
    for values in itertools.product(*cls.params):
        params = dict(zip(names, values))
        shape = SHAPES[params.get("shape", cls.shape)]
        window = params.get("window", params.get("kernel"))
        stride = stride_value(params.get("stride", 1), window)
        op = params.get("reduce", "correlate")
        assert window <= min(shape[-2:]), (cls.__name__, values)
        assert not too_slow(cls.impl, op, shape, window, stride), (cls.__name__, values)


def test_large_windows_run_in_the_grid():
    benchmark = bench_pool.PoolLarge()
    params = ("max", 31, 1)
    benchmark.setup(*params)  # van Herk does ~1.4e8 operations, not 3.9e9
    before = signatures()
    benchmark.time_pool(*params)
    assert signatures() == before
