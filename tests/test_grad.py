"""windowkit.grad and wk.unpool against PyTorch's autograd (the same float64
data: relative error at most 1e-10; float32 1e-5) and, whether or not
PyTorch is installed, against finite differences."""

import numpy as np
import pytest

import windowkit as wk
from windowkit import grad

RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def close(got, want, dtype, what=""):
    """Relative to the largest magnitude of ``want``, as the issue states the bound."""
    assert got.shape == want.shape and got.dtype == dtype, what
    scale = max(np.abs(want).max(), 1e-300)
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL[dtype] * scale, err_msg=what)


def directional(f, args, index, direction, h=1e-6):
    """Central difference of sum(f(...) * weights) along ``direction`` in
    argument ``index``: what <gradient, direction> must equal."""
    def at(step):
        moved = list(args)
        moved[index] = args[index] + step * direction
        return f(*moved)
    return (at(h) - at(-h)) / (2 * h)


# -- conv ----------------------------------------------------------------------------

# (x shape, weight shape, stride, padding, dilation, groups, bias)
CONV_CASES = [
    ((2, 4, 9, 10), (6, 2, 3, 3), 1, 1, 1, 2, True),
    ((2, 4, 9, 10), (6, 4, 3, 2), 2, 1, 1, 1, False),
    ((2, 4, 9, 10), (4, 4, 2, 3), (2, 3), (0, 2), (2, 1), 1, True),
    ((3, 6, 8, 8), (6, 1, 3, 3), 2, 1, 1, 6, True),  # depthwise
    ((3, 3, 17), (5, 3, 4), 3, 2, 2, 1, True),  # 1-D
    ((1, 2, 5, 6, 7), (4, 1, 2, 3, 2), (1, 2, 1), 1, (2, 1, 1), 2, True),  # 3-D
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda case: str(case[1]))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["auto", "direct", "rows", "im2col", "shifted"])
def test_conv_against_autograd(case, dtype, method):
    """Every method's gradients: the textbook loops ("direct"), the loops
    with the output row innermost ("rows"; "auto" on these thin layers),
    and the products (im2col's gather and col2im, "shifted"'s slices at
    stride 1)."""
    torch = pytest.importorskip("torch", reason="finite differences below check without it")
    functional = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
                  3: torch.nn.functional.conv3d}
    x_shape, w_shape, stride, padding, dilation, groups, with_bias = case
    rng = np.random.default_rng(sum(w_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype) if with_bias else None
    tx, tw = (torch.from_numpy(a).requires_grad_() for a in (x, weight))
    tb = torch.from_numpy(bias).requires_grad_() if with_bias else None
    y = functional[len(w_shape) - 2](tx, tw, tb, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    g = rng.standard_normal(tuple(y.shape)).astype(dtype)
    wants = torch.autograd.grad(y, [t for t in (tx, tw, tb) if t is not None],
                                torch.from_numpy(g))
    gots = grad.conv(g, x, weight, stride, padding=padding, dilation=dilation, groups=groups,
                     bias=bias, method=method)
    assert (gots[2] is None) == (not with_bias)
    for got, want, name in zip(gots, wants, ("x", "weight", "bias")):
        close(got, want.numpy(), dtype, name)


def test_conv_batch_axes_and_modes_by_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 3, 7, 6))  # two batch axes
    weight = rng.standard_normal((4, 3, 3, 2))
    bias = rng.standard_normal(4)
    for mode, padding, stride in [("constant", 1, 1), ("reflect", (2, 1), 2), ("wrap", 2, 1),
                                  ("edge", ((0, 2), (1, 0)), (1, 2)), ("symmetric", 1, 2)]:
        keywords = dict(padding=padding, mode=mode, cval=0.5, dilation=1)
        out = wk.conv(x, weight, stride, bias=bias, **keywords)
        g = rng.standard_normal(out.shape)
        gx, gw, gb = grad.conv(g, x, weight, stride, bias=bias, **keywords)

        def loss(x_, w_, b_):
            return float(np.sum(wk.conv(x_, w_, stride, bias=b_, **keywords) * g))
        for index, gradient in ((0, gx), (1, gw), (2, gb)):
            direction = rng.standard_normal(gradient.shape)
            want = directional(loss, (x, weight, bias), index, direction)
            np.testing.assert_allclose(np.sum(gradient * direction), want, rtol=1e-6,
                                       err_msg=f"{mode} argument {index}")


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_strided_input_gradient_methods_agree(mode):
    """At strides above 1, "im2col" takes the input gradient by col2im and
    "direct" by the transposed convolution of the zero-dilated output
    gradient (the textbook loop): two computations of the same sums."""
    rng = np.random.default_rng(7)
    for x_shape, w_shape, stride, padding, dilation, groups in [
            ((2, 4, 11, 9), (6, 2, 3, 3), 2, 1, 1, 2),
            ((2, 4, 11, 9), (4, 4, 2, 3), (3, 2), (2, 1), (1, 2), 1),
            ((3, 2, 19), (4, 2, 3), 3, 2, 2, 1),
            ((1, 2, 6, 7, 5), (4, 1, 2, 3, 2), (2, 1, 2), 1, 1, 2)]:
        x = rng.standard_normal(x_shape)
        weight = rng.standard_normal(w_shape)
        keywords = dict(padding=padding, mode=mode, cval=0.5, dilation=dilation, groups=groups)
        g = rng.standard_normal(wk.conv(x, weight, stride, **keywords).shape)
        want = grad.conv(g, x, weight, stride, method="direct", **keywords)[0]
        got = grad.conv(g, x, weight, stride, method="im2col", **keywords)[0]
        close(got, want, np.float64, f"{x_shape} {w_shape}")


