"""Beyond valid windows: padding, boundary modes, dilation and ceil_mode.

Every case is checked against ``reference.padded_pool`` and
``reference.padded_correlate`` (``np.pad``, then the windows as a numpy
view, masked for ``"ignore"``), which share no code with
``windowkit._padded``; the padding of ``"same"`` and the output lengths
come from the reference's own TensorFlow and PyTorch rules. Max and min are
compared bitwise, sums and means to rounding. PyTorch and scipy.ndimage are
cross-checks where their conventions match.
"""

import itertools
import os
import re
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import windowkit as wk
from tests import reference as ref

MODES = ["ignore", "constant", "edge", "reflect", "symmetric", "wrap"]


def rng_input(shape, dtype, seed=0, specials=True):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), shape, dtype=dtype,
                            endpoint=True)
    x = rng.standard_normal(shape).astype(dtype)
    if specials and x.size > 8:
        flat = x.reshape(-1)
        # At the borders, where the padding meets them.
        flat[0], flat[-1], flat[x.size // 2] = np.nan, np.inf, -np.inf
    return x


def resolved(padding, shape, axes, window, stride, dilation):
    """``padding`` as (before, after) pairs, by the reference's rules."""
    pairs = []
    for i, axis in enumerate(axes):
        n, k, s, d = shape[axis], window[i], stride[i], dilation[i]
        if padding == "same":
            pairs.append(ref.same_padding(n, k, s, d))
        elif padding == "full":
            pairs.append((d * (k - 1),) * 2)
        elif isinstance(padding, int):
            pairs.append((padding, padding))
        else:
            entry = padding[i]
            pairs.append(entry if isinstance(entry, tuple) else (entry, entry))
    return tuple(pairs)


def check_pool(x, window, stride, *, reduce, axes, padding, mode, dilation=1,
               ceil_mode=False, cval=0, **options):
    window_t = (window,) * len(axes) if isinstance(window, int) else window
    stride_t = (stride,) * len(axes) if isinstance(stride, int) else stride
    dilation_t = (dilation,) * len(axes) if isinstance(dilation, int) else dilation
    pads = resolved(padding, x.shape, axes, window_t, stride_t, dilation_t)
    before = x.copy()
    got = wk.pool(x, window, stride, reduce=reduce, axes=axes, padding=padding, mode=mode,
                  cval=cval, dilation=dilation, ceil_mode=ceil_mode, **options)
    np.testing.assert_array_equal(x, before)  # the input is never written
    want = ref.padded_pool(x, window_t, stride_t, axes, reduce, pads, dilation_t, ceil_mode,
                           "ignore" if mode is None else mode, cval)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    assert got.shape == wk.output_shape(x.shape, window, stride, axes=axes, padding=padding,
                                        dilation=dilation, ceil_mode=ceil_mode)
    if reduce in ("max", "min") or x.dtype.kind in "biu" and reduce == "sum":
        np.testing.assert_array_equal(got, want)
    else:
        rtol = 1e-5 if got.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    return got


# -- the geometry ------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 7, 10])
@pytest.mark.parametrize("k, s, d", [(1, 1, 1), (2, 2, 1), (3, 2, 1), (3, 1, 2), (2, 3, 3),
                                     (4, 3, 1), (3, 5, 1)])
def test_output_length_same_full_and_ceil_mode(n, k, s, d):
    e = d * (k - 1) + 1
    before, after = ref.same_padding(n, k, s, d)
    assert wk.output_shape(n, k, s, padding="same", dilation=d) == (-(-n // s),)
    assert wk.output_shape(n, k, s, padding="full", dilation=d) == (
        ref.out_length(n, k, s, e - 1, e - 1, d),)
    for p in range(0, (k + 1) // 2 + 1):
        if n + 2 * p < e:
            with pytest.raises(ValueError, match="does not fit"):
                wk.output_shape(n, k, s, padding=p, dilation=d)
            continue
        for ceil_mode in (False, True):
            assert wk.output_shape(n, k, s, padding=p, dilation=d, ceil_mode=ceil_mode) == (
                ref.out_length(n, k, s, p, p, d, ceil_mode),)
    # The padding "same" resolves to is TensorFlow's, the odd element after.
    assert wk.explain(n, k, s, padding="same", dilation=d).padding == ((before, after),)


def test_output_shape_examples():
    assert wk.output_shape((32, 64, 112, 112), 3, 2, padding=1) == (32, 64, 56, 56)
    assert wk.output_shape((4, 4), 3, 1, padding="same") == (4, 4)
    assert wk.output_shape((4, 5), (3, 2), 1, padding=((1, 1), (0, 1))) == (4, 5)
    assert wk.output_shape((5,), 2, 2, ceil_mode=True) == (3,)
    assert wk.output_shape((6,), 2, 2, ceil_mode=True) == (3,)
    # The last window must start inside the input or the padding before it.
    assert wk.output_shape((5,), 3, 2, padding=1, ceil_mode=True) == (3,)
    assert wk.output_shape((10,), 3, 1, dilation=2) == (6,)


# -- pools against the reference -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduce", ["max", "min", "mean", "sum"])
@pytest.mark.parametrize("padding", ["same", "full", 1, ((2, 0), (0, 1))])
def test_pool_modes_and_paddings(mode, reduce, padding):
    x = rng_input((9, 11), np.float64)
    check_pool(x, (3, 2), 1, reduce=reduce, axes=(0, 1), padding=padding, mode=mode)


@pytest.mark.parametrize("stride", [1, 2, 3, 5])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_pool_strides_dilation_ceil_mode(stride, dilation, ceil_mode, reduce):
    x = rng_input((13, 10), np.float64, seed=stride)
    for mode, padding in (("ignore", 1), ("constant", 2), ("reflect", "same")):
        window = 3
        extent = dilation * (window - 1) + 1
        if padding == "same" or (isinstance(padding, int) and padding * 2 < extent):
            check_pool(x, window, stride, reduce=reduce, axes=(0, 1), padding=padding,
                       mode=mode, dilation=dilation, ceil_mode=ceil_mode)


@pytest.mark.parametrize("method", ["direct", "separable", "van_herk"])
@pytest.mark.parametrize("reduce", ["max", "sum", "mean"])
def test_pool_methods(method, reduce):
    x = rng_input((3, 12, 10), np.float64, seed=4)
    check_pool(x, 4, 2, reduce=reduce, axes=(1, 2), padding="same", mode="symmetric",
               method=method)
    check_pool(x, 3, 1, reduce=reduce, axes=(1, 2), padding=2, mode=None, dilation=2,
               ceil_mode=True, method=method)


@pytest.mark.parametrize("impl", ["python", "strided"])
def test_pool_impls(impl):
    x = rng_input((6, 7), np.float64, seed=5)
    check_pool(x, 3, 2, reduce="max", axes=(0, 1), padding=1, mode=None, impl=impl)
    check_pool(x, 2, 1, reduce="mean", axes=(0, 1), padding="same", mode="wrap", dilation=2,
               impl=impl)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "float32", "complex128"])
def test_pool_dtypes(dtype):
    x = rng_input((8, 9), dtype, seed=6)
    reduces = ["sum", "mean"] if np.dtype(dtype).kind == "c" else ["max", "min", "sum", "mean"]
    for reduce in reduces:
        for mode in ("ignore", "constant", "edge"):
            cval = 1 if mode == "constant" else 0
            check_pool(x, 3, 2, reduce=reduce, axes=(0, 1), padding=1, mode=mode, cval=cval,
                       ceil_mode=True)


def test_pool_negative_zero_sums_stay_negative():
    # Padding adds -0.0, which leaves -0.0 as it is (0.0 would not).
    x = np.full((3, 3), -0.0)
    got = wk.pool(x, 2, 1, reduce="sum", padding=1)
    assert np.signbit(got).all()


@pytest.mark.parametrize("axes", [(0,), (2,), (2, 0), (0, 1, 2), (1, 0, 2)])
def test_pool_axes_and_batches(axes):
    x = rng_input((7, 6, 8), np.float64, seed=7)
    window = tuple(range(2, 2 + len(axes)))
    check_pool(x, window, 2, reduce="max", axes=axes, padding="same", mode=None)
    check_pool(x, window, 1, reduce="mean", axes=axes, padding=1, mode="reflect", dilation=2)


@pytest.mark.parametrize("layout", ["F", "negative", "read-only", "sliced"])
def test_pool_layouts(layout):
    base = rng_input((10, 12), np.float32, seed=8)
    x = {"F": np.asfortranarray(base), "negative": base[::-1, ::-1],
         "read-only": base.copy(), "sliced": base[1:, ::2]}[layout]
    if layout == "read-only":
        x.flags.writeable = False
    check_pool(x, 3, 2, reduce="max", axes=(0, 1), padding=1, mode=None)
    check_pool(x, 3, 1, reduce="mean", axes=(0, 1), padding="same", mode="edge")


def test_pool_large_windows_and_pads():
    x = rng_input((4, 5), np.float64, seed=9)
    # A window as large as the padded axis, and padding wider than x
    # (reflect and wrap repeat, as np.pad does).
    check_pool(x, (6, 7), 1, reduce="max", axes=(0, 1), padding=1, mode="constant")
    for mode in ("reflect", "symmetric", "wrap", "edge"):
        check_pool(x, 3, 1, reduce="mean", axes=(0, 1), padding=7, mode=mode)
    check_pool(x[:1], 2, 1, reduce="max", axes=(0, 1), padding=2, mode="reflect")


def test_pool_out_and_variants():
    x = rng_input((8, 8), np.float64, seed=10)
    want = wk.pool(x, 3, 2, reduce="min", padding=1)
    out = np.full(want.shape, 7.0)
    assert wk.min_pool(x, 3, 2, padding=1, out=out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(wk.max_pool(x, 3, padding="same"),
                                  wk.pool(x, 3, reduce="max", padding="same"))


def test_pool_padding_zero_is_the_valid_call():
    x = rng_input((8, 9), np.float64, seed=11)
    np.testing.assert_array_equal(wk.pool(x, 3, 1, padding=0, mode="edge"),
                                  wk.pool(x, 3, 1))


# -- correlation ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("padding", ["same", "full", (1, (0, 2))])
@pytest.mark.parametrize("convolve", [False, True])
def test_correlate_modes_and_paddings(mode, padding, convolve):
    x = rng_input((9, 10), np.float64, seed=12)
    kernel = rng_input((3, 4), np.float64, seed=13, specials=False)
    pads = resolved(padding, x.shape, (0, 1), kernel.shape, (1, 1), (1, 1))
    op = wk.convolve if convolve else wk.correlate
    got = op(x, kernel, padding=padding, mode=mode, cval=0.5)
    want = ref.padded_correlate(x, kernel, (1, 1), (0, 1), pads, mode=mode, cval=0.5,
                                convolve=convolve)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2, (3, 1)])
@pytest.mark.parametrize("method", ["direct", "rows", "fft"])
def test_correlate_strides_dilation_methods(stride, dilation, method):
    x = rng_input((14, 15), np.float64, seed=14, specials=method != "fft")
    kernel = rng_input((3, 3), np.float64, seed=15, specials=False)
    dilation_t = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    for padding in ("valid", "same", 2):
        pads = resolved(padding if padding != "valid" else 0, x.shape, (0, 1), (3, 3),
                        (stride, stride), dilation_t)
        got = wk.correlate(x, kernel, stride, padding=padding, dilation=dilation,
                           method=method)
        want = ref.padded_correlate(x, kernel, (stride, stride), (0, 1), pads, dilation_t)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "complex64"])
