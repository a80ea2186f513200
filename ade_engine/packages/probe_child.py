"""Child process of dynamic package validation (config-packages.md §6.2).

Run as a script by `dynamic_checks`, never imported: it imports nothing from `ade_engine`, so package
code cannot reach engine internals. Protocol: one JSON request line on stdin; one JSON line
`{"diagnostics": [...]}` on the original stdout (package prints go to stderr); progress lines
`PROBE <where>` on stderr so the parent can say what was running if this process dies.

Limits are applied before any package code is imported: address space, CPU seconds, no sockets,
and a per-call alarm so one runaway function does not hide the others.
"""

from __future__ import annotations

import copy
import datetime as _dt
import decimal
import importlib
import importlib.util
import json
import math
import os
import signal
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

ALLOWED_VALUE_TYPES = (type(None), str, int, float, bool, decimal.Decimal, _dt.date, _dt.datetime, _dt.time)
SEVERITIES = ("error", "warning", "info")
CALL_ALARM_S = 2.0


class ProbeTimeout(BaseException):
    """Raised by SIGALRM inside a probe call that runs too long."""


# ----------------------------------------------------------------------------- confinement
def apply_limits(memory_mb: int, cpu_seconds: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cap = cpu_seconds if hard == resource.RLIM_INFINITY else min(cpu_seconds, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cap, cap + 1 if hard == resource.RLIM_INFINITY else hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def block_network() -> None:
    import _socket
    import socket

    def _denied(*_a: Any, **_k: Any) -> Any:
        raise PermissionError("network access is disabled during package validation")

    class _NoSocket(socket.socket):
        def __init__(self, *_a: Any, **_k: Any) -> None:
            raise PermissionError("network access is disabled during package validation")

    socket.socket = _NoSocket  # type: ignore[misc]
    _socket.socket = _NoSocket  # type: ignore[misc,attr-defined]
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo", "gethostbyname"):
        if hasattr(socket, name):
            setattr(socket, name, _denied)


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise ProbeTimeout()


# ----------------------------------------------------------------------------- read-only views
def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return types.MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def probe_artifact(manifest: dict[str, Any]) -> Any:
    return freeze({
        "schema": "ade.artifact/v1",
        "job": {"id": "validate-probe", "source_file": "probe.xlsx", "status": "running"},
        "config": {"title": manifest["info"]["title"], "version": manifest["info"]["version"]},
        "sheets": [],
        "rule_errors": [],
        "annotations": [],
    })


# ----------------------------------------------------------------------------- prober
class Prober:
    def __init__(self, request: dict[str, Any]):
        self.root = Path(request["package_dir"])
        self.manifest: dict[str, Any] = request["manifest"]
        self.row_modules: list[str] = request["row_modules"]
        self.warn_ms = float(request.get("slow_warning_ms", 200))
        self.error_ms = float(request.get("slow_error_ms", 1000))
        self.env = dict(self.manifest.get("env", {}))
        self.artifact = probe_artifact(self.manifest)
        self.diagnostics: list[dict[str, Any]] = []
        self._reported: set[tuple[str, str]] = set()
        self._slowest: dict[str, tuple[float, str, str]] = {}
        self._timed_out: set[str] = set()  # functions that hit the alarm are not called again

    # -- reporting
    def report(self, path: str, level: str, code: str, message: str, hint: str | None = None,
               line: int | None = None, key: str | None = None) -> None:
        dedupe = (key or path, code)
        if dedupe in self._reported:
            return
        self._reported.add(dedupe)
        self.diagnostics.append({"path": path, "level": level, "code": code, "message": message,
                                 "hint": hint, "line": line})

    def _line_in(self, exc: BaseException, rel: str) -> int | None:
        target = str((self.root / rel).resolve())
        line = None
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            if str(Path(frame.f_code.co_filename).resolve()) == target:
                line = lineno
        if line is None and isinstance(exc, SyntaxError) and exc.filename and \
                str(Path(exc.filename).resolve()) == target:
            line = exc.lineno
        return line

    # -- loading
    def load(self, rel: str) -> types.ModuleType | None:
        print(f"PROBE import {rel}", file=sys.stderr, flush=True)
        dotted = rel[:-3].replace("/", ".")
        try:
            signal.setitimer(signal.ITIMER_REAL, CALL_ALARM_S * 2)
            try:
                if all(part.isidentifier() for part in dotted.split(".")):
                    return importlib.import_module(dotted)
                name = "_ade_probe_" + "".join(c if c.isalnum() else "_" for c in rel[:-3])
                spec = importlib.util.spec_from_file_location(name, self.root / rel)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                return module
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except ProbeTimeout:
            self.report(rel, "error", "module.import_error",
                        f"{rel}: import did not finish within {CALL_ALARM_S * 2:.0f} s",
                        "do not run long computations at import time")
        except BaseException as exc:  # noqa: BLE001 - a script may raise anything, even SystemExit
            if isinstance(exc, ImportError):
                why = str(exc)
            else:
                why = f"{type(exc).__name__}: {exc}"
            self.report(rel, "error", "module.import_error", f"{rel}: import failed: {why}",
                        "fix the module so it imports cleanly; third-party modules must be in requirements.txt "
                        "and prepared", self._line_in(exc, rel))
        return None

    @staticmethod
    def functions(module: types.ModuleType, prefix: str) -> list[Any]:
        found = [obj for name, obj in vars(module).items()
                 if name.startswith(prefix) and isinstance(obj, types.FunctionType)
                 and obj.__module__ == module.__name__]
        return sorted(found, key=lambda f: f.__code__.co_firstlineno)

    # -- calling
    def call(self, rel: str, fn: Any, kwargs: dict[str, Any], desc: str) -> tuple[bool, Any, BaseException | None]:
        where = f"{rel}:{fn.__name__}"
        if where in self._timed_out:
            return False, None, ProbeTimeout()
        print(f"PROBE call {where}", file=sys.stderr, flush=True)
        # Fresh copies per call, so one call mutating its input cannot change the next; views are read-only.
        args = {k: v if k in ("artifact", "secrets") else copy.deepcopy(v) for k, v in kwargs.items()}
        start = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, CALL_ALARM_S)
            try:
                result = fn(**args)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except ProbeTimeout as exc:
            self._timed_out.add(where)
            self.report(rel, "error", "rule.slow", f"{where} did not return within {CALL_ALARM_S:.0f} s on {desc}",
                        "make the function fast and free of loops that never end; scripts get small samples",
                        key=where)
            return False, None, exc
        except BaseException as exc:  # noqa: BLE001
            return False, None, exc
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            if elapsed > self._slowest.get(where, (0.0, "", ""))[0]:
                self._slowest[where] = (elapsed, rel, desc)
        return True, result, None

    def call_twice(self, rel: str, fn: Any, kwargs: dict[str, Any], desc: str, exc_code: str) -> tuple[bool, Any]:
        where = f"{rel}:{fn.__name__}"
        ok, first, exc = self.call(rel, fn, kwargs, desc)
        if not ok:
            if exc is not None and not isinstance(exc, ProbeTimeout):
                self.report(rel, "error", exc_code, f"{where} raised {type(exc).__name__}: {exc} on {desc}",
                            "handle blanks (None), numbers and text without raising", self._line_in(exc, rel),
                            key=where)
            return False, None
        ok2, second, _exc2 = self.call(rel, fn, kwargs, desc)
        if not ok2 or _canon(first) != _canon(second):
            self.report(rel, "warning", "rule.nondeterministic",
                        f"{where} returned different results for identical input",
                        "avoid randomness, clocks and global state that changes between calls", None, key=where)
        return True, first

    def report_speed(self) -> None:
        for where, (ms, rel, desc) in sorted(self._slowest.items()):
            if ms >= self.error_ms:
                self.report(rel, "error", "rule.slow", f"{where} took {ms:.0f} ms on {desc} (limit 1000 ms)",
                            "make the function faster; it runs for every row or column", key=where)
            elif ms >= self.warn_ms:
                self.report(rel, "warning", "rule.slow", f"{where} took {ms:.0f} ms on {desc}",
                            "make the function faster; it runs for every row or column", key=where)

    # -- probes
    def run(self) -> list[dict[str, Any]]:
        self.probe_rows()
        self.probe_columns()
        self.probe_hooks()
        self.report_speed()
        return self.diagnostics

    def synthetic_rows(self) -> list[tuple[str, list[Any], dict[str, Any]]]:
        meta = self.manifest["columns"]["meta"]
        labels = [m["label"] for m in meta.values()][:8]
        header = (labels + ["Description", "Quantity"])[:10]
        numeric = ["A-1001", "Widget, small", 12.5, 3, None, "2024-03-01", 0.15, "CAD", 1, "yes"]
        seeking = {"state": "seeking", "table_index": None, "header_row_index": None, "last_label": None}
        in_table = {"state": "header", "table_index": 0, "header_row_index": 2, "last_label": "header"}
        return [
            (f"a header-like {len(header)}-cell row", header, seeking),
            (f"a numeric {len(numeric)}-cell row", numeric, in_table),
            ("a single-cell row", ["Price list, March 2024"], seeking),
        ]

    def probe_rows(self) -> None:
        for rel in self.row_modules:
            module = self.load(rel)
            if module is None:
                continue
            for fn in self.functions(module, "detect_"):
                for row_index, (desc, cells, hint) in enumerate(self.synthetic_rows(), 1):
                    kwargs = {"job_id": "validate-probe", "source_file": "probe.xlsx", "sheet_name": "Sheet1",
                              "sheet_index": 0, "row_index": row_index, "row_values_sample": cells,
                              "table_hint": hint, "manifest": self.manifest, "env": self.env,
                              "artifact": self.artifact}
                    ok, result = self.call_twice(rel, fn, kwargs, desc, "row_detector.exception")
                    if ok:
                        self.check_scores(rel, fn.__name__, result, "row_detector", None)

    def check_scores(self, rel: str, name: str, result: Any, kind: str, field_name: str | None) -> None:
        where = f"{rel}:{name}"
        shape = '{"scores": {' + ("label" if field_name is None else "field_name") + ': number}}'
        if not isinstance(result, dict) or not isinstance(result.get("scores"), dict):
            self.report(rel, "error", f"{kind}.bad_return", f"{where} returned {_short(result)}; expected {shape}",
                        f"return {shape} (an empty dict of scores is fine)", key=where)
            return
        for label, score in result["scores"].items():
            if not isinstance(label, str) or isinstance(score, bool) or \
                    not isinstance(score, int | float | decimal.Decimal) or not math.isfinite(score):
                self.report(rel, "error", f"{kind}.bad_return",
                            f"{where} returned a non-numeric score {_short(score)} for {_short(label)}",
                            "scores must be finite numbers keyed by a string", key=where)
                continue
            if field_name is not None and label != field_name:
                self.report(rel, "warning", "column.detector.foreign_key",
                            f"{where} returned a score for {label!r}",
                            f"return only the key field_name ({field_name!r}); other keys are ignored", key=where)
                continue
            if not -1.0 <= score <= 1.0:
                self.report(rel, "error", f"{kind}.score_range",
                            f"{where} returned {score} for {label!r} (allowed -1.0..1.0)",
                            "keep each delta within -1.0..1.0 (the engine clamps it)", key=where)

    def probe_columns(self) -> None:
        meta: dict[str, dict[str, Any]] = self.manifest["columns"]["meta"]
        by_script: dict[str, list[str]] = {}
        for field, fmeta in meta.items():
            by_script.setdefault(fmeta["script"], []).append(field)
        for rel, fields in by_script.items():
            module = self.load(rel)
            if module is None:
                continue
            granted = sorted({n for f in fields for n in meta[f].get("secrets", [])})
            secrets = types.MappingProxyType({n: f"placeholder-{n}" for n in granted})
            detectors = self.functions(module, "detect_")
            transform = getattr(module, "transform", None)
            validate = getattr(module, "validate", None)
            for field in fields:
                base = {"job_id": "validate-probe", "source_file": "probe.xlsx", "sheet_name": "Sheet1",
                        "table_id": "t1", "column_id": "t1.c1", "column_index": 1, "field_name": field,
                        "field_meta": meta[field], "manifest": self.manifest, "env": self.env,
                        "artifact": self.artifact, "secrets": secrets}
                samples = [
                    ("a 8-value sample", meta[field]["label"],
                     ["A-1001", "B-2002", None, "12.50", 42, 3.5, "n/a", "2024-03-01"]),
                    ("an all-blank sample", None, [None, None, None]),
                ]
                for fn in detectors:
                    for desc, header, values in samples:
                        kwargs = dict(base, header=header, values_sample=values)
                        ok, result = self.call_twice(rel, fn, kwargs, desc, "column.detector.exception")
                        if ok:
                            self.check_scores(rel, fn.__name__, result, "column.detector", field)
                raw = [" a-100 ", 12.5, None]
                values = raw
                if isinstance(transform, types.FunctionType):
                    kwargs = dict(base, header=meta[field]["label"], values=raw, row_offset=0)
                    ok, result = self.call_twice(rel, transform, kwargs, "3 values", "column.transform.exception")
                    if ok and self.check_transform(rel, result, len(raw)):
                        values = list(result["values"])
                if isinstance(validate, types.FunctionType):
                    kwargs = dict(base, header=meta[field]["label"], values=values, row_offset=0)
                    ok, result = self.call_twice(rel, validate, kwargs, "3 values", "column.validate.exception")
                    if ok:
                        self.check_validate(rel, result, len(values))

    def check_transform(self, rel: str, result: Any, n: int) -> bool:
        where = f"{rel}:transform"
        if not isinstance(result, dict) or not isinstance(result.get("values"), list):
            self.report(rel, "error", "column.transform.bad_return",
                        f"{where} returned {_short(result)}; expected {{\"values\": list, \"warnings\": list}}",
                        "return {\"values\": [...same length as the input...], \"warnings\": []}")
            return False
        got = len(result["values"])
        if got != n:
            self.report(rel, "error", "column.transform.values.length",
                        f"{where} returned {got} values for {n} inputs",
                        "return exactly one output value per input value, in order (None for blanks)")
            return False
        warnings = result.get("warnings", [])
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            self.report(rel, "error", "column.transform.warnings",
                        f"{where} returned warnings that are not a list of strings",
                        "return \"warnings\": [\"short per-column summary\", ...] (or an empty list)")
        odd = sorted({type(v).__name__ for v in result["values"] if not isinstance(v, ALLOWED_VALUE_TYPES)})
        if odd:
            self.report(rel, "warning", "column.transform.value_type",
                        f"{where} returned values of type {', '.join(odd)}, which will be stringified",
                        "return None, str, int, float, bool, Decimal, date, datetime or time")
        return True

    def check_validate(self, rel: str, result: Any, n: int) -> None:
        where = f"{rel}:validate"
        if not isinstance(result, dict) or not isinstance(result.get("issues"), list):
            self.report(rel, "error", "column.validate.bad_return",
                        f"{where} returned {_short(result)}; expected {{\"issues\": list}}",
                        "return {\"issues\": [{\"row_index\": 1, \"code\": ..., \"severity\": ..., "
                        "\"message\": ...}]} (an empty list is fine)")
            return
        for issue in result["issues"]:
            if not isinstance(issue, dict):
                self.report(rel, "error", "column.validate.bad_return", f"{where} returned an issue that is not "
                            f"a dict: {_short(issue)}", "each issue is a dict with row_index, code, severity, "
                            "message")
                continue
            row = issue.get("row_index")
            if isinstance(row, bool) or not isinstance(row, int) or not 1 <= row <= n:
                self.report(rel, "error", "column.validate.row_index",
                            f"{where} returned row_index {_short(row)} for {n} values",
                            "row_index is the 1-based position in values (1..len(values))")
            code = issue.get("code")
            if not isinstance(code, str) or not code.strip():
                self.report(rel, "error", "column.validate.code", f"{where} returned an issue without a code",
                            "set code, e.g. \"invalid_format\" or \"required_missing\"")
            if "severity" in issue and issue["severity"] not in SEVERITIES:
                self.report(rel, "error", "column.validate.severity",
                            f"{where} returned severity {_short(issue['severity'])}",
                            "use \"error\", \"warning\" or \"info\"")
            message = issue.get("message")
            if not isinstance(message, str):
                self.report(rel, "error", "column.validate.message",
                            f"{where} returned a message that is not a string",
                            "set message to a short text that does not repeat the cell value")
            elif len(message) > 500:
                self.report(rel, "warning", "column.validate.message",
                            f"{where} returned a message of {len(message)} characters (limit 500)",
                            "keep messages short; they are truncated")

    def probe_hooks(self) -> None:
        scripts: list[str] = []
        for entries in self.manifest["hooks"].values():
            for entry in entries:
                if entry["script"] not in scripts:
                    scripts.append(entry["script"])
        for rel in scripts:
            module = self.load(rel)
            if module is None:
                continue
            if not hasattr(module, "run"):
                self.report(rel, "error", "missing_hook_run", f"{rel} must define run()",
                            "add def run(*, stage, artifact, **_): ...")
            elif not callable(module.run):
                self.report(rel, "error", "hook.run_not_callable", f"{rel}: run is not callable",
                            "make run a function: def run(*, stage, **_): ...")


def _canon(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- main
def main() -> int:
    result_fd = os.dup(1)
    os.dup2(2, 1)  # package prints (Python or C level) go to stderr, never into the result line
    sys.stdout = sys.stderr
    sys.dont_write_bytecode = True
    request = json.loads(sys.stdin.readline())
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if p and str(Path(p).resolve()) != here]
    if request.get("vendor_dir"):
        sys.path.insert(0, request["vendor_dir"])
    sys.path.insert(0, request["package_dir"])
    signal.signal(signal.SIGALRM, _on_alarm)
    apply_limits(int(request.get("memory_mb", 256)), int(request.get("cpu_seconds", 10)))
    block_network()
    diagnostics = Prober(request).run()
    payload = json.dumps({"diagnostics": diagnostics}, default=repr) + "\n"
    os.write(result_fd, payload.encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
