"""Gradients of the windowed ops: the backward pass of a network's layers.

Each function takes the gradient of the forward result first, then the
forward call's own arguments and keywords, and returns the gradients of
its inputs, in the forward result's float dtype (float32 stays float32):

- :func:`pool`: of ``x``, for all four reductions;
- :func:`correlate` and :func:`convolve`: of ``x`` and of the kernel;
- :func:`conv`: of ``x``, the weight and the bias.

They are written with the forward kernels (``windowkit.conv`` and the
pools' indices), each docstring naming the identity it uses. A padded
position's gradient goes back to the input element it copies (``"edge"``,
``"reflect"``, ``"symmetric"``, ``"wrap"``); a padded constant, and a
position ``"ignore"`` leaves out, send nothing to ``x``.

This module sits beside the teaching layer: it calls the public functions.
"""

import math

import numba
import numpy as np

from . import _api, _conv, _methods, _missing, _plan
from . import _validation as v
from .kernels import adjoint

__all__ = ["pool", "correlate", "convolve", "conv"]


def pool(grad_output, x, window, stride=None, *, reduce="max", axes=None, padding="valid",
         mode=None, cval=0, dilation=1, ceil_mode=False, nan_policy="propagate",
         min_count=None, impl="numba", method="auto"):
    """The gradient of :func:`windowkit.pool` with respect to ``x``.

    - max and min: each output's gradient goes to the element its window
      chose (the first of equals, as the forward pass's ``return_indices``
      says), by :func:`windowkit.unpool`; windows choosing the same element
      add up.
    - sum: each output's gradient goes to every element of its window
      (the adjoint of a sum is a copy); mean: divided by the window's count
      of elements (values, under ``nan_policy="omit"``), as the forward
      pass divides.

    Under ``"omit"`` a NaN element gets 0, and a window below ``min_count``
    (a NaN output) sends nothing.

    Parameters
    ----------
    grad_output : array_like
        The gradient of the pool's result: its shape.
    x, window, stride, reduce, axes, padding, mode, cval, dilation, ceil_mode,
    nan_policy, min_count, impl, method
        The forward call's, as in :func:`windowkit.pool`.

    Returns
    -------
    ndarray
        ``x.shape``, the forward result's float dtype.
    """
    x = v.as_input_array(x)
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window",
                          padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    dtype = _float_result(v.pool_dtype(reduce, x.dtype), "pool")
    grad_output = _checked_gradient(grad_output, geometry.out_shape, dtype)
    forward = dict(axes=geometry.axes, padding=padding, mode=mode, cval=cval,
                   dilation=dilation, ceil_mode=ceil_mode, nan_policy=nan_policy,
                   min_count=min_count, impl=impl, method=method)
    if reduce in ("max", "min"):
        _, indices = _api.pool(x, window, stride, reduce=reduce, return_indices=True, **forward)
        return _api.unpool(grad_output, indices, x.shape, axes=geometry.axes, impl=impl)
    mode, cval = v.boundary(mode, cval, x.dtype, "pool")
    skip_nan = nan_policy == "omit" and x.dtype.kind == "f"
    # Each window's count of values: the sum pool of where x holds one, a
    # padded constant counting as one unless it is a NaN skipped. Without
    # NaN skipped, every batch item's windows count alike: one item's
    # counts (the batch axes of length 1) broadcast.
    if skip_nan:
        held = ~np.isnan(x)
    else:
        held = np.ones([n if axis in geometry.axes else 1 for axis, n in enumerate(x.shape)],
                       bool)
    held_cval = not (skip_nan and np.isnan(cval))
    counts = _api.sum_pool(held, window, stride, **dict(
        forward, nan_policy="propagate", min_count=None, mode=mode, cval=held_cval))
    weights = grad_output
    if reduce == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = grad_output / counts
    short = counts < (1 if min_count is None else min_count)
    if (skip_nan or reduce == "mean") and short.any():
        weights = np.where(short, 0, weights)
    grad = _spread(weights.astype(dtype, copy=False), x.shape, geometry, impl)
    grad = _fold_padding(grad, x.shape, geometry, mode)
    if skip_nan:
        grad[~held] = 0
    return grad