def test_correlate_dtypes(dtype):
    x = rng_input((3, 7, 8), dtype, seed=16)
    kernel = rng_input((2, 3), dtype, seed=17, specials=False)
    pads = resolved("same", x.shape, (1, 2), (2, 3), (1, 1), (1, 1))
    got = wk.correlate(x, kernel, padding="same", mode="symmetric", axes=(1, 2))
    want = ref.padded_correlate(x, kernel, (1, 1), (1, 2), pads, mode="symmetric")
    assert got.dtype == want.dtype
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- peers --------------------------------------------------------------------------


def test_scipy_ndimage_modes():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = rng_input((12, 13), np.float64, seed=18, specials=False)
    for ours, theirs in (("symmetric", "reflect"), ("reflect", "mirror"), ("edge", "nearest"),
                         ("wrap", "wrap"), ("constant", "constant")):
        np.testing.assert_array_equal(
            wk.pool(x, 3, 1, padding="same", mode=ours, cval=2.0),
            ndimage.maximum_filter(x, 3, mode=theirs, cval=2.0))
        np.testing.assert_allclose(
            wk.pool(x, 5, 1, reduce="mean", padding="same", mode=ours, cval=2.0),
            ndimage.uniform_filter(x, 5, mode=theirs, cval=2.0), rtol=1e-12, atol=1e-12)
        kernel = rng_input((3, 5), np.float64, seed=19, specials=False)
        np.testing.assert_allclose(
            wk.correlate(x, kernel, padding="same", mode=ours, cval=2.0),
            ndimage.correlate(x, kernel, mode=theirs, cval=2.0), rtol=1e-12, atol=1e-12)


