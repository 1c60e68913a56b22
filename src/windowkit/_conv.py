"""The convolutional layer's forward pass: :func:`windowkit.conv`.

PyTorch's ``conv1d``, ``conv2d`` and ``conv3d`` (a correlation without
conjugate, channels first, groups), folded to 5-D ``(batch, channels,
depth, rows, cols)`` and run by one of four methods:

- ``"direct"``: the textbook loop nest (:func:`windowkit.kernels.direct.conv`),
  padded positions read through :func:`windowkit.kernels.direct.source`.
- ``"rows"``: the same sum with the output row innermost
  (:func:`windowkit.kernels.correlate_rows.conv_rows`), vectorised along
  it: for layers whose products would be thin (depthwise ones).
- ``"im2col"``: the windows of a padded batch item gathered a tile of
  output rows at a time into a column matrix (input channels times window
  elements, by output positions; :func:`windowkit.kernels.columns.gather_columns`,
  the copy of the notebook's stride-trick view) and multiplied by the
  weight matrix in one product: "cut it up first, then compute it all at
  once". Any stride and dilation.
- ``"shifted"`` (stride 1): no column matrix. On the padded item laid out
  flat, output position ``q`` of a grid as wide as the padded rows reads
  window element ``(i, j, k)`` at ``q + offset(i, j, k)``, so each window
  element's slice of the input is a matrix already (channels by
  positions, a view). The window's columns are stacked (a copy as large
  as ``window_cols`` tiles of the input), and each window row ``(i, j)``
  adds one matrix product to the output tile; the grid's columns past the
  output's width are computed and dropped.

``impl="strided"`` runs :class:`Einsum`, the vectorised reference. The
products run in numpy's BLAS; above the threading threshold the batch
items run side by side on windowkit's threads (:func:`on_items`).
Scratch: one padded batch item and tiles of about :data:`TILE_BYTES` per
thread, never the whole column matrix of a large input.

:func:`weight_gradient` and, at strides above 1, :func:`input_gradient`
(col2im, the adjoint of the gather) serve :func:`windowkit.grad.conv` with
the same layouts.
"""

import contextlib
import math

import numba
import numpy as np

from . import _methods, _plan
from . import _validation as v
from .kernels import direct
from .kernels._jit import thread_pool
from .kernels.columns import gather_columns, scatter_columns
from .kernels.correlate_rows import conv_rows, conv_weight_rows

CONV_METHODS = ("auto", "direct", "rows", "im2col", "shifted")
# The scratch a tile's column matrix (or stacked columns) may take. Larger
# tiles make larger products, which numpy's BLAS runs nearer its peak: on
# (32, 64, 56, 56) float32 with a (64, 64, 3, 3) weight, tiles of 256 KB,
# 1 MB and 4 MB took 61, 49 and 41 ms ("shifted"; "im2col" at stride 2:
# 21, 18 and 17 ms), 8 MB no less than 4 (medians of 5, this machine).
TILE_BYTES = 1 << 22
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
    shape5 = (x5.shape[0], n_out) + pad3 + out_shape[-n_spatial:]
    # The methods write into out itself where they can (a view), else into
    # an array in the dtype they compute in, copied into out at the end.
    writes_out = out.dtype == compute and out.flags.c_contiguous
    out5 = out.reshape(shape5) if writes_out else np.empty(shape5, compute)
    work = out5.size * math.prod(weight5.shape[1:])  # multiply-adds
    threaded = _methods.threaded(work, geometry, compute, x.nbytes)
    if method == "direct" and impl != "strided":
        direct.conv.run(
            (x5, weight5, bias1, stride3, dilation3, tuple(b for b, _ in padding3),
             tuple(a for _, a in padding3), np.intp(direct.MODES.index(mode)),
             x5.dtype.type(cval)),
            out5, numba.get_num_threads() if threaded else 1, impl)
    elif method == "rows" and impl != "strided":
        if threaded and x5.shape[0] > 1:
            # Items side by side, one thread each: one item's padding
            # overlaps another's loop.
            def run(items):
                padded = Padder(x5.shape[1:], padding3, mode, cval, compute)
                for b in items:
                    conv_rows.run((padded.fill(x5[b]), weight5, bias1, stride3, dilation3),
                                  out5[b], 1, impl)

            on_items(run, x5.shape[0], True, products=False)
        else:
            padded = Padder(x5.shape[1:], padding3, mode, cval, compute)
            for b in range(x5.shape[0]):
                conv_rows.run((padded.fill(x5[b]), weight5, bias1, stride3, dilation3),
                              out5[b], numba.get_num_threads() if threaded else 1, impl)
    else:
        kind = Einsum if impl == "strided" else {"shifted": Shifted, "im2col": Im2col}[method]

        def run(items):
            products = kind(x5.shape[1:], padding3, weight5, bias1, groups, stride3,
                            dilation3, out5.shape[2:])
            padded = Padder(x5.shape[1:], padding3, mode, cval, compute, products.slack)
            for b in items:
                padded.fill(x5[b])
                products(padded, out5[b])

        on_items(run, x5.shape[0], threaded)
    if not writes_out:
        out[...] = out5.reshape(out_shape)
    return out


