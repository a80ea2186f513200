"""Static package validation (config-packages.md §6.1, secrets.md §7): no package code is executed.

`validate_static(pkg_dir)` never raises for a bad package; every problem is a `Diagnostic`.
Scripts are read with `ast` only.
"""

from __future__ import annotations

import ast
import json
import math
import re
import sys
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ade_engine.errors import AdeError
from ade_engine.manifest.models import (
    COLUMN_SCRIPT_PATTERN,
    HOOK_SCRIPT_PATTERN,
    HOOK_STAGES,
    TYPE_HINTS,
    Manifest,
    describe_error,
)
from ade_engine.packages import engine_requirement
from ade_engine.packages.layout import (
    ALLOWED_ROOT_ENTRIES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    PackageScan,
    scan_package,
)

Level = Literal["error", "warning"]
MANIFEST = "manifest.json"
REQUIREMENTS = "requirements.txt"

# Modules a script may never import; the network ones are only warnings when the package asks for network.
FORBIDDEN_IMPORTS = ("ctypes", "_ctypes", "subprocess", "_posixsubprocess", "multiprocessing", "_multiprocessing")
NETWORK_IMPORTS = ("socket", "_socket", "http.client", "urllib.request")
PACKAGE_LOCAL = ("columns", "row_types", "hooks")
# Distributions the engine runtime ships, and the top-level modules they provide to scripts.
ENGINE_RUNTIME_DISTS = {
    "openpyxl": ("openpyxl",),
    "xlsxwriter": ("xlsxwriter",),
    "python-calamine-plus": ("python_calamine",),
    "pydantic": ("pydantic",),
    "pydantic-core": ("pydantic_core",),
    "defusedxml": ("defusedxml",),
    "et-xmlfile": ("et_xmlfile",),
}

# Keyword arguments the engine passes to each kind of public function (config-packages.md §3).
_COMMON = {"job_id", "source_file", "manifest", "env", "artifact"}
_COLUMN = _COMMON | {"sheet_name", "table_id", "column_id", "column_index", "header", "field_name",
                     "field_meta", "secrets"}
KWARGS = {
    "row_detector": _COMMON | {"sheet_name", "sheet_index", "row_index", "row_values_sample", "table_hint"},
    "column_detector": _COLUMN | {"values_sample"},
    "transform": _COLUMN | {"values", "row_offset"},
    "validate": _COLUMN | {"values", "row_offset"},
    "hook": _COMMON | {"stage", "secrets", "output_path", "status", "error"},
}
SECRET_LOOKING_ENV = ("KEY", "TOKEN", "SECRET", "PASSWORD")
TOKEN_PREFIXES = ("ghp_", "gho_", "ghs_", "ghu_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-",
                  "sk_live_", "rk_live_", "sk-ant-", "AKIA", "ASIA", "AIza", "SG.", "hf_")
# CPython 3.11's AST constructor keeps its recursion depth in shared state: two threads parsing at once
# (the workstation validates packages on worker threads) can fail with "SystemError: AST constructor
# recursion depth mismatch". Parsing is quick; doing it one thread at a time costs nothing noticeable.
_AST_LOCK = threading.Lock()
_CREDENTIAL_NAME = re.compile(r"key|token|secret|passw", re.IGNORECASE)
_REQ_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[A-Za-z0-9._,\s-]*\])?\s*(.*)$")
_REQ_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)\s*$")


@dataclass(frozen=True)
class Diagnostic:
    """One validation finding: where (`path`, `line`), how bad (`level`), what (`code`, `message`), fix (`hint`)."""

    path: str
    level: Level
    code: str
    message: str
    hint: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.level == "error"


def _err(path: str, code: str, message: str, hint: str | None = None, line: int | None = None) -> Diagnostic:
    return Diagnostic(path, "error", code, message, hint, line)


def _warn(path: str, code: str, message: str, hint: str | None = None, line: int | None = None) -> Diagnostic:
    return Diagnostic(path, "warning", code, message, hint, line)