def _torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: the numpy "
                               "reference checks above still run")


@pytest.mark.parametrize("k, s, p, d, ceil_mode", [(3, 2, 1, 1, False), (3, 2, 1, 1, True),
                                                   (2, 2, 0, 1, True), (3, 1, 1, 2, False),
                                                   (4, 3, 2, 1, True), (3, 2, 1, 2, True)])
def test_pytorch_max_and_avg_pool(k, s, p, d, ceil_mode):
    torch = _torch()
    x = rng_input((2, 3, 11, 10), np.float32, seed=20, specials=False)
    t = torch.from_numpy(x)
    want = torch.nn.functional.max_pool2d(t, k, s, p, d, ceil_mode=ceil_mode).numpy()
    np.testing.assert_array_equal(
        wk.max_pool(x, k, s, padding=p, dilation=d, ceil_mode=ceil_mode), want)
    x1 = x[:, :, 0]
    np.testing.assert_array_equal(
        wk.max_pool(x1, (k,), s, padding=p, dilation=d, ceil_mode=ceil_mode),
        torch.nn.functional.max_pool1d(torch.from_numpy(x1), k, s, p, d, ceil_mode).numpy())
    if d == 1:
        for include in (False, True):
            want = torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode=ceil_mode,
                                                  count_include_pad=include).numpy()
            got = wk.mean_pool(x, k, s, padding=p, ceil_mode=ceil_mode,
                               mode="constant" if include else None)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pytorch_max_pool3d():
    torch = _torch()
    x = rng_input((2, 6, 7, 8), np.float32, seed=21, specials=False)
    want = torch.nn.functional.max_pool3d(torch.from_numpy(x), 3, 2, 1, ceil_mode=True).numpy()
    np.testing.assert_array_equal(wk.max_pool(x, (3, 3, 3), 2, padding=1, ceil_mode=True), want)


@pytest.mark.parametrize("padding, d", [(1, 1), (2, 2), ("same", 1), ("same", 2), (0, 3)])
def test_pytorch_conv2d(padding, d):
    torch = _torch()
    x = rng_input((12, 11), np.float32, seed=22, specials=False)
    kernel = rng_input((3, 3), np.float32, seed=23, specials=False)
    want = torch.nn.functional.conv2d(torch.from_numpy(x)[None, None],
                                      torch.from_numpy(kernel)[None, None],
                                      padding=padding, dilation=d).numpy()[0, 0]
    got = wk.correlate(x, kernel, padding=padding, dilation=d)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- memory ------------------------------------------------------------------------


def test_no_padded_copy():
    x = rng_input((1024, 1024), np.float64, specials=False)
    for reduce, mode in (("max", None), ("mean", "reflect")):
        wk.pool(x[:64, :64], 3, 1, reduce=reduce, padding="same", mode=mode)  # compile
        tracemalloc.start()
        out = wk.pool(x, 3, 1, reduce=reduce, padding="same", mode=mode)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # The output (8 MiB), written in place, and border pieces of a few
        # rows: far from a padded copy's 8 MiB more.
        assert peak < out.nbytes + 300_000, (reduce, mode, peak)


