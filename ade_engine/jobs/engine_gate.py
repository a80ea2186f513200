"""Claim-time check of `info.requires_engine` (config-packages.md §2.1) for one worker.

In a fleet sharing one queue, workers may run different engine versions (an upgrade in progress). A queued
job whose config version this worker's engine does not satisfy is passed over: it stays queued for a worker
whose engine does, and the job's events say so once per worker (`claim.skipped`). When it has waited one
lease (`ADE_WORKER_LEASE_SECONDS`) since this worker first passed it over, and no live worker advertises a
satisfying engine in its heartbeat file, this worker claims it only to fail it with `engine_unsupported`
(`refusal`), so the job does not wait forever for a worker that will not come.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ade_engine.packages import engine_requirement
from ade_engine.runtime.events import EventLog

_PASSED_MAX = 1024  # jobs remembered as passed over; the oldest half is forgotten beyond this


class EngineGate:
    """Decides, for one worker, which queued jobs its engine may claim."""

    def __init__(self, settings: Any, worker_id: str, engine_version: str | None = None):
        self.settings = settings
        self.worker_id = worker_id
        self.engine_version = engine_version or engine_requirement.current_engine_version()
        self._specs: dict[str, str | None] = {}  # config_version_id -> info.requires_engine (versions are immutable)
        self._passed: dict[str, float] = {}  # job_id -> monotonic time this worker first passed it over

    def requirement(self, job: Any) -> str | None:
        """`info.requires_engine` of the job's config version, read from the job's own copy of the package."""
        key = str(job.config_version_id)
        if key not in self._specs:
            self._specs[key] = _read_requirement(job)
        return self._specs[key]

    def accept(self, job: Any) -> bool:
        """True when this worker should claim `job` (called by `queue.claim` with the write lock held)."""
        spec = self.requirement(job)
        if engine_requirement.satisfies(spec, self.engine_version):
            return True
        now = time.monotonic()
        first = self._passed.get(job.job_id)
        if first is None:
            self._remember(job.job_id, now)
            EventLog(Path(job.job_dir) / "events.ndjson", job.job_id, job.attempt, "parent").emit(
                "claim.skipped", state="queued",
                detail={"worker_id": self.worker_id, "reason": engine_requirement.CODE,
                        "requires_engine": spec, "engine_version": self.engine_version})
            return False
        if now - first < float(self.settings.worker_lease_seconds) or self._another_worker_satisfies(spec):
            return False
        self._passed.pop(job.job_id, None)
        return True  # claimed to be failed by `refusal`

    def refusal(self, job: Any) -> str | None:
        """The failure message for a claimed job this engine cannot run, or None when it can."""
        spec = self.requirement(job)
        if engine_requirement.satisfies(spec, self.engine_version):
            return None
        return (f"no worker's ADE engine satisfies info.requires_engine {spec!r} of this config version: worker "
                f"{self.worker_id} runs engine {self.engine_version} and waited "
                f"{self.settings.worker_lease_seconds} s for one that does. Start a worker with a matching engine "
                "and retry the job, or publish a version whose requires_engine this engine meets")

    def _remember(self, job_id: str, now: float) -> None:
        if len(self._passed) >= _PASSED_MAX:
            for old in sorted(self._passed, key=self._passed.__getitem__)[: _PASSED_MAX // 2]:
                del self._passed[old]
        self._passed[job_id] = now

    def _another_worker_satisfies(self, spec: str | None) -> bool:
        from ade_engine.jobs.queue import live_workers

        return any(w.get("worker_id") != self.worker_id and w.get("engine_version")
                   and engine_requirement.satisfies(spec, str(w["engine_version"]))
                   for w in live_workers(self.settings))


def _read_requirement(job: Any) -> str | None:
    try:
        text = (Path(job.job_dir) / "config" / "manifest.json").read_text(encoding="utf-8-sig")
        return engine_requirement.requirement_of(json.loads(text))
    except (OSError, TypeError, ValueError):
        return None  # no readable manifest: the job fails later with the reason that applies
