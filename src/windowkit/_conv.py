"""The convolutional layer's forward pass: :func:`windowkit.conv`.

PyTorch's ``conv1d``, ``conv2d`` and ``conv3d`` (a correlation without
conjugate, channels first, groups), folded to 5-D ``(batch, channels,
depth, rows, cols)`` and run by one of three methods:

- ``"direct"``: the textbook loop nest (:func:`windowkit.kernels.direct.conv`),
  padded positions read through :func:`windowkit.kernels.direct.source`.
- ``"im2col"``: the notebook's stride-trick view of a padded batch item
  (``sliding_window_view``), gathered a tile of output rows at a time into a
  column matrix (input channels times window elements, by output positions)
  and multiplied by the weight matrix in one product: "cut it up first,
  then compute it all at once". Any stride and dilation.
- ``"shifted"`` (stride 1): no column matrix. On the padded item laid out
  flat, output position ``q`` of a grid as wide as the padded rows reads
  window element ``(i, j, k)`` at ``q + offset(i, j, k)``, so each window
  element's slice of the input is a matrix already (channels by
  positions, a view). The window's columns are stacked (a copy as large
  as ``window_cols`` tiles of the input), and each remaining window
  element ``(i, j)`` adds one matrix product to the output tile; the grid's
  columns past the output's width are computed and dropped.

The products run in numpy's BLAS, on its threads. Scratch: one padded batch
item, and tiles of about :data:`TILE_BYTES`, never the whole column matrix.
"""

import math

import numba
import numpy as np

from . import _methods, _plan
from . import _validation as v
from .kernels import direct

CONV_METHODS = ("auto", "direct", "im2col", "shifted")
# The scratch a tile's column matrix (or stacked columns) may take: about
# half the L2 cache of one core, so that a product reads it from there.
TILE_BYTES = 1 << 20
# Below this many multiply-adds per output (a group's input channels times
# the window), a matrix product is too thin to pay: "auto" runs the loop.
PRODUCT_MIN_DEPTH = 32


def conv(x, weight, stride, padding, mode, cval, dilation, groups, bias, out, impl, method):
    """:func:`windowkit.conv` after the public function (see its docstring)."""
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", CONV_METHODS)
    x = v.as_input_array(x)
    weight, bias, groups = check_layer(x, weight, bias, groups)
    n_spatial = weight.ndim - 2
    spatial = tuple(range(x.ndim - n_spatial, x.ndim))
    geometry = v.geometry(x.shape, weight.shape[2:], stride, spatial, name="weight",
                          padding=padding, dilation=dilation)
    mode, cval = v.boundary(mode, cval, x.dtype, "correlate")
    n_out = weight.shape[0]
    out_shape = x.shape[:-n_spatial - 1] + (n_out,) + tuple(
        geometry.out_shape[axis] for axis in spatial)
    result = v.correlate_dtype(x.dtype, weight.dtype if bias is None
                               else np.result_type(weight.dtype, bias.dtype))
    out = v.prepare_out(out, out_shape, result, x, weight)
    method = choose(method, impl, geometry, weight.shape, groups, result)
    if impl == "python" and method != "direct":
        raise ValueError(f"impl='python' runs the textbook loop: method='direct', not {method!r}")
    compute = v.accumulator_dtype(result)
    _plan.refuse_long_double(compute, impl, "the result")

    x5 = fold(x, n_spatial)
    stage = _plan._staging(x5.dtype, impl)  # float16 and byte-swapped
    if stage is not None:
        x5 = x5.astype(stage)
    pad3 = (1,) * (3 - n_spatial)
    weight5 = np.ascontiguousarray(weight.astype(compute).reshape(
        weight.shape[:2] + pad3 + weight.shape[2:]))
    bias1 = (np.zeros(n_out, compute) if bias is None
             else np.ascontiguousarray(bias.astype(compute)))
    padding3 = ((0, 0),) * (3 - n_spatial) + geometry.padding
    stride3 = pad3 + geometry.stride
    dilation3 = pad3 + geometry.dilation
    out5 = np.empty((x5.shape[0], n_out) + pad3 + out_shape[-n_spatial:], compute)
    if method == "direct":
        work = out5.size * math.prod(weight5.shape[1:])
        threaded = _methods.threaded(work, geometry, compute, x.nbytes)
        direct.conv.run(
            (x5, weight5, bias1, stride3, dilation3, tuple(b for b, _ in padding3),
             tuple(a for _, a in padding3), np.intp(direct.MODES.index(mode)),
             x5.dtype.type(cval)),
            out5, numba.get_num_threads() if threaded else 1, impl)
    else:
        products = {"shifted": _shifted, "im2col": _im2col}[method]
        if impl == "strided":
            products = _einsum
        for b in range(x5.shape[0]):
            item = padded_item(x5[b], padding3, mode, cval, compute)
            products(item, weight5, groups, stride3, dilation3, out5[b])
            out5[b] += bias1.reshape(n_out, 1, 1, 1)
    out[...] = out5.reshape(out_shape)
    return out