# -- bad arguments -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    ({"padding": -1}, ValueError, "padding must not be negative"),
    ({"padding": ((1, -1), 0)}, ValueError, "padding must not be negative"),
    ({"padding": "half"}, ValueError, "padding must be one of 'valid', 'same', 'full'"),
    ({"padding": (1, 1, 1)}, ValueError, "3 entries for 2 windowed axes"),
    ({"padding": ((1, 2, 3), 0)}, ValueError, "a .before, after. pair"),
    ({"padding": 1.5}, TypeError, "padding must be"),
    ({"dilation": 0}, ValueError, "dilation entries must be at least 1"),
    ({"dilation": (1, 2, 3)}, ValueError, "dilation .* has 3 entries"),
    ({"dilation": 1.0}, TypeError, "dilation must be an integer"),
    ({"ceil_mode": 1}, TypeError, "ceil_mode must be True or False"),
    ({"mode": "mirror"}, ValueError, "mode must be one of 'ignore', 'constant'"),
    ({"mode": "constant", "cval": 300}, ValueError, "cval 300 cannot be held by x's dtype uint8"),
    ({"mode": "constant", "cval": 0.5}, ValueError, "cval 0.5 cannot be held"),
    ({"mode": "constant", "cval": "a"}, TypeError, "cval must be a number"),
    ({"padding": 3, "stride": 1}, ValueError, "window 0 along axis 0 holds no element of x"),
    ({"padding": 1, "dilation": 5}, ValueError, "does not fit axis 0"),
])
def test_pool_bad_arguments(kwargs, error, message):
    x = np.zeros((6, 6), np.uint8)
    kwargs = dict(kwargs)
    stride = kwargs.pop("stride", None)
    with pytest.raises(error, match=message):
        wk.pool(x, 3, stride, **kwargs)


def test_pool_mode_checked_without_padding():
    x = np.zeros((6, 6), np.uint8)
    with pytest.raises(ValueError, match="mode must be one of"):
        wk.pool(x, 3, mode="nearest")
    with pytest.raises(ValueError, match="cval 256 cannot be held"):
        wk.pool(x, 3, mode="constant", cval=256)


def test_correlate_bad_arguments():
    x, kernel = np.zeros((6, 6)), np.ones((3, 3))
    with pytest.raises(ValueError, match="mode='ignore' is for pools only"):
        wk.correlate(x, kernel, padding=1, mode="ignore")
    with pytest.raises(ValueError, match="mode must be one of 'constant', 'edge'"):
        wk.convolve(x, kernel, padding=1, mode="nearest")
    with pytest.raises(TypeError, match="ceil_mode"):
        wk.correlate(x, kernel, ceil_mode=True)
    with pytest.raises(ValueError, match="cval inf cannot be held by x's dtype int64"):
        wk.correlate(x.astype(np.int64), kernel, padding=1, cval=np.inf)
    with pytest.raises(ValueError, match="padding must not be negative"):
        wk.correlate(x, kernel, padding=-2)


def test_windows_dilated_is_a_view_padded_is_read_only():
    x = rng_input((7, 8), np.float64, seed=24, specials=False)
    view = wk.windows(x, 2, dilation=3)
    assert np.shares_memory(view, x)
    assert view.shape == wk.output_shape(x.shape, 2, dilation=3) + (2, 2)
    np.testing.assert_array_equal(view[1, 2], x[1:5:3, 2:6:3])
    padded = wk.windows(x, 3, 2, padding="same", mode="reflect")
    assert not padded.flags.writeable and not np.shares_memory(padded, x)
    np.testing.assert_array_equal(padded.max(axis=(2, 3)),
                                  wk.pool(x, 3, 2, padding="same", mode="reflect"))


def test_explain_and_choose_method_report_the_padding():
    e = wk.explain((112, 112), 3, 2, padding="same")
    assert e.padding == ((0, 1), (0, 1)) and e.out_shape == (56, 56)
    assert "padding (0, 1), dilation 1: floor((112 + 0 + 1 - 3) / 2) + 1 = 56" in str(e)
    assert wk.explain(10, 3, dilation=2).out_shape == (6,)
    choice = wk.choose_method("max", (112, 112), 3, 2, padding=1)
    assert choice.padding == ((1, 1), (1, 1))
    assert "the separable loop takes the border itself" in choice.layout
    # van Herk's by the valid rule, within its margin: separable, border and all.
    choice = wk.choose_method("mean", (256, 256), 5, 1, padding="same")
    assert choice.method == "separable" and "within 1.25 of van Herk" in choice.reason
    choice = wk.choose_method("mean", (256, 256), 15, 1, padding="same")
    assert choice.method == "van_herk" and "touch the padding" in choice.layout
    choice = wk.choose_method("correlate", (64, 64), (3, 3), padding="same")
    assert choice.method == "rows" and "the rows loop takes the border itself" in choice.layout
    assert wk.choose_method("max", (112, 112), 3, 2).padding is None
    choice = wk.choose_method("correlate", (64, 64), (3, 3), padding="same", dilation=2)
    assert choice.padding == ((2, 2), (2, 2)) and "residue class" in choice.layout
    assert "touch the padding" in choice.layout


