"""BLEU: tokenized BLEU with compound splitting, and SacreBLEU, against sacrebleu itself."""
import json
import math

import pytest
import sacrebleu

import evaluate as ev


def test_compound_split_matches_the_perl_one_liner():
    # s{(\S)-(\S)}{$1 ##AT##-##AT## $2}g : one non-overlapping pass
    # expected strings produced by perl itself
    assert ev.compound_split("Hals-Nasen-Ohren Arzt a-b-c") == \
        "Hals ##AT##-##AT## Nasen ##AT##-##AT## Ohren Arzt a ##AT##-##AT## b-c"
    assert ev.compound_split("a @-@ b") == "a @ ##AT##-##AT## @ b"
    assert ev.compound_split("- x -") == "- x -"


def test_tokenized_bleu_equals_sacrebleu_with_tokenize_none():
    hyps = ["das ist ein kleiner Test", "noch ein Satz hier"]
    refs = ["das ist ein kleiner Test", "noch ein anderer Satz"]
    ours = ev.tokenized_bleu(hyps, refs, compound=False)
    theirs = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none")
    assert ours.score == pytest.approx(theirs.score)


def test_tokenized_bleu_hand_checked():
    # hyp "a b c d" vs ref "a b c e": precisions 3/4, 2/3, 1/2, 0/1 -> BLEU 0 without smoothing;
    # sacrebleu's default 'exp' smoothing gives the 4-gram precision 1/(2*1) = 1/2.
    score = ev.tokenized_bleu(["a b c d"], ["a b c e"], compound=False).score
    expected = 100 * math.exp((math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2) + math.log(1 / 2)) / 4)
    assert score == pytest.approx(expected, abs=1e-6)


def test_compound_splitting_changes_the_score_only_for_hyphenated_words():
    hyps, refs = ["Hals-Nasen Arzt"], ["Hals-Ohren Arzt"]
    plain = ev.tokenized_bleu(hyps, refs, compound=False).score
    split = ev.tokenized_bleu(hyps, refs, compound=True).score
    assert split > plain  # "Hals ##AT##-##AT##" now matches


def test_evaluate_writes_both_scores(tmp_path):
    refs_raw = ["Das ist ein Haus-Boot.", "Wir gehen heute nach Hause, oder?"]
    refs_tok = ["Das ist ein Haus @-@ Boot .", "Wir gehen heute nach Hause , oder ?"]
    hyps_tok = ["Das ist ein Haus @-@ Boot .", "Wir gehen morgen nach Hause , oder ?"]
    for name, lines in (("ref", refs_raw), ("ref.tok", refs_tok), ("hyp", hyps_tok)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ev.evaluate(tmp_path / "hyp", tmp_path / "ref.tok", tmp_path / "ref", "de")
    detok = ev.detokenize_lines(hyps_tok, "de")
    assert detok == ["Das ist ein Haus-Boot.", "Wir gehen morgen nach Hause, oder?"]
    assert result["sacrebleu"] == pytest.approx(round(sacrebleu.corpus_bleu(detok, [refs_raw]).score, 2))
    expected_tok = sacrebleu.corpus_bleu([ev.compound_split(h) for h in hyps_tok],
                                         [[ev.compound_split(r) for r in refs_tok]], tokenize="none").score
    assert result["bleu_tok"] == pytest.approx(round(expected_tok, 2))
    assert result["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert result["n_sentences"] == 2 and result["compound_split"] is True


def test_length_mismatch_is_an_error(tmp_path):
    (tmp_path / "hyp").write_text("a\n", encoding="utf-8")
    (tmp_path / "ref").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ev.PipelineError, match="has 1 lines but the reference has 2"):
        ev.evaluate(tmp_path / "hyp", tmp_path / "ref", tmp_path / "ref", "en")


def test_cli_writes_json(tmp_path):
    import subprocess
    import sys

    for name in ("hyp", "ref", "ref.tok"):
        (tmp_path / name).write_text("a small test .\n", encoding="utf-8")
    out = tmp_path / "bleu.json"
    subprocess.run([sys.executable, ev.__file__, "--hyp", tmp_path / "hyp", "--ref-tok", tmp_path / "ref.tok",
                    "--ref", tmp_path / "ref", "--lang", "en", "--out", out, "--system", "s", "--corpus", "c"],
                   check=True, capture_output=True)
    result = json.loads(out.read_text())
    assert result["bleu_tok"] == 100.0 and result["system"] == "s" and result["corpus"] == "c"


def test_lowercased_corpus_scores_case_insensitively(tmp_path):
    (tmp_path / "ref").write_text("Das Haus ist groß.\n", encoding="utf-8")
    (tmp_path / "ref.tok").write_text("das haus ist groß .\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("das haus ist groß .\n", encoding="utf-8")
    result = ev.evaluate(tmp_path / "hyp", tmp_path / "ref.tok", tmp_path / "ref", "de", lowercase=True)
    assert result["sacrebleu"] == 100.0 and result["bleu_tok"] == 100.0
    assert "case:lc" in result["signature"]
