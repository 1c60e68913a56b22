"""The CNN layer: wk.conv forward and windowkit.grad.conv backward over
channel counts, kernel sizes, strides and groups (a batch of 8 feature
maps of 28x28: a small ResNet stage's shape, small enough for CI)."""

import numpy as np

import windowkit as wk

from .common import Timed, make_input


class _Layer:
    """One batch, weight and output gradient per combination (no benchmarks)."""

    def prepare(self, channels, kernel, stride, groups="1"):
        groups = channels if groups == "depthwise" else int(groups)
        self.x = make_input((8, channels, 28, 28), "float32") - 0.5
        self.weight = make_input((channels, channels // groups, kernel, kernel), "float32",
                                 seed=1) - 0.5
        self.stride, self.groups, self.padding = stride, groups, kernel // 2
        out = wk.conv(self.x, self.weight, stride, padding=self.padding, groups=groups)
        self.grad_output = make_input(out.shape, "float32", seed=2) - 0.5
        self.bias = np.zeros(channels, np.float32)
        # Compile outside the timing: the forward's loop and the backward's.
        self.forward()
        self.backward()

    def forward(self):
        wk.conv(self.x, self.weight, self.stride, padding=self.padding, groups=self.groups)

    def backward(self):
        wk.grad.conv(self.grad_output, self.x, self.weight, self.stride, padding=self.padding,
                     groups=self.groups, bias=self.bias)


class Conv(_Layer, Timed):
    """wk.conv, method "auto", "same" padding: channels in = out."""

    params = [[16, 64], [1, 3, 5], [1, 2], ["1", "depthwise"]]
    param_names = ["channels", "kernel", "stride", "groups"]

    def setup(self, channels, kernel, stride, groups):
        self.prepare(channels, kernel, stride, groups)

    def time_conv(self, channels, kernel, stride, groups):
        self.forward()


class Grad(_Layer, Timed):
    """windowkit.grad.conv: the input's, the weight's and the bias's gradients."""

    params = [[16, 64], [1, 3, 5], [1, 2], ["1", "depthwise"]]
    param_names = ["channels", "kernel", "stride", "groups"]

    def setup(self, channels, kernel, stride, groups):
        self.prepare(channels, kernel, stride, groups)

    def time_grad_conv(self, channels, kernel, stride, groups):
        self.backward()


class PoolGrad(Timed):
    """windowkit.grad.pool and wk.unpool on the same batch of feature maps:
    max pooling's gradient (the forward with return_indices, then unpool),
    mean pooling's (the spread loop), and unpool alone."""

    params = [["max", "mean", "unpool"], ["2/2", "3/2 padding 1"]]
    param_names = ["op", "windows"]

    def setup(self, op, windows):
        self.window, self.stride = (2, 2) if windows == "2/2" else (3, 2)
        self.padding = 0 if windows == "2/2" else 1
        self.x = make_input((8, 64, 56, 56), "float32") - 0.5
        reduce = "mean" if op == "mean" else "max"
        values, self.indices = wk.max_pool(self.x, self.window, self.stride, axes=(2, 3),
                                           padding=self.padding, return_indices=True)
        self.reduce = reduce
        self.grad_output = make_input(values.shape, "float32", seed=2) - 0.5
        self.op = op
        self.run()  # compiled outside the timing

    def run(self):
        if self.op == "unpool":
            wk.unpool(self.grad_output, self.indices, self.x.shape, axes=(2, 3))
        else:
            wk.grad.pool(self.grad_output, self.x, self.window, self.stride, reduce=self.reduce,
                         axes=(2, 3), padding=self.padding)

    def time_pool_gradient(self, op, windows):
        self.run()