# -- pools ---------------------------------------------------------------------------


def _torch_pool(torch, x, reduce, window, stride, padding, ceil_mode, dilation, include_pad):
    functional = torch.nn.functional
    n = len(window)
    if reduce in ("max", "min"):
        pool = getattr(functional, f"max_pool{n}d")
        sign = 1 if reduce == "max" else -1
        return sign * pool(sign * x, window, stride, padding, dilation=dilation,
                           ceil_mode=ceil_mode)
    pool = getattr(functional, f"avg_pool{n}d")
    if reduce == "sum":
        return pool(x, window, stride, padding, ceil_mode=ceil_mode, count_include_pad=True,
                    divisor_override=1) if n > 1 else pool(
            x, window, stride, padding, ceil_mode=ceil_mode, count_include_pad=True) * window[0]
    return pool(x, window, stride, padding, ceil_mode=ceil_mode,
                count_include_pad=include_pad)


# (shape, window, stride, padding, ceil_mode, dilation)
POOL_CASES = [
    ((2, 3, 9, 10), (2, 2), (2, 2), 0, False, 1),
    ((2, 3, 9, 10), (3, 3), (2, 2), 1, False, 1),
    ((2, 3, 9, 10), (3, 2), (1, 2), (1, 0), True, 1),
    ((2, 3, 9, 10), (3, 3), (2, 1), 1, False, 2),  # dilation: max only in PyTorch
    ((2, 3, 20), (4,), (3,), 2, True, 1),
    ((1, 2, 5, 6, 7), (2, 3, 2), (2, 2, 1), (1, 1, 0), False, 1),
]


def _torch_can(case, reduce):
    """PyTorch's avg_pool has no dilation, and its sum (divisor_override=1)
    counts a ceil_mode overhang: those cases are checked by finite
    differences below."""
    _, _, _, _, ceil_mode, dilation = case
    return reduce in ("max", "min") or (dilation == 1 and not (reduce == "sum" and ceil_mode))


@pytest.mark.parametrize("case, reduce, include_pad", [
    (case, reduce, include_pad) for case in POOL_CASES
    for reduce, include_pad in [("max", None), ("min", None), ("sum", None), ("mean", False),
                                ("mean", True)] if _torch_can(case, reduce)])
def test_pool_against_autograd(case, reduce, include_pad):
    torch = pytest.importorskip("torch", reason="finite differences below check without it")
    shape, window, stride, padding, ceil_mode, dilation = case
    rng = np.random.default_rng(len(shape) + sum(window))
    n = len(window)
    axes = tuple(range(len(shape) - n, len(shape)))
    for dtype in (np.float64, np.float32):
        x = rng.permutation(np.prod(shape)).reshape(shape).astype(dtype)  # no ties
        tx = torch.from_numpy(x).requires_grad_()
        y = _torch_pool(torch, tx, reduce, window, stride, padding, ceil_mode, dilation,
                        include_pad)
        g = rng.standard_normal(tuple(y.shape)).astype(dtype)
        (want,) = torch.autograd.grad(y, (tx,), torch.from_numpy(g))
        mode = "constant" if include_pad else None
        got = grad.pool(g, x, window, stride, reduce=reduce, axes=axes, padding=padding,
                        mode=mode, ceil_mode=ceil_mode, dilation=dilation)
        close(got, want.numpy(), dtype, f"{reduce} {dtype.__name__}")


