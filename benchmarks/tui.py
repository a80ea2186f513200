"""Workstation benchmark (`python -m benchmarks.tui`; also the last step of `make bench`).

(a) start-up — `python -m ade_tui --headless --exit-when-ready` on an existing workspace: wall time of the
    process and the app's own launch→ready measure, against `python -c "import textual"` in the same run.
(b) live validation — in a headless app with the watcher on: a file of an open draft is saved by another
    program, or saved in the app (ctrl+s); delay until the problems panel shows the new error.
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


def measure_startup(data_dir: Path) -> dict:
    env = _env(data_dir)
    floor, launch, ready = [], [], []
    for _ in range(RUNS):
        floor.append(_wall([sys.executable, "-c", "import textual"], env)[0])
        wall, out = _wall([sys.executable, "-m", "ade_tui", "--headless", "--exit-when-ready"], env)
        launch.append(wall)
        ready.append(float(out.split("ready_seconds=")[1].split()[0]))
    return {"import_textual_s": statistics.median(floor), "launch_to_exit_s": statistics.median(launch),
            "launch_to_ready_s": statistics.median(ready), "ratio": statistics.median(launch) / statistics.median(floor)}


async def _problems_delay(data_dir: Path, *, in_app: bool) -> list[float]:
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
        for _ in range(RUNS):
            broken = lambda: any(d.code == "invalid_syntax" for d in screen.problems.diagnostics)  # noqa: E731
            start = time.perf_counter()
            if in_app:
                screen.editor.load_text(clean + BROKEN)
                await pilot.press("ctrl+s")
            else:
                target.write_text(clean + BROKEN)
            await until(broken)
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


def main(out: Path | None = None) -> dict:
    out = out or REPO / "bench-out"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ade-tui-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        _prepare(data_dir)
        result = measure_startup(data_dir) | measure_live_validation(data_dir)
    print("workstation:")
    for key, value in result.items():
        print(f"  {key:<30} {value:8.3f}")
    (out / "tui.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