# -- random geometries -----------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def padded_case(draw):
    ndim = draw(st.integers(1, 3))
    n_axes = draw(st.integers(1, min(2, ndim)))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    axes = tuple(draw(st.permutations(range(ndim)))[:n_axes])
    window = tuple(draw(st.integers(1, 4)) for _ in axes)
    stride = tuple(draw(st.integers(1, 4)) for _ in axes)
    dilation = tuple(draw(st.integers(1, 3)) for _ in axes)
    kind = draw(st.sampled_from(["same", "full", "int", "pairs"]))
    if kind == "int":
        padding = draw(st.integers(0, 3))
    elif kind == "pairs":
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in axes)
    else:
        padding = kind
    mode = draw(st.sampled_from(MODES))
    ceil_mode = draw(st.booleans())
    reduce = draw(st.sampled_from(["max", "min", "sum", "mean"]))
    dtype = "float64"  # int16 and the others: test_pool_dtypes (compiles are a budget)
    return shape, axes, window, stride, dilation, padding, mode, ceil_mode, reduce, dtype


@settings(max_examples=300, deadline=None)
@given(padded_case())
def test_random_geometries_match_the_reference(case):
    shape, axes, window, stride, dilation, padding, mode, ceil_mode, reduce, dtype = case
    x = rng_input(shape, dtype, seed=sum(shape))
    pads = resolved(padding, shape, axes, window, stride, dilation)
    extents = [d * (k - 1) + 1 for k, d in zip(window, dilation)]
    fits = all(e <= shape[a] + b + c for a, e, (b, c) in zip(axes, extents, pads))
    lengths = [ref.out_length(shape[a], k, s, b, c, d, ceil_mode)
               for a, k, s, d, (b, c) in zip(axes, window, stride, dilation, pads)]
    call = dict(reduce=reduce, axes=axes, padding=padding, mode=mode, dilation=dilation,
                ceil_mode=ceil_mode)
    if not fits:
        with pytest.raises(ValueError, match="does not fit"):
            wk.pool(x, window, stride, **call)
        return
    if mode == "ignore":
        # A window must hold an element of x along every axis.
        empty = False
        for a, k, s, d, (b, _), n_out in zip(axes, window, stride, dilation, pads, lengths):
            for o in range(n_out):
                if not any(b <= o * s + j * d < b + shape[a] for j in range(k)):
                    empty = True
        if empty:
            with pytest.raises(ValueError, match="holds no element of x"):
                wk.pool(x, window, stride, **call)
            return
    check_pool(x, window, stride, **call)


@settings(max_examples=100, deadline=None)
@given(padded_case(), st.booleans())
def test_random_correlations_match_the_reference(case, convolve):
    shape, axes, window, stride, dilation, padding, mode, _, _, _ = case
    if mode == "ignore":
        mode = "constant"
    x = rng_input(shape, np.float64, seed=sum(shape))
    kernel = rng_input(window, np.float64, seed=len(shape), specials=False)
    pads = resolved(padding, shape, axes, window, stride, dilation)
    extents = [d * (k - 1) + 1 for k, d in zip(window, dilation)]
    op = wk.convolve if convolve else wk.correlate
    call = dict(axes=axes, padding=padding, mode=mode, dilation=dilation, cval=1.5)
    if not all(e <= shape[a] + b + c for a, e, (b, c) in zip(axes, extents, pads)):
        with pytest.raises(ValueError, match="does not fit"):
            op(x, kernel, stride, **call)
        return
    want = ref.padded_correlate(x, kernel, stride, axes, pads, dilation, mode, 1.5, convolve)
    np.testing.assert_allclose(op(x, kernel, stride, **call), want, rtol=1e-12, atol=1e-12)


def test_dask_takes_padding_zero():
    da = pytest.importorskip("dask.array")
    x = np.arange(64.0).reshape(8, 8)
    lazy = da.from_array(x, chunks=4)
    np.testing.assert_array_equal(wk.pool(lazy, 3, 1, padding=0, mode="edge").compute(),
                                  wk.pool(x, 3, 1))
    kernel = np.ones((2, 2))
    np.testing.assert_array_equal(wk.correlate(lazy, kernel, padding=0).compute(),
                                  wk.correlate(x, kernel))
    # Padded: test_dask has the modes, dilation and chunks.
    np.testing.assert_array_equal(wk.correlate(lazy, kernel, padding="same").compute(),
                                  wk.correlate(x, kernel, padding="same"))


def test_explain_says_what_padded_positions_hold():
    x = np.array([1, 2, 3])
    for mode in ("edge", "reflect", "symmetric", "wrap"):
        e = wk.explain(x.shape, 3, padding=2, mode=mode)
        shown = " ".join(map(str, np.pad(x, 2, mode=mode)[:2])) + " | 1 2 3 | " + " ".join(
            map(str, np.pad(x, 2, mode=mode)[-2:]))
        assert e.mode == mode and f"{shown} (mode={mode!r})" in str(e)
    e = wk.explain((5, 5), 3, padding="same", dtype=np.uint8, mode="constant", cval=7)
    assert (e.mode, e.cval) == ("constant", 7) and "padded positions hold 7 " in str(e)
    assert "left out of the windows" in str(wk.explain(5, 3, padding=1, mode="ignore"))
    # Said only when there is padding, and only when given.
    assert wk.explain(5, 3, mode="reflect").mode is None
    assert wk.explain(5, 3, padding=1).mode is None and "padded positions" not in str(
        wk.explain(5, 3, padding=1))


def test_explain_checks_mode_and_cval():
    with pytest.raises(ValueError, match="mode must be one of"):
        wk.explain(5, 3, padding=1, mode="mirror")
    with pytest.raises(ValueError, match="cval 300 cannot be held by x's dtype uint8"):
        wk.explain(5, 3, padding=1, dtype=np.uint8, mode="constant", cval=300)