def _spread(weights, shape, geometry, impl):
    """Each output's weight added at every position of its window, in
    padded coordinates: the adjoint of the sum pool
    (:func:`windowkit.kernels.spread`), on the windowed axes moved last
    and the others folded into a batch, as the pools run;
    ``impl="strided"``: one strided slice of the result per window element,
    all outputs added at once (the vectorised reference)."""
    n = len(geometry.axes)
    lengths = tuple((weights.shape[axis] - 1) * s + e for axis, s, e in
                    zip(geometry.axes, geometry.stride, geometry.extent))
    dilation = geometry.dilation or (1,) * n
    if impl == "strided":
        padded_shape = list(shape)
        for axis, length in zip(geometry.axes, lengths):
            padded_shape[axis] = length
        grad = np.zeros(padded_shape, weights.dtype)
        for element in np.ndindex(*geometry.window):
            index = [slice(None)] * len(shape)
            for axis, a, d, s in zip(geometry.axes, element, dilation, geometry.stride):
                index[axis] = slice(a * d, a * d + (weights.shape[axis] - 1) * s + 1, s)
            grad[tuple(index)] += weights
        return grad
    last = tuple(range(len(shape) - n, len(shape)))
    moved = np.ascontiguousarray(np.moveaxis(weights, geometry.axes, last))
    grad = np.zeros(moved.shape[:-n] + lengths, weights.dtype)
    stage = _plan._staging(grad.dtype, impl)  # float16: added in float32
    work = grad if stage is None else grad.astype(stage)
    pad3 = (1,) * (3 - n)
    adjoint.spread.run((_plan.folded(moved.astype(work.dtype, copy=False), n),
                        pad3 + tuple(geometry.window), pad3 + tuple(geometry.stride),
                        pad3 + tuple(dilation)), _plan.folded(work, n),
                       numba.get_num_threads() if _methods.threaded(
                           weights.size * math.prod(geometry.window), geometry, work.dtype,
                           work.nbytes) else 1, impl)
    return np.moveaxis(work.astype(grad.dtype, copy=False), last, geometry.axes)


def _fold_padding(grad, shape, geometry, mode):
    """The gradient over padded positions (``grad``, from position 0 of
    the padding before) folded onto ``shape``: a position that copies an
    input element adds to it, a constant or nothing is dropped."""
    padding = geometry.padding or ((0, 0),) * len(geometry.axes)
    for axis, pads in zip(geometry.axes, padding):
        n, length = shape[axis], grad.shape[axis]
        _, kind, source = _missing._padded_positions(n, pads, mode, length)
        before = pads[0]
        folded_shape = list(grad.shape)
        folded_shape[axis] = n
        folded = np.zeros(folded_shape, grad.dtype)
        at = [slice(None)] * grad.ndim
        stop = max(before, min(length, before + n))
        at[axis] = slice(before, stop)
        into = [slice(None)] * grad.ndim
        into[axis] = slice(0, stop - before)
        folded[tuple(into)] = grad[tuple(at)]  # the input's own positions
        positions = np.arange(length)
        copies = (kind == _missing.HOLDS_INPUT) & ((positions < before) | (positions >= stop))
        if copies.any():
            at[axis] = positions[copies]
            into[axis] = source[copies]
            np.add.at(folded, tuple(into), grad[tuple(at)])
        grad = folded
    return grad


def conv(grad_output, x, weight, stride=1, *, padding="valid", mode="constant", cval=0,
         dilation=1, groups=1, bias=None, impl="numba", method="auto"):
    """The gradients of :func:`windowkit.conv`: ``(grad_x, grad_weight,
    grad_bias)`` (``grad_bias`` None without a bias).

    Identities, each a forward ``conv``:

    - ``grad_x`` is the full convolution of the stride-dilated output
      gradient (``stride - 1`` zeros between its elements) with the
      weight flipped along its window axes, its channel axes swapped within
      each group, at the forward dilation: the transposed convolution, in
      padded coordinates, then folded onto ``x`` (a copied position adds
      to the element it copies). That ``conv`` runs at stride 1 and for
      ``method="direct"`` or ``impl`` other than ``"numba"``, and for thin
      products (``"auto"`` choosing ``"rows"``); at strides above 1 the
      dilated gradient would be mostly zeros (three quarters at stride 2
      in 2-D), and the same sums are the adjoint of im2col
      (:func:`windowkit._conv.input_gradient`): the weight matrix
      transposed times the output gradient, each column added back to
      the positions it was gathered from.
    - ``grad_weight`` is, per group, the correlation of the padded input
      with the output gradient as the kernel, batch and channel axes
      swapped (the batch is summed as the channels are), at stride
      ``dilation`` and dilation ``stride``, cropped to the window. That
      ``conv`` runs for ``method="direct"`` and ``impl="python"``; else the
      same sums are one product per window row or plane and item
      (:func:`windowkit._conv.weight_gradient`), the output gradient times
      the input positions each window element reads.
    - ``grad_bias`` is the output gradient summed over all but its
      channel axis.

    Parameters
    ----------
    grad_output : array_like
        The gradient of the forward result: its shape.
    x, weight, stride, padding, mode, cval, dilation, groups, bias, impl, method
        The forward call's, as in :func:`windowkit.conv` (``method`` is
        that of the convolutions computing the gradients).

    Returns
    -------
    (ndarray, ndarray, ndarray or None)
        Shapes of ``x``, ``weight`` and ``bias``, the forward result's float dtype.
    """
    x = v.as_input_array(x)
    weight, bias, groups = _conv.check_layer(x, weight, bias, groups)
    n = weight.ndim - 2
    spatial = tuple(range(x.ndim - n, x.ndim))
    geometry = v.geometry(x.shape, weight.shape[2:], stride, spatial, name="weight",
                          padding=padding, dilation=dilation)
    mode, cval = v.boundary(mode, cval, x.dtype, "correlate")
    dtype = _float_result(v.correlate_dtype(
        x.dtype, weight.dtype if bias is None else np.result_type(weight.dtype, bias.dtype)),
        "conv")
    out_shape = x.shape[:-n - 1] + (weight.shape[0],) + tuple(
        geometry.out_shape[axis] for axis in spatial)
    grad_output = _checked_gradient(grad_output, out_shape, dtype)
    batch = x.shape[:-n - 1]
    x3 = x.reshape((-1,) + x.shape[-n - 1:]).astype(dtype, copy=False)
    g3 = grad_output.reshape((-1,) + out_shape[-n - 1:])
    weight = weight.astype(dtype, copy=False)
    options = dict(impl=impl, method=method)
    grad_x = _input_gradient(g3, weight, x3.shape, geometry, mode, groups, options)
    grad_weight = _weight_gradient(g3, x3, weight.shape, geometry, mode, cval, groups, options)
    grad_bias = None if bias is None else g3.sum(axis=(0,) + tuple(range(2, g3.ndim)))
    return grad_x.reshape(batch + x.shape[-n - 1:]), grad_weight, grad_bias


