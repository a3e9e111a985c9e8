"""Helpers shared by the pipeline CLIs: atomic output, strict text reading, one-line errors.

Every script writes through `atomic_output` so that a failed or killed step never leaves a
file that Snakemake (or a person) could mistake for a complete result.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from natpipe.errors import PipelineError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file handle whose content replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path` for tools that write files themselves (or a whole
    directory, which replaces an existing one at `path`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():  # os.replace cannot replace a non-empty directory
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_output(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def read_lines(path: str | os.PathLike, max_chars: int | None = None,
               allow_empty: bool = True) -> list[str]:
    """Read a text file as lines, strictly: invalid UTF-8, empty or over-long lines are errors
    naming the file and the 1-based line number."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    lines = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise PipelineError(f"{path}:{number}: invalid UTF-8 ({err.reason} at byte {err.start})") from None
            line = line.rstrip("\n").rstrip("\r")
            check_line(path, number, line, max_chars, allow_empty)
            lines.append(line)
    return lines


def check_line(path, number: int, line: str, max_chars: int | None, allow_empty: bool) -> None:
    if not allow_empty and not line.strip():
        raise PipelineError(f"{path}:{number}: empty line")
    if max_chars is not None and len(line) > max_chars:
        raise PipelineError(f"{path}:{number}: line of {len(line)} characters exceeds the limit of "
                            f"{max_chars} (preprocess.max_line_chars)")


def write_lines(path: str | os.PathLike, lines) -> int:
    count = 0
    with atomic_output(path) as handle:
        for line in lines:
            handle.write(line + "\n")
            count += 1
    return count


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def progress(items, label: str, every: int = 100_000):
    """Pass items through, printing a count to stderr every `every` items (long corpus steps)."""
    count = 0
    for count, item in enumerate(items, start=1):
        if count % every == 0:
            print(f"{label}: {count:,} lines", file=sys.stderr, flush=True)
        yield item
    print(f"{label}: {count:,} lines done", file=sys.stderr, flush=True)


def check_checkpoint(path: str | os.PathLike, remedy: str | None = None) -> None:
    """Fail with one line naming a missing, truncated or corrupted checkpoint, before fairseq fails
    deep inside unpickling. torch's zip format stores a CRC per member, so a bit flip is caught too;
    legacy pickle files (first byte 0x80) are let through unchecked. The default remedy forces the
    file's rule: Snakemake does not rebuild an intermediate file whose dependants look up to date."""
    path = Path(path)
    remedy = remedy or f"rebuild it and what depends on it with: snakemake --forcerun {path}"
    if not path.is_file():
        raise PipelineError(f"{path}: checkpoint not found")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic[:1] == b"\x80":
        return
    if magic != b"PK":
        raise PipelineError(f"{path}: not a torch checkpoint (corrupted or truncated); {remedy}")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise PipelineError(f"{path}: corrupted or truncated checkpoint ({err}); {remedy}") from None
    if damaged is not None:
        raise PipelineError(f"{path}: corrupted checkpoint (member {damaged} fails its CRC check); {remedy}")


def usable_gpus(requested: int, cpu_fallback: bool = False) -> int:
    """The GPUs a job can drive: those it asked for, which torch must see. A GPU job whose torch
    cannot use the GPUs it was granted (a CPU build of torch on a GPU node: a common install
    mistake) fails at once rather than training on the CPU for weeks; `cpu_fallback`
    (compute.cpu_fallback, e.g. the local test cluster's fake GPUs) runs it on what torch sees."""
    if requested <= 0:
        return 0
    import torch

    visible = torch.cuda.device_count()
    if visible >= requested:
        return requested
    seen = (f"{requested} GPU(s) requested but torch {torch.__version__} (CUDA {torch.version.cuda}) sees "
            f"{visible} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    if not cpu_fallback:
        raise PipelineError(f"{seen}: install a CUDA build of torch on the node (README: Running on a GPU cluster), "
                            "or set compute.cpu_fallback: true to run such jobs on what torch sees")
    print(f"[natpipe] warning: {seen}; compute.cpu_fallback: running on "
          f"{f'{visible} GPU(s)' if visible else 'the CPU'}", file=sys.stderr, flush=True)
    return visible


def job_environment(requested_gpus: int, gpus: int) -> dict:
    """Where a job ran, for its provenance JSON: the SLURM job (if any) and the devices it got."""
    return {"slurm_job_id": os.environ.get("SLURM_JOB_ID"), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpus_requested": requested_gpus, "gpus": gpus}


def run_main(main) -> None:
    """Run a CLI entry point, turning PipelineError into one stderr line and exit status 1."""
    try:
        main()
    except PipelineError as err:  # a config mistake (natpipe.errors.ConfigError) too
        prog = Path(sys.argv[0]).name
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(1)
