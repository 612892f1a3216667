"""Benchmark: ingestion speed and memory per source, against DuckDB's own readers.

Generates landing batches, then, each in a child process of its own so that peak
memory is measured per step:

- ingests every source with Clearlist's readers (`ingest_source`: contract checks,
  quarantine, replay removal, lineage columns, one transaction per batch);
- reads the same files with DuckDB's `read_csv` / `read_json` into a table, which is
  the floor no checking reader can beat.

Prints rows per second and peak resident memory for both, and the ratio. The targets
(within 2x of the floor, under 4 GiB) live here, never in a timed unit test.

    .venv/bin/python benchmarks/ingest.py --contacts 1000000
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCES = ("ehr", "crm", "engagement")
# The whole file decides the columns (event kinds differ in their keys); nested
# objects stay JSON text, as Clearlist keeps them.
JSON = "sample_size = -1, maximum_depth = 1"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ingest(landing: Path, warehouse: Path, source: str) -> dict[str, float]:
    from pipelines.lib.ingest import ingest_source
    from pipelines.lib.warehouse import connect

    started = time.perf_counter()
    with connect(warehouse) as con:
        report = ingest_source(con, landing, source)
    return {
        "seconds": time.perf_counter() - started,
        "rows": sum(report.rows.values()) + sum(report.quarantined.values()),
        "peak_mib": _peak_mib(),
    }


def _floor(landing: Path, warehouse: Path, source: str) -> dict[str, float]:
    from pipelines.lib.warehouse import connect

    started = time.perf_counter()
    rows = 0
    with connect(warehouse) as con:
        files = sorted(path for path in (landing / source).rglob("*") if path.is_file())
        for number, path in enumerate(files):
            if path.name in {"manifest.json", "export.json", "run-metadata.json"}:
                continue
            if path.suffix == ".csv":
                reader = f"read_csv('{path}', all_varchar = true, quote = '\"')"
            elif path.suffix in {".ndjson", ".jsonl"}:
                reader = f"read_json('{path}', format = 'newline_delimited', {JSON})"
            elif path.suffix == ".json":
                reader = f"read_json('{path}', format = 'auto', {JSON})"
            else:
                continue
            con.execute(f"create table t{number} as select * from {reader}")
            rows += con.sql(f"select count(*) from t{number}").fetchone()[0]
    return {
        "seconds": time.perf_counter() - started,
        "rows": rows,
        "peak_mib": _peak_mib(),
    }


def _child(step: str, landing: Path, work: Path, source: str) -> dict[str, float]:
    warehouse = work / f"{step}-{source}.duckdb"
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            step,
            str(landing),
            str(warehouse),
            source,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        msg = f"{step} of {source} failed"
        raise SystemExit(msg)
    warehouse.unlink(missing_ok=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate landing batches, ingest them, read them raw, and print the figures."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, landing, warehouse, source = sys.argv[2:6]
        run = _ingest if step == "ingest" else _floor
        print(json.dumps(run(Path(landing), Path(warehouse), source)))
        return

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from pipelines.lib.generate import default_anchor, generate

    work = Path(tempfile.mkdtemp(prefix="clearlist-bench-"))
    try:
        landing = work / "landing"
        started = time.perf_counter()
        generate(
            landing, contacts=args.contacts, seed=args.seed, anchor=default_anchor()
        )
        size = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file())
        print(
            f"contacts {args.contacts:,}: generated {size / 2**20:,.0f} MiB"
            f" in {time.perf_counter() - started:,.1f} s"
        )
        header = (
            f"{'source':<11}{'rows':>13}{'clearlist rows/s':>18}{'duckdb rows/s':>15}"
            f"{'x floor':>9}{'clearlist MiB':>15}{'duckdb MiB':>12}"
        )
        print(header)
        for source in SOURCES:
            ours = _child("ingest", landing, work, source)
            floor = _child("floor", landing, work, source)
            ratio = ours["seconds"] / floor["seconds"] if floor["seconds"] else 0.0
            print(
                f"{source:<11}{ours['rows']:>13,.0f}"
                f"{ours['rows'] / ours['seconds']:>18,.0f}"
                f"{floor['rows'] / floor['seconds']:>15,.0f}"
                f"{ratio:>9.2f}{ours['peak_mib']:>15,.0f}{floor['peak_mib']:>12,.0f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
