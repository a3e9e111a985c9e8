"""BLEU: tokenized BLEU with compound splitting, and SacreBLEU, against sacrebleu itself."""
import collections
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


def multi_bleu(hyps, refs):
    """multi-bleu.perl's corpus BLEU against one reference (multi_bleu_refs below, written out)."""
    return multi_bleu_refs(hyps, [refs])


@pytest.mark.parametrize("hyps, refs", [
    (["das ist ein kleiner Test", "noch ein Satz hier"], ["das ist ein kleiner Test", "noch ein anderer Satz"]),
    (["a b c d e f", "x y z"], ["a b c d e f g h", "x y z w"]),  # brevity penalty
    (["the the the the"], ["the cat is on the mat"]),  # clipped counts
])
def test_tokenized_bleu_is_multi_bleu(hyps, refs):
    assert ev.tokenized_bleu(hyps, refs, compound=False).score == pytest.approx(multi_bleu(hyps, refs), abs=1e-9)


def test_tokenized_bleu_does_not_smooth():
    # hyp "a b c d" vs ref "a b c e": precisions 3/4, 2/3, 1/2, 0/1 -> 0, as multi-bleu.perl and
    # fairseq's scorer report it (sacrebleu's default 'exp' smoothing would give 42.73)
    assert ev.tokenized_bleu(["a b c d"], ["a b c e"], compound=False).score == 0.0


