"""Slow, obvious oracles for the tests, built independently of windowkit.

Pooling reduces scikit-image's ``view_as_windows`` with numpy's own
reductions, so values and result dtypes come from numpy itself; correlation
uses ``scipy.signal.correlate(..., method="direct")``. Neither shares code
with ``windowkit.strided``, which the tests also check against these.
"""

import numpy as np
import scipy.signal
from skimage.util import view_as_windows

REDUCERS = {"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean}


def full_window(ndim, axes, window, fill):
    """Spread per-windowed-axis values over all ``ndim`` axes, ``fill`` elsewhere."""
    full = [fill] * ndim
    for axis, k in zip(axes, window):
        full[axis % ndim] = k
    return tuple(full)


def pool(x, window, stride, axes, reduce):
    """``reduce`` over each window: numpy's result, numpy's dtype."""
    x = np.asarray(x)
    shape = full_window(x.ndim, axes, window, 1)
    step = full_window(x.ndim, axes, stride, 1)
    view = view_as_windows(np.ascontiguousarray(x), shape, step)
    return REDUCERS[reduce](view, axis=tuple(range(x.ndim, view.ndim)))


def correlate(x, kernel, stride, axes, result_dtype, convolve=False):
    """Valid correlation (or convolution) by scipy's direct method, then strided.

    scipy computes in its inputs' dtype, so both are cast to the result dtype
    first (float16, which scipy lacks, through float32).
    """
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    compute = np.float32 if result_dtype == np.float16 else result_dtype
    # Kernel axes follow ``axes`` in order; put them in array order, 1 elsewhere.
    order = np.argsort([a % x.ndim for a in axes])
    kernel_full = np.transpose(kernel, order).reshape(
        full_window(x.ndim, axes, kernel.shape, 1)
    )
    method = scipy.signal.convolve if convolve else scipy.signal.correlate
    result = method(
        x.astype(compute), kernel_full.astype(compute), mode="valid", method="direct"
    )
    step = full_window(x.ndim, axes, stride, 1)
    return result[tuple(slice(None, None, s) for s in step)].astype(result_dtype)


# -- beyond valid windows: padding, boundary modes, dilation, ceil_mode ----------


def out_length(n, k, s, before, after, d=1, ceil_mode=False):
    """PyTorch's output length (``torch.nn.MaxPool1d``'s formula), written out."""
    e = d * (k - 1) + 1
    if not ceil_mode:
        return (n + before + after - e) // s + 1
    length = int(np.ceil((n + before + after - e) / s)) + 1
    if (length - 1) * s >= n + before:  # the last window must start inside
        length -= 1
    return length


def same_padding(n, k, s, d=1):
    """TensorFlow's "SAME": ceil(n / s) outputs, the odd element after."""
    e = d * (k - 1) + 1
    total = max((int(np.ceil(n / s)) - 1) * s + e - n, 0)
    return total // 2, total - total // 2


def _padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode, cval):
    """The windows of ``x`` padded by ``np.pad`` (``"ignore"``: masked out),
    as a view ``(..., window...)`` over its windowed axes, and the mask of
    the elements that are part of each window."""
    x = np.asarray(x)
    ndim = x.ndim
    axes = tuple(a % ndim for a in axes)
    widths, overhang, lengths = [(0, 0)] * ndim, [(0, 0)] * ndim, {}
    for axis, k, s, d, (before, after) in zip(axes, window, stride, dilation, pads):
        n, e = x.shape[axis], d * (k - 1) + 1
        lengths[axis] = out_length(n, k, s, before, after, d, ceil_mode)
        widths[axis] = (before, after)
        extra = max(0, (lengths[axis] - 1) * s + e - (n + before + after))
        overhang[axis] = (0, extra)
    if mode == "ignore":
        padded = np.pad(x, widths, mode="constant")
    elif mode == "constant":
        padded = np.pad(x, widths, mode="constant", constant_values=cval)
    else:
        padded = np.pad(x, widths, mode=mode)
    mask = np.pad(np.ones(x.shape, bool), widths, mode="constant",
                  constant_values=mode != "ignore")
    padded = np.pad(padded, overhang, mode="constant")
    mask = np.pad(mask, overhang, mode="constant", constant_values=False)
    extents = [d * (k - 1) + 1 for k, d in zip(window, dilation)]
    views = []
    for array in (padded, mask):
        view = np.lib.stride_tricks.sliding_window_view(array, extents, axis=axes)
        index = [slice(None)] * ndim + [slice(None, None, d) for d in dilation]
        for axis, s in zip(axes, stride):
            index[axis] = slice(0, (lengths[axis] - 1) * s + 1, s)
        views.append(view[tuple(index)])
    return views


def padded_pool(x, window, stride, axes, reduce, pads, dilation=None, ceil_mode=False,
                mode="ignore", cval=0):
    """``reduce`` over the elements of each padded, dilated window, with
    numpy's result dtype; every window must hold an element."""
    x = np.asarray(x)
    dilation = dilation or (1,) * len(window)
    view, mask = _padded_windows(x, window, stride, axes, pads, dilation, ceil_mode, mode,
                                 cval)
    within = tuple(range(x.ndim, view.ndim))
    assert mask.any(axis=within).all(), "a window holds no element"
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as windowkit's sums give
        return _masked_reduce(x, view, mask, within, reduce)


def _masked_reduce(x, view, mask, within, reduce):
    if reduce in ("max", "min"):
        if x.dtype.kind == "f":
            never = -np.inf if reduce == "max" else np.inf
        elif x.dtype.kind == "b":
            never = reduce == "min"
        else:
            info = np.iinfo(x.dtype)
            never = info.min if reduce == "max" else info.max
        return REDUCERS[reduce](np.where(mask, view, np.array(never, x.dtype)), axis=within)
    sums = np.sum(np.where(mask, view, np.zeros((), x.dtype)), axis=within)
    if reduce == "sum":
        return sums
    means = sums / mask.sum(axis=within)
    return means.astype(np.zeros(1, x.dtype).mean().dtype)


def padded_correlate(x, kernel, stride, axes, pads, dilation=None, mode="constant", cval=0,
                     convolve=False):
    """The padded, dilated correlation as a sum of products over windows, in
    the result dtype (float16 through float32)."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    dilation = dilation or (1,) * kernel.ndim
    view, _ = _padded_windows(x, kernel.shape, stride, axes, pads, dilation, False, mode, cval)
    result_dtype = np.zeros(1, np.result_type(x, kernel)).sum().dtype
    compute = np.float32 if result_dtype == np.float16 else result_dtype
    if convolve:
        kernel = kernel[(slice(None, None, -1),) * kernel.ndim]
    else:
        kernel = np.conj(kernel)
    with np.errstate(invalid="ignore"):  # inf * 0 and inf - inf: NaN
        products = view.astype(compute) * kernel.astype(compute)
        return products.sum(axis=tuple(range(x.ndim, view.ndim))).astype(result_dtype)
