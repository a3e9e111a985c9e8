#!/usr/bin/env python3
"""Fetch corpus archives and extract parallel text from them (used by Snakemake rules).

Downloads are checksum-verified, resumable and atomic, so a killed or flaky job never
leaves a plausible-looking but truncated archive behind.  Extraction reads exactly one
member, refuses unsafe archives (path traversal, escaping links) and decodes strictly,
so corpus corruption fails loudly instead of silently misaligning parallel data.
Unpacking a pretrained model's archive writes all of its files or none.

  download.py fetch   --url U --sha256 H --out PATH [--mirror M]
  download.py extract --archive A [--member M] --format {text,sgm,tags,xml} --out PATH
  download.py unpack-pretrained --archive A --format {fairseq,huggingface} --out-dir DIR
"""
import argparse
import contextlib
import fnmatch
import gzip
import hashlib
import html
import http.client
import os
import posixpath
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from common import atomic_output, sha256_file

TIMEOUT = 60  # seconds per socket operation; a stalled server becomes a retry, not a hang
BACKOFF = 2.0  # seconds before the first retry, doubled each time
FORMATS = ("text", "sgm", "tags", "xml")
# the files of a pretrained model's archive, by layout (fairseq's xlmr.*.tar.gz: one top directory;
# huggingface: a tar of the Hub's files, converted to fairseq's on unpacking)
PRETRAINED_FILES = ("model.pt", "dict.txt", "sentencepiece.bpe.model")
PRETRAINED_FORMATS = {"fairseq": PRETRAINED_FILES,
                      "huggingface": ("config.json", "model.safetensors", "sentencepiece.bpe.model")}
SEG_RE = re.compile(r"<seg(?:\s[^>]*)?>(.*?)</seg\s*>", re.S | re.I)


class DownloadError(Exception):
    """A download failed for good (network, HTTP status or checksum)."""


class ExtractError(Exception):
    """A member could not be selected or decoded."""


class UnsafeArchiveError(ExtractError):
    """An archive contains a member that could write outside the extraction root."""


def _warn(msg):
    print(f"download.py: {msg}", file=sys.stderr, flush=True)


