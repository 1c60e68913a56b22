"""windowkit's loops, one module per family.

- :mod:`~windowkit.kernels.direct`: the textbook loops (``method="direct"``),
  valid and padded, and the convolutional layer's, the teaching reference;
- :mod:`~windowkit.kernels.rows`: the 1-D row algorithms the fast pools share;
- :mod:`~windowkit.kernels.separable`: separable, block and 2x2 pooling;
- :mod:`~windowkit.kernels.van_herk`: van Herk / Gil-Werman pooling;
- :mod:`~windowkit.kernels.indexed`: max and min with the coordinates of
  each window's choice, in one pass (``return_indices``);
- :mod:`~windowkit.kernels.correlate_rows`: correlation (and the
  convolutional layer, ``conv_rows``) with the output row innermost;
- :mod:`~windowkit.kernels.columns`: im2col, a convolutional layer's
  column matrix gathered by a loop, and its adjoint (col2im);
- :mod:`~windowkit.kernels.adjoint`: pooling's backward pass, each output's
  gradient added back where its window read;
- :mod:`~windowkit.kernels.fft`: overlap-save correlation by ``scipy.fft``;
- :mod:`~windowkit.kernels._jit`: the compile policy and how loops run on threads.

docs/methods.md describes each algorithm and its exactness.
"""

from .adjoint import add_at, spread
from .columns import gather_columns, scatter_columns
from .correlate_rows import conv_rows, conv_weight_rows, correlate_rows, padded_correlate_rows
from .direct import (
    conv,
    correlate,
    extreme_pool,
    padded_correlate,
    padded_extreme_pool,
    padded_sum_pool,
    sum_pool,
)
from .rows import MAX, MIN, NANMAX, NANMIN, SEGMENT, SUM, UINT8_COUNTS_MAX, row_uses_doubling
from .separable import (BLOCK_MAX, PIXEL_CHANNELS_MAX, block_pool, extreme_2x2_pool,
                        held_sum_pool, padded_separable_pool, separable_pool)
from .van_herk import held_van_herk_pool, van_herk_pool

__all__ = [
    "extreme_pool", "sum_pool", "correlate", "padded_extreme_pool", "padded_sum_pool",
    "padded_correlate", "conv", "correlate_rows", "padded_correlate_rows", "conv_rows", "gather_columns",
    "scatter_columns", "conv_weight_rows", "spread", "add_at",
    "separable_pool", "padded_separable_pool", "block_pool",
    "extreme_2x2_pool", "held_sum_pool", "held_van_herk_pool", "van_herk_pool",
    "row_uses_doubling", "MAX", "MIN", "SUM", "NANMAX",
    "NANMIN", "SEGMENT", "UINT8_COUNTS_MAX",
    "BLOCK_MAX", "PIXEL_CHANNELS_MAX",
]
