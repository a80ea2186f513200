"""The artifact inspector: sheets → tables → columns with mapping decisions and scores, unmapped reasons,
issues with source and output cells, transforms, hook notes and rule errors, as a keyboard-driven tree.

It renders an `ade_engine.runtime.artifact.Artifact` (locations and decisions only: the artifact never
holds cell values or secrets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

if TYPE_CHECKING:
    from ade_engine.runtime.artifact import Artifact, Issue, Mapping, Table


UNMAPPED_REASONS = {
    "unmapped_no_signal": "no detector scored it",
    "unmapped_low_confidence": "best score below the threshold",
    "unmapped_field_taken": "its best field went to a better column",
    "skipped_empty": "the column is empty",
    "unmapped_displaced_by_hook": "a hook gave its field to another column",
}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
MAX_ISSUES_SHOWN = 500  # per table; the artifact caps issues per field too


def _col(column_id: str) -> str:
    return column_id.rsplit(".", 1)[-1]


def _score(value: float) -> str:
    return f"{value:.2f}"


def mapping_label(m: Mapping, threshold: float | None) -> Text:
    header = repr(m.raw.header) if m.raw.header is not None else "(no header)"
    text = Text(f"{_col(m.raw.column)} {header} ")
    if m.target_field and m.decision in ("mapped", "hook_override"):
        text.append(f"→ {m.target_field}", style="bold")
        text.append(f"  {_score(m.score)}")
        if m.decision == "hook_override":
            text.append("  (set by a hook)", style="italic")
        if m.tie_break:
            text.append(f"  tie broken by {m.tie_break}", style="dim")
    else:
        reason = UNMAPPED_REASONS.get(m.decision, m.decision)
        text.append("unmapped", style="yellow")
        text.append(f": {reason}")
        if m.scores:
            best, score = max(m.scores.items(), key=lambda kv: kv[1])
            text.append(f" (best {best} {_score(score)}" + (f" < {_score(threshold)}" if threshold is not None
                                                              and m.decision == "unmapped_low_confidence" else "")
                        + ")", style="dim")
    return text


def issue_label(issue: Issue) -> Text:
    where = issue.a1 or issue.range or "table"
    text = Text(f"{where}")
    if issue.output_a1:
        text.append(f" → out {issue.output_a1}")
    text.append(f"  {issue.severity} ", style=SEVERITY_STYLE.get(issue.severity, ""))
    text.append(f"{issue.code}")
    if issue.target_field:
        text.append(f" {issue.target_field}", style="bold")
    text.append(f": {issue.message}")
    return text


class ArtifactTree(Tree[Any]):
    """`show(artifact)` builds the tree once per artifact (it is final for terminal jobs)."""

    DEFAULT_CSS = """
    ArtifactTree { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("artifact", **kwargs)
        self.show_root = False
        self.guide_depth = 2

    def show(self, art: Artifact) -> None:
        self.clear()
        root = self.root
        threshold = art.engine.defaults.mapping_score_threshold
        s = art.summary
        if s is not None:
            summary = root.add(f"Summary: {s.rows_written} rows, {s.tables} table(s), {s.mapped_columns} mapped / "
                               f"{s.unmapped_columns} unmapped columns, {s.errors} errors, {s.warnings} warnings",
                               expand=False)
            summary.add_leaf(f"sheets {s.sheets} · columns written {s.columns_written} · issues {s.issues_found} · "
                             f"infos {s.infos} · rule errors {s.rule_errors}")
        if art.error is not None:
            root.add_leaf(Text(f"Error {art.error.code} at {art.error.stage}: {art.error.message}", style="red"))
        sheets = root.add(f"Sheets ({len(art.sheets)})", expand=True)
        for sheet in art.sheets:
            hidden = " (hidden)" if sheet.hidden else ""
            node = sheets.add(f"{sheet.name}{hidden} · {sheet.id} · {len(sheet.tables)} table(s)", expand=True)
            for table in sheet.tables:
                self._table(node.add(f"{table.id} {table.range} · header {table.header.kind} · "
                                     f"{table.data_row_count} rows" + (f" → out {table.output_range}"
                                                                       if table.output_range else ""),
                                     expand=True), table, threshold)
        if art.annotations:
            hooks = root.add(f"Hook notes ({len(art.annotations)})", expand=True)
            for a in art.annotations:
                node = hooks.add(f"{a.stage}: {a.hook}", expand=True)
                for line in (a.notes or "").splitlines():
                    node.add_leaf(Text(line))
                extra = [f"overrides applied {a.overrides_applied}" if a.overrides_applied is not None else "",
                         f"issues added {a.issues_added}" if a.issues_added is not None else ""]
                if any(extra):
                    node.add_leaf(" · ".join(e for e in extra if e))
        if art.rule_errors:
            errors = root.add(f"Rule errors ({len(art.rule_errors)})", expand=True)
            for e in art.rule_errors:
                loc = e.first_location
                where = " ".join(str(v) for v in (loc.sheet_id, loc.table_id, loc.column_id, loc.row_index) if v)
                errors.add_leaf(Text(f"{e.level} {e.kind} {e.rule} ({e.stage}) ×{e.count}: {e.message}"
                                     + (f" [first at {where}]" if where else ""),
                                     style="red" if e.level == "error" else "yellow"))
        if art.output is not None:
            plan = art.output.column_plan
            out = root.add(f"Output: sheet {art.output.sheet!r}, {art.output.rows_written} rows, "
                           f"{len(plan.target) + len(plan.appended_unmapped) + len(plan.provenance)} columns",
                           expand=False)
            for t in plan.target:
                out.add_leaf(f"{t.output_column} {t.output_header} ← {t.field}")
            for a in plan.appended_unmapped:
                out.add_leaf(f"{a.output_column} {a.output_header} ← unmapped "
                             + ", ".join(src.column for src in a.sources))
        self.root.expand()

    def _table(self, node: TreeNode, table: Table, threshold: float | None) -> None:
        mapped = [m for m in table.mapping if m.decision in ("mapped", "hook_override")]
        unmapped = [m for m in table.mapping if m not in mapped]
        columns = node.add(f"Columns: {len(mapped)} mapped, {len(unmapped)} unmapped", expand=True)
        for m in table.mapping:
            col = columns.add(mapping_label(m, threshold), expand=False, allow_expand=bool(m.contributors or m.scores))
            for c in m.contributors:
                col.add_leaf(f"{c.rule} +{_score(c.delta)}" if c.delta >= 0 else f"{c.rule} {_score(c.delta)}")
            others = {f: v for f, v in m.scores.items() if f != m.target_field}
            if others:
                col.add_leaf("other scores: " + ", ".join(f"{f} {_score(v)}" for f, v in
                                                          sorted(others.items(), key=lambda kv: -kv[1])))
        issues = table.validation.issues
        by_severity = {sev: sum(1 for i in issues if i.severity == sev) for sev in ("error", "warning", "info")}
        summary = ", ".join(f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in by_severity.items() if n) or "none"
        inode = node.add(f"Issues: {summary}", expand=False)
        for issue in issues[:MAX_ISSUES_SHOWN]:
            inode.add_leaf(issue_label(issue))
        if len(issues) > MAX_ISSUES_SHOWN:
            inode.add_leaf(f"… {len(issues) - MAX_ISSUES_SHOWN} more in artifact.json")
        if table.transforms:
            tnode = node.add(f"Transforms ({len(table.transforms)})", expand=False)
            for t in table.transforms:
                tnode.add_leaf(f"{t.target_field}: {t.transform} changed {t.changed}/{t.total}"
                               + (f", {t.failed_chunks} failed chunk(s)" if t.failed_chunks else "")
                               + (f" — {'; '.join(t.warnings)}" if t.warnings else ""))
