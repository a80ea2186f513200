"""`ade config …`: the config registry and draft authoring, on top of `ade_engine.services`.

Every subcommand takes `--json`. `validate DIR` and `init DIR` need no database; everything else opens
the workspace (first start bootstraps the data dir). See `ade config --help` for version references.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ade_engine.cli._output import (
    add_json_flag,
    emit,
    guarded,
    print_json,
    read_input_bytes,
    short,
    table,
    to_jsonable,
)

REFS_HELP = (
    "Version references: CONFIG, CONFIG@N, CONFIG@draft, CONFIG@latest, CONFIG@active, or a version id. "
    "A bare CONFIG means its draft when editing or publishing, its newest published version when activating."
)


def _workspace():
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    return open_workspace(load_settings())


def _version_line(v: Any) -> str:
    flags = [v.status] + (["active"] if v.active else []) + (["archived"] if v.archived else [])
    return f"{v.config_id}@{v.number}  {v.config_version_id}  {','.join(flags)}  content {short(v.content_hash)}"


def _version_text(v: Any) -> str:
    lines = [
        f"{v.config_id}@{v.number}  ({v.status}{', active' if v.active else ''}{', archived' if v.archived else ''})",
        f"  version id    {v.config_version_id}",
        f"  title         {v.title or '-'}   package version {v.package_version or '-'}",
        f"  content hash  {v.content_hash or '-'}",
        f"  deps hash     {v.deps_hash or '-'}",
        f"  created       {v.created_at:%Y-%m-%d %H:%M:%S}Z  from {v.source or '-'}",
    ]
    if v.published_at:
        lines.append(f"  published     {v.published_at:%Y-%m-%d %H:%M:%S}Z")
    lines.append(f"  files         {len(v.file_hashes)} in {v.path}")
    return "\n".join(lines)


def _progress(line: str) -> None:
    """Prepare progress (pip installing requirements.txt) on stderr, so --json output stays one document."""
    print(f"prepare: {line}", file=sys.stderr, flush=True)


def _diag_lines(diags: list[Any]) -> str:
    if not diags:
        return "no problems found"
    out = []
    for d in diags:
        where = f"{d.path}:{d.line}" if getattr(d, "line", None) else d.path
        hint = f" (hint: {d.hint})" if getattr(d, "hint", None) else ""
        out.append(f"{d.level:<7} {where}  {d.code}  {d.message}{hint}")
    errors = sum(1 for d in diags if d.level == "error")
    out.append(f"{errors} error(s), {len(diags) - errors} warning(s)")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ handlers


@guarded
def cmd_list(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        items = configs.list_configs(ws, include_archived=args.all)
        active = configs.active_version(ws)

    def text() -> str:
        if not items:
            return "no configs; create one with 'ade config create ID' or 'ade config import PATH'"
        rows = []
        for c in items:
            state = "active" if c.active_version_id else ("archived" if c.archived else "")
            rows.append([c.config_id, c.title, c.version_count, "yes" if c.draft_version_id else "", state])
        return table(rows, ["CONFIG", "TITLE", "VERSIONS", "DRAFT", "STATE"])

    emit(args, {"configs": items, "active": active}, text)
    return 0


@guarded
def cmd_show(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        if "@" in args.ref or configs.ULID_RE.match(args.ref):
            version = configs.get_version(ws, args.ref)
            emit(args, version, lambda: _version_text(version))
            return 0
        detail = configs.show_config(ws, args.ref)

    def text() -> str:
        head = f"{detail.config_id}: {detail.title}{'  [archived]' if detail.archived else ''}"
        return "\n".join([head] + ["  " + _version_line(v) for v in detail.versions])

    emit(args, detail, text)
    return 0


@guarded
def cmd_history(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        versions = configs.history(ws, args.config)
    rows = [
        [f"@{v.number}", v.config_version_id, v.status + (" active" if v.active else "") + (" archived" if v.archived else ""),
         v.content_hash or "-", f"{(v.published_at or v.created_at):%Y-%m-%d %H:%M}"]
        for v in versions
    ]
    emit(args, {"config_id": args.config, "versions": versions},
         lambda: table(rows, ["VERSION", "ID", "STATUS", "CONTENT HASH", "DATE"]))
    return 0


@guarded
def cmd_create(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        draft = configs.create_config(ws, args.config_id, template=args.template, title=args.title)
    emit(args, draft, f"created {draft.config_id}@{draft.number} (draft) from template {args.template}: {draft.path}")
    return 0


@guarded
def cmd_clone(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        draft = configs.clone(ws, args.source, new_config_id=args.as_id, title=args.title)
    emit(args, draft, f"cloned {args.source} into draft {draft.config_id}@{draft.number}: {draft.path}")
    return 0


@guarded
def cmd_import(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        version = configs.import_package(ws, Path(args.path), config_id=args.id, into=args.into)
        lines = [f"imported {args.path} as draft {version.config_id}@{version.number}"]
        if args.publish or args.activate:
            version = configs.publish(ws, version.config_version_id, on_progress=_progress)
            lines.append(f"published {version.config_id}@{version.number} ({short(version.content_hash)})")
        if args.activate:
            configs.activate(ws, version.config_version_id)
            version = configs.get_version(ws, version.config_version_id)
            lines.append(f"activated {version.config_id}@{version.number}")
    emit(args, version, "\n".join(lines))
    return 0


@guarded
def cmd_export(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        version = configs.get_version(ws, args.ref)
        path = configs.export_version(ws, version.config_version_id, args.output)
    emit(args, {"path": str(path), "version": version}, f"exported {version.config_id}@{version.number} to {path}")
    return 0


@guarded
def cmd_publish(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        version = configs.publish(ws, args.ref, on_progress=_progress)
    emit(args, version, f"published {version.config_id}@{version.number} {version.config_version_id} "
                        f"(content {short(version.content_hash)})")
    return 0


@guarded
def cmd_activate(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        state = configs.activate(ws, args.ref)
        version = configs.get_version(ws, state.config_version_id)
    emit(args, {"active": state, "version": version},
         f"active version is now {version.config_id}@{version.number} ({version.config_version_id})")
    return 0


@guarded
def cmd_archive(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        fn = configs.archive_config if args.command_name == "archive" else configs.unarchive_config
        result = fn(ws, args.ref)
    emit(args, result, f"{args.command_name}d {args.ref}")
    return 0


@guarded
def cmd_delete(args: argparse.Namespace) -> int:
    from ade_engine.services import configs

    with _workspace() as ws:
        gone = configs.delete_draft(ws, args.ref)
    emit(args, {"deleted": gone}, f"deleted draft {gone.config_id}@{gone.number}")
    return 0


@guarded
def cmd_diff(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    with _workspace() as ws:
        result = drafts.diff(ws, args.ref, args.against)

    def text() -> str:
        if not result.changes:
            return f"{result.draft}: no changes against {result.base or 'nothing'}"
        parts = []
        for ch in result.changes:
            parts.append(ch.diff if ch.diff else f"{ch.change}: {ch.path} (binary)\n")
        return "".join(parts).rstrip("\n")

    emit(args, result, text)
    return 0


@guarded
def cmd_validate(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.is_dir():  # a package folder: no database needed (its requirements are prepared in the data dir)
        from ade_engine.services.configs import validate_prepared
        from ade_engine.settings import load_settings

        found = validate_prepared(load_settings(), target, dynamic=not args.static_only, on_progress=_progress)
        label = str(target)
    else:
        from ade_engine.services import configs

        with _workspace() as ws:
            report = configs.validate_version(ws, args.target, dynamic=not args.static_only, on_progress=_progress)
        found, label = report.diagnostics, report.target
    ok = not any(d.level == "error" for d in found)
    emit(args, {"target": label, "ok": ok, "diagnostics": found}, lambda: _diag_lines(found))
    return 0 if ok else 1


@guarded
def cmd_init(args: argparse.Namespace) -> int:
    from ade_engine.services.configs import init_package

    dest = Path(args.dir)
    init_package(dest, template=args.template, title=args.title)
    emit(args, {"path": str(dest), "template": args.template},
         f"created a config package from template {args.template} in {dest}; check it with 'ade config validate {dest}'")
    return 0


@guarded
def cmd_files(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    with _workspace() as ws:
        files = drafts.list_files(ws, args.ref)
    emit(args, {"ref": args.ref, "files": files},
         lambda: table([[f.path, f.size, f.sha256] for f in files], ["PATH", "BYTES", "SHA256"]))
    return 0


@guarded
def cmd_cat(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    with _workspace() as ws:
        content = drafts.read_file(ws, args.ref, args.path)
    if args.json:
        doc = {"path": content.path, "sha256": content.sha256, "size": content.size, "text": content.text}
        if content.text is None:
            doc["base64"] = to_jsonable(content.data)
        print_json(doc)
    else:
        sys.stdout.buffer.write(content.data)
        sys.stdout.flush()
    return 0


@guarded
def cmd_write(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    data = read_input_bytes(args.source)
    expected = drafts.ANY if args.force else None if args.new else args.expect_hash
    with _workspace() as ws:
        result = drafts.write_file(ws, args.ref, args.path, data, expected_hash=expected)

    def text() -> str:
        head = f"wrote {result.path} (sha256 {result.sha256})"
        problems = [d for d in result.diagnostics]
        return head + ("\n" + _diag_lines(problems) if problems else "")

    emit(args, result, text)
    return 0


@guarded
def cmd_rm(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    with _workspace() as ws:
        diags = drafts.delete_file(ws, args.ref, args.path, expected_hash=args.expect_hash or drafts.ANY)
    emit(args, {"deleted": args.path, "diagnostics": diags}, f"deleted {args.path}")
    return 0


@guarded
def cmd_mv(args: argparse.Namespace) -> int:
    from ade_engine.services import drafts

    with _workspace() as ws:
        diags = drafts.rename_file(ws, args.ref, args.src, args.dst, expected_hash=args.expect_hash or drafts.ANY)
    emit(args, {"renamed": args.src, "to": args.dst, "diagnostics": diags}, f"renamed {args.src} to {args.dst}")
    return 0


# ------------------------------------------------------------------------------------------ parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config", help="config packages: versions, activation, drafts, import/export",
        description="Manage config packages in the workspace. " + REFS_HELP,
    )
    sub = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_json_flag(p)
        p.set_defaults(handler=handler, command_name=name)
        return p

    p = add("list", cmd_list, "list configs (with the active version)")
    p.add_argument("--all", action="store_true", help="include archived configs")

    p = add("show", cmd_show, "show a config and its versions, or one version (CONFIG@N)")
    p.add_argument("ref")

    p = add("history", cmd_history, "every version of a config with its content hash")
    p.add_argument("config")

    p = add("create", cmd_create, "create a config whose first draft comes from a template")
    p.add_argument("config_id")
    p.add_argument("--template", default="default")
    p.add_argument("--title")

    p = add("clone", cmd_clone, "copy a version into a new draft (of a new config with --as)")
    p.add_argument("source", help="version to copy (CONFIG@N, …)")
    p.add_argument("--as", dest="as_id", metavar="NEW_ID", help="id of a new config (default: new draft of the same config)")
    p.add_argument("--title")

    p = add("import", cmd_import, "import a package zip or folder as a draft")
    p.add_argument("path")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--id", help="id of the new config (default: from the file or folder name)")
    group.add_argument("--into", metavar="CONFIG", help="add the package as a new draft of an existing config")
    p.add_argument("--publish", action="store_true", help="publish it right away")
    p.add_argument("--activate", action="store_true", help="publish and activate it")

    p = add("export", cmd_export, "write a version as a zip (deterministic bytes)")
    p.add_argument("ref")
    p.add_argument("-o", "--output", help="zip file or folder (default: ./CONFIG-N.zip)")

    p = add("publish", cmd_publish, "validate a draft and freeze it as an immutable version")
    p.add_argument("ref")

    p = add("activate", cmd_activate, "make a published version the workspace's active version")
    p.add_argument("ref")

    for name, text in (("archive", "archive a config (or CONFIG@N): read-only, cannot be activated"),
                       ("unarchive", "undo archive")):
        p = add(name, cmd_archive, text)
        p.add_argument("ref")

    p = add("delete", cmd_delete, "delete a draft (published versions are never deleted)")
    p.add_argument("ref")

    p = add("diff", cmd_diff, "changes of a draft against its base version (or --against REF)")
    p.add_argument("ref")
    p.add_argument("--against", metavar="REF")

    p = add("validate", cmd_validate, "validate a package folder (no database) or a stored version")
    p.add_argument("target", help="PACKAGE_DIR or a version reference")
    p.add_argument("--static-only", action="store_true", help="skip the sandboxed dynamic probes")

    p = add("init", cmd_init, "create a new package folder from a template (no database)")
    p.add_argument("dir")
    p.add_argument("--template", default="default")
    p.add_argument("--title", help="info.title of the new package (default: the folder name)")

    p = add("files", cmd_files, "list the files of a version with sizes and hashes")
    p.add_argument("ref")

    p = add("cat", cmd_cat, "print one file of a version (--json adds its sha256)")
    p.add_argument("ref")
    p.add_argument("path")

    p = add("write", cmd_write, "write one draft file from --from FILE or stdin (optimistic locking)")
    p.add_argument("ref")
    p.add_argument("path")
    p.add_argument("--from", dest="source", metavar="FILE", help="read content from FILE (default: stdin)")
    lock = p.add_mutually_exclusive_group(required=True)
    lock.add_argument("--expect-hash", metavar="SHA256", help="sha256 you read (from 'cat --json' or 'files')")
    lock.add_argument("--new", action="store_true", help="the file must not exist yet")
    lock.add_argument("--force", action="store_true", help="overwrite whatever is there")

    p = add("rm", cmd_rm, "delete one draft file")
    p.add_argument("ref")
    p.add_argument("path")
    p.add_argument("--expect-hash", metavar="SHA256")

    p = add("mv", cmd_mv, "rename one draft file")
    p.add_argument("ref")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--expect-hash", metavar="SHA256")
