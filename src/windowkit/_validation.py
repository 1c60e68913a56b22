"""Argument validation and normalisation, shared by every windowkit operation.

This is the only module that inspects user arguments. It turns ``window``,
``stride`` and ``axes`` into normalised tuples, computes the output shape,
works out result dtypes, checks ``out=``, and raises every argument error.
The kernels never check arguments, and the public functions never
re-implement any of this.
"""

import functools
import operator
import warnings
from dataclasses import dataclass

import numpy as np

MAX_WINDOW_DIMS = 3
REDUCTIONS = ("max", "min", "mean", "sum")
IMPLS = ("numba", "python", "strided")
POOL_METHODS = ("auto", "direct", "separable", "van_herk")
CORRELATE_METHODS = ("auto", "direct", "rows", "fft")

# bool, signed int, unsigned int, float, complex
_SUPPORTED_KINDS = "biufc"


@dataclass(frozen=True)
class Geometry:
    """Where a window slides: everything an operation needs besides the data.

    ``axes``, ``window`` and ``stride`` have one entry per windowed axis, in
    the order the caller gave the axes; ``axes`` holds non-negative ints.
    """

    axes: tuple
    window: tuple
    stride: tuple
    out_shape: tuple
    # Beyond valid windows (see padded_geometry): window element ``a`` at
    # offset ``a * dilation``, ``padding`` (before, after) elements added to
    # each end, and with ``ceil_mode`` a last window that may run past the
    # padded end (the part past it is not part of the window).
    dilation: tuple = None
    padding: tuple = None
    ceil_mode: bool = False

    @property
    def extent(self):
        """The span of each window along its axes: ``(k - 1) * d + 1``."""
        dilation = self.dilation or (1,) * len(self.window)
        return tuple((k - 1) * d + 1 for k, d in zip(self.window, dilation))

    @property
    def is_valid(self):
        """Whether the windows are the valid, undilated ones of the axes."""
        return (not self.ceil_mode and all(d == 1 for d in self.dilation or ())
                and all(p == (0, 0) for p in self.padding or ()))


def valid_length(n, k, s):
    """How many windows of size ``k`` at stride ``s`` lie wholly inside length ``n``."""
    return (n - k) // s + 1


