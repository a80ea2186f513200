"""ADE engine: config packages, the job runtime, the store, services and the `ade` CLI.

This package never imports Textual; `ade_tui` is one client of it.
"""

__version__ = "1.0.0"
ENGINE_VERSION = __version__
