"""The index of the 29 named reliability and security checks: where each one is tested.

Each check is a test in `tests/security/` named after it, or an existing test (or a few, when the check is
split across them) named here. `NOT_YET` holds the checks with no test so far and what is missing. The tests
below keep the index true: every named test exists (read with `ast`, nothing imported or run), every check is
indexed exactly once, and a check listed as `NOT_YET` whose test has appeared must move to `CHECKS`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

# The names, in the order of the checks' list (1-29).
NAMED_CHECKS = (
    # crash, restart and concurrency
    "test_job_process_sigkill_mid_write",
    "test_engine_sigkill_then_restart_reaps",
    "test_stale_worker_cannot_finalize",
    "test_reaper_does_not_kill_recycled_pid",
    "test_concurrent_claim_no_duplicates",
    "test_sqlite_write_path_uses_begin_immediate",
    "test_db_busy_beyond_timeout_is_reported",
    "test_sigkill_during_db_transaction",
    # limits and cancellation
    "test_timeout_kills_group",
    "test_cancel_escalates_and_contains_escapees",
    "test_memory_limit",
    "test_cpu_limit",
    "test_file_size_and_fd_limits",
    "test_fork_bomb_bounded",
    "test_log_flood_capped",
    # isolation
    "test_network_off_blocks_tcp_udp_unix",
    "test_filesystem_confinement",
    "test_no_cross_process_snooping",
    "test_sandbox_degradation_is_loud",
    # secrets
    "test_env_scrubbed_and_only_requested_secrets",
    "test_secret_redaction_everywhere",
    "test_keyring_backend_selection",
    "test_key_file_permissions_enforced",
    "test_rotation_crash_safe",
    # hostile and malformed input
    "test_xml_entity_attacks",
    "test_zip_bomb_rejected_before_parse",
    "test_not_a_workbook",
    "test_csv_encodings_and_shapes",
    "test_no_formula_injection_in_output",
)

# check name -> "tests/<file>.py::<test>" (or a tuple of them when the check is split across tests).
CHECKS: dict[str, str | tuple[str, ...]] = {
    "test_job_process_sigkill_mid_write": (
        "tests/jobs/test_job_cancel_crash.py::test_kill_9_of_the_job_mid_write_exposes_no_output",
        "tests/test_bootstrap.py::test_kill_9_mid_write_never_exposes_the_output",
    ),
    "test_engine_sigkill_then_restart_reaps": (
        "tests/security/test_limits.py::test_a_killed_worker_leaves_nothing_of_its_job_once_recovered",
        "tests/jobs/test_job_cancel_crash.py::test_kill_9_of_the_worker_then_another_worker_recovers_the_job",
        "tests/jobs/test_job_cancel_crash.py::test_worker_recovers_a_local_orphan_by_killing_its_group",
        "tests/test_bootstrap.py::test_lifeline_ends_the_job_when_the_parent_dies",
    ),
    "test_stale_worker_cannot_finalize": "tests/security/test_queue_faults.py::test_stale_worker_cannot_finalize",
    "test_reaper_does_not_kill_recycled_pid": "tests/security/test_queue_faults.py::test_reaper_does_not_kill_recycled_pid",
    # partial: SQLite only (4 worker processes, 300 jobs); no PostgreSQL server to run it against here
    "test_concurrent_claim_no_duplicates": (
        "tests/security/test_queue_faults.py::test_concurrent_claim_no_duplicates",
        "tests/jobs/test_job_claims.py::test_two_worker_processes_claim_200_jobs_without_duplicates",
    ),
    "test_sqlite_write_path_uses_begin_immediate":
        "tests/security/test_queue_faults.py::test_sqlite_write_path_uses_begin_immediate",
    "test_db_busy_beyond_timeout_is_reported":
        "tests/security/test_queue_faults.py::test_db_busy_beyond_timeout_is_reported",
    "test_sigkill_during_db_transaction": "tests/security/test_queue_faults.py::test_sigkill_during_db_transaction",
    "test_timeout_kills_group": (
        "tests/security/test_limits.py::test_timeout_kills_group",
        "tests/test_launcher.py::test_wall_clock_timeout_terminates_the_group",
        "tests/jobs/test_job_cancel_crash.py::test_timeout_kills_a_job_that_ignores_sigterm",
    ),
    "test_cancel_escalates_and_contains_escapees": (
        "tests/security/test_limits.py::test_cancel_escalates_and_contains_escapees",
        "tests/test_launcher.py::test_cancel_kills_a_child_that_ignores_sigterm_and_its_grandchild",
        "tests/test_launcher.py::test_grandchild_holding_the_pipes_does_not_hang_the_parent",
        "tests/test_job_user.py::test_a_child_that_tries_setsid_does_not_outlive_cancel",
    ),
    "test_memory_limit": (
        "tests/security/test_limits.py::test_memory_limit",
        "tests/test_bootstrap.py::test_memory_error_under_rlimit_as_is_memory_limit",
        "tests/test_launcher.py::test_rss_watchdog_kills_a_job_over_its_memory",
        "tests/test_job_user.py::test_memory_and_file_size_limits_apply_in_the_job",
    ),
    "test_cpu_limit": (
        "tests/security/test_limits.py::test_cpu_limit",
        "tests/test_bootstrap.py::test_cpu_limit_from_sigxcpu",
        "tests/test_job_user.py::test_cpu_limit_ends_the_job_with_cpu_limit",
    ),
    "test_fork_bomb_bounded": "tests/security/test_limits.py::test_fork_bomb_bounded",
    "test_file_size_and_fd_limits": (
        "tests/security/test_limits.py::test_file_size_and_fd_limits",
        "tests/test_bootstrap.py::test_file_size_limit_is_efbig_not_a_signal",
        "tests/test_job_user.py::test_memory_and_file_size_limits_apply_in_the_job",
        "tests/test_job_user.py::test_open_file_limit_applies_in_the_job",
    ),
    "test_log_flood_capped": (
        "tests/test_job_user.py::test_log_flood_is_capped",
        "tests/jobs/test_job_cancel_crash.py::test_log_flood_is_capped",
        "tests/test_launcher.py::test_worker_log_is_capped",
    ),
    "test_network_off_blocks_tcp_udp_unix": (
        "tests/security/test_isolation_checks.py::test_network_off_blocks_tcp_udp_unix",
        "tests/test_confine.py::test_standard_blocks_every_socket_family_while_network_is_off",
    ),
    "test_filesystem_confinement": (
        "tests/security/test_isolation_checks.py::test_filesystem_confinement",
        "tests/test_sandbox_probe.py::test_strict_job_sees_only_its_job_dir_and_cannot_change_its_package",
    ),
    "test_no_cross_process_snooping": "tests/security/test_isolation_checks.py::test_no_cross_process_snooping",
    # partial: a failing bubblewrap only (Landlock missing and Darwin are probe-level tests); no warning names the
    # missing layer on the job itself (level and missing layers are recorded; `ade doctor` gives the fix)
    "test_sandbox_degradation_is_loud": (
        "tests/security/test_isolation_checks.py::test_sandbox_degradation_is_loud",
        "tests/test_sandbox_probe.py::test_a_named_level_that_is_not_available_fails_with_the_fix",
        "tests/test_sandbox_probe.py::test_without_seccomp_only_reduced_is_left",
    ),
    "test_env_scrubbed_and_only_requested_secrets": (
        "tests/security/test_secret_checks.py::test_env_scrubbed_and_only_requested_secrets",
        "tests/test_launcher.py::test_child_sees_only_the_scrubbed_environment",
        "tests/test_launcher.py::test_secret_goes_over_stdin_and_is_redacted_in_the_log",
    ),
    "test_secret_redaction_everywhere": (
        "tests/secrets_service/test_secret_injection_leaks.py::"
        "test_requested_secret_reaches_the_scripts_and_never_lands_on_disk",
        "tests/secrets_service/test_secret_injection_leaks.py::"
        "test_a_job_failing_with_the_secret_in_its_error_keeps_it_out_of_the_record",
    ),
    "test_keyring_backend_selection": "tests/security/test_secret_checks.py::test_keyring_backend_selection",
    "test_key_file_permissions_enforced": (
        "tests/secrets/test_secret_keys.py::test_key_file_created_on_first_use_private_and_reused",
        "tests/secrets/test_secret_keys.py::test_loose_key_file_is_refused_with_the_fix",
        "tests/secrets/test_secret_keys.py::test_loose_key_directory_is_refused_with_the_fix",
        "tests/secrets/test_secret_keys.py::test_key_file_owned_by_someone_else_is_refused",
        "tests/secrets_service/test_secret_service_keys.py::test_loose_key_file_permissions_are_refused_with_the_fix",
    ),
    "test_rotation_crash_safe": (
        "tests/security/test_secret_checks.py::test_rotation_crash_safe",
        "tests/secrets/test_secret_rotation.py::test_crash_midway_leaves_everything_decryptable_and_a_rerun_finishes",
        "tests/secrets_service/test_secret_service_store.py::test_tampered_ciphertext_fails_the_job_and_is_audited",
    ),
    "test_xml_entity_attacks": "tests/security/test_input_reading.py::test_xml_entity_attacks",
    "test_zip_bomb_rejected_before_parse": "tests/security/test_input_reading.py::test_zip_bomb_rejected_before_parse",
    "test_not_a_workbook": "tests/security/test_input_reading.py::test_not_a_workbook",
    "test_csv_encodings_and_shapes": "tests/security/test_input_reading.py::test_csv_encodings_and_shapes",
    "test_no_formula_injection_in_output": (
        "tests/security/test_input_reading.py::test_no_formula_injection_in_output",
        "tests/test_writer.py::test_formula_like_strings_are_literal_text",
    ),
}

# check name -> what is missing. A check leaves this table when its test exists (and is named in CHECKS).
NOT_YET: dict[str, str] = {
}


def _test_names(path: Path) -> dict[str, int]:
    """Test function names defined in a test file (module level or in a Test* class) -> how often."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, int] = {}

    def visit(body):
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                found[node.name] = found.get(node.name, 0) + 1
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                visit(node.body)

    visit(tree.body)
    return found


