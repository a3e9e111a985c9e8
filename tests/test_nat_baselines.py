"""Vanilla NAT and CMLM as natpipe hands them to fairseq: the flags fairseq parses, and what the
vanilla NAT's decoder actually reads (a uniform copy of each sentence's own source embeddings)."""
import pytest
import torch
from fairseq import options, tasks
from fairseq.data import Dictionary, LanguagePairDataset

import fairseq_args as fa

NAT = {"kind": "nat", "arch": "nonautoregressive_transformer", "encoder_layers": 1, "decoder_layers": 1,
       "embed_dim": 16, "ffn_dim": 32, "heads": 2, "data": "distill",
       "train": {"max_update": 10, "save_interval_updates": 5, "average_last": 1}, "generate": {"iterations": 1}}


def parsed(model, tmp_path):
    """fairseq's own reading of natpipe's training flags (a data dir with two dictionaries)."""
    vocab = Dictionary()
    for word in "a b c d e f g h".split():
        vocab.add_symbol(word)
    for lang in ("en", "de"):
        vocab.save(str(tmp_path / f"dict.{lang}.txt"))
    parser = options.get_training_parser()
    return options.parse_args_and_arch(parser, fa.train_args(model, str(tmp_path), "en", "de", str(tmp_path / "c"), 0))


def test_the_recipe_settings_reach_fairseq(tmp_path):
    recipe = parsed({**NAT, "decoder_input": "mask"}, tmp_path)
    assert recipe.apply_bert_init and recipe.encoder_learned_pos and recipe.decoder_learned_pos
    assert not recipe.src_embedding_copy and recipe.left_pad_source
    small = parsed({**NAT, "init": "transformer", "learned_positions": False}, tmp_path)
    assert not small.apply_bert_init and not small.decoder_learned_pos and small.src_embedding_copy
    cmlm = parsed({**NAT, "kind": "cmlm", "arch": "cmlm_transformer"}, tmp_path)
    assert not cmlm.src_embedding_copy and cmlm.left_pad_source  # fairseq's CMLM refuses the copy


def test_decoding_pads_the_source_as_training_did():
    for model, left in (({**NAT}, False), ({**NAT, "decoder_input": "mask"}, True)):
        args = fa.decode_args(model, "bin", "en", "de", "m.pt", "test", 0, None)
        assert ("--left-pad-source" not in args) == left


@pytest.mark.parametrize("decoder_input", ["copy"])
def test_each_target_position_reads_its_own_sentences_source_embedding(tmp_path, decoder_input):
    """Target position t of a sentence with S source and T target tokens reads source token
    round(t (S-1) / (T-1)) of that sentence (Gu et al.'s uniform copy), whatever the batch's
    padding: computed here from the sentence alone."""
    torch.manual_seed(0)
    args = parsed({**NAT, "decoder_input": decoder_input}, tmp_path)
    task = tasks.setup_task(args)
    model = task.build_model(args).eval()
    vocab = task.source_dictionary
    sources = [torch.tensor([4, 5, 6, 7, 8, 9, 2]), torch.tensor([10, 11, 2])]
    targets = [torch.tensor([4, 5, 6, 7, 2]), torch.tensor([8, 9, 10, 11, 2])]
    dataset = LanguagePairDataset(sources, [len(s) for s in sources], vocab, targets, [len(t) for t in targets], vocab,
                                  left_pad_source=args.left_pad_source, left_pad_target=args.left_pad_target)
    batch = dataset.collater([dataset[i] for i in range(2)])
    net = batch["net_input"]
    encoder_out = model.encoder(net["src_tokens"], src_lengths=net["src_lengths"])
    decoder_in = batch["target"]  # any tokens of the target's length and padding
    copied = model.decoder.forward_copying_source(encoder_out["encoder_embedding"][0],
                                                  ~encoder_out["encoder_padding_mask"][0], decoder_in.ne(vocab.pad()))
    for row, sentence in enumerate(batch["id"].tolist()):
        alone = model.encoder(sources[sentence][None], src_lengths=torch.tensor([len(sources[sentence])]))
        own = alone["encoder_embedding"][0][0]  # this sentence's source embeddings, no padding
        length_s, length_t = len(sources[sentence]), len(targets[sentence])
        for t in range(length_t):
            expected = own[round(t * (length_s - 1) / (length_t - 1))]
            assert torch.allclose(copied[row, t], expected, atol=1e-6), (sentence, t)
