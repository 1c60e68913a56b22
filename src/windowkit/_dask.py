"""Dask arrays in, lazy Dask arrays out, each window computed once by one block.

How the blocks are cut, along each windowed axis of length ``n`` with window
``k`` and stride ``s`` (here ``n = 14``, ``k = 4``, ``s = 3``, two chunks)::

    element    0  1  2  3  4  5  6  7  8  9 10 11 12 13
    chunks     |--- block 0 ---|  |------ block 1 ------|
    window     0  1  2  3                                 owned by block 0
    window              3  4  5  6                        owned by block 0
    window                       6  7  8  9               owned by block 1
    window                                9 10 11 12      owned by block 1

    block 0 reads elements 0-6: its chunk and a halo of k - s = 1 element
    block 1 reads elements 6-13: its chunk, to the end (13 is in no window)

1. The windowed axes are rechunked so that every internal chunk boundary is
   a multiple of ``s`` (the user's boundaries rounded down). A boundary is
   dropped if it lies past the last window's start, so every chunk holds
   the start of at least one window, or if the chunk before it would be
   narrower than the halo (step 3), so chunks smaller than the window are
   merged into the one before.
2. A block owns the windows that start in its chunk: ``chunk / s`` of them,
   and the last block owns the rest.
3. To finish its last windows a block also reads the first ``max(k - s, 0)``
   elements of the next chunk (its right-hand halo, added by
   ``dask.array.overlap.overlap`` with depth ``(0, k - s)``). Nothing is read
   to the left, and no block computes a window it throws away.
4. The output chunks are declared exactly: ``chunk / s`` outputs per block
   along each windowed axis. Batch axes keep their chunks.

Float sums by the van Herk method depend on where the array starts, by the
last bit (its blocks of rows are counted from row 0). For them the row axis's
boundaries are multiples of ``lcm(k, s)`` instead, so each Dask block sees
the same blocks of rows as the whole array, and the results stay identical.

With ``impl="strided"``, numpy's reductions and ``tensordot`` choose their
order of additions from the memory layout, which differs in a block, so
float sums, means and correlations agree with the whole array's to rounding
only; every Numba and Python loop gives identical results.

Padding, dilation and ceil_mode (:func:`padded_pool`, :func:`padded_correlate`)
split the output as the in-memory call does (see :mod:`windowkit._padded`):
the interior windows are the valid, dilated ones of a slice of the input,
blocked as above with the window's extent for its length; each border strip
is one lazy piece of the padded input, gathered from the chunks its index
tables name (a border's worth, never the array), with the batch axes' chunks
kept; the pieces are put together around the interior. Each region resolves
``method="auto"`` from the in-memory call's shapes, so both run the same
loops and give the same results.

Dask is imported only when a Dask array comes in.
"""

import itertools
import math
import sys
from types import SimpleNamespace

import numpy as np

from . import _methods, _padded, _plan
from . import _validation as v


def is_dask_array(x):
    """Whether ``x`` is a ``dask.array.Array``, without importing Dask.

    A Dask array cannot exist before ``dask.array`` has been imported, so
    when it is not in ``sys.modules`` the answer is no.
    """
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(x, dask_array.Array)


def check_input(x, out):
    """Raise the errors a Dask input can have before any work is planned."""
    if out is not None:
        raise TypeError(
            "out= cannot be used with a Dask array: the result is a lazy Dask array; "
            "write it into an array with dask.array.store(result, out)"
        )
    v.check_dtype(x.dtype)
    if x.ndim == 0:
        raise ValueError("x must have at least 1 dimension, got a 0-d Dask array")
    if any(math.isnan(n) for n in x.shape):
        raise ValueError(
            f"x has unknown chunk sizes (shape {x.shape}); call x.compute_chunk_sizes() first"
        )


def block_starts(n, window, stride, chunks, unit):
    """Where the blocks along one axis start: multiples of ``unit``.

    ``unit`` is a multiple of ``stride``. Each internal boundary of
    ``chunks`` is rounded down to a multiple of ``unit``, and dropped if it
    lies past the last window's start or would leave the block before it
    narrower than the halo (each block's halo comes from the next block
    alone, so every block but the first must be at least that wide; the
    last one always is, as it holds a whole window).
    """
    last_start = (n - window) // stride * stride
    narrowest = max(window - stride, 1)
    starts = [0]
    for edge in itertools.accumulate(chunks[:-1]):
        start = edge - edge % unit
        if start - starts[-1] >= narrowest and start <= last_start:
            starts.append(start)
    return starts


