"""Pretrained checkpoints (config `pretrained`, fairseq's XLM-R archives) through the data stage, on
a tiny XLM-R-shaped archive (tests/tiny_xlmr.py): unpacking, the DAG that downloads and unpacks an
archive only when a model of the run uses it, the config errors, and a real run from a local server."""
import copy
import hashlib
import io
import shlex
import tarfile

import pytest
import yaml

import download
from conftest import REPO, serve_directory, snakemake
from natpipe.errors import ConfigError
from natpipe.registry import system_of
from natpipe.workflow import Workflow, url_filename
from test_workflow import job_counts
from tiny_xlmr import FILES, NAME, build_tiny_xlmr

DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
URL = "http://127.0.0.1:1/xlmr.tiny.tar.gz"
PRETRAINED = {"xlmr_tiny": {"url": URL, "sha256": None, "format": "fairseq"}}
SAMPLE_LINES = [line for lang in ("en", "de")
                for line in (REPO / f"data/sample/test.{lang}").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The archive; its source files lie in <archive's folder>/xlmr.tiny/."""
    return build_tiny_xlmr(tmp_path_factory.mktemp("xlmr"), SAMPLE_LINES)


def sources(archive):
    return {name: (archive.parent / NAME / name).read_bytes() for name in FILES}


def tar_of(path, members: dict[str, bytes], links: dict[str, str] = {}):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


# -- download.py unpack-pretrained -----------------------------------------------------------------
def unpack(archive, out, capsys):
    code = download.main(["unpack-pretrained", "--archive", str(archive), "--format", "fairseq", "--out-dir", str(out)])
    return code, capsys.readouterr()


def test_unpack_writes_the_three_files_and_logs_their_size_and_sha256(tiny, tmp_path, capsys):
    code, printed = unpack(tiny, tmp_path / "out", capsys)
    assert code == 0, printed.err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == sources(tiny)
    for name, data in sources(tiny).items():
        assert f"{tmp_path / 'out' / name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}" in printed.out


@pytest.mark.parametrize("case, error", [
    ("missing", "no member named 'sentencepiece.bpe.model' (format fairseq needs exactly one)"),
    ("two dictionaries", "2 members (xlmr.tiny/dict.txt, xlmr.tiny/old/dict.txt) named 'dict.txt'"),
    ("traversal", "unsafe member '../dict.txt'"),
    ("escaping link", "unsafe member 'xlmr.tiny/passwd' -> '/etc/passwd'"),
])
def test_a_bad_archive_is_one_error_naming_it_and_leaves_no_file(tiny, tmp_path, capsys, case, error):
    files = {f"{NAME}/{name}": data for name, data in sources(tiny).items()}
    members, links = {
        "missing": ({k: v for k, v in files.items() if not k.endswith(".model")}, {}),
        "two dictionaries": ({**files, f"{NAME}/old/dict.txt": b"a 1\n"}, {}),
        "traversal": ({**files, "../dict.txt": b"a 1\n"}, {}),
        "escaping link": (files, {f"{NAME}/passwd": "/etc/passwd"}),
    }[case]
    archive = tar_of(tmp_path / "bad.tar.gz", members, links)
    out = tmp_path / "out"
    out.mkdir()
    code, printed = unpack(archive, out, capsys)
    assert code == 1
    assert printed.err.startswith(f"download.py: error: {archive}") and error in printed.err
    assert printed.err.count("\n") == 1
    assert list(out.iterdir()) == []


def test_an_error_while_writing_leaves_none_of_the_files(tiny, tmp_path, capsys):
    """All or none: a checkpoint next to a stale or missing dictionary would be misread."""
    (tmp_path / "out" / "sentencepiece.bpe.model").mkdir(parents=True)  # the last rename fails
    code, printed = unpack(tiny, tmp_path / "out", capsys)
    assert code == 1 and "Is a directory" in printed.err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["sentencepiece.bpe.model"]


def test_the_fixture_is_a_checkpoint_fairseq_loads_as_xlmr(tiny):
    import sentencepiece as spm

    import natpipe.compat
    from fairseq.models.roberta import RobertaModel

    natpipe.compat.apply()  # torch's safe loader, with the checkpoint's argparse.Namespace allowed
    roberta = RobertaModel.from_pretrained(str(tiny.parent / NAME), checkpoint_file="model.pt", bpe="sentencepiece")
    args = roberta.cfg.model
    assert (args.encoder_layers, args.encoder_embed_dim, args.encoder_ffn_embed_dim, args.encoder_attention_heads,
            args.max_positions, args.activation_fn) == (2, 32, 64, 2, 512, "gelu")
    dictionary = roberta.task.source_dictionary
    assert [dictionary[i] for i in range(4)] == ["<s>", "<pad>", "</s>", "<unk>"] and dictionary[len(dictionary) - 1] == "<mask>"
    processor = spm.SentencePieceProcessor(model_file=str(tiny.parent / NAME / "sentencepiece.bpe.model"))
    line = SAMPLE_LINES[0]
    # XLM-R's layout: a piece's fairseq index is its SentencePiece id + 1
    assert roberta.encode(line).tolist() == [0] + [i + 1 for i in processor.encode(line)] + [2]
    embeddings = roberta.model.encoder.sentence_encoder
    assert embeddings.embed_positions.weight.shape == (514, 32)
    assert embeddings.embed_tokens.weight.shape == (processor.get_piece_size() + 2, 32)  # + <pad>, <mask>


# -- the workflow -----------------------------------------------------------------------------------
def config(**changes):
    merged = copy.deepcopy(DEFAULT)
    merged.update({"pretrained": copy.deepcopy(PRETRAINED), "vocabularies": {"xlmr": {"pretrained": "xlmr_tiny"}}})
    for name, model in changes.pop("models", {}).items():
        merged["models"][name] = {**merged["models"][name], **model}
    merged.update(changes)
    return merged


def test_a_vocabulary_of_a_pretrained_archive_downloads_and_unpacks_it_once(tmp_path):
    override = tmp_path / "pretrained.yaml"
    unused = {"url": "http://127.0.0.1:1/xlmr.unused.tar.gz", "sha256": None}
    override.write_text(yaml.safe_dump({"pretrained": {**PRETRAINED, "xlmr_unused": unused},
                                        "vocabularies": {"xlmr": {"pretrained": "xlmr_tiny"}, "other": {"pretrained": "xlmr_unused"}},
                                        "models": {"cmlm_sample": {"vocabulary": "xlmr"}}}))
    result = snakemake("-n", "-p", "--forceall", "--configfile", override, check=True)
    counts = job_counts(result.stdout)
    assert (counts["download"], counts["unpack_pretrained"]) == (1, 1)  # not the archive no model uses
    assert (counts["segment_for_vocabulary"], counts["binarize_vocabulary"]) == (6, 1)
    lines = result.stdout.splitlines()

    def command(script, *marks):
        return shlex.split(next(line for line in lines if script in line and all(m in line for m in marks)).split(">")[0])
    archive = f"data/downloads/{url_filename(URL)}"
    fetch = command("download.py fetch")
    assert fetch[fetch.index("--url"):] == ["--url", URL, "--out", archive]  # sha256 null: not checked
    unpack_words = command("download.py unpack-pretrained")
    assert unpack_words[unpack_words.index("--archive") + 1] == archive
    assert unpack_words[unpack_words.index("--out-dir") + 1] == "data/pretrained/xlmr_tiny"
    segment = command("subword.py apply", "vocab/xlmr/subword/train.en")
    assert segment[segment.index("--model") + 1] == "data/pretrained/xlmr_tiny/sentencepiece.bpe.model"
    assert segment[segment.index("--method") + 1] == "sentencepiece"
    binarize = command("binarize.py", "vocab/xlmr/data-bin")
    assert binarize[binarize.index("--dict") + 1] == "data/pretrained/xlmr_tiny/dict.txt"


def test_only_the_archives_a_model_of_the_run_uses_are_downloaded(monkeypatch):
    assert Workflow(config()).download_table() == {}  # defined, used by no model
    for vocabulary in ("xlmr", "xlmr_tiny"):  # a vocabulary {pretrained: ...}, or the pretrained name itself
        w = Workflow(config(models={"cmlm_sample": {"vocabulary": vocabulary}}))
        assert w.download_table() == {url_filename(URL): (URL, None)}
        assert w.vocabulary_spec(vocabulary) == {"method": "sentencepiece", "dictionary": "data/pretrained/xlmr_tiny/dict.txt",
                                                 "model": "data/pretrained/xlmr_tiny/sentencepiece.bpe.model"}
    # a system that starts from a pretrained checkpoint (XLM-D from XLM-R) names it through System.pretrained
    monkeypatch.setattr(type(system_of("cmlm")), "pretrained", lambda self, model: "xlmr_tiny")
    w = Workflow(config())
    assert w.download_table() == {url_filename(URL): (URL, None)} and w.pretrained_of("sample_en_de") == ["xlmr_tiny"]
    assert w.pretrained_files("xlmr_tiny")["checkpoint"] == "data/pretrained/xlmr_tiny/model.pt"


@pytest.mark.parametrize("changes, message", [
    ({"models": {"cmlm_sample": {"vocabulary": "xlmr_base"}}},
     "config key models.cmlm_sample.vocabulary: 'xlmr_base' is not a key of vocabularies or of pretrained"),
    ({"vocabularies": {"xlmr": {"pretrained": "xlmr_base"}}},
     "config key vocabularies.xlmr.pretrained: 'xlmr_base' is not a key of pretrained"),
    ({"vocabularies": {"xlmr": {"pretrained": "xlmr_tiny", "method": "bpe"}}},
     "config key vocabularies.xlmr.method: unknown key; allowed keys: pretrained"),
    ({"pretrained": {"xlmr_tiny": {**PRETRAINED["xlmr_tiny"], "format": "onnx"}}},
     "config key pretrained.xlmr_tiny.format: 'onnx' is not one of ['fairseq', 'huggingface']"),
    ({"models": {"xlmd_sample": {"pretrained": "xlmr_tiny"}}},
     "config key models.xlmd_sample.reset_init: transformer initialises a model without `pretrained`; "
     "this one loads xlmr_tiny"),
    ({"models": {"xlmd_sample": {"pretrained": "xlmr_tiny", "reset_init": "xlmr"}}},
     "config key models.xlmd_sample.pre_norm: XLM-R is post-norm: pre_norm is for models without a pretrained "
     "checkpoint (Reset)"),
    ({"pretrained": {**PRETRAINED, "xlmr_pinned": {"url": URL, "sha256": "0" * 64}},
      "models": {"cmlm_sample": {"vocabulary": "xlmr_tiny"}, "fnat_ctc_sample": {"vocabulary": "xlmr_pinned"}}},
     f"config key pretrained.xlmr_pinned.sha256: {URL} is configured elsewhere with another sha256"),
])
def test_config_errors_name_the_key(changes, message):
    with pytest.raises(ConfigError) as error:
        Workflow(config(**changes)).download_table()
    assert str(error.value) == message


def test_a_system_s_unknown_pretrained_checkpoint_names_the_model(monkeypatch):
    monkeypatch.setattr(type(system_of("cmlm")), "pretrained", lambda self, model: "xlmr_base")
    with pytest.raises(ConfigError, match=r"^config key models.cmlm_sample.pretrained: 'xlmr_base' is not a key of pretrained$"):
        Workflow(config())


def test_a_served_archive_is_downloaded_unpacked_and_segments_the_corpus(tiny, tmp_path):
    """The data part for real: the archive from a local server, a bare pretrained name as the vocabulary."""
    import sentencepiece as spm

    work = tmp_path / "work"
    with serve_directory(tiny.parent) as url:
        sample = {name: {"kind": "local", "prefix": str(REPO / "data/sample" / split)}
                  for name, split in (("sample_train", "train"), ("sample_valid", "valid"), ("sample_test", "test"))}
        override = {"pretrained": {"xlmr_tiny": {"url": f"{url}/{tiny.name}", "sha256": None}},
                    "models": {"cmlm_sample": {"vocabulary": "xlmr_tiny"}},
                    "corpora": {"sample_en_de": {"sources": sample}}}
        (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
        segmented = "results/sample_en_de/vocab/xlmr_tiny/subword/test.en"
        snakemake("--directory", work, "--configfile", tmp_path / "override.yaml", "--cores", "2",
                  "data/pretrained/xlmr_tiny/dict.txt", segmented, check=True)
    assert {name: (work / "data/pretrained/xlmr_tiny" / name).read_bytes() for name in FILES} == sources(tiny)
    assert "sha256" in (work / "logs/data/pretrained/xlmr_tiny.log").read_text()
    fetched = (work / f"logs/data/download/{url_filename(f'{url}/{tiny.name}')}.log").read_text()
    assert "WARNING: no sha256 given" in fetched
    processor = spm.SentencePieceProcessor(model_file=str(work / "data/pretrained/xlmr_tiny/sentencepiece.bpe.model"))
    tokenized = (work / "results/sample_en_de/prep/tok/test.src").read_text(encoding="utf-8").splitlines()
    pieces = [line.split() for line in (work / segmented).read_text(encoding="utf-8").splitlines()]
    assert len(pieces) == len(tokenized) == 1000
    assert [processor.decode(p) for p in pieces] == tokenized
