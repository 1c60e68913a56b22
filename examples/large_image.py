"""Pool and filter an image larger than you would hold in memory, through Dask.

Writes a float32 image of ``--size`` x ``--size`` (default 20000 x 20000,
1.6 GB) to a .npy file band by band, then reads it back lazily in chunks,
max-pools it 4x4 and correlates it with a 3x3 kernel, writing both results
to .npy files on disk, with a progress bar. It prints each step's throughput
and the process's peak resident memory, which stays far below the image's
size because only a few chunks are in memory at any time.

The chunks are bands of whole rows. A 3x3 filter's block needs the first
two rows of the next chunk down (and, with square chunks, of the next one
across); Dask's local scheduler keeps the chunks it has read until every
block that needs them is done, so what it holds grows with the chunks'
height times the image's width. Thin bands keep that small: measured on
the 20000 x 20000 image, bands of 125 rows peaked at 348-359 MB, bands of
250 at 441 MB, square chunks of 1000 at 606 MB.

    python examples/large_image.py --dir /tmp/large            # 1.6 GB
    python examples/large_image.py --dir /tmp/large --size 4000  # a quick try

Needs ``pip install "windowkit[dask]"``.
"""

import argparse
import os
import resource
import time

import dask.array as da
import numpy as np
from dask.diagnostics import ProgressBar

import windowkit as wk


SMOOTHING = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16


class NpyFile:
    """A .npy file read and written region by region.

    Each access maps the file, copies the region and unmaps it again, so
    the pages it touched leave this process's resident memory at once
    (a memory map kept open would count every page read so far).
    """

    def __init__(self, path, shape=None, dtype=None):
        self.path = path
        if shape is not None:
            np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
        header = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = header.shape, header.dtype, header.ndim

    def __getitem__(self, region):
        return np.array(np.load(self.path, mmap_mode="r")[region])  # unmapped on return

    def __setitem__(self, region, values):
        mapped = np.load(self.path, mmap_mode="r+")
        mapped[region] = values
        mapped.flush()


def write_image(path, size, band_rows=250, seed=0):
    """A ``size`` x ``size`` float32 image of noise on smooth waves, written band by band."""
    image = NpyFile(path, (size, size), np.float32)
    rng = np.random.default_rng(seed)
    columns = np.sin(np.arange(size, dtype=np.float32) / 50)
    for first in range(0, size, band_rows):
        rows = np.arange(first, min(first + band_rows, size), dtype=np.float32)
        band = np.cos(rows / 70)[:, None] * columns + rng.random((rows.size, size), np.float32)
        image[first : first + rows.size] = band
    return image


def peak_memory_mb():
    """This process's peak resident memory so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(step, result, target, n_bytes):
    """Compute ``result`` into ``target`` with a progress bar; report the throughput."""
    print(f"{step}: {result.shape} {result.dtype}, {result.npartitions} blocks")
    start = time.perf_counter()
    with ProgressBar():
        da.store(result, target, lock=False, scheduler="threads")
    seconds = time.perf_counter() - start
    print(f"  {seconds:.1f} s, {n_bytes / seconds / 1e6:.0f} MB/s of input, "
          f"peak memory so far {peak_memory_mb():.0f} MB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="folder for the image and the results")
    parser.add_argument("--size", type=int, default=20000, help="image side (default 20000)")
    parser.add_argument("--rows", type=int, default=125,
                        help="rows per chunk; chunks are bands of whole rows (default 125)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the image written by an earlier run")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)

    n_bytes = args.size**2 * 4
    path = os.path.join(args.dir, "image.npy")
    if args.reuse and os.path.exists(path) and NpyFile(path).shape == (args.size, args.size):
        print(f"Reusing {path}")
        source = NpyFile(path)
    else:
        print(f"Writing a {args.size} x {args.size} float32 image ({n_bytes / 1e9:.2f} GB) ...")
        start = time.perf_counter()
        source = write_image(path, args.size)
        print(f"  {time.perf_counter() - start:.1f} s, "
              f"peak memory so far {peak_memory_mb():.0f} MB")

    print(f"Peak memory before computing: {peak_memory_mb():.0f} MB "
          "(Python, numpy, Numba, Dask, and the band written last)")
    image = da.from_array(source, chunks=(args.rows, -1), meta=np.empty((0, 0), np.float32))
    pooled = wk.max_pool(image, 4)
    pooled_file = NpyFile(os.path.join(args.dir, "max_pool_4x4.npy"), pooled.shape, pooled.dtype)
    run("max_pool 4x4", pooled, pooled_file, n_bytes)

    filtered = wk.correlate(image, SMOOTHING)
    filtered_file = NpyFile(os.path.join(args.dir, "correlate_3x3.npy"),
                            filtered.shape, filtered.dtype)
    run("correlate 3x3", filtered, filtered_file, n_bytes)

    peak = peak_memory_mb()
    print(f"Peak resident memory: {peak:.0f} MB, {peak * 1e6 / n_bytes:.0%} of the image's size")
    # Spot checks against the in-memory path on one corner of the image.
    corner = source[:100, :100]
    assert np.array_equal(pooled_file[:25, :25], wk.max_pool(corner, 4))
    assert np.array_equal(filtered_file[:98, :98], wk.correlate(corner, SMOOTHING))
    print("Spot checks against the in-memory result: equal")
    return peak, n_bytes


if __name__ == "__main__":
    main()