def axis_blocks(n, window, stride, starts):
    """``(first, stop, n_out)`` per block along one axis.

    The block reads input ``first:stop`` (its chunk and its right-hand
    halo) and computes ``n_out`` outputs.
    """
    halo = max(window - stride, 0)
    n_out = (n - window) // stride + 1
    blocks = []
    for start, next_start in zip(starts, starts[1:]):
        blocks.append((start, next_start + halo, (next_start - start) // stride))
    blocks.append((starts[-1], n, n_out - starts[-1] // stride))
    return blocks


def windowed(x, blocking, dtype, block_function, units, **kwargs):
    """``block_function(block, **kwargs)`` on every block of ``x``, as a lazy array.

    ``blocking`` has the ``axes``, ``window`` and ``stride`` of the windows
    (a geometry), and ``units[i]`` is the multiple that block boundaries
    along ``blocking.axes[i]`` must be (a multiple of that axis's stride).
    """
    import dask.array as da

    chunks = list(x.chunks)
    out_chunks = list(x.chunks)  # batch axes keep their chunks
    halos = {}
    for axis, window, stride, unit in zip(blocking.axes, blocking.window, blocking.stride,
                                          units):
        n = x.shape[axis]
        starts = block_starts(n, window, stride, x.chunks[axis], unit)
        chunks[axis] = tuple(np.diff(starts + [n]).tolist())
        out_chunks[axis] = tuple(n_out for _, _, n_out in axis_blocks(n, window, stride, starts))
        halos[axis] = (0, max(window - stride, 0))
    x = x.rechunk(tuple(chunks))
    if any(right for _, right in halos.values()):
        # Each block gets the first elements of the next block on its right;
        # "none": nothing is added at the array's edges.
        x = da.overlap.overlap(x, depth=halos, boundary="none")
    return da.map_blocks(
        block_function, x, chunks=tuple(out_chunks), dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype), **kwargs,
    )


def row_axis_unit(geometry, stride_unit, reduce, method, dtype):
    """The block-boundary multiple for the row axis, see the module docstring."""
    if method == "van_herk" and reduce in ("sum", "mean") and dtype.kind in "fc":
        return math.lcm(geometry.window[-2], stride_unit)
    return stride_unit


def units_for(geometry, reduce, method, dtype):
    """Block-boundary multiples per windowed axis: the stride, with the row
    axis widened for van Herk float sums."""
    units = list(geometry.stride)
    if len(units) >= 2:
        units[-2] = row_axis_unit(geometry, units[-2], reduce, method, dtype)
    return units


def pool(x, window, stride, reduce, axes, out, impl, method):
    """:func:`windowkit.pool` of a Dask array: a lazy Dask array."""
    v.check_choice(reduce, "reduce", v.REDUCTIONS)
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.POOL_METHODS)
    check_input(x, out)
    _plan.refuse_long_double(x.dtype, impl, "x")
    geometry = v.geometry(x.shape, window, stride, axes, default_stride="window")
    geometry, _ = in_loop_order(geometry, x.shape, x.dtype.itemsize)
    if method == "auto":
        # The whole array's choice, in every block: blocks are smaller, and
        # a float sum's last bit can depend on the method.
        method = _methods.choose_pool_method(x.shape, geometry, reduce, x.dtype.kind).method
    units = units_for(geometry, reduce, method, x.dtype)
    return windowed(
        x, geometry, v.pool_dtype(reduce, x.dtype), _pool_block, units,
        window=geometry.window, stride=geometry.stride, axes=geometry.axes,
        reduce=reduce, impl=impl, method=method,
    )


def in_loop_order(geometry, shape, itemsize):
    """:func:`windowkit._padded.in_loop_order` for a C-ordered array of
    ``shape``: the order the in-memory call's loops run. Blocks then run
    that order as given, so a float sum adds in the same order."""
    return _padded.in_loop_order(geometry, shape, c_strides(shape, itemsize))


def c_strides(shape, itemsize):
    """The strides of a C-ordered array of ``shape``."""
    return tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) * itemsize
                 for i in range(len(shape)))


# Blocks run their axes in the whole array's loop order (in_loop_order),
# never their own memory order: the row-axis units above assume it.
def _pool_block(block, *, window, stride, axes, reduce, impl, method):
    return _plan.pool(block, window, stride, axes, reduce, method, impl, memory_order=False)


def correlate(x, kernel, stride, axes, out, impl, method, flip):
    """:func:`windowkit.correlate` (``flip``: convolve) of a Dask array: a lazy Dask array."""
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.CORRELATE_METHODS)
    check_input(x, out)
    kernel = v.as_kernel_array(kernel)
    geometry = v.geometry(x.shape, kernel.shape, stride, axes, name="kernel")
    geometry, order = in_loop_order(geometry, x.shape, x.dtype.itemsize)
    if order is not None:
        kernel = kernel.transpose(order)
    result_dtype = v.correlate_dtype(x.dtype, kernel.dtype)
    _plan.refuse_long_double(result_dtype, impl, "the result")
    method = _plan.correlate_method(method, x.shape, geometry, result_dtype)
    return windowed(
        x, geometry, result_dtype, _correlate_block, geometry.stride,
        kernel=kernel, stride=geometry.stride, axes=geometry.axes, impl=impl, method=method,
        flip=flip,
    )


