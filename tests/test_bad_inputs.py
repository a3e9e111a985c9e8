"""Bad inputs through the whole DAG: each stops the run with one clear error naming the file and
line (or the config key) and leaves no partial output behind."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import snakemake
from tiny_workflow import tiny_config, write_tiny_corpus

CORPUS = "results/tiny_en_de"


@pytest.fixture
def corpus(tmp_path):
    """The tiny corpus with one teacher, up to its BLEU file."""
    write_tiny_corpus(tmp_path)
    config = tiny_config(tmp_path)
    config["corpora"]["tiny_en_de"]["systems"] = ["at_tiny"]
    config["models"] = {"at_tiny": config["models"]["at_tiny"]}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def run(work, *extra_configs):
    return snakemake(f"{CORPUS}/at_tiny/test.bleu.json", "--directory", work, "--cores", "2", "--show-failed-logs",
                     "--configfile", work / "tiny.yaml", *extra_configs, timeout=300)


def produced(work) -> list[str]:
    """Every file the run left under results/ (logs and Snakemake's own state aside)."""
    return sorted(str(p.relative_to(work)) for p in (work / "results").rglob("*") if p.is_file()) \
        if (work / "results").exists() else []


def edit_line(path, number, text=None, raw: bytes | None = None, delete=False):
    lines = path.read_bytes().split(b"\n")
    if delete:
        del lines[number - 1]
    else:
        lines[number - 1] = raw if raw is not None else text.encode("utf-8")
    path.write_bytes(b"\n".join(lines))


def the_error(result, script="assemble.py") -> str:
    """The script's one error line, as the failed job's log shows it."""
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(f"{script}: error:")]
    assert len(errors) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("damage, message", [
    (lambda w: edit_line(w / "train.de", 17, delete=True),
     r"line-count mismatch: .*train\.en has 400 lines, .*train\.de has 399"),
    (lambda w: edit_line(w / "train.en", 7, raw=b"caf\xe9 au lait"), r"train\.en:7: invalid UTF-8"),
    (lambda w: edit_line(w / "test.de", 3, ""), r"test\.de:3: empty line"),
    (lambda w: edit_line(w / "valid.en", 5, "word " * 2001), r"valid\.en:5: line of 10005 characters .*10000"),
])
def test_corpus_errors_name_file_and_line_and_leave_nothing(corpus, damage, message):
    damage(corpus)
    result = run(corpus)
    assert result.returncode != 0
    assert re.search(message, the_error(result)), the_error(result)
    # the failing split wrote nothing; the other splits' jobs (their raw text, the cleaning of the
    # training split) may have finished before Snakemake stopped, never a temporary file
    for leftover in produced(corpus):
        assert leftover.startswith((f"{CORPUS}/raw/", f"{CORPUS}/prep/")), leftover
        assert not leftover.endswith((".tmp", ".part")) and not Path(leftover).name.startswith("."), leftover
    broken_split = re.search(r"(train|valid|test)\.(en|de)", message.replace("\\", "")).group(1)
    assert not (corpus / CORPUS / f"raw/{broken_split}.src").exists()
    assert not (corpus / CORPUS / f"raw/{broken_split}.tgt").exists()


def test_a_missing_corpus_file_is_named_before_anything_runs(corpus):
    (corpus / "valid.de").unlink()
    result = run(corpus)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config key corpora.tiny_en_de.sources.valid.prefix: {corpus / 'valid.de'} does not exist" in output
    assert produced(corpus) == []


def test_a_wrong_config_type_is_one_line_naming_the_key(corpus):
    (corpus / "bad.yaml").write_text(yaml.safe_dump({"models": {"at_tiny": {"train": {"max_update": "thirty"}}}}))
    result = run(corpus, corpus / "bad.yaml")
    assert result.returncode != 0
    assert "config key models.at_tiny.train.max_update: 'thirty' is not of type 'integer'" in result.stderr
    assert not (corpus / "results").exists() and not (corpus / "logs").exists()


@pytest.fixture
def trained(tiny_run, tmp_path):
    """A copy of the tiny local run (mtimes kept), to damage."""
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def test_a_corrupted_checkpoint_stops_decoding_with_its_name(trained):
    checkpoint = trained / CORPUS / "at_tiny/checkpoint.avg.pt"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor
    checkpoint.write_bytes(bytes(data))
    result = snakemake(f"{CORPUS}/at_tiny/test.bleu.json", "--directory", trained, "--configfile", trained / "tiny.yaml",
                       "--cores", "2", "--show-failed-logs", "--allowed-rules", "translate_test", "score", timeout=300)
    assert result.returncode != 0
    error = the_error(result, "translate.py")
    assert f"{CORPUS}/at_tiny/checkpoint.avg.pt: corrupted checkpoint (member " in error and "CRC" in error
    system = trained / CORPUS / "at_tiny"
    assert not any((system / name).exists() for name in ("test.hyp", "test.generate.txt", "test.translate.json"))
    assert not [p.name for p in system.iterdir() if p.name.startswith(".")]  # no temporary files
    # the BLEU file left is the previous run's; the remedy the error names rebuilds the chain
    assert error.endswith(f"rebuild it and what depends on it with: snakemake --forcerun {CORPUS}/at_tiny/checkpoint.avg.pt")
    planned = snakemake(f"{CORPUS}/at_tiny/test.bleu.json", "-n", "--directory", trained, "--configfile",
                        trained / "tiny.yaml", "--forcerun", f"{CORPUS}/at_tiny/checkpoint.avg.pt", check=True).stdout
    for rule in ("average_checkpoints", "translate_test", "score"):
        assert re.search(rf"^{rule}\s+1$", planned, re.M), planned


def test_a_truncated_checkpoint_stops_resumed_training(trained):
    last = trained / CORPUS / "at_tiny_md/checkpoints/checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    (trained / "longer.yaml").write_text(yaml.safe_dump({"models": {"at_tiny_md": {"train": {"max_update": 50}}}}))
    result = snakemake(f"{CORPUS}/at_tiny_md/checkpoint.avg.pt", "--directory", trained, "--configfile",
                       trained / "tiny.yaml", trained / "longer.yaml", "--cores", "2", "--show-failed-logs",
                       "--allowed-rules", "train_model", "average_checkpoints", timeout=300)
    assert result.returncode != 0
    error = the_error(result, "train.py")
    assert "at_tiny_md/checkpoints/checkpoint_last.pt: corrupted or truncated checkpoint" in error
    assert "copy an intact checkpoint_<epoch>_<update>.pt" in error
    assert not (trained / CORPUS / "at_tiny_md/train.done.json").exists()
    assert json.loads((trained / CORPUS / "at_tiny/train.done.json").read_text())  # other models untouched
