"""Dynamic validation (config-packages.md §6.2): real child processes probing broken scripts."""

from __future__ import annotations

import json

import pytest
from test_validation_example import EXAMPLE_PACKAGE, write_package

from ade_engine.packages.validation import Diagnostic, validate, validate_dynamic

SKU = EXAMPLE_PACKAGE["columns/sku.py"]
HEADER = EXAMPLE_PACKAGE["row_types/header.py"]


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[d.to_dict() for d in diags]}"
    return found[0]


def replace_function(source: str, name: str, new: str) -> str:
    """Swap the body of top-level function `name` (up to the next blank-line-separated def) for `new`."""
    start = source.index(f"def {name}(")
    nxt = source.find("\ndef ", start + 1)
    return source[:start] + new.strip() + "\n" + (source[nxt:] if nxt != -1 else "")


CASES = [
    ("import-error", {"columns/unit_price.py": "import dateutil\n" + EXAMPLE_PACKAGE["columns/unit_price.py"]},
     "module.import_error", "columns/unit_price.py", "error",
     "columns/unit_price.py: import failed: No module named 'dateutil'"),
    ("import-raises", {"columns/unit_price.py": "X = 1 / 0\n" + EXAMPLE_PACKAGE["columns/unit_price.py"]},
     "module.import_error", "columns/unit_price.py", "error", "ZeroDivisionError: division by zero"),
    ("row-score-range", {"row_types/header.py": replace_function(HEADER, "detect_wordy_cells",
        "def detect_wordy_cells(*, row_values_sample, **_):\n    return {'scores': {'header': 1.6}}")},
     "row_detector.score_range", "row_types/header.py", "error",
     "row_types/header.py:detect_wordy_cells returned 1.6 for 'header' (allowed -1.0..1.0)"),
    ("row-bad-return", {"row_types/header.py": replace_function(HEADER, "detect_wordy_cells",
        "def detect_wordy_cells(*, row_values_sample, **_):\n    return {'header': 0.5}")},
     "row_detector.bad_return", "row_types/header.py", "error", "expected {\"scores\""),
    ("row-non-numeric", {"row_types/header.py": replace_function(HEADER, "detect_wordy_cells",
        "def detect_wordy_cells(*, row_values_sample, **_):\n    return {'scores': {'header': 'high'}}")},
     "row_detector.bad_return", "row_types/header.py", "error", "non-numeric score 'high'"),
    ("row-exception", {"row_types/header.py": replace_function(HEADER, "detect_wordy_cells",
        "def detect_wordy_cells(*, row_values_sample, **_):\n    return {'scores': {'header': row_values_sample[3]}}")},
     "row_detector.exception", "row_types/header.py", "error", "raised IndexError"),
    ("foreign-key", {"columns/sku.py": replace_function(SKU, "detect_code_shape",
        "def detect_code_shape(*, field_name, **_):\n    return {'scores': {field_name: 0.1, 'unit_price': 0.2}}")},
     "column.detector.foreign_key", "columns/sku.py", "warning",
     "columns/sku.py:detect_code_shape returned a score for 'unit_price'"),
    ("column-score-range", {"columns/sku.py": replace_function(SKU, "detect_code_shape",
        "def detect_code_shape(*, field_name, **_):\n    return {'scores': {field_name: -3}}")},
     "column.detector.score_range", "columns/sku.py", "error", "returned -3 for 'sku' (allowed -1.0..1.0)"),
    ("column-blank-sample", {"columns/sku.py": replace_function(SKU, "detect_code_shape",
        "def detect_code_shape(*, values_sample, field_name, **_):\n"
        "    return {'scores': {field_name: len([v for v in values_sample if v]) / len(values_sample[5:])}}")},
     "column.detector.exception", "columns/sku.py", "error", "raised ZeroDivisionError: division by zero on an "
     "all-blank sample"),
    ("transform-length", {"columns/sku.py": replace_function(SKU, "transform",
        "def transform(*, values, **_):\n    return {'values': [v for v in values if v is not None], 'warnings': []}")},
     "column.transform.values.length", "columns/sku.py", "error", "columns/sku.py:transform returned 2 values for 3 inputs"),
    ("transform-shape", {"columns/sku.py": replace_function(SKU, "transform",
        "def transform(*, values, **_):\n    return values")},
     "column.transform.bad_return", "columns/sku.py", "error", "columns/sku.py:transform returned"),
    ("transform-warnings", {"columns/sku.py": replace_function(SKU, "transform",
        "def transform(*, values, **_):\n    return {'values': values, 'warnings': 'none'}")},
     "column.transform.warnings", "columns/sku.py", "error", "not a list of strings"),
    ("transform-none", {"columns/sku.py": replace_function(SKU, "transform",
        "def transform(*, values, **_):\n    return {'values': [v.strip() for v in values], 'warnings': []}")},
     "column.transform.exception", "columns/sku.py", "error", "raised AttributeError"),
    ("transform-types", {"columns/sku.py": replace_function(SKU, "transform",
        "def transform(*, values, **_):\n    return {'values': [[v] for v in values], 'warnings': []}")},
     "column.transform.value_type", "columns/sku.py", "warning", "values of type list"),
    ("validate-row-index", {"columns/sku.py": replace_function(SKU, "validate",
        "def validate(*, values, **_):\n"
        "    return {'issues': [{'row_index': 7, 'code': 'x', 'severity': 'error', 'message': 'm'}]}")},
     "column.validate.row_index", "columns/sku.py", "error", "columns/sku.py:validate returned row_index 7 for 3 values"),
    ("validate-code", {"columns/sku.py": replace_function(SKU, "validate",
        "def validate(*, values, **_):\n"
        "    return {'issues': [{'row_index': 1, 'code': '', 'severity': 'error', 'message': 'm'}]}")},
     "column.validate.code", "columns/sku.py", "error", "without a code"),
    ("validate-severity", {"columns/sku.py": replace_function(SKU, "validate",
        "def validate(*, values, **_):\n"
        "    return {'issues': [{'row_index': 1, 'code': 'x', 'severity': 'fatal', 'message': 'm'}]}")},
     "column.validate.severity", "columns/sku.py", "error", "severity 'fatal'"),
    ("validate-message", {"columns/sku.py": replace_function(SKU, "validate",
        "def validate(*, values, **_):\n"
        "    return {'issues': [{'row_index': 1, 'code': 'x', 'severity': 'error', 'message': None}]}")},
     "column.validate.message", "columns/sku.py", "error", "message that is not a string"),
    ("validate-shape", {"columns/sku.py": replace_function(SKU, "validate",
        "def validate(*, values, **_):\n    return []")},
     "column.validate.bad_return", "columns/sku.py", "error", "expected {\"issues\": list}"),
    ("nondeterministic", {"columns/sku.py": "import itertools\n_COUNT = itertools.count()\n" + replace_function(
        SKU, "detect_code_shape",
        "def detect_code_shape(*, field_name, **_):\n    return {'scores': {field_name: next(_COUNT) / 100}}")},
     "rule.nondeterministic", "columns/sku.py", "warning",
     "columns/sku.py:detect_code_shape returned different results for identical input"),
    ("slow", {"row_types/data.py": EXAMPLE_PACKAGE["row_types/data.py"].replace(
        "def detect_has_numbers(*, row_values_sample, **_):",
        "def detect_has_numbers(*, row_values_sample, **_):\n    import time\n    time.sleep(0.3)")},
     "rule.slow", "row_types/data.py", "warning", "row_types/data.py:detect_has_numbers took"),
    ("endless", {"row_types/data.py": EXAMPLE_PACKAGE["row_types/data.py"].replace(
        "def detect_width(*, row_values_sample, **_):",
        "def detect_width(*, row_values_sample, **_):\n    while True:\n        pass")},
     "rule.slow", "row_types/data.py", "error", "row_types/data.py:detect_width did not return within 2 s"),
    ("hook-not-callable", {"hooks/after_validate.py": "run = 'not a function'\n"},
     "hook.run_not_callable", "hooks/after_validate.py", "error", "hooks/after_validate.py: run is not callable"),
]


