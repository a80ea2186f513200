"""Structure-detection benchmark on hand-labelled real files (`python -m benchmarks.detect`).

Runs a config package's structure detection (default: the `ade config init` template) over every file of the
dev corpus — `../shared/corpora/strudel-dev` beside the checkout, or `--corpus DIR` — and prints, per
collection: tables exactly right / true tables, detected / true tables, files with every table right,
header-line F1, body-line F1 and seconds per file. A checkout without the corpus prints a note and exits 0.

Measures (the corpus README's definitions):
- a true table is *exactly right* when the detected table that overlaps it most has the same header rows and
  the same first and last data row;
- a file is *all right* when every true table is exactly right and no extra table was detected;
- line F1 of the `header` class and of body lines (`data`, `derived`, `group`) over the file's non-empty
  records: a detected table's header rows are header lines, its non-empty records from the first to the last
  data row are body lines.

Detection is what a job does in Pass 1: the CSV reader of the engine, the package's row detectors through the
same scoring and label choice, and the structure pass (`ade_engine.runtime.structure`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "strudel-dev"
DEFAULT_CONFIG = REPO / "ade_engine" / "packages" / "templates" / "default"
BODY = frozenset({"data", "derived", "group"})


# --------------------------------------------------------------------------------------------- reading
def read_rows(path: Path) -> list[tuple[int, list[Any]]]:
    """The rows a job sees: the engine's gate (encoding, delimiter) and CSV reader."""
    from ade_engine.runtime.gate import inspect_input
    from ade_engine.runtime.readers import open_workbook

    info = inspect_input(path, path.name)
    with open_workbook(path, info) as reader:
        sheet = reader.sheets()[0]
        return list(reader.iter_rows(sheet))


# --------------------------------------------------------------------------------------------- detection
class PackageDetector:
    """Pass 1 of a job, with the row detectors of one config package (loaded once)."""

    def __init__(self, config_dir: Path):
        from ade_engine.manifest import load_manifest
        from ade_engine.runtime.rules import load_registry

        self.config_dir = config_dir
        self.manifest = load_manifest(config_dir / "manifest.json").to_runtime_dict()
        self.registry = load_registry(config_dir, self.manifest)

    def tables(self, name: str, rows: list[tuple[int, list[Any]]]) -> tuple[list[dict[str, Any]], Any]:
        from ade_engine.runtime.structure import (
            LayoutScanner, RowLabel, SheetScanner, StructureSettings, choose_label,
        )

        detect = self.manifest["engine"]["detect"]
        settings = StructureSettings(max_header_rows=detect["max_header_rows"],
                                     column_sample_size=detect["column_sample_size"])
        cap, threshold = detect["row_sample_size"], detect["row_label_threshold"]
        order = list(detect["row_label_order"])
        rank = {lbl: i for i, lbl in enumerate(order)}
        base = {"job_id": "bench", "source_file": name, "manifest": self.manifest, "env": {}, "artifact": {},
                "sheet_name": Path(name).stem[:31], "sheet_index": 1, "secrets": {}}
        rules = self.registry.row_detectors

        def label_row(row_index: int, cells: list[Any], hint: dict[str, Any]) -> RowLabel:
            sample = cells[:cap]
            totals: dict[str, float] = {}
            for rule in rules:
                result = rule.func(**base, row_index=row_index, row_values_sample=sample[:], table_hint=hint.copy())
                for label, delta in ((result or {}).get("scores") or {}).items():
                    totals[label] = totals.get(label, 0.0) + float(delta)
            label, confidence = choose_label(totals, threshold, order, rank)
            return RowLabel(label, confidence, totals)

        if detect.get("layout") == "library":
            scanner: Any = LayoutScanner("sheet_1", label_row if rules else None, settings)
        else:
            scanner = SheetScanner("sheet_1", label_row, settings)
        for row_index, cells in rows:
            scanner.feed(row_index, cells)
        result = scanner.finish()
        spans = getattr(scanner, "spans", {})  # library: the body span includes section and total rows
        return [{"header_rows": [r for r, _ in t.header_rows],
                 "first_data_row": spans[t.id][0] if t.id in spans else t.first_data_row,
                 "last_data_row": spans[t.id][1] if t.id in spans else t.last_data_row}
                for t in result.tables], result


class LibraryDetector:
    """`ade_engine.detect.detect_layout` alone (no package detectors)."""

    def tables(self, name: str, rows: list[tuple[int, list[Any]]]) -> tuple[list[dict[str, Any]], Any]:
        from ade_engine.detect import detect_layout

        layout = detect_layout(rows)
        return [t.to_dict() for t in layout.tables], layout


# --------------------------------------------------------------------------------------------- scoring
def _extent(t: dict[str, Any]) -> set[int]:
    rows = set(t.get("header_rows") or [])
    if t.get("first_data_row") is not None and t.get("last_data_row") is not None:
        rows.update(range(t["first_data_row"], t["last_data_row"] + 1))
    return rows


def _key(t: dict[str, Any]) -> tuple:
    return (tuple(sorted(t.get("header_rows") or [])), t.get("first_data_row"), t.get("last_data_row"))


