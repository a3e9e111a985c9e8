"""The mapping from natpipe model settings to fairseq flags, and CPU/DDP selection."""
import pytest

import fairseq_args as fa
from natpipe.config import resolve_model
from natpipe.registry import ConfigError, system_of

MODEL = {"kind": "at", "arch": "transformer", "encoder_layers": 3, "decoder_layers": 2, "embed_dim": 64,
         "ffn_dim": 128, "heads": 4, "share_all_embeddings": True, "pre_norm": True,
         "train": {"dropout": 0.3, "max_tokens": 1000, "update_freq": 4, "max_update": 10,
                   "save_interval_updates": 5, "average_last": 3, "lr": 0.0007},
         "generate": {"beam": 4, "lenpen": 0.6}}


def flag(args, name):
    return args[args.index(name) + 1]


def test_device_selection_follows_gpu_count():
    assert fa.device_args(0) == ["--cpu"]
    assert fa.device_args(1) == []
    assert fa.device_args(4, fp16=True) == ["--distributed-world-size", "4", "--fp16"]


def test_train_args_carry_every_setting():
    args = fa.train_args(MODEL, "bin", "en", "de", "ckpt", gpus=0)
    assert args[0] == "bin" and "--cpu" in args
    assert flag(args, "--encoder-layers") == "3" and flag(args, "--decoder-layers") == "2"
    assert flag(args, "--encoder-embed-dim") == flag(args, "--decoder-embed-dim") == "64"
    assert flag(args, "--dropout") == "0.3" and flag(args, "--lr") == "0.0007"
    assert flag(args, "--update-freq") == "4" and flag(args, "--max-tokens") == "1000"
    assert flag(args, "--keep-interval-updates") == "3"  # enough checkpoints to average
    assert "--encoder-normalize-before" in args and "--share-all-embeddings" in args
    assert flag(args, "--user-dir") == fa.PLUGIN_DIR


def test_generate_args_remove_the_right_subword_marker():
    bpe = fa.generate_args(MODEL, "bin", "en", "de", "m.pt", "bpe", "test", gpus=0)
    spm = fa.generate_args(MODEL, "bin", "en", "de", "m.pt", "sentencepiece", "test", gpus=1)
    assert flag(bpe, "--remove-bpe") == "subword_nmt" and flag(spm, "--remove-bpe") == "sentencepiece"
    assert flag(bpe, "--beam") == "4" and flag(bpe, "--lenpen") == "0.6"
    assert "--cpu" in bpe and "--cpu" not in spm


def test_effective_batch_sets_update_freq_for_the_gpus_at_hand():
    train = {"max_tokens": 4096, "effective_batch_tokens": 131072, "update_freq": 99}
    assert fa.update_freq(train, gpus=8) == 4
    assert fa.update_freq(train, gpus=2) == 16
    assert fa.update_freq(train, gpus=0) == 32  # CPU counts as one device
    assert fa.update_freq({"update_freq": 3}, gpus=8) == 3
    args = fa.train_args({**MODEL, "train": train}, "bin", "en", "de", "ckpt", gpus=4)
    assert flag(args, "--update-freq") == "8"


def test_data_strategy_selects_the_task():
    assert system_of(MODEL).task_args(resolve_model(MODEL), None) == ["--task", "translation"]
    md = fa.train_args({**MODEL, "data": "mixdistill", "p_raw": 0.2}, "raw-bin", "en", "de", "c", 0, "distill-bin")
    assert flag(md, "--task") == "translation_mixdistill" and flag(md, "--distill-data") == "distill-bin"
    assert flag(md, "--p-raw") == "0.2" and md[0] == "raw-bin"


def test_distillation_search_flags():
    search = {"beam": 5, "lenpen": 1.0, "max_tokens": 8000, "max_len_a": 1.2, "max_len_b": 10}
    args = fa.decode_args({**MODEL, "generate": search}, "bin", "en", "de", "teacher.pt", "test", gpus=1, remove_bpe=None)
    assert flag(args, "--beam") == "5" and flag(args, "--max-len-a") == "1.2" and flag(args, "--max-len-b") == "10"
    assert flag(args, "--gen-subset") == "test" and "--cpu" not in args and "--remove-bpe" not in args
    # fairseq drops a last batch whose size is not a multiple of this: every sentence must come back
    assert flag(args, "--required-batch-size-multiple") == "1"


NAT = {**MODEL, "kind": "cmlm", "arch": "cmlm_transformer", "data": "distill",
       "generate": {"iterations": 10, "beam": 5, "max_tokens": 4000}}


def test_nat_kinds_train_on_translation_lev_with_their_noise_and_nat_loss():
    cmlm = fa.train_args(NAT, "distill-bin", "en", "de", "ckpt", gpus=0)
    nat = fa.train_args({**NAT, "kind": "nat", "arch": "nonautoregressive_transformer"}, "d", "en", "de", "c", 0)
    assert flag(cmlm, "--task") == "translation_lev" and flag(cmlm, "--noise") == "random_mask"
    assert flag(nat, "--noise") == "full_mask" and flag(nat, "--length-loss-factor") == "0.1"
    assert "--pred-length-offset" in nat and "--pred-length-offset" not in cmlm
    for args in (cmlm, nat):
        assert flag(args, "--criterion") == "nat_loss" and "--apply-bert-init" in args
    assert flag(fa.train_args(MODEL, "b", "en", "de", "c", 0), "--criterion") == "label_smoothed_cross_entropy"