def _transfer(src, part, chunk):
    """One HTTP(S)/file request; appends to `part` when the server honours Range."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(src, headers={"User-Agent": "natpipe-download/1"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # part already holds the whole file (or is stale): restart
            os.remove(part)
            raise ConnectionError("server rejected resume range; restarting") from e
        raise
    with resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range") or "")
        if getattr(resp, "status", None) == 206:
            if not (have and m and int(m.group(1)) == have):  # not the range we asked for
                os.remove(part)
                raise ConnectionError(f"unexpected Content-Range {m and m.group(0)!r}")
            mode, size = "ab", (int(m.group(2)) if m.group(2) != "*" else None)
        else:  # no range support (200, file://): start over
            mode, size, have = "wb", total, 0
        if have:
            _warn(f"resuming {src} at byte {have}")
        # progress every ~5% (>= 1 MiB apart), or every 10 MiB if the size is unknown;
        # nothing at all for files under 1 MiB
        step = max(size // 20, 1 << 20) if size else 10 << 20
        quiet, nxt, done = size is not None and size < (1 << 20), have + step, have
        with open(part, mode) as f:
            for buf in iter(lambda: resp.read(chunk), b""):
                f.write(buf)
                done += len(buf)
                if not quiet and (done >= nxt or done == size):
                    nxt = done + step
                    of = f" / {size / 1e6:.1f} MB ({100 * done // size}%)" if size else ""
                    _warn(f"{src}: {done / 1e6:.1f} MB{of}")
        if size is not None and done < size:  # urllib returns b"" on early EOF
            raise http.client.IncompleteRead(b"", size - done)


def fetch(url, sha256, dest, mirror=None, retries=3, chunk=1 << 20):
    """Download `url` to `dest` atomically, resuming `dest.part` and verifying sha256.

    `mirror` is a local directory or a base URL holding the same basename as `url`.
    Returns `dest`; does nothing if `dest` already exists with the expected hash."""
    sha256 = sha256.lower() if sha256 else None
    if sha256 and os.path.isfile(dest) and sha256_file(dest) == sha256:
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    name = posixpath.basename(urllib.parse.urlparse(url).path)
    if mirror and os.path.isdir(mirror):
        src = os.path.join(mirror, urllib.parse.unquote(name))
        if not os.path.isfile(src):
            raise DownloadError(f"{src} not found in mirror directory {mirror}")
        shutil.copyfile(src, part)
    else:
        src = f"{mirror.rstrip('/')}/{name}" if mirror else url
        for attempt in range(retries + 1):
            try:
                _transfer(src, part, chunk)
                break
            except urllib.error.HTTPError as e:
                if e.code < 500 or attempt == retries:
                    raise DownloadError(f"HTTP {e.code} {e.reason} for {src}") from e
            except (http.client.HTTPException, urllib.error.URLError, ConnectionError,
                    TimeoutError) as e:
                if attempt == retries:
                    raise DownloadError(f"download of {src} failed after {retries + 1} "
                                        f"attempt(s): {e!r}") from e
            _warn(f"transfer of {src} interrupted (attempt {attempt + 1}); retrying")
            time.sleep(BACKOFF * 2 ** attempt)
    actual = sha256_file(part)
    if sha256 is None:
        _warn(f"WARNING: no sha256 given for {url}; not verified (sha256={actual})")
    elif actual != sha256:
        os.remove(part)
        raise DownloadError(f"sha256 mismatch for {src}: expected {sha256}, got {actual}")
    os.replace(part, dest)
    return dest


def _unsafe(name):
    n = name.replace("\\", "/")
    return n.startswith("/") or re.match(r"[A-Za-z]:", n) is not None or ".." in n.split("/")


def _select(archive, names, member):
    """Exact name, else the single fnmatch match (a leading './' is ignored)."""
    norm = {n: n[2:] if n.startswith("./") else n for n in names}
    hits = [n for n in names if member in (n, norm[n])]
    if not hits:
        hits = [n for n in names if fnmatch.fnmatchcase(norm[n], member)
                or fnmatch.fnmatchcase(n, member)]
    if len(hits) != 1:
        few = ", ".join((hits or names)[:5]) + (", ..." if len(hits or names) > 5 else "")
        what = f"matches {len(hits)} members" if hits else "matches no member"
        raise ExtractError(f"{member!r} {what} of {archive} (candidates: {few or 'none'})")
    return hits[0]


def _safe_tar_members(archive, tf):
    """Every member of an open tar, after checking that none could write outside the root."""
    infos = tf.getmembers()
    for i in infos:
        target = i.linkname
        if i.issym():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(i.name), target))
        if _unsafe(i.name) or ((i.issym() or i.islnk()) and _unsafe(target)):
            raise UnsafeArchiveError(f"{archive}: unsafe member {i.name!r}"
                                     + (f" -> {i.linkname!r}" if target else ""))
    return infos


@contextlib.contextmanager
def open_member(archive, member=None):
    """Yield (member_name, binary stream) for one member of a tar/zip archive, or for a
    .gz / plain file (member ignored).  Every member name is checked before any data
    is read; nothing is ever written to disk."""
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            infos = _safe_tar_members(archive, tf)
            name = _select(archive, [i.name for i in infos if i.isfile()], member or "*")
            with tf.extractfile(name) as f:
                # Giga-FrEn ships its sides as .gz files inside the tar.
                if name.endswith(".gz"):
                    with gzip.GzipFile(fileobj=f) as inner:
                        yield name, inner
                else:
                    yield name, f
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for i in infos:
                if _unsafe(i.filename):
                    raise UnsafeArchiveError(f"{archive}: unsafe member path {i.filename!r}")
            name = _select(archive, [i.filename for i in infos if not i.is_dir()], member or "*")
            with zf.open(name) as f:
                yield name, f
    else:
        with open(archive, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if gz else open)(archive, "rb") as f:
            yield os.path.basename(archive), f


def _lines(stream, where):
    """Strict UTF-8 lines, without '\\n'/trailing '\\r'; a stray inner '\\r' becomes a
    space because universal-newline readers downstream would split the line there."""
    for lineno, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ExtractError(f"{where}: invalid UTF-8 on line {lineno} "
                               f"(byte {e.start} of the line: {e.reason})") from None
        if lineno == 1:
            line = line.lstrip("\ufeff")
        yield line.rstrip("\n").rstrip("\r").replace("\r", " ")


def extract_member(archive, member, out, fmt):
    """Write the text of one member to `out` atomically; returns the number of lines."""
    if fmt not in FORMATS:
        raise ExtractError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    with open_member(archive, member) as (name, stream), atomic_output(out) as f:
        where = f"{archive}:{name}"
        lines = _lines(stream, where)
        if fmt == "tags":
            lines = (ln.strip() for ln in lines if not ln.lstrip().startswith("<"))
        elif fmt in ("sgm", "xml"):
            segs = SEG_RE.findall("\n".join(lines))
            if not segs:
                raise ExtractError(f"{where}: no <seg> elements found")
            lines = (" ".join(html.unescape(s).split("\n")).strip() for s in segs)
        n = 0
        for n, line in enumerate(lines, 1):
            f.write(line + "\n")
    return n


def _copy_member(tf, info, out, chunk):
    """Stream one tar member into an open file; returns (bytes, sha256)."""
    digest, size = hashlib.sha256(), 0
    with tf.extractfile(info) as src:
        for buf in iter(lambda: src.read(chunk), b""):
            out.write(buf)
            digest.update(buf)
            size += len(buf)
    return size, digest.hexdigest()


def unpack_pretrained(archive, fmt, out_dir, chunk=1 << 20):
    """Write fairseq's files of a pretrained model (model.pt, dict.txt, sentencepiece.bpe.model)
    from its tar(.gz) (one regular member per basename of `fmt`, wherever it lies) into `out_dir`:
    all of them or, on any error, none (a checkpoint without its dictionary would be loaded with
    the wrong one). The huggingface layout is converted on the way. Returns {name: (bytes, sha256)}."""
    if fmt not in PRETRAINED_FORMATS:
        raise ExtractError(f"unknown pretrained format {fmt!r} (choose from {', '.join(PRETRAINED_FORMATS)})")
    wanted = PRETRAINED_FORMATS[fmt]
    if not tarfile.is_tarfile(archive):
        raise ExtractError(f"{archive} is not a tar archive (format {fmt}: a tar(.gz) holding {', '.join(wanted)})")
    found = {}
    with tarfile.open(archive, "r:*") as tf:
        infos = _safe_tar_members(archive, tf)
        for name in wanted:
            hits = [i for i in infos if i.isfile() and posixpath.basename(i.name) == name]
            if len(hits) != 1:
                where = ", ".join(i.name for i in hits)
                raise ExtractError(f"{archive}: {'no member' if not hits else f'{len(hits)} members ({where})'} "
                                   f"named {name!r} (format {fmt} needs exactly one)")
            found[name] = hits[0]
        if fmt == "huggingface":
            return _unpack_huggingface(archive, tf, found, out_dir, chunk)
        stats = {}
        with contextlib.ExitStack() as stack:  # every file is renamed into place only once all are written
            for name, info in sorted(found.items(), key=lambda item: item[1].offset_data):  # one pass over a .gz
                out = stack.enter_context(atomic_output(os.path.join(out_dir, name), "wb"))
                stats[name] = _copy_member(tf, info, out, chunk)
    return {name: stats[name] for name in wanted}


def _unpack_huggingface(archive, tf, found, out_dir, chunk):
    """The Hub's files, read into a scratch directory, written as fairseq's (natpipe.systems.xlmd.huggingface)."""
    import tempfile

    import torch
    from natpipe.systems.xlmd.huggingface import ConversionError, convert

    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hf.", dir=out_dir) as scratch:
        for name, info in sorted(found.items(), key=lambda item: item[1].offset_data):
            with open(os.path.join(scratch, name), "wb") as out:
                _copy_member(tf, info, out, chunk)
        try:
            checkpoint, dictionary = convert(*(os.path.join(scratch, n) for n in PRETRAINED_FORMATS["huggingface"]))
        except ConversionError as e:
            raise ExtractError(f"{archive}: {e}".replace(scratch + os.sep, "")) from None
        stats = {}
        with contextlib.ExitStack() as stack:
            outs = {n: stack.enter_context(atomic_output(os.path.join(out_dir, n), "wb")) for n in PRETRAINED_FILES}
            torch.save(checkpoint, outs["model.pt"])
            outs["dict.txt"].write(dictionary.encode("utf-8"))
            with open(os.path.join(scratch, "sentencepiece.bpe.model"), "rb") as src:
                shutil.copyfileobj(src, outs["sentencepiece.bpe.model"])
        for name in PRETRAINED_FILES:
            path = os.path.join(out_dir, name)
            stats[name] = (os.path.getsize(path), sha256_file(path))
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(prog="download.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download and verify an archive")
    f.add_argument("--url", required=True)
    f.add_argument("--sha256", help="expected hex digest (omit only for unpinned data)")
    f.add_argument("--out", required=True)
    f.add_argument("--mirror", help="local directory or base URL with the same file name")
    f.add_argument("--retries", type=int, default=3)
    x = sub.add_parser("extract", help="extract one member as plain text")
    x.add_argument("--archive", required=True)
    x.add_argument("--member", help="member name or glob (ignored for .gz/plain files)")
    x.add_argument("--format", required=True, choices=FORMATS)
    x.add_argument("--out", required=True)
    u = sub.add_parser("unpack-pretrained", help="unpack a pretrained model's files")
    u.add_argument("--archive", required=True)
    u.add_argument("--format", required=True, choices=PRETRAINED_FORMATS)
    u.add_argument("--out-dir", required=True)
    a = p.parse_args(argv)
    try:
        if a.cmd == "fetch":
            fetch(a.url, a.sha256, a.out, mirror=a.mirror, retries=a.retries)
        elif a.cmd == "unpack-pretrained":
            for name, (size, digest) in unpack_pretrained(a.archive, a.format, a.out_dir).items():
                print(f"{os.path.join(a.out_dir, name)}: {size} bytes, sha256 {digest}")
        else:
            extract_member(a.archive, a.member, a.out, a.format)
    except Exception as e:  # incl. corrupt archives and disk errors: one line for the log
        known = isinstance(e, (DownloadError, ExtractError))
        msg = " ".join((str(e) if known else f"{type(e).__name__}: {e}").split())
        print(f"download.py: error: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