def _correlate_block(block, *, kernel, stride, axes, impl, method, flip):
    return _plan.correlate(block, kernel, stride, axes, method, impl, flip, memory_order=False)


# -- beyond valid windows ----------------------------------------------------------


def padded_pool(x, geometry, reduce, mode, cval, method, impl):
    """:func:`windowkit.pool` of a Dask array (checked by :func:`check_input`)
    with ``geometry``'s padding, dilation and ceil_mode."""
    _plan.refuse_long_double(x.dtype, impl, "x")
    geometry, _ = in_loop_order(geometry, x.shape, x.dtype.itemsize)
    frame = _padded.Frame(x.shape, geometry, mode)
    if mode == "ignore":
        _padded.check_windows_hold_elements(frame)
    dtype = v.pool_dtype(reduce, x.dtype)
    # Where the in-memory call runs the separable loop border and all, the
    # regions run that loop unturned: its sums, bitwise.
    in_loop = _padded.border_in_loop(
        x.shape, x.dtype, geometry, reduce, method, impl,
        _padded._follows_memory(geometry, x.shape, c_strides(x.shape, x.dtype.itemsize)))

    def interior(view, out_shape):
        resolved = "separable" if in_loop else _padded.region_method(
            reduce, method, view.shape, geometry, out_shape, x.dtype)
        units = interior_units(geometry, reduce, resolved, x.dtype)
        return windowed(view, _extent_geometry(geometry), dtype, _pool_interior_block, units,
                        geometry=geometry, reduce=reduce, method=resolved, impl=impl)

    def strip(piece, ranges, tables, out_shape):
        summed = "sum" if reduce == "mean" else reduce
        piece_dtype = np.dtype(np.float32) if (
            reduce == "mean" and x.dtype == np.float16) else x.dtype
        # As pool_strip resolves it: with the axes long_rows may swap.
        turned, _ = _padded.long_rows(geometry, out_shape)
        resolved = "separable" if in_loop else _padded.region_method(
            summed, method, piece.shape, turned, out_shape, piece_dtype)
        return _strip(piece, geometry.axes, ranges, dtype, _pool_strip_block, frame=frame,
                      tables=tables, fills=(cval, _padded.pool_fill(reduce, x.dtype)),
                      reduce=reduce, method=resolved, impl=impl, turn=not in_loop)

    return _around_interior(x, frame, interior, strip)


def padded_correlate(x, kernel, geometry, mode, cval, method, impl, flip):
    """:func:`windowkit.correlate` (``flip``: convolve) of a Dask array with
    ``geometry``'s padding and dilation."""
    dtype = v.correlate_dtype(x.dtype, kernel.dtype)
    _plan.refuse_long_double(dtype, impl, "the result")
    geometry, order = in_loop_order(geometry, x.shape, x.dtype.itemsize)
    if order is not None:
        kernel = kernel.transpose(order)
    frame = _padded.Frame(x.shape, geometry, mode)

    def region(shape, out_shape, turned=geometry):
        return _padded.region_method("correlate", method, shape, turned, out_shape, dtype)

    def interior(view, out_shape):
        return windowed(view, _extent_geometry(geometry), dtype, _correlate_interior_block,
                        geometry.stride, kernel=kernel, geometry=geometry,
                        method=region(view.shape, out_shape), impl=impl, flip=flip)

    def strip(piece, ranges, tables, out_shape):
        # As correlate_region resolves it: with the axes long_rows may swap.
        turned, _ = _padded.long_rows(geometry, out_shape)
        return _strip(piece, geometry.axes, ranges, dtype, _correlate_strip_block, tables=tables,
                      fills=(cval, 0), kernel=kernel, geometry=geometry,
                      method=region(piece.shape, out_shape, turned), impl=impl, flip=flip)

    return _around_interior(x, frame, interior, strip)


def _extent_geometry(geometry):
    """What :func:`windowed` needs of the interior's geometry: the windows'
    extents are what each block reads."""
    return SimpleNamespace(axes=geometry.axes, window=geometry.extent, stride=geometry.stride)


