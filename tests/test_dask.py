"""Dask arrays: lazy results equal to the in-memory ones, chunk by chunk.

``assert_eq`` computes the result, compares it with the in-memory one and
checks every chunk's declared shape against the computed chunk. On top of
that, ``same`` asks for bitwise equality: a Dask block must compute each
window exactly as the whole array does.
"""

import itertools
import re
import subprocess
import sys

import numpy as np
import pytest

import windowkit as wk
from windowkit import _dask

da = pytest.importorskip("dask.array")
from dask.array.utils import assert_eq  # noqa: E402 (after the importorskip)

OPS = ["max", "min", "mean", "sum", "correlate", "convolve"]


def run(op, x, window, stride, kernel_dtype=np.float64, **kwargs):
    """``op`` on ``x``: a pool of ``window``, or a correlation with a kernel of that shape."""
    if op in ("correlate", "convolve"):
        shape = (window,) if isinstance(window, int) else window
        kernel = np.arange(1, np.prod(shape) + 1).reshape(shape) % 7 - 3
        return getattr(wk, op)(x, kernel.astype(kernel_dtype), stride, **kwargs)
    return wk.pool(x, window, stride, reduce=op, **kwargs)


def same(lazy, expected, bitwise=True):
    """Equal values (NaN where NaN) and chunk shapes, and bitwise equal."""
    assert isinstance(lazy, da.Array)
    assert_eq(lazy, expected)
    if bitwise:
        np.testing.assert_array_equal(lazy.compute(), expected, strict=True)


def irregular_chunks(n, rng):
    """Random chunk sizes of 1 to 7 summing to ``n``, often narrower than the window."""
    chunks = []
    while sum(chunks) < n:
        chunks.append(int(min(rng.integers(1, 8), n - sum(chunks))))
    return tuple(chunks)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("window", range(1, 10))
def test_1d_every_window_and_stride(op, window):
    rng = np.random.default_rng(window)
    x = rng.standard_normal(40)
    lazy_x = da.from_array(x, chunks=irregular_chunks(x.size, rng))
    for stride in range(1, window + 3):
        same(run(op, lazy_x, window, stride), run(op, x, window, stride))


@pytest.mark.parametrize("op", OPS)
def test_2d_windows_strides_and_chunks(op):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((29, 33))
    x[3, 4] = np.nan
    x[20, 7] = np.inf
    for _ in range(12):
        window = tuple(int(k) for k in rng.integers(1, 10, 2))
        stride = tuple(int(rng.integers(1, k + 3)) for k in window)
        chunks = (irregular_chunks(29, rng), irregular_chunks(33, rng))
        lazy_x = da.from_array(x, chunks=chunks)
        same(run(op, lazy_x, window, stride), run(op, x, window, stride))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.float32, np.complex128])
def test_dtypes(op, dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((3, 19, 23)) * 40).astype(dtype)
    if dtype == np.complex128:
        x += 1j * rng.standard_normal(x.shape)
    lazy_x = da.from_array(x, chunks=((1, 2), (4, 1, 9, 5), (7, 7, 3, 6)))
    if dtype == np.complex128 and op in ("max", "min"):
        # Complex numbers have no order: the same error, before any work.
        for array in (x, lazy_x):
            with pytest.raises(TypeError, match="complex"):
                run(op, array, 3, 1)
        return
    # A kernel of the input's dtype (a wrapped one for unsigned integers):
    # test_rules has the mixed dtypes, and these compile no copy of their own.
    for window, stride in [((3, 3), 1), ((4, 2), (2, 3)), ((9, 8), (1, 1)), ((2, 5), (5, 2))]:
        same(run(op, lazy_x, window, stride, dtype), run(op, x, window, stride, dtype))


@pytest.mark.parametrize("op", OPS)
def test_3d_window_with_batch_axes_and_axes_anywhere(op):
    rng = np.random.default_rng(7)
    volumes = rng.standard_normal((2, 3, 9, 10, 11)).astype(np.float32)
    lazy = da.from_array(volumes, chunks=((1, 1), (2, 1), (4, 5), (3, 3, 4), (11,)))
    for window, stride in [((3, 2, 4), (2, 1, 3)), ((2, 2, 2), 1), ((1, 9, 5), (1, 4, 6))]:
        same(run(op, lazy, window, stride), run(op, volumes, window, stride))
    # Channels in the middle: the window slides over axes 0 and 2.
    image = rng.standard_normal((17, 3, 21))
    lazy_image = da.from_array(image, chunks=((5, 5, 7), (2, 1), (4, 9, 8)))
    same(run(op, lazy_image, (4, 3), (3, 2), axes=(0, 2)),
         run(op, image, (4, 3), (3, 2), axes=(0, 2)))


