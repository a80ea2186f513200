"""Package loading, the rule registry, and contained calls into package scripts.

`load_registry(config_dir, manifest)` imports the package (root first on `sys.path`), discovers
`detect_*` callables, and returns a `Registry`. `ScriptRunner` calls scripts with every documented
keyword argument, validates what they return, and records contract breaches once per (rule, kind)
in `rule_errors` (config-packages.md §4). Under `strict_rules` the first error raises `RuleError`.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import importlib.util
import inspect
import math
import numbers
import sys
import traceback
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType, ModuleType
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ade_engine.errors import AdeError, ConfigInvalid

ERROR_KINDS = frozenset({"exception", "bad_return", "wrong_length", "invalid_override", "secret_in_output"})
WARNING_KINDS = frozenset({"score_out_of_range", "foreign_score_key", "bad_value_type", "value_truncated",
                           "control_chars_removed", "non_finite_float", "timezone_converted"})
PACKAGE_TOP_LEVEL = ("columns", "row_types", "hooks")
MESSAGE_MAX = 500
ALLOWED_VALUE_TYPES = (str, int, float, bool, Decimal, date, datetime, time)


class RuleError(AdeError):
    """A package script broke its contract while `strict_rules` is on: the job fails."""

    code = "rule_error"


def is_limit_error(exc: BaseException) -> bool:
    """The job process hit one of its resource limits (RLIMIT_AS gives MemoryError, RLIMIT_FSIZE gives EFBIG).

    That is not the script's fault to be contained as a rule error: it ends the job with `memory_limit` or
    `file_size_limit`, so the user learns which limit to raise instead of reading a "succeeded" with a note."""
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.EFBIG)


# ----------------------------------------------------------------------------- read-only views
class FrozenDict(dict):
    """A dict that refuses mutation (TypeError). `copy.deepcopy` gives a plain, mutable copy."""

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("this mapping is read-only (scripts get a read-only view; copy.deepcopy() it to edit)")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class FrozenList(list):
    """A list that refuses mutation (TypeError). `copy.deepcopy` gives a plain, mutable copy."""

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("this list is read-only (scripts get a read-only view; copy.deepcopy() it to edit)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def freeze(obj: Any) -> Any:
    """A deep read-only view (copy) of a JSON-like structure."""
    if isinstance(obj, Mapping):
        out = FrozenDict()
        dict.update(out, ((k, freeze(v)) for k, v in obj.items()))
        return out
    if isinstance(obj, (list, tuple)):
        out_l = FrozenList()
        list.extend(out_l, (freeze(v) for v in obj))
        return out_l
    return obj


EMPTY_SECRETS: Mapping[str, str] = MappingProxyType({})


# ----------------------------------------------------------------------------- registry
@dataclass
class Rule:
    id: str
    impl: str
    version: str
    func: Callable[..., Any]
    script: str
    field: str | None = None
    stage: str | None = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"impl": self.impl, "version": self.version}
        if self.field is not None:
            out["field"] = self.field
        if self.stage is not None:
            out["stage"] = self.stage
        return out


@dataclass
class FieldRules:
    field: str
    meta: dict[str, Any]
    script: str
    detectors: list[Rule]
    transform: Rule | None
    validate: Rule | None
    secrets: frozenset[str]


@dataclass
class HookRef:
    stage: str
    index: int
    script: str
    rule: Rule
    secrets: frozenset[str]


@dataclass
class Registry:
    root: Path
    row_detectors: list[Rule] = field(default_factory=list)
    fields: dict[str, FieldRules] = field(default_factory=dict)  # enabled fields, columns.order
    hooks: dict[str, list[HookRef]] = field(default_factory=dict)  # enabled entries per stage

    def artifact_rules(self) -> dict[str, dict[str, Any]]:
        """The `rules` section: rule id → {impl, version, field?/stage?} per group."""
        groups: dict[str, dict[str, Any]] = {"row_types": {}, "column_detect": {}, "transform": {},
                                             "validate": {}, "hooks": {}}
        for rule in self.row_detectors:
            groups["row_types"].setdefault(rule.id, rule.info())
        for fr in self.fields.values():
            for rule in fr.detectors:
                groups["column_detect"].setdefault(rule.id, rule.info())
            if fr.transform:
                groups["transform"].setdefault(fr.transform.id, fr.transform.info())
            if fr.validate:
                groups["validate"].setdefault(fr.validate.id, fr.validate.info())
        for refs in self.hooks.values():
            for ref in refs:
                groups["hooks"].setdefault(ref.rule.id, ref.rule.info())
        return groups


_loaded_roots: list[str] = []


def _module_id(script: str) -> str:
    return script[:-3].replace("/", ".") if script.endswith(".py") else script.replace("/", ".")


def _prepare_import_path(root: Path) -> None:
    """Put `root` first on sys.path and forget modules of any previously loaded package."""
    old_roots = set(_loaded_roots)
    for name in list(sys.modules):
        mod = sys.modules.get(name)
        top = name.split(".", 1)[0]
        mod_file = getattr(mod, "__file__", None) or ""
        from_old = any(mod_file.startswith(r + "/") for r in old_roots)
        if top in PACKAGE_TOP_LEVEL or from_old:
            del sys.modules[name]
    for r in old_roots:
        while r in sys.path:
            sys.path.remove(r)
    _loaded_roots[:] = [str(root)]
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()


def _import_script(root: Path, script: str, cache: dict[str, ModuleType]) -> ModuleType:
    if script in cache:
        return cache[script]
    path = root / script
    name = _module_id(script)
    if not path.is_file():
        raise ConfigInvalid(f"{script}: script not found in the package ({root}). Fix the manifest reference.",
                            details={"path": script})
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {script}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # any failure at import time is a package problem
        sys.modules.pop(name, None)
        if is_limit_error(exc):
            raise
        traceback.print_exc(file=sys.stderr)
        raise ConfigInvalid(f"{script}: import failed: {type(exc).__name__}: {exc}",
                            details={"path": script}) from exc
    cache[script] = module
    return module


def _file_version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _detectors(module: ModuleType) -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for name, obj in vars(module).items():
        if name.startswith("detect_") and inspect.isfunction(obj) and obj.__module__ == module.__name__:
            found.append((obj.__code__.co_firstlineno, name, obj))
    found.sort(key=lambda t: t[0])  # source order
    return [(name, obj) for _, name, obj in found]


def _make_rule(script: str, module: ModuleType, callable_name: str, func: Callable[..., Any], version: str,
               *, field_id: str | None = None, stage: str | None = None) -> Rule:
    return Rule(id=f"{_module_id(script)}:{callable_name}", impl=f"{script}:{callable_name}", version=version,
                func=func, script=script, field=field_id, stage=stage)


def load_registry(config_dir: str | Path, manifest: Mapping[str, Any]) -> Registry:
    """Import the package's row types, enabled field modules and enabled hook modules."""
    root = Path(config_dir).resolve()
    _prepare_import_path(root)
    cache: dict[str, ModuleType] = {}
    reg = Registry(root=root)

    rt_dir = root / "row_types"
    row_scripts = sorted(p.name for p in rt_dir.glob("*.py") if not p.name.startswith("_")) if rt_dir.is_dir() else []
    for fname in row_scripts:
        script = f"row_types/{fname}"
        module = _import_script(root, script, cache)
        version = _file_version(root / script)
        for name, func in _detectors(module):
            reg.row_detectors.append(_make_rule(script, module, name, func, version))

    columns = manifest["columns"]
    meta_all = columns["meta"]
    # A module shared by several fields receives the union of their secret requests (secrets.md §2).
    script_secrets: dict[str, set[str]] = {}
    for fid in columns["order"]:
        meta = meta_all[fid]
        if meta.get("enabled", True):
            script_secrets.setdefault(meta["script"], set()).update(meta.get("secrets") or [])
    for fid in columns["order"]:
        meta = meta_all[fid]
        if not meta.get("enabled", True):
            continue
        script = meta["script"]
        module = _import_script(root, script, cache)
        version = _file_version(root / script)
        detectors = [_make_rule(script, module, n, f, version, field_id=fid) for n, f in _detectors(module)]
        tr = getattr(module, "transform", None)
        va = getattr(module, "validate", None)
        reg.fields[fid] = FieldRules(
            field=fid, meta=dict(meta), script=script, detectors=detectors,
            transform=_make_rule(script, module, "transform", tr, version, field_id=fid) if callable(tr) else None,
            validate=_make_rule(script, module, "validate", va, version, field_id=fid) if callable(va) else None,
            secrets=frozenset(script_secrets.get(script, set())))

    for stage in ("on_job_start", "after_mapping", "after_transform", "after_validate", "on_job_end"):
        for i, entry in enumerate((manifest.get("hooks") or {}).get(stage) or []):
            if not entry.get("enabled", True):
                continue
            script = entry["script"]
            module = _import_script(root, script, cache)
            run = getattr(module, "run", None)
            if not callable(run):
                raise ConfigInvalid(f"{script} must define run() (listed under hooks.{stage}[{i}]).",
                                    details={"path": script})
            rule = _make_rule(script, module, "run", run, _file_version(root / script), stage=stage)
            reg.hooks.setdefault(stage, []).append(
                HookRef(stage=stage, index=i, script=script, rule=rule, secrets=frozenset(entry.get("secrets") or [])))
    return reg


