"""The code editor: a `TextArea` that knows which package file it holds and the hash it was read at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import TextArea

if TYPE_CHECKING:
    from ade_engine.services.drafts import FileContent


LANGUAGES = {".py": "python", ".json": "json", ".md": "markdown", ".toml": "toml", ".txt": None}


def language_for(path: str) -> str | None:
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
    return LANGUAGES.get(suffix)


# Textual's bundled JSON highlight query uses `#set! conceal` directives; with tree-sitter 0.26 they
# corrupt the heap (segfault a few edits later). This query highlights the same things without them.
JSON_HIGHLIGHTS = """
(pair key: (string) @json.label)
(pair value: (string) @string)
(array (string) @string)
(number) @number
[(true) (false)] @boolean
(null) @json.null
(escape_sequence) @string.escape
(ERROR) @json.error
["," ":"] @punctuation.delimiter
["[" "]" "{" "}"] @punctuation.bracket
"""


class PackageEditor(TextArea):
    """`path`/`sha256` identify what was loaded; `dirty` says the text differs from it."""

    DEFAULT_CSS = """
    PackageEditor { height: 1fr; border: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", show_line_numbers=True, tab_behavior="indent", soft_wrap=False,
                         highlight_cursor_line=True, **kwargs)
        self.path: str | None = None
        self.sha256: str | None = None
        self._loaded_text = ""
        from textual._tree_sitter import get_language

        json_language = get_language("json")
        if json_language is not None:
            self.register_language("json", json_language, JSON_HIGHLIGHTS)

    @property
    def dirty(self) -> bool:
        return self.path is not None and self.text != self._loaded_text

    def load(self, content: FileContent, *, read_only: bool) -> None:
        self.path, self.sha256 = content.path, content.sha256
        text = content.text if content.text is not None else f"({content.size} bytes of binary data: not shown)"
        self._loaded_text = text
        self.read_only = read_only or content.text is None
        self.language = language_for(content.path) if content.text is not None else None
        self.load_text(text)

    def mark_saved(self, sha256: str, text: str) -> None:
        self.sha256, self._loaded_text = sha256, text

    def go_to_line(self, line: int | None) -> None:
        if line is None or line < 1:
            return
        row = min(line - 1, max(self.document.line_count - 1, 0))
        self.move_cursor((row, 0), center=True)
