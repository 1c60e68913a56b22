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

Dask is imported only when a Dask array comes in.
"""

import itertools
import math
import sys

import numpy as np

from . import _methods, _plan
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


def windowed(x, geometry, dtype, block_function, units, **kwargs):
    """``block_function(block, **kwargs)`` on every block of ``x``, as a lazy array.

    ``units[i]`` is the multiple that block boundaries along
    ``geometry.axes[i]`` must be (a multiple of that axis's stride).
    """
    import dask.array as da

    chunks = list(x.chunks)
    out_chunks = list(x.chunks)  # batch axes keep their chunks
    halos = {}
    for axis, window, stride, unit in zip(geometry.axes, geometry.window, geometry.stride, units):
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


# Blocks run their axes in the whole array's order, never their memory
# order: the row-axis units above assume it.
def _pool_block(block, *, window, stride, axes, reduce, impl, method):
    return _plan.pool(block, window, stride, axes, reduce, method, impl, memory_order=False)


def correlate(x, kernel, stride, axes, out, impl, method, flip):
    """:func:`windowkit.correlate` (``flip``: convolve) of a Dask array: a lazy Dask array."""
    v.check_choice(impl, "impl", v.IMPLS)
    v.check_choice(method, "method", v.CORRELATE_METHODS)
    check_input(x, out)
    kernel = v.as_kernel_array(kernel)
    geometry = v.geometry(x.shape, kernel.shape, stride, axes, name="kernel")
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
