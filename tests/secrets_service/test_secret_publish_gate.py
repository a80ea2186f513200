"""`secrets.unset`: publishing or activating a version whose requested secrets have no value is refused."""

from __future__ import annotations

import pytest
from pkgfactory import write_package
from secrets_world import TOKEN

from ade_engine.errors import AdeError
from ade_engine.services import configs
from ade_engine.services import secrets as svc

HOOK = "def run(*, secrets, **_):\n    return {'notes': 'ok'}\n"


def needs_token(root, *, enabled=True):
    return write_package(root, manifest={
        "secrets": ["API_TOKEN"],
        "hooks": {"after_mapping": [{"script": "hooks/h.py", "secrets": ["API_TOKEN"], "enabled": enabled}]},
    }, files={"hooks/h.py": HOOK})


def test_publish_refused_until_the_secret_is_set(ws, tmp_path):
    draft = configs.import_package(ws, needs_token(tmp_path / "pkg"))
    with pytest.raises(AdeError) as err:
        configs.publish(ws, draft.config_id)
    assert err.value.code == "secrets.unset"
    assert "API_TOKEN" in err.value.message and "ade secret set API_TOKEN" in err.value.message
    assert configs.get_version(ws, draft.config_version_id).status == "draft"
    svc.set_secret(ws, "API_TOKEN", TOKEN, config_id=draft.config_id)
    assert configs.publish(ws, draft.config_id).status == "published"


def test_activate_refused_when_the_secret_was_deleted_after_publishing(ws, tmp_path):
    draft = configs.import_package(ws, needs_token(tmp_path / "pkg"))
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    published = configs.publish(ws, draft.config_id)
    svc.remove_secret(ws, "API_TOKEN")
    with pytest.raises(AdeError) as err:
        configs.activate(ws, published.config_version_id)
    assert err.value.code == "secrets.unset"
    assert configs.active_version(ws) is None
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert configs.activate(ws, published.config_version_id).config_version_id == published.config_version_id


def test_declared_but_not_requested_by_an_enabled_script_does_not_block(ws, tmp_path):
    draft = configs.import_package(ws, needs_token(tmp_path / "pkg", enabled=False))
    published = configs.publish(ws, draft.config_id)
    configs.activate(ws, published.config_version_id)
    assert configs.active_version(ws).config_version_id == published.config_version_id
