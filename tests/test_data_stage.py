"""The data stage through Snakemake against a real HTTP server on 127.0.0.1: download with
checksum, extraction of text and sgm members, assembly with a held-out every-N-th split; and the
same corpus from a local mirror directory."""
import hashlib
import io
import tarfile

import pytest
import yaml

from conftest import serve_directory, snakemake

TRAIN = [(f"sentence number {i} .", f"Satz Nummer {i} .") for i in range(1, 11)]
TEST = [("Hello &amp; welcome .", "Hallo &amp; willkommen ."), ("Good bye .", "Auf Wiedersehen .")]
MULTI_SRC = ["Hello &amp; welcome.", "Good bye.", "See you."]
MULTI_REF1 = ["Hallo &amp; willkommen.", "Auf Wiedersehen.", "Bis bald."]
MULTI_REF2 = ["Hallo und herzlich willkommen!", "Tschüss, (bis dann).", "Man sieht sich."]


def tgz(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sgm(lines):
    segs = "".join(f'<seg id="{i}">{line}</seg>\n' for i, line in enumerate(lines, start=1))
    return f'<srcset setid="t"><doc docid="d">\n{segs}</doc></srcset>\n'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "train.tgz").write_bytes(tgz({"corpus/train.en": "".join(s + "\n" for s, _ in TRAIN),
                                          "corpus/train.de": "".join(t + "\n" for _, t in TRAIN)}))
    (root / "test.tgz").write_bytes(tgz({"sgm/test-src.en.sgm": sgm([s for s, _ in TEST]),
                                         "sgm/test-ref.de.sgm": sgm([t for _, t in TEST])}))
    # a multi-reference test set (WMT's newstestB-style second reference in the same archive)
    (root / "multi.tgz").write_bytes(tgz({"sgm/multi-src.en.sgm": sgm(MULTI_SRC), "sgm/multi-refA.de.sgm": sgm(MULTI_REF1),
                                          "sgm/multi-refB.de.sgm": sgm(MULTI_REF2),
                                          "sgm/multi-refC.de.sgm": sgm(MULTI_REF2 + ["Eine Zeile zu viel ."])}))
    with serve_directory(root) as url:
        yield root, url


def corpus_config(base_url, root, mirror=None):
    def source(name, members, fmt="text"):
        return {"kind": "url", "url": f"{base_url}/{name}", "members": members, "format": fmt,
                "sha256": hashlib.sha256((root / name).read_bytes()).hexdigest()}

    return {"run": ["web"], "mirror": mirror, "corpora": {"web": {
        "src": "en", "tgt": "de",
        "sources": {"train": source("train.tgz", {"en": "corpus/train.en", "de": "corpus/train.de"}),
                    "test": source("test.tgz", {"en": "*test-src.en.sgm", "de": "*test-ref.de.sgm"}, "sgm")},
        "splits": {"train": [{"source": "train", "every": 5, "invert": True}],
                   "valid": [{"source": "train", "every": 5}], "test": ["test"]},
        "preprocess": {"subword": {"method": "bpe", "operations": 10}},
        "teacher": "at_sample", "systems": ["at_sample"]}}}


def run_data_stage(workdir, config):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "web.yaml").write_text(yaml.safe_dump(config))
    snakemake("--directory", workdir, "--configfile", workdir / "web.yaml", "--cores", "1", "data", check=True)
    return {f"{split}.{side}": (workdir / f"results/web/raw/{split}.{side}").read_text(encoding="utf-8")
            for split in ("train", "valid", "test") for side in ("src", "tgt")}


def test_downloaded_corpus_is_extracted_and_split(served, tmp_path):
    root, url = served
    raw = run_data_stage(tmp_path, corpus_config(url, root))
    assert raw["valid.src"] == "sentence number 5 .\nsentence number 10 .\n"
    assert raw["train.tgt"].splitlines() == [t for i, (_, t) in enumerate(TRAIN, 1) if i % 5]
    assert raw["test.src"] == "Hello & welcome .\nGood bye .\n"  # sgm entities unescaped
    assert raw["test.tgt"] == "Hallo & willkommen .\nAuf Wiedersehen .\n"
    downloads = sorted(p.name for p in (tmp_path / "data/downloads").iterdir())
    # cached as <url hash>-<name>, no .part file left
    assert sorted(d.split("-", 1)[1] for d in downloads) == ["test.tgz", "train.tgz"]