@pytest.mark.parametrize("method", ["direct", "separable", "van_herk"])
@pytest.mark.parametrize("impl", ["numba", "python", "strided"])
def test_impl_and_method_inside_blocks(impl, method):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((14, 16)) * 1000).astype(np.float32)
    lazy_x = da.from_array(x, chunks=((3, 6, 5), (5, 11)))
    # numpy's reductions and tensordot (impl="strided") choose their order
    # of additions from the memory layout, which differs in a block: float
    # sums there agree to rounding (assert_eq's allclose), not bit for bit.
    for reduce in ("max", "sum", "mean"):
        for window, stride in [((5, 3), 1), ((3, 4), (2, 3))]:
            kwargs = dict(reduce=reduce, impl=impl, method=method)
            same(wk.pool(lazy_x, window, stride, **kwargs), wk.pool(x, window, stride, **kwargs),
                 bitwise=impl != "strided" or reduce == "max")
    same(wk.correlate(lazy_x, x[:3, :4], 2, impl=impl), wk.correlate(x, x[:3, :4], 2, impl=impl),
         bitwise=impl != "strided")


def test_fft_in_blocks_and_auto_decided_once():
    """Blocks transform their own tiles, so "fft" agrees with the in-memory
    call to rounding, not bitwise; "auto" is decided for the whole array
    (fft here), not block by block (each block alone is too small for it)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 290))
    kernel = rng.standard_normal((41, 41))
    assert wk.choose_method("correlate", x.shape, kernel.shape).method == "fft"
    lazy_x = da.from_array(x, chunks=(100, 150))
    expected = wk.correlate(x, kernel, method="fft")
    for method in ("fft", "auto"):
        same(wk.correlate(lazy_x, kernel, method=method), expected, bitwise=False)
    # Decided block by block, auto would have run the rows loop: bitwise that.
    rows = wk.correlate(x, kernel, method="rows")
    assert not np.array_equal(wk.correlate(lazy_x, kernel).compute(), rows)


def test_van_herk_float_sums_stay_identical_with_unaligned_chunks():
    """van Herk's blocks of rows count from row 0; chunk rows at 7 would
    regroup the float additions if the row boundaries were not moved to
    multiples of lcm(window, stride)."""
    x = (np.random.default_rng(2).standard_normal((60, 40)) * 1000).astype(np.float32)
    lazy_x = da.from_array(x, chunks=(7, 40))
    for window, stride in [(3, 1), (5, 2), (9, 1)]:
        result = wk.sum_pool(lazy_x, window, stride, method="van_herk")
        same(result, wk.sum_pool(x, window, stride, method="van_herk"))
        # Output chunks of n rows start n * stride input rows apart.
        assert all(n * stride % np.lcm(window, stride) == 0 for n in result.chunks[0][:-1])


def test_block_plan_owns_each_window_once():
    """The chunk rule by itself: block boundaries, halos and output counts."""
    for n, window, stride in [(14, 4, 3), (40, 1, 1), (40, 9, 2), (23, 2, 5), (10, 10, 1)]:
        for chunks in [(n,), (1,) * n, (5, 2, n - 7), (3, n - 3)]:
            starts = _dask.block_starts(n, window, stride, chunks, stride)
            blocks = _dask.axis_blocks(n, window, stride, starts)
            owned = []
            for first, stop, n_out in blocks:
                assert first % stride == 0 and 1 <= n_out
                starts_in_block = [first + j * stride for j in range(n_out)]
                assert starts_in_block[-1] + window <= stop <= n  # the block holds its windows
                assert stop - first - window < n_out * stride  # and reads nothing past them
                owned += starts_in_block
            assert owned == list(range(0, n - window + 1, stride))


def test_result_is_lazy_and_input_untouched():
    def explode():
        raise AssertionError("computed while building the graph")

    import dask

    lazy_x = da.from_delayed(dask.delayed(explode)(), shape=(20, 20), dtype=np.float64)
    result = wk.max_pool(lazy_x, 3, 2)  # no compute happens here
    assert result.shape == (9, 9) and result.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((12, 12))
    before = x.copy()
    wk.mean_pool(da.from_array(x, chunks=5), 3, 1).compute()
    np.testing.assert_array_equal(x, before)


def test_errors():
    lazy_x = da.ones((10, 10), chunks=4)
    with pytest.raises(TypeError, match="out= cannot be used with a Dask array"):
        wk.max_pool(lazy_x, 2, out=np.empty((5, 5)))
    with pytest.raises(TypeError, match="out= cannot be used with a Dask array"):
        wk.correlate(lazy_x, np.ones((2, 2)), out=np.empty((9, 9)))
    with pytest.raises(ValueError, match="does not fit axis"):
        wk.max_pool(lazy_x, 11)
    with pytest.raises(ValueError, match="method must be one of"):
        wk.max_pool(lazy_x, 2, method="fft")
    with pytest.raises(TypeError, match="does not support"):
        wk.max_pool(da.from_array(np.array(["a", "b"])), 1)
    with pytest.raises(TypeError, match="would load the whole Dask array"):
        wk.windows(lazy_x, 2)
    unknown = lazy_x[lazy_x[:, 0] > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        wk.max_pool(unknown, 2)
    # Long doubles: the error when the graph is built, not when it runs.
    long_x = lazy_x.astype(np.longdouble)
    with pytest.raises(TypeError, match="which Numba cannot compute in"):
        wk.max_pool(long_x, 2)
    with pytest.raises(TypeError, match="which Numba cannot compute in"):
        wk.correlate(lazy_x, np.ones((2, 2), np.longdouble))
    same(wk.max_pool(long_x, 2, impl="strided"), wk.max_pool(long_x.compute(), 2, impl="strided"))


def test_core_import_does_not_import_dask():
    code = (
        "import sys, numpy as np, windowkit as wk; wk.max_pool(np.ones((4, 4)), 2); "
        "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), 'dask'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_distributed_cluster_on_loopback():
    """Kernels pickled to two worker processes and compiled there."""
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 80))
    lazy_x = da.from_array(x, chunks=(13, 30))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            pooled = client.compute(wk.max_pool(lazy_x, 3, 2)).result()
            filtered = client.compute(wk.correlate(lazy_x, np.ones((3, 3)) / 9)).result()
            workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    np.testing.assert_array_equal(pooled, wk.max_pool(x, 3, 2))
    np.testing.assert_array_equal(filtered, wk.correlate(x, np.ones((3, 3)) / 9))


def test_large_image_example_on_a_small_image(tmp_path, capsys):
    """examples/large_image.py end to end, small: its files hold the in-memory results."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "large_image.py"
    spec = importlib.util.spec_from_file_location("large_image", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--dir", str(tmp_path), "--size", "300", "--rows", "45"])
    assert "Peak resident memory" in capsys.readouterr().out
    image = np.load(tmp_path / "image.npy")
    assert image.shape == (300, 300) and image.dtype == np.float32
    np.testing.assert_array_equal(np.load(tmp_path / "max_pool_4x4.npy"), wk.max_pool(image, 4))
    np.testing.assert_array_equal(np.load(tmp_path / "correlate_3x3.npy"),
                                  wk.correlate(image, example.SMOOTHING))


# -- beyond valid windows: padding, boundary modes, dilation and ceil_mode ----------

POOL_MODES = [None, "constant", "edge", "reflect", "symmetric", "wrap"]
CORRELATE_MODES = ["constant", "edge", "reflect", "symmetric", "wrap"]


def run_padded(op, x, window, stride, kernel_dtype=np.float64, **kwargs):
    """``run`` with the geometry keywords; ceil_mode only for pools."""
    if op in ("correlate", "convolve"):
        kwargs.pop("ceil_mode", None)
        if kwargs.get("mode") is None:
            kwargs["mode"] = "constant"
    return run(op, x, window, stride, kernel_dtype, **kwargs)


def random_geometry(rng, op, n_axes):
    """A window, stride and geometry keywords drawn at random: every padding
    kind and mode, dilation, strides below and beyond the window, ceil_mode."""
    window = tuple(int(k) for k in rng.integers(1, 6, n_axes))
    stride = tuple(int(rng.integers(1, k + 3)) for k in window)
    dilation = tuple(int(d) for d in rng.integers(1, 4, n_axes))
    padding = [None, "same", "full", int(rng.integers(0, 4)),
               tuple((int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in window)][
        int(rng.integers(0, 5))]
    modes = CORRELATE_MODES if op in ("correlate", "convolve") else POOL_MODES
    kwargs = dict(padding="valid" if padding is None else padding, dilation=dilation,
                  mode=modes[int(rng.integers(0, len(modes)))], cval=float(rng.integers(-3, 3)),
                  ceil_mode=bool(rng.integers(0, 2)))
    return window, stride, kwargs


def same_or_same_error(op, lazy_x, x, window, stride, **kwargs):
    """The lazy result equals the in-memory one, or both raise the same ValueError."""
    try:
        expected = run_padded(op, x, window, stride, **kwargs)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error))):
            run_padded(op, lazy_x, window, stride, **kwargs)
        return False
    same(run_padded(op, lazy_x, window, stride, **kwargs), expected)
    return True