@pytest.mark.parametrize("reduce", ["max", "min", "sum", "mean"])
@pytest.mark.parametrize("mode", [None, "constant", "edge", "reflect", "symmetric", "wrap"])
def test_pool_by_finite_differences(reduce, mode):
    rng = np.random.default_rng(2)
    x = rng.permutation(7 * 8).reshape(7, 8) / 10.0  # no ties: max is differentiable
    for window, stride, padding, dilation, ceil_mode in [
            (3, 2, 1, 1, False), ((2, 3), (1, 2), "same", (2, 1), False),
            (3, 3, ((2, 0), (1, 1)), 1, True)]:
        keywords = dict(reduce=reduce, padding=padding, mode=mode, cval=0.05,
                        dilation=dilation, ceil_mode=ceil_mode)
        out = wk.pool(x, window, stride, **keywords)
        g = rng.standard_normal(out.shape)
        got = grad.pool(g, x, window, stride, **keywords)
        direction = rng.standard_normal(x.shape)
        want = directional(lambda x_: float(np.sum(wk.pool(x_, window, stride, **keywords) * g)),
                           (x,), 0, direction, h=1e-7)
        np.testing.assert_allclose(np.sum(got * direction), want, rtol=1e-6,
                                   err_msg=f"{window} {padding}")


def test_pool_ties_and_missing_data():
    x = np.array([[1.0, 1.0, 0.0, np.nan], [0.0, 1.0, 2.0, 3.0]])
    g = np.array([[10.0, 20.0]])
    # Ties: the first of equals takes the gradient, as the forward indices.
    np.testing.assert_array_equal(grad.pool(g, x, 2, reduce="max"),
                                  [[10.0, 0.0, 0.0, 20.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(grad.pool(g, x, 2, reduce="max", nan_policy="omit"),
                                  [[10.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 20.0]])
    # nanmean: 1/count over the values; a NaN gets 0.
    np.testing.assert_allclose(grad.pool(g, x, 2, reduce="mean", nan_policy="omit"),
                               [[2.5, 2.5, 20 / 3, 0.0], [2.5, 2.5, 20 / 3, 20 / 3]])
    # A window below min_count gives NaN forward, and sends nothing back.
    np.testing.assert_allclose(
        grad.pool(g, x, 2, reduce="sum", nan_policy="omit", min_count=4),
        [[10.0, 10.0, 0.0, 0.0], [10.0, 10.0, 0.0, 0.0]])


# -- correlate and convolve ----------------------------------------------------------


@pytest.mark.parametrize("flip", [False, True])
def test_correlate_against_autograd(flip):
    torch = pytest.importorskip("torch", reason="finite differences below check without it")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 10))
    kernel = rng.standard_normal((3, 2))
    op, gradient = (wk.convolve, grad.convolve) if flip else (wk.correlate, grad.correlate)
    for stride, padding, dilation in [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 1), (1, 3))]:
        tx = torch.from_numpy(x).requires_grad_()
        tk = torch.from_numpy(kernel).requires_grad_()
        weight = torch.flip(tk, (0, 1)) if flip else tk
        y = torch.nn.functional.conv2d(tx[:, None], weight[None, None], stride=stride,
                                       padding=padding, dilation=dilation)[:, 0]
        out = op(x, kernel, stride, padding=padding, dilation=dilation)
        np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-12)
        g = rng.standard_normal(out.shape)
        wants = torch.autograd.grad(y, (tx, tk), torch.from_numpy(g))
        gots = gradient(g, x, kernel, stride, padding=padding, dilation=dilation)
        for got, want in zip(gots, wants):
            close(got, want.numpy(), np.float64)


@pytest.mark.parametrize("flip", [False, True])
def test_correlate_axes_and_modes_by_finite_differences(flip):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3, 7))
    kernel = rng.standard_normal((2, 3))
    op, gradient = (wk.convolve, grad.convolve) if flip else (wk.correlate, grad.correlate)
    for mode in ("constant", "edge", "reflect", "wrap"):
        keywords = dict(axes=(2, 0), padding=1, mode=mode, cval=0.3, dilation=(1, 2))
        out = op(x, kernel, (2, 1), **keywords)
        g = rng.standard_normal(out.shape)
        gx, gk = gradient(g, x, kernel, (2, 1), **keywords)

        def loss(x_, k_):
            return float(np.sum(op(x_, k_, (2, 1), **keywords) * g))
        for index, got in ((0, gx), (1, gk)):
            direction = rng.standard_normal(got.shape)
            want = directional(loss, (x, kernel), index, direction)
            np.testing.assert_allclose(np.sum(got * direction), want, rtol=1e-6, err_msg=mode)


# -- unpool, dtypes, errors ------------------------------------------------------------


def test_unpool_against_max_unpool2d():
    torch = pytest.importorskip("torch", reason="the coordinates are checked below without it")
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 3 * 8 * 10).reshape(2, 3, 8, 10).astype(np.float64)
    values, indices = wk.max_pool(x, 2, return_indices=True)
    t_values, t_indices = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2,
                                                         return_indices=True)
    want = torch.nn.functional.max_unpool2d(t_values, t_indices, 2, output_size=x.shape[-2:])
    np.testing.assert_array_equal(wk.unpool(values, indices, x.shape), want.numpy())


