"""Missing data on the pools: ``nan_policy``, ``min_count``, masked arrays and
``return_indices``.

Valid windows of an ndarray (not masked, not Dask; not ``method="direct"``
or ``impl="strided"``) run loops that skip NaN or locate as they pool:

- float max and min under ``"omit"``: the fast loops' NaN-skipping copies
  (reduction codes ``NANMAX`` and ``NANMIN``: the same comparisons as NaN
  propagation, asking whether the running value is NaN rather than the
  new one);
- float sums and means under ``"omit"``: the separable and van Herk loops
  that count each window's values beside its sum
  (:func:`windowkit.kernels.separable.held_sum_pool`,
  :func:`windowkit.kernels.van_herk.held_van_herk_pool`), ``min_count``
  applied inside;
- ``return_indices``: values and coordinates in one pass
  (:func:`windowkit.kernels.indexed.indexed_extreme_pool`), whatever the
  method, since a max or min and the first of its equals are the same by
  every method.

Beyond valid windows (padding, dilation, ``ceil_mode``) a float ndarray's
values under ``"omit"`` come from the same loops, on the interior in place
and on each border strip's gathered piece, whose positions of no element
are NaN: no value (:func:`windowkit._padded.pool` with ``skip_nan``).

Everything else but the textbook loop (masked arrays, Dask, complex sums,
``return_indices`` beyond valid windows) runs the ordinary pools (every
method, geometry and Dask) on arrays made from the input:

- the values: a window's NaN-skipping max, min or sum is the ordinary one
  of the input with each missing element (a NaN under ``"omit"``, a masked
  element) replaced by the value that never wins, or adds nothing
  (:func:`windowkit._padded.identity`);
- the count of values in each window, when it decides something (a mean,
  a ``min_count`` above 1, a window whose max is the filling itself): the
  ordinary sum pool of the values' mask, in the result's float dtype
  where every count is exact in it (a sum of ones), else in int64;
- the indices: the first element of each window, in its row-major order,
  that equals the window's pooled value (a NaN value: its first NaN), by
  the textbook scan :func:`windowkit.kernels.direct.locate_extreme`.

On a Dask array the values are the lazy pool; each block of indices is the
scan on the padded region its windows cover, gathered from the input.

``method="direct"`` under ``"omit"`` runs the textbook loops, padded
geometry and all, with a NaN taken as no value
(:func:`windowkit.kernels.direct.padded_extreme_pool` and
:func:`windowkit.kernels.direct.padded_sum_pool`, their ``skip_nan``).

This module is called by :mod:`windowkit._api`, which hands it the call
as a function of the array to pool; it imports the plan layer, never the
public functions.
"""

import dataclasses
import math
import operator

import numba
import numpy as np

from . import _dask, _methods, _padded, _plan
from . import _validation as v
from .kernels import adjoint, direct, indexed

NAN_POLICIES = ("propagate", "omit", "raise")


def is_plain_call(x, nan_policy, min_count, return_indices):
    """Whether a pool call asks for none of this module (the common call's test)."""
    return (type(nan_policy) is str and nan_policy == "propagate" and min_count is None
            and return_indices is False and not is_masked(x))


def is_masked(x):
    """Whether ``x`` is a masked array, or a Dask array of masked blocks
    (``dask.array.ma``: its ``_meta`` says so)."""
    return isinstance(x, np.ma.MaskedArray) or (
        _dask.is_dask_array(x) and isinstance(x._meta, np.ma.MaskedArray))


def check_arguments(reduce, nan_policy, min_count, return_indices, masked):
    """The arguments' errors; returns ``min_count`` as an int (None: 1)."""
    v.check_choice(nan_policy, "nan_policy", NAN_POLICIES)
    if type(return_indices) is not bool and not isinstance(return_indices, np.bool_):
        raise TypeError(f"return_indices must be True or False, got {return_indices!r}")
    if return_indices and reduce not in ("max", "min"):
        raise ValueError(
            f"return_indices=True is for max and min pooling, got reduce={reduce!r}: "
            "a sum or mean has no one element it came from")
    if min_count is None:
        return 1
    if nan_policy != "omit" and not masked:
        raise ValueError(
            f"min_count is for nan_policy='omit' (or a masked array), got "
            f"nan_policy={nan_policy!r}: only skipped values leave a window short")
    if isinstance(min_count, (bool, np.bool_)):
        raise TypeError(f"min_count must be a non-negative integer, got {min_count!r}")
    try:
        min_count = operator.index(min_count)
    except TypeError:
        raise TypeError(f"min_count must be a non-negative integer, got {min_count!r}") from None
    if min_count < 0:
        raise ValueError(f"min_count must be a non-negative integer, got {min_count}")
    return min_count


