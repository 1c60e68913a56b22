"""``windowkit demo``: the sliding-window notebook, run on the astronaut image.

Writes PNG figures, a Markdown report that embeds them, and a timing table of
the same loop interpreted (``impl="python"``), compiled (``impl="numba"``,
``method="direct"``) and vectorised with a stride-trick view
(``impl="strided"``). Needs the ``plot`` extra (matplotlib, scikit-image,
tqdm); no network: the astronaut image ships with scikit-image. ``--cnn``
adds a small CNN trained on scikit-learn's digits (:mod:`windowkit._cnn`).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from . import _api, _explain

IMAGES = ("astronaut", "camera", "coins", "moon", "chelsea", "coffee", "rocket")
TIMED_OPS = {
    "max_pool": lambda x, window, stride, **kw: _api.max_pool(x, window, stride, **kw),
    "mean_pool": lambda x, window, stride, **kw: _api.mean_pool(x, window, stride, **kw),
    "correlate 3x3": lambda x, window, stride, **kw: _api.correlate(x, SMOOTH, stride, **kw),
}
SMOOTH = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
# Asymmetric on purpose: correlation and convolution differ by its flip.
EDGE = np.array([[3.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -3.0]])


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="windowkit demo",
        description="Walk through sliding windows on an image: pooling, valid output "
        "sizes, pixels as numbers, correlation versus convolution, and what loops and "
        "vectorisation cost. Writes figures and report.md into --out.",
    )
    parser.add_argument("--out", default="windowkit-demo", type=Path,
                        help="folder for the figures and report (default: %(default)s)")
    parser.add_argument("--image", default="astronaut",
                        help=f"a path to an image file, or a scikit-image sample: "
                        f"{', '.join(IMAGES)} (default: %(default)s)")
    parser.add_argument("--window", default=4, type=int, help="pooling window (default: 4)")
    parser.add_argument("--stride", default=2, type=int, help="pooling stride (default: 2)")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller timing image and fewer repeats (seconds, not tens)")
    parser.add_argument("--cnn", action="store_true",
                        help="also train a small CNN from scratch on scikit-learn's digits "
                        "with windowkit's forward and backward passes (a few seconds)")
    args = parser.parse_args(argv)
    if args.window < 1 or args.stride < 1:
        parser.error("--window and --stride must be positive integers")
    return args


def load_image(name):
    """A named scikit-image sample or an image file, as an array."""
    import skimage.data
    import skimage.io

    if name in IMAGES:
        return getattr(skimage.data, name)()
    path = Path(name)
    if not path.is_file():
        raise SystemExit(
            f"windowkit demo: --image {name!r} is neither a file nor one of {', '.join(IMAGES)}"
        )
    return skimage.io.imread(path)


def to_grey(img):
    """float64 grey in [0, 1] and its uint8 version, from any grey or colour image."""
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        img = rgba2rgb(img)
    grey = rgb2gray(img) if img.ndim == 3 else img_as_float(img)
    # Scale first, then cast. The notebook's 255 * grey.astype("uint8") casts
    # values in [0, 1] to 0 first: an all-black image.
    return grey, np.round(255 * grey).astype(np.uint8)


def figure_inputs(img, grey, out):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(img, cmap="gray" if img.ndim == 2 else None)
    left.set_title(f"input {img.shape} {img.dtype}")
    right.imshow(grey, cmap="gray")
    right.set_title(f"grey {grey.shape} {grey.dtype}")
    for ax in (left, right):
        ax.set_axis_off()
    return _save(fig, out / "input.png")


def figure_correlation(grey_u8, out):
    """Correlation versus convolution with an asymmetric kernel: the flip shows."""
    from matplotlib.figure import Figure

    impulse = np.zeros((7, 7))
    impulse[3, 3] = 1
    image = grey_u8.astype(np.float64)
    fig = Figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(2, 3)
    rows = [("impulse", impulse), ("image", image)]
    for (name, x), row in zip(rows, axes):
        row[0].imshow(EDGE, cmap="coolwarm", vmin=-3, vmax=3)
        row[0].set_title("kernel")
        for ax, op in zip(row[1:], (_api.correlate, _api.convolve)):
            result = op(x, EDGE)
            ax.imshow(result, cmap="coolwarm" if name == "impulse" else "gray")
            ax.set_title(f"{op.__name__}({name}): {result.shape}")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("correlate slides the kernel as it is; convolve slides it flipped "
                 "(an impulse shows the kernel reversed / as is)")
    return _save(fig, out / "correlation_vs_convolution.png")


def _save(fig, path):
    fig.savefig(path, dpi=80)
    return path


def time_loops(grey_u8, window, stride, quick, progress):
    """Median seconds of each op for each impl, and the compile time of the numba loop."""
    # The whole image, so that the interpreted loop takes seconds, as it
    # would in a real script; --quick times a 128 x 128 crop.
    side = 128 if quick else max(grey_u8.shape)
    x = grey_u8[:side, :side].astype(np.float64)
    repeats = {"python": 1 if quick else 3, "numba": 5 if quick else 21,
               "strided": 5 if quick else 21}
    rows = []
    steps = [(op, impl) for op in TIMED_OPS for impl in repeats]
    with progress(total=len(steps), desc="timing loops", unit="run") as bar:
        for op, impl in steps:
            bar.set_postfix_str(f"{op}, {impl}")
            call = TIMED_OPS[op]
            kwargs = dict(impl=impl) if impl == "strided" else dict(impl=impl, method="direct")
            compile_time = None
            if impl == "numba":
                start = time.perf_counter()
                call(x, window, stride, **kwargs)  # compiles, or loads from the cache
                compile_time = time.perf_counter() - start
            samples = []
            for _ in range(repeats[impl]):
                start = time.perf_counter()
                call(x, window, stride, **kwargs)
                samples.append(time.perf_counter() - start)
            rows.append((op, impl, statistics.median(samples), compile_time))
            bar.update()
    return x.shape, rows


def timing_table(shape, rows, window, stride):
    times = {(op, impl): seconds for op, impl, seconds, _ in rows}
    compile_times = {op: c for op, impl, _, c in rows if impl == "numba"}
    lines = [
        f"Each op on {shape[0]}x{shape[1]} float64 grey pixels, window {window}, stride {stride} "
        f"(correlation: 3x3, stride {stride}); medians. The python and numba columns run "
        f"the very same loop source (`method=\"direct\"`).",
        "",
        "| op | python loop | numba loop | stride-trick view | numba speed-up | "
        "strided speed-up | first numba call (compile or cache load) |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in TIMED_OPS:
        python, numba, strided = (times[(op, impl)] for impl in ("python", "numba", "strided"))
        lines.append(
            f"| {op} | {_ms(python)} | {_ms(numba)} | {_ms(strided)} | "
            f"{python / numba:,.0f}× faster | {python / strided:,.0f}× faster | "
            f"{_ms(compile_times[op])} |"
        )
    return "\n".join(lines)


def _ms(seconds):
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def write_report(out, image_name, img, figures, explanation, table, window, stride, cnn=None):
    grey_shape = img.shape[:2]
    text = f"""# windowkit demo: sliding windows on `{image_name}`