def _input_gradient(g3, weight, x_shape, geometry, mode, groups, options):
    """``grad_x`` of :func:`conv` for ``g3`` (batch, C_out, *out_spatial):
    the transposed convolution, or at strides above 1 col2im (see
    :func:`conv`). Where the padding holds a constant (which sends nothing
    back), only the input's own positions are computed: the full
    convolution's padding less the forward's, or col2im's own positions."""
    n = weight.ndim - 2
    n_out, group_in = weight.shape[:2]
    group_out = n_out // groups
    dilation = geometry.dilation
    frame = v.Geometry(tuple(range(2, 2 + n)), geometry.window, geometry.stride,
                       g3.shape, geometry.dilation, geometry.padding)
    if any(s > 1 for s in geometry.stride) and options["impl"] == "numba" and (
            options["method"] == "im2col" or options["method"] == "auto"
            and group_out * math.prod(geometry.window) >= _conv.PRODUCT_MIN_DEPTH):
        padded = _conv.input_gradient(g3, weight, x_shape, geometry.stride, geometry.padding,
                                      dilation, groups, crop=mode == "constant")
        return padded if mode == "constant" else _fold_padding(padded, x_shape, frame, mode)
    if all(s == 1 for s in geometry.stride):
        dilated = g3
    else:  # the output gradient with stride - 1 zeros between its elements
        dilated_shape = g3.shape[:2] + tuple((length - 1) * s + 1 for length, s in
                                             zip(g3.shape[2:], geometry.stride))
        dilated = np.zeros(dilated_shape, g3.dtype)
        dilated[(slice(None), slice(None)) + tuple(slice(None, None, s)
                                                   for s in geometry.stride)] = g3
    # Weights (C_in, C_out // groups, *window), flipped: channels swapped per group.
    turned = weight.reshape((groups, group_out, group_in) + weight.shape[2:])
    turned = np.flip(np.swapaxes(turned, 1, 2), axis=tuple(range(3, 3 + n)))
    turned = np.ascontiguousarray(turned.reshape((groups * group_in, group_out)
                                                 + weight.shape[2:]))
    # The full convolution covers padded positions 0 to L - 1, L the
    # dilated gradient's length plus e - 1; the input's own are before to
    # before + n - 1.
    full = [(e - 1, e - 1) for e in geometry.extent]
    own = [(e - 1 - before, e - 1 + before + n - (length + e - 1))
           for e, (before, _), n, length in zip(geometry.extent, geometry.padding,
                                                x_shape[2:], dilated.shape[2:])]
    if mode == "constant" and all(low >= 0 and high >= 0 for low, high in own):
        return _api.conv(dilated, turned, padding=tuple(own), dilation=dilation, groups=groups,
                         **options)
    padded = _api.conv(dilated, turned, padding=tuple(full), dilation=dilation, groups=groups,
                       **options)
    return _fold_padding(padded, x_shape, frame, mode)