@pytest.mark.parametrize(("changes", "code", "path", "level", "text"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_probe_reports_code_path_level(tmp_path, changes, code, path, level, text):
    pkg = write_package(tmp_path / "pkg", **changes)
    found = only(validate_dynamic(pkg), code)
    assert (found.path, found.level) == (path, level), found.to_dict()
    assert text in found.message
    assert found.hint


def test_import_error_points_at_the_line(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": "import re\n\nX = 1 / 0\n"})
    d = only(validate_dynamic(pkg), "module.import_error")
    assert d.line == 3


def test_exception_points_at_the_line_in_the_script(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"row_types/header.py": replace_function(HEADER, "detect_wordy_cells",
        "def detect_wordy_cells(*, row_values_sample, **_):\n    cells = list(row_values_sample)\n"
        "    return {'scores': {'header': cells[99]}}")})
    d = only(validate_dynamic(pkg), "row_detector.exception")
    assert d.line == 5


def test_network_is_blocked_in_probes(tmp_path):
    detector = ("def detect_code_shape(*, field_name, **_):\n"
                "    import socket\n"
                "    try:\n"
                "        socket.socket()\n"
                "    except PermissionError:\n"
                "        return {'scores': {field_name: 0.0}}\n"
                "    return {'scores': {field_name: 5.0}}\n")
    pkg = write_package(tmp_path / "pkg", **{"columns/sku.py": replace_function(SKU, "detect_code_shape", detector)})
    assert validate_dynamic(pkg) == []


def test_placeholder_secrets_reach_only_requesting_scripts(tmp_path):
    manifest = json.loads(EXAMPLE_PACKAGE["manifest.json"])
    manifest["secrets"] = ["PRICEBOOK_TOKEN"]
    manifest["columns"]["meta"]["sku"]["secrets"] = ["PRICEBOOK_TOKEN"]
    manifest["engine"]["defaults"]["runtime_network_access"] = True
    # Scores reveal what arrived: out of range (an error) unless the placeholder is exactly as specified.
    sku = replace_function(SKU, "detect_code_shape",
        "def detect_code_shape(*, field_name, secrets, **_):\n"
        "    ok = dict(secrets) == {'PRICEBOOK_TOKEN': 'placeholder-PRICEBOOK_TOKEN'}\n"
        "    return {'scores': {field_name: 0.0 if ok else 9.0}}")
    price = EXAMPLE_PACKAGE["columns/unit_price.py"] + (
        "\ndef detect_no_secrets(*, field_name, secrets, **_):\n"
        "    return {'scores': {field_name: 0.0 if not secrets else 9.0}}\n")
    pkg = write_package(tmp_path / "pkg", **{"manifest.json": json.dumps(manifest), "columns/sku.py": sku,
                                            "columns/unit_price.py": price})
    assert validate_dynamic(pkg) == []


def test_read_only_artifact_and_no_stdout_corruption(tmp_path):
    detector = ("def detect_code_shape(*, field_name, artifact, **_):\n"
                "    print('{\"diagnostics\": []}')\n"
                "    try:\n"
                "        artifact['sheets'] = []\n"
                "    except TypeError:\n"
                "        return {'scores': {field_name: 0.0}}\n"
                "    return {'scores': {field_name: 5.0}}\n")
    pkg = write_package(tmp_path / "pkg", **{"columns/sku.py": replace_function(SKU, "detect_code_shape", detector)})
    assert validate_dynamic(pkg) == []


def test_child_that_exits_gives_a_clear_diagnostic(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": "import os\nos._exit(3)\n"})
    [d] = validate_dynamic(pkg)
    assert (d.code, d.level, d.path) == ("probe.crashed", "error", ".")
    assert "exit status 3" in d.message and "columns/unit_price.py" in d.message


def test_memory_hog_is_contained(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": "BIG = bytearray(400 * 1024 * 1024)\n"})
    d = only(validate_dynamic(pkg), "module.import_error")
    assert "MemoryError" in d.message


def test_wall_clock_timeout(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": (
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(30)\n")})
    [d] = validate_dynamic(pkg, timeout_s=1.5)
    assert (d.code, d.level) == ("probe.timeout", "error")
    assert "columns/unit_price.py" in d.message


def test_validate_skips_dynamic_when_static_fails(tmp_path):
    # The import would crash the probe; static errors stop validation before any code runs.
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": "import subprocess\nimport os\nos._exit(3)\n"})
    codes = [d.code for d in validate(pkg, dynamic=True)]
    assert "import.forbidden" in codes and "probe.crashed" not in codes


def test_invalid_manifest_is_reported_not_raised(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"manifest.json": "{"})
    [d] = validate_dynamic(pkg)
    assert (d.code, d.level) == ("manifest.invalid_json", "error")


def test_cpu_limit_ends_a_busy_probe(tmp_path):
    pkg = write_package(tmp_path / "pkg", **{"columns/unit_price.py": (
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n")})
    [d] = validate_dynamic(pkg, cpu_seconds=1)
    assert (d.code, d.level) == ("probe.cpu_limit", "error")
    assert "more than 1 s of CPU (while running columns/unit_price.py)" in d.message
