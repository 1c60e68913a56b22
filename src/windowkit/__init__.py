"""windowkit: sliding a window over an array, fast and exactly.

Valid correlation, valid convolution and max / min / mean / sum pooling over
windows of any size and stride, on signals, images, volumes and batches of
them, computed by explicit loops compiled with Numba and cross-checked
against numpy's stride-trick views.

>>> import numpy as np
>>> import windowkit as wk
>>> image = np.arange(16.0).reshape(4, 4)
>>> wk.max_pool(image, 2)
array([[ 5.,  7.],
       [13., 15.]])
"""

from . import _api, grad, plot
from ._api import *  # noqa: F403 (the public API, listed once in _api.__all__)
from ._explain import Explanation, explain

__version__ = "0.1.0"

__all__ = list(_api.__all__) + ["explain", "Explanation", "grad", "plot"]