# ============================================================================ entry point
def validate_static(pkg_dir: str | Path, *, vendor_dir: str | Path | None = None) -> list[Diagnostic]:
    """All static diagnostics of the package at `pkg_dir` (errors first within each file, stable order).

    `vendor_dir` is the prepared `--target` folder of the package's requirements, if any; without it
    third-party imports listed in requirements.txt are only warnings.
    """
    root = Path(pkg_dir)
    try:
        return _Checker(root, Path(vendor_dir) if vendor_dir else None).run()
    except AdeError as exc:  # e.g. the folder vanished mid-scan
        return [_err(".", exc.code, exc.message)]
    except OSError as exc:
        return [_err(".", "package.unreadable", f"cannot read the package: {exc}",
                     "check the folder exists and is readable")]


# Lines with a credential-like literal, per source text. Live validation re-checks the whole package on every
# save, and only the saved file changed: the other files' answers (the slowest per-file check, a walk of
# every AST node) come from here. Bounded; the answer depends on the text alone.
_CREDENTIAL_LINES: dict[str, tuple[int, ...]] = {}
_CREDENTIAL_CACHE_MAX = 512


def _credential_lines(source: str, tree: ast.Module) -> tuple[int, ...]:
    found = _CREDENTIAL_LINES.get(source)
    if found is None:
        lines: list[int] = []
        for node in ast.walk(tree):
            line = getattr(node, "lineno", None)
            if line in lines:
                continue
            if _credential_literal(node):
                lines.append(line)  # type: ignore[arg-type]
        found = tuple(lines)
        if len(_CREDENTIAL_LINES) >= _CREDENTIAL_CACHE_MAX:
            _CREDENTIAL_LINES.clear()
        _CREDENTIAL_LINES[source] = found
    return found


