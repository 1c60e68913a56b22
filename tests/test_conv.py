"""wk.conv, the convolutional layer's forward pass, against PyTorch's conv1d,
conv2d and conv3d and against a numpy einsum over np.pad and
sliding_window_view (which share no code with windowkit)."""

import math

import numpy as np
import pytest

import windowkit as wk

METHODS = ("direct", "rows", "im2col", "shifted", "auto")

# (x shape, weight shape, stride, padding, dilation, groups): 1-D to 3-D,
# strides below and above the window, groups, batch axes (none, several).
CASES = [
    ((2, 4, 9, 11), (6, 2, 3, 2), 1, 1, 1, 2),
    ((2, 4, 9, 11), (6, 4, 3, 3), 2, (1, 2), (2, 1), 1),
    ((3, 5, 20), (4, 5, 4), 3, 2, 2, 1),
    ((5, 20), (4, 5, 1), 1, 0, 1, 1),  # no batch axis; a 1-element window
    ((1, 2, 5, 6, 7), (4, 1, 2, 3, 2), (1, 2, 1), 1, 1, 2),
    ((2, 6, 8, 8), (6, 1, 3, 3), 1, 1, 1, 6),  # depthwise
    ((2, 6, 8, 8), (12, 1, 3, 3), 2, 1, 1, 6),  # depthwise, two filters per channel
    ((2, 3, 2, 8, 8), (5, 2, 3, 3), 1, ((0, 2), (1, 0)), 2, 1),  # two batch axes
    ((1, 3, 4, 5, 6), (2, 3, 2, 2, 3), 1, 0, (1, 2, 1), 1),
]


def pads_of(padding, x_shape, window, stride, dilation):
    """The (before, after) pairs of a case's padding (ints and pairs only)."""
    n = len(window)
    if isinstance(padding, int):
        return ((padding, padding),) * n
    return tuple((p, p) if isinstance(p, int) else p for p in padding)


def conv_oracle(x, weight, stride, pads, dilation, groups, bias=None, mode="constant",
                cval=0):
    """np.pad, then each group's windows times its weights, by einsum."""
    n = weight.ndim - 2
    stride = (stride,) * n if isinstance(stride, int) else stride
    dilation = (dilation,) * n if isinstance(dilation, int) else dilation
    extra = {"constant_values": cval} if mode == "constant" else {}
    padded = np.pad(x, ((0, 0),) * (x.ndim - n) + tuple(pads), mode=mode, **extra)
    extent = [(k - 1) * d + 1 for k, d in zip(weight.shape[2:], dilation)]
    view = np.lib.stride_tricks.sliding_window_view(padded, extent,
                                                    axis=tuple(range(x.ndim - n, x.ndim)))
    view = view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride)
                + tuple(slice(None, None, d) for d in dilation)]
    batch, n_in = x.shape[:-n - 1], x.shape[-n - 1]
    positions = view.shape[-2 * n:-n]
    window = weight.shape[2:]
    grouped = view.reshape((math.prod(batch), groups, n_in // groups, math.prod(positions),
                            math.prod(window)))
    w = weight.reshape(groups, weight.shape[0] // groups, n_in // groups, math.prod(window))
    result = np.einsum("bgcpk,gock->bgop", grouped, w)
    result = result.reshape(batch + (weight.shape[0],) + positions)
    if bias is not None:
        result = result + bias.reshape((-1,) + (1,) * n)
    return result


@pytest.mark.parametrize("case, method", [(case, method) for case in CASES for method in METHODS
                                          if method != "shifted" or case[2] == 1])
def test_against_einsum(case, method):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(sum(w_shape))
    x = rng.standard_normal(x_shape)
    weight = rng.standard_normal(w_shape)
    bias = rng.standard_normal(w_shape[0])
    pads = pads_of(padding, x_shape, w_shape[2:], stride, dilation)
    want = conv_oracle(x, weight, stride, pads, dilation, groups, bias)
    got = wk.conv(x, weight, stride, padding=padding, dilation=dilation, groups=groups,
                  bias=bias, method=method)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def symmetric(padding):
    return isinstance(padding, int) or all(isinstance(p, int) for p in padding)


@pytest.mark.parametrize("case", [case for case in CASES if symmetric(case[3])],
                         ids=lambda case: str(case[1]))
def test_against_pytorch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here; einsum above")
    functional = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
                  3: torch.nn.functional.conv3d}
    x_shape, w_shape, stride, padding, dilation, groups = case
    n = len(w_shape) - 2
    rng = np.random.default_rng(len(x_shape) + sum(w_shape))
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        x = rng.standard_normal(x_shape).astype(dtype)
        weight = rng.standard_normal(w_shape).astype(dtype)
        bias = rng.standard_normal(w_shape[0]).astype(dtype)
        batch = x_shape[:-n - 1]
        tx = torch.from_numpy(x.reshape((-1,) + x_shape[-n - 1:]))
        want = functional[n](tx, torch.from_numpy(weight), torch.from_numpy(bias),
                             stride=stride, padding=padding, dilation=dilation,
                             groups=groups).numpy()
        want = want.reshape(batch + want.shape[1:])
        for method in METHODS:
            if method == "shifted" and stride != 1:
                continue
            got = wk.conv(x, weight, stride, padding=padding, dilation=dilation, groups=groups,
                          bias=bias, method=method)
            assert got.dtype == dtype
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=method)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_padding_modes(mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    weight = rng.standard_normal((4, 3, 3, 3))
    for method in METHODS:
        got = wk.conv(x, weight, padding="same", mode=mode, cval=1.5, method=method)
        want = conv_oracle(x, weight, 1, ((1, 1), (1, 1)), 1, 1, mode=mode, cval=1.5)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=method)