Made by `windowkit demo`. Input {img.shape} {img.dtype}; grey {grey_shape}.

![input and grey]({figures["input"].name})

## Pooling: max, min, mean, sum

Window {window}, stride {stride}. Max pooling keeps the brightest pixel of
each window: detail drops, strong features survive (why CNNs use it). Min
pooling darkens the image and thin bright features vanish. Mean pooling
smooths; one window the size of the image is global average pooling.

![pools]({figures["pools"].name})

## Where the windows go

{_fence(str(explanation))}

![windows]({figures["windows"].name})

## The image as numbers

A for-loop walks over these numbers: the image mean-pooled down to a small
grid, every pixel's value written on it.

![pixels]({figures["pixels"].name})

## Correlation versus convolution

![correlation versus convolution]({figures["correlation"].name})

## What loops and vectorisation cost

{table}

The interpreted loop pays Python's cost per pixel and per window element.
Compiled, the same loop runs at machine speed. The stride-trick view cuts
out every window at once (no copy) and lets numpy reduce them all in one
vectorised call, at the price of reading each pixel once per window it
lies in.
"""
    if cnn is not None:
        line, steps = cnn
        text += f"""
## A network trained from scratch

{line}: conv 3x3 -> ReLU -> max_pool 2 -> conv 3x3 -> ReLU -> dense ->
softmax on scikit-learn's 8x8 digits, forward and backward by windowkit
(`windowkit/_cnn.py`).

