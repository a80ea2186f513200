"""`ade secret set|list|rm|audit|rotate-key`: the workspace's encrypted secrets (secrets.md §4).

A value is read from a hidden prompt on a terminal, or from stdin otherwise — never from the command line,
where it would sit in shell history and in every process listing. No subcommand ever prints a value.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ade_engine.cli._output import add_json_flag, emit, guarded, table
from ade_engine.errors import AdeError


def _workspace():
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    return open_workspace(load_settings())


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value is not None else "-"


def read_value(name: str, *, stdin: Any = None) -> str:
    """The value to store: a hidden prompt (asked twice) on a terminal, else all of stdin minus one newline."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass(f"Value for {name} (input hidden): ")
        second = getpass.getpass(f"Repeat the value for {name}: ")
        if first != second:
            raise AdeError("the two values differ; nothing was stored", code="secrets.value_mismatch")
        return first
    value = stdin.read()
    # `echo "$TOKEN" | ade secret set NAME` appends one newline that is not part of the value.
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if not value:
        raise AdeError(f"no value for {name} on stdin; pipe it in (e.g. `ade secret set {name} < token.txt`) "
                       "or run the command in a terminal to be prompted", code="secrets.value_length")
    return value


@guarded
def cmd_set(args: argparse.Namespace) -> int:
    from ade_engine.secrets.envelope import validate_name
    from ade_engine.services import secrets

    validate_name(args.name)  # before prompting: a typo should not cost the user a paste
    value = read_value(args.name)
    with _workspace() as ws:
        info = secrets.set_secret(ws, args.name, value, config_id=args.config)
    del value
    emit(args, info, f"set {info.name} ({info.scope}) version {info.version}, key {info.key_id}")
    return 0


@guarded
def cmd_list(args: argparse.Namespace) -> int:
    from ade_engine.services import secrets

    with _workspace() as ws:
        items = secrets.list_secrets(ws, config_id=args.config)
        source = secrets.key_source(ws.settings)

    def text() -> str:
        rows = [[i.name, i.scope, i.version or "-", i.key_id or "-", i.created_by or "-", _when(i.created_at),
                 _when(i.last_used_at), ",".join(i.requested_by) or "-", i.status]
                for i in items]
        out = table(rows, ["NAME", "SCOPE", "VERSION", "KEY", "SET BY", "SET AT", "LAST USED", "REQUESTED BY",
                           "STATUS"]) if rows else "no secrets"
        problems = [f"{i.status}: {i.problem}" for i in items if i.problem]
        return "\n".join([out, *problems, f"master keys: {source}"])

    emit(args, {"secrets": items, "key_source": source}, text)
    return 0


@guarded
def cmd_rm(args: argparse.Namespace) -> int:
    from ade_engine.services import secrets

    with _workspace() as ws:
        count = secrets.remove_secret(ws, args.name, config_id=args.config)
    scope = args.config or "workspace"
    emit(args, {"name": args.name, "scope": scope, "versions_erased": count},
         f"deleted {args.name} ({scope}): {count} version(s) erased")
    return 0


@guarded
def cmd_audit(args: argparse.Namespace) -> int:
    from ade_engine.services import secrets

    with _workspace() as ws:
        entries = secrets.audit_log(ws, name=args.name, config_id=args.config, limit=args.limit)

    def text() -> str:
        rows = [[_when(e.ts), e.actor or "-", e.action, e.name or "-", e.config_id or "workspace" if e.name else "-",
                 e.version or "-", e.key_id or "-", e.job_id or "-"] for e in entries]
        return table(rows, ["TIME", "ACTOR", "ACTION", "NAME", "SCOPE", "VERSION", "KEY", "JOB"]) if rows \
            else "no audit entries"

    emit(args, {"entries": entries}, text)
    return 0


@guarded
def cmd_rotate(args: argparse.Namespace) -> int:
    from ade_engine.services import secrets

    with _workspace() as ws:
        report = secrets.rotate_key(ws)

    def text() -> str:
        lines = [f"new primary key {report.new_key_id} (was {report.previous_primary}) in {report.source}",
                 f"re-encrypted {report.reencrypted} secret(s); erased {report.erased} old version(s)"]
        if report.retired:
            lines.append(f"retired key(s): {', '.join(report.retired)}")
        if report.kept:
            lines.append(f"kept key(s) still in use: {', '.join(report.kept)}")
        lines += [f"could not re-encrypt {f}" for f in report.failed]
        return "\n".join(lines)

    emit(args, report, text)
    return 1 if report.failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("secret", help="set, list, delete and audit encrypted secrets",
                                   description="Encrypted secrets of the workspace. Values are read from a "
                                               "hidden prompt or stdin and never shown again.")
    sub = parser.add_subparsers(dest="secret_command", metavar="SUBCOMMAND", required=True)

    def scoped(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="CONFIG", default=None,
                       help="a value for one config only (wins over the workspace-wide value)")
        add_json_flag(p)

    p = sub.add_parser("set", help="store a new version of a secret (value from a hidden prompt or stdin)",
                       description="Store a new version of NAME. On a terminal you are prompted (input hidden); "
                                   "otherwise the value is read from stdin. There is no option for the value.")
    p.add_argument("name", metavar="NAME")
    scoped(p)
    p.set_defaults(handler=cmd_set)

    p = sub.add_parser("list", help="list secrets (never values), who requests them and unset names")
    scoped(p)
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("rm", help="delete a secret: erase the ciphertext of all its versions")
    p.add_argument("name", metavar="NAME")
    scoped(p)
    p.set_defaults(handler=cmd_rm)

    p = sub.add_parser("audit", help="show the audit trail (set, delete, rotate_key, inject, decrypt_failed)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--limit", type=int, default=200, help="newest N entries (default 200)")
    scoped(p)
    p.set_defaults(handler=cmd_audit)

    p = sub.add_parser("rotate-key", help="new primary master key; re-encrypt every secret with it")
    add_json_flag(p)
    p.set_defaults(handler=cmd_rotate)
