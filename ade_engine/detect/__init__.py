"""Structure detection: line roles, table segmentation and header-text matching over rows of cell values.

Pure functions and small classes, no I/O; imports only `ade_engine.errors` and the standard library. The job
runtime ships it, so package scripts can import it (`from ade_engine.detect import detect_layout`). Its public
names are part of the script API that `config_script_api_version` versions (docs/writing-detectors.md).
"""

from ade_engine.detect.layout import Decision, Layout, TableSpan, detect_layout

__all__ = ["Decision", "Layout", "TableSpan", "detect_layout"]
