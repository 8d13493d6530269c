"""The `.pyi` stubs of the extension agree with the built module (mypy.stubtest)."""

from __future__ import annotations

import subprocess
import sys


def test_stubs_match_the_extension() -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:
        raise AssertionError("mypy is needed to check the stubs: pip install mypy (make setup does)") from None
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "sluicegate._native", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_package_type_checks() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "-p", "sluicegate"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