def check_layer(x, weight, bias, groups):
    """``(weight, bias, groups)`` checked against ``x`` (channels first)."""
    weight = np.asarray(weight)
    v.check_dtype(weight.dtype, "weight")
    if not 3 <= weight.ndim <= 5:
        raise ValueError(
            "weight must be (out_channels, in_channels // groups, *window) with 1 to 3 "
            f"window axes, got {weight.ndim} dimensions (shape {weight.shape})")
    if weight.size == 0:
        raise ValueError(f"weight must not be empty, got shape {weight.shape}")
    n_spatial = weight.ndim - 2
    if x.ndim < n_spatial + 1:
        raise ValueError(
            f"x must be (..., in_channels, *spatial) with {n_spatial} spatial axes for a "
            f"weight of shape {weight.shape}, got shape {x.shape}")
    groups = v._as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    n_in, n_out = x.shape[-n_spatial - 1], weight.shape[0]
    if n_in % groups or n_out % groups:
        raise ValueError(
            f"groups={groups} must divide the input channels ({n_in}) and the output "
            f"channels ({n_out})")
    if weight.shape[1] != n_in // groups:
        raise ValueError(
            f"weight has {weight.shape[1]} input channels per group, but x has {n_in} "
            f"channels in {groups} group(s): {n_in // groups} per group "
            f"(x shape {x.shape}, weight shape {weight.shape})")
    if bias is not None:
        bias = np.asarray(bias)
        v.check_dtype(bias.dtype, "bias")
        if bias.shape != (n_out,):
            raise ValueError(f"bias must have shape ({n_out},), one per output channel, "
                             f"got {bias.shape}")
    return weight, bias, groups


def choose(method, impl, geometry, weight_shape, groups, result):
    """``method`` with "auto" resolved: the loop interpreted, or where a
    product would be thin (depthwise layers); else the stride-1 products
    without a column matrix, or im2col."""
    if method == "shifted" and any(s != 1 for s in geometry.stride):
        raise ValueError(f"method='shifted' is for stride 1, got stride {geometry.stride}; use "
                         "method='im2col' or 'auto'")
    if method != "auto":
        return method
    depth = math.prod(weight_shape[1:])
    if impl == "python" or depth < PRODUCT_MIN_DEPTH:
        return "direct"
    return "shifted" if all(s == 1 for s in geometry.stride) else "im2col"


def fold(x, n_spatial):
    """``x`` (..., channels, *spatial) as 5-D (batch, channels, depth, rows, cols)."""
    batch = math.prod(x.shape[:-n_spatial - 1])
    return x.reshape((batch, x.shape[-n_spatial - 1]) + (1,) * (3 - n_spatial)
                     + x.shape[-n_spatial:])


def padded_item(item, padding3, mode, cval, dtype):
    """One batch item (channels, depth, rows, cols) padded as ``np.pad``
    says, in ``dtype``: the scratch of one item."""
    item = item.astype(dtype, copy=False)
    pads = ((0, 0),) + tuple(padding3)
    if mode == "constant":
        return np.pad(item, pads, constant_values=cval)
    return np.pad(item, pads, mode=mode)


def _window_view(item, window, stride, dilation):
    """The windows of a padded item: (channels, *out_spatial, *window), a view."""
    extent = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    view = np.lib.stride_tricks.sliding_window_view(item, extent, axis=(1, 2, 3))
    return view[:, ::stride[0], ::stride[1], ::stride[2], ::dilation[0], ::dilation[1],
                ::dilation[2]]


