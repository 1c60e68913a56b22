"""The comparison script's peers compute what windowkit computes.

compare.py refuses to time a peer whose answer differs; these tests make
sure that refusal is about the peer, not about our cropping and slicing of
its output, on small versions of every case in the table.
"""

import numpy as np
import pytest

from benchmarks import compare

SMALL_CASES = [
    compare.Case("max", (37, 41), "float64", 4, 4),
    compare.Case("max", (37, 41), "float64", 4, 1),
    compare.Case("min", (37, 41), "float64", 4, 2),
    compare.Case("mean", (37, 41), "float64", 4, 4),
    compare.Case("max", (45, 39), "float32", 3, 1),
    compare.Case("max", (45, 39), "float32", 2, 2),
    compare.Case("max", (40, 40), "float32", 31, 1),
    compare.Case("mean", (40, 40), "float32", 15, 1),
    compare.Case("mean", (40, 40), "float32", 6, 3),
    compare.Case("max", (50, 28, 28), "uint8", 2, 2),
    compare.Case("min", (50, 28, 28), "uint8", 5, 3),
    compare.Case("correlate", (37, 41), "float64", 3, 1),
    compare.Case("correlate", (37, 41), "float64", 11, 1),
    compare.Case("correlate", (45, 39), "float32", 4, 2),
    # Fortran order, not square: a peer that transposes must transpose back.
    compare.Case("max", (45, 39), "float32", 3, 1, layout="F"),
    compare.Case("correlate", (37, 41), "float64", 3, 2, layout="F"),
    # Channels last: an interleaved colour image and NHWC batches.
    compare.Case("max", (37, 41, 3), "uint8", 2, 2, axes=(0, 1)),
    compare.Case("mean", (37, 41, 3), "uint8", 3, 1, axes=(0, 1)),
    compare.Case("max", (2, 13, 11, 64), "float32", 3, 2, axes=(1, 2)),
    compare.Case("mean", (2, 13, 11, 8), "float64", 4, 4, axes=(1, 2)),
    compare.Case("min", (2, 13, 11, 5), "float32", 3, 1, axes=(1, 2)),
    # Missing data: NaN skipped with min_count (1-D moving windows), indices.
    compare.Case("mean", (3000,), "float64", 64, 1, nans=0.1, nan_policy="omit", min_count=32),
    compare.Case("max", (3000,), "float64", 64, 1, nans=0.1, nan_policy="omit", min_count=32),
    compare.Case("sum", (3000,), "float64", 7, 1, nans=0.3, nan_policy="omit", min_count=3),
    compare.Case("max", (2, 3, 20, 22), "float32", 2, 2, return_indices=True),
    compare.Case("max", (2, 3, 21, 23), "float32", 3, 2, padding=1, return_indices=True),
    # The CNN layer: forward and backward, strided and depthwise.
    compare.Case("conv", (2, 8, 11, 12), "float32", 3, 1, padding=1),
    compare.Case("conv", (2, 8, 11, 12), "float32", 3, 2, padding=1),
    compare.Case("conv", (2, 8, 11, 12), "float32", 3, 1, padding=1, groups=8),
    compare.Case("conv backward", (2, 8, 11, 12), "float32", 3, 1, padding=1),
    compare.Case("conv backward", (2, 8, 11, 12), "float32", 3, 2, padding=1),
    compare.Case("conv backward", (2, 8, 11, 12), "float32", 3, 1, padding=1, groups=8),
]
OPTIONAL = {"OpenCV": "cv2", "PyTorch": "torch", "bottleneck": "bottleneck",
            "numbagg": "numbagg"}


@pytest.mark.parametrize("peer", compare.PEERS)
def test_peer_agrees_with_windowkit(peer):
    if peer in OPTIONAL:
        pytest.importorskip(OPTIONAL[peer], reason=f"{peer} is an optional peer")
    checked = 0
    for case in SMALL_CASES:
        x, kernel = case.inputs()
        expected = compare.run_windowkit(case, x, kernel)
        try:
            result = compare.RUNNERS[peer](case, x, kernel)
        except compare.Unsupported:
            continue
        assert compare.same_answer(result, expected, case), f"{peer}: {case.label}"
        checked += 1
    assert checked, f"{peer} could do none of the cases"


def test_same_answer_rejects_a_wrong_answer():
    case = compare.Case("mean", (20, 20), "float32", 3, 1)
    x, kernel = case.inputs()
    expected = compare.run_windowkit(case, x, kernel)
    assert compare.same_answer(expected.copy(), expected, case)
    wrong = expected.copy()
    wrong[3, 4] += 1e-2
    assert not compare.same_answer(wrong, expected, case)
    assert not compare.same_answer(expected[:-1], expected, case)


def test_missing_data_cases_are_real():
    """The NaN cases hold NaN, and their windowkit answer differs from the
    plain call's, which is timed beside it but never checked."""
    case = compare.Case("mean", (500,), "float64", 8, 1, nans=0.2, nan_policy="omit",
                        min_count=4)
    x, kernel = case.inputs()
    assert 0.1 < np.isnan(x).mean() < 0.3
    skipped = compare.run_windowkit(case, x, kernel)
    plain = compare.run_windowkit_plain(case, x, kernel)
    assert np.isnan(plain).sum() > np.isnan(skipped).sum()
    with pytest.raises(compare.Unsupported):
        compare.run_windowkit_plain(compare.Case("max", (8, 8), "float64", 2, 2), x, kernel)


def test_layer_cases_check_what_they_time():
    """The conv cases: PyTorch's answer is checked (a wrong gradient is
    refused), and the other peers leave them blank."""
    torch = pytest.importorskip("torch", reason="PyTorch is the CNN layer's peer")
    case = compare.Case("conv backward", (2, 4, 9, 9), "float32", 3, 2, padding=1)
    x, kernel = case.inputs()
    expected = compare.run_windowkit(case, x, kernel)
    result = compare.RUNNERS["PyTorch"](case, x, kernel)
    assert compare.same_answer(result, expected, case)
    wrong = [part.clone() for part in result]
    wrong[1] += 1e-2 * torch.abs(wrong[1]).max()
    assert not compare.same_answer(wrong, expected, case)
    with pytest.raises(compare.Unsupported):
        compare.RUNNERS["numpy view"](case, x, kernel)


def test_table_marks_missing_blank_and_ratio():
    case = compare.Case("max", (8, 8), "float64", 2, 2)
    times = {"windowkit": 1e-3, "numpy view": 4e-3, "OpenCV": 2e-3}
    notes = {"PyTorch": "missing", "scipy.signal": ""}
    text = compare.table([(case, times, notes)], ["numpy view", "OpenCV", "PyTorch", "scipy.signal"])
    row = text.splitlines()[-1]
    assert "| 1 ms | 4 ms | 2 ms | missing |  | 0.50 (OpenCV) |" in row
