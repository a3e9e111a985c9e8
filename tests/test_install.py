"""`make install`'s modes (scripts/install_env.py): TORCH=system, offline installs from a wheelhouse,
the plan of `make wheelhouse`, the wheelhouse path of scripts/build_lmplz.sh.

No network: pip only ever sees tiny wheelhouses written here (wheels zipped by hand, an sdist
with an in-tree build backend), with --no-index, an unreachable PIP_INDEX_URL and no pip config;
the node's torch is a fake `torch` package on PYTHONPATH, as HPC modules provide theirs.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "install_env.py"
UNREACHABLE = "http://127.0.0.1:9/"
# The Makefile's install recipe before scripts/install_env.py (plus natpipe's editable install),
# VENV and the repository substituted: the default
# path must run exactly these commands.
OLD_RECIPE = [
    "python3 -m venv {venv}",
    "{venv}/bin/python -m pip install --disable-pip-version-check -q -c envs/constraints.txt -r envs/build.txt",
    "{venv}/bin/python -m pip install --disable-pip-version-check -q -c envs/constraints.txt -r envs/requirements.txt",
    "{venv}/bin/python -m pip install --disable-pip-version-check -q -c envs/constraints.txt --no-deps --no-build-isolation -r envs/fairseq.txt",
    "{venv}/bin/python -m pip install --disable-pip-version-check -q -c envs/constraints.txt --no-deps --no-build-isolation -e {repo}",
    """{venv}/bin/python -c "import natpipe.plugin, fairseq, torch; print('[natpipe] fairseq', fairseq.__version__, 'torch', torch.__version__)\"""",
]

# Writes a wheel; also the build backend of the tiny "fairseq" sdist, which records whether
# CUDA_HOME was set while it was built.
WHEEL_CODE = r'''
import base64, hashlib, os, zipfile

def write_wheel(directory, name, version, requires=(), module_code=None):
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": module_code if module_code is not None else f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: natpipe-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text.encode())}"
              for path, text in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    filename = f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return filename

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return write_wheel(wheel_directory, "natpipe-tiny-project", "1.0")

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    code = f"VERSION = '1.0'\nCUDA_HOME = {os.environ.get('CUDA_HOME')!r}\n"
    return write_wheel(wheel_directory, "natpipe-tiny-fairseq", "1.0", module_code=code)
'''
namespace: dict = {}
exec(WHEEL_CODE, namespace)
write_wheel = namespace["write_wheel"]