@pytest.mark.parametrize("op", OPS)
def test_padded_1d_every_padding_mode_dilation_and_ceil_mode(op):
    rng = np.random.default_rng(21)
    x = rng.standard_normal(31)
    x[[0, 15, 30]] = [np.nan, np.inf, -np.inf]  # specials at both borders
    lazy_x = da.from_array(x, chunks=irregular_chunks(x.size, rng))
    modes = CORRELATE_MODES if op in ("correlate", "convolve") else POOL_MODES
    computed = 0
    for window in (1, 3, 6):
        for stride in (1, 2, window + 1):
            for dilation in (1, 2, 5):
                for padding in ("same", "full", 2, (0, 4)):
                    for mode in modes:
                        for ceil_mode in (False, True):
                            computed += same_or_same_error(
                                op, lazy_x, x, window, stride, padding=padding, mode=mode,
                                cval=-1.5, dilation=dilation, ceil_mode=ceil_mode)
    assert computed > 500


@pytest.mark.parametrize("op", OPS)
def test_padded_2d_and_3d_random_geometries_and_irregular_chunks(op):
    rng = np.random.default_rng(22)
    image = rng.standard_normal((2, 23, 19))
    image[0, 0, :3] = np.nan
    image[1, -1, -1] = np.inf
    volume = rng.standard_normal((9, 8, 10)).astype(np.float32)
    computed = 0
    for x, axes in ((image, (1, 2)), (image, (2, 1)), (volume, None)):
        for _ in range(25):
            chunks = tuple(irregular_chunks(n, rng) for n in x.shape)
            lazy_x = da.from_array(x, chunks=chunks)
            n_axes = 3 if axes is None else 2
            window, stride, kwargs = random_geometry(rng, op, n_axes)
            computed += same_or_same_error(op, lazy_x, x, window, stride, axes=axes, **kwargs)
    assert computed > 40


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.float16, np.complex128])
def test_padded_dtypes(op, dtype):
    rng = np.random.default_rng(23)
    x = (rng.standard_normal((3, 17, 14)) * 40).astype(dtype)
    if dtype == np.complex128:
        if op in ("max", "min"):
            return  # no order: test_dtypes has the error
        x += 1j * rng.standard_normal(x.shape)
    lazy_x = da.from_array(x, chunks=((1, 2), (4, 1, 9, 3), (7, 2, 5)))
    cval = True if dtype == np.bool_ else 3
    for window, stride, kwargs in [
            ((3, 3), 1, dict(padding="same", mode="reflect")),
            ((4, 2), (2, 3), dict(padding=((1, 2), (0, 3)), mode="constant", cval=cval)),
            ((2, 3), 2, dict(padding="full", dilation=(3, 2), mode="wrap")),
            ((3, 2), 2, dict(padding=1, ceil_mode=True))]:
        same_or_same_error(op, lazy_x, x, window, stride, axes=(1, 2), kernel_dtype=dtype,
                           **kwargs)


