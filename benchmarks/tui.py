"""Workstation benchmark (`python -m benchmarks.tui`; also the last step of `make bench`).

(a) start-up — `python -m ade_tui --headless --exit-when-ready` on an existing workspace, against
    `python -c "import textual"` in the same run. From the launch (before the process is spawned): first
    frame painted; ready = F1 pressed right after that first frame has been handled (the help screen is
    on screen); workspace open (the configs list can load); and the process's wall time to exit.
(b) live validation — in a headless app with the watcher on: a file of an open draft is saved by another
    program, or saved in the app (ctrl+s posted as a key event); delay until the problems panel holds the
    new error and the frame showing it has been written.
(c) responsiveness — on the jobs screen, key press (cursor up/down) → screen updated, while the app's
    embedded worker runs two real jobs (50,000-row rosters) and the table refreshes live; and idle.
Results go to `bench-out/tui.json`; compare ratios across machines, not absolute times.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 5
BROKEN = "\ndef broken(:\n"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(ADE_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO))
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    return time.perf_counter() - start, out.stdout


def _prepare(data_dir: Path) -> None:
    from ade_engine.services import configs
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import isolated_settings

    with open_workspace(isolated_settings(data_dir, sample_configs_dir=REPO / "sample_configs")) as ws:
        configs.clone(ws, "member_roster@1")


def _marks(out: str) -> dict[str, float]:
    """`name_at=<time.time()>` marks printed by `--exit-when-ready`."""
    return {w.split("_at=")[0]: float(w.split("=")[1]) for w in out.split() if "_at=" in w}


def measure_startup(data_dir: Path) -> dict:
    env = _env(data_dir)
    floor, painted, ready, opened, wall = [], [], [], [], []
    for _ in range(RUNS):
        floor.append(_wall([sys.executable, "-c", "import textual"], env)[0])
        launched = time.time()  # wall clock: comparable with the marks the app prints
        seconds, out = _wall([sys.executable, "-m", "ade_tui", "--headless", "--exit-when-ready"], env)
        marks = _marks(out)
        painted.append(marks["painted"] - launched)
        ready.append(marks["ready"] - launched)
        opened.append(marks["workspace"] - launched)
        wall.append(seconds)
    base, med = statistics.median(floor), statistics.median
    return {"import_textual_s": base, "launch_to_painted_s": med(painted), "launch_to_ready_s": med(ready),
            "launch_to_workspace_open_s": med(opened), "launch_to_exit_s": med(wall),
            "ready_beyond_import_textual_s": med(ready) - base,
            "workspace_open_beyond_import_textual_s": med(opened) - base}


def count_frames(screen) -> list[int]:
    """`[n]`: how many frames `screen` has written to the (headless) terminal since now (its compositor
    refresh, wrapped)."""
    frames = [0]
    write_frame = screen._compositor_refresh

    def counted() -> None:
        write_frame()
        frames[0] += 1

    screen._compositor_refresh = counted
    return frames


async def _problems_delay(data_dir: Path, *, in_app: bool) -> list[float]:
    from textual import events

    from ade_engine.settings import isolated_settings
    from ade_tui.app import AdeApp
    from ade_tui.screens.package import PackageScreen
    from ade_tui.settings import explicit_tui_settings
    from ade_tui.worker_host import SandboxStatus

    app = AdeApp(isolated_settings(data_dir), explicit_tui_settings(watch=True, show_times=False),
                 sandbox_probe=lambda _s: SandboxStatus("standard"))
    delays = []
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(cond, limit=60.0):
            end = time.perf_counter() + limit
            while not cond() and time.perf_counter() < end:
                await asyncio.sleep(0.005)

        await until(lambda: app.workspace_ready and not app.busy)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, PackageScreen) and app.screen.editor.path and not app.busy)
        screen = app.screen
        screen.open_file("columns/email.py")
        await until(lambda: screen.editor.path == "columns/email.py" and not app.busy)
        target = Path(screen.info.path, "columns/email.py")
        clean = target.read_text()
        frames = count_frames(screen)
        for _ in range(RUNS):
            broken = lambda: any(d.code == "invalid_syntax" for d in screen.problems.diagnostics)  # noqa: E731
            if in_app:
                screen.editor.load_text(clean + BROKEN)
                await asyncio.sleep(0.05)
            start = time.perf_counter()
            if in_app:
                # ctrl+s enters the app's queue as a terminal's key would (Pilot.press would also wait for
                # every widget's queue to drain, which measures the harness, not the app).
                app.post_message(events.Key("ctrl+s", None))
            else:
                target.write_text(clean + BROKEN)
            await until(broken)
            shown = frames[0]
            await until(lambda: frames[0] > shown)  # ...and the frame that shows it was written
            delays.append(time.perf_counter() - start)
            # Back to clean and wait until everything (save, watcher, validation) has settled.
            if in_app:
                screen.editor.load_text(clean)
                await pilot.press("ctrl+s")
            else:
                target.write_text(clean)
            await until(lambda: not broken() and not app.busy and screen.editor.text == clean)
            await asyncio.sleep(0.3)
    return delays


def measure_live_validation(data_dir: Path) -> dict:
    external = asyncio.run(_problems_delay(data_dir, in_app=False))
    in_app = asyncio.run(_problems_delay(data_dir, in_app=True))
    return {"external_save_to_problems_s": statistics.median(external),
            "app_save_to_problems_s": statistics.median(in_app)}


def _job_settings(data_dir: Path):
    from ade_engine.settings import isolated_settings

    extra: dict = {"max_concurrency": 2}
    if os.geteuid() == 0:  # jobs run as an unprivileged user (decision 11)
        from benchmarks.jobs import _job_python

        extra["job_user"] = os.environ.get("ADE_JOB_USER") or "nobody"
        python = os.environ.get("ADE_JOB_PYTHON") or _job_python(extra["job_user"])
        if python:
            extra["job_python"] = python
    return isolated_settings(data_dir, **extra)


async def _key_delays(data_dir: Path, big: Path, samples: int = 40) -> dict:
    from ade_engine.services import jobs
    from ade_tui.app import AdeApp
    from ade_tui.screens.jobs import JobsScreen
    from ade_tui.settings import explicit_tui_settings
    from ade_tui.worker_host import SandboxStatus

    app = AdeApp(_job_settings(data_dir), explicit_tui_settings(watch=False, show_times=True),
                 sandbox_probe=lambda _s: SandboxStatus("standard"))
    idle, running = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(cond, limit=120.0):
            end = time.perf_counter() + limit
            while not cond() and time.perf_counter() < end:
                await asyncio.sleep(0.01)
            return cond()

        async def press(into: list[float]) -> None:
            # The key enters the app's queue like a terminal's would; done when the table's cursor moved
            # and the next frame was written (the screen's compositor refresh ran). Pilot.press would also wait for
            # every widget's queue to drain, which measures the harness more than the app.
            table = app.screen.table
            before, frames = table.cursor_row, screen_updates[0]
            start = time.perf_counter()
            app.post_message(events.Key("down" if before == 0 else "up", None))
            while (table.cursor_row == before or screen_updates[0] == frames) and time.perf_counter() - start < 5:
                await asyncio.sleep(0.001)
            into.append(time.perf_counter() - start)
            if into[-1] >= 5:
                print(f"  key {len(into)}: no update within 5 s (cursor {before}→{table.cursor_row})", file=sys.stderr)

        from textual import events

        await until(lambda: app.workspace_ready and not app.busy)
        await pilot.press("f3")
        jobs_screen = app.screen
        screen_updates = count_frames(jobs_screen)
        await until(lambda: isinstance(app.screen, JobsScreen) and app.screen.view is not None)
        for path in (big, big):
            jobs.submit_job(app.ws, path, config="member_roster", force=True)
        app.job_submitted()
        await until(lambda: app.worker_host.state().slots_busy == 2 and len(jobs_screen.table.rows_by_id) == 2)
        jobs_screen.table.focus()
        await pilot.pause()
        while app.worker_host.state().slots_busy == 2 and len(running) < samples:
            await press(running)
            await asyncio.sleep(0.05)
        await until(lambda: app.worker_host.state().slots_busy == 0)
        for _ in range(samples):
            await press(idle)
            await asyncio.sleep(0.05)
        states = [j.status for j in jobs.list_jobs(app.ws)]
    running.sort()
    return {"key_to_update_idle_p50_s": statistics.median(idle),
            "key_to_update_two_jobs_p50_s": statistics.median(running),
            "key_to_update_two_jobs_p95_s": running[int(0.95 * (len(running) - 1))],
            "key_to_update_two_jobs_max_s": running[-1], "key_samples_two_jobs": len(running),
            "jobs_succeeded": states.count("succeeded")}


def measure_responsiveness(root: Path, data_dir: Path) -> dict:
    from benchmarks.generate import generate

    big = generate(root / "in" / "roster_50k.xlsx", 50_000)
    if os.geteuid() == 0:
        for p in (root, big.parent, big):
            p.chmod(0o755 if p.is_dir() else 0o644)
    return asyncio.run(_key_delays(data_dir, big))


def main(out: Path | None = None) -> dict:
    out = out or REPO / "bench-out"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ade-tui-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        _prepare(data_dir)
        if os.geteuid() == 0:
            Path(tmp).chmod(0o711)  # the job user must pass through to the data dir
        result = measure_startup(data_dir) | measure_live_validation(data_dir) | measure_responsiveness(
            Path(tmp), data_dir)
    print("workstation:")
    for key, value in result.items():
        print(f"  {key:<30} {value:8.3f}")
    (out / "tui.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
