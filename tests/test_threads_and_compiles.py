"""Threads give bitwise the same results; what compiles, when, and how much."""

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import windowkit as wk


# -- threads -------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    n = numba.get_num_threads()
    yield
    numba.set_num_threads(n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_bitwise_identical_for_any_thread_count(dtype, restore_threads, monkeypatch):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((4, 400, 410)) * 50).astype(dtype)
    kernel = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    # The textbook loops share the one threading model: in float64 this
    # call is large enough to run on threads as it is.
    geometry = wk._validation.geometry(x.shape, kernel.shape, 1, None)
    work = wk._methods.correlate_work(x.shape, geometry, "direct")
    assert wk._methods.threaded(work, geometry, np.dtype(np.float64), 0)
    # Every loop below on threads, in every dtype: plans made afresh with
    # no threshold (and dropped after, so no other test reuses them).
    monkeypatch.setattr(wk._methods, "THREADS_MIN_BYTES", 0)
    monkeypatch.setattr(wk._plan, "_PLANS", {})
    monkeypatch.setattr(wk._plan, "_CORRELATE_PLANS", {})
    results = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results[threads] = [
            wk.correlate(x, kernel, method="direct"), wk.correlate(x, kernel, method="rows"),
            wk.mean_pool(x, 7, 2, method="separable"), wk.mean_pool(x, 7, 1, method="van_herk"),
            wk.max_pool(x, (3, 9), (1, 2), method="separable"),
            wk.max_pool(x, (9, 70), 1, method="van_herk"), wk.max_pool(x, 4, method="direct"),
        ]
    assert wk.kernels._jit._pool is not None, "the loops never ran on threads"
    plans = [*wk._plan._PLANS.values(), *wk._plan._CORRELATE_PLANS.values()]
    assert len(plans) == 7 and all(plan.threaded for plan in plans)
    for one, many in zip(*results.values()):
        assert one.tobytes() == many.tobytes()


def test_concurrent_calls_from_python_threads():
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((200, 300)) for _ in range(8)]
    kernel = rng.standard_normal((4, 4))
    expected = [(wk.correlate(x, kernel), wk.max_pool(x, 3, 1)) for x in inputs]
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait() if i < 4 else None
        return wk.correlate(inputs[i], kernel), wk.max_pool(inputs[i], 3, 1)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    for (corr, mx), (corr_expected, mx_expected) in zip(results, expected):
        assert corr.tobytes() == corr_expected.tobytes()
        assert mx.tobytes() == mx_expected.tobytes()


# -- compilation ---------------------------------------------------------------


def test_import_compiles_nothing():
    code = (
        "import windowkit, windowkit.kernels._jit as jit\n"
        "assert jit.compiled_signatures() == 0, [l.dispatcher.signatures for l in jit.LOOPS]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_impl_runs_the_same_source():
    import inspect

    k = wk.kernels
    for loop in (k.extreme_pool, k.sum_pool, k.correlate):
        assert loop.dispatcher.py_func.__code__ is loop.python.__code__
        assert "for task in range(first_task, stop_task):" in inspect.getsource(loop.python)
    copies = [(getattr(k, name)(code, doubling), {"reduce": code, "doubling": doubling})
              for name in ("separable_pool", "van_herk_pool")
              for code in (k.MAX, k.MIN, k.SUM) for doubling in (False, True)]
    copies += [(k.extreme_2x2_pool(code), {"find_max": code == k.MAX}) for code in (k.MAX, k.MIN)]
    copies.append((k.block_pool(k.SUM, 5), {"reduce": k.SUM, "block": 5}))
    for loop, constants in copies:
        assert loop.dispatcher.py_func.__code__ is loop.python.__code__
        # A copy is a closure over its constants, in both forms.
        cells = dict(zip(loop.python.__code__.co_freevars,
                         (cell.cell_contents for cell in loop.python.__closure__)))
        assert {name: cells[name] for name in constants} == constants
        # In the Python form, helpers are plain Python, and so are theirs.
        namespace = loop.python.__globals__
        helpers = [namespace[name] for name in ("depth_row", "pool_row", "block_row_sum")
                   if name in namespace]
        assert helpers and all(inspect.isfunction(helper) for helper in helpers)
        assert all(inspect.isfunction(helper.__globals__["combine"]) for helper in helpers
                   if "combine" in helper.__globals__)
    # Factories are cached: each copy is made (and compiled) once.
    assert k.separable_pool(k.MAX, True) is k.separable_pool(k.MAX, True)


def test_block_labels_do_not_grow_with_each_compile(tmp_path):
    """Numba renumbers inlined blocks from the largest label the process has
    used; nested inlining multiplied it with every compile, until LLVM
    rejected the block names (after ~400 compiles). Helpers inline one level
    deep, so the labels grow by a few hundred per compile: eight compiles of
    the largest loops in a fresh process (empty cache) left the largest
    label at 5064 (the nested inlining of before: 26 digits after six)."""
    code = """if True:
        import numpy as np, windowkit as wk
        from numba.core import ir_utils
        x = np.random.default_rng(0).random((12, 40))
        for dtype in (np.float64, np.uint8):
            for layout in (x, x[:, ::2]):
                for method, window, stride in (("separable", 2, 2), ("van_herk", (3, 9), 1)):
                    wk.pool(layout.astype(dtype), window, stride, reduce="max", method=method)
        print(ir_utils._the_max_label._value)
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    label = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                           capture_output=True, text=True).stdout
    assert int(label) < 20_000


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads to compare")
def test_conv_and_its_gradients_for_any_thread_count(restore_threads, monkeypatch):
    """conv's products run batch items side by side on threads (BLAS one
    thread each); each item's weight gradient is kept apart and summed in
    item order, so the results are the same bits whatever the thread count."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 6, 12, 11)).astype(np.float32)
    weight = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    monkeypatch.setattr(wk._methods, "THREADS_MIN_BYTES", 0)
    calls = []
    on_items = wk._conv.on_items
    monkeypatch.setattr(wk._conv, "on_items", lambda run, n, threaded, **keywords:
                        calls.append(threaded) or on_items(run, n, threaded, **keywords))
    results = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        results[threads] = []
        for stride, method in ((1, "shifted"), (2, "im2col"), (1, "rows")):
            out = wk.conv(x, weight, stride, padding=1, method=method)
            results[threads] += [out] + list(wk.grad.conv(np.ones_like(out), x, weight, stride,
                                                          padding=1))
    assert all(calls)  # every call was one that runs on threads where it can
    for one, two in zip(results[1], results[2]):
        np.testing.assert_array_equal(one, two)