def test_choose_method_takes_mode_and_cval():
    choice = wk.choose_method("mean", (256, 256), 5, 1, padding="same", mode="reflect")
    assert choice.mode == "reflect"
    # The method does not depend on the mode.
    assert choice.method == wk.choose_method("mean", (256, 256), 5, 1, padding="same").method
    assert wk.choose_method("max", (64, 64), 3, 2, padding=1).mode == "ignore"
    assert wk.choose_method("correlate", (64, 64), (3, 3), padding="same").mode == "constant"
    assert wk.choose_method("conv", (1, 2, 8, 8), (3, 2, 3, 3), padding=1,
                            mode="wrap").mode == "wrap"
    assert wk.choose_method("max", (64, 64), 3, 2, mode="edge").mode is None  # nothing padded


def test_choose_method_checks_mode_as_the_call_does():
    with pytest.raises(ValueError, match="mode must be one of"):
        wk.choose_method("max", (8, 8), 3, padding=1, mode="mirror")
    with pytest.raises(ValueError, match="mode='ignore' is for pools only"):
        wk.choose_method("correlate", (8, 8), (3, 3), padding=1, mode="ignore")
    with pytest.raises(ValueError, match="cval 1.5 cannot be held by x's dtype int32"):
        wk.choose_method("sum", (8, 8), 3, padding=1, mode="constant", cval=1.5,
                         dtype=np.int32)
    with pytest.raises(ValueError, match="window 0 along axis 0 holds no element of x"):
        wk.choose_method("max", (8, 8), 3, 1, padding=3)
    # The call raises the same.
    with pytest.raises(ValueError, match="window 0 along axis 0 holds no element of x"):
        wk.pool(np.ones((8, 8)), 3, 1, padding=3)


def test_choose_method_takes_a_window_that_fits_only_padded():
    choice = wk.choose_method("max", (2, 2), 3, 1, padding=1)
    assert choice.padding == ((1, 1), (1, 1))
    assert wk.pool(np.ones((2, 2)), 3, 1, padding=1).shape == (2, 2)
    with pytest.raises(ValueError, match="does not fit"):
        wk.choose_method("max", (2, 2), 3, 1)


# -- the textbook loops --------------------------------------------------------------


def textbook_and_fast(x, window, stride, **call):
    """``method="direct"`` (the padded textbook loop) and the fast methods."""
    textbook = wk.pool(x, window, stride, method="direct", **call)
    return textbook, [wk.pool(x, window, stride, method=method, **call)
                      for method in ("separable", "van_herk")]


@settings(max_examples=150, deadline=None)
@given(padded_case())
def test_every_method_matches_the_textbook_loop(case):
    """The padded textbook loop is the numpy reference (check_pool), and the
    fast methods are it: bitwise for max and min, to rounding for sums."""
    shape, axes, window, stride, dilation, padding, mode, ceil_mode, reduce, dtype = case
    x = rng_input(shape, dtype, seed=sum(shape) + 1)
    call = dict(reduce=reduce, axes=axes, padding=padding, mode=mode, dilation=dilation,
                ceil_mode=ceil_mode, cval=-0.5)
    try:
        textbook, fast = textbook_and_fast(x, window, stride, **call)
    except ValueError as error:  # a window that does not fit, or holds nothing
        for method in ("separable", "van_herk"):
            with pytest.raises(ValueError, match=re.escape(str(error))):
                wk.pool(x, window, stride, method=method, **call)
        return
    check_pool(x, window, stride, method="direct", **call)
    for result in fast:
        if reduce in ("max", "min"):
            np.testing.assert_array_equal(result, textbook, strict=True)
        else:
            np.testing.assert_allclose(result, textbook, rtol=1e-12, atol=1e-12, strict=True)


@settings(max_examples=60, deadline=None)
@given(padded_case(), st.booleans())
def test_correlate_methods_match_the_textbook_loop(case, convolve):
    shape, axes, window, stride, dilation, padding, mode, _, _, _ = case
    mode = "constant" if mode == "ignore" else mode
    x = rng_input(shape, np.float64, seed=sum(shape) + 2)
    kernel = rng_input(window, np.float64, seed=len(shape), specials=False)
    op = wk.convolve if convolve else wk.correlate
    call = dict(axes=axes, padding=padding, mode=mode, dilation=dilation, cval=1.5)
    try:
        textbook = op(x, kernel, stride, method="direct", **call)
    except ValueError:
        return  # does not fit: test_random_correlations_match_the_reference
    pads = resolved(padding, shape, axes, window, stride,
                    (dilation,) * len(axes) if isinstance(dilation, int) else dilation)
    want = ref.padded_correlate(x, kernel, stride, axes, pads, dilation, mode, 1.5, convolve)
    np.testing.assert_allclose(textbook, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op(x, kernel, stride, method="rows", **call), textbook,
                               rtol=1e-12, atol=1e-12, strict=True)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "float32", "complex128"])
