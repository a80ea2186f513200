"""Settings of the workstation app (prefix `ADE_TUI_`), separate from the engine's `Settings`.

The engine's settings have no place for UI choices (keymap, theme, watcher), so the app keeps its own
small pydantic-settings model. Values come from `${ADE_DATA_DIR}/tui.json` and the environment; the
environment wins. Like `ade_engine.settings`, this is the only module of `ade_tui` reading `os.environ`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ade_engine.errors import AdeError

TUI_SETTINGS_FILE = "tui.json"


class TuiSettings(BaseSettings):
    """UI settings. `keymap` maps binding ids (see `docs/workstation.md`) to comma-separated keys."""

    model_config = SettingsConfigDict(env_prefix="ADE_TUI_", case_sensitive=False, extra="ignore", frozen=True)

    keymap: dict[str, str] = Field(default_factory=dict)
    theme: str = "textual-dark"
    # Live validation: one watchfiles worker per open draft. Off in snapshot tests.
    watch: bool = True
    watch_debounce_ms: int = Field(150, ge=10, le=10_000)
    # Shown in the status bar instead of the data dir path (snapshot tests: a fixed label).
    data_dir_label: str | None = None
    # Show wall-clock times (validation time, publish dates). Off in snapshot tests.
    show_times: bool = True
    # Blinking cursors in the editor and inputs. Off in snapshot tests.
    cursor_blink: bool = True
    editor: str | None = Field(None, validation_alias=AliasChoices("ade_tui_editor", "visual", "editor"))

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, value: str) -> str:
        from textual.theme import BUILTIN_THEMES

        if value not in BUILTIN_THEMES:
            raise ValueError(f"{value!r} is not a Textual theme; use one of {', '.join(sorted(BUILTIN_THEMES))}")
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, *_: Any, **__: Any,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init values come from tui.json: the environment overrides them.
        return (env_settings, init_settings)


class _ExplicitTuiSettings(TuiSettings):
    """Only explicit values (tests): no environment."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _invalid(exc: ValidationError, where: str) -> AdeError:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False)]
    return AdeError(f"invalid workstation settings in {where}: {'; '.join(problems)}",
                    code="settings_invalid", details={"problems": problems})


def load_tui_settings(data_dir: Path | None = None) -> TuiSettings:
    """Read `<data_dir>/tui.json` (when present) and `ADE_TUI_*`; bad values raise `settings_invalid`."""
    values: dict[str, Any] = {}
    path = data_dir / TUI_SETTINGS_FILE if data_dir else None
    if path is not None and path.is_file():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AdeError(f"{path} is not valid JSON ({exc}); fix or delete it", code="settings_invalid") from None
        if not isinstance(values, dict):
            raise AdeError(f"{path} must hold a JSON object", code="settings_invalid")
    try:
        return TuiSettings(**values)
    except ValidationError as exc:
        raise _invalid(exc, f"{path} / ADE_TUI_*" if values else "ADE_TUI_*") from None


def explicit_tui_settings(**values: Any) -> TuiSettings:
    """Settings from arguments only (tests and embedding)."""
    try:
        return _ExplicitTuiSettings(**values)
    except ValidationError as exc:
        raise _invalid(exc, "arguments") from None