![digits CNN]({figures["cnn"].name})

One training step, the layers run four ways (and the same network in
PyTorch, where installed):

{steps}
"""
    path = out / "report.md"
    path.write_text(text)
    return path


def _fence(text):
    return f"```\n{text}\n```"


def run(args, progress):
    from . import plot

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    img = load_image(args.image)
    grey, grey_u8 = to_grey(img)
    window, stride = args.window, args.stride
    if window > min(grey.shape):
        raise SystemExit(f"windowkit demo: --window {window} does not fit the image {grey.shape}")
    figures = {"input": figure_inputs(img, grey, out)}
    figures["pools"] = _save(plot.plot_pools(grey_u8, window, stride), out / "pools.png")
    crop = grey_u8[200:221, 200:221]
    if min(crop.shape) >= window:
        windows_fig = plot.plot_windows(crop, window, stride)
    else:
        windows_fig = plot.plot_windows(grey_u8.shape, window, stride)
    figures["windows"] = _save(windows_fig, out / "windows.png")
    # Pool down to about 28 x 28 pixels, like an MNIST digit.
    block = max(1, min(grey_u8.shape) // 28)
    small = np.round(_api.mean_pool(grey_u8, block)).astype(np.uint8)[:28, :28]
    figures["pixels"] = _save(plot.plot_pixels(small), out / "pixels.png")
    figures["correlation"] = figure_correlation(grey_u8, out)
    explanation = _explain.explain(grey.shape, window, stride)
    shape, rows = time_loops(grey_u8, window, stride, args.quick, progress)
    table = timing_table(shape, rows, window, stride)
    cnn = None
    if args.cnn:
        cnn = train_cnn(out, figures, epochs=5 if args.quick else 20)
    report = write_report(out, args.image, img, figures, explanation, table, window, stride,
                          cnn)
    return report, figures, table, explanation, cnn


def train_cnn(out, figures, epochs):
    """The digits network of :mod:`windowkit._cnn` trained: its figure
    (in ``figures``), and ``(line, table)``: its result, and one training
    step timed four ways (:func:`windowkit._cnn.step_times`)."""
    from . import _cnn

    params, history = _cnn.train(epochs=epochs)
    figures["cnn"] = _cnn.figure(params, history, out / "digits_cnn.png")
    return _cnn.report(history), _cnn.step_table(_cnn.step_times(batch=32), 32)


def main(argv=None):
    """Entry point of ``windowkit demo`` and ``python -m windowkit demo``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] != "demo":
        print("usage: windowkit demo [--out DIR] [--image NAME_OR_PATH] [--window K] "
              "[--stride S] [--quick] [--cnn]\n(windowkit demo --help says more)",
              file=sys.stderr)
        return 2
    args = parse_args(argv[1:])
    try:
        import matplotlib  # noqa: F401
        import skimage  # noqa: F401
        from tqdm import tqdm
    except ImportError as error:
        print(f"windowkit demo needs the plot extra ({error.name} is missing): "
              f"pip install 'windowkit[plot]'", file=sys.stderr)
        return 1
    if args.cnn:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("windowkit demo --cnn needs scikit-learn (the plot extra): "
                  "pip install 'windowkit[plot]'", file=sys.stderr)
            return 1
    report, figures, table, explanation, cnn = run(args, tqdm)
    print(explanation)
    print()
    print(table)
    print()
    if cnn is not None:
        print(cnn[0])
        print()
        print(cnn[1])
        print()
    for path in figures.values():
        print(f"figure: {path}")
    print(f"report: {report}")
    return 0
