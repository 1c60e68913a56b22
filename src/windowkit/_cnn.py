"""A convolutional network trained from scratch on scikit-learn's digits,
with windowkit's forward and backward passes and plain SGD in numpy.

The notebook this project grew from says why CNNs pool: "the detail shrinks
but the feature survives". Here is the whole story, end to end:

    8x8 digit -> conv 3x3 (8 filters) -> ReLU -> max_pool 2 -> conv 3x3
    (16 filters) -> ReLU -> dense (256 -> 10) -> softmax

Forward: :func:`windowkit.conv` and :func:`windowkit.max_pool` (its
``return_indices``). Backward: :func:`windowkit.grad.conv` and
:func:`windowkit.unpool` (a max pool's gradient goes to the element each
window chose). Nothing else but numpy: no autograd, no framework.

``pooling="min"`` trains the same network with min pooling. After a ReLU a
window's minimum is often a 0, where the ReLU is flat: its gradient is 0,
and the window sends nothing back to the first layer. That is the
notebook's "min pooling may lose the gradient"; :func:`train` measures it
as the fraction of pooled windows whose chosen element is active
(``passing``), beside the first layer's mean gradient norm.

Run it with ``python examples/digits_cnn.py`` or ``windowkit demo --cnn``.
Needs scikit-learn (the ``plot`` extra): ``load_digits`` ships with it.
"""

import time

import numpy as np

from . import _api, grad

CHANNELS = (8, 16)


def load(seed=0, test_fraction=0.25):
    """``(x_train, y_train, x_test, y_test)``: the digits as (n, 1, 8, 8)
    float32 in [0, 1], split with every class in both parts alike."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed,
        stratify=digits.target)
    return x_train, y_train, x_test, y_test


def init(rng):
    """He-initialised weights (the dense layer's at half the variance: no
    ReLU follows it), zero biases, float32."""
    c1, c2 = CHANNELS

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {"w1": he((c1, 1, 3, 3), 9), "b1": np.zeros(c1, np.float32),
            "w2": he((c2, c1, 3, 3), 9 * c1), "b2": np.zeros(c2, np.float32),
            "w3": he((c2 * 4 * 4, 10), 2 * c2 * 16), "b3": np.zeros(10, np.float32)}


def forward(params, x, pooling="max", **layer):
    """The class scores of images ``x`` (n, 1, 8, 8), and what the backward
    pass needs. ``layer``: ``impl`` and ``method`` of the convolutions."""
    z1 = _api.conv(x, params["w1"], padding=1, bias=params["b1"], **layer)  # (n, 8, 8, 8)
    a1 = np.maximum(z1, 0)
    p1, where = _api.pool(a1, 2, reduce=pooling, axes=(2, 3), return_indices=True,
                          impl=layer.get("impl", "numba"))  # (n, 8, 4, 4)
    z2 = _api.conv(p1, params["w2"], padding=1, bias=params["b2"], **layer)  # (n, 16, 4, 4)
    a2 = np.maximum(z2, 0)
    flat = a2.reshape(len(x), -1)
    scores = flat @ params["w3"] + params["b3"]
    return scores, (x, z1, a1, where, p1, z2, flat)


def loss_and_gradients(params, x, labels, pooling="max", **layer):
    """Softmax cross-entropy of a batch and the gradient of every parameter."""
    scores, (x, z1, a1, where, p1, z2, flat) = forward(params, x, pooling, **layer)
    shifted = scores - scores.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.log(probabilities[np.arange(n), labels] + 1e-12).mean()
    g_scores = probabilities
    g_scores[np.arange(n), labels] -= 1
    g_scores /= n
    grads = {"w3": flat.T @ g_scores, "b3": g_scores.sum(axis=0)}
    g_z2 = (g_scores @ params["w3"].T).reshape(z2.shape) * (z2 > 0)
    g_p1, grads["w2"], grads["b2"] = grad.conv(g_z2, p1, params["w2"], padding=1,
                                               bias=params["b2"], **layer)
    g_a1 = _api.unpool(g_p1, where, a1.shape, axes=(2, 3),
                       impl=layer.get("impl", "numba"))  # the pool's gradient
    g_z1 = g_a1 * (z1 > 0)
    _, grads["w1"], grads["b1"] = grad.conv(g_z1, x, params["w1"], padding=1,
                                            bias=params["b1"], **layer)
    grads["passing"] = np.mean(p1 > 0)  # windows whose chosen element passes a gradient
    return float(loss), grads


def accuracy(params, x, labels, pooling="max"):
    scores, _ = forward(params, x, pooling)
    return float((scores.argmax(axis=1) == labels).mean())


def train(epochs=20, batch=32, learning_rate=0.1, pooling="max", seed=0, progress=None):
    """Plain minibatch SGD over full batches: the few images a batch would
    leave over sit out that epoch (each epoch draws a new order). A last
    batch of three made, every few epochs, a step noisy enough to drop the
    held-out accuracy to about 50%, and back. Returns the parameters and a history: per epoch
    the mean training loss, the held-out accuracy, the first layer's mean
    gradient norm, the fraction of pooled windows passing a gradient; and
    the training's seconds."""
    x_train, y_train, x_test, y_test = load(seed)
    rng = np.random.default_rng(seed)
    params = init(rng)
    history = {"loss": [], "accuracy": [], "first_layer_gradient": [], "passing": []}
    started = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        losses, norms, passing = [], [], []
        for first in range(0, len(order) - batch + 1, batch):  # full batches only
            chosen = order[first:first + batch]
            loss, grads = loss_and_gradients(params, x_train[chosen], y_train[chosen], pooling)
            passing.append(float(grads.pop("passing")))
            for name, gradient in grads.items():
                params[name] -= learning_rate * gradient.astype(np.float32)
            losses.append(loss)
            norms.append(float(np.linalg.norm(grads["w1"])))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(accuracy(params, x_test, y_test, pooling))
        history["first_layer_gradient"].append(float(np.mean(norms)))
        history["passing"].append(float(np.mean(passing)))
        if progress is not None:
            progress(history)
    history["seconds"] = time.perf_counter() - started
    history["epochs"] = epochs
    history["held_out"] = len(x_test)
    return params, history