def test_textbook_loops_keep_the_dtype_rules(dtype):
    """Exact integer sums, NaN and inf at the borders, float32 means divided
    in double: the textbook loop against the reference for every dtype class."""
    x = rng_input((7, 9), dtype, seed=7)
    reduces = ["sum", "mean"] if np.dtype(dtype).kind == "c" else ["max", "min", "sum", "mean"]
    for reduce in reduces:
        for mode, cval in (("ignore", 0), ("constant", 1), ("reflect", 0)):
            check_pool(x, 3, 2, reduce=reduce, axes=(0, 1), padding=(2, 1), mode=mode,
                       cval=cval, dilation=(1, 2), ceil_mode=True, method="direct")
    kernel = rng_input((2, 3), dtype, seed=8, specials=False)
    pads = ((1, 1), (2, 2))
    want = ref.padded_correlate(x, kernel, (1, 1), (0, 1), pads, (1, 2), "wrap", 0, False)
    got = wk.correlate(x, kernel, padding=(1, 2), dilation=(1, 2), mode="wrap", method="direct")
    assert got.dtype == want.dtype
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_textbook_loop_is_the_same_source_interpreted():
    """impl="python" runs the padded loop's own source, one bytecode at a time."""
    import inspect

    from windowkit import kernels

    x = rng_input((6, 7), np.float64, seed=9)
    call = dict(reduce="mean", padding="same", mode="symmetric", dilation=2, method="direct")
    np.testing.assert_array_equal(wk.pool(x, 3, 1, impl="python", **call),
                                  wk.pool(x, 3, 1, **call))
    source = inspect.getsource(kernels.padded_sum_pool.python)
    assert "def padded_sum_pool" in source and "source(" in source


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_long_border_strips_run_along_their_length(reduce):
    """Strips one or two outputs wide along the last axis and long along
    another run with the two swapped (_padded.long_rows): the same values."""
    from windowkit import _padded
    from windowkit import _validation as v

    x = rng_input((2, 150, 131), np.float64, seed=10)
    choice = wk.choose_method(reduce, x.shape, (5, 3), 1, padding="same")
    assert choice.padding == ((2, 2), (1, 1))
    check_pool(x, (5, 3), 1, reduce=reduce, axes=(1, 2), padding="same", mode="reflect")
    check_pool(x, (3, 5), (1, 2), reduce=reduce, axes=(1, 2), padding=(1, 2), mode=None,
               dilation=(2, 1))
    # The strips along the last axis are the ones turned.
    g = v.geometry(x.shape, (5, 3), 1, (1, 2), padding="same")
    turned = [_padded.long_rows(g, (2, 150, 1))[1], _padded.long_rows(g, (2, 2, 131))[1]]
    assert turned == [(1, 0), None]


def test_long_border_strips_of_a_correlation():
    x = rng_input((140, 120), np.float64, seed=11)
    kernel = rng_input((3, 4), np.float64, seed=12, specials=False)
    for mode in ("constant", "wrap"):
        pads = ((1, 1), (1, 2))
        want = ref.padded_correlate(x, kernel, (1, 1), (0, 1), pads, (1, 1), mode, 0.5, False)
        np.testing.assert_allclose(wk.correlate(x, kernel, padding="same", mode=mode, cval=0.5),
                                   want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "complex64"])
def test_padded_rows_loop_is_the_textbook_loop_bitwise(dtype, monkeypatch):
    """Beyond valid, undilated windows the rows loop takes the border itself
    (kernels.padded_correlate_rows, reading x in place): its sums add the
    textbook loop's terms in its order, so the two agree bitwise, for every
    mode, kind of padding, stride (summed at every column up to 8, else
    not), 1-D to 3-D and batch axes; interpreted too."""
    from windowkit import _padded

    taken = []
    original = _padded.padded_rows
    monkeypatch.setattr(_padded, "padded_rows", lambda *args: taken.append(1) or original(*args))
    x = rng_input((2, 6, 9, 11), dtype, seed=21)
    cases = [((3,), (3,)), ((2, 4), (2, 3)), ((3, 2, 3), (1, 2, 3))]
    for kernel_shape, axes in cases:
        kernel = rng_input(kernel_shape, dtype, seed=22, specials=False)
        for mode, padding, stride in itertools.product(
                MODES[1:], ["same", "full", 1, 2], [1, 2, 9]):
            call = dict(axes=axes, padding=padding, mode=mode, cval=3)
            textbook = wk.correlate(x, kernel, stride, method="direct", **call)
            before = len(taken)
            np.testing.assert_array_equal(wk.correlate(x, kernel, stride, method="rows", **call),
                                          textbook, strict=True)
            assert len(taken) == before + 1  # the loop, not the border strips
            np.testing.assert_array_equal(wk.convolve(x, kernel, stride, **call),
                                          wk.convolve(x, kernel, stride, method="direct", **call),
                                          strict=True)
    x = rng_input((2, 6, 9, 11), dtype, seed=23, specials=False)  # NaN warns interpreted
    kernel = rng_input((2, 3), dtype, seed=24, specials=False)
    call = dict(axes=(2, 3), padding="same", mode="reflect", method="rows")
    np.testing.assert_array_equal(wk.correlate(x, kernel, 2, impl="python", **call),
                                  wk.correlate(x, kernel, 2, **call))