def on_items(run, n_items, threaded, products=True):
    """``run(items)`` over batch items ``0 .. n_items - 1``, the list of its
    results: in one call, or
    (``threaded``, two items or more) in one contiguous range per thread on
    windowkit's thread pool, each with its own scratch, numpy's BLAS then
    one thread per call. The copies between the products (padding,
    stacking, cropping) run on one thread in numpy; side by side, two items'
    copies and products overlap: on (32, 64, 56, 56) float32 with a (64, 64,
    3, 3) weight, 41-50 ms against 57-59 ms with BLAS's own two threads.
    ``products=False``: ``run`` makes no BLAS call (a loop's items), and
    runs on threads whatever BLAS does."""
    n_threads = min(numba.get_num_threads(), n_items) if threaded else 1
    limit = None
    if n_threads > 1:
        limit = _blas_limit(1) if products else contextlib.nullcontext()
    if limit is None:
        return [run(range(n_items))]
    bounds = [n_items * i // n_threads for i in range(n_threads + 1)]
    with limit:
        pending = [thread_pool().submit(run, range(bounds[i], bounds[i + 1]))
                   for i in range(1, n_threads)]
        first = run(range(bounds[0], bounds[1]))
        return [first] + [future.result() for future in pending]


_CONTROLLER = []


def _blas_limit(n_threads):
    """A context limiting numpy's BLAS to ``n_threads`` threads
    (threadpoolctl), or None where threadpoolctl cannot see it."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    controller = _CONTROLLER[0]
    if not controller.select(user_api="blas").lib_controllers:
        return None
    return controller.limit(limits=n_threads, user_api="blas")


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
    """``method`` with "auto" resolved (see :func:`auto_choice`)."""
    if method == "shifted" and any(s != 1 for s in geometry.stride):
        raise ValueError(f"method='shifted' is for stride 1, got stride {geometry.stride}; use "
                         "method='im2col' or 'auto'")
    if method != "auto":
        return method
    if impl == "python":
        return "direct"
    return auto_choice(geometry, weight_shape).method


def auto_choice(geometry, weight_shape):
    """What ``method="auto"`` runs, and why (a :class:`MethodChoice`): the
    vectorised loop where a product would be thin (depthwise layers), else
    the stride-1 products without a column matrix, or im2col."""
    depth = math.prod(weight_shape[1:])
    work = math.prod(geometry.out_shape) // geometry.out_shape[
        len(geometry.out_shape) - len(weight_shape) + 1] * weight_shape[0] * depth
    if depth < PRODUCT_MIN_DEPTH:
        return _methods.MethodChoice(
            "rows", f"{depth} multiply-adds per output (input channels per group times "
            f"the window), below {PRODUCT_MIN_DEPTH}: a matrix product would be too thin; "
            "the loop with the output row innermost", work)
    if all(s == 1 for s in geometry.stride):
        return _methods.MethodChoice(
            "shifted", f"{depth} multiply-adds per output at stride 1: one product per window "
            "row on the padded input laid out flat, no column matrix", work)
    return _methods.MethodChoice(
        "im2col", f"{depth} multiply-adds per output at stride {geometry.stride}: each tile's "
        "windows gathered into a column matrix, one product", work)


def fold(x, n_spatial):
    """``x`` (..., channels, *spatial) as 5-D (batch, channels, depth, rows, cols)."""
    batch = math.prod(x.shape[:-n_spatial - 1])
    return x.reshape((batch, x.shape[-n_spatial - 1]) + (1,) * (3 - n_spatial)
                     + x.shape[-n_spatial:])


class Padder:
    """Batch items padded as ``np.pad`` says, in ``dtype``, one at a time
    into one scratch array: ``flat`` is (channels, padded elements +
    ``slack``), the slack zeros, and ``item`` its padded item (channels,
    depth, rows, cols), a view. With ``mode="constant"`` the border is set
    to ``cval`` once and each item copied into the interior."""

    def __init__(self, shape, padding3, mode, cval, dtype, slack=0):
        self.pads = ((0, 0),) + tuple(padding3)
        self.mode = mode
        padded = tuple(n + b + a for n, (b, a) in zip(shape, self.pads))
        size = math.prod(padded[1:])
        self.flat = np.zeros((shape[0], size + slack), dtype)
        self.item = self.flat[:, :size].reshape(padded)
        self.interior = tuple(slice(b, b + n) for n, (b, _) in zip(shape, self.pads))
        if mode == "constant":
            self.item[...] = cval

    def fill(self, item):
        """Pad ``item`` into the scratch; return the padded item."""
        if self.mode == "constant":
            self.item[self.interior] = item
        else:
            self.item[...] = np.pad(item, self.pads, mode=self.mode)
        return self.item


def _window_view(item, window, stride, dilation):
    """The windows of a padded item: (channels, *out_spatial, *window), a view."""
    extent = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    view = np.lib.stride_tricks.sliding_window_view(item, extent, axis=(1, 2, 3))
    return view[:, ::stride[0], ::stride[1], ::stride[2], ::dilation[0], ::dilation[1],
                ::dilation[2]]


class Einsum:
    """The vectorised reference (``impl="strided"``): per group of a padded
    item, ``np.einsum`` of the weights with the window view, the formula
    as it reads."""

    slack = 0

    def __init__(self, shape, padding3, weight, bias, groups, stride, dilation, out_spatial):
        self.weight, self.bias, self.groups = weight, bias, groups
        self.stride, self.dilation = stride, dilation

    def __call__(self, padded, out):
        weight, groups = self.weight, self.groups
        group_out, group_in = weight.shape[0] // groups, weight.shape[1]
        view = _window_view(padded.item, weight.shape[2:], self.stride, self.dilation)
        for g in range(groups):
            out[g * group_out:(g + 1) * group_out] = np.einsum(
                "ocijk,cdrsijk->odrs", weight[g * group_out:(g + 1) * group_out],
                view[g * group_in:(g + 1) * group_in])
        out += self.bias.reshape(-1, 1, 1, 1)


class Im2col:
    """im2col: per group and tile of output rows of a padded item, the
    windows gathered into a column matrix (the group's input channels
    times the window elements, by the tile's output positions;
    :func:`windowkit.kernels.columns.gather_columns`, the copy of the
    stride-trick window view) and multiplied by the group's weight matrix."""

    slack = 0

    def __init__(self, shape, padding3, weight, bias, groups, stride, dilation, out_spatial):
        n_out, group_in = weight.shape[:2]
        self.groups, self.group_in, self.group_out = groups, group_in, n_out // groups
        self.window, self.stride, self.dilation = weight.shape[2:], stride, dilation
        self.depth = group_in * math.prod(self.window)
        self.matrices = weight.reshape(groups, self.group_out, self.depth)
        self.bias = bias.reshape(groups, self.group_out, 1, 1)
        self.has_bias = bool(np.any(bias))
        out_cols = out_spatial[2]
        self.tile_rows = max(1, min(out_spatial[1],
                                    TILE_BYTES // (self.depth * out_cols * weight.itemsize)))
        size = self.tile_rows * out_cols
        # Flat, so that a shorter last tile is a contiguous matrix too.
        self.columns = np.empty(self.depth * size, weight.dtype)
        self.product = np.empty(self.group_out * size, weight.dtype)

    def __call__(self, padded, out):
        group_in, group_out, rows = self.group_in, self.group_out, self.tile_rows
        out_depth, out_rows, out_cols = out.shape[1:]
        for g in range(self.groups):
            channels = padded.item[g * group_in:(g + 1) * group_in]
            for d in range(out_depth):
                for r in range(0, out_rows, rows):
                    n_rows = min(rows, out_rows - r)
                    size = n_rows * out_cols
                    columns = self.columns[:self.depth * size].reshape(self.depth, size)
                    gather_columns.run((channels, self.window, self.stride, self.dilation,
                                        (d, r, n_rows, out_cols)), columns)
                    target = out[g * group_out:(g + 1) * group_out, d, r:r + n_rows]
                    if target.flags.c_contiguous:  # the tile's rows are all of out's
                        np.matmul(self.matrices[g], columns,
                                  out=target.reshape(group_out, size))
                        if self.has_bias:
                            target += self.bias[g]
                        continue
                    product = self.product[:group_out * size].reshape(group_out, size)
                    np.matmul(self.matrices[g], columns, out=product)
                    np.add(product.reshape(group_out, n_rows, out_cols), self.bias[g],
                           out=target)


class Shifted:
    """Stride 1 without a column matrix (see the module's docstring), on
    the padded item laid out flat (:class:`Padder`'s ``flat``, with
    ``slack`` elements past its end for the last grid columns to read).

    Output grid row ``R = od * rows_p + oh`` (rows ``oh`` up to the padded
    height ``rows_p``), position ``q = R * cols_p + ow``: window element
    ``(i, j, k)`` is at ``q + offsets[i][j] + k * dilation_cols``. Tiles
    are output rows (a 1-D or 2-D item) or depth planes; the tile's
    window columns are stacked into one matrix (``window_cols`` times the
    group's channels, by the tile's positions and the span the offsets
    add), and each ``(i, j)`` adds the product of its weights with a
    slice of it. Grid columns from the output's width on are dropped.
    """

    def __init__(self, shape, padding3, weight, bias, groups, stride, dilation, out_spatial):
        n_out, group_in, window_depth, window_rows, window_cols = weight.shape
        self.groups, self.group_in, self.group_out = groups, group_in, n_out // groups
        self.window_cols, self.dilation_cols = window_cols, dilation[2]
        _, rows_p, cols_p = (n + b + a for n, (b, a) in zip(shape[1:], padding3))
        self.cols_p = cols_p
        self.out_spatial = out_spatial
        self.offsets = [(i * dilation[0] * rows_p * cols_p + j * dilation[1] * cols_p, i, j)
                        for i in range(window_depth) for j in range(window_rows)]
        halo = self.offsets[-1][0]
        self.slack = halo + (window_cols - 1) * dilation[2]
        # Weights as (i, j, group, out, k, channel): the stacked columns' order.
        self.weights = weight.reshape(groups, self.group_out, group_in, window_depth,
                                      window_rows, window_cols).transpose(3, 4, 0, 1, 5, 2)
        self.weights = np.ascontiguousarray(self.weights).reshape(
            window_depth, window_rows, groups, self.group_out, window_cols * group_in)
        self.bias = bias.reshape(groups, self.group_out, 1, 1, 1)
        # A tile is unit_rows grid rows: a depth plane, or an output row.
        out_depth, out_rows, out_cols = out_spatial
        self.unit_rows = rows_p if out_depth > 1 else 1
        self.units = out_depth if out_depth > 1 else out_rows
        unit = self.unit_rows * cols_p
        per_unit = window_cols * group_in * unit * weight.itemsize
        self.tile_units = max(1, min(self.units, TILE_BYTES // per_unit))
        span = self.tile_units * unit + halo
        self.columns = np.empty((window_cols * group_in, span), weight.dtype)
        self.product = np.empty((self.group_out, self.tile_units * unit), weight.dtype)
        self.term = np.empty_like(self.product)

    def __call__(self, padded, out):
        group_in, group_out, cols_p = self.group_in, self.group_out, self.cols_p
        out_depth, out_rows, out_cols = self.out_spatial
        halo = self.offsets[-1][0]
        for first in range(0, self.units, self.tile_units):
            stop = min(first + self.tile_units, self.units)
            low = first * self.unit_rows * cols_p
            size = (stop - first) * self.unit_rows * cols_p
            columns = self.columns[:, :size + halo]
            product, term = self.product[:, :size], self.term[:, :size]
            for g in range(self.groups):
                channels = padded.flat[g * group_in:(g + 1) * group_in]
                for k in range(self.window_cols):
                    start = low + k * self.dilation_cols
                    columns[k * group_in:(k + 1) * group_in] = channels[:, start:start + size
                                                                        + halo]
                for n, (offset, i, j) in enumerate(self.offsets):
                    part = columns[:, offset:offset + size]
                    np.matmul(self.weights[i, j, g], part, out=product if n == 0 else term)
                    if n:
                        product += term
                grid = product.reshape(group_out, stop - first, self.unit_rows, cols_p)
                if out_depth > 1:
                    target = out[g * group_out:(g + 1) * group_out, first:stop]
                    grid = grid[:, :, :out_rows, :out_cols]
                else:
                    target = out[g * group_out:(g + 1) * group_out, :, first:stop]
                    grid = grid[:, :, 0, :out_cols].reshape(group_out, 1, stop - first, out_cols)
                np.add(grid, self.bias[g], out=target)


def weight_gradient(x, grad_output, weight_shape, stride, padding, mode, cval, dilation,
                    groups, method="auto"):
    """The gradient of :func:`conv`'s weight: ``sum over b, p of
    grad_output[b, o, p] * x_padded[b, c, p * stride + a * dilation]`` for
    window element ``a``: per batch item and group, the output gradient
    (out channels by positions) times the input's positions each window
    element reads (positions by channels).

    At stride 1 those positions are slices of the padded item laid out
    flat (as ``"shifted"`` reads them), with the window's columns stacked
    (one product per window row), the output gradient laid on the same
    grid with zeros in the columns past the output's width. At other
    strides the positions are gathered into the column matrix
    (:func:`windowkit.kernels.columns.gather_columns`, one depth plane at a
    time), one product per plane and group. Where the products would be
    thin (``method="rows"``, or ``"auto"`` choosing it: depthwise layers),
    :func:`windowkit.kernels.correlate_rows.conv_weight_rows` sums them
    with the output rows innermost instead, any stride. ``x`` is (batch,
    C_in, *spatial), ``grad_output`` (batch, C_out, *out_spatial), both of
    the gradient's float dtype.
    """
    n_spatial = len(weight_shape) - 2
    pad3 = (1,) * (3 - n_spatial)
    x5 = fold(x, n_spatial)
    g5 = fold(grad_output, n_spatial)
    window_depth, window_rows, window_cols = window = pad3 + tuple(weight_shape[2:])
    stride3, dilation3 = pad3 + tuple(stride), pad3 + tuple(dilation)
    padding3 = ((0, 0),) * (3 - n_spatial) + tuple(padding)
    n_out, group_in = weight_shape[:2]
    group_out = n_out // groups
    dtype = g5.dtype
    work = g5.size * math.prod(weight_shape[1:])
    threaded = _methods.threaded(work, _work_geometry(g5.shape), dtype, x.nbytes)
    thin = group_in * math.prod(window) < PRODUCT_MIN_DEPTH
    if method == "rows" or method == "auto" and thin:
        # Each item's gradient apart, summed in item order (as below).
        parts = np.empty((x5.shape[0],) + tuple(weight_shape[:2]) + window, dtype)
        zero = dtype.type(0)
        g5 = np.ascontiguousarray(g5)  # the loop reads its rows as contiguous

        def run(items):
            padded = Padder(x5.shape[1:], padding3, mode, cval, dtype)
            for b in items:
                conv_weight_rows.run((padded.fill(x5[b]), g5[b], stride3, dilation3, zero),
                                     parts[b])

        on_items(run, x5.shape[0], threaded, products=False)
        grads = parts.sum(axis=0)
    elif all(s == 1 for s in stride3):
        grads = _shifted_weight_gradient(x5, g5, window, padding3, mode, cval, dilation3,
                                         groups, group_in, threaded)
    else:
        # Each item's gradient apart, summed in item order: the same sums
        # whatever the thread count.
        elements = math.prod(window)
        # Each part transposed, (in, *window) by out: BLAS runs the product
        # with the column matrix first faster (174 against 128 GFLOP/s on
        # one thread for a (576, 784) column matrix and 64 outputs).
        parts = np.empty((x5.shape[0], groups, group_in * elements, group_out), dtype)
        out_depth, out_rows, out_cols = g5.shape[2:]

        def run(items):
            padded = Padder(x5.shape[1:], padding3, mode, cval, dtype)
            columns = np.empty((group_in * elements, out_rows * out_cols), dtype)
            for b in items:
                padded.fill(x5[b])
                for g in range(groups):
                    channels = padded.item[g * group_in:(g + 1) * group_in]
                    for d in range(out_depth):
                        gather_columns.run((channels, window, stride3, dilation3,
                                            (d, 0, out_rows, out_cols)), columns)
                        gradient = g5[b, g * group_out:(g + 1) * group_out, d].reshape(
                            group_out, -1)
                        if d == 0:
                            np.matmul(columns, gradient.T, out=parts[b, g])
                        else:
                            parts[b, g] += columns @ gradient.T

        on_items(run, x5.shape[0], threaded)
        # (batch, groups, (in, *window), out) summed to (C_out, C_in // groups, *window).
        grads = parts.sum(axis=0).transpose(0, 2, 1)  # (groups, out, (in, *window))
    return np.ascontiguousarray(grads.reshape(weight_shape))


def input_gradient(grad_output, weight, x_shape, stride, padding, dilation, groups,
                   crop=False):
    """The gradient of :func:`conv`'s input over the padded positions (col2im),
    for strides above 1: per batch item, group and tile of output rows, the
    column matrix's gradient (the group's weight matrix transposed times
    the tile's output gradient) added back to the padded positions it reads
    (:func:`windowkit.kernels.columns.scatter_columns`, the adjoint of the
    gather). The same multiply-adds as the forward product, where the
    transposed convolution would run on an output gradient dilated with
    ``stride - 1`` zeros (at stride 2 in 2-D, four times the work).

    ``grad_output`` is (batch, C_out, *out_spatial) and ``weight`` (C_out,
    C_in // groups, *window), both of the gradient's float dtype. Returns
    (batch, C_in, *padded_spatial): position 0 of each spatial axis is the
    first of the padding before; positions no window reads hold 0. With
    ``crop``, only the input's own positions, ``x_shape`` (what a constant
    padding sends back: nothing), each item cropped from its thread's
    scratch.
    """
    n_spatial = weight.ndim - 2
    pad3 = (1,) * (3 - n_spatial)
    g5 = fold(grad_output, n_spatial)
    window = pad3 + weight.shape[2:]
    stride3, dilation3 = pad3 + tuple(stride), pad3 + tuple(dilation)
    padding3 = ((0, 0),) * (3 - n_spatial) + tuple(padding)
    n_out, group_in = weight.shape[:2]
    group_out = n_out // groups
    depth = group_in * math.prod(window)
    dtype = g5.dtype
    matrices = np.ascontiguousarray(weight.reshape(groups, group_out, depth).transpose(0, 2, 1))
    spatial3 = pad3 + tuple(x_shape[2:])
    padded_shape = tuple(n + b + a for n, (b, a) in zip(spatial3, padding3))
    n_in = group_in * groups
    if crop:
        grad = np.empty((g5.shape[0], n_in) + spatial3, dtype)
        own = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(spatial3, padding3))
    else:
        grad = np.zeros((g5.shape[0], n_in) + padded_shape, dtype)
    out_depth, out_rows, out_cols = g5.shape[2:]
    tile_rows = max(1, min(out_rows, TILE_BYTES // (depth * out_cols * dtype.itemsize)))
    work = g5.size * math.prod(weight.shape[1:])
    threaded = _methods.threaded(work, _work_geometry(g5.shape), dtype, grad.nbytes)

    def run(items):
        columns = np.empty(depth * tile_rows * out_cols, dtype)
        scratch = np.empty((n_in,) + padded_shape, dtype) if crop else None
        for b in items:
            if crop:
                scratch[...] = 0
            item = scratch if crop else grad[b]
            for g in range(groups):
                target = item[g * group_in:(g + 1) * group_in]
                for d in range(out_depth):
                    for r in range(0, out_rows, tile_rows):
                        n_rows = min(tile_rows, out_rows - r)
                        size = n_rows * out_cols
                        tile = columns[:depth * size].reshape(depth, size)
                        gradient = g5[b, g * group_out:(g + 1) * group_out, d, r:r + n_rows]
                        np.matmul(matrices[g], gradient.reshape(group_out, size), out=tile)
                        scatter_columns.run((tile, window, stride3, dilation3,
                                             (d, r, n_rows, out_cols)), target)
            if crop:
                grad[b] = scratch[own]

    on_items(run, g5.shape[0], threaded)
    return grad.reshape(grad.shape[:2] + grad.shape[5 - n_spatial:])


def _work_geometry(out_shape5):
    """A geometry of the output's shape, as :func:`_methods.threaded` reads one."""
    return v.Geometry((2, 3, 4), (1, 1, 1), (1, 1, 1), tuple(out_shape5))


def _shifted_weight_gradient(x5, g5, window, padding3, mode, cval, dilation, groups, group_in,
                             threaded):
    """:func:`weight_gradient` at stride 1: (C_out, C_in // groups, depth,
    rows, cols) of the window."""
    window_depth, window_rows, window_cols = window
    n_out = g5.shape[1]
    group_out = n_out // groups
    dtype = g5.dtype
    rows_p, cols_p = (n + b + a for n, (b, a) in zip(x5.shape[3:], padding3[1:]))
    plane = rows_p * cols_p
    out_depth, out_rows, out_cols = g5.shape[2:]
    size = ((out_depth - 1) * rows_p + out_rows) * cols_p  # grid positions
    offsets = [(i * dilation[0] * plane + j * dilation[1] * cols_p, i, j)
               for i in range(window_depth) for j in range(window_rows)]
    halo = offsets[-1][0]

    def run(items):
        # The last column's slice ends (window_cols - 1) * dilation past the item.
        padded = Padder(x5.shape[1:], padding3, mode, cval, dtype,
                        (window_cols - 1) * dilation[2])
        grid = np.zeros((n_out, out_depth * plane), dtype)
        on_grid = grid.reshape(n_out, out_depth, rows_p, cols_p)[:, :, :out_rows, :out_cols]
        gradient = grid[:, :size].reshape(groups, group_out, size)
        # The window's columns stacked per group: rows (group, column, channel).
        columns = np.empty((groups, window_cols, group_in, size + halo), dtype)
        stacked = columns.reshape(groups, window_cols * group_in, size + halo)
        for b in items:
            padded.fill(x5[b])
            on_grid[...] = g5[b]
            flat = padded.flat.reshape(groups, group_in, -1)
            for k in range(window_cols):
                start = k * dilation[2]
                columns[:, k] = flat[:, :, start:start + size + halo]
            for offset, i, j in offsets:
                read = stacked[:, :, offset:offset + size]
                # Transposed, (cols, in) by out: BLAS runs the product with
                # the positions' matrix first faster (156 against 126
                # GFLOP/s on one thread for 192 rows of 3364 positions).
                np.matmul(read, gradient.transpose(0, 2, 1), out=parts[b, i, j])

    # Each item's gradient apart, summed in item order: the same sums
    # whatever the thread count.
    parts = np.empty((x5.shape[0], window_depth, window_rows, groups, window_cols * group_in,
                      group_out), dtype)
    on_items(run, x5.shape[0], threaded)
    grads = parts.sum(axis=0)
    # (depth, rows, groups, cols, in, out) to (C_out, C_in // groups, *window).
    grads = grads.reshape(window_depth, window_rows, groups, window_cols, group_in, group_out)
    return grads.transpose(2, 5, 4, 0, 1, 3).reshape(
        (n_out, group_in, window_depth, window_rows, window_cols))
