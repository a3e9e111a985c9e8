"""Hugging Face's XLM-R layout (config.json, model.safetensors, sentencepiece.bpe.model) through the
data stage's converter (natpipe.systems.xlmd.huggingface): transformers' own XLMRobertaForMaskedLM and
XLMRobertaTokenizer, an independent implementation of the network and of its vocabulary, must compute
what the converted files give XLM-D."""
import json
import re
import tarfile

import pytest
import torch

import download
from conftest import REPO
from test_xlmd import XLMRTask, xlmr_shaped
from tiny_xlmr import dictionary_text, train_sentencepiece

LINES = (REPO / "data" / "sample" / "train.en").read_text(encoding="utf-8").splitlines()[:400]
HUB_FILES = ("config.json", "model.safetensors", "sentencepiece.bpe.model")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """(directory of the Hub's three files, the transformers model): a 2-layer XLM-R, its LayerNorms,
    biases and token-type row perturbed so that a dropped or misplaced tensor shows."""
    import sentencepiece as spm
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    work = tmp_path_factory.mktemp("hub")
    spm_model = train_sentencepiece(LINES, 200)
    (work / "sentencepiece.bpe.model").write_bytes(spm_model)
    pieces = spm.SentencePieceProcessor(model_proto=spm_model).get_piece_size()
    config = XLMRobertaConfig(vocab_size=pieces + 2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=514, type_vocab_size=1,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-5,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(3)
    model = XLMRobertaForMaskedLM(config).eval()
    with torch.no_grad():
        for name, value in model.named_parameters():
            if value.dim() == 1 or "token_type" in name:
                value.add_(0.2 * torch.randn_like(value))
    model.save_pretrained(work)
    assert all((work / name).exists() for name in HUB_FILES)
    return work, model


def archive_of(directory, path, config=None, spm_model=None):
    """A tar.gz of the Hub's files under one folder, as `hf download ... && tar` makes it (with
    another config.json or SentencePiece model if given)."""
    replaced = {"config.json": None if config is None else json.dumps(config).encode(),
                "sentencepiece.bpe.model": spm_model}
    with tarfile.open(path, "w:gz") as tar:
        for name in HUB_FILES:
            source = directory / name
            if replaced.get(name) is not None:
                source = path.parent / name
                source.write_bytes(replaced[name])
            tar.add(source, arcname=f"xlm-roberta-tiny/{name}")
    return path


@pytest.fixture(scope="module")
def unpacked(hub, tmp_path_factory):
    work = tmp_path_factory.mktemp("unpacked")
    archive = archive_of(hub[0], work / "xlmr.hf.tar.gz")
    assert download.main(["unpack-pretrained", "--archive", str(archive), "--format", "huggingface",
                          "--out-dir", str(work / "out")]) == 0
    return work / "out"


def test_unpacking_writes_fairseqs_three_files_and_nothing_else(hub, unpacked):
    assert sorted(p.name for p in unpacked.iterdir()) == ["dict.txt", "model.pt", "sentencepiece.bpe.model"]
    assert (unpacked / "sentencepiece.bpe.model").read_bytes() == (hub[0] / "sentencepiece.bpe.model").read_bytes()
    # the pieces in the order of fairseq's release (tests/tiny_xlmr.py writes it as xlmr.base's)
    release = dictionary_text((hub[0] / "sentencepiece.bpe.model").read_bytes(), LINES)
    ours = (unpacked / "dict.txt").read_text(encoding="utf-8")
    assert [line.split(" ")[0] for line in ours.splitlines()] == [line.split(" ")[0] for line in release.splitlines()]


def test_the_dictionary_numbers_pieces_as_transformers_tokenizer_does(hub, unpacked):
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    tokenizer = XLMRobertaTokenizer.from_pretrained(str(hub[0]))  # converts the SentencePiece model itself
    processor = spm.SentencePieceProcessor(model_file=str(unpacked / "sentencepiece.bpe.model"))
    vocab = XLMRTask(unpacked).source_dictionary
    assert len(vocab) == hub[1].config.vocab_size and vocab.index("<mask>") == tokenizer.mask_token_id
    for line in LINES[:50] + ["Zürich ist größer als 42 ☃"]:
        ours = [vocab.bos()] + [vocab.index(p) for p in processor.encode(line, out_type=str)] + [vocab.eos()]
        assert ours == tokenizer(line)["input_ids"], line


def test_the_converted_model_computes_what_transformers_computes(hub, unpacked):
    """M = L: XLM-D's source states of `<s> x </s>` are XLM-R's last hidden states, and its LM head
    gives transformers' masked-LM logits (every tensor, the folded token-type row included)."""
    from natpipe.systems.xlmd.pretrained import load_pretrained

    reference = hub[1]
    task = XLMRTask(unpacked)
    ours = xlmr_shaped(task, decorator_layer=2)
    load_pretrained(ours, str(unpacked / "model.pt"))
    vocab = task.source_dictionary
    src = torch.tensor([[vocab.pad(), vocab.pad(), 10, 11, 12, vocab.eos()], [20, 21, 22, 23, 24, vocab.eos()]])
    states, mask = ours.source_states(src)
    tokens = ours.xlmr_input(src)  # right-padded <s> x </s>, as transformers reads it with its mask
    with torch.no_grad():
        hidden = reference.roberta(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        logits = reference(input_ids=tokens, attention_mask=mask.long()).logits
    torch.testing.assert_close(states[mask], hidden[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.encoder.lm_head(states)[mask], logits[mask], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("change, message", [
    ({"vocab_size": 999}, r"config.json says \(999, 32\)"),
    ({"hidden_act": "relu"}, r"config.json: hidden_act is 'relu'"),
    ({"num_hidden_layers": 3}, r"num_hidden_layers is 3"),
    ("another SentencePiece model", r"sentencepiece.bpe.model: \d+ pieces give \d+ fairseq symbols .* vocab_size is 202"),
])
def test_a_bad_hub_checkpoint_is_one_error_naming_it_and_leaves_no_file(hub, tmp_path, capsys, change, message):
    config = {**json.loads((hub[0] / "config.json").read_text()), **(change if isinstance(change, dict) else {})}
    spm_model = None if isinstance(change, dict) else train_sentencepiece(LINES, 150)
    archive = archive_of(hub[0], tmp_path / "bad.tar.gz", config=config, spm_model=spm_model)
    code = download.main(["unpack-pretrained", "--archive", str(archive), "--format", "huggingface",
                          "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and str(archive) in err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
