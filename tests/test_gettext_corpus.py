"""Tests for scripts/gettext_corpus.py and the committed data/sample corpus.

The .mo files used here are written by a small writer of our own
(``write_mo``), independent of the parser under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import gettext_corpus as gc  # noqa: E402

SAMPLE = REPO / "data" / "sample"
SPLITS = ("train", "valid", "test")


# ---------------------------------------------------------------------------
# an independent .mo writer
# ---------------------------------------------------------------------------

def write_mo(path: Path, entries: list[tuple[bytes, bytes]], byteorder: str = "<") -> None:
    """Write a GNU .mo file: 28-byte header, two (length, offset) tables,
    then NUL-terminated strings; no hash table."""
    items = sorted(entries)
    n = len(items)
    orig_tab = 28
    trans_tab = orig_tab + 8 * n
    offset = trans_tab + 8 * n
    otab, ttab, blobs = [], [], []
    for key, _ in items:
        otab.append((len(key), offset))
        blobs.append(key + b"\0")
        offset += len(key) + 1
    for _, value in items:
        ttab.append((len(value), offset))
        blobs.append(value + b"\0")
        offset += len(value) + 1
    out = struct.pack(byteorder + "7I", 0x950412DE, 0, n, orig_tab, trans_tab, 0, offset)
    for length, off in otab + ttab:
        out += struct.pack(byteorder + "2I", length, off)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out + b"".join(blobs))


def u(text: str) -> bytes:
    return text.encode("utf-8")


WORDS60_EN = " ".join(f"w{i}" for i in range(60))
WORDS60_DE = " ".join(f"v{i}" for i in range(60))
WORDS61_EN = " ".join(f"w{i}" for i in range(61))
WORDS61_DE = " ".join(f"v{i}" for i in range(61))

CATALOG_A = [
    (b"", b"Project-Id-Version: a 1.0\nContent-Type: text/plain; charset=UTF-8\n"),
    (b"menu\x04Open the selected file now", u("Die ausgewählte Datei jetzt öffnen")),
    (b"Deleted one old file\x00Deleted %d old files",
     u("Eine alte Datei gelöscht\x00%d alte Dateien gelöscht")),
    (b"This message is not translated", b""),
    (b"GNU General Public License", b"GNU  General\nPublic License"),
    (b"_Save the current document", b"Aktuelles Dokument _speichern"),
    (b"&Open a new window", u("Ein neues Fenster &öffnen")),
    (b"Copy & paste the text", u("Text kopieren & einfügen")),
    (b"Run pg_dump on the database", u("pg_dump auf der Datenbank ausführen")),
    (b"Cannot open file %s for reading", b"Datei %s kann nicht gelesen werden"),
    (b"Copied %1$s to %2$s successfully", b"%1$s erfolgreich nach %2$s kopiert"),
    (b"Progress is %-5.2f percent now", b"Fortschritt ist jetzt %-5.2f Prozent"),
    (b"Hello {name}, welcome back", u("Hallo {name}, willkommen zurück")),
    (b"Item {0} was removed", b"Element {0} wurde entfernt"),
    (b"Disk usage is 100%% right now", b"Die Belegung liegt bei 100%%"),
    (b"Quit", b"Beenden"),
    (b"Open file", u("Datei öffnen")),
    (b"Show hidden files", b"Versteckte Dateien anzeigen"),
    (u(WORDS60_EN), u(WORDS60_DE)),
    (u(WORDS61_EN), u(WORDS61_DE)),
    (b"Select a\tfile\n  to import", u("Eine Datei\nzum Importieren wählen")),
    (b"\aTimed out waiting for input", u("\aZeitüberschreitung beim Warten auf Eingabe")),
    (b"Invalid input was found", b"Ung\xfcltige Eingabe gefunden"),  # not UTF-8
    (b"ctx\x04", b"Leerer Kontext"),
]
CATALOG_B = [
    (b"", b"Project-Id-Version: b 2.0\n"),  # no charset: utf-8
    (b"Show hidden files", b"Versteckte Dateien anzeigen"),  # duplicate pair
    (b"Open the selected file now", u("Ausgewählte Datei öffnen")),  # repeated source
    (b"Print the document please", b"Bitte das Dokument drucken"),
    (b"zz\x04Print the document please", b"Dokument bitte drucken"),  # later by msgid
]
CATALOG_C = [
    (b"", b"Content-Type: text/plain; charset=ISO-8859-1\n"),
    (b"Remove all temporary files", "Alle temporären Dateien entfernen".encode("latin-1")),
]

EXPECTED_PAIRS = [
    # a.mo, in msgid order
    ("Timed out waiting for input", "Zeitüberschreitung beim Warten auf Eingabe"),
    ("Open a new window", "Ein neues Fenster öffnen"),
    ("Copy & paste the text", "Text kopieren & einfügen"),
    ("Deleted one old file", "Eine alte Datei gelöscht"),
    ("Disk usage is 100%% right now", "Die Belegung liegt bei 100%%"),
    ("Run pg_dump on the database", "pg_dump auf der Datenbank ausführen"),
    ("Select a file to import", "Eine Datei zum Importieren wählen"),
    ("Show hidden files", "Versteckte Dateien anzeigen"),
    ("Save the current document", "Aktuelles Dokument speichern"),
    ("Open the selected file now", "Die ausgewählte Datei jetzt öffnen"),
    (WORDS60_EN, WORDS60_DE),
    # b.mo
    ("Print the document please", "Bitte das Dokument drucken"),
    # c.mo
    ("Remove all temporary files", "Alle temporären Dateien entfernen"),
]

EXPECTED_STEPS = {
    "entries_read": 24 + 5 + 2,
    "undecodable_skipped": 1,
    "header_dropped": 3,
    "msgctxt_stripped": 3,
    "plural_reduced": 1,
    "empty_source_dropped": 1,
    "untranslated_dropped": 1,
    "identical_dropped": 1,
    "whitespace_normalised": 1,
    "control_chars_removed": 1,
    "accelerators_removed": 2,
    "placeholder_dropped": 5,
    "length_dropped": 3,
    "duplicate_pair_dropped": 1,
    "repeated_source_dropped": 2,
    "pairs_kept": 13,
}


@pytest.fixture
def locale_dir(tmp_path: Path) -> Path:
    root = tmp_path / "locale"
    msg = root / "de" / "LC_MESSAGES"
    write_mo(msg / "a.mo", CATALOG_A)
    write_mo(msg / "b.mo", CATALOG_B)
    write_mo(msg / "c.mo", CATALOG_C)
    return root


def catalogs_for(root: Path, order=None) -> list:
    paths = gc.find_catalogs(str(root), "de")
    if order is not None:
        paths = [paths[i] for i in order]
    return [gc.Catalog(path=p, name=os.path.basename(p)) for p in paths]


def expected_split(pairs, n_valid, n_test, n_train=None):
    ordered = sorted(pairs, key=lambda p: hashlib.sha1(p[0].encode("utf-8")).hexdigest())
    test = ordered[:n_test]
    valid = ordered[n_test:n_test + n_valid]
    train = ordered[n_test + n_valid:]
    if n_train is not None:
        train = train[:n_train]
    return {"train": train, "valid": valid, "test": test}


def as_tuples(splits):
    return {name: [(p.src, p.tgt) for p in items] for name, items in splits.items()}


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_parse_mo_both_byte_orders(tmp_path, byteorder):
    path = tmp_path / "x.mo"
    write_mo(path, CATALOG_A, byteorder)
    assert sorted(gc.parse_mo(path.read_bytes())) == sorted(CATALOG_A)


def test_parse_mo_rejects_garbage():
    with pytest.raises(gc.MoFormatError):
        gc.parse_mo(b"not a mo file at all, definitely")
    with pytest.raises(gc.MoFormatError):
        gc.parse_mo(struct.pack("<7I", 0x950412DE, 0, 5, 28, 68, 0, 0))  # tables past EOF


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt not installed")
def test_parse_mo_matches_msgfmt(tmp_path):
    po = tmp_path / "t.po"
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgctxt "menu"\nmsgid "_Open"\nmsgstr "Ö_ffnen"\n\n'
        'msgid "one file"\nmsgid_plural "%d files"\nmsgstr[0] "eine Datei"\n'
        'msgstr[1] "%d Dateien"\n\n'
        'msgid "Show hidden files"\nmsgstr "Versteckte Dateien anzeigen"\n',
        encoding="utf-8")
    mo = tmp_path / "t.mo"
    subprocess.run(["msgfmt", "-o", str(mo), str(po)], check=True)
    entries = dict(gc.parse_mo(mo.read_bytes()))
    assert entries[b"menu\x04_Open"] == u("Ö_ffnen")
    assert entries[b"one file\x00%d files"] == b"eine Datei\x00%d Dateien"
    assert entries[b"Show hidden files"] == b"Versteckte Dateien anzeigen"
    assert gc.header_charset(entries.items()) == "utf-8"


def test_header_charset():
    assert gc.header_charset(CATALOG_A) == "utf-8"
    assert gc.header_charset(CATALOG_B) == "utf-8"
    assert gc.header_charset(CATALOG_C) == "iso8859-1"
    assert gc.header_charset([(b"", b"Content-Type: text/plain; charset=CHARSET\n")]) == "utf-8"


# ---------------------------------------------------------------------------
# cleaning helpers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, other, expected", [
    ("_File", None, "File"),
    ("&Open", None, "Open"),
    ("Save _As", None, "Save As"),
    ("Re_load", None, "Reload"),
    ("Größe _ändern", None, "Größe ändern"),
    ("Spalte »_Größe« anzeigen", None, "Spalte »Größe« anzeigen"),
    ("Copy & paste", None, "Copy & paste"),       # & not before a letter
    ("Tom && Jerry", None, "Tom && Jerry"),
    ("Search &amp; Replace", None, "Search &amp; Replace"),
    ("version_1", None, "version_1"),             # _ before a digit
    ("LC_ALL is not set", None, "LC_ALL is not set"),
    ("AT&T syntax", None, "AT&T syntax"),
    ("_Open _Save", None, "_Open _Save"),         # two candidates: not a mnemonic
    ("Use *_tz() here", None, "Use *_tz() here"),
    ("Run pg_dump now", "pg_dump jetzt starten", "Run pg_dump now"),
    ("and column_constraint is:", "und Spalten-Constraint ist:", "and column_constraint is:"),
    ("S_nap brush outline", "Pinselumriss einrasten", "Snap brush outline"),
    ("Connect as u_ser:", "Als _Benutzer verbinden:", "Connect as user:"),
])
def test_strip_accelerators(text, other, expected):
    assert gc.strip_accelerators(text, other) == expected


@pytest.mark.parametrize("text, expected", [
    ("Cannot open %s", True),
    ("%d files", True),
    ("from %1$s to %2$s", True),
    ("progress %-5.2f", True),
    ("%lu bytes", True),
    ("%.*s", True),
    ("%(name)s was here", True),
    ("Hello {name}", True),
    ("Item {0} removed", True),
    ("Call {} twice", True),
    ("100%% done", False),
    ("100% sure", False),
    ("Use braces { and } freely", False),
    ("plain text", False),
])
def test_has_placeholder(text, expected):
    assert gc.has_placeholder(text) is expected


def test_normalise_and_controls():
    assert gc.normalise_ws(" a\tb\n\n c  ") == "a b c"
    assert gc.remove_controls("\aBell\ufeff rings") == "Bell rings"


# ---------------------------------------------------------------------------
# the whole pipeline
# ---------------------------------------------------------------------------

def test_cleaned_pairs_and_stats(locale_dir):
    stats = gc.new_stats()
    cats = sorted(catalogs_for(locale_dir), key=lambda c: gc.catalog_sort_key(c.path))
    pairs = gc.collect_pairs(cats, gc.Options(), stats, quiet=True)
    assert [(p.src, p.tgt) for p in pairs] == EXPECTED_PAIRS
    assert stats == EXPECTED_STEPS
    assert [c.pairs_kept for c in cats] == [11, 1, 1]
    assert [c.charset for c in cats] == ["utf-8", "utf-8", "iso8859-1"]


def test_keep_placeholders_option(locale_dir):
    stats = gc.new_stats()
    cats = catalogs_for(locale_dir)
    pairs = gc.collect_pairs(cats, gc.Options(drop_placeholders=False), stats, quiet=True)
    srcs = {p.src for p in pairs}
    assert "Cannot open file %s for reading" in srcs
    assert "Hello {name}, welcome back" in srcs
    assert stats["placeholder_dropped"] == 0
    assert stats["pairs_kept"] == 13 + 5


def test_token_limits_configurable(locale_dir):
    stats = gc.new_stats()
    pairs = gc.collect_pairs(catalogs_for(locale_dir), gc.Options(min_tokens=1, max_tokens=61),
                             stats, quiet=True)
    srcs = {p.src for p in pairs}
    assert {"Quit", "Open file", WORDS61_EN} <= srcs


def test_split_assignment(locale_dir):
    splits, steps, _ = gc.build_corpus(catalogs_for(locale_dir), gc.Options(), 2, 3, quiet=True)
    assert steps == EXPECTED_STEPS
    assert as_tuples(splits) == expected_split(EXPECTED_PAIRS, 2, 3)
    assert [len(splits[s]) for s in SPLITS] == [8, 2, 3]
    capped, _, _ = gc.build_corpus(catalogs_for(locale_dir), gc.Options(), 2, 3, 4, quiet=True)
    assert as_tuples(capped) == expected_split(EXPECTED_PAIRS, 2, 3, 4)
    assert as_tuples(capped)["train"] == as_tuples(splits)["train"][:4]


def test_split_is_deterministic_and_independent_of_input_order(locale_dir):
    first = as_tuples(gc.build_corpus(catalogs_for(locale_dir), gc.Options(), 2, 3, quiet=True)[0])
    again = as_tuples(gc.build_corpus(catalogs_for(locale_dir), gc.Options(), 2, 3, quiet=True)[0])
    for order in ([2, 1, 0], [1, 2, 0], [2, 0, 1]):
        shuffled = as_tuples(gc.build_corpus(catalogs_for(locale_dir, order), gc.Options(),
                                             2, 3, quiet=True)[0])
        assert shuffled == first
    assert again == first


def test_first_catalog_by_name_wins(tmp_path):
    # the same entries, but b.mo renamed so that it sorts first
    msg = tmp_path / "de" / "LC_MESSAGES"
    write_mo(msg / "z.mo", CATALOG_A)
    write_mo(msg / "b.mo", CATALOG_B)
    stats = gc.new_stats()
    cats = sorted(catalogs_for(tmp_path), key=lambda c: gc.catalog_sort_key(c.path))
    pairs = {p.src: p.tgt for p in gc.collect_pairs(cats, gc.Options(), stats, quiet=True)}
    assert pairs["Open the selected file now"] == "Ausgewählte Datei öffnen"


def test_too_few_pairs(locale_dir):
    with pytest.raises(gc.CorpusError, match="only 13 pairs"):
        gc.build_corpus(catalogs_for(locale_dir), gc.Options(), 10, 10, quiet=True)


def test_symlinked_catalog_read_once(locale_dir):
    msg = locale_dir / "de" / "LC_MESSAGES"
    os.symlink("a.mo", msg / "0alias.mo")
    names = [os.path.basename(p) for p in gc.find_catalogs(str(locale_dir), "de")]
    assert names == ["a.mo", "b.mo", "c.mo"]


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

def read_outputs(out: Path) -> dict:
    return {f.name: f.read_bytes() for f in sorted(out.iterdir())}


def test_cli_writes_splits_and_stats(locale_dir, tmp_path, capsys):
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    args = ["--lang", "de", "--catalog-dir", str(locale_dir), "--valid", "2", "--test", "3"]
    assert gc.main(args + ["--out-dir", str(out1)]) == 0
    assert "[gettext_corpus]" in capsys.readouterr().err
    assert gc.main(args + ["--out-dir", str(out2), "--quiet"]) == 0
    files1 = read_outputs(out1)
    assert sorted(files1) == ["stats.json", "test.de", "test.en", "train.de", "train.en",
                              "valid.de", "valid.en"]
    assert files1 == read_outputs(out2)  # deterministic, byte for byte

    expected = expected_split(EXPECTED_PAIRS, 2, 3)
    for name in SPLITS:
        en = (out1 / f"{name}.en").read_text(encoding="utf-8")
        de = (out1 / f"{name}.de").read_text(encoding="utf-8")
        assert en == "".join(s + "\n" for s, _ in expected[name])
        assert de == "".join(t + "\n" for _, t in expected[name])

    stats = json.loads(files1["stats.json"])
    assert stats["steps"] == EXPECTED_STEPS
    assert {k: v["pairs"] for k, v in stats["splits"].items()} == {"train": 8, "valid": 2, "test": 3}
    assert [c["file"] for c in stats["catalogs"]] == ["a.mo", "b.mo", "c.mo"]
    assert sum(sum(c["pairs_in_splits"].values()) for c in stats["catalogs"]) == 13
    for cat in stats["catalogs"]:
        assert set(cat) >= {"file", "package", "version", "licence", "entries", "pairs_kept"}
    assert not list(out1.glob(".*"))  # no temp files left behind


def test_cli_without_dpkg_records_null(locale_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "out"
    assert gc.main(["--lang", "de", "--catalog-dir", str(locale_dir), "--out-dir", str(out),
                    "--valid", "1", "--test", "1", "--quiet"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert all(c["package"] is None and c["version"] is None for c in stats["catalogs"])


def test_cli_missing_catalog_dir(tmp_path, capsys):
    rc = gc.main(["--lang", "de", "--catalog-dir", str(tmp_path / "nope"),
                  "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines() == [
        f"gettext_corpus: error: catalog directory not found: {tmp_path / 'nope' / 'de' / 'LC_MESSAGES'}"]
    assert not (tmp_path / "out").exists()


def test_cli_extra_packages_needs_cache(tmp_path):
    with pytest.raises(SystemExit) as exc:
        gc.parse_args(["--lang", "de", "--out-dir", str(tmp_path), "--extra-packages", "vlc-l10n"])
    assert exc.value.code == 2
    args = gc.parse_args(["--lang", "de", "--out-dir", str(tmp_path),
                          "--extra-packages", "vlc-l10n, gimp-data,", "--cache", str(tmp_path)])
    assert args.extra_packages == ["vlc-l10n", "gimp-data"]
    assert args.drop_placeholders is True
    assert gc.parse_args(["--lang", "de", "--out-dir", "x",
                          "--no-drop-placeholders"]).drop_placeholders is False
    with pytest.raises(SystemExit):
        gc.parse_args(["--lang", "de", "--out-dir", "x", "--extra-packages", "Bad;rm",
                       "--cache", "c"])


def test_cli_extra_packages_without_apt(locale_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    rc = gc.main(["--lang", "de", "--catalog-dir", str(locale_dir), "--out-dir",
                  str(tmp_path / "out"), "--extra-packages", "vlc-l10n",
                  "--cache", str(tmp_path / "cache"), "--quiet"])
    assert rc == 1
    assert "needs 'apt-get'" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# the committed sample corpus
# ---------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), path
    return text[:-1].split("\n")


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="data/sample not built")
def test_committed_sample():
    stats = json.loads((SAMPLE / "stats.json").read_text(encoding="utf-8"))
    sources = {}
    for name in SPLITS:
        en = _lines(SAMPLE / f"{name}.en")
        de = _lines(SAMPLE / f"{name}.de")
        assert len(en) == len(de) == stats["splits"][name]["pairs"], name
        assert all(line.strip() for line in en + de), f"empty line in {name}"
        assert all(line == " ".join(line.split()) for line in en + de), name
        assert len(set(en)) == len(en), f"repeated source in {name}"
        sources[name] = set(en)
    assert len(sources["valid"]) == 1000 and len(sources["test"]) == 1000
    assert not sources["train"] & sources["test"]
    assert not sources["train"] & sources["valid"]
    assert not sources["valid"] & sources["test"]
    # test/valid are the smallest sha1 values, in hash order
    hashes = {n: [gc.source_hash(s) for s in _lines(SAMPLE / f"{n}.en")] for n in SPLITS}
    for name in SPLITS:
        assert hashes[name] == sorted(hashes[name])
    assert max(hashes["test"]) < min(hashes["valid"])
    assert max(hashes["valid"]) < min(hashes["train"])


def test_licence_from_copyright(tmp_path):
    dep5 = tmp_path / "dep5"
    dep5.write_text("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                    "Upstream-Name: x\n\nFiles: doc/*\nCopyright: 2020 A\nLicense: GFDL-1.3\n\n"
                    "Files: *\nCopyright: 2020 B\nLicense: GPL-3+\n\nLicense: GPL-3+\n text\n")
    prose = tmp_path / "prose"
    prose.write_text("This package was debianized by someone.\n\n"
                     "License: The main library is licensed under GNU Lesser\n")
    assert gc.licence_from_copyright(str(dep5)) == "GPL-3+"
    assert gc.licence_from_copyright(str(prose)) is None
    assert gc.licence_from_copyright(str(tmp_path / "missing")) is None
