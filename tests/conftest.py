"""Shared test setup: the scripts directory is importable, and helpers to run the workflow and to
serve its downloads."""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))


def snakemake(*args, cwd=REPO, timeout=600, check=False, env=None) -> subprocess.CompletedProcess:
    """Run the workflow's snakemake (the one next to this interpreter) and capture its output;
    `env` replaces the environment (the venv still comes first on PATH)."""
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([str(exe), "--snakefile", str(REPO / "Snakefile"), *map(str, args)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@contextlib.contextmanager
def serve_directory(root):
    """Serve the files under `root` over HTTP on 127.0.0.1 (a free port) from a daemon thread, so
    that downloads are tested through a real server; yields the base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SCENARIO_KEY = pytest.StashKey()


def pytest_configure(config):
    config.addinivalue_line("markers", "slurm: runs jobs on the local SLURM cluster of scripts/slurm_local.sh")


def pytest_collection_modifyitems(config, items):
    """The SLURM tests last: they wait on the background scenario, which thus has the whole run."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)


def pytest_collection_finish(session):
    """Start the SLURM scenario (tests/slurm_scenario.py) as soon as its tests are selected: it waits
    mostly on the scheduler, so the rest of the suite runs meanwhile."""
    if not session.config.option.collectonly and any(item.get_closest_marker("slurm") for item in session.items):
        from slurm_scenario import Scenario

        scenario = Scenario(Path(tempfile.mkdtemp(prefix="natpipe-slurm-work-")))
        session.config.stash[SCENARIO_KEY] = scenario
        scenario.start()


def pytest_terminal_summary(terminalreporter):
    scenario = terminalreporter.config.stash.get(SCENARIO_KEY, None)
    if scenario is not None:
        terminalreporter.write_line(f"[slurm] {scenario.summary()}")


def pytest_sessionfinish(session, exitstatus):
    """Stop every daemon the scenario started (by PID); keep its files only when a test failed."""
    scenario = session.config.stash.get(SCENARIO_KEY, None)
    if scenario is None:
        return
    stopped = scenario.stop()
    if stopped["left"] or stopped["returncode"] != 0:
        print(f"\n[slurm] stopping the local cluster failed: {stopped}", file=sys.stderr)
        session.exitstatus = 1
    if session.testsfailed:
        print(f"\n[slurm] scenario files kept in {scenario.root}", file=sys.stderr)
    else:
        shutil.rmtree(scenario.root, ignore_errors=True)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole tiny DAG, run locally once per session: tests/test_e2e.py checks it, and
    tests/test_slurm.py compares the scheduler's outputs with it."""
    import hashlib

    from tiny_workflow import write_tiny_config, write_tiny_xlmr

    work = tmp_path_factory.mktemp("e2e")
    archive = write_tiny_xlmr(work)
    with serve_directory(archive.parent) as url:  # XLM-D's checkpoint comes through the download rule
        config = write_tiny_config(work, f"{url}/{archive.name}", hashlib.sha256(archive.read_bytes()).hexdigest())
        # ≈ 9 min alone on 2 cores (80 jobs, 3 of them speed jobs); the margin is for a busy machine
        result = snakemake("--directory", work, "--configfile", config, "--cores", "2", timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work