def write_sdist(directory: Path) -> None:
    """natpipe_tiny_fairseq-1.0.tar.gz: built by pip from source, with no setuptools needed."""
    files = {"pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "tinybackend"\nbackend-path = ["."]\n',
             "tinybackend.py": WHEEL_CODE,
             "PKG-INFO": "Metadata-Version: 2.1\nName: natpipe-tiny-fairseq\nVersion: 1.0\n"}
    source = directory / "src" / "natpipe_tiny_fairseq-1.0"
    source.mkdir(parents=True)
    for name, text in files.items():
        (source / name).write_text(text)
    with tarfile.open(directory / "natpipe_tiny_fairseq-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)


def tiny_wheelhouse(root: Path) -> Path:
    house = root / "wheelhouse"
    house.mkdir()
    write_wheel(house, "natpipe-tiny-build", "1.0")
    write_wheel(house, "natpipe-tiny-dep", "1.0")
    write_wheel(house, "natpipe-tiny-dep", "2.0")           # the constraints pick 1.0
    write_wheel(house, "natpipe-tiny-app", "1.0", requires=["natpipe-tiny-dep", "numpy>=1.20"])
    # Decoys: a TORCH=system install that asked pip for torch/numpy would get these.
    write_wheel(house, "torch", "2.13.0", module_code="DECOY = True\n")
    write_wheel(house, "numpy", "2.4.6", module_code="DECOY = True\n")
    write_sdist(house)
    return house


def requirement_files(root: Path, build: str, requirements: str, constraints: str) -> list[str]:
    files = {"constraints": constraints, "build": build, "requirements": requirements,
             "fairseq": "natpipe-tiny-fairseq==1.0\n"}
    args = []
    for flag, text in files.items():
        (root / f"{flag}.txt").write_text(text)
        args += [f"--{flag}", str(root / f"{flag}.txt")]
    project = root / "project"  # natpipe's place: an editable install, no setuptools in these venvs
    project.mkdir()
    (project / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "tinybackend"\n'
                                            'backend-path = ["."]\n')
    (project / "tinybackend.py").write_text(WHEEL_CODE)
    return args + ["--project", str(project)]


def fake_node_torch(root: Path) -> Path:
    """A module's site directory on PYTHONPATH with torch 2.5.1+cu121 and numpy 1.26.4."""
    site = root / "module-site"
    for name, version, code in (("torch", "2.5.1+cu121", "class version:\n    cuda = '12.1'\n"),
                                ("numpy", "1.26.4", "")):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text(f"__version__ = {version!r}\n{code}")
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def offline_env(root: Path, **extra: str) -> dict:
    """No pip config, no PIP_* of this machine, an index URL nobody listens on."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PIP_") and key not in ("PYTHONPATH", "CUDA_HOME", "VIRTUAL_ENV")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=UNREACHABLE, PIP_EXTRA_INDEX_URL=UNREACHABLE,
               PIP_RETRIES="0", PIP_TIMEOUT="2", PIP_CACHE_DIR=str(root / "pip-cache"))
    env.update(extra)
    return env


def base_python() -> str:
    """The interpreter under the test venv (a plain python3, like a module's)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def install_env(*args: str, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def commands(plan: str) -> list[list[str]]:
    return [shlex.split(line) for line in plan.splitlines() if line.strip() and not line.startswith(("#", "["))]


def venv_json(venv: Path, code: str, env: dict) -> dict:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def pins(*names: str) -> set[str]:
    out = set()
    for name in names:
        for line in (REPO / "envs" / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                out.add(line)
    return out


# --- TORCH=system refuses without a torch ------------------------------------------------------

def test_system_torch_refuses_without_torch(tmp_path):
    # A torch that fails to import shadows any real one: the interpreter "cannot import torch".
    (tmp_path / "no-torch" / "torch").mkdir(parents=True)
    (tmp_path / "no-torch" / "torch" / "__init__.py").write_text("raise ImportError('no torch on this node')\n")
    venv = tmp_path / "venv"
    python = base_python()
    result = subprocess.run(["make", "--no-print-directory", "install", "TORCH=system",
                             f"PYTHON={python}", f"VENV={venv}"], cwd=REPO,
                            env=offline_env(tmp_path, PYTHONPATH=str(tmp_path / "no-torch")),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("[natpipe] error")]
    assert len(errors) == 1, result.stdout + result.stderr
    line = errors[0]
    assert "cannot import torch" in line and python in line and "TORCH=system" in line
    assert "module load" in line and "conda activate" in line and "without TORCH=system" in line
    assert not venv.exists()


def test_switching_torch_mode_of_an_existing_venv_is_refused(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    site = fake_node_torch(tmp_path)
    result = install_env("install", "--torch", "system", "--venv", str(venv), "--python", base_python(),
                         env=offline_env(tmp_path, PYTHONPATH=str(site)))
    assert result.returncode != 0
    assert "built with the pinned torch" in result.stderr and f"rm -rf {venv}" in result.stderr
    (venv / ".natpipe-torch-system").write_text("torch\n")
    result = install_env("install", "--venv", str(venv), env=offline_env(tmp_path))
    assert result.returncode != 0 and "built with TORCH=system" in result.stderr
    # make keeps a TORCH=system venv in that mode: `make test` does not ask for the CPU torch.
    dry = subprocess.run(["make", "-n", "--no-print-directory", "install", f"VENV={venv}"], cwd=REPO,
                         env=offline_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert "--torch system" in dry.stdout, dry.stdout + dry.stderr


# --- plans ---------------------------------------------------------------------------------------

def test_default_plan_is_the_old_recipe(tmp_path):
    venv = tmp_path / "venv"
    result = install_env("install", "--plan", "--venv", str(venv), "--python", "python3",
                         env=offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [shlex.split(line.format(venv=venv, repo=REPO)) for line in OLD_RECIPE]
    assert not venv.exists()
    # A GPU node's CUDA_HOME is removed for the fairseq build only, unless FAIRSEQ_CUDA=1.
    with_cuda = install_env("install", "--plan", "--venv", str(venv), "--python", "python3",
                            env=offline_env(tmp_path, CUDA_HOME="/usr/local/cuda"))
    steps = commands(with_cuda.stdout)
    assert steps[3][:3] == ["env", "-u", "CUDA_HOME"] and steps[3][3:] == commands(result.stdout)[3]
    assert all(step[0] != "env" for step in steps[:3] + steps[4:])
    keep = install_env("install", "--plan", "--fairseq-cuda", "--venv", str(venv), "--python", "python3",
                       env=offline_env(tmp_path, CUDA_HOME="/usr/local/cuda"))
    assert commands(keep.stdout) == commands(result.stdout)


def test_make_passes_the_install_options(tmp_path):
    venv = tmp_path / "venv"

    def dry(*variables: str) -> str:
        result = subprocess.run(["make", "-n", "--no-print-directory", "install", f"VENV={venv}", *variables],
                                cwd=REPO, env=offline_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    default = dry()
    assert f"python3 scripts/install_env.py install --venv {venv} --python python3 --torch pinned\n" in default
    assert f"\nPYTHON={venv}/bin/python bash scripts/build_lmplz.sh --force {venv}/bin\n" in default
    offline = dry("TORCH=system", "WHEELHOUSE=wh", "FAIRSEQ_CUDA=1")
    assert f"--torch system --wheelhouse wh --fairseq-cuda\n" in offline
    assert f"NATPIPE_WHEELHOUSE={REPO}/wh PYTHON={venv}/bin/python bash scripts/build_lmplz.sh" in offline


def test_system_plan_never_installs_torch_or_numpy(tmp_path):
    venv = tmp_path / "venv"
    site = fake_node_torch(tmp_path)
    result = install_env("install", "--plan", "--torch", "system", "--venv", str(venv), "--python", base_python(),
                         "--wheelhouse", str(tmp_path / "wh"),
                         env=offline_env(tmp_path, PYTHONPATH=str(site), CUDA_HOME="/usr/local/cuda"))
    assert result.returncode == 0, result.stderr
    steps = commands(result.stdout)
    assert steps[0] == [base_python(), "-m", "venv", "--system-site-packages", str(venv)]
    installs = [step for step in steps if "pip" in step and "install" in step]
    assert len(installs) == 4 and installs[3][-2:] == ["-e", str(REPO)]  # build, pins, fairseq, natpipe
    constraints = str(venv / "natpipe-system-constraints.txt")
    for step in installs:
        assert not {"-U", "--upgrade", "--force-reinstall", "--ignore-installed"} & set(step)
        assert [arg for arg in step if re.match(r"(torch|numpy)\b", arg, re.I)] == []
        assert step[step.index("-c") + 1] == constraints
        assert "--no-index" in step and step[step.index("--find-links") + 1] == str(tmp_path / "wh")
        for index, arg in enumerate(step):
            if arg == "-r":
                text = (REPO / step[index + 1]).read_text()
                assert not re.search(r"^\s*(torch|numpy)\b", text, re.M | re.I), step[index + 1]
    assert "--no-binary" in installs[2] and installs[2][:3] == ["env", "-u", "CUDA_HOME"]
    # The constraints keep every other pin and hold torch/numpy to the versions found.
    written = [line[len("#   "):] for line in result.stdout.splitlines() if line.startswith("#   ")]
    held = [line for line in written if re.match(r"(torch|numpy)\b", line)]
    assert held == ["torch==2.5.1+cu121", "numpy==1.26.4"]
    others = {line for line in written if line and not line.startswith("#")} - set(held)
    assert others == {pin for pin in pins("constraints.txt") if not re.match(r"(torch|numpy)\b", pin)}
    assert not venv.exists()


def test_wheelhouse_plan_lists_every_pin_but_torch(tmp_path):
    dest = tmp_path / "wh"
    result = install_env("wheelhouse", "--plan", "--python-version", "3.12", "--dest", str(dest),
                         "--platform", "manylinux_2_28_x86_64", env=offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    download = next(step for step in commands(result.stdout) if step[1:4] == ["-m", "pip", "download"])
    for option in ("--only-binary=:all:", "--python-version 3.12", "--implementation cp",
                   "--platform manylinux_2_28_x86_64", "--platform manylinux2014_x86_64"):
        assert option in shlex.join(download), option
    wheels = {arg for arg in download if "==" in arg}
    sdists = set(re.findall(r"^# sdist (\S+)", result.stdout, re.M))
    expected = {pin for pin in pins("build.txt", "requirements.txt", "fairseq.txt")
                if not pin.lower().startswith("torch==")}
    assert wheels | sdists == expected
    assert {pin.split("==")[0] for pin in sdists} == {"fairseq-fixed", "kenlm"}
    assert not [pin for pin in wheels | sdists if pin.lower().startswith("torch")]
    assert not dest.exists()


# --- real offline installs -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline_install(tmp_path_factory):
    """`install --wheelhouse` of the tiny set into a new venv, a CUDA_HOME in the environment."""
    root = tmp_path_factory.mktemp("offline")
    house = tiny_wheelhouse(root)
    files = requirement_files(root, build="natpipe-tiny-build==1.0\n", requirements="natpipe-tiny-app==1.0\n",
                              constraints="natpipe-tiny-dep==1.0\n")
    env = offline_env(root, CUDA_HOME="/opt/fake-cuda")
    venv = root / "venv"
    result = install_env("install", "--venv", str(venv), "--python", base_python(), "--wheelhouse", str(house),
                         *files, "--check", "import natpipe_tiny_app, natpipe_tiny_fairseq, natpipe_tiny_project", env=env)
    return root, house, venv, env, result


def test_offline_install_from_a_wheelhouse(offline_install):
    root, house, venv, env, result = offline_install
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "127.0.0.1" not in output
    found = venv_json(venv, "import json, natpipe_tiny_build, natpipe_tiny_app, natpipe_tiny_dep, natpipe_tiny_fairseq as f;"
                            "print(json.dumps([natpipe_tiny_dep.VERSION, f.VERSION, f.CUDA_HOME]))", env)
    # The constraints were applied; fairseq was built from its sdist, CUDA_HOME unset meanwhile.
    assert found == ["1.0", "1.0", None]


def test_offline_install_names_a_package_missing_from_the_wheelhouse(offline_install):
    root, house, venv, env, _ = offline_install
    (root / "missing.txt").write_text("natpipe-tiny-app==1.0\nnatpipe-tiny-missing==1.0\n")
    result = install_env("install", "--venv", str(venv), "--python", base_python(), "--wheelhouse", str(house),
                         "--constraints", str(root / "constraints.txt"), "--build", str(root / "build.txt"),
                         "--requirements", str(root / "missing.txt"), "--fairseq", str(root / "fairseq.txt"),
                         env=env)
    assert result.returncode != 0
    assert "127.0.0.1" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("[natpipe] error: natpipe-tiny-missing==1.0 is not in the wheelhouse"), last
    assert "no registry was asked" in last and "make wheelhouse" in last


def test_offline_install_checks_the_wheelhouse_python(tmp_path):
    house = tmp_path / "wh"
    house.mkdir()
    (house / "natpipe-wheelhouse.json").write_text('{"python_version": "2.7"}')
    result = install_env("install", "--venv", str(tmp_path / "venv"), "--wheelhouse", str(house),
                         env=offline_env(tmp_path))
    assert result.returncode != 0 and "is for Python 2.7" in result.stderr
    assert "make wheelhouse PY=%d.%d" % sys.version_info[:2] in result.stderr
    assert not (tmp_path / "venv").exists()


def test_system_torch_install_keeps_the_module_torch(tmp_path):
    house = tiny_wheelhouse(tmp_path)
    site = fake_node_torch(tmp_path)
    # torch/numpy pins as in envs/: with the node's torch they must not apply.
    files = requirement_files(tmp_path, build="torch==2.13.0\nnumpy==2.4.6\nnatpipe-tiny-build==1.0\n",
                              requirements="natpipe-tiny-app==1.0\n",
                              constraints="torch==2.13.0\nnumpy==2.4.6\nnatpipe-tiny-dep==1.0\n")
    env = offline_env(tmp_path, PYTHONPATH=str(site), CUDA_HOME="/opt/fake-cuda")
    venv = tmp_path / "venv"
    result = install_env("install", "--torch", "system", "--venv", str(venv), "--python", base_python(),
                         "--wheelhouse", str(house), *files,
                         "--check", "import torch, natpipe_tiny_app, natpipe_tiny_fairseq", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "127.0.0.1" not in output
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert (venv / ".natpipe-torch-system").exists()
    found = venv_json(venv, "import json, torch, numpy, natpipe_tiny_dep, natpipe_tiny_fairseq as f;"
                            "print(json.dumps([torch.__file__, torch.__version__, numpy.__file__,"
                            " natpipe_tiny_dep.VERSION, f.CUDA_HOME]))", env)
    assert found == [str(site / "torch" / "__init__.py"), "2.5.1+cu121", str(site / "numpy" / "__init__.py"),
                     "1.0", None]
    installed = {path.name.split("-")[0].lower() for path in venv.glob("lib/python*/site-packages/*.dist-info")}
    assert not installed & {"torch", "numpy"}
    assert {"natpipe_tiny_build", "natpipe_tiny_app", "natpipe_tiny_dep", "natpipe_tiny_fairseq"} <= installed
    # Without the module (no PYTHONPATH) the venv has no torch: it is the module's, not a copy.
    bare = dict(env)
    bare.pop("PYTHONPATH")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch; print(torch.__file__)"],
                           env=bare, capture_output=True, text=True)
    assert probe.returncode != 0 or not probe.stdout.startswith(str(venv))


# --- lmplz from the wheelhouse -------------------------------------------------------------------

def test_build_lmplz_takes_kenlm_from_the_wheelhouse(tmp_path):
    """scripts/build_lmplz.sh with NATPIPE_WHEELHOUSE: no pip download, the sdist found there (a
    stand-in whose CMakeLists builds two trivial programs)."""
    version = re.search(r"^kenlm==(\S+)", (REPO / "envs" / "requirements.txt").read_text(), re.M).group(1)
    source = tmp_path / "src" / f"kenlm-{version}"
    source.mkdir(parents=True)
    (source / "main.cc").write_text("int main() { return 0; }\n")
    (source / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.10)\nproject(fake CXX)\n"
                                           "add_executable(lmplz main.cc)\nadd_executable(build_binary main.cc)\n")
    house = tmp_path / "wh"
    house.mkdir()
    with tarfile.open(house / f"kenlm-{version}.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)
    env = offline_env(tmp_path, NATPIPE_WHEELHOUSE=str(house), PYTHON="/nonexistent/python")
    result = subprocess.run(["bash", str(REPO / "scripts" / "build_lmplz.sh"), "--force", str(tmp_path / "bin")],
                            env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "Debian packages" in result.stderr:
        pytest.skip(f"KenLM's build dependencies are missing here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert "wheelhouse; no download" in result.stderr
    assert (tmp_path / "bin" / "lmplz").exists() and (tmp_path / "bin" / "build_binary").exists()
    (house / f"kenlm-{version}.tar.gz").unlink()
    result = subprocess.run(["bash", str(REPO / "scripts" / "build_lmplz.sh"), "--force", str(tmp_path / "bin")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and f"no kenlm-{version}.tar.gz in the wheelhouse" in result.stderr