def fewest_values(geometry, shape, mode):
    """The fewest elements any window holds: positions left out by
    ``"ignore"`` and past a ``ceil_mode`` window's padded end do not count.

    Along each axis only the windows that reach past the positions that
    hold elements are counted; any other holds all ``k``.
    """
    fewest = 1
    padding = geometry.padding or ((0, 0),) * len(geometry.axes)
    dilation = geometry.dilation or (1,) * len(geometry.axes)
    for axis, k, s, d, (before, after) in zip(geometry.axes, geometry.window, geometry.stride,
                                              dilation, padding):
        n, n_out, e = shape[axis], geometry.out_shape[axis], (k - 1) * d + 1
        if n_out == 0:
            return 0
        low, high = (before, before + n) if mode == "ignore" else (0, n + before + after)
        # Outputs before first_inside start before low; from last_inside on
        # they end past high.
        first_inside = min(n_out, -(-low // s))
        last_inside = max(first_inside, min(n_out, (high - e) // s + 1))
        outputs = np.r_[0:first_inside, last_inside:n_out]
        along = k if first_inside < last_inside else n + before + after
        if outputs.size:
            counts = _padded.window_counts(n_out, k, s, d, low, high, outputs)
            along = min(along, int(counts.min()))
        fewest *= along
    return fewest


class Call:
    """One pool call's arguments besides the array: what :func:`pool` needs
    of them, and ``run(array, reduce, cval, out)``, the ordinary pool of
    another array with the call's geometry and ``impl``."""

    def __init__(self, window, stride, axes, padding, mode, cval, dilation, ceil_mode, impl,
                 method, run):
        self.window, self.stride, self.axes = window, stride, axes
        self.padding, self.mode, self.cval = padding, mode, cval
        self.dilation, self.ceil_mode = dilation, ceil_mode
        self.impl, self.method, self.run = impl, method, run

    def geometry(self, shape):
        return v.geometry(shape, self.window, self.stride, self.axes, default_stride="window",
                          padding=self.padding, dilation=self.dilation, ceil_mode=self.ceil_mode)


def pool(x, call, reduce, nan_policy, min_count, return_indices, out):
    """The pool of ``x`` (an array-like, a masked array or a Dask array)
    under ``nan_policy``, ``min_count`` and ``return_indices``."""
    lazy = _dask.is_dask_array(x)
    masked = is_masked(x)
    given_min_count = min_count
    min_count = check_arguments(reduce, nan_policy, min_count, return_indices, masked)
    if lazy:
        _dask.check_input(x, out)
        import dask.array as da

        data, mask = (da.ma.getdata(x), da.ma.getmaskarray(x)) if masked else (x, None)
    else:
        data = v.as_input_array(np.ma.getdata(x) if masked else x)
        mask = np.ma.getmaskarray(x) if masked else None
    geometry = call.geometry(data.shape)
    mode, cval = v.boundary(call.mode, call.cval, data.dtype, "pool")
    result_dtype = v.pool_dtype(reduce, data.dtype)
    if lazy and return_indices:
        values = pool(x, call, reduce, nan_policy, given_min_count, False, None)
        indices = _lazy_indices(x, values, geometry, mode, cval, nan_policy, call.impl)
        if masked:  # a window short of min_count points nowhere, as in the numpy call
            indices = da.where(da.ma.getmaskarray(values)[..., None], np.int64(-1), indices)
        return values, indices
    values_out, indices_out = _outputs(out, return_indices)
    if values_out is not None:
        # Checked before anything is computed; written once at the end.
        v.prepare_out(values_out, geometry.out_shape, result_dtype, data)
    if indices_out is not None:
        v.prepare_out(indices_out, geometry.out_shape + (len(geometry.axes),),
                      np.dtype(np.int64), data)
        if values_out is not None and np.shares_memory(values_out, indices_out):
            raise ValueError("out's values and indices share memory; pass two separate arrays")

    can_be_nan = data.dtype.kind in "fc"
    if nan_policy == "raise" and can_be_nan:
        if lazy:
            data = (da.map_blocks(_refuse_nan, data, mask, dtype=data.dtype) if masked
                    else data.map_blocks(_refuse_nan, dtype=data.dtype))
        elif np.isnan(data if mask is None else data[~mask]).any():
            raise ValueError("x holds NaN, and nan_policy='raise'")
    # Integer and bool results cannot hold NaN: a window that may fall short
    # of min_count is an error, unless a mask can mark it.
    fewest = fewest_values(geometry, data.shape, mode)
    if not masked and result_dtype.kind not in "fc" and min_count > fewest:
        raise ValueError(
            f"min_count={min_count}, but some windows hold only {fewest} elements, and a "
            f"{result_dtype} result cannot hold the NaN such a window gives; lower "
            "min_count, or pool a float copy of x")
    # Valid windows of an ndarray: the loops that locate, or skip NaN, as
    # they pool (see the module's docstring).
    fast_loops = (not masked and not lazy and geometry.is_valid and call.impl != "strided"
                  and call.method != "direct")
    if fast_loops and return_indices:
        return _indexed_extremes(data, geometry, call, reduce, nan_policy == "omit",
                                 min_count, values_out, indices_out)
    skipping_loops = fast_loops and nan_policy == "omit" and data.dtype.kind == "f"
    if skipping_loops and reduce in ("sum", "mean") and _plan.held_counts_exact(
            result_dtype, math.prod(geometry.window)):
        return _plan.pool(data, geometry.window, geometry.stride, geometry.axes, reduce,
                          call.method, call.impl, values_out, skip_nan=True,
                          min_count=min_count)
    if skipping_loops and reduce in ("max", "min"):
        return _nan_extremes(data, geometry, call, reduce, min_count, values_out)
    # Beyond valid windows: the same loops on the interior in place and on
    # the border strips' pieces (see windowkit._padded._omitting_pool).
    if (not masked and not lazy and not geometry.is_valid and call.impl != "strided"
            and call.method != "direct" and not return_indices and nan_policy == "omit"
            and data.dtype.kind == "f" and (reduce in ("max", "min") or _plan.held_counts_exact(
                result_dtype, math.prod(geometry.window)))):
        return _padded.pool(data, _padded_geometry(geometry), reduce, mode, cval, call.method,
                            call.impl, values_out, skip_nan=True, min_count=min_count)
    if (call.method == "direct" and call.impl != "strided" and not masked and not lazy
            and nan_policy == "omit" and can_be_nan):
        return _textbook(data, geometry, reduce, mode, cval, min_count, call.impl, values_out,
                         indices_out, return_indices)
    missing = mask
    if nan_policy == "omit" and can_be_nan:
        isnan = np.isnan(data)
        missing = isnan if missing is None else missing | isnan
    if missing is not None and not lazy and not masked and not missing.any():
        missing = None  # nothing to skip: the ordinary pool
    # Under "omit" a NaN cval is missing too: padded with the filling, and
    # counted as no value.
    skip_cval = (nan_policy == "omit" and mode == "constant" and can_be_nan
                 and bool(np.isnan(cval)))
    if missing is None and min_count <= fewest and not skip_cval:
        values = call.run(data, reduce, cval, None if lazy else values_out)
        short = None
    else:
        values, short = _skipping(data, missing, call, reduce, cval, skip_cval, min_count,
                                  result_dtype, math.prod(geometry.window), lazy)
        if values_out is not None:
            values_out[...] = values
            values = values_out
    if masked and lazy:
        values = da.ma.masked_array(values, mask=False if short is None else short)
    elif masked:
        values = np.ma.MaskedArray(values, mask=np.zeros(values.shape, bool)
                                   if short is None else short)
    if not return_indices:
        return values
    indices = locate(data, missing, np.ma.getdata(values), geometry, mode, cval, indices_out,
                     call.impl)
    if short is not None:
        indices[short] = -1
    return values, indices


def _nan_extremes(data, geometry, call, reduce, min_count, out):
    """Float max and min of valid windows under ``"omit"``: the fast loops'
    NaN-skipping copies (the same comparisons as NaN propagation), NaN only
    for a window of NaN; a ``min_count`` above 1 counts each window's
    values too."""
    values = _plan.pool(data, geometry.window, geometry.stride, geometry.axes, reduce,
                        call.method, call.impl, out, skip_nan=True)
    if min_count > 1:
        np.copyto(values, np.nan, where=_short(data, geometry, call, min_count))
    return values


def _padded_geometry(geometry):
    """``geometry`` with its dilation and padding spelled out, as
    :func:`windowkit._padded.pool` takes it."""
    n_axes = len(geometry.axes)
    return dataclasses.replace(geometry, dilation=geometry.dilation or (1,) * n_axes,
                               padding=geometry.padding or ((0, 0),) * n_axes)


def _textbook(data, geometry, reduce, mode, cval, min_count, impl, values_out, indices_out,
              return_indices):
    """``method="direct"`` under ``"omit"``, any geometry: the textbook
    loops, NaN no value (their ``skip_nan``); the indices by the scan."""
    padded = _padded_geometry(geometry)
    values = _padded.pool(data, padded, reduce, mode, cval, "direct", impl, values_out,
                          skip_nan=True, min_count=min_count)
    if not return_indices:
        return values
    indices = locate(data, np.isnan(data), values, padded, mode, cval, indices_out, impl)
    indices[np.isnan(values)] = -1  # a NaN extreme: a window short of min_count
    return values, indices


def _short(data, geometry, call, min_count):
    """Where a window of ``data`` holds fewer than ``min_count`` values that are not NaN."""
    count_dtype = _count_dtype(data.dtype, math.prod(geometry.window))
    counts = call.run((~np.isnan(data)).astype(count_dtype), "sum", 0, None)
    return counts < min_count


def _indexed_extremes(data, geometry, call, reduce, skip_nan, min_count, values_out,
                      indices_out):
    """``(values, indices)`` of valid windows, both from one pass
    (:func:`windowkit.kernels.indexed.indexed_extreme_pool`), whatever the
    method: a max or min is the same by every method, and so is the first
    of equals. ``skip_nan``: a float NaN is skipped, and a window of fewer
    than ``min_count`` values gives NaN at coordinates -1."""
    skip_nan = skip_nan and data.dtype.kind == "f"
    refuse_long_double(data.dtype, call.impl)
    axes = geometry.axes
    batch, x4 = _four_d(data, axes)
    stage = _plan._staging(x4.dtype, call.impl)  # float16 and byte-swapped, as the pools
    if stage is not None:
        x4 = x4.astype(stage)
    if not _plan.rows_contiguous(x4):
        x4 = np.ascontiguousarray(x4)  # the loop reads rows (channels last: a copy)
    out_axes = tuple(geometry.out_shape[axis] for axis in axes)
    pad3 = (1,) * (3 - len(axes))
    n_axes = len(axes)
    shape4 = x4.shape[:1] + pad3 + out_axes
    # The loop writes into out= where it can, else into new arrays, moved
    # into the output's order (and into out=) after.
    values4 = _loop_view(values_out, axes, shape4, x4.dtype)
    coordinates = _loop_view(indices_out, axes, shape4 + (n_axes,), np.int64)
    in_values_out = values4 is not None
    in_indices_out = coordinates is not None
    if not in_values_out:
        values4 = np.empty(shape4, x4.dtype)
    if not in_indices_out:
        coordinates = np.empty(shape4 + (n_axes,), np.int64)
    window_cols, stride_cols = geometry.window[-1], geometry.stride[-1]
    block = window_cols if 2 <= window_cols == stride_cols <= indexed.BLOCK_MAX else 0
    one_pass = indexed.indexed_extreme_pool(
        reduce == "max", skip_nan, block,
        stride_cols if stride_cols in indexed.FIXED_STRIDES else 0)
    rows = coordinates.reshape(values4.shape[:3] + (values4.shape[3] * n_axes,))
    work = _methods.pool_work(data.shape, geometry, "direct")  # one pass: output times window
    threaded = _methods.threaded(work, geometry, x4.dtype, data.nbytes)
    one_pass.run((x4, pad3 + tuple(geometry.window), pad3 + tuple(geometry.stride), rows,
                  np.intp(n_axes)), values4, numba.get_num_threads() if threaded else 1,
                 call.impl)
    result_dtype = v.pool_dtype(reduce, data.dtype)
    values = (values_out if in_values_out else
              _in_output_order(values4.astype(result_dtype, copy=False), data, batch, geometry,
                               values_out))
    indices = (indices_out if in_indices_out else
               _in_output_order(coordinates, data, batch, geometry, indices_out))
    if skip_nan and min_count > 1:
        short = _short(data, geometry, call, min_count)
        np.copyto(values, np.nan, where=short)
        indices[short] = -1
    return values, indices


def refuse_long_double(dtype, impl):
    """The compiled index loops have no long double (Numba has none)."""
    if impl != "python" and dtype.kind == "f" and dtype.itemsize > 8:
        raise TypeError(
            f"return_indices=True on {dtype} runs a compiled loop, and Numba has no long "
            "double; pass impl='python', or x.astype(np.float64)")


def _four_d(array, axes):
    """``(batch, view)``: the batch axes of ``array`` (those not in
    ``axes``), and ``array`` as (batch, depth, rows, cols), its windowed
    axes last in the order of ``axes``."""
    batch = [axis for axis in range(array.ndim) if axis not in axes]
    moved = array.transpose(batch + list(axes))
    return batch, moved.reshape((-1,) + (1,) * (3 - len(axes)) + moved.shape[len(batch):])


def _loop_view(out, axes, shape, dtype):
    """``out`` as the index loop's 4-D array of ``shape`` (5-D: coordinates
    last), a view it can write in place: ``dtype``, and C-contiguous as the
    loop's new arrays are (one compiled copy for both); else None."""
    if out is None or out.dtype != dtype:
        return None
    extra = list(range(out.ndim - len(shape) + 4, out.ndim))  # the coordinates' axis
    batch = [axis for axis in range(out.ndim - len(extra)) if axis not in axes]
    try:
        view = np.reshape(out.transpose(batch + list(axes) + extra), shape, copy=False)
    except ValueError:  # not one view: the loop writes a new array
        return None
    return view if view.flags.c_contiguous else None


def _in_output_order(found, data, batch, geometry, out):
    """A 4-D result of the index loops (a 5-D one: coordinates last) with
    the output's shape and axis order, written into ``out`` if given:
    batch axes where they were (a view, then a copy, only if the windowed
    axes are not the last, in order)."""
    axes = geometry.axes
    batch_shape = tuple(data.shape[axis] for axis in batch)
    out_axes = tuple(geometry.out_shape[axis] for axis in axes)
    extra = found.shape[4:]
    found = found.reshape(batch_shape + out_axes + extra)
    result = np.moveaxis(found, tuple(range(len(batch), len(batch) + len(axes))), axes)
    if out is None:
        return np.ascontiguousarray(result)
    out[...] = result
    return out


def _outputs(out, return_indices):
    """``(values_out, indices_out)`` from ``out=``: a pair with ``return_indices``."""
    if not return_indices:
        return out, None
    if out is None:
        return None, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(
            "with return_indices=True, out must be a pair (values_out, indices_out), got "
            f"{type(out).__name__}")
    return tuple(out)


def _refuse_nan(block, mask=None):
    if np.isnan(block if mask is None else block[~mask]).any():
        raise ValueError("x holds NaN, and nan_policy='raise'")
    return block


def _skipping(data, missing, call, reduce, cval, skip_cval, min_count, result_dtype,
              window_size, lazy):
    """``(values, short)``: the pool of ``data`` without its ``missing``
    elements (and without the padding's ``cval``, if ``skip_cval``), NaN
    (for a float result) where a window holds fewer than ``min_count``
    values, and the mask of those windows (None: none can)."""
    if lazy:
        import dask.array as xp
    else:
        xp = np
    op = "sum" if reduce == "mean" else reduce
    fill = _padded.identity(op, data.dtype)
    filled = data if missing is None else xp.where(missing, np.array(fill, data.dtype), data)
    if reduce == "mean" and data.dtype == np.float16:
        filled = filled.astype(np.float32)  # summed in float32, as the loops' means
    values = call.run(filled, op, fill if skip_cval else cval, None)
    needs_counts = reduce == "mean" or min_count > 1 or missing is None or skip_cval
    if not needs_counts:
        # max/min with min_count 1: a window without values gives the
        # filling itself, which a window of values can give only if it
        # holds the filling (an infinity, or the dtype's extreme).
        needs_counts = lazy or bool((values == fill).any())
    if not needs_counts:
        return values, None
    count_dtype = _count_dtype(result_dtype, window_size)
    held = (xp.ones(data.shape, count_dtype) if missing is None
            else (~missing).astype(count_dtype))
    counts = call.run(held, "sum", 0 if skip_cval else 1, None)
    threshold = max(min_count, 1) if reduce in ("max", "min") else min_count
    short = counts < threshold
    if lazy:
        if reduce == "mean":
            values = xp.map_blocks(_mean, values, counts, dtype=result_dtype,
                                   result_dtype=result_dtype)
        if result_dtype.kind in "fc":
            values = xp.where(short, np.array(np.nan, result_dtype), values)
        return values, short
    # In place: values is this call's own array (the quotient of two floats
    # rounded once, as np.mean's float32 sum over an intp count).
    if reduce == "mean":
        if values.dtype.kind not in "fc":
            values = values.astype(result_dtype)  # integer sums: in float64, as np.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(values, counts, out=values, casting="same_kind")
        values = values.astype(result_dtype, copy=False)  # float16's float32 means
    if result_dtype.kind in "fc":
        np.copyto(values, np.nan, where=short)
    return values, short


def _lazy_indices(x, values, geometry, mode, cval, nan_policy, impl):
    """``return_indices`` of a Dask pool: per block of the lazy ``values``,
    the scan on the padded region its windows cover, gathered from ``x``
    (whatever its chunks: a block's own piece, never a padded copy of the
    array), its coordinates mapped back to those of ``x``."""
    import dask
    import dask.array as da

    axes = geometry.axes
    n_axes = len(axes)
    padding = geometry.padding or ((0, 0),) * n_axes
    maps = [_padded_positions(x.shape[axis], padding[j], mode,
                              (values.shape[axis] - 1) * geometry.stride[j]
                              + geometry.extent[j])
            for j, axis in enumerate(axes)]
    starts = [np.cumsum((0,) + chunks[:-1]) for chunks in values.chunks]
    skip_cval = (nan_policy == "omit" and mode == "constant" and x.dtype.kind in "fc"
                 and bool(np.isnan(cval)))

    def block(index):
        piece = x
        pieces = [None] * n_axes  # per windowed axis, in the order of axes: (kind, report)
        for axis in range(x.ndim):
            first = int(starts[axis][index[axis]])
            length = values.chunks[axis][index[axis]]
            if axis in axes:
                j = axes.index(axis)
                low = first * geometry.stride[j]
                high = (first + length - 1) * geometry.stride[j] + geometry.extent[j]
                take, kind, report = (part[low:high] for part in maps[j])
                inside = take[0] + np.arange(len(take))
                at = (slice(take[0], take[0] + len(take)) if np.array_equal(take, inside)
                      else take)
                pieces[j] = (kind, report)
            else:
                at = slice(first, first + length)
            piece = piece[(slice(None),) * axis + (at,)]
        block_values = values.blocks[index]
        found = dask.delayed(_block_indices)(
            piece, block_values, geometry, pieces, cval, skip_cval, nan_policy, impl)
        return da.from_delayed(found, block_values.shape + (n_axes,), np.int64)

    def nested(prefix):
        # Blocks nested as da.block takes them, one more level for the
        # coordinates' axis (in one block).
        if len(prefix) == values.ndim:
            return [block(prefix)]
        return [nested(prefix + (i,)) for i in range(values.numblocks[len(prefix)])]

    return da.block(nested(()))


HOLDS_INPUT, HOLDS_CVAL, HOLDS_NOTHING = 0, 1, 2


def _padded_positions(n, padding, mode, length):
    """``(take, kind, report)`` for the first ``length`` positions of an
    axis of ``n`` elements padded by ``padding = (before, after)``
    (``length`` may pass the padded end: a ``ceil_mode`` window's overhang):
    the input index each position is read from, whether it holds an input
    element (a copy, too), the constant or nothing (``"ignore"``, past the
    padded end), and the coordinate it reports (a constant: its position,
    outside ``[0, n)``), by the padded pools' own rule
    (:func:`windowkit._padded.source_index`)."""
    before, after = padding
    positions = np.arange(length)
    index = _padded.source_index(positions, n, before, after, mode)
    kind = np.where(index >= 0, HOLDS_INPUT,
                    np.where(index == _padded.CVAL, HOLDS_CVAL, HOLDS_NOTHING))
    report = np.where(index >= 0, index, positions - before)
    take = np.where(index >= 0, index, 0)
    return take, kind, report


def _block_indices(piece, values, geometry, pieces, cval, skip_cval, nan_policy, impl):
    """One block's indices: the scan on its gathered region ``piece``
    (constants written in, positions of nothing skipped), coordinates
    mapped back through each axis's ``report``."""
    region = np.array(np.ma.getdata(piece))  # a copy: the constants are written into it
    axes = geometry.axes
    cvals = np.zeros(region.shape, bool)
    nothing = np.zeros(region.shape, bool)
    for axis, (kind, _) in zip(axes, pieces):
        along = [1] * region.ndim
        along[axis] = len(kind)
        cvals |= (kind == HOLDS_CVAL).reshape(along)
        nothing |= (kind == HOLDS_NOTHING).reshape(along)
    region[cvals] = cval
    # Masked elements (a block of dask.array.ma, gathered with its mask) are
    # no values; a constant's position, gathered from element 0, keeps none.
    missing = (np.ma.getmaskarray(piece) & ~cvals) | nothing
    if nan_policy == "omit" and region.dtype.kind in "fc":
        missing |= np.isnan(region)
    if skip_cval:
        missing |= cvals
    local = v.Geometry(axes, geometry.window, geometry.stride, values.shape,
                       dilation=geometry.dilation)
    indices = locate(region, missing if missing.any() else None, np.ma.getdata(values), local,
                     "ignore", 0, None, impl)
    found = indices[..., 0] >= 0
    mapped = np.stack([report[np.maximum(indices[..., j], 0)]
                       for j, (_, report) in enumerate(pieces)], axis=-1)
    return np.where(found[..., None], mapped, -1)


def _count_dtype(result_dtype, window_size):
    """The dtype a window's values are counted in: the result's real float
    dtype (float32 for float16) where every count is exact in it (they are
    sums of ones that never subtract), so that the count pool runs the
    values' own compiled copy and a mean divides two floats; else (integer
    results, windows past 2**24 float32 elements) bool, summed to int64."""
    if result_dtype.kind not in "fc":
        return np.dtype(bool)
    real = np.dtype(result_dtype.char.lower() if result_dtype.kind == "c" else result_dtype)
    real = np.dtype(np.float32) if real == np.float16 else real
    return real if window_size < 2 ** (np.finfo(real).nmant + 1) else np.dtype(bool)


def _mean(sums, counts, *, result_dtype):
    """A block's means: 0 / 0 is NaN, quietly, as in the in-memory call."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).astype(result_dtype)


def locate(data, missing, values, geometry, mode, cval, out=None, impl="numba"):
    """The coordinates in ``data`` of each window's chosen element (see the
    module's docstring), int64 of shape ``values.shape + (len(axes),)``,
    by the scan interpreted (``impl="python"``) or compiled (otherwise:
    ``"strided"`` has no index reference of its own)."""
    refuse_long_double(data.dtype, impl)
    axes = geometry.axes
    n_axes = len(axes)
    batch, x4 = _four_d(data, axes)
    stage = _plan._staging(x4.dtype, impl)  # float16 and byte-swapped, as the pools
    if stage is not None:
        x4 = x4.astype(stage)
    missing4 = (np.zeros((1, 1, 1, 1), bool) if missing is None
                else np.ascontiguousarray(_four_d(missing, axes)[1]))
    values4 = np.ascontiguousarray(_four_d(values, axes)[1]).astype(x4.dtype, copy=False)
    coordinates = np.empty(values4.shape + (n_axes,), np.int64)
    pad3 = (1,) * (3 - n_axes)
    padding = geometry.padding or ((0, 0),) * n_axes
    dilation = geometry.dilation or (1,) * n_axes
    direct.locate_extreme.run(
        (x4, missing4, values4, pad3 + tuple(geometry.window), pad3 + tuple(geometry.stride),
         pad3 + tuple(dilation), (0,) * (3 - n_axes) + tuple(b for b, _ in padding),
         (0,) * (3 - n_axes) + tuple(a for _, a in padding),
         np.intp(direct.MODES.index(mode)), x4.dtype.type(cval), missing is not None),
        coordinates, numba.get_num_threads(), "python" if impl == "python" else "numba")
    return _in_output_order(coordinates, data, batch, geometry, out)


def unpool(values, indices, shape, axes, impl):
    """:func:`windowkit.unpool`: zeros of ``shape``, each value added at its
    coordinates (those outside the array, a padded constant's or a window
    without values' -1, send nothing)."""
    v.check_choice(impl, "impl", v.IMPLS)
    values = np.asarray(values)
    indices = np.asarray(indices)
    v.check_dtype(values.dtype, "values")
    _plan.refuse_long_double(values.dtype, impl, "values")
    shape = v.as_shape(shape)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got {indices.dtype}")
    if indices.ndim != values.ndim + 1 or indices.shape[:-1] != values.shape:
        raise ValueError(
            f"indices must have shape values.shape + (len(axes),) = {values.shape} + (n,), "
            f"got {indices.shape}")
    n_axes = indices.shape[-1]
    if len(shape) != values.ndim:
        raise ValueError(f"shape {shape} must have as many axes as values ({values.ndim})")
    axes = tuple(range(len(shape) - n_axes, len(shape))) if axes is None else (
        v._normalize_axes(axes, len(shape)))
    if len(axes) != n_axes:
        raise ValueError(f"axes {axes} must have one entry per coordinate ({n_axes})")
    for axis in range(len(shape)):
        if axis not in axes and shape[axis] != values.shape[axis]:
            raise ValueError(
                f"axis {axis} is not windowed, so values and shape must agree on it: "
                f"{values.shape[axis]} != {shape[axis]} (values {values.shape}, shape {shape})")
    if impl == "strided":  # the vectorised reference: np.add.at
        # Each value's full coordinates: its own along the batch axes, the
        # indices' along the windowed ones.
        full = list(np.indices(values.shape, sparse=True))
        inside = np.ones(values.shape, bool)
        for j, axis in enumerate(axes):
            coordinate = indices[..., j]
            inside &= (coordinate >= 0) & (coordinate < shape[axis])
            full[axis] = coordinate
        full = [np.broadcast_to(c, values.shape)[inside] for c in full]
        out = np.zeros(shape, values.dtype)
        np.add.at(out, tuple(full), values[inside])
        return out
    # The loop (kernels.add_at) on the windowed axes moved last, the others
    # folded into a batch.
    n = len(axes)
    last = tuple(range(len(shape) - n, len(shape)))
    moved = np.moveaxis(values, axes, last)
    moved_indices = np.moveaxis(indices, axes, last)  # the coordinates' axis stays last
    windowed = tuple(shape[axis] for axis in axes)
    # bool adds as "or" (as np.add.at does): counted in int64, then cast.
    work = np.dtype(np.int64) if values.dtype == bool else (
        _plan._staging(values.dtype, impl) or values.dtype)
    batch = math.prod(moved.shape[:-n])
    out = np.zeros((batch, math.prod(windowed)), work)
    adjoint.add_at.run(
        (np.ascontiguousarray(moved.astype(work, copy=False)).reshape(batch, -1),
         np.ascontiguousarray(moved_indices, np.intp).reshape(batch, -1, n),
         np.array(windowed, np.intp)), out,
        numba.get_num_threads() if out.nbytes >= _methods.THREADS_MIN_INPUT_BYTES else 1, impl)
    out = out.reshape(moved.shape[:-n] + windowed).astype(values.dtype, copy=False)
    return np.ascontiguousarray(np.moveaxis(out, last, axes))