def _weight_gradient(g3, x3, weight_shape, geometry, mode, cval, groups, options):
    """``grad_weight`` of :func:`conv`: per group, a correlation of the
    input with the output gradient (see :func:`conv`): by that forward
    ``conv`` for ``method="direct"`` (the textbook loop: ``impl="python"``
    runs it interpreted), else one product per window element
    (:func:`windowkit._conv.weight_gradient`)."""
    if options["method"] != "direct" and options["impl"] == "numba":
        return _conv.weight_gradient(x3, g3, weight_shape, geometry.stride, geometry.padding,
                                     mode, cval, geometry.dilation, groups, options["method"])
    n_out, group_in = weight_shape[:2]
    group_out = n_out // groups
    grads = []
    for g in range(groups):
        inputs = np.swapaxes(x3[:, g * group_in:(g + 1) * group_in], 0, 1)  # (C_g, batch, ...)
        kernel = np.swapaxes(g3[:, g * group_out:(g + 1) * group_out], 0, 1)
        found = _api.conv(inputs, kernel, geometry.dilation, padding=geometry.padding,
                          mode=mode, cval=cval, dilation=geometry.stride, **options)
        crop = (slice(None), slice(None)) + tuple(slice(0, k) for k in weight_shape[2:])
        grads.append(np.swapaxes(found[crop], 0, 1))  # (C_out_g, C_g, *window)
    return np.concatenate(grads, axis=0) if groups > 1 else grads[0]


def correlate(grad_output, x, kernel, stride=1, *, axes=None, padding="valid", mode="constant",
              cval=0, dilation=1, impl="numba", method="auto"):
    """The gradients of :func:`windowkit.correlate`: ``(grad_x, grad_kernel)``.

    The correlation of real data is :func:`conv` with one input and one
    output channel, the other axes a batch: these are :func:`conv`'s
    gradients (the kernel's summed over the batch). Real float results
    only (the gradient of a complex correlation needs a convention for its
    conjugate).
    """
    return _correlate_gradients(grad_output, x, kernel, stride, axes, padding, mode, cval,
                                dilation, impl, method, flip=False)


def convolve(grad_output, x, kernel, stride=1, *, axes=None, padding="valid", mode="constant",
             cval=0, dilation=1, impl="numba", method="auto"):
    """The gradients of :func:`windowkit.convolve`: ``(grad_x, grad_kernel)``.

    A convolution is the correlation with the kernel flipped: the
    gradients of :func:`correlate` with the flipped kernel, the kernel's
    gradient flipped back.
    """
    return _correlate_gradients(grad_output, x, kernel, stride, axes, padding, mode, cval,
                                dilation, impl, method, flip=True)


def _correlate_gradients(grad_output, x, kernel, stride, axes, padding, mode, cval, dilation,
                         impl, method, flip):
    x = v.as_input_array(x)
    kernel = v.as_kernel_array(kernel)
    geometry = v.geometry(x.shape, kernel.shape, stride, axes, name="kernel", padding=padding,
                          dilation=dilation)
    dtype = _float_result(v.correlate_dtype(x.dtype, kernel.dtype), "correlate")
    grad_output = _checked_gradient(grad_output, geometry.out_shape, dtype)
    n = kernel.ndim
    last = tuple(range(x.ndim - n, x.ndim))
    moved_x = np.moveaxis(x, geometry.axes, last)
    moved_g = np.moveaxis(grad_output, geometry.axes, last)
    batch = moved_x.shape[:-n]
    weight = np.flip(kernel) if flip else kernel
    grad_x, grad_weight, _ = conv(
        moved_g.reshape((-1, 1) + moved_g.shape[-n:]), moved_x.reshape((-1, 1) + moved_x.shape[-n:]),
        weight.reshape((1, 1) + kernel.shape), geometry.stride, padding=geometry.padding,
        mode=mode, cval=cval, dilation=geometry.dilation, impl=impl,
        method=_conv_method(method))
    grad_x = np.moveaxis(grad_x.reshape(batch + moved_x.shape[-n:]), last, geometry.axes)
    grad_kernel = grad_weight.reshape(kernel.shape)
    return grad_x, (np.flip(grad_kernel) if flip else grad_kernel)


def _conv_method(method):
    """A correlate method's counterpart among conv's ("auto" for the fast ones)."""
    v.check_choice(method, "method", v.CORRELATE_METHODS)
    return "direct" if method == "direct" else "auto"


def _float_result(dtype, op):
    if dtype.kind != "f":
        raise TypeError(
            f"gradients of {op} are taken for float results, got {dtype}: pass float data "
            "(x.astype(np.float64))")
    return dtype


def _checked_gradient(grad_output, shape, dtype):
    grad_output = np.asarray(grad_output)
    if grad_output.shape != tuple(shape):
        raise ValueError(
            f"grad_output has shape {grad_output.shape}, but the forward result's shape is "
            f"{tuple(shape)}")
    return grad_output.astype(dtype, copy=False)
