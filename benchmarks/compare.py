"""windowkit side by side with what people use instead, in one process.

Run ``make compare`` (or ``python -m benchmarks.compare`` from the repository
root). For every case it builds the input once, runs windowkit and each
installed peer on it, checks that the peer's answer equals windowkit's, and
only then times them: the calls alternate round by round, and each figure is
the median of its rounds. It writes the table between the comparison
markers in ``docs/performance.md``, the plot ``docs/comparison.png``, and a
short table (each case against its fastest peer) between the same markers in
``README.md``.

Peers: numpy stride-trick views and reshape-based blocks, scikit-image's
``block_reduce``, ``scipy.ndimage`` filters and ``scipy.signal.correlate``
(cropped and sliced to the valid, strided output), OpenCV (the ``compare``
extra installs the headless build) and PyTorch (the ``compare`` extra pins
``torch==2.13.0``), and for missing data bottleneck's and numbagg's
moving windows (1-D, stride 1, NaN skipped with ``min_count``) and PyTorch's
``max_pool2d(return_indices=True)``, and for the CNN layer PyTorch's
``conv2d`` and its backward pass (``torch.autograd.grad`` of a forward
graph built once), each used where installed. The
missing-data cases also time windowkit's call without those keywords
("windowkit plain", not checked: its answer differs). A peer that is not installed is reported as
missing, one that cannot do a case (a dtype, an overlap) is left blank, and
one that gives a different answer is reported as such, never timed.
"""

import os

# OpenBLAS's idle threads spin for 2**28 cycles (about 0.1 s) after each of
# numpy's matrix products by default: a PyTorch call right after one of
# windowkit's conv products ran 2x slower on 2 cores (29 to 62 ms), which
# is their spinning, not PyTorch. Set before numpy loads OpenBLAS; it cost
# windowkit's own conv about 5% (46 to 49 ms).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import argparse  # noqa: E402
import importlib  # noqa: E402
import pathlib
import platform
import re
import statistics
import sys
import time

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import windowkit as wk  # noqa: E402

from .common import make_input  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PERFORMANCE = DOCS / "performance.md"
START, END = "<!-- comparison:start -->", "<!-- comparison:end -->"
COMMAND = "make compare"

PEERS = ["numpy view", "numpy reshape", "skimage", "scipy.ndimage", "scipy.signal", "OpenCV",
         "PyTorch", "bottleneck", "numbagg"]
MODULES = {"skimage": "skimage", "scipy.ndimage": "scipy", "scipy.signal": "scipy",
           "OpenCV": "cv2", "PyTorch": "torch", "bottleneck": "bottleneck", "numbagg": "numbagg"}
# windowkit's own call without nan_policy or return_indices, on the same
# data: what they cost (its answer differs, so it is not checked, and it is
# no peer: the "fastest peer" column leaves it out).
PLAIN = "windowkit plain"


class Unsupported(Exception):
    """This peer has no way to compute this case (dtype, stride, reduction)."""


# -- the cases -------------------------------------------------------------------