def interior_units(geometry, reduce, method, dtype):
    """The interior's block-boundary multiples (see :func:`units_for`): with
    dilation ``d`` the row axis's residue classes, at stride ``s / gcd(s,
    d)``, are van Herk's views, so a float sum's blocks start at multiples
    of ``lcm(s, d * lcm(k, s / gcd(s, d)))``."""
    units = list(geometry.stride)
    if (len(units) >= 2 and method == "van_herk" and reduce in ("sum", "mean")
            and dtype.kind in "fc"):
        k, s, d = geometry.window[-2], geometry.stride[-2], geometry.dilation[-2]
        units[-2] = math.lcm(s, d * math.lcm(k, s // math.gcd(s, d)))
    return units


def _around_interior(x, frame, interior, strip):
    """The interior (``interior(view, out_shape)``) and the border strips
    (``strip(piece, ranges, tables, out_shape)``) of ``frame`` as one lazy
    array, put together one windowed axis at a time, innermost first."""
    import dask.array as da

    g = frame.geometry
    core = None
    inner = frame.interior_slices()
    if inner is not None:
        x_index, out_index = inner
        core = interior(x[x_index], _shape_of(g.out_shape, out_index))
    strips = {}
    for position, side, ranges in frame.boxes():
        if all(start < stop for start, stop in ranges):
            piece, tables = _gathered(x, frame, ranges)
            out_shape = _shape_of(g.out_shape, _padded.out_slice(frame, ranges))
            strips[position, side] = strip(piece, ranges, tables, out_shape)
    for position in reversed(range(len(g.axes))):
        parts = [part for part in (strips.get((position, 0)), core, strips.get((position, 1)))
                 if part is not None]
        if parts:
            core = da.concatenate(parts, axis=g.axes[position])
    return core


def _shape_of(shape, index):
    return tuple(len(range(*part.indices(n))) for n, part in zip(shape, index))


def _gathered(x, frame, ranges):
    """The lazy piece the border strip ``ranges`` reads (its positions
    without an input element hold arbitrary input values, filled in each
    block), one chunk along the windowed axes; and its index tables."""
    index, gathers, tables, _ = _padded.span(frame, ranges)
    piece = x[index]
    for axis, table in gathers:
        piece = piece[(slice(None),) * axis + (table,)]
    return piece.rechunk({axis: -1 for axis in frame.geometry.axes}), tables


def _strip(piece, axes, ranges, dtype, block_function, **kwargs):
    """``block_function`` on each block of a strip's piece (one per chunk of
    the batch axes), into the strip's outputs ``ranges``."""
    import dask.array as da

    chunks = list(piece.chunks)
    for axis, (start, stop) in zip(axes, ranges):
        chunks[axis] = (stop - start,)
    return da.map_blocks(block_function, piece, chunks=tuple(chunks), dtype=dtype,
                         meta=np.empty((0,) * piece.ndim, dtype), ranges=ranges, **kwargs)


def _valid_shape(shape, geometry):
    """The output shape of a block's valid, dilated windows."""
    shape = list(shape)
    for axis, e, s in zip(geometry.axes, geometry.extent, geometry.stride):
        shape[axis] = (shape[axis] - e) // s + 1
    return tuple(shape)


def _strip_shape(shape, axes, ranges):
    shape = list(shape)
    for axis, (start, stop) in zip(axes, ranges):
        shape[axis] = stop - start
    return tuple(shape)


def _filled(block, axes, tables, fills):
    """The block with the fills at its positions that hold no input element
    (a copy: a block can be a view of the user's array)."""
    if not _padded.needs_fill(tables):
        return block
    block = block.copy()
    _padded.fill(block, axes, tables, *fills)
    return block


def _pool_interior_block(block, *, geometry, reduce, method, impl):
    into = np.empty(_valid_shape(block.shape, geometry), v.pool_dtype(reduce, block.dtype))
    _padded.pool_interior(block, geometry, reduce, method, impl, into, memory_order=False)
    return into


def _pool_strip_block(block, *, frame, ranges, tables, fills, reduce, method, impl, turn):
    axes = frame.geometry.axes
    into = np.empty(_strip_shape(block.shape, axes, ranges), v.pool_dtype(reduce, block.dtype))
    _padded.pool_strip(_filled(block, axes, tables, fills), frame, ranges, reduce, method, impl,
                       into, memory_order=False, turn=turn)
    return into


def _correlate_interior_block(block, *, kernel, geometry, method, impl, flip):
    into = np.empty(_valid_shape(block.shape, geometry),
                    v.correlate_dtype(block.dtype, kernel.dtype))
    _padded.correlate_region(block, kernel, geometry, method, impl, flip, into,
                             memory_order=False)
    return into


def _correlate_strip_block(block, *, ranges, tables, fills, kernel, geometry, method, impl,
                           flip):
    into = np.empty(_strip_shape(block.shape, geometry.axes, ranges),
                    v.correlate_dtype(block.dtype, kernel.dtype))
    _padded.correlate_region(_filled(block, geometry.axes, tables, fills), kernel, geometry,
                             method, impl, flip, into, memory_order=False, strip=True)
    return into