def _as_int(value, name):
    """Return ``value`` as a Python int, refusing floats, bools and others."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer or a tuple of integers, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer or a tuple of integers, got {value!r}"
        ) from None


def _int_or_tuple(value, name):
    """Return an int for a lone integer, else a tuple of ints."""
    if isinstance(value, (tuple, list)):
        return tuple(_as_int(v, name) for v in value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(_as_int(v, name) for v in value.tolist())
    return _as_int(value, name)


def check_choice(value, name, choices):
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def as_shape(shape):
    """Validate a shape given as an int or a sequence of non-negative ints."""
    shape = _int_or_tuple(shape, "shape")
    if isinstance(shape, int):
        shape = (shape,)
    if any(n < 0 for n in shape):
        raise ValueError(f"shape entries must be non-negative, got {shape}")
    return shape


def as_input_array(x, name="x"):
    """Return ``x`` as an ndarray of a supported dtype with at least one axis.

    Never copies an ndarray: the input is only ever read.
    """
    x = np.asarray(x)
    check_dtype(x.dtype, name)
    if x.ndim == 0:
        raise ValueError(
            f"{name} must have at least 1 dimension, got a 0-d array; "
            "wrap a scalar in a list or use np.atleast_1d"
        )
    return x


def check_dtype(dtype, name="x"):
    """Raise TypeError for dtypes windowkit does not compute on."""
    if dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(
            f"{name} has dtype {dtype}, which windowkit does not support; "
            "use a bool, integer, float or complex array"
        )


def _normalize_axes(axes, ndim):
    axes = _int_or_tuple(axes, "axes")
    if isinstance(axes, int):
        axes = (axes,)
    normalized = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
        normalized.append(axis % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axes must be distinct, got {axes} (the same axis twice)")
    return tuple(normalized)


PADDINGS = ("valid", "same", "full")
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")
POOL_MODES = ("ignore",) + PAD_MODES


def boundary(mode, cval, dtype, op):
    """``mode`` and ``cval`` checked for ``op`` ("pool" or "correlate") on
    ``dtype``: the mode (a pool's ``None`` is "ignore") and ``cval`` as a
    value of ``dtype``."""
    if op == "pool":
        mode = "ignore" if mode is None else mode
        check_choice(mode, "mode", POOL_MODES)
    else:
        if mode == "ignore":
            raise ValueError(
                "mode='ignore' is for pools only: a correlation's padded positions "
                f"need values; use one of {', '.join(map(repr, PAD_MODES))}")
        check_choice(mode, "mode", PAD_MODES)
    if isinstance(cval, (np.ndarray, np.generic)) and np.ndim(cval) != 0 or isinstance(
            cval, (str, bytes, list, tuple, dict, set)) or cval is None:
        raise TypeError(f"cval must be a number, got {cval!r}")
    # Integers and bools must hold cval exactly; floats to rounding, but not
    # a finite cval as an infinity, nor a complex one as its real part.
    value = np.array(cval)
    if value.dtype == object and isinstance(cval, int) and not isinstance(cval, bool):
        if dtype.kind not in "fc":  # an int past 64 bits
            raise ValueError(f"cval {cval!r} cannot be held by x's dtype {dtype}")
        value = np.array(float(cval))
    if value.dtype.kind not in "biufc":
        raise TypeError(f"cval must be a number, got {cval!r}")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        held = value.astype(dtype)
        if dtype.kind in "fc":
            fits = bool(np.isfinite(held) == np.isfinite(value)) and (
                dtype.kind == "c" or value.dtype.kind != "c")
        else:
            fits = bool(held.astype(value.dtype) == value)
    if not fits:
        raise ValueError(f"cval {cval!r} cannot be held by x's dtype {dtype}")
    return mode, held[()]


def padded_length(n, k, s, before, after, ceil_mode):
    """How many windows of extent ``k`` at stride ``s`` an axis of length
    ``n`` padded by ``before`` and ``after`` has; with ``ceil_mode``, also a
    last partial one that starts inside the input or the left padding
    (PyTorch's rule)."""
    span = n + before + after - k
    if not ceil_mode:
        return span // s + 1
    length = -(-span // s) + 1
    if (length - 1) * s >= n + before:
        length -= 1
    return length


def _padding_pairs(padding, shape, axes, stride, extent):
    """``padding`` as one ``(before, after)`` pair per windowed axis."""
    if isinstance(padding, str):
        check_choice(padding, "padding", PADDINGS)
        if padding == "valid":
            return ((0, 0),) * len(axes)
        if padding == "full":
            return tuple((e - 1, e - 1) for e in extent)
        pairs = []
        for axis, s, e in zip(axes, stride, extent):
            n = shape[axis]
            total = max((-(-n // s) - 1) * s + e - n, 0)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    message = (f"padding must be 'valid', 'same', 'full', an int, or one entry per windowed "
               f"axis (an int or a (before, after) pair), got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != len(axes):
            raise ValueError(f"{message}: {len(padding)} entries for {len(axes)} windowed axes")
        pairs = []
        for entry in padding:
            if isinstance(entry, (tuple, list)):
                if len(entry) != 2:
                    raise ValueError(message)
                pairs.append(tuple(_as_int(p, "padding") for p in entry))
            else:
                p = _as_int(entry, "padding")
                pairs.append((p, p))
        pairs = tuple(pairs)
    else:
        try:
            p = _as_int(padding, "padding")
        except TypeError:
            raise TypeError(message) from None
        pairs = ((p, p),) * len(axes)
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return pairs


def geometry(shape, window, stride, axes, *, default_stride=1, name="window",
             padding="valid", dilation=1, ceil_mode=False):
    """Normalise ``window``, ``stride`` and ``axes`` for an array of ``shape``.

    ``stride=None`` means ``default_stride`` (pools pass ``"window"`` so
    that windows do not overlap). Raises ValueError or TypeError, naming the
    offending value and its limit, for anything that is not a valid window;
    ``name`` is what errors call the window (correlation: "kernel").
    """
    if (isinstance(padding, str) and padding == "valid" and type(dilation) is int
            and dilation == 1 and ceil_mode is False):
        if all(plain(value) for value in (shape, window, stride, axes)):
            # Cached only for plain ints (no bools, numpy ints or lists), whose
            # equality is their value, so a cached answer is the right answer.
            return _cached_geometry(shape, window, stride, axes, default_stride, name)
        return _geometry(shape, window, stride, axes, default_stride, name)
    return padded_geometry(_geometry(shape, window, stride, axes, default_stride, name,
                                     fit=False), shape, padding, dilation, ceil_mode, name)


def padded_geometry(valid, shape, padding, dilation, ceil_mode, name):
    """The geometry of ``valid`` (normalised window, stride and axes, not yet
    checked to fit) with ``padding``, ``dilation`` and ``ceil_mode``: the
    rules of the README's "Beyond valid windows"."""
    axes, window = valid.axes, valid.window
    if type(ceil_mode) is not bool and not isinstance(ceil_mode, np.bool_):
        raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    dilation = _one_per_axis(dilation, "dilation", len(window))
    if any(d < 1 for d in dilation):
        raise ValueError(f"dilation entries must be at least 1, got {dilation}")
    extent = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    stride = valid.stride
    pairs = _padding_pairs(padding, shape, axes, stride, extent)
    out_shape = list(shape)
    capped = []
    for axis, e, s, (before, after) in zip(axes, extent, stride, pairs):
        n = shape[axis]
        if e > n + before + after:
            raise ValueError(
                f"{name} {window} (extent {e} with dilation {dilation}) does not fit axis "
                f"{axis} of length {n} padded by {(before, after)} "
                f"({n + before + after} elements; x shape {tuple(shape)})")
        out_shape[axis] = padded_length(n, e, s, before, after, bool(ceil_mode))
        capped.append(min(s, n + before + after))
    return Geometry(axes, window, tuple(capped), tuple(out_shape), dilation, pairs,
                    bool(ceil_mode))


def _one_per_axis(value, name, n_axes):
    """``value`` (an int, or one per windowed axis) as a tuple of ``n_axes`` ints."""
    value = _int_or_tuple(value, name)
    if isinstance(value, int):
        return (value,) * n_axes
    if len(value) != n_axes:
        raise ValueError(
            f"{name} {value} has {len(value)} entries but the window has {n_axes}; "
            f"give one {name} per windowed axis, or a single int"
        )
    return value


def plain(value):
    """Whether ``value`` is None, an int or a tuple of ints, with exact types."""
    if value is None or type(value) is int:
        return True
    return type(value) is tuple and all(type(item) is int for item in value)


def _geometry(shape, window, stride, axes, default_stride, name, fit=True):
    ndim = len(shape)
    if ndim == 0:
        raise ValueError(
            "x must have at least 1 dimension, got a 0-d array; "
            "wrap a scalar in a list or use np.atleast_1d"
        )
    window = _int_or_tuple(window, "window")
    if axes is not None:
        axes = _normalize_axes(axes, ndim)
        if isinstance(window, int):
            window = (window,) * len(axes)
    elif isinstance(window, int):
        # A lone int is a square window over the last two axes (or the only one).
        window = (window,) * min(2, ndim)

    if not 1 <= len(window) <= MAX_WINDOW_DIMS:
        raise ValueError(
            f"window must have 1 to {MAX_WINDOW_DIMS} entries (signal, image, volume), "
            f"got {len(window)} in {window}"
        )
    if axes is None:
        if len(window) > ndim:
            raise ValueError(
                f"window {window} has {len(window)} dimensions but x has only {ndim}"
            )
        axes = tuple(range(ndim - len(window), ndim))
    elif len(axes) != len(window):
        raise ValueError(
            f"window {window} has {len(window)} entries but axes {axes} names {len(axes)} axes"
        )
    if any(k <= 0 for k in window):
        raise ValueError(f"window entries must be positive, got {window}")

    if stride is None:
        stride = window if default_stride == "window" else default_stride
    stride = _one_per_axis(stride, "stride", len(window))
    if any(s <= 0 for s in stride):
        raise ValueError(f"stride entries must be positive, got {stride}")

    if not fit:  # padded_geometry checks the fit and the output
        return Geometry(axes, window, stride, None)
    out_shape = list(shape)
    for axis, k, s in zip(axes, window, stride):
        if k > shape[axis]:
            raise ValueError(
                f"{name} {k} does not fit axis {axis} of length {shape[axis]} "
                f"({name} shape {window}, x shape {tuple(shape)})"
            )
        out_shape[axis] = valid_length(shape[axis], k, s)
    # A stride past the axis end places one window, as the axis length plus
    # one would; capping keeps huge Python ints out of the compiled loops.
    # Not at the length itself: that could equal the window, and a window as
    # wide as its stride takes another loop (block_pool), whose float sums
    # add in another order; a Dask block holding one window must run the
    # whole array's loop.
    stride = tuple(min(s, shape[axis] + 1) for axis, s in zip(axes, stride))
    return Geometry(axes, window, stride, tuple(out_shape), (1,) * len(window),
                    ((0, 0),) * len(window))


_cached_geometry = functools.lru_cache(maxsize=256)(_geometry)


def as_kernel_array(kernel):
    """Validate a correlation kernel: 1 to 3 dims, non-empty, supported dtype."""
    kernel = np.asarray(kernel)
    check_dtype(kernel.dtype, "kernel")
    if not 1 <= kernel.ndim <= MAX_WINDOW_DIMS:
        raise ValueError(
            f"kernel must have 1 to {MAX_WINDOW_DIMS} dimensions, got {kernel.ndim} "
            f"(shape {kernel.shape})"
        )
    if kernel.size == 0:
        raise ValueError(f"kernel must not be empty, got shape {kernel.shape}")
    return kernel


def pool_dtype(reduce, dtype):
    """The result dtype of a pooling reduction, following numpy's reductions."""
    if reduce in ("max", "min"):
        if dtype.kind == "c":
            raise TypeError(
                f"{reduce} pooling is not defined for complex dtype {dtype}: "
                "complex numbers have no order; pool np.abs(x) or x.real instead"
            )
        result = dtype
    elif reduce == "sum":
        result = np.zeros(1, dtype).sum().dtype
    else:
        result = np.zeros(1, dtype).mean().dtype
    return result.newbyteorder("=")


def correlate_dtype(x_dtype, kernel_dtype):
    """The result dtype of correlate/convolve: ``np.sum`` of the promoted type."""
    promoted = np.result_type(x_dtype, kernel_dtype)
    return np.zeros(1, promoted).sum().dtype.newbyteorder("=")


def accumulator_dtype(result_dtype):
    """The dtype the loops compute in; Numba has no float16 arithmetic."""
    if result_dtype == np.float16:
        return np.dtype(np.float32)
    return result_dtype


def prepare_out(out, shape, dtype, *inputs):
    """Return ``out`` checked against the expected shape and dtype, or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, but the output shape is {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(
            f"out has dtype {out.dtype}, but the result dtype is {dtype} "
            "(native byte order)"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array")
    if any(np.shares_memory(out, a) for a in inputs):
        raise ValueError(
            "out shares memory with the input; pass a separate array "
            "(windowkit never writes into its input)"
        )
    return out
