"""Tests for scripts/download.py against a real HTTP server on 127.0.0.1 (no other network)."""
import gzip
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "download.py"
sys.path.insert(0, str(SCRIPT.parent))
import download as dl  # noqa: E402


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make_tar(entries, mode="w:gz"):
    """entries: name -> bytes (regular file) or ("sym"|"hard", target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, val in entries.items():
            ti = tarfile.TarInfo(name)
            if isinstance(val, tuple):
                ti.type = tarfile.SYMTYPE if val[0] == "sym" else tarfile.LNKTYPE
                ti.linkname = val[1]
                tf.addfile(ti)
            else:
                ti.size = len(val)
                tf.addfile(ti, io.BytesIO(val))
    return buf.getvalue()


def make_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours `Range: bytes=N-` unless server.ranges is False;
    server.cut_after=N sends only N body bytes of the next response, then hangs up."""

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and srv.ranges:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:
            body, srv.cut_after = body[:srv.cut_after], None
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")  # never route 127.0.0.1 through a proxy
    monkeypatch.setattr(dl, "BACKOFF", 0)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.requests, srv.cut_after, srv.ranges = {}, [], None, True
    srv.url = f"http://127.0.0.1:{srv.server_port}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def corpus():
    """A tgz that is big enough to cut in half but below the progress threshold."""
    lines = "".join(f"Satz Nummer {i} über Äpfel.\n" for i in range(4000)).encode()
    return make_tar({"corpus/train.de": lines, "corpus/train.en": lines.decode().upper().encode()})


# ---------------------------------------------------------------- fetch

def test_fetch_happy_path_and_skip_when_present(server, corpus, tmp_path):
    server.files["/data/c.tgz"] = corpus
    dest = tmp_path / "sub" / "c.tgz"
    dl.fetch(f"{server.url}/data/c.tgz", sha(corpus), str(dest))
    assert dest.read_bytes() == corpus
    assert not Path(f"{dest}.part").exists()
    assert server.requests == [("/data/c.tgz", None)]
    dl.fetch(f"{server.url}/data/c.tgz", sha(corpus).upper(), str(dest))
    assert len(server.requests) == 1


def test_fetch_resumes_cut_transfer(server, corpus, tmp_path):
    server.files["/c.tgz"] = corpus
    half = len(corpus) // 2
    server.cut_after = half
    dest = tmp_path / "c.tgz"
    with pytest.raises(dl.DownloadError, match="failed after 1 attempt"):
        dl.fetch(f"{server.url}/c.tgz", sha(corpus), str(dest), retries=0, chunk=4096)
    assert not dest.exists()
    assert Path(f"{dest}.part").read_bytes() == corpus[:half]
    dl.fetch(f"{server.url}/c.tgz", sha(corpus), str(dest), retries=0)
    assert server.requests[-1] == ("/c.tgz", f"bytes={half}-")
    assert dest.read_bytes() == corpus
    assert not Path(f"{dest}.part").exists()


def test_fetch_retries_within_one_call(server, corpus, tmp_path):
    server.files["/c.tgz"] = corpus
    server.cut_after = 1000
    dest = tmp_path / "c.tgz"
    dl.fetch(f"{server.url}/c.tgz", sha(corpus), str(dest), retries=1)
    assert server.requests == [("/c.tgz", None), ("/c.tgz", "bytes=1000-")]
    assert dest.read_bytes() == corpus


def test_fetch_restarts_when_server_ignores_range(server, corpus, tmp_path):
    server.files["/c.tgz"] = corpus
    server.ranges = False
    dest = tmp_path / "c.tgz"
    Path(f"{dest}.part").write_bytes(b"stale garbage")
    dl.fetch(f"{server.url}/c.tgz", sha(corpus), str(dest))
    assert server.requests == [("/c.tgz", "bytes=13-")]
    assert dest.read_bytes() == corpus


def test_fetch_checksum_mismatch(server, corpus, tmp_path):
    server.files["/c.tgz"] = corpus
    dest = tmp_path / "c.tgz"
    with pytest.raises(dl.DownloadError) as exc:
        dl.fetch(f"{server.url}/c.tgz", "0" * 64, str(dest))
    msg = str(exc.value)
    assert f"{server.url}/c.tgz" in msg and "0" * 64 in msg and sha(corpus) in msg
    assert os.listdir(tmp_path) == []