def test_a_corpus_that_is_not_moses_tokenized_scores_plain_hypotheses_like_its_reference(tmp_path):
    """tokenize: false (e.g. wmt20_ja_en): the reference is only normalized; hypotheses equal to it
    score 100, where tokenizing them with Moses defaults split every punctuation mark."""
    import moses

    raw = ["Das ist ein Haus-Boot, oder?", "Wir gehen (heute) nach Hause."]
    normalized = moses.process_lines(raw, "de", tokenize=False)
    for name, lines in (("ref", raw), ("ref.tok", normalized), ("hyp", raw)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = {"normalize": True, "tokenize": False, "aggressive": False, "lowercase": False}
    result = ev.evaluate(tmp_path / "hyp", tmp_path / "ref.tok", tmp_path / "ref", "de", settings)
    assert result["bleu_tok"] == 100.0 and result["sacrebleu"] == 100.0


def test_compound_splitting_changes_the_score_only_for_hyphenated_words():
    hyps, refs = ["der Hals-Nasen Arzt kommt heute nicht mehr"], ["der Hals-Ohren Arzt kommt heute nicht mehr"]
    split = ev.tokenized_bleu(hyps, refs, compound=True).score
    assert split != ev.tokenized_bleu(hyps, refs, compound=False).score
    # "Hals ##AT##-##AT## Nasen": the hyphen and the first part now match as tokens of their own
    assert split == pytest.approx(multi_bleu(["der Hals ##AT##-##AT## Nasen Arzt kommt heute nicht mehr"],
                                             ["der Hals ##AT##-##AT## Ohren Arzt kommt heute nicht mehr"]), abs=1e-9)
    plain_text = (["der Arzt kommt heute nicht mehr"], ["der Arzt kommt morgen nicht mehr"])
    assert ev.tokenized_bleu(*plain_text, compound=True).score == ev.tokenized_bleu(*plain_text, compound=False).score


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
    expected_tok = multi_bleu([ev.compound_split(h) for h in hyps_tok], [ev.compound_split(r) for r in refs_tok])
    assert result["bleu_tok"] == pytest.approx(round(expected_tok, 2))
    assert result["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert result["n_sentences"] == 2 and result["compound_split"] is True


def test_length_mismatch_is_an_error(tmp_path):
    (tmp_path / "hyp").write_text("a\n", encoding="utf-8")
    (tmp_path / "ref").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ev.PipelineError, match=r"reference .*ref has 2 lines but .*hyp has 1"):
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
    result = ev.evaluate(tmp_path / "hyp", tmp_path / "ref.tok", tmp_path / "ref", "de", {**ev.TOKENIZED, "lowercase": True})
    assert result["sacrebleu"] == 100.0 and result["bleu_tok"] == 100.0
    assert "case:lc" in result["signature"]


def test_sacrebleu_tokenizes_each_target_language_as_sacrebleu_s_own_convention():
    """A Japanese target is scored on MeCab's words (ipadic, as sacrebleu's ja-mecab), a Korean
    one on mecab-ko's, a Chinese one by characters; any other target with 13a."""
    import ipadic
    import MeCab

    plain = {"normalize": False, "tokenize": False, "aggressive": False, "lowercase": False}
    hyps, refs = ["これはペンです。", "私は学生です。"], ["これはペンですね。", "私は学生ではありません。"]
    result = ev.score_lines(hyps, refs, refs, "ja", plain)
    words = MeCab.Tagger(ipadic.MECAB_ARGS + " -Owakati")
    expected = multi_bleu([words.parse(h).strip() for h in hyps], [words.parse(r).strip() for r in refs])
    assert "tok:ja-mecab" in result["signature"] and result["sacrebleu"] == pytest.approx(round(expected, 2))
    assert "tok:ko-mecab" in ev.score_lines(["나는 학생입니다."], ["나는 학생이다."], ["나는 학생이다."], "ko",
                                            plain)["signature"]
    zh = ev.score_lines(["我们是学生"], ["我们是老师"], ["我们是老师"], "zh", plain)
    # by characters: 3 of 5 unigrams, 2 of 4 bigrams, 1 of 3 trigrams, 0 4-grams -> sacrebleu's default
    # exp smoothing keeps it above zero; the point here is the tokenizer
    assert "tok:zh" in zh["signature"] and zh["sacrebleu"] > 0
    assert "tok:13a" in ev.score_lines(["a b"], ["a b"], ["a b"], "en")["signature"]


# -- multi-reference test sets (NIST MT0x: four references) -------------------------------------

def multi_bleu_refs(hyps, streams):
    """multi-bleu.perl's corpus BLEU, written out: clipped n-gram counts summed over the corpus,
    geometric mean of the four precisions, no smoothing, brevity penalty exp(1 - r/c) if c < r. With
    several references each hypothesis n-gram count is clipped by its largest count in any one
    reference, and a sentence's reference length is the one closest to the hypothesis length, the
    shorter one on a tie."""
    matches, totals, hyp_len, ref_len = [0] * 4, [0] * 4, 0, 0
    for hyp, *refs in zip(hyps, *streams):
        h, rs = hyp.split(), [r.split() for r in refs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1]
        for n in range(1, 5):
            grams = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            most = collections.Counter()
            for r in rs:
                most |= collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))  # | = max
            matches[n - 1] += sum(min(c, most[g]) for g, c in grams.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * brevity * math.exp(log_precision)


# Four hand-made sentences, two references each.
HYPS = ["the cat sat on the mat", "he said yes yes yes", "we thank you", "good night"]
REF1 = ["the cat is sitting on the mat", "he said yes yes , he did", "thanks", "good night to you all"]
REF2 = ["there is a cat sat on the mat", "he said yes", "we really thank you", "good night everyone"]


def test_multi_reference_tokenized_bleu_by_hand():
    """Counted by hand (multi-bleu.perl's conventions):
    1. "the cat sat on the mat": unigrams 6/6 ("the" twice: REF1 has it twice), bigrams 5/5 ("cat sat",
       "sat on" only in REF2), trigrams 3/4 (not "the cat sat"), 4-grams 2/3; lengths 7, 8 -> 7.
    2. "he said yes yes yes": "yes" x3 clipped to 2 (REF1's count; the counts are not summed over the
       references, which would allow 3) -> 4/5, bigrams 3/4 ("yes yes" once), trigrams 2/3, 4-grams 1/2;
       lengths 7 and 3 are both 2 away from 5: the shorter, 3.
    3. "we thank you": 3/3, 1/2 ("thank you"), 0/1, no 4-grams; lengths 1 and 4 -> 4 (the closest, not
       the shortest and not REF1's).
    4. "good night": 2/2, 1/1, no trigrams or 4-grams; lengths 5, 3 -> 3.
    Corpus: 15/16, 10/12, 5/8, 3/5; hypothesis length 16 < reference length 7+3+4+3 = 17."""
    expected = 100 * math.exp(1 - 17 / 16) * (15 / 16 * 10 / 12 * 5 / 8 * 3 / 5) ** 0.25
    assert expected == pytest.approx(69.1133, abs=1e-4)
    score = ev.tokenized_bleu(HYPS, [REF1, REF2], compound=False)
    assert score.score == pytest.approx(expected, abs=1e-9)
    assert score.counts == [15, 10, 5, 3] and score.totals == [16, 12, 8, 5] and score.ref_len == 17
    assert score.score == pytest.approx(multi_bleu_refs(HYPS, [REF1, REF2]), abs=1e-9)
    # the other length conventions give other numbers: the shortest reference (14, no penalty),
    # always reference 1 (20), the longer one on a tie (21)
    precisions = (15 / 16 * 10 / 12 * 5 / 8 * 3 / 5) ** 0.25
    for other in (14, 20, 21):
        assert score.score != pytest.approx(100 * min(1, math.exp(1 - other / 16)) * precisions, abs=1e-3)
    # each reference alone scores lower than both together
    for refs in (REF1, REF2):
        assert ev.tokenized_bleu(HYPS, refs, compound=False).score < score.score - 5
    # the order of the references does not matter
    assert ev.tokenized_bleu(HYPS, [REF2, REF1], compound=False).score == pytest.approx(score.score, abs=1e-9)


def test_multi_reference_compound_splitting_applies_to_every_reference():
    # hyp and REF2 become "Hals ##AT##-##AT## Nasen Arzt kommt heute"; unsplit, REF2 would not match
    hyps, ref1, ref2 = ["Hals-Nasen Arzt kommt heute"], ["ein ganz anderer Satz hier"], ["Hals-Nasen Arzt kommt heute"]
    assert ev.tokenized_bleu(hyps, [ref1, ref2], compound=True).score == pytest.approx(100.0)


def test_two_references_score_as_sacrebleu_and_multi_bleu_do(tmp_path):
    refs_raw = [["Das ist ein Haus-Boot.", "Wir gehen heute nach Hause, oder?", "Es regnet."],
                ["Dies ist ein Hausboot.", "Heute gehen wir nach Hause, nicht wahr?", "Es regnet heute stark."]]
    refs_tok = [["Das ist ein Haus @-@ Boot .", "Wir gehen heute nach Hause , oder ?", "Es regnet ."],
                ["Dies ist ein Hausboot .", "Heute gehen wir nach Hause , nicht wahr ?", "Es regnet heute stark ."]]
    hyps_tok = ["Dies ist ein Haus @-@ Boot .", "Heute gehen wir nach Hause , oder ?", "Es regnet heute ."]
    files = {"hyp": hyps_tok, "ref1": refs_raw[0], "ref2": refs_raw[1], "ref1.tok": refs_tok[0], "ref2.tok": refs_tok[1]}
    for name, lines in files.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ev.evaluate(tmp_path / "hyp", [tmp_path / "ref1.tok", tmp_path / "ref2.tok"],
                         [tmp_path / "ref1", tmp_path / "ref2"], "de")
    detok = ev.detokenize_lines(hyps_tok, "de")
    direct = sacrebleu.corpus_bleu(detok, refs_raw)  # sacrebleu itself, both reference streams
    assert result["sacrebleu"] == pytest.approx(round(direct.score, 2))
    assert result["sacrebleu"] > round(sacrebleu.corpus_bleu(detok, refs_raw[:1]).score, 2)  # both were used
    assert result["signature"].startswith("nrefs:2|case:mixed|eff:no|tok:13a")
    expected_tok = multi_bleu_refs([ev.compound_split(h) for h in hyps_tok],
                                   [[ev.compound_split(r) for r in ref] for ref in refs_tok])
    assert result["bleu_tok"] == pytest.approx(round(expected_tok, 2))
    assert result["refs"] == 2 and result["n_sentences"] == 3
    assert result["references"] == [str(tmp_path / "ref1"), str(tmp_path / "ref2")]


def test_a_single_reference_result_keeps_its_keys(tmp_path):
    for name in ("hyp", "ref", "ref.tok"):
        (tmp_path / name).write_text("a small test .\n", encoding="utf-8")
    result = ev.evaluate(tmp_path / "hyp", tmp_path / "ref.tok", tmp_path / "ref", "en")
    assert result["refs"] == 1 and result["reference"] == str(tmp_path / "ref")
    assert "references" not in result and result["signature"].startswith("nrefs:1|")


def test_a_reference_with_another_line_count_is_one_error_naming_it(tmp_path):
    (tmp_path / "hyp").write_text("a b\nc d\n", encoding="utf-8")
    (tmp_path / "ref1").write_text("a b\nc d\n", encoding="utf-8")
    (tmp_path / "ref2").write_text("a b\nc d\ne f\n", encoding="utf-8")
    with pytest.raises(ev.PipelineError, match=r"^line-count mismatch: reference \S*ref2 has 3 lines but \S*hyp has 2$"):
        ev.evaluate(tmp_path / "hyp", [tmp_path / "ref1", tmp_path / "ref2"], [tmp_path / "ref1", tmp_path / "ref2"], "en")
    with pytest.raises(ev.PipelineError, match="2 tokenized references .* but 1 raw"):
        ev.evaluate(tmp_path / "hyp", [tmp_path / "ref1", tmp_path / "ref1"], [tmp_path / "ref1"], "en")
    with pytest.raises(ev.PipelineError, match="2 hypotheses but reference 2 has 3 lines"):
        ev.score_lines(["a b", "c d"], [["a b", "c d"], ["a", "b", "c"]], [["a b", "c d"], ["a", "b", "c"]], "en")


def test_cli_takes_several_references(tmp_path):
    import subprocess
    import sys

    for name, lines in (("hyp", HYPS), ("ref1", REF1), ("ref2", REF2)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "bleu.json"
    refs = [tmp_path / "ref1", tmp_path / "ref2"]
    subprocess.run([sys.executable, ev.__file__, "--hyp", tmp_path / "hyp", "--ref-tok", *refs, "--ref", *refs,
                    "--lang", "en", "--out", out], check=True, capture_output=True)
    result = json.loads(out.read_text())
    assert result["refs"] == 2 and "nrefs:2" in result["signature"]
    assert result["bleu_tok"] == pytest.approx(round(multi_bleu_refs(HYPS, [REF1, REF2]), 2))
    bad = tmp_path / "short"
    bad.write_text("one line\n", encoding="utf-8")
    failed = subprocess.run([sys.executable, ev.__file__, "--hyp", tmp_path / "hyp", "--ref-tok", refs[0], bad,
                             "--ref", refs[0], bad, "--lang", "en", "--out", tmp_path / "bad.json"],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and not (tmp_path / "bad.json").exists()
    assert failed.stderr.strip() == f"evaluate.py: error: line-count mismatch: reference {bad} has 1 lines but {tmp_path / 'hyp'} has 4"


# -- WMT16 Romanian steps (preprocess.romanian): the raw references get them too -------------------
# Raw Romanian references with cedilla (U+015F/U+0163) and comma-below (U+0219/U+021B) letters and the
# vowels a-breve U+0103, a-circumflex U+00E2, I/i-circumflex U+00CE/U+00EE; what the tokenize rule made of
# them (both steps, Moses -a) and a model's tokenized output, written out by hand.
RO_RAW = ["\u015etiin\u0163a \u015fi tehnica \u00een Rom\u00e2nia.",  # Ştiinţa şi tehnica în România.
          "\u00cenv\u0103\u0163\u0103m\u00e2ntul \u0219i cercetarea sunt importante."]  # Învăţământul și cercetarea ...
RO_TOK = ["Stiinta si tehnica in Romania .", "Invatamantul si cercetarea sunt importante ."]
RO_STEPS = {**ev.TOKENIZED, "aggressive": True, "romanian_normalize": True, "remove_diacritics": True}


def test_romanian_steps_apply_to_the_raw_reference_so_both_bleus_agree():
    on = ev.score_lines(RO_TOK, RO_TOK, RO_RAW, "ro", RO_STEPS)
    assert on["bleu_tok"] == 100.0 and on["sacrebleu"] == 100.0
    assert on["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert on["signature"].endswith("|ro:norm+nodiac")
    # without the steps the raw reference keeps its diacritics and SacreBLEU is sacrebleu's on it
    off = ev.score_lines(RO_TOK, RO_TOK, RO_RAW, "ro",
                         {**RO_STEPS, "romanian_normalize": False, "remove_diacritics": False})
    detok = ["Stiinta si tehnica in Romania.", "Invatamantul si cercetarea sunt importante."]
    assert ev.detokenize_lines(RO_TOK, "ro") == detok
    assert off["sacrebleu"] == pytest.approx(round(sacrebleu.corpus_bleu(detok, [RO_RAW]).score, 2))
    assert off["sacrebleu"] < 50
    assert "|ro:" not in off["signature"] and off["bleu_tok"] == 100.0
    # normalisation alone maps cedilla to comma below; the diacritics stay and the signature says so
    norm = ev.score_lines(RO_TOK, RO_TOK, RO_RAW, "ro", {**RO_STEPS, "remove_diacritics": False})
    comma = ["\u0218tiin\u021ba \u0219i tehnica \u00een Rom\u00e2nia.", RO_RAW[1].replace("\u0163", "\u021b")]
    assert norm["sacrebleu"] == pytest.approx(round(sacrebleu.corpus_bleu(detok, [comma]).score, 2))
    assert norm["signature"].endswith("|ro:norm")
    removal = ev.score_lines(RO_TOK, RO_TOK, RO_RAW, "ro", {**RO_STEPS, "romanian_normalize": False})
    assert removal["sacrebleu"] == 100.0 and removal["signature"].endswith("|ro:nodiac")  # removal maps cedilla too


def test_romanian_steps_apply_to_every_reference_and_to_plain_text_hypotheses():
    other = ["Un text cu totul diferit aici acum.", "Nimic din toate acestea nu se potriveste."]
    two = ev.score_lines(RO_TOK, [other, RO_TOK], [other, RO_RAW], "ro", RO_STEPS)
    assert two["sacrebleu"] == 100.0 and two["refs"] == 2  # reference 2 matches once processed
    # a corpus that is not Moses-tokenized: the hypotheses are plain text with diacritics (both forms)
    plain = {"normalize": False, "tokenize": False, "aggressive": False, "lowercase": False,
             "romanian_normalize": True, "remove_diacritics": True}
    hyps = ["\u0218tiin\u021ba \u0219i tehnica \u00een Rom\u00e2nia.", RO_RAW[1]]
    tok_ref = ["Stiinta si tehnica in Romania.", "Invatamantul si cercetarea sunt importante."]
    result = ev.score_lines(hyps, tok_ref, RO_RAW, "ro", plain)
    assert result["bleu_tok"] == 100.0 and result["sacrebleu"] == 100.0


def test_a_non_romanian_target_is_scored_as_before():
    refs = ["Das ist ein Haus-Boot.", "Wir gehen nach Hause."]
    tok = ["Das ist ein Haus @-@ Boot .", "Wir gehen nach Hause ."]
    before = ev.score_lines(tok, tok, refs, "de", {**ev.TOKENIZED, "aggressive": True})
    assert before["sacrebleu"] == 100.0 and "|ro:" not in before["signature"]


def test_cli_takes_the_romanian_steps(tmp_path):
    import subprocess
    import sys

    for name, lines in (("hyp", RO_TOK), ("ref", RO_RAW), ("ref.tok", RO_TOK)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = [sys.executable, ev.__file__, "--hyp", tmp_path / "hyp", "--ref-tok", tmp_path / "ref.tok",
            "--ref", tmp_path / "ref", "--lang", "ro", "--aggressive-dash-splits"]
    subprocess.run([*base, "--romanian-normalize", "--remove-diacritics", "--out", tmp_path / "on.json"],
                   check=True, capture_output=True)
    subprocess.run([*base, "--out", tmp_path / "off.json"], check=True, capture_output=True)
    on, off = (json.loads((tmp_path / f"{n}.json").read_text(encoding="utf-8")) for n in ("on", "off"))
    assert on["sacrebleu"] == 100.0 and on["signature"].endswith("|ro:norm+nodiac")
    assert off["sacrebleu"] < 50 and "|ro:" not in off["signature"]


# -- repetition rate (Wang et al. 2022 Table 5, after Saharia et al. 2020) ---------------------------

@pytest.mark.parametrize("lines, repeated, total", [
    (["a a b", "c c c"], 3, 6),  # a=a once, c=c twice; 6 tokens
    (["a", "a"], 0, 2),  # the sentence boundary is no repetition
    (["", "x y", ""], 0, 2),  # empty lines count no tokens
    ([], 0, 0),
    (["der Hund , , bellt .", "ja ja ja ja"], 4, 10),  # punctuation repeats too (6 tokens); 3 of 4 ja follow a ja
    (["a  a\tb b", " b "], 2, 5),  # any whitespace separates; "b" of line 2 follows no token of its own
    (["The the THE"], 0, 3),  # case-sensitive, like BLEU(tok)
])
def test_repetition_rate_counts_tokens_equal_to_the_one_before_them(lines, repeated, total):
    assert ev.repetition_rate(lines) == (repeated, total)


def test_score_lines_reports_the_repetition_rate_of_the_tokenized_hypotheses():
    refs_raw = ["Das ist ein Haus-Boot.", "Wir gehen heute nach Hause, oder?"]
    refs_tok = ["Das ist ein Haus @-@ Boot .", "Wir gehen heute nach Hause , oder ?"]
    hyps_tok = ["Das ist ist ein Haus @-@ Boot .", "Wir gehen gehen gehen nach Hause , oder ?"]
    result = ev.score_lines(hyps_tok, refs_tok, refs_raw, "de")
    # "ist ist" once, "gehen gehen gehen" twice: 3 of 8 + 9 = 17 tokens
    assert result["repeated_tokens"] == 3 and result["repetition"] == round(100 * 3 / 17, 2) == 17.65
    clean = ev.score_lines(refs_tok, refs_tok, refs_raw, "de")
    assert clean["repetition"] == 0.0 and clean["repeated_tokens"] == 0
    empty = ev.score_lines([""], [""], [""], "en")  # no tokens at all: 0.0, not a division by zero
    assert empty["repetition"] == 0.0 and empty["repeated_tokens"] == 0


def test_repetition_of_plain_text_hypotheses_is_counted_after_the_reference_s_processing():
    """tokenize: false: the words are those of the processed (here lowercased) hypotheses, as BLEU(tok)'s."""
    plain = {"normalize": False, "tokenize": False, "aggressive": False, "lowercase": True}
    result = ev.score_lines(["The the cat sat"], ["the cat sat"], ["The cat sat"], "en", plain)
    assert result["repeated_tokens"] == 1 and result["repetition"] == 25.0  # "the the": 1 of 4
