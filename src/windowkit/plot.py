"""Figures for teaching sliding windows (needs matplotlib: ``pip install windowkit[plot]``).

Every function returns a :class:`matplotlib.figure.Figure` and never shows it:
save it with ``fig.savefig(path)``, or let a notebook display it. Figures are
made with ``matplotlib.figure.Figure`` directly, not ``pyplot``, so nothing
here opens a window or keeps figures alive in a global registry.
"""

import numpy as np

from . import _api
from . import _validation as v

__all__ = ["plot_pixels", "plot_windows", "plot_pools"]


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "windowkit.plot needs matplotlib: pip install 'windowkit[plot]'"
        ) from None
    return Figure(figsize=(width, height), layout="constrained")


def _as_image(img):
    """A 2-D array to draw: grey as it is, RGB(A) as is for imshow."""
    img = np.asarray(img)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(
            f"expected a 2-D grey image or an (rows, cols, 3 or 4) colour image, "
            f"got shape {img.shape}"
        )
    return img


def plot_pixels(img, *, ax=None, cmap="gray", fmt=None, fontsize=None):
    """Draw a small grey image with every pixel's value written on it.

    The image as numbers a for-loop walks over. Text is white on dark pixels
    and black on light ones, so every value stays readable.

    Parameters
    ----------
    img : array_like, 2-D
        A small image (up to about 40 x 40 pixels stays readable).
    ax : matplotlib Axes, optional
        Draw into this Axes; by default a new Figure is made.
    cmap : str
        Colour map of the pixels.
    fmt : str, optional
        Format of the values; default ``"{:d}"`` for integers, ``"{:.2g}"``
        for floats.
    fontsize : float, optional
        Default: scaled to the image size.

    Returns
    -------
    matplotlib.figure.Figure
    """
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"plot_pixels draws a 2-D grey image, got shape {img.shape}")
    if img.size == 0:
        raise ValueError("plot_pixels needs at least one pixel")
    if img.size > 100 * 100:
        raise ValueError(
            f"plot_pixels writes one number per pixel; {img.shape} is too large to "
            f"read: crop or pool it first (e.g. wk.mean_pool(img, 8))"
        )
    if fmt is None:
        fmt = "{:d}" if img.dtype.kind in "biu" else "{:.2g}"
    if ax is None:
        side = max(4.0, 0.32 * max(img.shape))
        fig = _figure(side, side * img.shape[0] / img.shape[1])
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    values = img.astype(np.float64)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    ax.imshow(values, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    middle = (low + high) / 2
    size = fontsize or max(4.0, 9.0 - 0.12 * max(img.shape))
    for (row, col), value in np.ndenumerate(img):
        colour = "black" if values[row, col] > middle else "white"
        text = fmt.format(value.item() if hasattr(value, "item") else value)
        ax.text(col, row, text, ha="center", va="center", color=colour, fontsize=size)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{img.shape[0]} x {img.shape[1]} {img.dtype} pixels")
    return fig


def plot_windows(shape_or_img, window, stride=1, *, ax=None, max_windows=400, padding="valid",
                 dilation=1):
    """Draw where the windows go: every window position, and what no window covers.

    Parameters
    ----------
    shape_or_img : tuple of 2 ints, or a 2-D / colour image
        The image, or just its (rows, cols).
    window, stride : int or tuple of 2 ints
        As in :func:`windowkit.windows`.
    ax : matplotlib Axes, optional
    max_windows : int
        Outline at most this many windows (evenly chosen), so that large
        images stay readable; the title gives the full count.
    padding, dilation
        As in :func:`windowkit.pool`.

    Returns
    -------
    matplotlib.figure.Figure
        Windows are outlined, the first one filled (with dilation, only its
        elements); padded positions are hatched in grey around the image,
        trailing rows and columns that no window covers in red.
    """
    from matplotlib.patches import Rectangle

    if isinstance(shape_or_img, tuple) and all(isinstance(n, (int, np.integer)) for n in shape_or_img):
        shape, img = v.as_shape(shape_or_img), None
    else:
        img = _as_image(shape_or_img)
        shape = img.shape[:2]
    if len(shape) != 2:
        raise ValueError(f"plot_windows draws a 2-D image, got shape {shape}")
    geometry = v.geometry(shape, window, stride, None, padding=padding, dilation=dilation)
    (k_rows, k_cols), (s_rows, s_cols) = geometry.window, geometry.stride
    (e_rows, e_cols), (d_rows, d_cols) = geometry.extent, geometry.dilation
    ((top, bottom), (left, right)) = geometry.padding
    out_rows, out_cols = geometry.out_shape
    if ax is None:
        fig = _figure(6, 6 * shape[0] / max(shape[1], 1) + 0.6)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if img is not None:
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    else:
        ax.imshow(np.ones(shape), cmap="gray", vmin=0, vmax=1.2)
    step_rows = max(1, int(np.ceil(out_rows / np.sqrt(max_windows))))
    step_cols = max(1, int(np.ceil(out_cols / np.sqrt(max_windows))))
    # The padded frame, in the input's coordinates: rows -top to rows + bottom.
    rows, cols = shape[0] + top + bottom, shape[1] + left + right
    padded = dict(hatch="xx", fill=False, edgecolor="0.6", linewidth=0)
    for corner, width, height in (((-left, -top), cols, top), ((-left, shape[0]), cols, bottom),
                                  ((-left, 0), left, shape[0]), ((shape[1], 0), right, shape[0])):
        if width and height:
            ax.add_patch(Rectangle((corner[0] - 0.5, corner[1] - 0.5), width, height, **padded))
    dilated = (d_rows, d_cols) != (1, 1)
    for r in range(0, out_rows, step_rows):
        for c in range(0, out_cols, step_cols):
            first = r == 0 and c == 0
            row0, col0 = r * s_rows - top, c * s_cols - left
            ax.add_patch(Rectangle(
                (col0 - 0.5, row0 - 0.5), e_cols, e_rows,
                fill=first and not dilated, alpha=0.35 if first else 0.9,
                facecolor="tab:blue", edgecolor="tab:blue", linewidth=1.0,
            ))
            if first and dilated:  # the elements the window reads
                for a in range(k_rows):
                    for b in range(k_cols):
                        ax.add_patch(Rectangle((col0 + b * d_cols - 0.5, row0 + a * d_rows - 0.5),
                                               1, 1, alpha=0.5, facecolor="tab:blue"))
    covered_rows = (out_rows - 1) * s_rows + e_rows
    covered_cols = (out_cols - 1) * s_cols + e_cols
    dropped = dict(hatch="///", fill=False, edgecolor="tab:red", linewidth=0)
    if covered_rows < rows:
        ax.add_patch(Rectangle((-left - 0.5, covered_rows - top - 0.5), cols, rows - covered_rows,
                               **dropped))
    if covered_cols < cols:
        ax.add_patch(Rectangle((covered_cols - left - 0.5, -top - 0.5), cols - covered_cols, rows,
                               **dropped))
    ax.set_xlim(-left - 0.5, shape[1] + right - 0.5)
    ax.set_ylim(shape[0] + bottom - 0.5, -top - 0.5)
    title = (f"window {k_rows}x{k_cols}, stride {s_rows}x{s_cols}: "
             f"{out_rows}x{out_cols} = {out_rows * out_cols:,} windows")
    if top or bottom or left or right or dilated:
        title += (f"\ngrey: padding ({top}, {bottom}) x ({left}, {right})"
                  + (f", dilation {d_rows}x{d_cols}" if dilated else ""))
    if covered_rows < rows or covered_cols < cols:
        title += (f"\nred: {rows - covered_rows} row(s), {cols - covered_cols} "
                  f"column(s) in no window")
    ax.set_title(title, fontsize=9)
    return fig


def plot_pools(img, window, stride=None, *, axes=None):
    """Max, min, mean and sum pooling of ``img`` side by side, with their shapes.

    Parameters
    ----------
    img : array_like
        A grey image, or a colour image (rows, cols, 3) pooled per channel
        (``axes=(0, 1)`` by default for colour).
    window, stride, axes
        As in :func:`windowkit.pool`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    img = _as_image(img)
    if axes is None:
        axes = (0, 1)
    results = [(reduce, _api.pool(img, window, stride, reduce=reduce, axes=axes))
               for reduce in ("max", "min", "mean", "sum")]
    count = np.prod(v.geometry(img.shape, window, stride, axes, default_stride="window").window)
    fig = _figure(13, 3.8)
    panels = fig.subplots(1, 4)
    for ax, (reduce, pooled) in zip(panels, results):
        if pooled.ndim == 3:
            # Colour: imshow wants [0, 1]; sums are scaled back to means.
            shown = pooled / count if reduce == "sum" else pooled
            shown = np.clip(shown / (255.0 if img.dtype == np.uint8 else 1.0), 0, 1)
            ax.imshow(shown, interpolation="nearest")
        else:
            ax.imshow(pooled, cmap="gray", interpolation="nearest")
        ax.set_title(f"{reduce} pool: {pooled.shape}, {pooled.dtype}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    stride_text = "window" if stride is None else stride
    fig.suptitle(f"{img.shape} pooled with window {window}, stride {stride_text}")
    return fig