def test_fetch_http_error_is_not_retried(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.fetch(f"{server.url}/missing.tgz", "0" * 64, str(tmp_path / "m.tgz"), retries=3)
    assert len(server.requests) == 1
    assert os.listdir(tmp_path) == []


def test_fetch_without_sha_warns(server, tmp_path, capsys):
    server.files["/x.gz"] = b"abc"
    dl.fetch(f"{server.url}/x.gz", None, str(tmp_path / "x.gz"))
    assert (tmp_path / "x.gz").read_bytes() == b"abc"
    assert "WARNING" in capsys.readouterr().err


def test_fetch_file_url(tmp_path, corpus):
    src = tmp_path / "src.tgz"
    src.write_bytes(corpus)
    dl.fetch(src.as_uri(), sha(corpus), str(tmp_path / "out.tgz"))
    assert (tmp_path / "out.tgz").read_bytes() == corpus


def test_mirror_local_directory(server, corpus, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "c.tgz").write_bytes(corpus)
    dest = tmp_path / "c.tgz"
    dl.fetch(f"{server.url}/orig/c.tgz", sha(corpus), str(dest), mirror=str(mirror))
    assert dest.read_bytes() == corpus and server.requests == []
    with pytest.raises(dl.DownloadError, match="sha256 mismatch"):
        dl.fetch(f"{server.url}/orig/c.tgz", "1" * 64, str(tmp_path / "d.tgz"), mirror=str(mirror))
    assert not (tmp_path / "d.tgz").exists() and not (tmp_path / "d.tgz.part").exists()


def test_mirror_base_url(server, corpus, tmp_path):
    server.files["/mirror/c.tgz"] = corpus
    dest = tmp_path / "c.tgz"
    dl.fetch(f"{server.url}/orig/c.tgz", sha(corpus), str(dest), mirror=f"{server.url}/mirror/")
    assert server.requests == [("/mirror/c.tgz", None)]
    assert dest.read_bytes() == corpus


# ---------------------------------------------------------------- extraction safety

UNSAFE = {
    "tar-dotdot": ("a.tgz", lambda: make_tar({"good.txt": b"x\n", "../evil.txt": b"x\n"}), "../evil.txt"),
    "tar-absolute": ("a.tgz", lambda: make_tar({"good.txt": b"x\n", "/etc/x": b"x\n"}), "/etc/x"),
    "tar-symlink": ("a.tar", lambda: make_tar({"good.txt": b"x\n", "d/link": ("sym", "../../x")}, "w"),
                    "d/link"),
    "tar-abs-symlink": ("a.tgz", lambda: make_tar({"good.txt": b"x\n", "l": ("sym", "/etc/passwd")}), "l"),
    "tar-hardlink": ("a.tgz", lambda: make_tar({"good.txt": b"x\n", "h": ("hard", "../x")}), "h"),
    "zip-dotdot": ("a.zip", lambda: make_zip({"good.txt": b"x\n", "d/../../evil.txt": b"x"}),
                   "d/../../evil.txt"),
    "zip-absolute": ("a.zip", lambda: make_zip({"good.txt": b"x\n", "/etc/x": b"x"}), "/etc/x"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archives_are_refused(case, tmp_path):
    name, build, bad = UNSAFE[case]
    archive = tmp_path / name
    archive.write_bytes(build())
    out = tmp_path / "out" / "good.txt"
    with pytest.raises(dl.UnsafeArchiveError) as exc:
        dl.extract_member(str(archive), "good.txt", str(out), "text")
    assert str(archive) in str(exc.value) and repr(bad) in str(exc.value)
    assert not out.parent.exists() or os.listdir(out.parent) == []


def test_symlink_inside_archive_is_allowed(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(make_tar({"d/a.txt": b"hi\n", "d/sub/l": ("sym", "../a.txt")}))
    dl.extract_member(str(archive), "d/a.txt", str(tmp_path / "o"), "text")
    assert (tmp_path / "o").read_text() == "hi\n"


# ---------------------------------------------------------------- extraction formats

def test_sgm_segments_with_entities(tmp_path):
    sgm = ('<srcset setid="t" srclang="any">\r\n<doc docid="1">\r\n'
           '<seg id="1">Haus &amp; Hof </seg>\r\n'
           '<seg id=2>  &lt;b&gt; &quot;x&quot; &#39;y&#39; &#x00E4;</seg>\r\n'
           '<seg id="3"></seg>\r\n<seg id="4">über\r\nzwei Zeilen</seg>\r\n'
           '</doc>\r\n</srcset>\r\n').encode()
    archive = tmp_path / "dev.tgz"
    archive.write_bytes(make_tar({"dev/newstest2014-deen-src.de.sgm": sgm}))
    out = tmp_path / "dev.de"
    n = dl.extract_member(str(archive), "dev/newstest2014-deen-src.de.sgm", str(out), "sgm")
    assert n == 4
    assert out.read_bytes().decode() == "Haus & Hof\n<b> \"x\" 'y' ä\n\nüber zwei Zeilen\n"


def test_xml_format_from_plain_file(tmp_path):
    xml = tmp_path / "wmt.xml"
    xml.write_text('<dataset><doc><src lang="de"><p><seg id="1">a &amp; b</seg>'
                   '<seg id="2">c</seg></p></src></doc></dataset>\n', encoding="utf-8")
    dl.extract_member(str(xml), None, str(tmp_path / "o"), "xml")
    assert (tmp_path / "o").read_text() == "a & b\nc\n"


def test_tags_format_and_glob_member(tmp_path):
    tags = ("<url>http://www.ted.com/talks/x</url>\r\n  <talkid>1</talkid>\r\n"
            "  Hallo Welt.  \r\n<title>T</title>\r\nZweiter Satz.\r\n").encode()
    archive = tmp_path / "de-en.tgz"
    archive.write_bytes(make_tar({"de-en/train.tags.de-en.de": tags,
                                  "de-en/train.tags.de-en.en": b"Hello world.\n"}))
    out = tmp_path / "train.de"
    dl.extract_member(str(archive), "*/train.tags.*.de", str(out), "tags")
    assert out.read_bytes() == "Hallo Welt.\nZweiter Satz.\n".encode()
    with pytest.raises(dl.ExtractError, match=r"matches 2 members.*train\.tags\.de-en\.de"):
        dl.extract_member(str(archive), "*train.tags*", str(tmp_path / "x"), "tags")
    with pytest.raises(dl.ExtractError, match=r"matches no member.*de-en/train\.tags\.de-en\.en"):
        dl.extract_member(str(archive), "*.fr", str(tmp_path / "x"), "tags")
    assert not (tmp_path / "x").exists()


def test_zip_gz_and_text_normalisation(tmp_path):
    data = "\ufeffeins\r\nzwei\rhalb\n\ndrei".encode()
    (tmp_path / "a.zip").write_bytes(make_zip({"dir/": b"", "dir/t.txt": data}))
    (tmp_path / "t.gz").write_bytes(gzip.compress(data))
    want = "eins\nzwei halb\n\ndrei\n"
    dl.extract_member(str(tmp_path / "a.zip"), "dir/*.txt", str(tmp_path / "o1"), "text")
    dl.extract_member(str(tmp_path / "t.gz"), None, str(tmp_path / "o2"), "text")
    assert (tmp_path / "o1").read_text() == (tmp_path / "o2").read_text() == want


def test_invalid_utf8_names_line(tmp_path):
    archive = tmp_path / "c.tgz"
    archive.write_bytes(make_tar({"c/train.de": b"ok\nauch ok\nkaputt \xff\xfe\nok\n"}))
    out = tmp_path / "out" / "train.de"
    with pytest.raises(dl.ExtractError, match=r"c\.tgz:c/train\.de: invalid UTF-8 on line 3"):
        dl.extract_member(str(archive), "c/train.de", str(out), "text")
    assert os.listdir(out.parent) == []


# ---------------------------------------------------------------- CLI

def run_cli(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=30)


def test_cli_error_is_one_line(tmp_path):
    archive = tmp_path / "c.tgz"
    archive.write_bytes(make_tar({"c/a": b"\xff\n"}))
    res = run_cli("extract", "--archive", str(archive), "--member", "c/a", "--format", "text",
                  "--out", str(tmp_path / "o"))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("download.py: error: ") and "line 1" in res.stderr
    res = run_cli("extract", "--archive", str(tmp_path / "nope.tgz"), "--format", "text",
                  "--out", str(tmp_path / "o"))
    assert res.returncode == 1 and res.stderr.startswith("download.py: error: ")
    assert res.stderr.count("\n") == 1


def test_cli_fetch_and_extract(tmp_path, corpus):
    src = tmp_path / "src.tgz"
    src.write_bytes(corpus)
    dest = tmp_path / "dl" / "c.tgz"
    res = run_cli("fetch", "--url", src.as_uri(), "--sha256", sha(corpus), "--out", str(dest))
    assert res.returncode == 0, res.stderr
    res = run_cli("extract", "--archive", str(dest), "--member", "*.en", "--format", "text",
                  "--out", str(tmp_path / "train.en"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "train.en").read_text().splitlines()[1] == "SATZ NUMMER 1 ÜBER ÄPFEL."


def test_gzip_member_inside_tar_is_decompressed(tmp_path):
    payload = gzip.compress("erste Zeile\nzweite Zeile\n".encode())
    archive = tmp_path / "giga.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("giga/giga-fren.release2.fixed.de.gz")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    out = tmp_path / "out.txt"
    assert dl.extract_member(str(archive), "*.de.gz", str(out), "text") == 2
    assert out.read_text(encoding="utf-8") == "erste Zeile\nzweite Zeile\n"
