"""`ade worker`: the queue loop as a standalone process (jobs.md §0).

First Ctrl-C (or SIGTERM): stop claiming and let running jobs finish; second: cancel them (`shutdown`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ade_engine.cli._output import guarded


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("worker", help="run the job queue worker in the foreground",
                              description="Claim queued jobs and run them (ADE_MAX_CONCURRENCY slots). "
                                          "Ctrl-C once: finish running jobs and exit; twice: cancel them.")
    p.add_argument("--concurrency", type=int, metavar="N", help="slots, 1 to 64 (default ADE_MAX_CONCURRENCY)")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.set_defaults(handler=handle)


@guarded
def handle(args: argparse.Namespace) -> int:
    from ade_engine.services.jobs import check_concurrency, new_worker
    from ade_engine.services.startup import check_startup
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.concurrency is not None:
        check_concurrency(args.concurrency)  # refused before anything opens
    settings = load_settings()
    check_startup(settings)  # a missing job account or interpreter stops here, not at the first job
    with open_workspace(settings, on_wait=say) as ws:
        worker = new_worker(ws, concurrency=args.concurrency, on_message=say)
        stop = threading.Event()
        signals = 0

        def on_signal(*_: Any) -> None:
            nonlocal signals
            signals += 1
            stop.set()
            worker.drain()
            if signals == 1 and worker.status().busy:
                say("stopping: waiting for running jobs (Ctrl-C again cancels them)")
            elif signals > 1:
                say("cancelling running jobs")
                worker.cancel_all("shutdown")

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, on_signal)
            signal.signal(signal.SIGTERM, on_signal)
        return worker.run(stop=stop, once=args.once)
