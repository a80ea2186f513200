"""The engine is a library: importing it (or its CLI) must never pull in Textual."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["ade_engine", "ade_engine.cli.main", "ade_engine.runtime"])
def test_engine_does_not_import_textual(module):
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