class _Checker:
    def __init__(self, root: Path, vendor_dir: Path | None):
        self.root = root
        self.vendor_dir = vendor_dir
        self.out: list[Diagnostic] = []
        self.raw: dict[str, Any] | None = None  # manifest JSON, if it decoded to an object
        self.manifest_text = ""
        self.model: Manifest | None = None
        self.trees: dict[str, ast.Module] = {}  # rel path -> parsed module
        self.sources: dict[str, str] = {}  # rel path -> source text of the parsed modules
        self.requirement_modules: set[str] = set()
        self.has_requirements = False

    # ------------------------------------------------------------------ orchestration
    def run(self) -> list[Diagnostic]:
        if not self.root.is_dir():
            return [_err(".", "package.missing", f"{self.root} is not a folder",
                         "point at the package folder that holds manifest.json")]
        scan = scan_package(self.root)
        self.check_layout(scan)
        self.check_manifest()
        self.check_requirements()
        self.parse_scripts(scan)
        self.check_referenced_scripts()
        self.check_row_types(scan)
        self.check_imports()
        self.check_hardcoded_secrets()
        self.check_secret_usage()
        return self.out

    @property
    def network(self) -> bool:
        if self.model is not None:
            return self.model.engine.defaults.runtime_network_access
        try:
            return self.raw["engine"]["defaults"]["runtime_network_access"] is True  # type: ignore[index]
        except (TypeError, KeyError):
            return False

    # ------------------------------------------------------------------ layout
    def check_layout(self, scan: PackageScan) -> None:
        for child in sorted(self.root.iterdir(), key=lambda p: p.name):
            if child.name == "__pycache__" or child.name.endswith(".pyc"):
                continue
            if child.name not in ALLOWED_ROOT_ENTRIES:
                self.out.append(_err(
                    child.name, "package.unexpected_entry",
                    f"'{child.name}' is not allowed at the package root",
                    "keep only " + ", ".join(ALLOWED_ROOT_ENTRIES) + " at the root; move helpers into "
                    "columns/_<name>.py or row_types/_<name>.py",
                ))
        for name in ("columns", "row_types"):
            if not (self.root / name).is_dir():
                self.out.append(_err(f"{name}/", "package.missing_dir", f"the required folder {name}/ is missing",
                                     f"create {name}/ at the package root"))
        for rel in scan.symlinks:
            self.out.append(_err(rel, "package.symlink", f"{rel} is a symbolic link; links are not allowed",
                                 "replace the link with a copy of the file"))
        for rel in scan.special:
            self.out.append(_err(rel, "package.special_file", f"{rel} is not a regular file",
                                 "remove it from the package"))
        if len(scan.files) > MAX_FILES:
            self.out.append(_err(".", "package.too_many_files",
                                 f"package has {len(scan.files)} files (limit {MAX_FILES})",
                                 "remove data files and unused modules; packages carry code, not data"))
        if scan.total_bytes > MAX_TOTAL_BYTES:
            self.out.append(_err(".", "package.too_large",
                                 f"package is {scan.total_bytes / 1048576:.1f} MiB (limit 10 MiB)",
                                 "remove large files; packages carry code, not data"))

    # ------------------------------------------------------------------ manifest
    def check_manifest(self) -> None:
        path = self.root / MANIFEST
        if not path.is_file():
            self.out.append(_err(MANIFEST, "manifest.missing", "manifest.json not found at the package root",
                                 "create manifest.json (see `ade config init` for a template)"))
            return
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.out.append(_err(MANIFEST, "manifest.invalid_json",
                                 f"manifest.json line {line}: not valid UTF-8 (byte {exc.start})",
                                 "save manifest.json as UTF-8", line))
            return
        self.manifest_text = text
        duplicates: list[str] = []

        def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            counts = Counter(k for k, _ in pairs)
            duplicates.extend(k for k, n in counts.items() if n > 1)
            return dict(pairs)

        try:
            data = json.loads(text, object_pairs_hook=pairs_hook)
        except json.JSONDecodeError as exc:
            self.out.append(_err(MANIFEST, "manifest.invalid_json", f"manifest.json line {exc.lineno}: {exc.msg}",
                                 "fix the JSON syntax (a trailing comma or missing quote is typical)", exc.lineno))
            return
        for key in duplicates:
            self.out.append(_err(MANIFEST, "manifest.schema", f"key {key!r} appears more than once in one object",
                                 "keep one entry; JSON keeps only the last", self._line_of_key(key)))
        if not isinstance(data, dict):
            self.out.append(_err(MANIFEST, "manifest.schema", "manifest.json must hold a JSON object", None, 1))
            return
        self.raw = data
        try:
            self.model = Manifest.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                self.out.append(self._manifest_error(err))
        self.check_engine_requirement()
        self.check_manifest_warnings()

    def check_engine_requirement(self) -> None:
        """`info.requires_engine` must be met by this engine: publish, activation and jobs refuse otherwise."""
        if self.model is None:
            return  # a malformed specifier is already a manifest.schema error
        spec = self.model.info.requires_engine
        why = engine_requirement.problem(spec)
        if why:
            self.out.append(_err(MANIFEST, "manifest.requires_engine", why, engine_requirement.HINT,
                                 self._line_of(("info", "requires_engine"))))

    def _manifest_error(self, err: dict[str, Any]) -> Diagnostic:
        kind = str(err.get("type", ""))
        loc = tuple(err.get("loc", ()))
        where, message = describe_error(err)
        code = kind if kind.startswith(("secrets.", "script_api.", "columns.", "manifest.")) else "manifest.schema"
        if kind in ("secrets.undeclared", "columns.meta_mismatch"):
            text = message
        else:
            text = f"{where}: {message}" if where else message
        hints = {
            "script_api.unsupported": "set config_script_api_version to \"1\" and info.schema to "
                                      "\"ade.manifest/v1.0\"; older formats must be migrated",
            "columns.meta_mismatch": "make columns.meta have exactly one entry per id in columns.order",
            "manifest.pattern": "fix the value (regexes use Python syntax; sheet names are at most 31 "
                                "characters without [ ] : * ? / \\)",
            "secrets.value_in_manifest": "list only names in \"secrets\", then store each value with "
                                         "`ade secret set <NAME>`",
            "secrets.name": "use upper-case letters, digits and underscores, starting with a letter",
            "secrets.undeclared": "add the name to the top-level \"secrets\" list",
        }
        hint = hints.get(code)
        if hint is None:
            if kind == "extra_forbidden":
                hint = "remove the key or fix its spelling; unknown keys are not allowed"
            elif kind == "missing":
                hint = "add the key"
            else:
                hint = "see config-packages.md §2 for allowed values"
        if code == "secrets.value_in_manifest":
            hint = hints[code]
        if not loc and ": " in message:  # model-level rule: the message starts with the dotted place
            loc = tuple(p for p in re.split(r"[.\[\]]", message.split(": ", 1)[0]) if p and not p.isdigit())
        return _err(MANIFEST, code, text, hint, self._line_of(loc))

    def check_manifest_warnings(self) -> None:
        raw = self.raw or {}
        env = raw.get("env")
        if isinstance(env, dict):
            for key in env:
                if any(word in str(key).upper() for word in SECRET_LOOKING_ENV):
                    self.out.append(_warn(MANIFEST, "env.looks_secret",
                                          f"env.{key} looks like a secret; move it to secrets",
                                          f"env is visible in job records; declare {key} in \"secrets\" and set "
                                          "its value with `ade secret set`", self._line_of(("env", key))))
        columns = raw.get("columns")
        meta = columns.get("meta") if isinstance(columns, dict) else None
        if isinstance(meta, dict):
            for field_id, fmeta in meta.items():
                hint_value = fmeta.get("type_hint") if isinstance(fmeta, dict) else None
                if isinstance(hint_value, str) and hint_value not in TYPE_HINTS:
                    self.out.append(_warn(MANIFEST, "manifest.type_hint",
                                          f"columns.meta.{field_id}.type_hint {hint_value!r} is not a known type",
                                          "use one of " + ", ".join(TYPE_HINTS),
                                          self._line_of(("columns", "meta", field_id, "type_hint"))))

    def _line_of_key(self, key: str) -> int | None:
        idx = self.manifest_text.find(json.dumps(key))
        return self.manifest_text.count("\n", 0, idx) + 1 if idx >= 0 else None

    def _line_of(self, loc: tuple[Any, ...]) -> int | None:
        """Best-effort line of a location: follow each key's first occurrence after its parent's."""
        text = self.manifest_text
        pos, found = 0, None
        for part in loc:
            if not isinstance(part, str) or part == "[key]":
                continue
            m = re.compile(re.escape(json.dumps(part)) + r"\s*:").search(text, pos)
            if not m:
                break
            pos, found = m.start(), m.start()
        return text.count("\n", 0, found) + 1 if found is not None else None

    # ------------------------------------------------------------------ requirements.txt
    def check_requirements(self) -> None:
        path = self.root / REQUIREMENTS
        if not path.is_file():
            return
        self.has_requirements = True
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            self.out.append(_err(REQUIREMENTS, "requirements.invalid", "requirements.txt is not UTF-8",
                                 "save requirements.txt as UTF-8"))
            return
        engine = _engine_versions()
        seen: dict[str, int] = {}
        for lineno, raw_line in enumerate(text.splitlines(), 1):
            line = re.split(r"(?:^|\s)#", raw_line, maxsplit=1)[0].strip()
            if not line:
                continue
            if line.endswith("\\"):
                self.out.append(_err(REQUIREMENTS, "requirements.invalid",
                                     f"requirements.txt line {lineno}: line continuations are not supported",
                                     "write each requirement on one line", lineno))
                continue
            if line.startswith("-"):
                option = line.split("=", 1)[0].split()[0]
                self.out.append(_err(REQUIREMENTS, "requirements.option",
                                     f"requirements.txt line {lineno}: {option!r} is not allowed",
                                     "list plain pinned requirements only (name==version); indexes and "
                                     "editable installs are set by the operator", lineno))
                continue
            if "://" in line or line.startswith((".", "/", "~")) or " @ " in line or line.endswith((".whl", ".zip",
                                                                                                    ".tar.gz")):
                self.out.append(_err(REQUIREMENTS, "requirements.option",
                                     f"requirements.txt line {lineno}: URLs and file paths are not allowed",
                                     "publish the dependency to the package index and pin it as name==version",
                                     lineno))
                continue
            body, _sep, _marker = line.partition(";")
            body = re.sub(r"\s--hash[= ]\S+", "", " " + body).strip()
            m = _REQ_NAME.match(body)
            clauses = [c for c in (m.group(3).split(",") if m else []) if c.strip()]
            if not m or any(not _REQ_CLAUSE.match(c) for c in clauses):
                self.out.append(_err(REQUIREMENTS, "requirements.invalid",
                                     f"requirements.txt line {lineno}: cannot parse {line!r}",
                                     "write requirements as name==version", lineno))
                continue
            name = _canonical(m.group(1))
            if name in seen:
                self.out.append(_err(REQUIREMENTS, "requirements.duplicate",
                                     f"requirements.txt line {lineno}: {m.group(1)!r} is already listed on line "
                                     f"{seen[name]}", "keep one line per package", lineno))
                continue
            seen[name] = lineno
            self.requirement_modules.add(name.replace("-", "_"))
            parsed = [_REQ_CLAUSE.match(c).groups() for c in clauses]  # type: ignore[union-attr]
            pinned = len(parsed) == 1 and parsed[0][0] in ("==", "===") and "*" not in parsed[0][1]
            if not pinned:
                self.out.append(_warn(REQUIREMENTS, "requirements.unpinned", f"{m.group(1)!r} is not pinned",
                                      f"pin an exact version, e.g. {m.group(1)}==<version>, so every install "
                                      "is the same", lineno))
            if name in engine:
                ours = engine[name]
                if not _satisfies(ours, parsed):
                    wanted = "".join(f"{op}{ver}" for op, ver in parsed) or "(any)"
                    self.out.append(_err(REQUIREMENTS, "requirements.conflict",
                                         f"requirements.txt line {lineno}: {m.group(1)}{wanted} conflicts with "
                                         f"the engine's {name} {ours}",
                                         f"remove the line (the engine provides {name} {ours}) or pin "
                                         f"{name}=={ours}", lineno))

    # ------------------------------------------------------------------ scripts
    def parse_scripts(self, scan: PackageScan) -> None:
        for f in scan.files:
            if not f.rel_path.endswith(".py"):
                continue
            raw = f.path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                self.out.append(_err(f.rel_path, "invalid_encoding", f"{f.rel_path} line {line}: not valid UTF-8",
                                     "save the file as UTF-8", line))
                continue
            try:
                with _AST_LOCK:
                    self.trees[f.rel_path] = ast.parse(text, filename=f.rel_path)
                self.sources[f.rel_path] = text
            except SyntaxError as exc:
                line = exc.lineno or 1
                self.out.append(_err(f.rel_path, "invalid_syntax", f"{f.rel_path} line {line}: {exc.msg}",
                                     "fix the Python syntax error", line))
            except ValueError as exc:  # e.g. null bytes
                self.out.append(_err(f.rel_path, "invalid_syntax", f"{f.rel_path}: {exc}",
                                     "fix the Python source", None))

    def _column_refs(self) -> dict[str, list[str]]:
        """{script path: [field ids]} from the manifest, leniently (works on an invalid manifest)."""
        refs: dict[str, list[str]] = {}
        columns = (self.raw or {}).get("columns")
        meta = columns.get("meta") if isinstance(columns, dict) else None
        if isinstance(meta, dict):
            for field_id, fmeta in meta.items():
                script = fmeta.get("script") if isinstance(fmeta, dict) else None
                if isinstance(script, str) and re.fullmatch(COLUMN_SCRIPT_PATTERN, script):
                    refs.setdefault(script, []).append(str(field_id))
        return refs

    def _hook_refs(self) -> dict[str, list[str]]:
        """{script path: [stage, ...]} from the manifest, leniently."""
        refs: dict[str, list[str]] = {}
        hooks = (self.raw or {}).get("hooks")
        if isinstance(hooks, dict):
            for stage in HOOK_STAGES:
                entries = hooks.get(stage)
                for entry in entries if isinstance(entries, list) else []:
                    script = entry.get("script") if isinstance(entry, dict) else None
                    if isinstance(script, str) and re.fullmatch(HOOK_SCRIPT_PATTERN, script):
                        refs.setdefault(script, []).append(stage)
        return refs

    def _script_exists(self, rel: str) -> bool:
        path = self.root / rel
        return ".." not in rel.split("/") and path.is_file() and not path.is_symlink()

    def check_referenced_scripts(self) -> None:
        for script, fields in self._column_refs().items():
            if not self._script_exists(script):
                self.out.append(_err(MANIFEST, "missing_script", f"Column script '{script}' not found in package",
                                     f"create {script} (used by field {', '.join(fields)}) or fix the path",
                                     self._line_of(("columns", "meta", fields[0], "script"))))
                continue
            tree = self.trees.get(script)
            if tree is None:
                continue
            funcs = _public_functions(tree)
            detectors = [fn for fn in funcs if fn.name.startswith("detect_")]
            if not detectors:
                self.out.append(_err(script, "missing_detector",
                                     f"{script} must define at least one detect_* function",
                                     "add e.g. def detect_header(*, header, field_name, **_): "
                                     "return {\"scores\": {field_name: 0.5}}", 1))
            for fn in funcs:
                if fn.name.startswith("detect_"):
                    self.check_signature(script, fn, "column_detector")
                elif fn.name in ("transform", "validate"):
                    self.check_signature(script, fn, fn.name)
        for script, stages in self._hook_refs().items():
            if not self._script_exists(script):
                self.out.append(_err(MANIFEST, "missing_script", f"Hook script '{script}' not found in package",
                                     f"create {script} (listed under hooks.{stages[0]}) or fix the path",
                                     self._line_of(("hooks", stages[0]))))
                continue
            tree = self.trees.get(script)
            if tree is None:
                continue
            run = next((fn for fn in _public_functions(tree) if fn.name == "run"), None)
            if run is not None:
                self.check_signature(script, run, "hook")
            elif not _binds_name(tree, "run"):
                self.out.append(_err(script, "missing_hook_run", f"{script} must define run()",
                                     "add def run(*, stage, artifact, **_): ...", 1))

    def check_row_types(self, scan: PackageScan) -> None:
        modules = [f.rel_path for f in scan.files
                   if re.fullmatch(r"row_types/[^/_][^/]*\.py", f.rel_path)]
        total = 0
        for rel in modules:
            tree = self.trees.get(rel)
            if tree is None:
                total += 1  # already reported (syntax); do not pile on row_types.missing
                continue
            detectors = [fn for fn in _public_functions(tree) if fn.name.startswith("detect_")]
            total += len(detectors)
            for fn in detectors:
                self.check_signature(rel, fn, "row_detector")
            if not detectors:
                self.out.append(_warn(rel, "row_types.no_detector", f"{rel} defines no detect_* function",
                                      "add a detect_* function or rename the file to _<name>.py if it is a helper",
                                      1))
        if total == 0 and (self.root / "row_types").is_dir():
            self.out.append(_err("row_types/", "row_types.missing", "row_types/ contains no detect_* functions",
                                 "add row_types/header.py and row_types/data.py with detect_* functions "
                                 "returning {\"scores\": {label: delta}}"))

    def check_signature(self, rel: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, kind: str) -> None:
        where = f"{rel}:{fn.name}"
        if isinstance(fn, ast.AsyncFunctionDef):
            self.out.append(_err(rel, "signature.async", f"{where} must be a plain function, not async",
                                 "remove 'async'; the engine calls scripts synchronously", fn.lineno))
        args = fn.args
        if args.posonlyargs or args.args or args.vararg:
            self.out.append(_err(rel, "signature.positional",
                                 f"{where} must take keyword-only arguments (add '*,' first)",
                                 f"write def {fn.name}(*, ..., **_)", fn.lineno))
        if args.kwarg is None:
            self.out.append(_err(rel, "signature.catch_all",
                                 f"{where} must end with a '**' catch-all (e.g. '**_')",
                                 "add '**_' as the last parameter so new engine arguments do not break it",
                                 fn.lineno))
        known = KWARGS[kind]
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            if default is None and arg.arg not in known:
                self.out.append(_err(rel, "signature.unknown_argument",
                                     f"{where} requires argument '{arg.arg}', which the engine never passes",
                                     "remove it, give it a default, or use one of: " + ", ".join(sorted(known)),
                                     arg.lineno))

    # ------------------------------------------------------------------ imports
    def check_imports(self) -> None:
        for rel, tree in self.trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        self.check_import(rel, alias.name, node.lineno)
                elif isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: resolved at run time inside the package
                        continue
                    module = node.module or ""
                    self.check_import(rel, module, node.lineno, [a.name for a in node.names])

    def check_import(self, rel: str, module: str, line: int, names: list[str] | None = None) -> None:
        candidates = [module] + [f"{module}.{n}" for n in names or [] if n != "*"]
        for dotted in candidates:
            for bad in FORBIDDEN_IMPORTS:
                if dotted == bad or dotted.startswith(bad + "."):
                    self.out.append(_err(rel, "import.forbidden", f"{rel}: import of '{bad}' is not allowed",
                                         "scripts must not start processes or load native code; compute the "
                                         "value in pure Python", line))
                    return
            for bad in NETWORK_IMPORTS:
                if dotted == bad or dotted.startswith(bad + "."):
                    if self.network:
                        self.out.append(_warn(rel, "import.forbidden",
                                              f"{rel}: import of '{bad}' gives raw network access",
                                              "prefer a vetted client library; network is subject to operator "
                                              "policy", line))
                    else:
                        self.out.append(_err(rel, "import.forbidden", f"{rel}: import of '{bad}' is not allowed",
                                             "network modules need engine.defaults.runtime_network_access: true "
                                             "(and only hooks should use the network)", line))
                    return
        if module == "ade_engine.detect" or module.startswith("ade_engine.detect."):
            return  # the structure-detection library ships in the job runtime (docs/writing-detectors.md)
        top = module.split(".")[0]
        if top in sys.stdlib_module_names:
            return
        if top in PACKAGE_LOCAL:
            self.check_local_import(rel, module, line, names)
            return
        if any(top in mods for mods in ENGINE_RUNTIME_DISTS.values()):
            return
        if self.vendor_dir is not None:
            if _vendor_has(self.vendor_dir, top):
                return
            self.out.append(_err(rel, "import.unresolved",
                                 f"{rel} imports '{top}', which is neither stdlib nor installed from "
                                 "requirements.txt", f"add the distribution that provides '{top}' to "
                                 "requirements.txt and prepare the package again", line))
            return
        if self.has_requirements:
            self.out.append(_warn(rel, "import.unresolved",
                                  f"{rel} imports '{top}', which is not stdlib; it can only be checked once the "
                                  "requirements are prepared",
                                  f"make sure requirements.txt lists the distribution that provides '{top}'",
                                  line))
            return
        self.out.append(_err(rel, "import.unresolved",
                             f"{rel} imports '{top}', which is neither stdlib nor in requirements.txt",
                             f"add the distribution that provides '{top}' to requirements.txt (pinned), or "
                             "remove the import", line))

    def check_local_import(self, rel: str, module: str, line: int, names: list[str] | None) -> None:
        parts = module.split(".")
        base = self.root.joinpath(*parts)
        if base.is_dir():
            # `from columns import _common` or a namespace package: each name is a module or attribute.
            for name in names or []:
                if name != "*" and not ((base / f"{name}.py").is_file() or (base / name).is_dir()
                                        or (base / "__init__.py").is_file()):
                    self.out.append(_err(rel, "import.unresolved",
                                         f"{rel} imports '{module}.{name}', which is not in the package",
                                         f"create {'/'.join(parts)}/{name}.py or fix the import", line))
            return
        if base.with_suffix(".py").is_file():
            return
        self.out.append(_err(rel, "import.unresolved", f"{rel} imports '{module}', which is not in the package",
                             f"create {'/'.join(parts)}.py or fix the import", line))

    # ------------------------------------------------------------------ secrets
    def check_hardcoded_secrets(self) -> None:
        for rel, tree in self.trees.items():
            for line in _credential_lines(self.sources[rel], tree):
                self.out.append(_warn(rel, "script.hardcoded_secret",
                                      f"{rel} line {line}: string literal looks like a credential",
                                      "declare the name in manifest \"secrets\", request it for this script, "
                                      "store the value with `ade secret set` and read it from the secrets "
                                      "argument", line))

    def check_secret_usage(self) -> None:
        if self.model is None:
            return
        requested = self.model.requested_secrets()
        for name in self.model.secrets:
            if name not in requested:
                self.out.append(_warn(MANIFEST, "secrets.unused",
                                      f"secrets.{name} is declared but no enabled script requests it",
                                      "remove it from \"secrets\" or add it to the \"secrets\" list of the hook "
                                      "or field that needs it", self._line_of(("secrets",))))
        if requested and not self.model.engine.defaults.runtime_network_access:
            self.out.append(_warn(MANIFEST, "secrets.network_off",
                                  "scripts request secrets but runtime_network_access is false",
                                  "set engine.defaults.runtime_network_access to true if the secret is used to "
                                  "call a service", self._line_of(("secrets",))))