def test_padded_van_herk_float_sums_stay_identical_with_unaligned_chunks():
    """With dilation d the row axis's residue classes are van Herk's views:
    the interior's row boundaries move to multiples of lcm(s, d * lcm(k, s /
    gcd(s, d))) so that each block groups the additions as the whole does."""
    x = (np.random.default_rng(24).standard_normal((2, 130, 61)) * 1000).astype(np.float32)
    for chunks in [(1, 17, 23), (2, (7, 50, 3, 70), (30, 31))]:
        lazy_x = da.from_array(x, chunks=chunks)
        for window, stride, dilation in [((15, 4), 1, 1), ((15, 3), 1, 2), ((9, 3), 2, 3)]:
            for reduce in ("sum", "mean"):
                kwargs = dict(reduce=reduce, axes=(1, 2), padding="same", mode="symmetric",
                              dilation=dilation, method="van_herk")
                same(wk.pool(lazy_x, window, stride, **kwargs), wk.pool(x, window, stride, **kwargs))


@pytest.mark.parametrize("impl", ["python", "strided"])
def test_padded_impls_inside_blocks(impl):
    x = (np.random.default_rng(25).standard_normal((11, 13)) * 1000).astype(np.float32)
    lazy_x = da.from_array(x, chunks=((3, 8), (5, 8)))
    # impl="strided": numpy orders a float sum's additions by the layout,
    # and a border piece is laid out as its gather leaves it, a block's as
    # Dask's: float32 sums agree to rounding (relative 1e-5 of the largest).
    def agree(lazy, expected, exact):
        if impl == "strided" and not exact:
            scale = np.abs(expected).max()
            np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-5, atol=1e-5 * scale)
        else:
            same(lazy, expected)

    for reduce in ("max", "mean"):
        kwargs = dict(reduce=reduce, padding="same", mode="edge", dilation=2, impl=impl)
        agree(wk.pool(lazy_x, 3, 1, **kwargs), wk.pool(x, 3, 1, **kwargs), reduce == "max")
    kwargs = dict(padding=(2, 1), dilation=(1, 2), mode="reflect", impl=impl)
    agree(wk.correlate(lazy_x, x[:3, :2], 2, **kwargs), wk.correlate(x, x[:3, :2], 2, **kwargs),
          False)


