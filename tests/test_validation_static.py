"""Static validation (config-packages.md §6.1, secrets.md §7): one broken package per check.

Each case starts from the spec's §7 example and breaks one thing; manifest edits are done in place
so the reported line numbers are the example's own lines.
"""

from __future__ import annotations

import json
import os
from importlib import metadata

import pytest
from test_validation_example import EXAMPLE_PACKAGE, write_package

from ade_engine.packages.validation import Diagnostic, validate_static

MANIFEST = EXAMPLE_PACKAGE["manifest.json"]


def edit(old: str, new: str, text: str = MANIFEST) -> str:
    assert old in text, f"test setup: {old!r} not in the example"
    return text.replace(old, new, 1)


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[d.to_dict() for d in diags]}"
    return found[0]


SKU = EXAMPLE_PACKAGE["columns/sku.py"]
PRICE = EXAMPLE_PACKAGE["columns/unit_price.py"]
DATA = EXAMPLE_PACKAGE["row_types/data.py"]

# (id, changes to the example, code, path, line, level, text the message must contain)
CASES = [
    ("missing-manifest", {"manifest.json": None}, "manifest.missing", "manifest.json", None, "error",
     "manifest.json not found"),
    ("invalid-json", {"manifest.json": edit('"env": {"CURRENCY": "CAD"},', '"env": {"CURRENCY": "CAD"}')},
     "manifest.invalid_json", "manifest.json", 10, "error", "manifest.json line 10: Expecting ',' delimiter"),
    ("not-utf8", {"manifest.json": MANIFEST.replace('"CAD"', '"C\xe9D"').encode("latin-1")},
     "manifest.invalid_json", "manifest.json", 9, "error", "not valid UTF-8"),
    ("duplicate-key", {"manifest.json": edit('"env": {"CURRENCY": "CAD"},',
                                             '"env": {"CURRENCY": "CAD", "CURRENCY": "USD"},')},
     "manifest.schema", "manifest.json", 9, "error", "'CURRENCY' appears more than once"),
    ("required-property", {"manifest.json": edit('"script": "columns/unit_price.py", ', "")},
     "manifest.schema", "manifest.json", 17, "error", "columns.meta.unit_price: 'script' is a required property"),
    ("unknown-key", {"manifest.json": edit('{"output_sheet": "Prices"}', '{"output_sheet": "Prices", "mdoe": 1}')},
     "manifest.schema", "manifest.json", 7, "error", "engine.writer: unknown key 'mdoe'"),
    ("wrong-type", {"manifest.json": edit('"timeout_ms": 60000', '"timeout_ms": "60000"')},
     "manifest.schema", "manifest.json", 5, "error", "engine.defaults.timeout_ms: Input should be a valid integer"),
    ("out-of-range", {"manifest.json": edit('"timeout_ms": 60000', '"timeout_ms": 10')},
     "manifest.schema", "manifest.json", 5, "error", "engine.defaults.timeout_ms: Input should be greater than or "
     "equal to 1000"),
    ("api-version", {"manifest.json": edit('"config_script_api_version": "1"', '"config_script_api_version": "2"')},
     "script_api.unsupported", "manifest.json", 2, "error",
     "Unsupported config_script_api_version '2' (supported: '1')"),
    ("manifest-format", {"manifest.json": edit('"ade.manifest/v1.0"', '"ade.manifest/v0.6"')},
     "script_api.unsupported", "manifest.json", 3, "error", "Unsupported info.schema 'ade.manifest/v0.6'"),
    ("meta-mismatch", {"manifest.json": edit('"order": ["sku", "unit_price"]',
                                             '"order": ["sku", "unit_price", "vendor_name"]')},
     "columns.meta_mismatch", "manifest.json", 11, "error", "columns.meta is missing entries for: vendor_name"),
    ("order-duplicate", {"manifest.json": edit('"order": ["sku", "unit_price"]', '"order": ["sku", "unit_price", "sku"]')},
     "columns.meta_mismatch", "manifest.json", 11, "error", "columns.order lists sku more than once"),
    ("bad-field-id", {"manifest.json": edit('"order": ["sku", "unit_price"]', '"order": ["sku", "Unit Price"]')},
     "manifest.schema", "manifest.json", 12, "error", "columns.order[1]: String should match pattern"),
    ("bad-hook-path", {"manifest.json": edit('"hooks/after_validate.py"', '"scripts/after_validate.py"')},
     "manifest.schema", "manifest.json", 10, "error", "hooks.after_validate[0].script: String should match pattern"),
    ("missing-script", {"columns/sku.py": None}, "missing_script", "manifest.json", 14, "error",
     "Column script 'columns/sku.py' not found in package"),
    ("missing-hook-script", {"hooks/after_validate.py": None}, "missing_script", "manifest.json", 10, "error",
     "Hook script 'hooks/after_validate.py' not found in package"),
    ("syntax", {"columns/sku.py": edit("def detect_code_shape(", "def detect_code_shape(*, values_sample", SKU)
                .replace("(*, values_sample*, values_sample", "(*, values_sample values_sample", 1)},
     "invalid_syntax", "columns/sku.py", 9, "error", "columns/sku.py line 9:"),
    ("not-utf8-script", {"columns/_common.py": b"def norm(text):\n    return '\xff'\n"},
     "invalid_encoding", "columns/_common.py", 2, "error", "not valid UTF-8"),
    ("no-detector", {"columns/unit_price.py": PRICE.replace("def detect_", "def _detect_")},
     "missing_detector", "columns/unit_price.py", 1, "error",
     "columns/unit_price.py must define at least one detect_* function"),
    ("no-row-detectors", {"row_types/header.py": None, "row_types/data.py": None},
     "row_types.missing", "row_types/", None, "error", "row_types/ contains no detect_* functions"),
    ("no-hook-run", {"hooks/after_validate.py": "def main(**_):\n    return None\n"},
     "missing_hook_run", "hooks/after_validate.py", 1, "error", "hooks/after_validate.py must define run()"),
    ("positional", {"columns/sku.py": edit("def transform(*, values, **_):", "def transform(values, **_):", SKU)},
     "signature.positional", "columns/sku.py", 17, "error",
     "columns/sku.py:transform must take keyword-only arguments (add '*,' first)"),
    ("no-catch-all", {"row_types/data.py": edit("def detect_width(*, row_values_sample, **_):",
                                                "def detect_width(*, row_values_sample):", DATA)},
     "signature.catch_all", "row_types/data.py", 8, "error", "row_types/data.py:detect_width must end with"),
    ("unknown-argument", {"columns/sku.py": edit("def transform(*, values, **_):",
                                                 "def transform(*, values, locale, **_):", SKU)},
     "signature.unknown_argument", "columns/sku.py", 17, "error", "requires argument 'locale'"),
    ("async", {"hooks/after_validate.py": "async def run(*, artifact, **_):\n    return None\n"},
     "signature.async", "hooks/after_validate.py", 1, "error", "not async"),
    ("import-unresolved", {"columns/unit_price.py": "import pandas\n" + PRICE},
     "import.unresolved", "columns/unit_price.py", 1, "error",
     "columns/unit_price.py imports 'pandas', which is neither stdlib nor in requirements.txt"),
    ("import-unprepared", {"columns/unit_price.py": "import pandas\n" + PRICE, "requirements.txt": "pandas==2.2.2\n"},
     "import.unresolved", "columns/unit_price.py", 1, "warning", "once the requirements are prepared"),
    ("import-local-missing", {"columns/sku.py": edit("from columns._common import", "from columns._shared import",
                                                     SKU)},
     "import.unresolved", "columns/sku.py", 2, "error", "imports 'columns._shared', which is not in the package"),
    ("import-forbidden", {"row_types/data.py": "import subprocess\n" + DATA},
     "import.forbidden", "row_types/data.py", 1, "error", "row_types/data.py: import of 'subprocess' is not allowed"),
    ("import-forbidden-from", {"columns/sku.py": SKU + "\nfrom http import client\n"},
     "import.forbidden", "columns/sku.py", 38, "error", "import of 'http.client' is not allowed"),
    ("import-network-allowed", {"hooks/after_validate.py": "import urllib.request\n" +
                                EXAMPLE_PACKAGE["hooks/after_validate.py"],
                                "manifest.json": edit('"mapping_score_threshold": 0.5',
                                                      '"mapping_score_threshold": 0.5, "runtime_network_access": true')},
     "import.forbidden", "hooks/after_validate.py", 1, "warning", "urllib.request"),
    ("requirements-option", {"requirements.txt": "# deps\npython-dateutil==2.9.0\n--index-url https://x.test/simple\n"},
     "requirements.option", "requirements.txt", 3, "error", "requirements.txt line 3: '--index-url' is not allowed"),
    ("requirements-url", {"requirements.txt": "thing @ https://x.test/thing.whl\n"},
     "requirements.option", "requirements.txt", 1, "error", "URLs and file paths are not allowed"),
    ("requirements-editable", {"requirements.txt": "-e ./lib\n"},
     "requirements.option", "requirements.txt", 1, "error", "'-e' is not allowed"),
    ("requirements-garbage", {"requirements.txt": "python-dateutil==2.9.0\nthis is not a requirement\n"},
     "requirements.invalid", "requirements.txt", 2, "error", "cannot parse"),
    ("requirements-unpinned", {"requirements.txt": "python-dateutil>=2.8\n"},
     "requirements.unpinned", "requirements.txt", 1, "warning", "'python-dateutil' is not pinned"),
    ("requirements-conflict", {"requirements.txt": "python-dateutil==2.9.0\nopenpyxl==3.0.10\n"},
     "requirements.conflict", "requirements.txt", 2, "error",
     f"requirements.txt line 2: openpyxl==3.0.10 conflicts with the engine's openpyxl {metadata.version('openpyxl')}"),
    ("pattern", {"manifest.json": edit('"pattern": "^[A-Z0-9-]{4,20}$"', '"pattern": "^[A-Z0-9-{4,20}$"')},
     "manifest.pattern", "manifest.json", 16, "error", "columns.meta.sku.pattern: unterminated character set"),
    ("output-sheet", {"manifest.json": edit('"output_sheet": "Prices"', '"output_sheet": "Prices/2024"')},
     "manifest.pattern", "manifest.json", 7, "error", "engine.writer.output_sheet: 'Prices/2024' is not a legal"),
    ("output-sheet-length", {"manifest.json": edit('"output_sheet": "Prices"', '"output_sheet": "' + "P" * 32 + '"')},
     "manifest.schema", "manifest.json", 7, "error", "at most 31 characters"),
    ("secret-values", {"manifest.json": edit('"env": {"CURRENCY": "CAD"},',
                                             '"env": {"CURRENCY": "CAD"}, "secrets": {"API_TOKEN": "s3cr3t"},')},
     "secrets.value_in_manifest", "manifest.json", 9, "error",
     "secrets must be a list of names; a value for API_TOKEN was found"),
    ("secret-name", {"manifest.json": edit('"env": {"CURRENCY": "CAD"},',
                                           '"env": {"CURRENCY": "CAD"}, "secrets": ["pricebook token"],')},
     "secrets.name", "manifest.json", 9, "error", "secrets key 'pricebook token' must match ^[A-Z][A-Z0-9_]{0,63}$"),
    ("secret-undeclared", {"manifest.json": edit('{"script": "hooks/after_validate.py"}',
                                                 '{"script": "hooks/after_validate.py", "secrets": ["PRICEBOOK_TOKEN"]}')},
     "secrets.undeclared", "manifest.json", 10, "error",
     "hooks.after_validate[0].secrets: 'PRICEBOOK_TOKEN' is not declared in manifest.secrets"),
    ("secret-unused", {"manifest.json": edit('"env": {"CURRENCY": "CAD"},',
                                             '"env": {"CURRENCY": "CAD"}, "secrets": ["OLD_TOKEN"],')},
     "secrets.unused", "manifest.json", 9, "warning", "secrets.OLD_TOKEN is declared but no enabled script requests it"),
    ("secret-network-off", {"manifest.json": edit('{"script": "hooks/after_validate.py"}',
                                                  '{"script": "hooks/after_validate.py", "secrets": ["CRM_KEY"]}')
                            .replace('"env": {"CURRENCY": "CAD"},', '"env": {"CURRENCY": "CAD"}, "secrets": ["CRM_KEY"],')},
     "secrets.network_off", "manifest.json", 9, "warning", "scripts request secrets but runtime_network_access is false"),
    ("env-looks-secret", {"manifest.json": edit('"env": {"CURRENCY": "CAD"}', '"env": {"CURRENCY": "CAD", "CRM_TOKEN": "x"}')},
     "env.looks_secret", "manifest.json", 9, "warning", "env.CRM_TOKEN looks like a secret; move it to secrets"),
    ("env-reserved", {"manifest.json": edit('"env": {"CURRENCY": "CAD"}', '"env": {"CURRENCY": "CAD", "LD_PRELOAD": "x"}')},
     "manifest.schema", "manifest.json", 9, "error", "env.LD_PRELOAD: keys starting with LD_ are not allowed"),
    ("env-bad-key", {"manifest.json": edit('"env": {"CURRENCY": "CAD"}', '"env": {"CURRENCY": "CAD", "MY-VAR": "x"}')},
     "manifest.schema", "manifest.json", 9, "error", "env.MY-VAR: key 'MY-VAR' must match"),
    ("type-hint", {"manifest.json": edit('"type_hint": "decimal"', '"type_hint": "money"')},
     "manifest.type_hint", "manifest.json", 18, "warning", "columns.meta.unit_price.type_hint 'money'"),
    ("hardcoded-secret", {"hooks/after_validate.py": 'API_TOKEN = "ghp_Xq7Lm2Rt9Vb4Nc8Kd1Pf5Hs3Jw6Yz0Ae2Gi"\n' +
                          EXAMPLE_PACKAGE["hooks/after_validate.py"]},
     "script.hardcoded_secret", "hooks/after_validate.py", 1, "warning",
     "hooks/after_validate.py line 1: string literal looks like a credential"),
    ("unexpected-entry", {"data.csv": "a,b\n1,2\n"}, "package.unexpected_entry", "data.csv", None, "error",
     "'data.csv' is not allowed at the package root"),
]


