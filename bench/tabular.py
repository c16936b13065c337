"""Tabular reading benchmark: the declaration reader against polars and pyarrow.

Writes a consignments CSV of N lines and a filings .xlsx of M rows (the rows of a generated
sample quarter, repeated under new keys until there are enough; the xlsx quantities as
number cells, as a spreadsheet saves them), then reads each file, each side in a fresh
process, the sides taking turns, ``--runs`` times:

- tracecheck: ``traceability.load.read`` into the Arrow batches the loader checks (every
  value the text as written, line numbers, limits, structural rejects);
- polars: ``pl.read_csv(infer_schema=False)`` (every column text), and
  ``pl.read_excel(engine="calamine")`` with every column text (needs ``fastexcel``);
- pyarrow: ``pyarrow.csv.read_csv`` with every column read as text;
- load: the whole ``traceability.load`` of the file into a new store, for scale.

Prints best and median seconds and peak RSS of each side, with the machine it ran on.

    python bench/tabular.py                       # 300k CSV lines, 100k xlsx rows, 3 runs
    python bench/tabular.py --lines 50000 --rows 10000 --runs 5
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import statistics
import tempfile
from pathlib import Path

from _common import load_average, machine, run

from traceability.sample import generate_quarter

TRACECHECK_CSV = """
import sys
from pathlib import Path
from traceability.load import read
table = read.read_csv(Path(sys.argv[1]))
if hasattr(table, "batches"):
    print(sum(batch.num_rows for batch in table.batches()))
else:  # a version before the reader streamed (--baseline)
    print(table.frame().height)
"""

TRACECHECK_XLSX = """
import sys
from pathlib import Path
from traceability.load import read
table = read.read_xlsx(Path(sys.argv[1]), "filings")
if hasattr(table, "batches"):
    print(sum(batch.num_rows for batch in table.batches()))
else:  # a version before the reader streamed (--baseline)
    print(table.frame().height)
"""

POLARS_CSV = """
import sys
import polars as pl
print(pl.read_csv(sys.argv[1], infer_schema=False).height)
"""

POLARS_XLSX = """
import sys
import polars as pl
print(pl.read_excel(sys.argv[1], engine="calamine", infer_schema_length=0).height)
"""

PYARROW_CSV = """
import sys
import pyarrow as pa
import pyarrow.csv as pacsv
with open(sys.argv[1], encoding="utf-8") as f:
    header = f.readline().rstrip("\\r\\n").split(",")
options = pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                               strings_can_be_null=True)
print(pacsv.read_csv(sys.argv[1], convert_options=options).num_rows)
"""

LOAD = """
import sys
from traceability.load import load
result = load(sys.argv[2], [sys.argv[1]])
print(result.files[0].accepted)
"""


def write_files(folder: Path, lines: int, rows: int) -> tuple[Path, Path]:
    """A consignments CSV of ``lines`` records and a filings .xlsx of ``rows`` records."""
    from openpyxl import Workbook

    sample = generate_quarter(folder / "sample", seed=7, packs_per_lot=120)
    with (sample.folder / "consignments.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        base = list(reader)
    key = header.index("declaration_id")
    out_csv = folder / "consignments.csv"
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(lines):
            row = list(base[i % len(base)])
            row[key] = f"{row[key]}-{i // len(base)}"
            writer.writerow(row)

    from openpyxl import load_workbook

    book = load_workbook(sample.folder / "filings.xlsx", read_only=True)
    values = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    fheader, frows = values[0], values[1:]
    fkey, qty = fheader.index("filing_id"), fheader.index("quantity")
    out = Workbook(write_only=True)
    sheet = out.create_sheet("filings")
    sheet.append(fheader)
    for i in range(rows):
        row = list(frows[i % len(frows)])
        row[fkey] = f"{row[fkey]}-{i // len(frows)}"
        row[qty] = float(row[qty])
        sheet.append(row)
    out_xlsx = folder / "filings.xlsx"
    out.save(out_xlsx)
    return out_csv, out_xlsx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="CSV lines, e.g. 300000")
    parser.add_argument("--rows", type=int, default=100_000, help="xlsx rows, e.g. 100000")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side, e.g. 3")
    parser.add_argument("--no-load", action="store_true", help="skip the whole-load side")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout whose reader is one more side, e.g. ../tracecheck-main",
    )
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {load_average()}")
    calamine = importlib.util.find_spec("fastexcel") is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path, xlsx_path = write_files(folder, args.lines, args.rows)
        mib = csv_path.stat().st_size / 2**20
        print(f"CSV: {args.lines:,} lines, {mib:.1f} MiB; xlsx: {args.rows:,} rows, "
              f"{xlsx_path.stat().st_size / 2**20:.1f} MiB")  # fmt: skip
        sides: list[tuple[str, str, Path]] = [
            ("csv  tracecheck", TRACECHECK_CSV, csv_path),
            *([("csv  baseline", TRACECHECK_CSV, csv_path)] if args.baseline else []),
            ("csv  polars", POLARS_CSV, csv_path),
            ("csv  pyarrow", PYARROW_CSV, csv_path),
            ("xlsx tracecheck", TRACECHECK_XLSX, xlsx_path),
            *([("xlsx baseline", TRACECHECK_XLSX, xlsx_path)] if args.baseline else []),
        ]
        if calamine:
            sides.append(("xlsx polars-calamine", POLARS_XLSX, xlsx_path))
        else:
            print("fastexcel is not installed: no polars read_excel(engine='calamine') side")
        if not args.no_load:
            sides += [("csv  load", LOAD, csv_path), ("xlsx load", LOAD, xlsx_path)]
        times: dict[str, list[float]] = {name: [] for name, _, _ in sides}
        peaks: dict[str, float] = {}
        counts: dict[str, str] = {}
        for r in range(args.runs):
            for name, script, path in sides:
                store = folder / f"store-{r}-{len(times[name])}.duckdb"
                code = args.baseline if "baseline" in name else None
                seconds, peak, out = run(script, str(path), str(store), code=code)
                times[name].append(seconds)
                peaks[name] = max(peaks.get(name, 0.0), peak)
                counts[name] = out.splitlines()[-1] if out else ""
                store.unlink(missing_ok=True)
        print(f"{'side':22} {'best s':>8} {'median s':>9} {'peak MiB':>9} {'records':>9}")
        for name, _, _ in sides:
            print(
                f"{name:22} {min(times[name]):8.2f} {statistics.median(times[name]):9.2f} "
                f"{peaks[name]:9.0f} {counts[name]:>9}"
            )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