class Case:
    """One operation on one input: ``op`` is max, min, mean or correlate over
    the two ``axes`` (default: the last two); ``layout`` "C" or "F" (Fortran
    order, as from a transpose or MATLAB). Windowed axes that are not the
    last ones are a channels-last layout: (H, W, C) colour images, NHWC
    batches."""

    def __init__(self, op, shape, dtype, window, stride, layout="C", axes=None,
                 padding="valid", mode=None, dilation=1, nans=0.0, nan_policy="propagate",
                 min_count=None, return_indices=False, groups=1):
        self.op, self.shape, self.dtype = op, shape, np.dtype(dtype)
        # The CNN layer (issue 18): "conv" is wk.conv of (N, C, H, W) with a
        # (C, C // groups, k, k) weight, "conv backward" grad.conv.
        self.groups = groups
        self.window, self.stride, self.layout = window, stride, layout
        self.axes = tuple(axes or ((0,) if len(shape) == 1 else (len(shape) - 2, len(shape) - 1)))
        # Beyond valid windows (issue 16): mode None is the op's default
        # ("ignore" for pools, "constant" 0 for correlate).
        self.padding, self.mode, self.dilation = padding, mode, dilation
        # Missing data (issue 17): this fraction of the input NaN.
        self.nans, self.nan_policy, self.min_count = nans, nan_policy, min_count
        self.return_indices = return_indices

    @property
    def layer(self):
        """Whether the case is the CNN layer's (conv, or its gradients)."""
        return self.op.startswith("conv")

    @property
    def missing_data(self):
        """Whether the case asks for nan_policy, min_count or return_indices."""
        return self.nan_policy != "propagate" or self.return_indices

    @property
    def missing_keywords(self):
        keywords = {}
        if self.nan_policy != "propagate":
            keywords["nan_policy"] = self.nan_policy
        if self.min_count is not None:
            keywords["min_count"] = self.min_count
        if self.return_indices:
            keywords["return_indices"] = True
        return keywords

    @property
    def padded(self):
        return self.padding != "valid"

    @property
    def geometry(self):
        """The keywords beyond valid windows windowkit takes."""
        keywords = {}
        if self.padded:
            keywords["padding"] = self.padding
            if self.mode is not None:
                keywords["mode"] = self.mode
        if self.dilation != 1:
            keywords["dilation"] = self.dilation
        return keywords

    @property
    def mode_or_default(self):
        return self.mode or ("constant" if self.op == "correlate" else "ignore")

    @property
    def channels_last(self):
        return len(self.shape) > 1 and self.axes != (len(self.shape) - 2, len(self.shape) - 1)

    @property
    def label(self):
        size = "×".join(map(str, self.shape)) + (" F-order" if self.layout == "F" else "")
        if self.channels_last:
            size += " NHWC" if len(self.shape) == 4 else " HWC"
        beyond = ""
        if self.padded:
            padding = (self.padding if isinstance(self.padding, str)
                       else f"padding {self.padding}")
            beyond += f", {padding}" + (f" {self.mode}" if self.mode else "")
        if self.dilation != 1:
            beyond += f", dilation {self.dilation}"
        if self.nans:
            beyond += f", {self.nans:.0%} NaN"
        beyond += "".join(f", {name}={value!r}" for name, value in self.missing_keywords.items())
        if self.layer:
            channels = self.shape[-3]
            return (f"{size} {self.dtype.name}, {self.op} {channels}×{channels // self.groups}×"
                    f"{self.window}×{self.window} stride {self.stride}" + beyond
                    + (f", groups={self.groups}" if self.groups != 1 else ""))
        if self.op == "correlate":
            return f"{size} {self.dtype.name}, correlate {self.window}×{self.window}" + (
                f" stride {self.stride}" if self.stride != 1 else "") + beyond
        return f"{size} {self.dtype.name}, {self.op} {self.window}/{self.stride}" + beyond

    @property
    def out_shape(self):
        return wk.output_shape(self.shape, self.window, self.stride, axes=self.axes,
                               padding=self.padding, dilation=self.dilation)

    def same_at_stride_1(self):
        """Whether the case is a "same" filter the image libraries do: stride
        1, odd window (centred as theirs), no dilation."""
        return (self.padding == "same" and self.stride == 1 and self.window % 2 == 1
                and self.dilation == 1)

    def window_shape(self):
        """The window as a shape of ``x.ndim`` axes: 1 along the others."""
        return tuple(self.window if axis in self.axes else 1 for axis in range(len(self.shape)))

    def inputs(self):
        if self.layer:
            # The kernel: the weight, and for the backward pass the output's gradient.
            x = make_input(self.shape, self.dtype) - 0.5
            channels = self.shape[-3]
            weight = make_input((channels, channels // self.groups, self.window, self.window),
                                self.dtype, seed=1) - 0.5
            if self.op == "conv":
                return x, weight
            out = wk.conv(x, weight, self.stride, groups=self.groups, **self.geometry)
            return x, (weight, make_input(out.shape, self.dtype, seed=2) - 0.5)
        x = make_input(self.shape, self.dtype)
        if self.layout == "F":
            x = np.asfortranarray(x)
        if self.nans:
            x[np.random.default_rng(2).random(x.shape) < self.nans] = np.nan
        kernel = make_input((self.window, self.window), self.dtype, seed=1) if self.op == "correlate" else None
        return x, kernel


TABLE_CASES = [
    Case("max", (512, 512), "float64", 4, 4),
    Case("max", (512, 512), "float64", 4, 1),
    Case("min", (512, 512), "float64", 4, 2),
    Case("mean", (512, 512), "float64", 4, 4),
    Case("max", (4096, 4096), "float32", 3, 1),
    Case("max", (4096, 4096), "float32", 2, 2),
    Case("max", (2048, 2048), "float32", 3, 1, layout="F"),
    Case("max", (2048, 2048), "float32", 31, 1),
    Case("mean", (2048, 2048), "float32", 15, 1),
    Case("max", (60000, 28, 28), "uint8", 2, 2),
    Case("correlate", (512, 512), "float64", 3, 1),
    Case("correlate", (512, 512), "float64", 11, 1),
    Case("correlate", (2048, 2048), "float32", 3, 1),
    Case("correlate", (2048, 2048), "float32", 11, 1),
    Case("correlate", (2048, 2048), "float32", 31, 1),
    Case("correlate", (1024, 1024), "float32", 3, 2),
    Case("correlate", (1024, 1024), "float32", 7, 2),
    # Channels last: a colour image and a batch as TensorFlow and JAX lay them out.
    Case("max", (1080, 1920, 3), "uint8", 2, 2, axes=(0, 1)),
    Case("mean", (1080, 1920, 3), "uint8", 3, 1, axes=(0, 1)),
    Case("max", (32, 112, 112, 64), "float32", 3, 2, axes=(1, 2)),
    # Small inputs: the whole call's overhead (target: within 3x of PyTorch).
    Case("max", (8, 8), "float32", 2, 2),
    # Beyond valid windows (issue 16), each after the valid call on the same
    # input: the padded ÷ valid ratio is the cost of the border.
    Case("max", (32, 64, 112, 112), "float32", 3, 2),
    Case("max", (32, 64, 112, 112), "float32", 3, 2, padding=1),  # ResNet's stem
    Case("max", (4096, 4096), "float32", 3, 1, padding="same"),
    Case("mean", (2048, 2048), "float32", 5, 1),
    Case("mean", (2048, 2048), "float32", 5, 1, padding="same", mode="reflect"),
    Case("correlate", (2048, 2048), "float32", 3, 1, padding="same"),
    Case("correlate", (1024, 1024), "float32", 3, 1, dilation=2),
    # Missing data (issue 17), each against the call without its keywords.
    Case("mean", (10**7,), "float64", 64, 1, nans=0.1, nan_policy="omit", min_count=32),
    Case("max", (10**7,), "float64", 64, 1, nans=0.1, nan_policy="omit", min_count=32),
    Case("sum", (10**7,), "float64", 64, 1, nans=0.1, nan_policy="omit", min_count=32),
    Case("max", (2048, 2048), "float32", 31, 1, nans=0.01, nan_policy="omit"),
    Case("mean", (2048, 2048), "float32", 15, 1, nans=0.01, nan_policy="omit"),
    Case("max", (32, 64, 112, 112), "float32", 2, 2, return_indices=True),
    # The CNN layer (issue 18): a ResNet stage's 3x3 convolution, strided, depthwise.
    Case("conv", (32, 64, 56, 56), "float32", 3, 1, padding=1),
    Case("conv", (32, 64, 56, 56), "float32", 3, 2, padding=1),
    Case("conv", (32, 64, 56, 56), "float32", 3, 1, padding=1, groups=64),
    Case("conv backward", (32, 64, 56, 56), "float32", 3, 1, padding=1),
    Case("conv backward", (32, 64, 56, 56), "float32", 3, 2, padding=1),
    Case("conv backward", (32, 64, 56, 56), "float32", 3, 1, padding=1, groups=64),
]

PLOT_WINDOWS = [2, 3, 5, 8, 16, 31]
PLOT_PANELS = [
    ("max pooling, stride 1, 2048×2048 float32", lambda k: Case("max", (2048, 2048), "float32", k, 1)),
    ("correlation, 512×512 float64", lambda k: Case("correlate", (512, 512), "float64", k, 1)),
]


# -- windowkit and its peers --------------------------------------------------------


def run_windowkit(case, x, kernel):
    if case.op == "conv":
        return wk.conv(x, kernel, case.stride, groups=case.groups, **case.geometry)
    if case.op == "conv backward":
        weight, grad_output = kernel
        return wk.grad.conv(grad_output, x, weight, case.stride, groups=case.groups,
                            bias=np.zeros(len(weight), x.dtype), **case.geometry)
    if case.op == "correlate":
        return wk.correlate(x, kernel, case.stride, axes=case.axes, **case.geometry)
    return wk.pool(x, case.window, case.stride, reduce=case.op, axes=case.axes, **case.geometry,
                   **case.missing_keywords)


def run_windowkit_plain(case, x, kernel):
    """The case's call without its missing-data keywords (not checked)."""
    if not case.missing_data:
        raise Unsupported("no missing-data keywords")
    return wk.pool(x, case.window, case.stride, reduce=case.op, axes=case.axes, **case.geometry)


def valid_only(run):
    """A runner for the valid, undilated cases alone (the peer has no
    padding of its own; padding by hand copies the input)."""
    def runner(case, x, kernel):
        if case.padded or case.dilation != 1:
            raise Unsupported("valid windows only")
        return run(case, x, kernel)
    runner.__name__ = run.__name__
    return runner


def _valid_slice(full, case, anchor):
    """Crop a same-size filter output to the valid, strided windows.

    ``full[..., j, ...]`` (along each windowed axis) holds the window that
    starts at ``j - anchor``; keep the ones that start at ``0, s, 2s, ...``
    and end inside the input.
    """
    n_out = wk.output_shape(full.shape, case.window, case.stride, axes=case.axes)
    keep = [slice(None)] * full.ndim
    for axis in case.axes:
        keep[axis] = slice(anchor, anchor + (n_out[axis] - 1) * case.stride + 1, case.stride)
    return full[tuple(keep)]


def run_numpy_view(case, x, kernel):
    view = sliding_window_view(x, (case.window, case.window), axis=case.axes)
    every = [slice(None)] * x.ndim
    for axis in case.axes:
        every[axis] = slice(None, None, case.stride)
    view = view[tuple(every)]
    if case.op == "correlate":
        return np.einsum("...ij,ij->...", view, kernel)
    return getattr(np, case.op)(view, axis=(-2, -1))


def _blocks(case, x):
    """``x`` cropped to whole blocks and reshaped so that each windowed axis
    splits into (blocks, window): the view, and the axes to reduce."""
    k = case.window
    if case.op == "correlate" or case.stride != k:
        raise Unsupported("blocks only")
    first, second = case.axes
    crop = [slice(None)] * x.ndim
    for axis in case.axes:
        crop[axis] = slice(0, x.shape[axis] // k * k)
    x = x[tuple(crop)]
    shape = (x.shape[:first] + (x.shape[first] // k, k) + x.shape[first + 1:second]
             + (x.shape[second] // k, k) + x.shape[second + 1:])
    return x.reshape(shape), (first + 1, second + 2)


def run_numpy_reshape(case, x, kernel):
    blocks, axes = _blocks(case, x)
    return getattr(blocks, case.op)(axis=axes)


def run_skimage(case, x, kernel):
    from skimage.measure import block_reduce

    k = case.window
    if case.op == "correlate" or case.stride != k:
        raise Unsupported("blocks only")
    crop = tuple(slice(0, n // k * k) if axis in case.axes else slice(None)
                 for axis, n in enumerate(x.shape))
    return block_reduce(x[crop], case.window_shape(), getattr(np, case.op))


# np.pad's modes as scipy.ndimage and OpenCV name them. "ignore" for max and
# min: the edge's copy is in the window already, so "nearest" agrees.
NDIMAGE_MODES = {"constant": "constant", "edge": "nearest", "reflect": "mirror",
                 "symmetric": "reflect", "wrap": "wrap"}


def run_scipy_ndimage(case, x, kernel):
    from scipy import ndimage

    k = case.window
    size = case.window_shape()
    mode = "reflect"  # ndimage's default; the valid crop never sees it
    if case.padded or case.dilation != 1:
        if not case.same_at_stride_1():
            raise Unsupported("'same' at stride 1, odd windows")
        mode = case.mode_or_default
        if mode == "ignore" and case.op in ("max", "min"):
            mode = "edge"
        if mode not in NDIMAGE_MODES:
            raise Unsupported(mode)
        mode = NDIMAGE_MODES[mode]
    if case.op == "max":
        full = ndimage.maximum_filter(x, size=size, mode=mode)
    elif case.op == "min":
        full = ndimage.minimum_filter(x, size=size, mode=mode)
    elif case.op == "mean":
        full = ndimage.uniform_filter(x, size=size, output=_mean_dtype(x), mode=mode)
    else:
        full = ndimage.correlate(x, kernel.reshape(size), mode=mode)
    if case.padded:
        return full
    # ndimage centres a window of size k on element k // 2.
    return _valid_slice(full, case, k // 2)


def _mean_dtype(x):
    """The dtype of windowkit's means of ``x`` (float64 for integers, as np.mean)."""
    return np.mean(np.zeros(1, x.dtype)).dtype


def run_scipy_signal(case, x, kernel):
    from scipy import signal

    if case.op != "correlate":
        raise Unsupported("correlation only")
    if case.channels_last:
        raise Unsupported("the last two axes only")
    full = signal.correlate(x, kernel, mode="valid")
    return full[:: case.stride, :: case.stride]


def run_opencv(case, x, kernel):
    import cv2

    k = case.window
    if x.dtype not in (np.uint8, np.float32, np.float64):
        raise Unsupported(x.dtype.name)
    if case.padded or case.dilation != 1:
        return _opencv_same(case, x, kernel)
    if x.ndim == 2 and not x.flags.c_contiguous:
        # OpenCV takes C-ordered images: an F-ordered one's transpose is one
        # (and the windows are square), so filter that and transpose back.
        return run_opencv(case, x.T, None if kernel is None else kernel.T).T
    if case.channels_last:
        # An interleaved (H, W, C) image is OpenCV's own layout, C channels
        # (up to 512); an NHWC batch, its images stacked into rows.
        image = x.reshape((-1,) + x.shape[-2:])
        if case.op == "correlate":
            raise Unsupported("filter2D mixes no channels but takes at most 4")
    else:
        # OpenCV filters 2-D images: stack a batch's images into rows.
        image = x.reshape(-1, x.shape[-1])
    # The valid windows never reach across two stacked images, so the crop
    # below is exact.
    ones = np.ones((k, k), np.uint8)
    if case.op == "max":
        full = cv2.dilate(image, ones)
    elif case.op == "min":
        full = cv2.erode(image, ones)
    elif case.op == "mean":
        # blur rounds uint8 means to uint8: blur the image in windowkit's
        # mean dtype, as a user after exact means would.
        full = cv2.blur(image.astype(_mean_dtype(image), copy=False), (k, k))
    else:
        full = cv2.filter2D(image, -1, kernel)
    # OpenCV anchors a k-sized kernel at k // 2, as ndimage does.
    return _valid_slice(full.reshape(x.shape), case, k // 2)


def _opencv_same(case, x, kernel):
    """A "same" filter of a 2-D image with OpenCV's border types."""
    import cv2

    if not case.same_at_stride_1() or x.ndim != 2 or case.channels_last:
        raise Unsupported("'same' at stride 1 on a 2-D image")
    borders = {"constant": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE,
               "reflect": cv2.BORDER_REFLECT_101, "symmetric": cv2.BORDER_REFLECT,
               "ignore": cv2.BORDER_REPLICATE}  # "ignore": max and min only, below
    mode = case.mode_or_default
    if mode not in borders or (mode == "ignore" and case.op not in ("max", "min")):
        raise Unsupported(mode)
    border = borders[mode]
    ones = np.ones((case.window, case.window), np.uint8)
    if case.op == "max":
        return cv2.dilate(x, ones, borderType=border)
    if case.op == "min":
        return cv2.erode(x, ones, borderType=border)
    if case.op == "mean":
        return cv2.blur(x.astype(_mean_dtype(x), copy=False), (case.window, case.window),
                        borderType=border)
    return cv2.filter2D(x, -1, kernel, borderType=border)


def run_pytorch(case, x, kernel):
    import torch
    import torch.nn.functional as F

    if x.dtype not in (np.float32, np.float64):
        raise Unsupported(f"{x.dtype.name} pooling")
    k, s = case.window, case.stride
    if case.channels_last:
        # (N, H, W, C) memory is an (N, C, H, W) tensor in channels_last:
        # permute the view, not the data, as a user of channels_last would.
        t = torch.from_numpy(x.reshape((-1,) + x.shape[-3:])).permute(0, 3, 1, 2)
        if case.op == "correlate":
            raise Unsupported("conv2d mixes channels")
    else:
        t = torch.from_numpy(x).reshape((-1, 1) + x.shape[-2:])
    p, d = _pytorch_padding(case)
    with torch.no_grad():
        if case.op == "max":
            y = F.max_pool2d(t, k, s, padding=p, dilation=d)
        elif case.op == "min":
            y = -F.max_pool2d(-t, k, s, padding=p, dilation=d)
        elif case.op == "mean":
            if d != 1:
                raise Unsupported("avg_pool2d has no dilation")
            y = F.avg_pool2d(t, k, s, padding=p, count_include_pad=case.mode == "constant")
        else:
            y = F.conv2d(t, torch.from_numpy(kernel)[None, None], stride=s, padding=p,
                         dilation=d)
    if case.channels_last:
        y = y.permute(0, 2, 3, 1)
    return y.numpy().reshape(case.out_shape)


def _pytorch_padding(case):
    """PyTorch's ``padding`` and ``dilation`` for the case: a symmetric
    padding of what PyTorch pads with (the implicit -inf of max pooling,
    zeros, or no element for ``count_include_pad=False``)."""
    if not (case.padded or case.dilation != 1):
        return 0, 1
    mode = case.mode_or_default
    # Zeros for conv2d, -inf (no element) for max_pool2d, either for avg_pool2d.
    pads_with = {"correlate": ("constant",), "mean": ("ignore", "constant")}
    if mode not in pads_with.get(case.op, ("ignore",)):
        raise Unsupported(mode)
    pairs = set(wk.choose_method(
        case.op, case.shape, case.window, case.stride, axes=case.axes, padding=case.padding,
        dilation=case.dilation).padding)
    if len(pairs) != 1 or len({before for pair in pairs for before in pair}) != 1:
        raise Unsupported("a padding other than the same on every side")
    return pairs.pop()[0], case.dilation


def run_bottleneck(case, x, kernel):
    """bottleneck's moving window (1-D, stride 1, NaN skipped, ``min_count``),
    cropped to the windows that lie inside the signal."""
    import bottleneck

    if not (x.ndim == 1 and case.stride == 1 and case.nan_policy == "omit"):
        raise Unsupported("1-D moving windows at stride 1 only")
    move = {"max": bottleneck.move_max, "min": bottleneck.move_min,
            "mean": bottleneck.move_mean, "sum": bottleneck.move_sum}[case.op]
    return move(x, case.window, min_count=case.min_count)[case.window - 1:]


def run_numbagg(case, x, kernel):
    """numbagg's moving mean and sum (1-D, stride 1, ``min_count``), cropped."""
    import numbagg

    if not (x.ndim == 1 and case.stride == 1 and case.nan_policy == "omit"
            and case.op in ("mean", "sum")):
        raise Unsupported("moving mean and sum only")
    move = numbagg.move_mean if case.op == "mean" else numbagg.move_sum
    return move(x, window=case.window, min_count=case.min_count)[case.window - 1:]


def run_pytorch_indices(case, x, kernel):
    """``max_pool2d(return_indices=True)``: PyTorch's own flat indices
    (turned into coordinates only to check them, outside the timing)."""
    import torch
    import torch.nn.functional as F

    if not (case.return_indices and case.op == "max" and case.nan_policy == "propagate"
            and len(case.axes) == 2 and not case.channels_last):
        raise Unsupported("max pooling indices only")
    t = torch.from_numpy(x).reshape((-1, 1) + x.shape[-2:])
    p, d = _pytorch_padding(case)
    with torch.no_grad():
        return F.max_pool2d(t, case.window, case.stride, padding=p, dilation=d,
                            return_indices=True)


def for_plain_data(run):
    """A runner for the cases without missing-data keywords or the CNN
    layer: the peer has neither NaN skipping nor indices, nor channels."""
    def runner(case, x, kernel):
        if case.missing_data or case.layer:
            raise Unsupported("no nan_policy, indices or CNN layer")
        return run(case, x, kernel)
    runner.__name__ = run.__name__
    return runner


def run_pytorch_layer(case, x, kernel):
    """``conv2d``; for the backward pass, ``torch.autograd.grad`` of the
    gradients of the input, the weight and a bias, from a forward graph
    built once per input (its forward pass is not timed, nor windowkit's)."""
    import torch
    import torch.nn.functional as F

    if not isinstance(case.padding, int):
        raise Unsupported("an int padding")
    p = case.padding
    if case.op == "conv":
        with torch.no_grad():
            return F.conv2d(torch.from_numpy(x), torch.from_numpy(kernel), stride=case.stride,
                            padding=p, groups=case.groups)
    weight, grad_output = kernel
    key = (id(x), id(weight))
    if getattr(case, "_graph_key", None) != key:
        tensors = [torch.from_numpy(a).requires_grad_()
                   for a in (x, weight, np.zeros(len(weight), x.dtype))]
        y = F.conv2d(*tensors, stride=case.stride, padding=p, groups=case.groups)
        case._graph, case._graph_key = (y, tensors, torch.from_numpy(grad_output)), key
    y, tensors, gradient = case._graph
    return torch.autograd.grad(y, tensors, gradient, retain_graph=True)


def run_pytorch_any(case, x, kernel):
    if case.layer:
        return run_pytorch_layer(case, x, kernel)
    if case.return_indices:
        return run_pytorch_indices(case, x, kernel)
    return for_plain_data(run_pytorch)(case, x, kernel)


RUNNERS = {
    "numpy view": valid_only(run_numpy_view),
    "numpy reshape": valid_only(run_numpy_reshape),
    "skimage": valid_only(run_skimage),
    "scipy.ndimage": run_scipy_ndimage,
    "scipy.signal": valid_only(run_scipy_signal),
    "OpenCV": run_opencv,
    "PyTorch": run_pytorch_any,
    "bottleneck": run_bottleneck,
    "numbagg": run_numbagg,
}
for _peer in ("numpy view", "numpy reshape", "skimage", "scipy.ndimage", "scipy.signal",
              "OpenCV"):
    RUNNERS[_peer] = for_plain_data(RUNNERS[_peer])


def available(peer):
    try:
        importlib.import_module(MODULES.get(peer, "numpy"))
        return True
    except ImportError:
        return False


def same_answer(result, expected, case):
    """Exact for max and min; to rounding for sums (FFT and pairwise sums
    differ); indices as coordinates."""
    if case.return_indices:
        values, flat = (np.asarray(part) for part in result)
        width = case.shape[-1]
        coordinates = np.stack([flat // width, flat % width], axis=-1).reshape(
            expected[1].shape)
        return np.array_equal(values.reshape(expected[0].shape), expected[0]) and np.array_equal(
            coordinates, expected[1])
    if case.op == "conv backward":
        return len(result) == len(expected) and all(
            _close(np.asarray(got), want, case) for got, want in zip(result, expected))
    return _close(np.asarray(result), expected, case)


def _close(result, expected, case):
    if result.shape != expected.shape:
        return False
    if case.op in ("max", "min"):
        return np.array_equal(result, expected, equal_nan=True)
    rtol = 1e-4 if case.dtype == np.float32 else 1e-9
    scale = np.nanmax(np.abs(expected)) if expected.size else 1.0
    return np.allclose(result, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)


# -- timing ----------------------------------------------------------------------------


def median_times(calls, rounds, budget):
    """Median seconds per call of each ``calls[name]()``, alternating round by round.

    A fast call is repeated within a round until the round lasts 20 ms or
    more; rounds stop early when ``budget`` seconds have passed (at least 3).
    """
    loops = {}
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        once = time.perf_counter() - start
        loops[name] = max(1, int(0.02 / max(once, 1e-7)))
    samples = {name: [] for name in calls}
    started = time.perf_counter()
    for round_index in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(loops[name]):
                call()
            samples[name].append((time.perf_counter() - start) / loops[name])
        if round_index >= 2 and time.perf_counter() - started > budget:
            break
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(case, peers, rounds, budget):
    """Check every peer against windowkit, then time those that agree."""
    x, kernel = case.inputs()
    expected = run_windowkit(case, x, kernel)  # compiles outside the timing
    calls = {"windowkit": lambda: run_windowkit(case, x, kernel)}
    notes = {}
    for peer in peers:
        if not available(peer):
            notes[peer] = "missing"
            continue
        try:
            result = RUNNERS[peer](case, x, kernel)
        except Unsupported:
            notes[peer] = ""
            continue
        if not same_answer(result, expected, case):
            notes[peer] = "differs"
            continue
        calls[peer] = lambda peer=peer: RUNNERS[peer](case, x, kernel)
    if case.missing_data:
        calls[PLAIN] = lambda: run_windowkit_plain(case, x, kernel)
    times = median_times(calls, rounds, budget)
    return times, notes


# -- output ------------------------------------------------------------------------------


def format_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def table(rows, peers):
    header = ["case", "windowkit"] + peers + ["windowkit ÷ fastest peer", f"windowkit ÷ {PLAIN}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, times, notes in rows:
        others = {name: t for name, t in times.items() if name not in ("windowkit", PLAIN)}
        cells = [case.label, format_time(times["windowkit"])]
        for peer in peers:
            cells.append(format_time(times[peer]) if peer in times else notes.get(peer, ""))
        if others:
            fastest = min(others, key=others.get)
            cells.append(f"{times['windowkit'] / others[fastest]:.2f} ({fastest})")
        else:
            cells.append("no peer")
        cells.append(f"{times['windowkit'] / times[PLAIN]:.2f}" if PLAIN in times else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def short_table(rows):
    """The README's table: each case, windowkit, its fastest peer and the ratio."""
    lines = ["| case | windowkit | fastest peer | windowkit ÷ peer |", "|---|---|---|---|"]
    for case, times, notes in rows:
        others = {name: t for name, t in times.items() if name not in ("windowkit", PLAIN)}
        if not others:
            continue
        fastest = min(others, key=others.get)
        lines.append(f"| {case.label} | {format_time(times['windowkit'])} | {fastest}, "
                     f"{format_time(others[fastest])} | {times['windowkit'] / others[fastest]:.2f} |")
    return "\n".join(lines)


def footnote(args):
    import numba

    versions = {"numpy": np.__version__, "numba": numba.__version__}
    for name, module in [("scipy", "scipy"), ("scikit-image", "skimage"), ("OpenCV", "cv2"),
                         ("PyTorch", "torch"), ("matplotlib", "matplotlib")]:
        try:
            versions[name] = importlib.import_module(module).__version__
        except ImportError:
            versions[name] = "not installed"
    threads = [f"Numba {numba.get_num_threads()}"]
    try:
        import cv2
        threads.append(f"OpenCV {cv2.getNumThreads()}")
    except ImportError:
        pass
    try:
        import torch
        threads.append(f"PyTorch {torch.get_num_threads()}")
    except ImportError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        model = re.search(r"model name\s*:\s*(.*)", pathlib.Path("/proc/cpuinfo").read_text())
        cpu = model.group(1) if model else cpu
    except OSError:
        pass
    return (
        f"Measured by `{COMMAND}` (`python -m benchmarks.compare --rounds {args.rounds}`) on "
        f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}; "
        f"threads: {', '.join(threads)}, numpy at its default. Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ". Each figure is the median of alternating rounds in one process; each peer's output "
        "was checked against windowkit's before timing (exact for max/min, to rounding for sums). "
        "Blank: the peer cannot do that case (a dtype, overlapping windows); missing: not installed. "
        "windowkit's first call compiles its kernel; that call is not timed. "
        "windowkit runs its default, method=\"auto\" (wk.choose_method says what it picks). "
        "The 8×8 row times the whole call on a tiny input (validation, dispatch, allocation)."
    )


def plot(panels, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), constrained_layout=True)
    for ax, (title, series) in zip(np.atleast_1d(axes), panels):
        for name, points in series.items():
            if points:
                ks, ts = zip(*points)
                # One colour per implementation, the same in every panel.
                colour = f"C{(['windowkit'] + PEERS).index(name)}"
                ax.plot(ks, ts, marker="o", label=name, color=colour,
                        linewidth=2.5 if name == "windowkit" else 1.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(PLOT_WINDOWS, [str(k) for k in PLOT_WINDOWS])
        ax.set_xlabel("window size (k×k)")
        ax.set_ylabel("median time per call (s)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_between_markers(path, markdown):
    """Replace the text between the comparison markers of ``path``."""
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{path.name} lacks the {START} ... {END} markers")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    path.write_text(before + START + "\n" + markdown + "\n" + END + after)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds per case (median)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per case before stopping early")
    parser.add_argument("--quick", action="store_true", help="3 rounds, no plot: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ and README alone")
    parser.add_argument("--only", default="", help="run the cases whose label holds this text "
                        "(print only)")
    args = parser.parse_args(argv)
    if args.only:
        args.no_write = True
    if args.quick:
        args.rounds, args.budget = 3, 2.0
    try:
        import torch
        import numba
        torch.set_num_threads(numba.get_num_threads())
    except ImportError:
        pass

    rows = []
    for case in [case for case in TABLE_CASES if args.only in case.label]:
        times, notes = measure(case, PEERS, args.rounds, args.budget)
        rows.append((case, times, notes))
        print(f"{case.label:45s} windowkit {format_time(times['windowkit']):>9s}  "
              + "  ".join(f"{p} {format_time(t)}" for p, t in times.items() if p != "windowkit"),
              flush=True)
    markdown = table(rows, PEERS) + "\n\n" + footnote(args)
    print(markdown)
    if args.no_write or args.quick:
        return

    panels = []
    for title, make_case in PLOT_PANELS:
        series = {}
        for k in PLOT_WINDOWS:
            times, _ = measure(make_case(k), PEERS, max(3, args.rounds // 3), args.budget / 2)
            for name, t in times.items():
                series.setdefault(name, []).append((k, t))
            print(f"plot: {title}, window {k}", flush=True)
        panels.append((title, series))

    plot(panels, DOCS / "comparison.png")
    update_between_markers(PERFORMANCE, markdown + "\n\n![time against window size](comparison.png)")
    update_between_markers(README, short_table(rows) + "\n\nMeasured by `make compare`; the "
                           "whole table, the peers' own times and the conditions are in "
                           "[docs/performance.md](docs/performance.md).")
    print(f"wrote the tables in {PERFORMANCE} and {README}, and {DOCS / 'comparison.png'}")


if __name__ == "__main__":
    sys.exit(main())