def test_dtypes():
    rng = np.random.default_rng(4)
    x = rng.integers(-100, 100, (2, 4, 6, 6)).astype(np.int16)
    weight = rng.integers(-100, 100, (4, 2, 3, 3)).astype(np.int16)
    want = conv_oracle(x.astype(np.int64), weight.astype(np.int64), 1, ((1, 1), (1, 1)), 1, 2)
    for method in METHODS:
        got = wk.conv(x, weight, padding=1, groups=2, method=method)
        assert got.dtype == np.int64  # np.sum's dtype: exact
        np.testing.assert_array_equal(got, want)
    # Complex: no conjugate (PyTorch's rule).
    z = rng.standard_normal((1, 2, 5, 5)) + 1j * rng.standard_normal((1, 2, 5, 5))
    kernel = rng.standard_normal((2, 2, 2, 2)) + 1j * rng.standard_normal((2, 2, 2, 2))
    for method in METHODS:
        np.testing.assert_allclose(wk.conv(z, kernel, method=method),
                                   conv_oracle(z, kernel, 1, ((0, 0), (0, 0)), 1, 1),
                                   rtol=1e-12)
    # float16 keeps its dtype, computed in float32.
    h = rng.standard_normal((1, 2, 6, 6)).astype(np.float16)
    kernel = rng.standard_normal((2, 2, 3, 3)).astype(np.float16)
    want = conv_oracle(h.astype(np.float64), kernel.astype(np.float64), 1, ((0, 0),) * 2, 1, 1)
    for method in METHODS:
        got = wk.conv(h, kernel, method=method)
        assert got.dtype == np.float16
        np.testing.assert_allclose(got, want, rtol=5e-3, atol=5e-3 * np.abs(want).max())


def test_impls():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 7))
    weight = rng.standard_normal((4, 2, 3, 2))
    want = conv_oracle(x, weight, (2, 1), ((1, 1), (0, 0)), 1, 2)
    compiled = wk.conv(x, weight, (2, 1), padding=(1, 0), groups=2, method="direct")
    interpreted = wk.conv(x, weight, (2, 1), padding=(1, 0), groups=2, impl="python")
    np.testing.assert_array_equal(interpreted, compiled)  # the same loop, the same sums
    np.testing.assert_allclose(compiled, want, rtol=1e-12)
    reference = wk.conv(x, weight, (2, 1), padding=(1, 0), groups=2, impl="strided")
    np.testing.assert_allclose(reference, want, rtol=1e-12)


