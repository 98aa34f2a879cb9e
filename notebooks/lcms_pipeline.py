"""The LC-MS pipeline of the demo notebooks, as a lab would keep it: an importable module.

Liquid chromatography separates a sample's compounds over time; the mass spectrometer
takes a spectrum every few seconds. Samples, instruments and acquisition methods are
lookups; an instrument session runs on one day; a scan acquisition runs one sample with
one method and keeps every scan's spectrum in the object store; peak detection runs with
a parameter set and records every peak it finds.

The schema name comes from ``LCMS_SCHEMA`` (default ``lcms``); the database and the
``spectra`` store come from ``dj.config`` (``datajoint.json``, ``DJ_*`` and ``DJ_STORES``),
so the same module runs in a notebook and in ``dj-jupyter worker lcms_pipeline``.
"""

from __future__ import annotations

import os

import numpy as np

import dj_jupyter as dj
from lcms_synthetic import COMPOUNDS, MZ_GRID, detect_peaks, spectrum

schema = dj.Schema(os.environ.get("LCMS_SCHEMA", "lcms"))


@schema
class Sample(dj.Lookup):
    definition = """
    # a biological sample
    sample_id : int16
    ---
    organism : varchar(32)
    tissue : varchar(32)
    quality : enum('good', 'fair', 'poor')   # how the sample was rated on arrival
    """
    contents = [(1, "mouse", "liver", "good"), (2, "mouse", "brain", "good"), (3, "rat", "liver", "fair"),
                (4, "rat", "plasma", "poor")]


@schema
class Instrument(dj.Lookup):
    definition = """
    instrument : varchar(16)
    ---
    vendor : varchar(32)
    resolution : float32   # peak width in m/z units
    """
    contents = [("orbi1", "Thermo", 0.12), ("qtof2", "Agilent", 0.25)]


@schema
class AcquisitionMethod(dj.Lookup):
    definition = """
    method : varchar(16)
    ---
    polarity : enum('+', '-')
    scans : int16           # spectra per run
    run_minutes : float32
    """
    contents = [("pos-short", "+", 12, 6.0), ("neg-long", "-", 20, 12.0)]


@schema
class InstrumentSession(dj.Manual):
    definition = """
    # a day on an instrument
    -> Instrument
    session_date : date
    ---
    operator : varchar(32)
    """


@schema
class Run(dj.Manual):
    definition = """
    # one sample injected with one method in a session
    -> InstrumentSession
    -> Sample
    -> AcquisitionMethod
    ---
    seed = 7 : int32       # makes the synthetic spectra reproducible
    """


@schema
class ScanAcquisition(dj.Imported):
    definition = """
    # spectra read from the instrument (synthetic here)
    -> Run
    ---
    total_ion_current : float64
    """

    class Scan(dj.Part):
        definition = """
        -> master
        scan_idx : int16
        ---
        retention_time : float32   # minutes
        spectrum : <npy@spectra>   # intensity on the m/z grid, kept in the object store
        """

    def make(self, key):
        method = (AcquisitionMethod & key).fetch1()
        resolution = (Instrument & key).fetch1("resolution")
        seed = (Run & key).fetch1("seed")
        scans = []
        for index in range(method["scans"]):
            retention_time = method["run_minutes"] * (index + 0.5) / method["scans"]
            values = spectrum(key["sample_id"], index, retention_time, seed=seed, resolution=float(resolution))
            scans.append(dict(key, scan_idx=index, retention_time=retention_time, spectrum=values))
        self.insert1(dict(key, total_ion_current=float(sum(s["spectrum"].sum() for s in scans))))
        self.Scan.insert(scans)


@schema
class PeakParams(dj.Lookup):
    definition = """
    paramset : int16
    ---
    threshold : float32      # times the median intensity
    min_distance : int16     # grid points between peaks
    smoothing : int16        # moving-average width
    """
    contents = [(1, 20.0, 40, 3), (2, 8.0, 20, 1)]


@schema
class PeakDetection(dj.Computed):
    definition = """
    # peaks of every scan of an acquisition, for one parameter set
    -> ScanAcquisition
    -> PeakParams
    ---
    n_peaks : int32
    quality : float32        # fraction of scans with at least one peak
    """

    class Peak(dj.Part):
        definition = """
        -> master
        -> ScanAcquisition.Scan
        peak_idx : int16
        ---
        mz : float64
        intensity : float64
        compound = null : varchar(16)   # the closest known compound within 0.5 m/z
        """

    def make(self, key):
        params = (PeakParams & key).fetch1()
        peaks, scans_with_peaks = [], 0
        scans = (ScanAcquisition.Scan & key).to_dicts(order_by="scan_idx")
        for scan in scans:
            found = detect_peaks(scan["spectrum"].load(), params["threshold"], params["min_distance"],
                                 params["smoothing"])
            scans_with_peaks += bool(found)
            for index, (mz, intensity) in enumerate(found):
                peaks.append(dict(key, scan_idx=scan["scan_idx"], peak_idx=index, mz=mz, intensity=intensity,
                                  compound=_closest_compound(mz)))
        self.insert1(dict(key, n_peaks=len(peaks), quality=scans_with_peaks / max(len(scans), 1)))
        self.Peak.insert(peaks)


def _closest_compound(mz: float) -> str | None:
    name, mass = min(COMPOUNDS.items(), key=lambda item: abs(item[1] - mz))
    return name if abs(mass - mz) < 0.5 else None


def mz_grid() -> np.ndarray:
    """The m/z values the spectra are sampled on."""
    return MZ_GRID.copy()
