"""The engine is a library: importing it (or its CLI) must never pull in Textual."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["ade_engine", "ade_engine.cli.main", "ade_engine.runtime"])
def test_engine_does_not_import_textual(module):
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_dependency_contracts_hold():
    """The layering rules of docs/internals.md, checked by import-linter over the whole import graph
    (.importlinter): engine without UI, a self-contained job runtime, the store at the bottom, and a
    workstation that goes through the service layer."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    tool = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(tool)], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "5 kept, 0 broken" in out.stdout