# ============================================================================ helpers
def _public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and not n.name.startswith("_")]


def _binds_name(tree: ast.Module, name: str) -> bool:
    """True if module-level code binds `name` other than by def (assignment or import)."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _engine_versions() -> dict[str, str]:
    versions = {}
    for dist in ENGINE_RUNTIME_DISTS:
        try:
            versions[_canonical(dist)] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _version_key(version: str) -> tuple[Any, ...]:
    """A rough PEP 440 ordering key: release numbers, then pre-releases before finals."""
    m = re.match(r"^v?(\d+(?:\.\d+)*)(.*)$", version.strip())
    if not m:
        return ((0,), 0, version)
    release = tuple(int(p) for p in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    rest = m.group(2).lower()
    pre = 0 if rest.startswith(("a", "b", "rc", ".dev", "dev", "-rc", "-a", "-b")) else 1
    return (release, pre, rest)


def _satisfies(version: str, clauses: list[tuple[str, str]]) -> bool:
    """Does `version` satisfy every (operator, version) clause? Wildcards compare by prefix."""
    mine = _version_key(version)
    for op, want in clauses:
        if want.endswith(".*"):
            prefix = want[:-2]
            match = version == prefix or version.startswith(prefix + ".")
            if (op == "==" and not match) or (op == "!=" and match):
                return False
            continue
        other = _version_key(want)
        ok = {
            "==": mine == other, "===": version == want, "!=": mine != other,
            "<=": mine <= other, ">=": mine >= other, "<": mine < other, ">": mine > other,
            "~=": mine >= other and mine[0][: max(len(other[0]) - 1, 1)] == other[0][: max(len(other[0]) - 1, 1)],
        }[op]
        if not ok:
            return False
    return True


def _vendor_has(vendor: Path, top: str) -> bool:
    if (vendor / top).is_dir() or (vendor / f"{top}.py").is_file():
        return True
    return any(p.name.split(".")[0] == top for p in vendor.glob(f"{top}.*") if p.suffix in (".so", ".pyd"))


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_like_token(value: str) -> bool:
    if "PRIVATE KEY-----" in value:
        return True
    if any(value.startswith(p) for p in TOKEN_PREFIXES) and len(value) >= 16 and " " not in value:
        return True
    return False


def _credential_literal(node: ast.AST) -> bool:
    """A string constant that looks like a key block/known token, or a long random string named like a secret."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _looks_like_token(node.value):
        return True
    targets: list[ast.AST] = []
    value: ast.AST | None = None
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    elif isinstance(node, ast.keyword):
        return bool(node.arg and _CREDENTIAL_NAME.search(node.arg) and _random_string(node.value))
    elif isinstance(node, ast.Dict):
        return any(isinstance(k, ast.Constant) and isinstance(k.value, str) and _CREDENTIAL_NAME.search(k.value)
                   and _random_string(v) for k, v in zip(node.keys, node.values, strict=True))
    names = [t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else "" for t in targets]
    return any(_CREDENTIAL_NAME.search(n) for n in names) and _random_string(value)


def _random_string(node: ast.AST | None) -> bool:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    text = node.value
    return len(text) >= 20 and " " not in text and _entropy(text) >= 3.5
