"""The package's file tree (from the drafts service's file list, not from walking the disk)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode


class FileTree(Tree[str]):
    """Folders expanded; leaves carry their package-relative path. Enter on a file posts `FileOpen`."""

    DEFAULT_CSS = """
    FileTree { width: 28; min-width: 20; }
    """

    @dataclass
    class FileOpen(Message):
        path: str

    def __init__(self, **kwargs) -> None:
        super().__init__("package", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._paths: tuple[str, ...] = ()
        self._problems: dict[str, str] = {}

    def show_files(self, paths: list[str]) -> None:
        if tuple(paths) == self._paths:
            return
        self._paths = tuple(paths)
        self._rebuild()

    def mark_problems(self, marks: dict[str, str]) -> None:
        """`marks`: path → 'error' | 'warning' (files without problems are left out)."""
        if marks == self._problems:
            return
        self._problems = dict(marks)
        for node in self._leaves(self.root):
            node.set_label(self._label(node.data or ""))

    def _label(self, path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        mark = {"error": " ✗", "warning": " !"}.get(self._problems.get(path, ""), "")
        return name + mark

    def _leaves(self, node: TreeNode[str]):
        for child in node.children:
            if child.data is not None:
                yield child
            yield from self._leaves(child)

    def _rebuild(self) -> None:
        # The file list changes only when files are added or removed: a rebuild is cheap and rare.
        selected = self.cursor_node.data if self.cursor_node else None
        self.clear()
        folders: dict[str, TreeNode[str]] = {"": self.root}
        # Root files first, then folders, like most editors.
        ordered = sorted(self._paths, key=lambda p: (p.count("/") > 0, p))
        for path in ordered:
            parts = path.split("/")
            parent = ""
            for depth in range(len(parts) - 1):
                folder = "/".join(parts[: depth + 1])
                if folder not in folders:
                    folders[folder] = folders[parent].add(parts[depth] + "/", expand=True)
                parent = folder
            folders[parent].add_leaf(self._label(path), data=path)
        if selected:
            self.select_path(selected)

    def select_path(self, path: str) -> None:
        for node in self._leaves(self.root):
            if node.data == path:
                self.move_cursor(node)
                return

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.FileOpen(event.node.data))