def test_unpool_adds_and_skips():
    values = np.array([[1.0, 2.0, 4.0]])
    indices = np.array([[[1], [1], [-1]]])  # two at one place, one window without values
    np.testing.assert_array_equal(wk.unpool(values, indices, (1, 3)), [[0.0, 3.0, 0.0]])
    x = np.arange(12.0).reshape(3, 4)
    values, indices = wk.max_pool(x, 2, 2, axes=(1, 0), padding=1, mode="constant",
                                  cval=100.0, return_indices=True)
    back = wk.unpool(values, indices, x.shape, axes=(1, 0))
    assert back.sum() == values[values < 100].sum()  # chosen constants send nothing
    with pytest.raises(ValueError, match="indices must have shape"):
        wk.unpool(values, indices[..., :1].squeeze(-1), x.shape)
    with pytest.raises(TypeError, match="integers"):
        wk.unpool(values, indices.astype(float), x.shape, axes=(1, 0))
    with pytest.raises(ValueError, match="must agree"):
        wk.unpool(np.ones((2, 3)), np.zeros((2, 3, 1), int), (5, 6))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32, np.complex128,
                                   bool])
def test_unpool_loop_against_add_at(dtype):
    """The loop (compiled and interpreted) against np.add.at (impl="strided"),
    overlapping windows adding at shared elements, axes not last and out
    of order; bool adds as np.add.at's "or"."""
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, (5, 3, 9, 7)).astype(np.float64)  # many ties, many shared choices
    values, indices = wk.max_pool(x, (3, 2), (2, 1), axes=(2, 0), padding=1, mode="reflect",
                                  return_indices=True)
    values = (values - 2).astype(dtype)
    before = values.copy(), indices.copy()
    want = wk.unpool(values, indices, x.shape, axes=(2, 0), impl="strided")
    for impl in ("numba", "python"):
        got = wk.unpool(values, indices, x.shape, axes=(2, 0), impl=impl)
        assert got.dtype == values.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want, err_msg=impl)
    np.testing.assert_array_equal(values, before[0])
    np.testing.assert_array_equal(indices, before[1])
    assert want.astype(bool).sum() > 0


def test_pool_gradient_impls_agree():
    """The adjoint loops (spread, add_at) compiled and interpreted against
    numpy's strided slices and np.add.at, for every reduction."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 7, 3, 8))
    for reduce in ("max", "min", "sum", "mean"):
        keywords = dict(reduce=reduce, axes=(3, 1), padding=(1, 2), mode="edge", dilation=(2, 1),
                        ceil_mode=True)
        g = rng.standard_normal(wk.pool(x, (2, 3), (3, 2), **keywords).shape)
        want = grad.pool(g, x, (2, 3), (3, 2), impl="strided", **keywords)
        for impl in ("numba", "python"):
            close(grad.pool(g, x, (2, 3), (3, 2), impl=impl, **keywords), want, np.float64,
                  f"{reduce} {impl}")


def test_unpool_bad_arguments():
    values, indices = wk.max_pool(np.arange(16.0).reshape(4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="impl must be one of"):
        wk.unpool(values, indices, (4, 4), impl="cuda")
    with pytest.raises(TypeError, match="Numba cannot compute in"):
        wk.unpool(values.astype(np.longdouble), indices, (4, 4))
    np.testing.assert_array_equal(
        wk.unpool(values.astype(np.longdouble), indices, (4, 4), impl="strided"),
        wk.unpool(values, indices, (4, 4)))


def test_float32_stays_and_bad_gradients():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    weight = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = wk.conv(x, weight, padding=1)
    gx, gw, gb = grad.conv(np.ones_like(out), x, weight, padding=1, bias=np.zeros(3, np.float32))
    assert gx.dtype == gw.dtype == gb.dtype == np.float32
    assert grad.pool(np.ones((1, 2, 3, 3), np.float32), x, 2).dtype == np.float32
    with pytest.raises(ValueError, match="grad_output has shape"):
        grad.conv(np.ones((1, 3, 5, 5)), x, weight, padding=1)
    with pytest.raises(ValueError, match="grad_output has shape"):
        grad.pool(np.ones((3, 3)), x, 2)
    with pytest.raises(TypeError, match="float results"):
        grad.pool(np.ones((3, 3)), np.ones((6, 6), int), 2)
    with pytest.raises(TypeError, match="float results"):
        grad.correlate(np.ones((4, 4)), np.ones((6, 6)) + 0j, np.ones((3, 3)))
    before = x.copy()
    grad.pool(np.ones((1, 2, 3, 3), np.float32), x, 2, reduce="mean")
    np.testing.assert_array_equal(x, before)
