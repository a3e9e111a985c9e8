#!/usr/bin/env python3
"""Build a small English -> <lang> parallel corpus from gettext catalogs.

Every ``*.mo`` file under ``<catalog_dir>/<lang>/LC_MESSAGES/`` holds real,
human-made translations of program messages: the English ``msgid`` is the
source sentence and the ``msgstr`` its translation.  This module reads those
catalogs with its own small ``.mo`` parser (no ``gettext``/``polib``), cleans
the pairs, removes duplicates, splits them deterministically by a hash of the
source sentence and writes ``{train,valid,test}.{en,<lang>}`` plus a
``stats.json`` describing every cleaning step and every catalog used.

Only the Python standard library is used.  Example::

    python3 scripts/gettext_corpus.py --lang de --out-dir data/sample \\
        --valid 1000 --test 1000 --train 30000

The cleaning steps, in the order they are applied (each one is counted in
``stats.json``):

1. drop the header entry (empty msgid);
2. strip msgctxt prefixes (``context\\x04msgid``);
3. plural entries (msgid contains ``\\x00``): keep the singular msgid and
   ``msgstr[0]``;
4. drop untranslated entries (empty msgstr) and entries whose source equals
   the target after whitespace normalisation;
5. normalise whitespace (newlines, tabs, runs of spaces -> one space; strip)
   and remove non-whitespace control characters (BEL, a stray BOM);
6. remove keyboard accelerators (see :func:`strip_accelerators`);
7. optionally drop pairs that contain printf or brace placeholders;
8. keep pairs whose both sides have ``min_tokens``..``max_tokens``
   whitespace-separated tokens;
9. drop repeated ``(source, target)`` pairs, and drop every later pair whose
   source was already seen with another target, so one English sentence never
   has two translations (and never lands in two splits).  "First" is defined
   by a deterministic order: catalogs sorted by file name, entries within a
   catalog sorted by their raw msgid.
"""

from __future__ import annotations

import argparse
import codecs
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from common import atomic_output

MO_MAGIC = 0x950412DE
DEFAULT_CATALOG_DIR = "/usr/share/locale"
SPLITS = ("train", "valid", "test")

# Counters in the order in which the steps are applied.
STEP_KEYS = (
    "entries_read",
    "undecodable_skipped",
    "header_dropped",
    "msgctxt_stripped",
    "plural_reduced",
    "empty_source_dropped",
    "untranslated_dropped",
    "identical_dropped",
    "whitespace_normalised",
    "control_chars_removed",
    "accelerators_removed",
    "placeholder_dropped",
    "length_dropped",
    "duplicate_pair_dropped",
    "repeated_source_dropped",
    "pairs_kept",
)


class CorpusError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


class MoFormatError(CorpusError):
    pass