def figure(params, history, path):
    """The loss and accuracy per epoch, and the first layer's kernels as images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 3.6))
    grid = fig.add_gridspec(2, 7)
    curve = fig.add_subplot(grid[:, :3])
    epochs = np.arange(1, len(history["loss"]) + 1)
    curve.plot(epochs, history["loss"], label="training loss")
    curve.set_xlabel("epoch")
    curve.set_ylabel("cross-entropy")
    right = curve.twinx()
    right.plot(epochs, history["accuracy"], color="C1", label="held-out accuracy")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1)
    curve.set_title(f"{history['accuracy'][-1]:.1%} held out after {len(epochs)} epochs")
    kernels = params["w1"][:, 0]
    for i, kernel in enumerate(kernels):
        ax = fig.add_subplot(grid[i // 4, 3 + i % 4])
        ax.imshow(kernel, cmap="RdBu_r", vmin=-np.abs(kernels).max(), vmax=np.abs(kernels).max())
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("conv 3x3 (8) - ReLU - max_pool 2 - conv 3x3 (16) - ReLU - dense: first "
                 "layer's kernels on the right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# One training step (forward, backward, update) of each way to run the layers.
STEP_WAYS = {
    "python loop": dict(impl="python", method="direct"),
    "numba loop": dict(impl="numba", method="direct"),
    "im2col": dict(impl="numba", method="im2col"),
    "windowkit auto": dict(impl="numba", method="auto"),
}


def step_times(batch=32, repeats=5, python_repeats=1, seed=0):
    """Median seconds of one SGD step on a batch of digits, by each of
    :data:`STEP_WAYS` and (where installed) the same network in PyTorch:
    ``{way: seconds}``. The interpreted loop is timed ``python_repeats``
    times (it takes seconds)."""
    import statistics

    x_train, y_train, _, _ = load(seed)
    x, labels = x_train[:batch], y_train[:batch]
    params = init(np.random.default_rng(seed))
    times = {}
    for way, layer in STEP_WAYS.items():
        loss_and_gradients(params, x, labels, **layer)  # compiles outside the timing
        samples = []
        for _ in range(python_repeats if layer["impl"] == "python" else repeats):
            started = time.perf_counter()
            _, grads = loss_and_gradients(params, x, labels, **layer)
            # The SGD update's arithmetic, timed but not applied: every
            # repeat steps from the same parameters.
            {name: params[name] - 0.1 * g for name, g in grads.items() if name in params}
            samples.append(time.perf_counter() - started)
        times[way] = statistics.median(samples)
    try:
        times["PyTorch"] = _torch_step_time(params, x, labels, repeats)
    except ImportError:
        pass
    return times


def _torch_step_time(params, x, labels, repeats):
    """The same network's step in PyTorch (autograd, SGD), median seconds."""
    import statistics

    import torch
    import torch.nn.functional as F

    weights = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    images, targets = torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.SGD(weights.values(), lr=0.1)

    def step():
        optimiser.zero_grad()
        hidden = F.max_pool2d(F.relu(F.conv2d(images, weights["w1"], weights["b1"], padding=1)),
                              2)
        hidden = F.relu(F.conv2d(hidden, weights["w2"], weights["b2"], padding=1))
        scores = hidden.reshape(len(images), -1) @ weights["w3"] + weights["b3"]
        F.cross_entropy(scores, targets).backward()
        optimiser.step()

    step()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def step_table(times, batch):
    """A Markdown table of :func:`step_times`, each way against the compiled loop."""
    base = times["numba loop"]
    lines = [f"| one SGD step, batch of {batch} digits | time | ÷ numba loop |", "|---|---|---|"]
    for way, seconds in times.items():
        lines.append(f"| {way} | {seconds * 1e3:.3g} ms | {seconds / base:.3g} |")
    return "\n".join(lines)


def report(history):
    """One line: accuracy, epochs and seconds."""
    return (f"digits CNN: {history['accuracy'][-1]:.1%} held-out accuracy "
            f"({history['held_out']} images) after {history['epochs']} epochs of plain SGD, "
            f"{history['seconds']:.1f} s of training")
