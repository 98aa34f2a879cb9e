"""Synthetic LC-MS data for the demo notebooks, generated from a seed.

A spectrum is a sum of Gaussian peaks on a noisy baseline over a fixed m/z grid;
each sample has a characteristic set of compounds whose abundance drifts with
retention time, so peak detection has something real to find.
"""

from __future__ import annotations

import numpy as np

MZ_GRID = np.linspace(100.0, 1000.0, 4000)

COMPOUNDS = {
    "caffeine": 195.088,
    "glucose": 203.053,
    "tryptophan": 205.097,
    "citrate": 193.034,
    "serotonin": 177.102,
    "adenosine": 268.104,
    "glutathione": 308.091,
    "cholesterol": 369.352,
    "sphingosine": 300.290,
    "palmitate": 255.233,
}


def sample_profile(sample_id: int, seed: int = 7) -> dict[str, float]:
    """Relative abundance of each compound in a sample (deterministic for a seed)."""
    rng = np.random.default_rng(seed * 1000 + sample_id)
    present = rng.random(len(COMPOUNDS)) < 0.6
    abundance = rng.lognormal(mean=0.0, sigma=0.6, size=len(COMPOUNDS))
    return {name: float(a) for (name, _), a, keep in zip(COMPOUNDS.items(), abundance, present) if keep}


def spectrum(sample_id: int, scan_idx: int, retention_time: float, *, seed: int = 7,
             resolution: float = 0.15) -> np.ndarray:
    """One centroid-free profile spectrum (float32 intensities on MZ_GRID)."""
    rng = np.random.default_rng((seed * 1000 + sample_id) * 10_000 + scan_idx)
    intensity = rng.normal(50.0, 5.0, MZ_GRID.size).clip(min=0)
    order = list(COMPOUNDS)
    for name, abundance in sample_profile(sample_id, seed).items():
        elution = np.exp(-0.5 * ((retention_time - 2.0 - order.index(name) % 7) / 1.5) ** 2)
        height = 1e4 * abundance * elution
        intensity += height * np.exp(-0.5 * ((MZ_GRID - COMPOUNDS[name]) / resolution) ** 2)
    return intensity.astype(np.float32)


def detect_peaks(intensity: np.ndarray, threshold: float, min_distance: int, smoothing: int = 1):
    """Local maxima above ``threshold`` times the median, at least ``min_distance`` samples apart."""
    signal = np.asarray(intensity, dtype=np.float64)
    if smoothing > 1:
        kernel = np.ones(smoothing) / smoothing
        signal = np.convolve(signal, kernel, mode="same")
    floor = threshold * np.median(signal)
    candidates = np.flatnonzero((signal[1:-1] > signal[:-2]) & (signal[1:-1] >= signal[2:]) & (signal[1:-1] > floor)) + 1
    peaks: list[int] = []
    for index in candidates[np.argsort(signal[candidates])[::-1]]:
        if all(abs(index - kept) >= min_distance for kept in peaks):
            peaks.append(int(index))
    peaks.sort()
    return [(float(MZ_GRID[i]), float(signal[i])) for i in peaks]