# ----------------------------------------------------------------------------- rule errors
def _short(text: str, limit: int = MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


PACKAGE_DIRS = frozenset({"columns", "row_types", "hooks"})


def describe_exception(exc: BaseException) -> str:
    """Exception type and where it was raised — never its text, which may echo cell values."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    if tb:
        # Point at the package file (columns/x.py:12) when the failing frame is in the package, so an author
        # can jump to it; otherwise at the last frame (e.g. a stdlib call the script made).
        in_package = [f for f in tb if Path(f.filename).parent.name in PACKAGE_DIRS]
        frame = in_package[-1] if in_package else tb[-1]
        path = Path(frame.filename)
        shown = f"{path.parent.name}/{path.name}" if path.parent.name in PACKAGE_DIRS else path.name
        where = f" at {shown}:{frame.lineno} in {frame.name}"
    return f"{type(exc).__name__}{where} (details in logs/worker.log)"


class RuleErrorLog:
    """`rule_errors`: one entry per (rule, kind[, output column]) with a count and first location."""

    def __init__(self, *, strict: bool = False, redact: Callable[[str], str] | None = None,
                 on_first: Callable[[dict[str, Any]], None] | None = None):
        self.strict = strict
        self._redact = redact or (lambda s: s)
        self._on_first = on_first
        self.entries: list[dict[str, Any]] = []
        self._index: dict[tuple[Any, ...], dict[str, Any]] = {}

    def record(self, rule: str, stage: str, kind: str, message: str,
               location: Mapping[str, Any] | None = None, *, key: Any = None) -> dict[str, Any]:
        level = "error" if kind in ERROR_KINDS else "warning"
        ident = (rule, kind, key)
        entry = self._index.get(ident)
        if entry is not None:
            entry["count"] += 1
        else:
            loc = {k: v for k, v in (location or {}).items()
                   if k in ("sheet_id", "table_id", "column_id", "row_index") and v is not None}
            entry = {"rule": rule, "stage": stage, "level": level, "kind": kind,
                     "message": _short(self._redact(message)), "count": 1, "first_location": loc}
            self._index[ident] = entry
            self.entries.append(entry)
            if self._on_first is not None:
                self._on_first(entry)
        if level == "error" and self.strict:
            raise RuleError(f"{rule} ({stage}): {entry['message']} — strict_rules is on, so this fails the job; "
                            f"fix the script or turn strict_rules off.",
                            details={"rule": rule, "stage": stage, "kind": kind})
        return entry

    @property
    def error_count(self) -> int:
        return sum(1 for e in self.entries if e["level"] == "error")


# ----------------------------------------------------------------------------- contained calls
def _number(value: Any) -> float | None:
    cls = value.__class__
    if cls is float:  # fast path: detectors return plain floats and ints on every row
        return value if math.isfinite(value) else None
    if cls is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


class ScriptRunner:
    """Calls package scripts with the documented keyword arguments and contains their failures."""

    def __init__(self, registry: Registry, errors: RuleErrorLog, *, job_id: str, source_file: str,
                 manifest: Mapping[str, Any], secrets: Mapping[str, str] | None = None):
        self.registry = registry
        self.errors = errors
        self.job_id = job_id
        self.source_file = source_file
        self.manifest = freeze(manifest)
        self.env = freeze(manifest.get("env") or {})
        self._secrets = dict(secrets or {})
        self.artifact: Any = FrozenDict()
        self._field_meta = {f: freeze(fr.meta) for f, fr in registry.fields.items()}
        self._field_secrets = {f: self.secrets_for(fr.secrets) for f, fr in registry.fields.items()}

    def set_artifact(self, artifact: Mapping[str, Any]) -> None:
        """The artifact as it stands now becomes the read-only view scripts see."""
        self.artifact = freeze(artifact)

    def secrets_for(self, names: Iterable[str]) -> Mapping[str, str]:
        return MappingProxyType({n: self._secrets[n] for n in sorted(names) if n in self._secrets})

    def _base(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "source_file": self.source_file, "manifest": self.manifest,
                "env": self.env, "artifact": self.artifact}

    def _call(self, rule: Rule, stage: str, location: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        try:
            return True, rule.func(**kwargs)
        except RuleError:
            raise
        except Exception as exc:  # a script error is contained (config-packages.md §4)
            if is_limit_error(exc):
                raise
            print(f"ade: {rule.id} raised in {stage}:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
            self.errors.record(rule.id, stage, "exception", describe_exception(exc), location)
            return False, None

    def _bad(self, rule: Rule, stage: str, kind: str, message: str, location: Mapping[str, Any] | None) -> None:
        self.errors.record(rule.id, stage, kind, message, location)

    # -- Pass 1
    def row_scores(self, rule: Rule, *, sheet_name: str, sheet_index: int, row_index: int,
                   row_values_sample: list, table_hint: dict, location: Mapping[str, Any]) -> dict[str, float]:
        """Clamped `{label: delta}` of one row detector call; `{}` when neutralized."""
        base = self.row_detector_base(sheet_name=sheet_name, sheet_index=sheet_index)
        return self.row_scores_with(rule, base, row_index, row_values_sample, table_hint, location)

    def row_detector_base(self, *, sheet_name: str, sheet_index: int) -> dict[str, Any]:
        """The keyword arguments every row detector call of one sheet shares (built once per sheet)."""
        kwargs = self._base()
        kwargs.update(sheet_name=sheet_name, sheet_index=sheet_index, secrets=EMPTY_SECRETS)
        return kwargs

    def row_scores_with(self, rule: Rule, base: dict[str, Any], row_index: int, row_values_sample: list,
                        table_hint: dict, location: Mapping[str, Any]) -> dict[str, float]:
        """`row_scores` for the hot loop of Pass 1: row detectors run on every row of every sheet, so the
        common case (a dict of plain floats within [-1, 1]) is checked inline; anything else takes the full
        checks below, which record the rule errors and warnings."""
        try:
            result = rule.func(**base, row_index=row_index, row_values_sample=row_values_sample,
                               table_hint=table_hint)
        except RuleError:
            raise
        except Exception as exc:  # a script error is contained (config-packages.md §4)
            if is_limit_error(exc):
                raise
            print(f"ade: {rule.id} raised in structure:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
            self.errors.record(rule.id, "structure", "exception", describe_exception(exc), location)
            return {}
        if result.__class__ is dict:
            scores = result.get("scores")
            if scores.__class__ is dict:
                out: dict[str, float] = {}
                for label, delta in scores.items():
                    cls = delta.__class__
                    # NaN fails both comparisons, so it falls through to the full checks.
                    if (cls is float or cls is int) and label.__class__ is str and label and -1.0 <= delta <= 1.0:
                        out[label] = float(delta)
                    else:
                        return self._row_result(rule, result, location)
                return out
        return self._row_result(rule, result, location)

    def _row_result(self, rule: Rule, result: Any, location: Mapping[str, Any]) -> dict[str, float]:
        scores = result.get("scores") if isinstance(result, Mapping) else None
        if not isinstance(scores, Mapping):
            self._bad(rule, "structure", "bad_return", 'must return {"scores": {label: number}}', location)
            return {}
        out: dict[str, float] = {}
        for label, delta in scores.items():
            num = _number(delta)
            if not isinstance(label, str) or not label or num is None:
                self._bad(rule, "structure", "bad_return",
                          "returned a non-numeric, non-finite or unlabelled score", location)
                return {}
            out[label] = self._clamp(rule, "structure", num, location)
        return out

    def _clamp(self, rule: Rule, stage: str, num: float, location: Mapping[str, Any] | None) -> float:
        if num > 1.0 or num < -1.0:
            self.errors.record(rule.id, stage, "score_out_of_range",
                               "returned a score outside [-1, 1]; it was clamped", location)
            return max(-1.0, min(1.0, num))
        return num

    # -- Pass 2
    def column_score(self, rule: Rule, field_id: str, *, sheet_name: str, table_id: str, column_id: str,
                     column_index: int, header: str | None, values_sample: list,
                     location: Mapping[str, Any]) -> float:
        """The clamped delta a column detector gives its own field (0.0 when neutralized)."""
        kwargs = self._base()
        kwargs.update(sheet_name=sheet_name, table_id=table_id, column_id=column_id, column_index=column_index,
                      header=header, values_sample=values_sample, field_name=field_id,
                      field_meta=self._field_meta[field_id], secrets=self._field_secrets[field_id])
        ok, result = self._call(rule, "mapping", location, kwargs)
        if not ok:
            return 0.0
        scores = result.get("scores") if isinstance(result, Mapping) else None
        if not isinstance(scores, Mapping):
            self._bad(rule, "mapping", "bad_return", 'must return {"scores": {field_name: number}}', location)
            return 0.0
        if any(k != field_id for k in scores):
            self.errors.record(rule.id, "mapping", "foreign_score_key",
                               "returned scores for other fields; only its own field key is used", location)
        if field_id not in scores:
            return 0.0
        num = _number(scores[field_id])
        if num is None:
            self._bad(rule, "mapping", "bad_return", "returned a non-numeric or non-finite score", location)
            return 0.0
        return self._clamp(rule, "mapping", num, location)

    def _column_kwargs(self, field_id: str, *, sheet_name: str, table_id: str, column_id: str, column_index: int,
                       header: str | None, values: list, row_offset: int) -> dict[str, Any]:
        kwargs = self._base()
        kwargs.update(sheet_name=sheet_name, table_id=table_id, column_id=column_id, column_index=column_index,
                      header=header, values=values, row_offset=row_offset, field_name=field_id,
                      field_meta=self._field_meta[field_id], secrets=self._field_secrets[field_id])
        return kwargs

    # -- Pass 3
    def transform(self, rule: Rule, field_id: str, *, location: Mapping[str, Any],
                  **ctx: Any) -> tuple[list, list[str]] | None:
        """`(values, warnings)`, or None when the call is neutralized (pass-through)."""
        values = ctx["values"]
        ok, result = self._call(rule, "transform", location, self._column_kwargs(field_id, **ctx))
        if not ok:
            return None
        out = result.get("values") if isinstance(result, Mapping) else None
        warnings = result.get("warnings", []) if isinstance(result, Mapping) else None
        if not isinstance(out, list) or not isinstance(warnings, (list, tuple)) and warnings is not None:
            self._bad(rule, "transform", "bad_return", 'must return {"values": list, "warnings": list}', location)
            return None
        if len(out) != len(values):
            self._bad(rule, "transform", "wrong_length",
                      f"returned {len(out)} values for {len(values)} inputs; the chunk passed through unchanged",
                      location)
            return None
        fixed = list(out)
        for i, v in enumerate(fixed):
            if v is not None and not isinstance(v, ALLOWED_VALUE_TYPES):
                self.errors.record(rule.id, "transform", "bad_value_type",
                                   f"returned a value of type {type(v).__name__}; it was written as text",
                                   dict(location, row_index=ctx["row_offset"] + i + 1))
                fixed[i] = str(v)
        return fixed, [str(w) for w in (warnings or [])]

    # -- Pass 4
    def validate(self, rule: Rule, field_id: str, *, location: Mapping[str, Any],
                 **ctx: Any) -> list[dict[str, Any]] | None:
        """Raw issue dicts with an in-range `row_index`; None when the call is neutralized."""
        n = len(ctx["values"])
        ok, result = self._call(rule, "validate", location, self._column_kwargs(field_id, **ctx))
        if not ok:
            return None
        issues = result.get("issues") if isinstance(result, Mapping) else None
        if not isinstance(issues, (list, tuple)):
            self._bad(rule, "validate", "bad_return", 'must return {"issues": [...]}', location)
            return None
        for issue in issues:
            row = issue.get("row_index") if isinstance(issue, Mapping) else None
            code = issue.get("code") if isinstance(issue, Mapping) else None
            if (not isinstance(row, int) or isinstance(row, bool) or not 1 <= row <= n
                    or not isinstance(code, str) or not code.strip()):
                self._bad(rule, "validate", "bad_return",
                          f"returned an issue without a row_index in 1..{n} or without a code; "
                          "no issues were kept for this call", location)
                return None
        return [dict(i) for i in issues]

    # -- hooks
    def hook(self, ref: HookRef, **extra: Any) -> tuple[bool, Any]:
        """(ok, return value) of one hook call; a non-dict, non-None return is `bad_return`."""
        kwargs = self._base()
        kwargs.update(stage=ref.stage, secrets=self.secrets_for(ref.secrets), **extra)
        ok, result = self._call(ref.rule, ref.stage, {}, kwargs)
        if ok and result is not None and not isinstance(result, Mapping):
            self._bad(ref.rule, ref.stage, "bad_return", "must return a dict or None", {})
            return False, None
        return ok, result
