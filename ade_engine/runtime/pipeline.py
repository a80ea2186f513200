"""The job timeline (pipeline.md §1): manifest → registry → Pass 1 → Pass 2 → Passes 3–5 → hooks.

`run_pipeline(request, secrets, job_dir, cancel)` runs one job inside the job process and returns
the `result.json` dict (`ade.run_result/v1`, jobs.md §4). It saves `artifact.json` atomically after
each stage and appends lifecycle events to `events.ndjson`. It never raises for a job failure: the
failure is the returned `status`/`error` (and the artifact's `job.status`/`error`).
"""

from __future__ import annotations

import errno
import json
import os
import platform
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from ade_engine import ENGINE_VERSION
from ade_engine.errors import AdeError, ConfigInvalid
from ade_engine.runtime import artifact as art_models
from ade_engine.runtime import limits as limit_messages
from ade_engine.runtime.a1 import cell
from ade_engine.runtime.artifact import normalize_artifact
from ade_engine.runtime.atomic import save_json_atomic
from ade_engine.runtime.events import EventLog
from ade_engine.runtime.generate import Cancelled, IssueBook, StreamLoop, TableRun
from ade_engine.runtime.mapping import (
    ColumnScores,
    FieldSpec,
    apply_override,
    assign,
    mapped_fields,
    mapping_stats,
    required_unmapped_issues,
)
from ade_engine.runtime.plan import build_plan
from ade_engine.runtime.redact import Redactor
from ade_engine.runtime.rules import (
    RuleError,
    RuleErrorLog,
    ScriptRunner,
    describe_exception,
    load_registry,
)
from ade_engine.runtime.structure import (
    RowLabel,
    LayoutScanner,
    SheetScanner,
    StructureSettings,
    TableCounter,
    TablePlan,
    choose_label,
)

RESULT_SCHEMA = "ade.run_result/v1"
NOTES_MAX = 2000
DATA_MAX_BYTES = 16 * 1024
PASS_NAMES = {1: "structure", 2: "mapping", 3: "transform", 4: "validate", 5: "generate"}
FORMATS = ("xlsx", "xlsm", "csv")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str | None) -> datetime:
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            pass
    return datetime.now(timezone.utc).replace(microsecond=0)


FINAL_SAVES = frozenset({"finalize", "on_job_end"})


