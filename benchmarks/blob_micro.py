"""Micro-benchmark: dj_jupyter's blob format vs datajoint.blob (not a test).

Run from the repository root:

    PYTHONPATH=. python benchmarks/blob_micro.py [size_in_MB]

Prints the best-of-N wall time of pack and unpack for a few payloads and the
speed-up ratio (datajoint time / our time).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from datajoint import blob as dj_blob

from dj_jupyter.codecs import blob_format as ours


def best_of(fn, repeat):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(label, value, repeat_ours=3, repeat_dj=2):
    t_ours_pack, ours_blob = best_of(lambda: ours.pack(value), repeat_ours)
    t_dj_pack, dj_bytes = best_of(lambda: dj_blob.pack(value), repeat_dj)
    t_ours_unpack, _ = best_of(lambda: ours.unpack(ours_blob), repeat_ours)
    t_dj_unpack, _ = best_of(lambda: dj_blob.unpack(dj_bytes), repeat_dj)
    t_ours_unpack_dj, _ = best_of(lambda: ours.unpack(dj_bytes), repeat_ours)
    print(f"\n{label}")
    print(f"  blob size      ours {len(ours_blob) / 1e6:10.2f} MB   datajoint {len(dj_bytes) / 1e6:10.2f} MB")
    print(
        f"  pack           ours {t_ours_pack * 1e3:10.1f} ms   datajoint {t_dj_pack * 1e3:10.1f} ms"
        f"   ratio {t_dj_pack / t_ours_pack:8.1f}x"
    )
    print(
        f"  unpack (own)   ours {t_ours_unpack * 1e3:10.3f} ms   datajoint {t_dj_unpack * 1e3:10.3f} ms"
        f"   ratio {t_dj_unpack / t_ours_unpack:8.1f}x"
    )
    print(f"  ours unpacking datajoint's blob: {t_ours_unpack_dj * 1e3:.3f} ms")


def main():
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 100.0
    n = int(mb * 1e6 / 8)
    rng = np.random.default_rng(0)
    compare(f"random float64, {mb:g} MB (incompressible)", rng.standard_normal(n))
    compare(f"random float64, {mb:g} MB, C-order 2-D", rng.standard_normal((n // 1000, 1000)))
    compare(f"zeros float64, {mb:g} MB (compressible)", np.zeros(n))
    compare(
        f"int16 random walk, {mb / 4:g} MB (compressible)",
        np.cumsum(rng.integers(-3, 4, n // 2)).astype(np.int16),
    )
    compare(
        "dict of 20k small Python values",
        {f"k{i}": [i, float(i), str(i), None] for i in range(20_000)},
        repeat_ours=5,
        repeat_dj=5,
    )


if __name__ == "__main__":
    main()