def test_padded_blocks_hold_a_border_not_the_array():
    """Every task of the graph makes at most a border strip or a chunk and its
    halo: the
    padded positions are gathered for the border strips alone, even with
    "wrap", whose border reads the far end of the axis."""
    from dask.callbacks import Callback

    x = np.random.default_rng(26).standard_normal((240, 200))
    lazy_x = da.from_array(x, chunks=(30, 25))
    largest = []

    class Largest(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            # Views of x (from_array's own tasks hold x whole) cost nothing,
            # and compute's last task puts the output's chunks together.
            name = key[0] if isinstance(key, tuple) else key
            if (isinstance(result, np.ndarray) and not np.may_share_memory(result, x)
                    and not str(name).startswith("finalize")):
                largest.append(result.nbytes)

    for mode in ("wrap", "reflect", "constant"):
        lazy = wk.mean_pool(lazy_x, 5, 1, padding="same", mode=mode, dilation=2)
        with Largest():
            result = lazy.compute(scheduler="sync")
        np.testing.assert_array_equal(
            result, wk.mean_pool(x, 5, 1, padding="same", mode=mode, dilation=2))
    # A border strip is 240 x (4 + 8) elements at most; a chunk with its halo
    # 38 x 33: far below the 384 KB of the array.
    assert max(largest) <= 240 * 20 * x.itemsize, max(largest)


def test_padded_errors_before_any_work():
    lazy_x = da.ones((10, 10), chunks=4)
    with pytest.raises(TypeError, match="out= cannot be used with a Dask array"):
        wk.max_pool(lazy_x, 3, padding=1, out=np.empty((5, 5)))
    with pytest.raises(TypeError, match="out= cannot be used with a Dask array"):
        wk.correlate(lazy_x, np.ones((2, 2)), padding="same", out=np.empty((10, 10)))
    with pytest.raises(ValueError, match="holds no element of x"):
        wk.max_pool(lazy_x, 2, 1, padding=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        wk.max_pool(lazy_x, 2, padding=1, mode="nearest")
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        wk.max_pool(lazy_x[lazy_x[:, 0] > 0], 2, padding=1)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        wk.correlate(lazy_x[lazy_x[:, 0] > 0], np.ones((2, 2)), dilation=2)


def test_padded_long_strips_turned_alike():
    """Border strips long along one axis and short along the last run with
    the two swapped, in memory and in Dask blocks alike: float sums bitwise.
    Where the in-memory call runs the separable loop border and all (5x3),
    the blocks' strips run unturned; van Herk's regions (15x3) turn them."""
    x = (np.random.default_rng(27).standard_normal((3, 160, 140)) * 1000).astype(np.float32)
    lazy_x = da.from_array(x, chunks=(2, (70, 90), (33, 107)))
    for reduce, window in itertools.product(("mean", "sum"), ((5, 3), (15, 3))):
        kwargs = dict(reduce=reduce, axes=(1, 2), padding="same", mode="reflect")
        same(wk.pool(lazy_x, window, 1, **kwargs), wk.pool(x, window, 1, **kwargs))
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    same(wk.correlate(lazy_x, kernel, axes=(1, 2), padding="same", mode="symmetric"),
         wk.correlate(x, kernel, axes=(1, 2), padding="same", mode="symmetric"))
