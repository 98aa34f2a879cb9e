"""An LC-MS style demo pipeline, and the script that draws docs/lcms_pipeline.png.

Three schemas:

* ``lcms_lab``: projects and samples (manual), instruments, acquisition methods,
  operators and peak-detection parameter sets (lookups);
* ``lcms_acquisition``: instrument sessions and runs (manual; a run may name a
  blank sample through a renamed foreign key), scan acquisition (imported, with a
  part per scan);
* ``lcms_processing``: spectra (one per scan), peak detection per parameter set
  (with a part per peak) and a per-run QC summary (computed).

Run ``python docs/lcms_pipeline.py`` from the repository root to rebuild the
image; it declares the pipeline in a temporary SQLite file, fills a little data,
populates part of it (one job fails on purpose) so the status overlay has
something to show, and renders the diagram with the Graphviz ``dot`` binary.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dj_jupyter as dj  # noqa: E402

DIRECTION = "TB"  # top to bottom reads best at README width


def declare(lab, acquisition, processing) -> SimpleNamespace:
    @lab
    class Project(dj.Manual):
        definition = """
        project : varchar(32)
        ---
        description : varchar(255)
        """

    @lab
    class Sample(dj.Manual):
        definition = """
        -> Project
        sample_id : varchar(32)
        ---
        sample_type : enum('plasma', 'urine', 'blank', 'qc')
        collected : date
        """

    @lab
    class Instrument(dj.Lookup):
        definition = """
        instrument : varchar(32)
        ---
        vendor : varchar(32)
        model : varchar(64)
        """
        contents = [("orbitrap-1", "Thermo", "Q Exactive HF"), ("qtof-2", "Agilent", "6546 LC/Q-TOF")]

    @lab
    class AcquisitionMethod(dj.Lookup):
        definition = """
        method : varchar(32)
        ---
        polarity : enum('positive', 'negative')
        mz_low : float32
        mz_high : float32
        gradient_minutes : float32
        """
        contents = [("rp-pos-15", "positive", 70, 1050, 15), ("hilic-neg-12", "negative", 60, 900, 12)]

    @lab
    class Operator(dj.Lookup):
        definition = """
        operator : varchar(32)
        """
        contents = [("alex",), ("sam",)]

    @lab
    class PeakParams(dj.Lookup):
        definition = """
        # a peak-detection parameter set
        params_id : int16
        ---
        algorithm : varchar(32)
        snr_threshold : float32
        min_width : float32
        """
        contents = [(1, "centwave", 5.0, 0.01), (2, "matched-filter", 3.0, 0.02)]

    @acquisition
    class InstrumentSession(dj.Manual):
        definition = """
        -> Instrument
        session_date : date
        ---
        -> Operator
        calibrated : bool
        """

    @acquisition
    class Run(dj.Manual):
        definition = """
        -> InstrumentSession
        run_idx : int16
        ---
        -> Sample
        -> AcquisitionMethod
        -> [nullable] Sample.proj(blank_project='project', blank_sample='sample_id')
        raw_file : varchar(255)
        """

    @acquisition
    class ScanAcquisition(dj.Imported):
        definition = """
        -> Run
        ---
        n_scans : int32
        rt_max : float32
        """

        class Scan(dj.Part):
            definition = """
            -> master
            scan : int32
            ---
            rt : float32
            ms_level : int8
            """

        def make(self, key):
            n = 5
            self.insert1({**key, "n_scans": n, "rt_max": 15.0})
            self.Scan.insert([{**key, "scan": i, "rt": 3.0 * i, "ms_level": 1 + (i % 2)} for i in range(n)])

    @processing
    class Spectrum(dj.Computed):
        definition = """
        -> ScanAcquisition.Scan
        ---
        mz : <blob>
        intensity : <blob>
        """

        def make(self, key):
            rng = np.random.default_rng(key["scan"])
            mz = np.sort(rng.uniform(70, 1050, 200))
            self.insert1({**key, "mz": mz, "intensity": rng.gamma(2.0, 1e4, mz.size)})

    @processing
    class PeakDetection(dj.Computed):
        definition = """
        -> Spectrum
        -> PeakParams
        ---
        n_peaks : int32
        """

        class Peak(dj.Part):
            definition = """
            -> master
            peak_idx : int32
            ---
            mz : float64
            intensity : float64
            fwhm : float32
            """

        def make(self, key):
            if key["scan"] == 3 and key["params_id"] == 2:
                raise ValueError("matched filter diverged")
            mz, intensity = (Spectrum & key).fetch1("mz", "intensity")
            threshold = np.quantile(intensity, 0.95)
            peaks = np.flatnonzero(intensity > threshold)
            self.insert1({**key, "n_peaks": len(peaks)})
            self.Peak.insert([{**key, "peak_idx": i, "mz": float(mz[p]), "intensity": float(intensity[p]),
                               "fwhm": 0.01} for i, p in enumerate(peaks)])

    @processing
    class RunQC(dj.Computed):
        definition = """
        -> ScanAcquisition
        -> PeakParams
        ---
        total_peaks : int32
        """

        def make(self, key):
            self.insert1({**key, "total_peaks": len(PeakDetection.Peak & key)})

    return SimpleNamespace(Project=Project, Sample=Sample, Instrument=Instrument,
                           AcquisitionMethod=AcquisitionMethod, Operator=Operator, PeakParams=PeakParams,
                           InstrumentSession=InstrumentSession, Run=Run, ScanAcquisition=ScanAcquisition,
                           Spectrum=Spectrum, PeakDetection=PeakDetection, RunQC=RunQC)


def fill(t: SimpleNamespace) -> None:
    day = datetime.date(2026, 3, 2)
    t.Project.insert1(("lipidome", "plasma lipidomics pilot"))
    t.Sample.insert([("lipidome", f"S{i:02d}", "plasma" if i else "blank", day) for i in range(4)])
    t.InstrumentSession.insert([("orbitrap-1", day, "alex", True), ("qtof-2", day, "sam", True)])
    t.Run.insert([{"instrument": "orbitrap-1", "session_date": day, "run_idx": i, "project": "lipidome",
                   "sample_id": f"S{i:02d}", "method": "rp-pos-15", "blank_project": "lipidome",
                   "blank_sample": "S00", "raw_file": f"run{i}.raw"} for i in range(1, 4)]
                 + [{"instrument": "qtof-2", "session_date": day, "run_idx": 1, "project": "lipidome",
                     "sample_id": "S01", "method": "hilic-neg-12", "blank_project": None, "blank_sample": None,
                     "raw_file": "qtof_run1.d"}])


def build(connection) -> tuple[list, SimpleNamespace]:
    schemas = [dj.Schema(name, connection=connection) for name in ("lcms_lab", "lcms_acquisition", "lcms_processing")]
    tables = declare(*schemas)
    fill(tables)
    tables.ScanAcquisition.populate(max_calls=3)
    tables.Spectrum.populate()
    tables.PeakDetection.populate(reserve_jobs=True, suppress_errors=True, max_calls=20)
    tables.PeakDetection.jobs.refresh()
    return schemas, tables


def main(output: str = str(ROOT / "docs" / "lcms_pipeline.png")) -> None:
    from dj_jupyter.diagram.render import render_png

    with tempfile.TemporaryDirectory() as directory:
        connection = dj.Connection(backend="sqlite", path=str(Path(directory) / "lcms.sqlite3"), quiet=True)
        schemas, _ = build(connection)
        diagram = (dj.Diagram(schemas[0]) + dj.Diagram(schemas[1]) + dj.Diagram(schemas[2])).with_status()
        Path(output).write_bytes(render_png(diagram, theme="light", direction=DIRECTION, dpi=144))
        connection.close()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