@pytest.mark.parametrize(("changes", "code", "path", "line", "level", "text"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_check_reports_code_path_line_level(tmp_path, changes, code, path, line, level, text):
    pkg = write_package(tmp_path / "pkg", **{})
    for rel, content in changes.items():
        target = pkg / rel
        if content is None:
            target.unlink()
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    found = only(validate_static(pkg), code)
    assert (found.path, found.line, found.level) == (path, line, level), found.to_dict()
    assert text in found.message
    assert found.hint  # every diagnostic says how to fix it


def test_diagnostic_dict_shape(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/sku.py": None})
    d = only(validate_static(pkg), "missing_script")
    assert d.to_dict() == {"path": "manifest.json", "level": "error", "code": "missing_script",
                           "message": "Column script 'columns/sku.py' not found in package",
                           "hint": d.hint, "line": 14}


def test_symlink_is_an_error(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    (tmp_path / "outside.py").write_text("X = 1\n")
    os.symlink(tmp_path / "outside.py", pkg / "columns" / "_linked.py")
    d = only(validate_static(pkg), "package.symlink")
    assert (d.path, d.level) == ("columns/_linked.py", "error")


def test_too_large_package(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    (pkg / "README.md").write_bytes(b"x" * (11 * 1024 * 1024))
    d = only(validate_static(pkg), "package.too_large")
    assert d.message == "package is 11.0 MiB (limit 10 MiB)"


def test_too_many_files(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    for i in range(500):
        (pkg / "columns" / f"_h{i}.py").write_text("")
    d = only(validate_static(pkg), "package.too_many_files")
    assert "508 files (limit 500)" in d.message


def test_bytecode_caches_are_ignored(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0garbage")
    (pkg / "columns" / "__pycache__").mkdir()
    (pkg / "columns" / "__pycache__" / "sku.cpython-311.pyc").write_bytes(b"\0garbage")
    assert validate_static(pkg) == []


def test_requirement_at_engine_version_is_fine(tmp_path):
    ours = metadata.version("openpyxl")
    pkg = write_package(tmp_path / "pkg", **{"requirements.txt": f"openpyxl=={ours}\n"})
    assert validate_static(pkg) == []


def test_prepared_vendor_dir_resolves_or_rejects_imports(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": "import dateutil\nimport pandas\n" + PRICE,
                                            "requirements.txt": "python-dateutil==2.9.0\n"})
    vendor = tmp_path / "vendor"
    (vendor / "dateutil").mkdir(parents=True)
    found = [d for d in validate_static(pkg, vendor_dir=vendor) if d.code == "import.unresolved"]
    assert [(d.line, d.level) for d in found] == [(2, "error")]
    assert "'pandas'" in found[0].message


def test_stdlib_and_engine_runtime_imports_are_fine(tmp_path):
    hook = "import json, re, datetime\nfrom collections import Counter\nimport openpyxl\n" + \
        EXAMPLE_PACKAGE["hooks/after_validate.py"]
    pkg = write_package(tmp_path / "pkg", **{"hooks/after_validate.py": hook})
    assert validate_static(pkg) == []


@pytest.mark.parametrize("manifest", [
    "[]", "null", '{"columns": []}', '{"columns": {"order": "sku", "meta": []}, "hooks": []}',
    '{"columns": {"order": ["sku"], "meta": {"sku": "columns/sku.py"}}, "hooks": {"after_mapping": ["x"]}}',
    '{"env": [], "secrets": "X", "engine": 5}', "",
])
def test_garbage_manifests_give_errors_not_exceptions(tmp_path, manifest):
    pkg = write_package(tmp_path / "pkg", **{"manifest.json": manifest})
    diags = validate_static(pkg)
    assert any(d.level == "error" and d.path == "manifest.json" for d in diags)


def test_missing_folder_is_a_diagnostic(tmp_path):
    [d] = validate_static(tmp_path / "nope")
    assert (d.code, d.level) == ("package.missing", "error")


def test_many_problems_are_reported_together(tmp_path):
    data = json.loads(MANIFEST)
    data["engine"]["detect"]["row_sample_size"] = 0
    data["columns"]["meta"]["sku"]["pattern"] = "("
    pkg = write_package(tmp_path / "pkg", **{"manifest.json": json.dumps(data, indent=2),
                                            "row_types/data.py": "import ctypes\n" + DATA})
    codes = sorted(d.code for d in validate_static(pkg))
    assert codes == ["import.forbidden", "manifest.pattern", "manifest.schema"]