def _as_cancel(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError("cancel must be a threading.Event or a callable")


def _subset(src: Mapping[str, Any], model: type) -> dict[str, Any]:
    return {k: src[k] for k in model.model_fields if k in src}


def run_pipeline(request: dict[str, Any], secrets: Mapping[str, str] | None, job_dir: str | os.PathLike[str],
                 cancel: threading.Event | Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run one job; return the `result.json` dict."""
    return _Job(request, dict(secrets or {}), Path(job_dir), _as_cancel(cancel)).run()


class _Job:
    def __init__(self, request: dict[str, Any], secrets: dict[str, str], job_dir: Path,
                 cancelled: Callable[[], bool]):
        self.request = request
        self.secrets = secrets
        self.job_dir = job_dir
        self.cancelled = cancelled
        self.redactor = Redactor(secrets)
        self.job_id = str(request.get("job_id") or "job")
        self.attempt = int(request.get("attempt") or 1)
        self.events = EventLog(job_dir / "events.ndjson", self.job_id, self.attempt, "job",
                               redact=self.redactor.text if self.redactor else None)
        self.errors = RuleErrorLog(redact=self.redactor.text, on_first=self._on_rule_error)
        self.started_at = request.get("started_at") or _now()
        self.stage = "init"
        self.art: dict[str, Any] | None = None
        self.reader: Any = None
        self.writer: Any = None
        self.plans: dict[str, TablePlan] = {}
        self.sheet_refs: list[tuple[str, Any]] = []
        self.scores: dict[str, dict[str, ColumnScores]] = {}
        self.runs: dict[str, TableRun] = {}
        self.fields: list[FieldSpec] = []
        self.issues: IssueBook | None = None
        self.output_closed = False

    # ------------------------------------------------------------------ plumbing
    def _on_rule_error(self, entry: dict[str, Any]) -> None:
        self.events.emit("rule.error", detail={"rule": entry["rule"], "level": entry["level"], "kind": entry["kind"]})

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("the job was cancelled", code="cancelled")

    def _save(self, after: str) -> None:
        if self.art is None:
            return
        data = dict(self.art)
        data["rule_errors"] = self.errors.entries
        data = normalize_artifact(self.redactor.deep(data) if self.redactor else data)
        # Saves during the run keep a crash readable; the last ones (the job is ending) are the ones people
        # read, so they are indented.
        save_json_atomic(self.job_dir / "artifact.json", data, pretty=after in FINAL_SAVES)
        self.events.emit("artifact.saved", detail={"after": after})

    def _pass_started(self, n: int) -> None:
        self.events.emit("pass.started", state="running", detail={"pass": n, "name": PASS_NAMES[n]})

    def _pass_done(self, n: int, started: str, duration_s: float, stats: dict[str, int]) -> None:
        assert self.art is not None
        self.art["pass_history"].append({"pass": n, "name": PASS_NAMES[n], "started_at": started,
                                         "completed_at": _now(), "duration_ms": int(duration_s * 1000),
                                         "stats": stats})
        self.events.emit("pass.completed", state="running", detail={"pass": n, "name": PASS_NAMES[n], "stats": stats})

    # ------------------------------------------------------------------ timeline
    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        status, error = "failed", None
        try:
            self._init()
            self._hooks("on_job_start")
            self._pass1()
            self._save("pass_1")
            self._pass2()
            self._save("pass_2")
            self._passes_3_to_5()
            self._save("pass_5")
            self._hooks("after_transform", output_path=str(self.job_dir / "normalized.xlsx"))
            self._hooks("after_validate", output_path=str(self.job_dir / "normalized.xlsx"))
            self._save("hooks")
            status = "succeeded"
        except Cancelled as exc:
            status, error = "cancelled", {"code": "cancelled", "message": exc.message, "stage": self.stage}
        except RuleError as exc:
            error = {"code": "rule_error", "message": exc.message, "stage": exc.details.get("stage", self.stage),
                     "rule": exc.details.get("rule")}
        except ConfigInvalid as exc:
            error = {"code": "config_invalid", "message": exc.message, "stage": self.stage}
        except AdeError as exc:
            error = {"code": exc.code, "message": exc.message, "stage": self.stage}
        except MemoryError:
            error = {"code": "memory_limit", "stage": self.stage,
                     "message": limit_messages.memory_message(self.request.get("limits") or {})}
        except OSError as exc:
            if exc.errno == errno.EFBIG:  # named now: the writer's abort below removes its scratch files
                error = {"code": "file_size_limit", "stage": self.stage,
                         "message": limit_messages.file_size_message(self.job_dir, self.request.get("limits") or {},
                                                                     exc)}
            else:
                error = self._unexpected(exc)
        except Exception as exc:  # an engine bug: report it with its location, not a crash
            error = self._unexpected(exc)
        finally:
            if self.writer is not None and not self.output_closed:
                try:
                    self.writer.abort()
                except Exception:
                    pass
            if self.reader is not None:
                try:
                    self.reader.close()
                except Exception:
                    pass
        if error is not None:
            error = {k: v for k, v in error.items() if v is not None}
            error["message"] = self.redactor.text(str(error["message"]))
        self._finalize(status, error)
        result = {"schema": RESULT_SCHEMA, "status": status, "error": error,
                  "stats": {"rows_written": self._summary_value("rows_written"),
                            "tables": self._summary_value("tables"),
                            "issues_found": self._summary_value("issues_found")},
                  "duration_ms": int((time.monotonic() - t0) * 1000)}
        return self.redactor.deep(result) if self.redactor else result

    def _unexpected(self, exc: BaseException) -> dict[str, Any]:
        print(f"ade: unexpected engine error in stage {self.stage}:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        return {"code": "pipeline_error", "stage": self.stage,
                "message": f"unexpected engine error: {describe_exception(exc)}; report it with trace id "
                           f"{self.request.get('trace_id') or self.job_id}"}

    def _summary_value(self, key: str) -> int:
        if self.art is None or self.art.get("summary") is None:
            return 0
        return int(self.art["summary"].get(key, 0))

    # ------------------------------------------------------------------ step 1
    def _init(self) -> None:
        from ade_engine.manifest import load_manifest

        req = self.request
        config_dir = Path(req.get("config_dir") or self.job_dir / "config")
        self.manifest = load_manifest(config_dir / "manifest.json").to_runtime_dict()
        m = self.manifest
        eng = m["engine"]
        self.errors.strict = bool(eng["defaults"]["strict_rules"])
        inp = req.get("input") or {}
        input_path = Path(inp.get("path") or "")
        source_file = str(inp.get("filename") or input_path.name)
        self.source_file = source_file
        limits = req.get("limits") or {}
        network = bool(req.get("runtime_network_access", eng["defaults"]["runtime_network_access"]))
        fmt = inp.get("format") if inp.get("format") in FORMATS else None
        try:
            size = input_path.stat().st_size
        except OSError:
            size = 0
        self.art = {
            "schema": art_models.ARTIFACT_SCHEMA, "artifact_version": art_models.ARTIFACT_VERSION,
            "job": {"job_id": self.job_id, "attempt": self.attempt, "retry_of_job_id": req.get("retry_of_job_id"),
                    "trace_id": str(req.get("trace_id") or self.job_id), "status": "running",
                    "source_file": source_file, "started_at": self.started_at, "completed_at": None,
                    "config_version_id": str(req.get("config_version_id") or ""),
                    "runtime_network_access": network, "secrets_used": sorted(self.secrets)},
            "input": {"document_id": inp.get("document_id"), "format": fmt, "size_bytes": size,
                      "sha256": str(inp.get("sha256") or ""), "encoding": None, "delimiter": None, "sheet_count": 0},
            "config": {"config_id": str(req.get("config_id") or config_dir.name),
                       "config_version_id": str(req.get("config_version_id") or ""),
                       "title": m["info"]["title"], "manifest_version": m["info"]["version"],
                       "manifest_schema": m["info"]["schema"],
                       "config_script_api_version": m["config_script_api_version"],
                       "content_hash": str(req.get("content_hash") or ""), "deps_hash": req.get("deps_hash")},
            "engine": {"engine_version": ENGINE_VERSION,
                       "defaults": _subset(eng["defaults"], art_models.EngineDefaults),
                       "detect": _subset(eng["detect"], art_models.EngineDetect),
                       "writer": _subset(eng["writer"], art_models.EngineWriter),
                       "artifact": _subset(eng["artifact"], art_models.EngineArtifact),
                       "sandbox": {"level": req.get("sandbox_level") or "reduced",
                                   "missing": list(req.get("sandbox_missing") or []),
                                   "cpu_seconds": limits.get("cpu_seconds"), "memory_mb": limits.get("memory_mb"),
                                   "fsize_mb": limits.get("fsize_mb"), "nofile": limits.get("nofile"),
                                   "network": network}},
            "environment": {"python_version": platform.python_version(),
                            "platform": f"{sys.platform}-{platform.machine() or 'unknown'}",
                            "dependencies": self._dependencies(), "prepare": req.get("prepare")},
            "rules": {}, "sheets": [], "output": None, "summary": None, "pass_history": [], "annotations": [],
            "rule_errors": [], "warnings": [dict(w) for w in req.get("warnings") or []], "error": None,
        }
        self.registry = load_registry(config_dir, m)
        self.art["rules"] = self.registry.artifact_rules()
        self.runner = ScriptRunner(self.registry, self.errors, job_id=self.job_id, source_file=source_file,
                                   manifest=m, secrets=self.secrets)
        self.issues = IssueBook(eng["artifact"]["max_issues_per_field"], self.redactor.text)

        from ade_engine.runtime.gate import inspect_input
        from ade_engine.runtime.readers import open_workbook

        budget = req.get("input_budget") or {}
        # Text encoding: the run's --encoding, else the manifest's engine.input.encoding, else detected.
        encoding_override = inp.get("encoding") or None
        info = inspect_input(input_path, source_file,
                             max_uncompressed_mb=int(budget.get("max_uncompressed_mb") or 1024),
                             max_ratio=int(budget.get("max_ratio") or 200),
                             encoding=encoding_override or (eng.get("input") or {}).get("encoding"),
                             encoding_source="override" if encoding_override else "manifest")
        self.input_info = info
        self.art["input"].update(format=info.format, size_bytes=info.size_bytes,
                                 sha256=self.art["input"]["sha256"] or info.sha256,
                                 encoding=info.encoding, delimiter=info.delimiter,
                                 encoding_confidence=info.encoding_confidence, encoding_source=info.encoding_source)
        self.reader = open_workbook(input_path, info, inmemory_max_mb=int(budget.get("inmemory_max_mb") or 64),
                                    engine=req.get("reader") or "auto")
        sheets = self.reader.sheets()
        self.art["input"]["sheet_count"] = len(sheets)
        self.sheet_refs = [(f"sheet_{n}", s) for n, s in enumerate(sheets, start=1)]
        self._save("init")

    def _dependencies(self) -> list[str]:
        freeze = (self.job_dir / "vendor").resolve().parent / "freeze.txt"
        try:
            lines = freeze.read_text(encoding="utf-8").splitlines()
        except OSError:
            return list(self.request.get("dependencies") or [])
        return sorted(line.strip() for line in lines if "==" in line and not line.startswith("#"))

    # ------------------------------------------------------------------ hooks
    def _hooks(self, stage: str, **extra: Any) -> None:
        assert self.art is not None
        refs = self.registry.hooks.get(stage, [])
        if not refs:
            return
        self.stage = stage
        for ref in refs:
            if stage != "on_job_end":
                self._check_cancel()
            self.runner.set_artifact(self.art)
            self.events.emit("hook.started", detail={"stage": stage, "hook": ref.script})
            ok, result = self.runner.hook(ref, **extra)
            self.events.emit("hook.completed", detail={"stage": stage, "hook": ref.script,
                                                       "result": "ok" if ok else "error"})
            if not ok or result is None:
                continue
            note: dict[str, Any] = {"stage": stage, "hook": ref.script, "annotated_at": _now()}
            data: dict[str, Any] = {}
            for key, value in result.items():
                if key == "notes":
                    if isinstance(value, str):
                        text = self.redactor.text(value)
                        note["notes"] = text if len(text) <= NOTES_MAX else text[: NOTES_MAX - 1] + "…"
                    elif value is not None:
                        self.errors.record(ref.rule.id, stage, "bad_return", "notes must be a string", {})
                elif key == "mapping_overrides" and stage == "after_mapping":
                    note["overrides_applied"] = self._apply_overrides(ref, value)
                elif key == "issues" and stage == "after_validate":
                    note["issues_added"] = self._hook_issues(ref, value)
                else:
                    data[str(key)] = value
            if data:
                try:
                    encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
                except (TypeError, ValueError):
                    self.errors.record(ref.rule.id, stage, "bad_return",
                                       "returned keys that are not JSON-serializable; they were dropped", {})
                else:
                    if len(encoded.encode("utf-8")) > DATA_MAX_BYTES:
                        self.errors.record(ref.rule.id, stage, "bad_return",
                                           "returned more than 16 KiB of extra data; it was dropped", {})
                    else:
                        note["data"] = self.redactor.deep(json.loads(encoded))
            self.art["annotations"].append(note)

    def _column_index(self) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        assert self.art is not None
        index = {}
        for sheet in self.art["sheets"]:
            for table in sheet["tables"]:
                for col in table["columns"]:
                    index[col["column_id"]] = (table, col)
        return index

    def _apply_overrides(self, ref: Any, overrides: Any) -> int:
        stage = "after_mapping"
        if not isinstance(overrides, list):
            self.errors.record(ref.rule.id, stage, "invalid_override", "mapping_overrides must be a list", {})
            return 0
        columns = self._column_index()
        applied = 0
        for ov in overrides:
            col_id = ov.get("column_id") if isinstance(ov, Mapping) else None
            target = ov.get("target_field") if isinstance(ov, Mapping) else None
            problem = None
            if not isinstance(col_id, str) or col_id not in columns:
                problem = "names an unknown column_id"
            elif "target_field" not in ov or not (target is None or isinstance(target, str)):
                problem = "needs target_field (a field id or null)"
            elif target is not None and target not in self.registry.fields:
                problem = f"names a field that is unknown or disabled: {target!r}"
            elif columns[col_id][1]["empty"]:
                problem = "targets an empty column"
            if problem:
                self.errors.record(ref.rule.id, stage, "invalid_override", f"an override {problem}; it was ignored",
                                   {"column_id": col_id if isinstance(col_id, str) and col_id in columns else None})
                continue
            table = columns[col_id][0]
            apply_override(table["mapping"], self.scores[table["id"]], col_id, target)
            applied += 1
        return applied

    def _hook_issues(self, ref: Any, issues: Any) -> int:
        assert self.art is not None and self.issues is not None
        stage = "after_validate"
        if not isinstance(issues, list):
            self.errors.record(ref.rule.id, stage, "bad_return", "issues must be a list", {})
            return 0
        tables = {t["id"]: t for s in self.art["sheets"] for t in s["tables"]}
        added = 0
        for issue in issues:
            ok = isinstance(issue, Mapping)
            table = tables.get(issue.get("table_id")) if ok else None
            row = issue.get("row_index") if ok else None
            fid = issue.get("target_field") if ok else None
            code = issue.get("code") if ok else None
            if (table is None or not isinstance(code, str) or not code.strip()
                    or not (row is None or (isinstance(row, int) and not isinstance(row, bool)
                                            and 1 <= row <= table["data_row_count"]))
                    or not (fid is None or fid in self.registry.fields)):
                self.errors.record(ref.rule.id, stage, "bad_return",
                                   "an issue needs a known table_id, a row_index within the table (or null), a code "
                                   "and an enabled target_field (or none); it was ignored", {})
                continue
            plan = self.plans[table["id"]]
            run = self.runs.get(table["id"])
            mapped = {m["target_field"]: m["raw"]["column"] for m in table["mapping"] if m["target_field"]}
            col_id = mapped.get(fid) if fid else None
            a1 = output_a1 = None
            if row is not None:
                src = next((c.source_index for c in plan.columns if c.column_id == col_id), plan.span_min)
                sheet_row = plan.row_of_ordinal(row)
                a1 = cell(src, sheet_row) if sheet_row else None
                if run is not None and run.output_first_row is not None:
                    out_col = run.layout.field_output.get(fid, 1) if fid else 1
                    output_a1 = cell(out_col, run.output_first_row + row - 1)
            self.issues.add(table, code=code, severity=issue.get("severity"), message=issue.get("message"),
                            rule=ref.rule.id, target_field=fid, column=col_id, row_index=row, a1=a1,
                            output_a1=output_a1, range_=table["range"] if row is None else None)
            added += 1
        return added

    # ------------------------------------------------------------------ Pass 1
    def _pass1(self) -> None:
        assert self.art is not None
        self.stage = "structure"
        self._pass_started(1)
        started, t0 = _now(), time.perf_counter()
        self.runner.set_artifact(self.art)
        detect = self.manifest["engine"]["detect"]
        settings = StructureSettings(max_header_rows=detect["max_header_rows"],
                                     column_sample_size=detect["column_sample_size"])
        counter = TableCounter()
        tables = data_rows = columns = 0
        for sheet_id, ref in self.sheet_refs:
            label_row = self._row_labeler(sheet_id, ref, detect)
            if detect.get("layout") == "library":  # ade_engine.detect segments; row detectors add evidence
                scanner: Any = LayoutScanner(sheet_id, label_row if self.registry.row_detectors else None,
                                             settings, counter)
            else:
                scanner = SheetScanner(sheet_id, label_row, settings, counter)
            seen = 0
            for row_index, cells in self.reader.iter_rows(ref):
                self._check_cancel()
                scanner.feed(row_index, cells)
                seen += 1
                if seen % 1000 == 0:
                    self.events.progress(1, sheet_id, seen)
            result = scanner.finish()
            for plan in result.tables:
                self.plans[plan.id] = plan
            self.art["sheets"].append({
                "id": sheet_id, "name": ref.name, "index": ref.index, "hidden": bool(ref.hidden),
                "read_mode": self.reader.read_mode(ref), "row_classification": result.row_classification,
                "row_classification_truncated": result.truncated,
                "tables": [p.to_artifact() for p in result.tables]})
            tables += len(result.tables)
            data_rows += result.data_rows
            columns += sum(len(p.columns) for p in result.tables)
        if tables == 0:
            self.art["warnings"].append({"code": "no_tables_found",
                                         "message": "no table was found in any sheet; the output has headers only"})
        self._pass_done(1, started, time.perf_counter() - t0,
                        {"sheets": len(self.sheet_refs), "tables": tables, "data_rows": data_rows, "columns": columns})

    def _row_labeler(self, sheet_id: str, ref: Any, detect: Mapping[str, Any]) -> Callable[..., RowLabel]:
        rules = self.registry.row_detectors
        runner = self.runner
        cap = detect["row_sample_size"]
        threshold = detect["row_label_threshold"]
        order = list(detect["row_label_order"])
        rank = {lbl: i for i, lbl in enumerate(order)}

        base = runner.row_detector_base(sheet_name=ref.name, sheet_index=ref.index)
        score = runner.row_scores_with

        def label_row(row_index: int, cells: list[Any], hint: dict[str, Any]) -> RowLabel:
            sample = cells[:cap]
            totals: dict[str, float] = {}
            traces: list[tuple[str, str, float]] = []
            location = {"sheet_id": sheet_id, "row_index": row_index}
            for rule in rules:
                # Each detector gets its own copies: one that mutates its arguments cannot affect the next.
                scores = score(rule, base, row_index, sample[:], hint.copy(), location)
                for label, delta in scores.items():
                    totals[label] = totals.get(label, 0.0) + delta
                    if delta != 0.0:
                        traces.append((rule.id, label, delta))
            label, confidence = choose_label(totals, threshold, order, rank)
            return RowLabel(label, confidence, totals, traces)

        return label_row

    # ------------------------------------------------------------------ Pass 2
    def _pass2(self) -> None:
        assert self.art is not None
        self.stage = "mapping"
        self._pass_started(2)
        started, t0 = _now(), time.perf_counter()
        self.runner.set_artifact(self.art)
        order = self.manifest["columns"]["order"]
        meta = self.manifest["columns"]["meta"]
        self.fields = [FieldSpec(f, meta[f]["label"], tuple(meta[f].get("synonyms") or ()),
                                 bool(meta[f].get("required")), order.index(f))
                       for f in order if f in self.registry.fields]
        threshold = float(self.manifest["engine"]["defaults"]["mapping_score_threshold"])
        required_unmapped = 0
        for sheet in self.art["sheets"]:
            for table in sheet["tables"]:
                plan = self.plans[table["id"]]
                col_scores: dict[str, ColumnScores] = {}
                for col in plan.columns:
                    cs = ColumnScores(col.column_id, col.order, col.source_header, col.empty)
                    col_scores[col.column_id] = cs
                    if col.empty:
                        continue
                    sample = plan.values_sample(col)
                    for fs in self.fields:
                        for rule in self.registry.fields[fs.id].detectors:
                            self._check_cancel()
                            delta = self.runner.column_score(
                                rule, fs.id, sheet_name=sheet["name"], table_id=table["id"],
                                column_id=col.column_id, column_index=col.order, header=col.source_header,
                                values_sample=list(sample),
                                location={"sheet_id": sheet["id"], "table_id": table["id"], "column_id": col.column_id})
                            cs.add(fs.id, rule.id, delta)
                plan.release_samples()
                self.scores[table["id"]] = col_scores
                table["mapping"] = assign(list(col_scores.values()), self.fields, threshold)
                table["target_fields"] = mapped_fields(table["mapping"], self.fields)
                issues = required_unmapped_issues(table["range"], self.fields, table["target_fields"])
                required_unmapped += len(issues)
                self._reset_validation(table, issues)
        stats = mapping_stats((t["mapping"] for s in self.art["sheets"] for t in s["tables"]), required_unmapped)
        self._pass_done(2, started, time.perf_counter() - t0, stats)

        if self.registry.hooks.get("after_mapping"):
            self._hooks("after_mapping")
            for sheet in self.art["sheets"]:  # overrides may change what is mapped: re-evaluate
                for table in sheet["tables"]:
                    table["target_fields"] = mapped_fields(table["mapping"], self.fields)
                    self._reset_validation(table, required_unmapped_issues(table["range"], self.fields,
                                                                           table["target_fields"]))

    def _reset_validation(self, table: dict[str, Any], issues: list[dict[str, Any]]) -> None:
        assert self.issues is not None
        self.issues.forget_table(table["id"])
        table["validation"] = {"issues": [], "summary_by_field": {}}
        for issue in issues:
            self.issues.add(table, code=issue["code"], severity=issue["severity"], message=issue["message"],
                            rule=issue["rule"], target_field=issue["target_field"], range_=issue["range"])

    # ------------------------------------------------------------------ Passes 3–5
    def _passes_3_to_5(self) -> None:
        from ade_engine.runtime.writer import OutputWriter

        assert self.art is not None and self.issues is not None
        self.stage = "generate"
        self.runner.set_artifact(self.art)
        w = self.manifest["engine"]["writer"]
        tables = [t for s in self.art["sheets"] for t in s["tables"]]
        plan = build_plan([(f.id, self.manifest["columns"]["meta"][f.id]["label"]) for f in self.fields], tables,
                          append_unmapped=w["append_unmapped_columns"], prefix=w["unmapped_prefix"],
                          provenance=w["provenance_columns"])
        for n in (3, 4, 5):
            self._pass_started(n)
        started, t0 = _now(), time.perf_counter()
        # The writer's scratch file (the uncompressed sheet XML) goes to tmp/, which finalization removes
        # even when the job is killed.
        scratch = self.job_dir / "tmp"
        self.writer = OutputWriter(self.job_dir / "normalized.xlsx", w["output_sheet"],
                                   _parse_ts(self.started_at).replace(tzinfo=None),
                                   tmpdir=scratch if scratch.is_dir() else None)
        loop = StreamLoop(registry=self.registry, runner=self.runner, errors=self.errors, plan=plan,
                          writer=self.writer, issues=self.issues, chunk_rows=int(w["chunk_rows"]),
                          in_memory=w["mode"] == "in_memory", redactor=self.redactor if self.redactor else None,
                          cancelled=self.cancelled, progress=lambda sid, rows: self.events.progress(3, sid, rows))
        loop.write_header()
        sheets = []
        by_id = {sid: ref for sid, ref in self.sheet_refs}
        for sheet in self.art["sheets"]:
            runs = []
            for table in sheet["tables"]:
                run = TableRun(self.plans[table["id"]], table, sheet["name"], plan.layouts[table["id"]])
                self.runs[table["id"]] = run
                runs.append(run)
            if any(r.plan.data_row_count for r in runs):
                sheets.append((sheet["id"], self.reader.iter_rows(by_id[sheet["id"]]), runs))
            else:
                for r in runs:  # header-only tables: nothing to read
                    loop._start_table(r)
                    loop._finish_table(r)
        stats = loop.run(sheets)
        self.writer.close()
        self.output_closed = True
        for run in self.runs.values():
            run.art["data_row_count"] = run.processed
        completed = _now()
        by_sev = stats.by_severity
        for n, secs, st in (
            (3, stats.transform_s, {"changed_cells": stats.changed_cells, "fields_with_warnings": stats.fields_with_warnings}),
            (4, stats.validate_s, {"errors": by_sev["error"], "warnings": by_sev["warning"], "infos": by_sev["info"]}),
            (5, stats.generate_s, {"rows_written": stats.rows_written, "columns_written": stats.columns_written}),
        ):
            self.art["pass_history"].append({"pass": n, "name": PASS_NAMES[n], "started_at": started,
                                             "completed_at": completed, "duration_ms": int(secs * 1000), "stats": st})
            self.events.emit("pass.completed", state="running", detail={"pass": n, "name": PASS_NAMES[n], "stats": st})
        self.art["output"] = {"format": "xlsx", "path": "normalized.xlsx", "sheet": w["output_sheet"],
                              "rows_written": stats.rows_written, "column_plan": plan.column_plan()}
        self._columns_written = stats.columns_written
        del t0

    # ------------------------------------------------------------------ step 7
    def _summary(self) -> dict[str, Any]:
        assert self.art is not None
        tables = [t for s in self.art["sheets"] for t in s["tables"]]
        counts = {"error": 0, "warning": 0, "info": 0}
        for t in tables:
            for s in t["validation"]["summary_by_field"].values():
                counts["error"] += s["errors"]
                counts["warning"] += s["warnings"]
                counts["info"] += s["infos"]
            for issue in t["validation"]["issues"]:
                if issue["target_field"] is None:
                    counts[issue["severity"]] += 1
        mapped = sum(1 for t in tables for m in t["mapping"] if m["target_field"] is not None)
        unmapped = sum(1 for t in tables for m in t["mapping"]
                       if m["target_field"] is None and m["decision"] != "skipped_empty")
        out = self.art.get("output") or {}
        return {"sheets": len(self.art["sheets"]), "tables": len(tables), "rows_written": out.get("rows_written", 0),
                "columns_written": getattr(self, "_columns_written", 0), "mapped_columns": mapped,
                "unmapped_columns": unmapped, "issues_found": sum(counts.values()), "errors": counts["error"],
                "warnings": counts["warning"], "infos": counts["info"], "rule_errors": self.errors.error_count}

    def _finalize(self, status: str, error: dict[str, Any] | None) -> None:
        if self.art is None:
            return
        self.stage = "finalize"
        self.art["summary"] = self._summary()
        self.art["job"]["status"] = status
        self.art["job"]["completed_at"] = _now()
        self.art["error"] = error
        try:
            self._save("finalize")
        except Exception as exc:
            self._unexpected(exc)
            return
        if not getattr(self, "registry", None) or not self.registry.hooks.get("on_job_end"):
            return
        output = self.job_dir / "normalized.xlsx"
        strict, self.errors.strict = self.errors.strict, False  # on_job_end is best effort
        try:
            self._hooks("on_job_end", output_path=str(output) if status == "succeeded" and output.exists() else None,
                        status=status, error=dict(error) if error else None)
        except Exception as exc:
            self._unexpected(exc)
        finally:
            self.errors.strict = strict
        self.art["summary"]["rule_errors"] = self.errors.error_count
        try:
            self._save("on_job_end")
        except Exception as exc:
            self._unexpected(exc)