@pytest.mark.parametrize("dtype", ["int32", "float32"])  # sums in 8-byte and 4-byte items
def test_padded_separable_loop_on_rows_of_several_segments(dtype):
    """Rows longer than a segment (kernels.rows.SEGMENT): the padded loop's
    sums start each task's scratch rows at a 64-byte boundary, from the
    first input column (past the padding in a row's first segment, at
    its start in the others, the last one shorter), on inputs whose rows
    start anywhere (a view one column into a wider array): bitwise the
    valid separable loop on np.pad's copy, as for short rows."""
    from windowkit.kernels import SEGMENT

    rng = np.random.default_rng(41)
    wide = (rng.random((3, 2 * SEGMENT + 700)) * 50).astype(dtype)
    for x in (wide[:, :-1], wide[:, 1:]):  # rows starting at the array's start, and 1 item on
        for reduce, mode in [("sum", "reflect"), ("mean", "constant"), ("sum", "wrap"),
                             ("mean", "edge"), ("max", "symmetric")]:
            got = wk.pool(x, (3, 7), 1, reduce=reduce, padding="same", mode=mode, cval=2,
                          method="separable")
            padded = np.pad(x, ((1, 1), (3, 3)), mode=mode,
                            **({"constant_values": 2} if mode == "constant" else {}))
            want = wk.pool(padded, (3, 7), 1, reduce=reduce, method="separable")
            np.testing.assert_array_equal(got, want, strict=True, err_msg=f"{reduce} {mode}")


def test_padded_separable_loop_stays_in_bounds(tmp_path):
    """The padded separable loop's scratch rows (the sums' aligned start
    included) and its reads of x stay in bounds: the previous test's
    calls, and strides 1 and 2, run under Numba's bounds checking
    (NUMBA_BOUNDSCHECK=1, with a cache directory of its own so that no
    unchecked copy is loaded), in a process of their own. Without the
    check a write past a scratch row can land where the next read finds
    it, and the results still agree."""
    script = textwrap.dedent("""
        import numpy as np
        import windowkit as wk
        from windowkit.kernels import SEGMENT

        rng = np.random.default_rng(41)
        wide = (rng.random((3, 2 * SEGMENT + 700)) * 50).astype(np.float32)
        for x in (wide[:, :-1], wide[:, 1:], np.ascontiguousarray(wide[:, :40])):
            for reduce, mode, stride in [("sum", "reflect", 1), ("mean", "constant", 1),
                                         ("max", "symmetric", 1), ("mean", "wrap", 2),
                                         ("max", "ignore", 2)]:
                got = wk.pool(x, (3, 7), stride, reduce=reduce, padding="same", mode=mode,
                              method="separable")
                assert got.shape == (-(-3 // stride), -(-x.shape[1] // stride)), got.shape
        print("in bounds")
    """)
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0 and "in bounds" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "float64"])
def test_padded_separable_loop_is_the_valid_loop_on_the_padded_input(dtype, monkeypatch):
    """Beyond valid, undilated windows the separable loop takes the border
    itself (kernels.padded_separable_pool, reading x in place). Each padded
    position holds what np.pad puts there, combined in the valid loop's
    order, so the result is the valid separable loop's on np.pad's copy,
    bitwise (for "ignore", a copy padded with the value that changes
    nothing; its means divide by each window's count, as the reference
    does), for every mode, kind of padding, stride, 1-D to 3-D windows and
    batch axes; ceil_mode against the reference; interpreted too."""
    from windowkit import _padded

    taken = []
    original = _padded.padded_separable
    monkeypatch.setattr(_padded, "padded_separable",
                        lambda *args: taken.append(1) or original(*args))
    x = rng_input((2, 6, 9, 11), dtype, seed=31)
    reductions = ["max", "min", "sum", "mean"]
    cases = [((3,), (3,)), ((2, 4), (2, 3)), ((3, 2, 3), (1, 2, 3)), ((5,), (1,))]
    for (window, axes), mode, padding, stride, reduce in itertools.product(
            cases, MODES, ["same", "full", 1, (0, 2)], [1, 2, 5], reductions):
        if window[-1] == stride:
            continue  # windows side by side along the rows: block_pool's regions
        if padding == (0, 2):
            padding = (0,) * (len(window) - 1) + ((0, 2),)
        try:
            before = len(taken)
            got = check_pool(x, window, stride, reduce=reduce, axes=axes, padding=padding,
                             mode=mode, cval=3, method="separable")  # against the reference
        except ValueError as error:  # a window of padding alone, with "ignore"
            assert "holds no element" in str(error) and mode == "ignore"
            continue
        assert len(taken) == before + 1  # the loop, not the border strips
        pads = [(0, 0)] * x.ndim  # np.pad's, per axis of x
        for axis, pair in zip(axes, resolved(padding, x.shape, axes, window,
                                             (stride,) * len(window), (1,) * len(window))):
            pads[axis] = pair
        if mode == "ignore" and reduce == "mean":
            continue  # its divisor is each window's count: checked above
        if mode == "ignore":
            fill = _padded.pool_fill(reduce, x.dtype)
            padded = np.pad(x, pads, mode="constant", constant_values=fill)
        elif mode == "constant":
            padded = np.pad(x, pads, mode="constant", constant_values=3)
        else:
            padded = np.pad(x, pads, mode=mode)
        np.testing.assert_array_equal(
            got, wk.pool(padded, window, stride, axes=axes, reduce=reduce, method="separable"),
            strict=True)
    for reduce in reductions:  # ceil_mode's overhang, and the interpreted loop
        call = dict(axes=(2, 3), padding=1, ceil_mode=True, reduce=reduce)
        for mode in ("ignore", "constant"):
            before = len(taken)
            check_pool(x, 3, 2, mode=mode, method="separable", **call)
            assert len(taken) == before + 1
        plain = rng_input((2, 6, 9, 11), dtype, seed=32, specials=False)  # NaN warns interpreted
        np.testing.assert_array_equal(wk.pool(plain, 3, 2, method="separable", impl="python",
                                              **call),
                                      wk.pool(plain, 3, 2, method="separable", **call))
