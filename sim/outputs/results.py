"""A results folder: what a run writes, and reading it back.

Files: ``patients.parquet`` (one row per patient), ``events.parquet`` (every
event of every course), ``summary.json`` (outcomes with confidence
intervals, calibration targets beside model values), ``scenario.resolved.yaml``
(reproduces the run), ``timing.json`` (wall time; the one file that differs
between two runs of the same scenario and seed).  With ``--format csv`` the
two tables are CSV instead.

:func:`write_results` writes every file but the events (streamed as the run
goes) and summary.json; :func:`sim.experiments.runner.run`, the one runner, calls
it whatever the backend and whether the run is one or several replications.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim import __version__
from sim.analysis.summary import summary_document
from sim.engine.simulate import RunResult, few_collections, release_freed_memory
from sim.kernel import status as kernel_status
from sim.kernel.events import EVENT_SCHEMA
from sim.outputs.paths import write_json
from sim.scenario.loader import resolved_yaml, scenario_sha256

if TYPE_CHECKING:
    from sim.experiments.replications import Replications

FORMATS = ("parquet", "csv")
REQUIRED = ("summary.json", "scenario.resolved.yaml")

# a text cell starting with one of these is a formula to a spreadsheet that opens the CSV
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as text (OWASP CSV injection rule): one
    that starts like a formula gets a leading single quote."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell made safe by :func:`csv_safe_text`; numbers,
    booleans and missing values stay as they are (a copy only when a column changes)."""
    out = df
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if cats.dtype == object and any(isinstance(c, str) and c.startswith(FORMULA_START) for c in cats):
                safe = s.cat.rename_categories([csv_safe_text(c) if isinstance(c, str) else c for c in cats])
                out = out.assign(**{col: safe})
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            text = s.map(lambda v: csv_safe_text(v) if isinstance(v, str) else v)
            if not text.equals(s):
                out = out.assign(**{col: text})
    return out


