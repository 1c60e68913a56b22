"""``explain``: what a window and stride do to an array, in numbers and words.

Pure arithmetic on shapes: no array is read or made. The numbers are those a
teacher works out on the board: output size, windows, elements that no
window covers, how often each element is read, and what a copied stride-trick
view would cost next to the output.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import _validation as v


@dataclass(frozen=True)
class Explanation:
    """The geometry of one sliding-window operation; ``print()`` it to read it.

    Per-axis tuples have one entry per windowed axis, in the order of ``axes``.
    """

    shape: tuple
    axes: tuple
    window: tuple
    stride: tuple
    out_shape: tuple
    n_windows: int  # all windows, batch axes included: prod(out_shape)
    trailing: tuple  # elements after the last window, per windowed axis
    skipped: tuple  # elements in the gaps between windows (stride > window), per axis
    max_reads: int  # most windows any one element lies in
    mean_reads: float  # window reads per input element, on average
    view_bytes: int  # a copy of the stride-trick view (every window, every element)
    output_bytes: int  # one value per window
    notes: tuple  # warnings in words: dropped data, costly copies
    padding: tuple = None  # (before, after) per windowed axis, as resolved
    dilation: tuple = None  # per windowed axis
    ceil_mode: bool = False
    mode: str = None  # what padded positions hold, when given and there is padding
    cval: object = None  # the constant, for mode="constant"

    def __str__(self):
        def sizes(values):
            return " x ".join(str(n) for n in values)

        lines = [
            f"input {sizes(self.shape)}, window {sizes(self.window)}, "
            f"stride {sizes(self.stride)} over axes {self.axes}",
            f"output shape {self.out_shape}: {self.n_windows:,} windows",
        ]
        padding = self.padding or ((0, 0),) * len(self.axes)
        dilation = self.dilation or (1,) * len(self.axes)
        for axis, n, k, s, out, (before, after), d in zip(
            self.axes, (self.shape[a] for a in self.axes), self.window, self.stride,
            (self.out_shape[a] for a in self.axes), padding, dilation,
        ):
            if (before, after) == (0, 0) and d == 1 and not self.ceil_mode:
                lines.append(f"  axis {axis}: ({n} - {k}) // {s} + 1 = {out}")
                continue
            e = (k - 1) * d + 1
            extent = f"{e}" if d == 1 else f"(({k} - 1) * {d} + 1)"
            rounding = "ceil" if self.ceil_mode else "floor"
            lines.append(f"  axis {axis}: padding ({before}, {after}), dilation {d}: "
                         f"{rounding}(({n} + {before} + {after} - {extent}) / {s}) + 1 = {out}")
        if self.mode is not None:
            lines.append(f"padded positions {_HOLD[self.mode]} (mode={self.mode!r})".replace(
                "cval", repr(self.cval)))
        lines.append(
            f"each element is read by at most {self.max_reads} window(s), "
            f"{self.mean_reads:.3g} on average"
        )
        lines.append(
            f"a copied stride-trick view would take {_bytes(self.view_bytes)}; "
            f"the output takes {_bytes(self.output_bytes)}"
        )
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


# What a padded position holds, in np.pad's terms, for the input 1 2 3.
_HOLD = {
    "ignore": "are left out of the windows: a window takes its input elements only",
    "constant": "hold cval",
    "edge": "repeat the edge element: 1 1 | 1 2 3 | 3 3",
    "reflect": "mirror the input about its edge element: 3 2 | 1 2 3 | 2 1",
    "symmetric": "mirror the input, edge element included: 2 1 | 1 2 3 | 3 2",
    "wrap": "wrap around: 2 3 | 1 2 3 | 1 2",
}


def _bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def explain(shape, window, stride=1, *, axes=None, dtype="float64", padding="valid",
            mode=None, cval=0, dilation=1, ceil_mode=False):
    """Explain the window geometry: output shape, coverage, overlap and memory.

    Parameters
    ----------
    shape : int, tuple of ints or ndarray
        The input's shape, or an array (its shape and dtype are used).
    window, stride, axes, padding, dilation, ceil_mode
        As in :func:`windowkit.output_shape` (stride default 1); the
        explanation gives the padding they resolve to.
    mode, cval : optional
        As in :func:`windowkit.pool` or :func:`windowkit.correlate`, checked
        as they check them (``cval`` against ``dtype``): the explanation says
        what the padded positions hold. Default: not said, as the two
        differ (a pool leaves padding out, a correlation pads with zeros).
    dtype : dtype, optional
        Element type for the byte counts when ``shape`` is not an array.

    Returns
    -------
    Explanation
        A frozen dataclass; ``print(explanation)`` reads it out, with a note
        for every axis whose trailing elements no window covers.

    Examples
    --------
    >>> import windowkit as wk
    >>> e = wk.explain((512, 512), 4, stride=2)
    >>> e.out_shape, e.trailing
    ((255, 255), (0, 0))
    >>> wk.explain((512, 512), 4, stride=3).trailing
    (1, 1)
    >>> print(wk.explain(5, 3))
    input 5, window 3, stride 1 over axes (0,)
    output shape (3,): 3 windows
      axis 0: (5 - 3) // 1 + 1 = 3
    each element is read by at most 3 window(s), 1.8 on average
    a copied stride-trick view would take 72 bytes; the output takes 24 bytes
    """
    if isinstance(shape, np.ndarray):
        dtype, shape = shape.dtype, shape.shape
    shape = v.as_shape(shape)
    geometry = v.geometry(shape, window, stride, axes, padding=padding, dilation=dilation,
                          ceil_mode=ceil_mode)
    if mode is not None:
        mode, cval = v.boundary(mode, cval, np.dtype(dtype), "pool")
    itemsize = np.dtype(dtype).itemsize
    trailing, skipped, notes = [], [], []
    max_reads = 1
    for axis, k, e, s, (before, after) in zip(geometry.axes, geometry.window, geometry.extent,
                                              geometry.stride, geometry.padding):
        n, out = shape[axis] + before + after, geometry.out_shape[axis]
        end = (out - 1) * s + e  # one past the last (padded) element a window covers
        trailing.append(max(0, n - end))
        skipped.append((out - 1) * max(0, s - e))
        # Windows that reach one element.
        max_reads *= min(k, math.ceil(e / s), out)
        if n - end > 0:
            notes.append(
                f"axis {axis}: the last {n - end} element(s) lie in no window and are "
                f"dropped; (n - window) = {n - e} is not a multiple of the stride {s}"
            )
        if s > e:
            notes.append(
                f"axis {axis}: stride {s} > window {e}, so {s - e} element(s) between "
                f"windows are never read ({skipped[-1]} in all)"
            )
    n_windows = math.prod(geometry.out_shape)
    window_size = math.prod(geometry.window)
    view_bytes = n_windows * window_size * itemsize
    output_bytes = n_windows * itemsize
    if view_bytes > 1 << 30:
        notes.append(
            f"copying every window (np.ascontiguousarray of the view, or reducing it "
            f"with numpy) would need {_bytes(view_bytes)}"
        )
    total = math.prod(shape)
    return Explanation(
        shape=shape,
        axes=geometry.axes,
        window=geometry.window,
        stride=geometry.stride,
        out_shape=geometry.out_shape,
        n_windows=n_windows,
        trailing=tuple(trailing),
        skipped=tuple(skipped),
        max_reads=max_reads,
        mean_reads=n_windows * window_size / total if total else 0.0,
        view_bytes=view_bytes,
        output_bytes=output_bytes,
        notes=tuple(notes),
        padding=geometry.padding,
        dilation=geometry.dilation,
        ceil_mode=geometry.ceil_mode,
        mode=None if geometry.is_valid else mode,
        cval=None if geometry.is_valid or mode != "constant" else cval.item(),
    )
