"""Shared test setup: the scripts directory is importable, and helpers to run the workflow."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))


def snakemake(*args, cwd=REPO, timeout=600, check=False) -> subprocess.CompletedProcess:
    """Run the workflow's snakemake (the one next to this interpreter) and capture its output."""
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([str(exe), "--snakefile", str(REPO / "Snakefile"), *map(str, args)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def repo() -> Path:
    return REPO