def _refs(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def test_every_named_check_is_indexed_once():
    assert len(NAMED_CHECKS) == 29 and len(set(NAMED_CHECKS)) == 29
    both = set(CHECKS) & set(NOT_YET)
    assert not both, f"listed both as tested and as not yet tested: {sorted(both)}"
    unknown = (set(CHECKS) | set(NOT_YET)) - set(NAMED_CHECKS)
    assert not unknown, f"not one of the 29 named checks (a typo?): {sorted(unknown)}"
    absent = [name for name in NAMED_CHECKS if name not in CHECKS and name not in NOT_YET]
    assert not absent, f"named checks missing from the index: {absent}"


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_every_indexed_test_exists(check):
    for ref in _refs(CHECKS[check]):
        file, sep, name = ref.partition("::")
        assert sep and name and "::" not in name and "[" not in name, f"{check}: write '<file>::<test>', not {ref!r}"
        path = REPO / file
        assert path.is_file() and path.name.startswith("test_") and path.suffix == ".py", (
            f"{check}: {file} is not a test file of the suite")
        count = _test_names(path).get(name, 0)
        assert count == 1, (f"{check}: {ref} " + ("does not exist (renamed? update CHECKS in this file)"
                                                  if count == 0 else f"is defined {count} times; pytest runs the last"))


def test_a_check_not_yet_tested_has_no_test_of_its_name():
    """When a test named after a check appears, the check moves from NOT_YET to CHECKS."""
    named = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        for name in _test_names(path):
            named.setdefault(name, []).append(path.relative_to(REPO).as_posix())
    arrived = {check: named[check] for check in NOT_YET if check in named}
    assert not arrived, ("these checks have a test now: move them from NOT_YET to CHECKS in "
                         f"tests/security/test_named_checks.py: {arrived}")