def log(msg: str) -> None:
    print(f"[gettext_corpus] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# .mo parsing
# --------------------------------------------------------------------------

def parse_mo(data: bytes) -> list[tuple[bytes, bytes]]:
    """Return the ``(msgid, msgstr)`` byte strings of a GNU ``.mo`` file.

    The byte order is detected from the magic number 0x950412de.  Only the
    regular string tables are read (system-dependent strings of revision 1
    files are ignored).  Keys keep their raw form: ``ctxt\\x04msgid`` for
    entries with a context, ``singular\\x00plural`` for plural entries.
    """
    if len(data) < 20:
        raise MoFormatError("file too short for a .mo header")
    (magic,) = struct.unpack("<I", data[:4])
    if magic == MO_MAGIC:
        endian = "<"
    elif magic == struct.unpack(">I", struct.pack("<I", MO_MAGIC))[0]:
        endian = ">"
    else:
        raise MoFormatError(f"bad magic number 0x{magic:08x}")
    revision, count, orig_off, trans_off = struct.unpack(endian + "4I", data[4:20])
    if revision >> 16 not in (0, 1):
        raise MoFormatError(f"unsupported .mo revision {revision:#x}")
    size = len(data)
    for table in (orig_off, trans_off):
        if table + 8 * count > size:
            raise MoFormatError("string table runs past end of file")

    def string_at(table: int, i: int) -> bytes:
        length, offset = struct.unpack_from(endian + "2I", data, table + 8 * i)
        if offset + length > size:
            raise MoFormatError(f"string {i} runs past end of file")
        return data[offset:offset + length]

    return [(string_at(orig_off, i), string_at(trans_off, i)) for i in range(count)]


_CHARSET_RE = re.compile(r"charset\s*=\s*([^\s;]+)", re.IGNORECASE)


def header_charset(entries: Iterable[tuple[bytes, bytes]]) -> str:
    """Charset named in the header's Content-Type (default ``utf-8``)."""
    for msgid, msgstr in entries:
        if msgid == b"":
            match = _CHARSET_RE.search(msgstr.decode("ascii", "replace"))
            if match:
                name = match.group(1)
                try:
                    return codecs.lookup(name).name
                except LookupError:  # e.g. the template value "CHARSET"
                    return "utf-8"
            break
    return "utf-8"


# --------------------------------------------------------------------------
# cleaning
# --------------------------------------------------------------------------

def normalise_ws(text: str) -> str:
    """Collapse every run of (Unicode) whitespace to one space and strip."""
    return " ".join(text.split())


# C0/C1 control characters that are not whitespace (e.g. BEL in bash's
# "\atimed out"), a stray byte-order mark and zero-width space.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufeff\u200b]")


def remove_controls(text: str) -> str:
    return normalise_ws(_CONTROL_RE.sub("", text))


# "_" or "&" directly before a letter (any script; digits and "_" excluded),
# not doubled ("__", "&&") and not an HTML/XML entity such as "&amp;".
_ACCEL_RE = re.compile(r"(?<![_&])(?:_|&(?![A-Za-z]+;))(?=[^\W\d_])")
_RUN_RE = re.compile(r"[\w&]+")
_WORD_OPENERS = "\"'([{-/«»„“”‚‘’"


def _accelerator_position(text: str) -> int | None:
    """Index of the one accelerator candidate in *text*, else None."""
    marks = list(_ACCEL_RE.finditer(text))
    return marks[0].start() if len(marks) == 1 else None


def strip_accelerators(text: str, other: str | None = None) -> str:
    """Remove a keyboard accelerator marker: ``"_File"`` -> ``"File"``,
    ``"&Open"`` -> ``"Open"``, ``"Re_load"`` -> ``"Reload"``.

    Why: GTK (``_``) and Qt/KDE (``&``) catalogs mark the mnemonic letter of
    a menu item or button inside the message itself ("_Open", "Save &As",
    "Neu _laden").  For machine translation these markers are noise: they
    sit at arbitrary, language-specific positions inside words and would
    split words into rare sub-words.

    A marker is only removed when it directly precedes a letter, so
    "Copy & paste", "&&", "100 & more", "&amp;" and "_1" are kept.  Program
    messages are also full of identifiers (``pg_dump``, ``LC_ALL``,
    ``column_constraint``, ``AT&T``) that a blind rule would mangle, so, as
    a real mnemonic occurs once per message and is language-specific:

    * nothing is removed unless *text* has exactly one candidate;
    * a marker at the start of a word ("_Save", "»_Größe«", "Von-_links")
      is then always removed, but not after other punctuation ("*_tz()");
    * a marker inside a word ("Re_load", "pg_dump") is kept if the word is
      an ALL_CAPS identifier; when the other side of the pair is given as
      *other*, it is also kept if *other* contains the same word
      (identifiers are copied into the translation, mnemonics are not), or
      if *other* has no marker of its own and the marker does not split off
      a single letter ("and column_constraint is:" vs "und
      Spalten-Constraint ist:" is kept, "S_nap brush" vs "Pinsel
      einrasten" is stripped).
    """
    pos = _accelerator_position(text)
    if pos is None:
        return text
    prev = text[pos - 1] if pos else " "
    if not (prev.isspace() or prev.isalnum() or prev in _WORD_OPENERS):
        return text  # e.g. pam_*_item(), <_name>, ._x
    if prev.isalnum():
        run = next(m.group(0) for m in _RUN_RE.finditer(text) if m.start() <= pos < m.end())
        bare = run.replace("_", "").replace("&", "")
        if bare.isupper():  # LC_ALL, PHYS_DEV, AT&T
            return text
        if other is not None:
            if run.casefold() in {r.casefold() for r in _RUN_RE.findall(other)}:
                return text
            if _accelerator_position(other) is None:
                # no marker on the other side: only an odd one-letter split
                # ("S_nap", "Neue_n") is taken for a mnemonic, not
                # "column_constraint"
                left = re.search(r"[^\W\d_]*$", text[:pos]).group(0)
                right = re.match(r"[^\W\d_]*", text[pos + 1:]).group(0)
                if min(len(left), len(right)) != 1:
                    return text
    return text[:pos] + text[pos + 1:]


# printf conversions: %s %d %5.2f %-5.2f %1$s %*d %lu %lld %zu %I64d ...
_PRINTF_RE = re.compile(
    r"%(?:\d+\$)?[-+#0']*(?:\d+|\*(?:\d+\$)?)?(?:\.(?:\d+|\*(?:\d+\$)?))?"
    r"(?:hh|h|ll|l|L|q|j|z|Z|t|I64|I32|I)?[diouxXeEfFgGaAcCsSpnm]"
    r"|%\([^)\s]*\)[-+#0 ]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # Python %(name)s
    r"|%[-+#0']*\d*(?:\.\d+)?<PRI\w+>"  # gettext sysdep  %<PRId64>
)
# brace placeholders: {} {0} {name} {0:d} {name!r}
_BRACE_RE = re.compile(r"\{[A-Za-z0-9_]*(?:[.:!][^{}\s]*)?\}")


def has_placeholder(text: str) -> bool:
    """True if *text* contains a printf (``%s``, ``%1$s``, ``%-5.2f``) or a
    brace (``{0}``, ``{name}``) placeholder.  ``%%`` is a literal percent sign
    and is not a placeholder."""
    without_literal = text.replace("%%", "")
    return bool(_PRINTF_RE.search(without_literal) or _BRACE_RE.search(text))


def n_tokens(text: str) -> int:
    return len(text.split())


@dataclass
class Options:
    min_tokens: int = 3
    max_tokens: int = 60
    drop_placeholders: bool = True


@dataclass
class Catalog:
    """One .mo file and what is known about where it came from."""

    path: str
    name: str
    package: str | None = None
    version: str | None = None
    licence: str | None = None
    charset: str = "utf-8"
    entries: int = 0
    pairs_kept: int = 0
    pairs_in_splits: dict = field(default_factory=lambda: {s: 0 for s in SPLITS})

    def to_json(self) -> dict:
        return {
            "file": self.name,
            "path": self.path,
            "package": self.package,
            "version": self.version,
            "licence": self.licence,
            "charset": self.charset,
            "entries": self.entries,
            "pairs_kept": self.pairs_kept,
            "pairs_in_splits": dict(self.pairs_in_splits),
        }


@dataclass(frozen=True)
class Pair:
    src: str
    tgt: str
    catalog: int  # index into the catalog list


def new_stats() -> dict:
    return {key: 0 for key in STEP_KEYS}


def clean_entry(msgid: str, msgstr: str, opts: Options, stats: dict) -> tuple[str, str] | None:
    """Apply cleaning steps 1-8 to one decoded entry; None if it is dropped."""
    if msgid == "":
        stats["header_dropped"] += 1
        return None
    if "\x04" in msgid:
        msgid = msgid.split("\x04", 1)[1]
        stats["msgctxt_stripped"] += 1
    if "\x00" in msgid:
        msgid = msgid.split("\x00", 1)[0]
        msgstr = msgstr.split("\x00", 1)[0]
        stats["plural_reduced"] += 1
    if normalise_ws(msgid) == "":
        stats["empty_source_dropped"] += 1
        return None
    if normalise_ws(msgstr) == "":
        stats["untranslated_dropped"] += 1
        return None
    src, tgt = normalise_ws(msgid), normalise_ws(msgstr)
    if src == tgt:
        stats["identical_dropped"] += 1
        return None
    if (src, tgt) != (msgid, msgstr):
        stats["whitespace_normalised"] += 1
    c_src, c_tgt = remove_controls(src), remove_controls(tgt)
    if (c_src, c_tgt) != (src, tgt):
        stats["control_chars_removed"] += 1
    src, tgt = c_src, c_tgt
    a_src, a_tgt = strip_accelerators(src, tgt), strip_accelerators(tgt, src)
    if (a_src, a_tgt) != (src, tgt):
        stats["accelerators_removed"] += 1
    src, tgt = a_src, a_tgt
    if opts.drop_placeholders and (has_placeholder(src) or has_placeholder(tgt)):
        stats["placeholder_dropped"] += 1
        return None
    if not all(opts.min_tokens <= n_tokens(s) <= opts.max_tokens for s in (src, tgt)):
        stats["length_dropped"] += 1
        return None
    return src, tgt


def catalog_sort_key(path: str) -> tuple[str, str]:
    return (os.path.basename(path), path)


def collect_pairs(catalogs: Sequence[Catalog], opts: Options, stats: dict,
                  quiet: bool = False) -> list[Pair]:
    """Read, clean and deduplicate all catalogs (in the order given).

    The caller is expected to pass catalogs sorted by :func:`catalog_sort_key`;
    :func:`build_corpus` does so.
    """
    seen_pairs: set[tuple[str, str]] = set()
    seen_src: set[str] = set()
    pairs: list[Pair] = []
    for index, cat in enumerate(catalogs):
        with open(cat.path, "rb") as fh:
            try:
                raw = parse_mo(fh.read())
            except MoFormatError as exc:
                raise CorpusError(f"{cat.path}: {exc}") from None
        cat.charset = header_charset(raw)
        cat.entries = len(raw)
        stats["entries_read"] += len(raw)
        decoded = []
        for msgid_b, msgstr_b in raw:
            try:
                decoded.append((msgid_b.decode(cat.charset), msgstr_b.decode(cat.charset)))
            except UnicodeDecodeError:
                stats["undecodable_skipped"] += 1
        decoded.sort()  # entries by msgid (then msgstr): independent of file layout
        kept_before = len(pairs)
        for msgid, msgstr in decoded:
            cleaned = clean_entry(msgid, msgstr, opts, stats)
            if cleaned is None:
                continue
            if cleaned in seen_pairs:
                stats["duplicate_pair_dropped"] += 1
                continue
            if cleaned[0] in seen_src:
                stats["repeated_source_dropped"] += 1
                continue
            seen_pairs.add(cleaned)
            seen_src.add(cleaned[0])
            pairs.append(Pair(cleaned[0], cleaned[1], index))
        cat.pairs_kept = len(pairs) - kept_before
        if not quiet:
            log(f"{cat.name}: {cat.entries} entries ({cat.charset}), "
                f"{cat.pairs_kept} new pairs, {len(pairs)} total")
    stats["pairs_kept"] = len(pairs)
    return pairs


# --------------------------------------------------------------------------
# splitting
# --------------------------------------------------------------------------

def source_hash(src: str) -> int:
    """sha1 of the UTF-8 source sentence, as a big-endian integer."""
    return int.from_bytes(hashlib.sha1(src.encode("utf-8")).digest(), "big")


def split_pairs(pairs: Sequence[Pair], n_valid: int, n_test: int,
                n_train: int | None = None) -> dict[str, list[Pair]]:
    """Sort by source hash: the first *n_test* pairs are test, the next
    *n_valid* valid, and the rest (capped at *n_train*, in hash order) train.
    Every split is in hash order."""
    if n_valid < 0 or n_test < 0 or (n_train is not None and n_train < 0):
        raise CorpusError("split sizes must be non-negative")
    if n_valid + n_test > len(pairs):
        raise CorpusError(
            f"only {len(pairs)} pairs after cleaning; cannot take "
            f"--test {n_test} and --valid {n_valid}")
    ordered = sorted(pairs, key=lambda p: (source_hash(p.src), p.src, p.tgt))
    test = ordered[:n_test]
    valid = ordered[n_test:n_test + n_valid]
    train = ordered[n_test + n_valid:]
    if n_train is not None:
        train = train[:n_train]
    return {"train": train, "valid": valid, "test": test}


# --------------------------------------------------------------------------
# provenance: Debian package, version, licence
# --------------------------------------------------------------------------

def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def dpkg_owners(paths: Sequence[str]) -> dict[str, str]:
    """Map each path to the Debian package owning it (``dpkg -S``)."""
    if not paths or shutil.which("dpkg") is None:
        return {}
    proc = _run(["dpkg", "-S", *paths])  # rc 1 if some path is unowned
    owners: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        pkgs, path = line.split(": ", 1)
        owners[path.strip()] = pkgs.split(",")[0].strip()
    return owners


def dpkg_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    proc = _run(["dpkg-query", "-W", "-f", "${Version}", package])
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def licence_from_copyright(path: str) -> str | None:
    """Short ``License:`` value of a copyright file.

    Only machine-readable (DEP-5, ``Format:`` first line) files are read:
    the licence of the ``Files: *`` paragraph is preferred, else the first
    ``License:`` field.  Returns None if the file is missing, is free-form
    text, or states no short one-line licence field.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    if not text.startswith("Format:"):
        return None
    paragraphs = re.split(r"\n\s*\n", text)
    candidates = []
    for para in paragraphs:
        lic = re.search(r"^License:[ \t]*(\S[^\n]*)$", para, re.MULTILINE | re.IGNORECASE)
        if not lic:
            continue
        if re.search(r"^Files:[ \t]*\*[ \t]*$", para, re.MULTILINE):
            candidates.insert(0, lic.group(1).strip())
        else:
            candidates.append(lic.group(1).strip())
    if candidates and len(candidates[0]) <= 80:
        return candidates[0]
    return None


def annotate_installed(catalogs: Sequence[Catalog], doc_root: str = "/usr/share/doc") -> None:
    """Fill package/version/licence of catalogs owned by installed packages."""
    todo = [c for c in catalogs if c.package is None]
    owners = dpkg_owners([c.path for c in todo])
    versions: dict[str, str | None] = {}
    for cat in todo:
        pkg = owners.get(cat.path)
        if pkg is None:
            continue
        cat.package = pkg
        if pkg not in versions:
            versions[pkg] = dpkg_version(pkg)
        cat.version = versions[pkg]
        base = pkg.split(":")[0]
        cat.licence = licence_from_copyright(os.path.join(doc_root, base, "copyright"))


def fetch_extra_packages(packages: Sequence[str], cache_dir: str,
                         quiet: bool = False) -> list[tuple[str, str, str | None]]:
    """``apt-get download`` each package into *cache_dir* (unless a .deb is
    already there) and unpack it with ``dpkg-deb -x``.

    Returns ``(unpacked_root, package, version)`` per package.
    """
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise CorpusError(f"--extra-packages needs '{tool}', which is not available")
    os.makedirs(cache_dir, exist_ok=True)
    result = []
    for pkg in packages:
        debs = sorted(glob.glob(os.path.join(glob.escape(cache_dir), f"{pkg}_*.deb")))
        if not debs:
            if not quiet:
                log(f"apt-get download {pkg}")
            proc = _run(["apt-get", "download", pkg], cwd=cache_dir)
            if proc.returncode != 0:
                raise CorpusError(f"apt-get download {pkg} failed: "
                                  f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
            debs = sorted(glob.glob(os.path.join(glob.escape(cache_dir), f"{pkg}_*.deb")))
            if not debs:
                raise CorpusError(f"apt-get download {pkg} produced no .deb in {cache_dir}")
        deb = debs[-1]
        version = _run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip() or None
        root = os.path.join(cache_dir, "unpacked", os.path.basename(deb)[:-4])
        if not os.path.isdir(root):
            tmp = root + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(os.path.dirname(root), exist_ok=True)
            proc = _run(["dpkg-deb", "-x", deb, tmp])
            if proc.returncode != 0:
                raise CorpusError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}")
            os.replace(tmp, root)
        result.append((root, pkg, version))
    return result


# --------------------------------------------------------------------------
# catalog discovery and the whole pipeline
# --------------------------------------------------------------------------

def find_catalogs(catalog_dir: str, lang: str) -> list[str]:
    """All ``*.mo`` files in ``<catalog_dir>/<lang>/LC_MESSAGES``.

    Symlinks to a file that is also listed (e.g. ``iso_639.mo ->
    iso_639-2.mo``) are dropped so a catalog is never read twice.
    """
    msg_dir = os.path.join(catalog_dir, lang, "LC_MESSAGES")
    if not os.path.isdir(msg_dir):
        raise CorpusError(f"catalog directory not found: {msg_dir}")
    paths = sorted(glob.glob(os.path.join(glob.escape(msg_dir), "*.mo")), key=catalog_sort_key)
    by_target: dict[str, str] = {}
    for path in paths:
        if not os.path.isfile(path):
            continue  # dangling link
        real = os.path.realpath(path)
        prev = by_target.get(real)
        # prefer the real file over a link to it
        if prev is None or (os.path.islink(prev) and not os.path.islink(path)):
            by_target[real] = path
    keep = set(by_target.values())
    return [p for p in paths if p in keep]


def build_corpus(catalogs: Sequence[Catalog], opts: Options, n_valid: int, n_test: int,
                 n_train: int | None = None, quiet: bool = False
                 ) -> tuple[dict[str, list[Pair]], dict, list[Catalog]]:
    """Clean, dedupe and split.  The input order of *catalogs* does not
    matter: they are sorted by file name first.  Returns
    ``(splits, step_stats, sorted_catalogs)``."""
    ordered = sorted(catalogs, key=lambda c: catalog_sort_key(c.path))
    stats = new_stats()
    pairs = collect_pairs(ordered, opts, stats, quiet=quiet)
    splits = split_pairs(pairs, n_valid, n_test, n_train)
    for name, items in splits.items():
        for pair in items:
            ordered[pair.catalog].pairs_in_splits[name] += 1
    return splits, stats, ordered


def split_stats(splits: dict[str, list[Pair]]) -> dict:
    out = {}
    for name in SPLITS:
        items = splits[name]
        n = len(items)
        src_tok = sum(n_tokens(p.src) for p in items)
        tgt_tok = sum(n_tokens(p.tgt) for p in items)
        out[name] = {
            "pairs": n,
            "src_tokens": src_tok,
            "tgt_tokens": tgt_tok,
            "avg_src_tokens": round(src_tok / n, 2) if n else 0.0,
            "avg_tgt_tokens": round(tgt_tok / n, 2) if n else 0.0,
        }
    return out


def write_atomic(path: str, text: str) -> None:
    with atomic_output(path) as handle:
        handle.write(text)


def write_outputs(out_dir: str, suffixes: tuple[str, str], splits: dict[str, list[Pair]], stats: dict) -> None:
    """Write <split>.<suffix> files: suffixes are ("en", lang), or ("src", "tgt") for the workflow."""
    os.makedirs(out_dir, exist_ok=True)
    for name in SPLITS:
        items = splits[name]
        write_atomic(os.path.join(out_dir, f"{name}.{suffixes[0]}"), "".join(p.src + "\n" for p in items))
        write_atomic(os.path.join(out_dir, f"{name}.{suffixes[1]}"), "".join(p.tgt + "\n" for p in items))
    write_atomic(os.path.join(out_dir, "stats.json"),
                 json.dumps(stats, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gettext_corpus.py",
        description="Build an English -> LANG parallel corpus from gettext .mo catalogs.")
    p.add_argument("--lang", required=True, help="target language directory, e.g. de")
    p.add_argument("--out-dir", required=True, metavar="DIR", help="where {train,valid,test}.{en,LANG} go")
    p.add_argument("--catalog-dir", default=DEFAULT_CATALOG_DIR, metavar="DIR",
                   help="locale root holding LANG/LC_MESSAGES/*.mo (default: %(default)s)")
    p.add_argument("--extra-packages", default="", metavar="PKG[,PKG...]",
                   help="comma-separated Debian packages to apt-get download and unpack "
                        "for more catalogs (needs --cache)")
    p.add_argument("--cache", metavar="DIR", help="directory for downloaded .deb files and their unpacked trees")
    p.add_argument("--valid", type=_non_negative, metavar="N", default=1000, help="valid pairs (default: 1000)")
    p.add_argument("--test", type=_non_negative, metavar="N", default=1000, help="test pairs (default: 1000)")
    p.add_argument("--train", type=_non_negative, metavar="N", default=None,
                   help="cap on train pairs (default: all remaining)")
    p.add_argument("--min-tokens", type=_non_negative, metavar="N", default=3,
                   help="min whitespace tokens per side (default: 3)")
    p.add_argument("--max-tokens", type=_non_negative, metavar="N", default=60,
                   help="max whitespace tokens per side (default: 60)")
    p.add_argument("--drop-placeholders", action=argparse.BooleanOptionalAction, default=True,
                   help="drop pairs with printf/brace placeholders (default: on)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--side-names", action="store_true",
                   help="name the files <split>.src/.tgt (the workflow's raw stage) instead of .en/.LANG")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = make_parser()
    args = parser.parse_args(argv)
    args.extra_packages = [p.strip() for p in args.extra_packages.split(",") if p.strip()]
    if args.extra_packages and not args.cache:
        parser.error("--extra-packages needs --cache DIR")
    bad = [p for p in args.extra_packages if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p)]
    if bad:
        parser.error(f"not a Debian package name: {', '.join(bad)}")
    if args.min_tokens > args.max_tokens:
        parser.error("--min-tokens is larger than --max-tokens")
    if not re.fullmatch(r"[A-Za-z0-9_@.-]+", args.lang):
        parser.error(f"bad --lang {args.lang!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet = args.quiet
    try:
        paths = find_catalogs(args.catalog_dir, args.lang)
        catalogs = [Catalog(path=p, name=os.path.basename(p)) for p in paths]
        annotate_installed(catalogs)
        for root, pkg, version in fetch_extra_packages(args.extra_packages, args.cache, quiet) \
                if args.extra_packages else []:
            locale_root = os.path.join(root, "usr", "share", "locale")
            try:
                extra = find_catalogs(locale_root, args.lang)
            except CorpusError:
                extra = []
            if not extra and not quiet:
                log(f"warning: {pkg} ships no {args.lang} catalogs")
            lic = licence_from_copyright(os.path.join(root, "usr", "share", "doc", pkg, "copyright"))
            catalogs += [Catalog(path=p, name=os.path.basename(p), package=pkg,
                                 version=version, licence=lic) for p in extra]
        if not catalogs:
            raise CorpusError(f"no .mo files in {os.path.join(args.catalog_dir, args.lang, 'LC_MESSAGES')}")
        if not quiet:
            log(f"{len(catalogs)} catalogs for '{args.lang}'")
        opts = Options(args.min_tokens, args.max_tokens, args.drop_placeholders)
        splits, steps, ordered = build_corpus(catalogs, opts, args.valid, args.test,
                                              args.train, quiet=quiet)
        stats = {
            "lang": args.lang,
            "options": {
                "catalog_dir": args.catalog_dir,
                "extra_packages": args.extra_packages,
                "valid": args.valid, "test": args.test, "train": args.train,
                "min_tokens": args.min_tokens, "max_tokens": args.max_tokens,
                "drop_placeholders": args.drop_placeholders,
                "split": "sha1(source, UTF-8) ascending: test, then valid, then train",
            },
            "steps": steps,
            "splits": split_stats(splits),
            "catalogs": [c.to_json() for c in ordered],
        }
        suffixes = ("src", "tgt") if args.side_names else ("en", args.lang)
        write_outputs(args.out_dir, suffixes, splits, stats)
    except CorpusError as exc:
        print(f"gettext_corpus: error: {exc}", file=sys.stderr)
        return 1
    if not quiet:
        counts = ", ".join(f"{n}={len(splits[n])}" for n in SPLITS)
        log(f"wrote {args.out_dir}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