def test_local_mirror_gives_the_same_corpus(served, tmp_path):
    root, url = served
    online = run_data_stage(tmp_path / "online", corpus_config(url, root))
    offline = run_data_stage(tmp_path / "offline", corpus_config("http://127.0.0.1:9/unreachable", root, str(root)))
    assert offline == online


def test_checksum_mismatch_stops_the_stage_and_leaves_no_download(served, tmp_path):
    root, url = served
    config = corpus_config(url, root)
    config["corpora"]["web"]["sources"]["train"]["sha256"] = "0" * 64
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--directory", tmp_path, "--configfile", tmp_path / "web.yaml", "--cores", "1", "data")
    assert result.returncode != 0
    log = next((tmp_path / "logs/data/download").glob("*-train.tgz.log")).read_text()
    assert "sha256" in log.lower() and "0" * 64 in log
    assert not list((tmp_path / "data/downloads").glob("*-train.tgz*"))


def multi_reference_config(base_url, root, reference_member):
    config = corpus_config(base_url, root)
    config["corpora"]["web"]["sources"]["test"] = {
        "kind": "url", "url": f"{base_url}/multi.tgz", "format": "sgm",
        "sha256": hashlib.sha256((root / "multi.tgz").read_bytes()).hexdigest(),
        "members": {"en": "*multi-src.en.sgm", "de": "*multi-refA.de.sgm"},
        "references": {"de": [reference_member]}}
    config["corpora"]["web"]["splits"]["test"] = [{"source": "test", "every": 3, "invert": True}]  # lines 1, 2
    return config


def test_a_second_reference_is_extracted_selected_and_tokenized_like_the_first(served, tmp_path):
    import moses

    root, url = served
    raw = run_data_stage(tmp_path, multi_reference_config(url, root, "*multi-refB.de.sgm"))
    assert raw["test.tgt"] == "Hallo & willkommen.\nAuf Wiedersehen.\n"
    second = (tmp_path / "results/web/raw/test.ref2.tgt").read_text(encoding="utf-8")
    assert second == "Hallo und herzlich willkommen!\nTschüss, (bis dann).\n"  # the same lines as the source
    targets = ["results/web/prep/tok/test.tgt", "results/web/prep/tok/test.ref2.tgt"]
    snakemake("--directory", tmp_path, "--configfile", tmp_path / "web.yaml", "--cores", "1", *targets, check=True)
    tokenized = [(tmp_path / t).read_text(encoding="utf-8").splitlines() for t in targets]
    # the corpus's Moses settings (normalise, tokenize, -a), as for reference 1
    assert tokenized == [moses.process_lines(lines.splitlines(), "de") for lines in (raw["test.tgt"], second)]
    assert tokenized[1] == ["Hallo und herzlich willkommen !", "Tschüss , ( bis dann ) ."]


def test_a_reference_with_another_line_count_stops_with_one_error_and_no_output(served, tmp_path):
    root, url = served
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(multi_reference_config(url, root, "*multi-refC.de.sgm")))
    result = snakemake("--directory", tmp_path, "--configfile", tmp_path / "web.yaml", "--cores", "1", "data")
    assert result.returncode != 0
    log = (tmp_path / "logs/data/assemble/web/test.ref2.log").read_text(encoding="utf-8").strip()
    assert log == ("assemble.py: error: line-count mismatch: reference results/web/raw/sources/test/ref2.tgt has 4 "
                   "lines, its source results/web/raw/sources/test/all.src has 3")
    assert not (tmp_path / "results/web/raw/test.ref2.tgt").exists()
    assert not list((tmp_path / "results/web/raw").glob(".test.ref2.tgt*"))  # no temporary file either
