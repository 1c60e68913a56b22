"""The vectorised reference: cut every window out as a view, then reduce them all.

This is ``impl="strided"``, and the implementation every kernel is tested
against. A stride-trick view (``numpy.lib.stride_tricks.sliding_window_view``,
the same view as ``skimage.util.view_as_windows``) shows each window as an
extra set of axes without copying anything; slicing it with ``[::s]`` keeps
the windows a stride asks for. One numpy reduction over the window axes then
computes every output at once.

The view is free, but reducing it is not: numpy walks the view's odd strides,
and ``tensordot`` copies every window into a contiguous block first, an
``output size x window size`` temporary. That is the cost of vectorising by
cutting windows out, and what the explicit loops in
:mod:`windowkit.kernels` avoid.

These functions take arguments already checked by the public API.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def window_view(x, geometry, mode="constant", cval=0):
    """Read-only view of the windows of ``x``: output shape + window shape.

    Dilated windows are a view of ``x`` too; padded ones a view of ``x``
    padded by ``np.pad`` with ``mode`` (a copy).
    """
    padding = geometry.padding or ((0, 0),) * len(geometry.axes)
    if any(pair != (0, 0) for pair in padding):
        widths = [(0, 0)] * x.ndim
        for axis, pair in zip(geometry.axes, padding):
            widths[axis] = pair
        options = {"constant_values": cval} if mode == "constant" else {}
        x = np.pad(x, widths, mode=mode, **options)
    dilation = geometry.dilation or (1,) * len(geometry.axes)
    view = sliding_window_view(x, geometry.extent, axis=geometry.axes)
    keep = [slice(None)] * x.ndim + [slice(None, None, d) for d in dilation]
    for axis, step in zip(geometry.axes, geometry.stride):
        keep[axis] = slice(None, None, step)
    return view[tuple(keep)]


def pool(view, reduce, out):
    """Reduce each window of ``view`` (from :func:`window_view`) into ``out``."""
    window_axes = tuple(range(out.ndim, view.ndim))
    if reduce == "max":
        np.max(view, axis=window_axes, out=out)
    elif reduce == "min":
        np.min(view, axis=window_axes, out=out)
    elif reduce == "sum":
        np.sum(view, axis=window_axes, dtype=out.dtype, out=out)
    else:
        # Without out=, numpy sums integers in float64 and float16 in float32;
        # a float16 out= would make it sum in float16, which overflows.
        out[...] = np.mean(view, axis=window_axes)
    return out


def correlate(view, weights, out):
    """Multiply each window of ``view`` by ``weights`` and sum, into ``out``.

    ``weights`` has one axis per window axis, already conjugated (correlation)
    or flipped (convolution), and of the dtype to accumulate in, so integer
    products are summed without wrapping around.
    """
    out[...] = np.tensordot(view, weights, axes=weights.ndim)
    return out
