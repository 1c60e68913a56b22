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
