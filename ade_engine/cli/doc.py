"""`ade doc add|list|show|rm|pin`: documents, the registered inputs of jobs (jobs.md §3a)."""

from __future__ import annotations

import argparse
from typing import Any

from ade_engine.cli._output import add_json_flag, emit, guarded, short, table


def _ws() -> Any:
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    return open_workspace(load_settings())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doc", help="documents: input files registered for jobs",
                                   description="Register input files once and run any number of jobs on them.")
    sub = parser.add_subparsers(dest="doc_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_json_flag(p)
        p.set_defaults(handler=handler)
        return p

    p = add("add", cmd_add, "register a file (the same bytes twice give the same document)")
    p.add_argument("path", metavar="FILE")
    p = add("list", cmd_list, "list documents")
    p.add_argument("--all", action="store_true", help="include purged documents")
    p = add("show", cmd_show, "show one document")
    p.add_argument("document_id", metavar="DOC")
    p = add("rm", cmd_rm, "purge a document (refused while a queued or running job uses it)")
    p.add_argument("document_id", metavar="DOC")
    p = add("pin", cmd_pin, "keep a document through retention (--off to unpin)")
    p.add_argument("document_id", metavar="DOC")
    p.add_argument("--off", action="store_true", help="unpin")


def _line(d: Any) -> str:
    state = "purged" if d.purged_at else ("pinned" if d.pinned else "")
    return (f"{d.document_id}  {d.original_name}  {d.detected_type}  {d.size_bytes} bytes  sha256 {short(d.sha256)}"
            + (f"  [{state}]" if state else ""))


@guarded
def cmd_add(args: argparse.Namespace) -> int:
    from ade_engine.services import documents

    with _ws() as ws:
        doc = documents.add_document(ws, args.path)
    emit(args, doc, (f"already registered ({doc.jobs} job(s)): " if doc.reused else "added: ") + _line(doc))
    return 0


@guarded
def cmd_list(args: argparse.Namespace) -> int:
    from ade_engine.services import documents

    with _ws() as ws:
        docs = documents.list_documents(ws, include_purged=args.all)
    rows = [(d.document_id, d.original_name, d.detected_type, d.size_bytes, short(d.sha256), d.jobs,
             "purged" if d.purged_at else ("pinned" if d.pinned else "")) for d in docs]
    emit(args, docs, lambda: table(rows, ["DOCUMENT", "NAME", "TYPE", "BYTES", "SHA256", "JOBS", ""])
         if rows else "no documents; add one with 'ade doc add FILE'")
    return 0


@guarded
def cmd_show(args: argparse.Namespace) -> int:
    from ade_engine.services import documents

    with _ws() as ws:
        d = documents.get_document(ws, args.document_id)
    emit(args, d, lambda: "\n".join(f"{k}: {v}" for k, v in d.model_dump(exclude={"reused"}).items()))
    return 0


@guarded
def cmd_rm(args: argparse.Namespace) -> int:
    from ade_engine.services import documents

    with _ws() as ws:
        d = documents.remove_document(ws, args.document_id)
    emit(args, d, f"purged: {_line(d)}")
    return 0


@guarded
def cmd_pin(args: argparse.Namespace) -> int:
    from ade_engine.services import documents

    with _ws() as ws:
        d = documents.pin_document(ws, args.document_id, not args.off)
    emit(args, d, ("pinned: " if d.pinned else "unpinned: ") + _line(d))
    return 0