def _einsum(item, weight, groups, stride, dilation, out):
    """``out`` of one padded item by the vectorised reference
    (``impl="strided"``): per group, ``np.einsum`` of the weight with the
    window view, the formula as it reads."""
    group_out, group_in = weight.shape[0] // groups, weight.shape[1]
    view = _window_view(item, weight.shape[2:], stride, dilation)
    for g in range(groups):
        out[g * group_out:(g + 1) * group_out] = np.einsum(
            "ocijk,cdrsijk->odrs", weight[g * group_out:(g + 1) * group_out],
            view[g * group_in:(g + 1) * group_in])


def _im2col(item, weight, groups, stride, dilation, out):
    """``out`` (out_channels, *out_spatial) of one padded item by im2col:
    per group and tile of output rows, the window view gathered into a
    column matrix and multiplied by the group's weight matrix."""
    n_out, group_in = weight.shape[:2]
    group_out = n_out // groups
    window = weight.shape[2:]
    view = _window_view(item, window, stride, dilation)
    out_depth, out_rows, out_cols = out.shape[1:]
    depth = group_in * math.prod(window)
    rows = max(1, TILE_BYTES // (depth * out_cols * item.itemsize))
    for g in range(groups):
        matrix = weight[g * group_out:(g + 1) * group_out].reshape(group_out, depth)
        channels = view[g * group_in:(g + 1) * group_in]
        for d in range(out_depth):
            for r in range(0, out_rows, rows):
                tile = channels[:, d, r:r + rows]  # (channels, rows, cols, *window)
                columns = tile.transpose(0, 3, 4, 5, 1, 2).reshape(depth, -1)  # the gather
                out[g * group_out:(g + 1) * group_out, d, r:r + rows] = (
                    matrix @ columns).reshape(group_out, -1, out_cols)


def _shifted(item, weight, groups, stride, dilation, out):
    """``out`` (out_channels, *out_spatial) of one padded item at stride 1
    without a column matrix (see the module's docstring)."""
    n_out, group_in, window_depth, window_rows, window_cols = weight.shape
    group_out = n_out // groups
    n_channels, depth_p, rows_p, cols_p = item.shape
    out_depth, out_rows, out_cols = out.shape[1:]
    plane = rows_p * cols_p
    # Output grid row R = od * rows_p + oh, position q = R * cols_p + ow:
    # window element (i, j, k) is at q + offsets[i, j] + k * dilation[2].
    offsets = [[i * dilation[0] * plane + j * dilation[1] * cols_p
                for j in range(window_rows)] for i in range(window_depth)]
    halo = offsets[-1][-1] + (window_cols - 1) * dilation[2]
    grid_rows = (out_depth - 1) * rows_p + out_rows
    # The item, flat, and the elements the last grid columns would read past
    # its end (their outputs are dropped).
    flat = np.zeros((n_channels, grid_rows * cols_p + halo), item.dtype)
    flat[:, :item[0].size] = item.reshape(n_channels, -1)
    # Weights as (i, j, group, out, k, channel): the stacked columns' order.
    stacked_weight = weight.reshape(groups, group_out, group_in, window_depth, window_rows,
                                    window_cols).transpose(3, 4, 0, 1, 5, 2).reshape(
        window_depth, window_rows, groups, group_out, window_cols * group_in)
    tile_rows = max(1, TILE_BYTES // (window_cols * group_in * cols_p * item.itemsize))
    grid = np.empty((n_out, out_depth * rows_p * cols_p), item.dtype)
    for first in range(0, grid_rows, tile_rows):
        stop = min(first + tile_rows, grid_rows)
        low, high = first * cols_p, stop * cols_p
        span = high - low + offsets[-1][-1]
        for g in range(groups):
            channels = flat[g * group_in:(g + 1) * group_in]
            columns = np.stack([channels[:, low + k * dilation[2]:low + k * dilation[2] + span]
                                for k in range(window_cols)]).reshape(
                window_cols * group_in, span)
            target = grid[g * group_out:(g + 1) * group_out, low:high]
            term = np.empty(target.shape, item.dtype)
            for i in range(window_depth):
                for j in range(window_rows):
                    part = columns[:, offsets[i][j]:offsets[i][j] + high - low]
                    if i == j == 0:
                        np.matmul(stacked_weight[i, j, g], part, out=term)
                        target[...] = term
                    else:
                        np.matmul(stacked_weight[i, j, g], part, out=term)
                        target += term
    out[...] = grid.reshape(n_out, out_depth, rows_p, cols_p)[:, :, :out_rows, :out_cols]
