"""`ade secret …` as a user types it: the value only from stdin or a hidden prompt, never printed back."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
import subprocess
import sys

import pytest
from secrets_world import OTHER, TOKEN, scan_text, scan_tree

from ade_engine.secrets.keys import new_keyring


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def ade(tmp_path, repo_root, monkeypatch):
    """ade(*args, stdin=..., real=False): in-process `ade` (fast); `real=True` spawns `python -m` instead."""
    data_dir = tmp_path / "data"
    keyring_file = tmp_path / "mounted-keyring.json"
    keyring_file.write_text(new_keyring().to_json())
    outputs: list[str] = []
    env_vars = dict(ADE_DATA_DIR=str(data_dir), ADE_SECRETS_KEYRING=str(keyring_file),
                    ADE_SAMPLE_CONFIGS_DIR=str(tmp_path / "none"),
                    PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")

    def run(*args, stdin: str | None = None, real: bool = False):
        if real:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ADE_", "PYTHON_KEYRING"))}
            env.update(env_vars, PYTHONPATH=os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")])))
            proc = subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *map(str, args)], input=stdin,
                                  env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
            result = Result(proc.returncode, proc.stdout, proc.stderr)
        else:
            from ade_engine.cli.main import main

            with monkeypatch.context() as mp:
                for key in [k for k in os.environ if k.startswith("ADE_")]:
                    mp.delenv(key)
                for key, value in env_vars.items():
                    mp.setenv(key, value)
                mp.setattr(sys, "stdin", io.StringIO(stdin or ""))
                out, err = io.StringIO(), io.StringIO()
                with redirect_stdout(out), redirect_stderr(err):
                    try:
                        code = main([str(a) for a in args])
                    except SystemExit as exc:  # argparse refusals
                        code = exc.code
                result = Result(code, out.getvalue(), err.getvalue())
        outputs.extend([result.stdout, result.stderr])
        return result

    run.outputs = outputs
    run.data_dir = data_dir
    return run


def test_set_list_audit_rm_round_trip_never_shows_the_value(ade):
    r = ade("secret", "set", "API_TOKEN", stdin=TOKEN + "\n", real=True)  # as typed: a real process and pipe
    assert r.returncode == 0, r.stderr
    assert "set API_TOKEN (workspace) version 1" in r.stdout
    r = ade("secret", "set", "API_TOKEN", stdin=OTHER)
    assert "version 2" in r.stdout

    r = ade("secret", "list", "--json")
    doc = json.loads(r.stdout)
    (item,) = doc["secrets"]
    assert (item["name"], item["version"], item["status"]) == ("API_TOKEN", 2, "ok")
    assert "ADE_SECRETS_KEYRING" in doc["key_source"]
    r = ade("secret", "list")
    assert "API_TOKEN" in r.stdout and "master keys: key file" in r.stdout

    r = ade("secret", "audit", "--json")
    assert [e["action"] for e in json.loads(r.stdout)["entries"]] == ["set", "set"]
    r = ade("secret", "rm", "API_TOKEN")
    assert r.returncode == 0 and "2 version(s) erased" in r.stdout
    r = ade("secret", "rm", "API_TOKEN")
    assert r.returncode == 2 and r.stderr.startswith("error: secrets.not_found:")
    r = ade("secret", "audit", "API_TOKEN")
    assert r.stdout.splitlines()[1].split()[3] == "delete"

    for text in ade.outputs:
        assert not scan_text(text, TOKEN) and not scan_text(text, OTHER)
    assert scan_tree(ade.data_dir, TOKEN) == [] and scan_tree(ade.data_dir, OTHER) == []


def test_the_value_cannot_be_given_as_an_argument(ade):
    r = ade("secret", "set", "API_TOKEN", TOKEN, stdin="", real=True)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    r = ade("secret", "set", "API_TOKEN", "--value", TOKEN, stdin="")
    assert r.returncode == 2
    r = ade("secret", "list", "--json")
    assert json.loads(r.stdout)["secrets"] == []


def test_bad_input_is_one_line_error_without_the_value(ade):
    r = ade("secret", "set", "API_TOKEN", stdin="")
    assert r.returncode == 2 and "no value for API_TOKEN on stdin" in r.stderr
    r = ade("secret", "set", "API_TOKEN", stdin="qz7#k\n")
    assert r.returncode == 2 and "secrets.value_length" in r.stderr and "qz7#k" not in r.stderr
    r = ade("secret", "set", "api-token", stdin=TOKEN)
    assert r.returncode == 2 and "secrets.name" in r.stderr
    r = ade("secret", "set", "API_TOKEN", "--config", "nope", stdin=TOKEN)
    assert r.returncode == 2 and "config 'nope' not found" in r.stderr
    r = ade("secret", "set", "API_TOKEN", "--json", stdin="qz7#k")
    assert json.loads(r.stdout)["error"]["code"] == "secrets.value_length"


def test_rotate_key_from_the_command_line(ade):
    ade("secret", "set", "API_TOKEN", stdin=TOKEN)
    r = ade("secret", "rotate-key")
    assert r.returncode == 0, r.stderr
    assert "re-encrypted 1 secret(s)" in r.stdout and "retired key(s)" in r.stdout
    doc = json.loads(ade("secret", "list", "--json").stdout)
    assert doc["secrets"][0]["status"] == "ok"
    assert not any(scan_text(t, TOKEN) for t in ade.outputs)


def test_hidden_prompt_on_a_terminal(monkeypatch):
    from ade_engine.cli import secret as cli

    class Tty:
        def isatty(self):
            return True

    answers = iter([TOKEN, TOKEN])
    prompts = []
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(answers))
    assert cli.read_value("API_TOKEN", stdin=Tty()) == TOKEN
    assert prompts[0].startswith("Value for API_TOKEN (input hidden)")
    answers = iter([TOKEN, OTHER])
    with pytest.raises(Exception) as err:
        cli.read_value("API_TOKEN", stdin=Tty())
    assert err.value.code == "secrets.value_mismatch"
