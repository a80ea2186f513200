"""Static validation runs on worker threads in the workstation: parallel runs must give the same answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ade_engine.packages.validation import validate_static


def test_parallel_static_validation_is_safe(sample_configs):
    packages = [sample_configs / "member_roster", sample_configs / "payroll_remittance"] * 8
    expected = {p: [d.to_dict() for d in validate_static(p)] for p in set(packages)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            results = list(pool.map(lambda p: (p, [d.to_dict() for d in validate_static(p)]), packages))
            for pkg, diags in results:
                assert diags == expected[pkg]
