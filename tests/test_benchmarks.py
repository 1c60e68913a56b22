"""The asv benchmarks time no compilation: setup() has compiled every kernel.

A compile (or a load from Numba's disk cache) inside a timed call adds a
signature to one of the kernels' dispatchers; none may appear.
"""

import pytest

import windowkit.kernels
from benchmarks import bench_correlate, bench_loops, bench_pool

k = windowkit.kernels
FORMS = [
    getattr(getattr(k, name), form)
    for name in ("extreme_pool", "sum_pool", "correlate")
    for form in ("serial", "parallel")
] + [
    loop[code].serial
    for loop in (k.extreme_2x2_pool, k.correlate_rows)
    for code in (k.MAX, k.MIN, k.SUM)
] + [
    loop[code, doubling].serial
    for loop in (k.separable_pool, k.van_herk_pool)
    for code in (k.MAX, k.MIN, k.SUM)
    for doubling in (False, True)
] + [
    k.block_pool[code, block].serial
    for code in (k.MAX, k.MIN, k.SUM)
    for block in range(1, k.BLOCK_MAX + 1)
]

CASES = [
    (bench_pool.Pool, "time_pool", ("max", 3, 1, "float32", "2048x2048", "numba")),
    (bench_pool.Pool, "time_pool", ("mean", 5, "block", "float64", "512x512", "numba")),
    (bench_pool.Pool, "time_pool", ("max", 2, 2, "uint8", "60000x28x28", "numba")),
    (bench_pool.Pool, "time_pool", ("mean", 16, 4, "uint8", "512x512", "numba")),
    (bench_pool.PoolReductions, "time_pool", ("min", 4, 2, "numba")),
    (bench_pool.PoolReductions, "time_pool", ("sum", 2, 1, "numba")),
    (bench_correlate.Correlate, "time_correlate", (3, 1, "float32", "2048x2048", "numba")),
    (bench_correlate.Correlate, "time_correlate", (5, 2, "uint8", "512x512", "numba")),
    (bench_correlate.Convolve, "time_convolve", (11, "numba")),
    (bench_loops.Loops, "time_op", ("correlate 3x3", "numba")),
    (bench_loops.Loops, "time_op", ("mean_pool 4/4", "numba")),
]


def signatures():
    return [list(form.signatures) for form in FORMS]


@pytest.mark.parametrize("cls, method, params", CASES, ids=lambda c: getattr(c, "__name__", None))
def test_setup_compiles_everything_the_timed_call_needs(cls, method, params):
    benchmark = cls()
    benchmark.setup(*params)
    before = signatures()
    getattr(benchmark, method)(*params)
    assert signatures() == before, f"{cls.__name__}.{method}{params} compiled inside the timing"


def test_skips_are_not_implemented_errors():
    with pytest.raises(NotImplementedError, match="window larger than the image"):
        bench_pool.Pool().setup("max", 31, 1, "uint8", "60000x28x28", "numba")
    with pytest.raises(NotImplementedError, match="too slow"):
        bench_pool.Pool().setup("max", 31, 1, "float32", "2048x2048", "strided")


def test_large_windows_run_in_the_grid():
    benchmark = bench_pool.Pool()
    params = ("max", 31, 1, "float32", "2048x2048", "numba")
    benchmark.setup(*params)  # not skipped: van Herk does ~1.4e8 operations, not 3.9e9
    before = signatures()
    benchmark.time_pool(*params)
    assert signatures() == before