def score_file(truth: dict[str, Any], detected: list[dict[str, Any]], nonblank: set[int]) -> dict[str, Any]:
    labels = truth["line_labels"]
    true_tables = truth["tables"]
    right = 0
    for tt in true_tables:
        ext = _extent(tt)
        best, best_overlap = None, 0
        for dt in detected:
            overlap = len(ext & _extent(dt))
            if overlap > best_overlap:
                best, best_overlap = dt, overlap
        if best is not None and _key(best) == _key(tt):
            right += 1
    # line classes over non-empty records (by the truth's labels; the reader's blank rows agree)
    lines = [n for n in range(1, len(labels) + 1) if labels[n - 1] != "empty"]
    pred_header: set[int] = set()
    pred_body: set[int] = set()
    for dt in detected:
        pred_header.update(dt.get("header_rows") or [])
        if dt.get("first_data_row") is not None:
            pred_body.update(r for r in range(dt["first_data_row"], dt["last_data_row"] + 1) if r in nonblank)
    counts = {}
    for cls, pred in (("header", pred_header), ("body", pred_body)):
        true_set = {n for n in lines if (labels[n - 1] == "header" if cls == "header" else labels[n - 1] in BODY)}
        pred_set = {n for n in pred if n in nonblank or labels[n - 1] != "empty"}
        counts[cls] = (len(true_set & pred_set), len(pred_set - true_set), len(true_set - pred_set))
    return {"true": len(true_tables), "detected": len(detected), "right": right,
            "file_right": right == len(true_tables) and len(detected) == len(true_tables), "lines": counts}


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def summarize(per_file: dict[str, dict[str, Any]], collection_of: dict[str, str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name in per_file:
        groups[collection_of[name]].append(name)
    out: dict[str, dict[str, Any]] = {}
    for coll in sorted(groups) + ["all"]:
        names = [n for n in per_file] if coll == "all" else groups[coll]
        agg: dict[str, Any] = {"files": len(names), "true": 0, "detected": 0, "right": 0, "files_right": 0,
                               "seconds": 0.0}
        lines = {"header": [0, 0, 0], "body": [0, 0, 0]}
        for n in names:
            r = per_file[n]
            for k in ("true", "detected", "right", "seconds"):
                agg[k] += r[k]
            agg["files_right"] += r["file_right"]
            for cls in lines:
                for i in range(3):
                    lines[cls][i] += r["lines"][cls][i]
        agg["header_f1"] = f1(*lines["header"])
        agg["body_f1"] = f1(*lines["body"])
        out[coll] = agg
    return out


def print_table(summary: dict[str, dict[str, Any]], out=sys.stdout) -> None:
    print(f"{'collection':<10} {'right/true':>14} {'%':>5} {'det/true':>12} {'ratio':>6} {'files ok':>12} "
          f"{'header F1':>9} {'body F1':>8} {'s/file':>7}", file=out)
    for coll, a in summary.items():
        pct = 100 * a["right"] / a["true"] if a["true"] else 0.0
        ratio = a["detected"] / a["true"] if a["true"] else 0.0
        print(f"{coll:<10} {a['right']:>6}/{a['true']:<7} {pct:>5.1f} {a['detected']:>5}/{a['true']:<6} {ratio:>6.2f} "
              f"{a['files_right']:>5}/{a['files']:<6} {a['header_f1']:>9.3f} {a['body_f1']:>8.3f} "
              f"{a['seconds'] / max(a['files'], 1):>7.4f}", file=out)


# --------------------------------------------------------------------------------------------- driver
def run(corpus: Path, config: Path, *, only: Iterable[str] = (), limit: int = 0,
        errors_out: Path | None = None, library: bool = False) -> dict[str, dict[str, Any]]:
    truth = json.loads((corpus / "truth.json").read_text())["files"]
    names = sorted(truth)
    if only:
        wanted = set(only)
        names = [n for n in names if truth[n]["dataset"] in wanted or n in wanted]
    if limit:
        names = names[:limit]
    detector = LibraryDetector() if library else PackageDetector(config)
    per_file: dict[str, dict[str, Any]] = {}
    wrong: list[dict[str, Any]] = []
    for name in names:
        rows = read_rows(corpus / "files" / name)
        t0 = time.perf_counter()
        detected, _ = detector.tables(name, rows)
        seconds = time.perf_counter() - t0
        r = score_file(truth[name], detected, {n for n, _ in rows})
        r["seconds"] = seconds
        per_file[name] = r
        if errors_out is not None and not r["file_right"]:
            wrong.append({"file": name, "truth": [_key(t) for t in truth[name]["tables"]],
                          "detected": [_key(t) for t in detected]})
    if errors_out is not None:
        errors_out.write_text(json.dumps(wrong, indent=1) + "\n")
    return summarize(per_file, {n: truth[n]["dataset"] for n in truth})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.detect", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="labelled corpus (truth.json + files/)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="config package whose detectors run")
    ap.add_argument("--only", action="append", default=[], help="a collection or file name (repeatable)")
    ap.add_argument("--limit", type=int, default=0, help="first N files only")
    ap.add_argument("--errors", help="write the files not all right (truth vs detected) to this JSON file")
    ap.add_argument("--library", action="store_true", help="run ade_engine.detect alone, without a package")
    ap.add_argument("--json", help="write the per-collection figures to this JSON file")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not (corpus / "truth.json").is_file():
        print(f"detect benchmark skipped: no labelled corpus at {corpus} (a clone has no ../shared; pass --corpus)")
        return 0
    config = Path(args.config)
    config = config if config.is_absolute() else REPO / config
    print(f"structure detection on {corpus.name}, package {config.relative_to(REPO) if config.is_relative_to(REPO) else config}")
    summary = run(corpus, config, only=args.only, limit=args.limit,
                  errors_out=Path(args.errors) if args.errors else None, library=args.library)
    print_table(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