def test_nat_decoding_runs_exactly_the_configured_iterations_with_a_length_beam():
    args = fa.generate_args(NAT, "bin", "en", "de", "m.pt", "bpe", "test", gpus=0)
    assert flag(args, "--task") == "translation_lev"
    assert flag(args, "--iter-decode-max-iter") == "9"  # fairseq counts refinements after the first pass
    assert "--iter-decode-force-max-iter" in args and flag(args, "--iter-decode-with-beam") == "5"
    assert flag(args, "--beam") == "1" and flag(args, "--max-tokens") == "4000"
    one = fa.generate_args({**NAT, "generate": {"iterations": 1}}, "bin", "en", "de", "m.pt", "bpe", "test", 0)
    assert flag(one, "--iter-decode-max-iter") == "0"


FNAT = {"kind": "fnat", "arch": "fully_nat_transformer", "data": "distill", "loss": "ctc", "upsample_ratio": 2.5,
        "vae": {"latent_dim": 8, "posterior_layers": 1, "free_bits": 0.5}, "glancing": "glat", "f_ratio": 0.3,
        "train": {"label_smoothing": 0.01}, "generate": {"max_tokens": 3000}}


def test_fully_nat_flags_select_loss_upsampling_latents_and_glancing():
    args = fa.train_args(FNAT, "distill-bin", "en", "de", "ckpt", gpus=0)
    assert flag(args, "--task") == "translation_fully_nat" and flag(args, "--criterion") == "fully_nat_loss"
    assert flag(args, "--latent-alignment") == "ctc" and flag(args, "--upsample-ratio") == "2.5"
    assert flag(args, "--latent-dim") == "8" and flag(args, "--posterior-layers") == "1"
    assert flag(args, "--glancing") == "glat" and flag(args, "--glance-f-ratio") == "0.3"
    assert flag(args, "--free-bits") == "0.5" and flag(args, "--label-smoothing") == "0.01"
    plain = fa.train_args({**FNAT, "loss": "ce", "vae": None, "glancing": "rnd"}, "b", "en", "de", "c", 0)
    assert flag(plain, "--latent-alignment") == "none" and "--latent-dim" not in plain
    assert flag(plain, "--glancing") == "rnd"


def test_fully_nat_decoding_greedy_beam_lm_and_npd(tmp_path):
    greedy = fa.generate_args(FNAT, "bin", "en", "de", "m.pt", "bpe", "test", gpus=0)
    assert flag(greedy, "--task") == "translation_fully_nat" and flag(greedy, "--ctc-beam") == "1"
    assert "--ctc-lm-path" not in greedy and "--npd-samples" not in greedy and flag(greedy, "--max-tokens") == "3000"
    tuned = tmp_path / "weights.json"
    tuned.write_text('{"alpha": 0.6, "beta": 2.0}')
    lm = {**FNAT, "generate": {"ctc_beam": 20, "lm": True, "lm_path": "lm.bin", "lm_weights_file": str(tuned),
                               "lm_beta": 1.0}}
    args = fa.generate_args(lm, "bin", "en", "de", "m.pt", "bpe", "test", gpus=0)
    assert flag(args, "--ctc-beam") == "20" and flag(args, "--ctc-lm-path") == "lm.bin"
    assert flag(args, "--ctc-lm-alpha") == "0.6" and flag(args, "--ctc-lm-beta") == "1.0"  # a given beta wins
    npd = {**FNAT, "generate": {"npd": 5, "npd_teacher_checkpoint": "teacher.pt"}}
    args = fa.generate_args(npd, "bin", "en", "de", "m.pt", "bpe", "test", gpus=0)
    assert flag(args, "--npd-samples") == "5" and flag(args, "--npd-teacher-path") == "teacher.pt"
    assert flag(args, "--npd-temperature") == "0.1"
    with pytest.raises(ConfigError, match="lm_alpha and lm_beta or a tuned lm_weights_file"):
        fa.generate_args({**FNAT, "generate": {"ctc_beam": 20, "lm": True, "lm_path": "x"}}, "b", "en", "de", "m",
                         "bpe", "test", 0)


def test_training_logs_at_least_once_per_validation():
    """The learning curve sums target tokens from the train_inner lines: one per validation at least."""
    assert flag(fa.train_args(MODEL, "b", "en", "de", "c", 0), "--log-interval") == "5"  # save every 5
    wide = {**MODEL, "train": {**MODEL["train"], "save_interval_updates": 1000}}
    assert flag(fa.train_args(wide, "b", "en", "de", "c", 0), "--log-interval") == "50"
    assert flag(fa.train_args({**wide, "train": {**wide["train"], "log_interval": 7}}, "b", "en", "de", "c", 0),
                "--log-interval") == "7"


def test_gpu_training_reads_its_batches_with_loader_workers():
    assert flag(fa.train_args(MODEL, "b", "en", "de", "c", gpus=0), "--num-workers") == "0"
    assert flag(fa.train_args(MODEL, "b", "en", "de", "c", gpus=8, loader_workers=3), "--num-workers") == "3"
