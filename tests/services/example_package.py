"""The spec's example package (tests/pkgfactory.py) with an `after_validate` hook, for the store and services."""

from __future__ import annotations

from pathlib import Path

from pkgfactory import write_package

HOOK = '''\
def run(*, artifact, env, **_):
    return {"notes": "prices in " + env.get("CURRENCY", "?")}
'''


def write_example_package(dest: Path, *, title: str | None = None) -> Path:
    """Write the example package into `dest` (created) and return it."""
    manifest: dict = {"hooks": {"after_validate": [{"script": "hooks/after_validate.py"}]}}
    if title:
        manifest["info"] = {"title": title}
    return write_package(dest, manifest=manifest, files={"hooks/after_validate.py": HOOK})