def test_out_and_layouts_and_input_untouched():
    rng = np.random.default_rng(6)
    x = np.asfortranarray(rng.standard_normal((2, 3, 8, 9)))[:, :, ::-1]
    weight = rng.standard_normal((4, 3, 3, 3))
    before = x.copy()
    want = conv_oracle(x, weight, 1, ((0, 0), (0, 0)), 1, 1)
    for method in METHODS:
        out = np.empty(want.shape)
        got = wk.conv(x, weight, out=out, method=method)
        assert got is out
        np.testing.assert_allclose(out, want, rtol=1e-12)
    np.testing.assert_array_equal(x, before)
    read_only = x.copy()
    read_only.flags.writeable = False
    np.testing.assert_allclose(wk.conv(read_only, weight), want, rtol=1e-12)


def test_bad_arguments():
    x = np.zeros((2, 4, 6, 6))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        wk.conv(x, np.zeros((3, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="input channels per group"):
        wk.conv(x, np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="1 to 3 window axes"):
        wk.conv(x, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="spatial axes"):
        wk.conv(np.zeros((6, 6)), np.zeros((4, 6, 3, 3)))
    with pytest.raises(ValueError, match="bias must have shape"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), bias=np.zeros(3))
    with pytest.raises(ValueError, match="groups must be at least 1"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), groups=0)
    with pytest.raises(TypeError, match="groups"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), groups=2.0)
    with pytest.raises(ValueError, match="method"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), method="fft")
    with pytest.raises(ValueError, match="stride 1"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), 2, method="shifted")
    with pytest.raises(ValueError, match="textbook loop"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), impl="python", method="im2col")
    with pytest.raises(ValueError, match="pools only"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), padding=1, mode="ignore")
    with pytest.raises(ValueError, match="does not fit"):
        wk.conv(x, np.zeros((2, 4, 7, 7)))
    with pytest.raises(ValueError, match="output shape"):
        wk.conv(x, np.zeros((2, 4, 3, 3)), out=np.zeros((2, 2, 3, 3)))


def test_choose_method_says_what_auto_runs():
    rng = np.random.default_rng(7)
    for x_shape, w_shape, stride, groups, want in [
            ((2, 8, 9, 9), (8, 8, 3, 3), 1, 1, "shifted"),
            ((2, 8, 9, 9), (8, 8, 3, 3), 2, 1, "im2col"),
            ((2, 8, 9, 9), (8, 1, 3, 3), 1, 8, "rows"),
            ((3, 20), (4, 3, 5), 1, 1, "rows")]:
        choice = wk.choose_method("conv", x_shape, w_shape, stride, padding=1, groups=groups)
        assert choice.method == want and str(choice).startswith(want)
        x = rng.standard_normal(x_shape)
        weight = rng.standard_normal(w_shape)
        np.testing.assert_array_equal(
            wk.conv(x, weight, stride, padding=1, groups=groups),
            wk.conv(x, weight, stride, padding=1, groups=groups, method=want))
    with pytest.raises(ValueError, match="groups"):
        wk.choose_method("conv", (2, 8, 9, 9), (8, 8, 3, 3), groups=3)


def test_gradients_run_the_textbook_loop_interpreted():
    """impl="python": the backward pass runs the same loops interpreted."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 5, 6))
    weight = rng.standard_normal((2, 1, 3, 2))
    g = rng.standard_normal(wk.conv(x, weight, 2, padding=1, groups=2).shape)
    interpreted = wk.grad.conv(g, x, weight, 2, padding=1, groups=2, bias=np.zeros(2),
                               impl="python")
    compiled = wk.grad.conv(g, x, weight, 2, padding=1, groups=2, bias=np.zeros(2),
                            method="direct")
    fast = wk.grad.conv(g, x, weight, 2, padding=1, groups=2, bias=np.zeros(2))
    for a, b, c in zip(interpreted, compiled, fast):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-12)