def _csv_safe_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-coded text column with its values made safe (the codes are kept)."""
    chunks = []
    for chunk in column.chunks:
        values = chunk.dictionary.to_pylist()
        if any(isinstance(v, str) and v.startswith(FORMULA_START) for v in values):
            safe = pa.array([csv_safe_text(v) if isinstance(v, str) else v for v in values], type=chunk.dictionary.type)
            chunk = pa.DictionaryArray.from_arrays(chunk.indices, safe)
        chunks.append(chunk)
    return pa.chunked_array(chunks, type=column.type)


class _EventWriter:
    """Streams event chunks to one file as they are produced (memory stays flat)."""

    def __init__(self, path: Path, fmt: str):
        self.path = path
        self.fmt = fmt
        self.writer: Any = None

    def __call__(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            if self.writer is None:
                # dictionary pages only for the coded columns (ids and times rarely repeat: trying
                # costs a quarter of the writing time and makes the file larger); min/max statistics
                # of the string columns would cost a fifth
                self.writer = pq.ParquetWriter(
                    self.path,
                    EVENT_SCHEMA,
                    compression="zstd",
                    use_dictionary=["event", "detail"],
                    write_statistics=["patient_id", "time_months"],  # the columns readers filter on
                )
            self.writer.write_table(table)
        else:
            coded = [i for i, f in enumerate(table.schema) if pa.types.is_dictionary(f.type)]
            for i in coded:  # text cells a spreadsheet would read as formulas get a leading quote
                table = table.set_column(i, table.schema.field(i), _csv_safe_dictionary(table.column(i)))
            plain = table.cast(
                pa.schema([(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in EVENT_SCHEMA])
            )
            if self.writer is None:
                self.writer = pacsv.CSVWriter(self.path, plain.schema)
            self.writer.write_table(plain)

    def close(self) -> None:
        if self.writer is None:  # no events at all: still write an empty table
            self(EVENT_SCHEMA.empty_table())
        self.writer.close()


def write_patients(df: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd")
    else:
        csv_safe_frame(df).to_csv(path, index=False)


def write_labs(tmp: Path, labs: pa.Table | None, fmt: str) -> None:
    """labs.parquet (or .csv) when the run kept any trajectories."""
    if labs is None:
        return
    if fmt == "parquet":
        pq.write_table(labs, tmp / "labs.parquet", compression="zstd")
    else:
        csv_safe_frame(labs.to_pandas()).to_csv(tmp / "labs.csv", index=False)


def write_results(
    tmp: Path,
    result: RunResult,
    fmt: str,
    t0: float,
    *,
    replications: Replications | None = None,
    timing: dict[str, Any] | None = None,
    services: Future[pd.DataFrame] | None = None,
    summarise: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every file of a results folder but the events (streamed while the run
    ran) and summary.json (written last by the caller, :func:`sim.experiments.runner.run`);
    returns the summary document.  The one writer of a folder, whatever ran it.

    ``replications``: the run's replications (``result`` is the first): adds
    replications.parquet.  ``summarise``: turns the first run's summary into
    the one written (the runner passes the across-replications summary).
    ``services``: the per-year services table still being built (it is then
    set on ``result`` when done)."""
    pending = services.result if services is not None else None

    def tables() -> None:
        write_patients(result.patients, tmp / f"patients.{fmt}", fmt)
        write_labs(tmp, result.labs, fmt)
        table = result.services if pending is None else pending()
        if isinstance(table, pd.DataFrame):  # per-service, per-year table
            write_patients(table, tmp / f"services.{fmt}", fmt)
        if replications is not None:
            pq.write_table(
                pa.Table.from_pandas(replications.table, preserve_index=False), tmp / "replications.parquet", compression="zstd"
            )

    # the tables are written (Arrow, outside the GIL) while the summary is computed (Python):
    # two cores at the end of a run that otherwise uses one; leaving the block waits for both
    with ThreadPoolExecutor(max_workers=1) as pool, few_collections():
        written = pool.submit(tables)
        doc = summary_document(result, __version__, scenario_sha256(result.scenario), pending)
        written.result()  # a writing error is raised here
    if pending is not None:
        result.services = pending()
    release_freed_memory()
    if summarise is not None:
        doc = summarise(doc)
    (tmp / "scenario.resolved.yaml").write_text(resolved_yaml(result.scenario), encoding="utf-8")
    times: dict[str, Any] = {"wall_seconds": round(time.perf_counter() - t0, 3)}
    if replications is not None:
        times["simulate_seconds"] = round(replications.simulate_seconds, 3)
        times["replication_seconds"] = [round(x, 3) for x in replications.seconds]
        times["replications"] = replications.count
    else:
        times["simulate_seconds"] = round(result.wall_seconds, 3)
    write_json(tmp / "timing.json", {**times, "events": result.n_events, "kernel": kernel_status()["kernel"], **(timing or {})})
    return doc


@dataclass
class ResultsFolder:
    """A complete results folder read back."""

    path: Path
    summary: dict[str, Any]
    patients: pd.DataFrame
    scenario_yaml: str

    def events(self) -> pd.DataFrame:
        p = self.path / "events.parquet"
        return pd.read_parquet(p) if p.exists() else pd.read_csv(self.path / "events.csv")


class NotAResultsFolder(Exception):
    """The folder is not a complete results folder (message says what is missing)."""


def read_results(path: str | Path) -> ResultsFolder:
    p = Path(path)
    if not p.is_dir():
        raise NotAResultsFolder(f"{p} is not a folder; give a results folder written by 'run_sim.py run'")
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    pat = p / "patients.parquet" if (p / "patients.parquet").exists() else p / "patients.csv"
    if not pat.is_file():
        missing.append("patients.parquet")
    if missing:
        raise NotAResultsFolder(f"{p} is not a complete results folder: missing {', '.join(missing)}; re-run 'run_sim.py run'")
    try:
        summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        patients = pd.read_parquet(pat) if pat.suffix == ".parquet" else pd.read_csv(pat)
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise NotAResultsFolder(f"{p}: cannot read results ({exc}); re-run 'run_sim.py run'") from None
    return ResultsFolder(p, summary, patients, (p / "scenario.resolved.yaml").read_text(encoding="utf-8"))
