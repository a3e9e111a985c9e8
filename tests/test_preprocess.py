"""Preprocessing steps: Moses round trip, clean-corpus-n semantics, subword models, assembly."""
import json
import subprocess
import sys

import pytest

import assemble
import clean
import moses
import subword
from common import PipelineError, read_lines


def test_moses_tokenizes_without_escaping_and_splits_dashes():
    out = moses.process_lines(["Das \u201eHaus-Boot\u201c kostet 5 € & mehr."], "de")
    assert out == ['Das " Haus @-@ Boot " kostet 5 € & mehr .']
    assert moses.process_lines(["state-of-the-art"], "en", aggressive=False) == ["state-of-the-art"]


def test_lowercase_after_tokenization():
    assert moses.process_lines(["Das Haus-Boot."], "de", lowercase=True) == ["das haus @-@ boot ."]


def test_detokenize_inverts_tokenize():
    lines = ["Wir gehen nach Hause, oder?", "Ein Haus-Boot (klein)."]
    tok = moses.process_lines(lines, "de")
    assert moses.detokenize_lines(tok, "de") == lines


@pytest.mark.parametrize("src,tgt,kept", [
    ("a b", "c d", True),
    ("a", "b c d", False),        # ratio 3 > 2.5
    ("a b", "c d e f g", True),   # ratio 2.5 is allowed (not greater)
    ("", "a", False),             # empty side
    ("a " * 6, "b " * 6, False),  # 6 tokens > max_len 5
])
def test_clean_corpus_n_semantics(src, tgt, kept):
    assert clean.keep_pair(" ".join(src.split()), " ".join(tgt.split()), 1, 5, 2.5) is kept


def test_clean_collapses_whitespace_before_counting():
    assert clean.clean(["a  b ", "x"], [" c d", "y z w v"], 1, 10, 2.0) == (["a b"], ["c d"])


def test_bpe_is_joint_and_reversible(tmp_path):
    src = tmp_path / "train.src"
    tgt = tmp_path / "train.tgt"
    src.write_text("lower lowest newer newest\n" * 20, encoding="utf-8")
    tgt.write_text("niedriger niedrigste neuer neueste\n" * 20, encoding="utf-8")
    model = tmp_path / "bpe.codes"
    subword.learn_bpe([str(src), str(tgt)], str(model), 30)
    segment = subword.segmenter("bpe", str(model))
    for line in ("lowest newest", "niedrigste neueste Wort"):
        pieces = segment(line)
        assert pieces.replace("@@ ", "") == line
    assert "niedrig" in model.read_text(encoding="utf-8").replace(" ", "")  # learned from both sides


def test_sentencepiece_round_trip(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("".join(f"sentence number {i} with some words\n" for i in range(200)), encoding="utf-8")
    model = tmp_path / "spm.model"
    subword.learn_sentencepiece([str(text)], str(model), 40, "unigram", 1.0, 1)
    pieces = subword.segmenter("sentencepiece", str(model))("sentence number 7")
    assert "".join(pieces.split()).replace("\u2581", " ").strip() == "sentence number 7"


def test_resegment_turns_one_segmentation_into_another_like_segmenting_the_text(tmp_path):
    """A system's own vocabulary: the corpus's BPE-segmented distilled targets, desegmented and
    segmented with a SentencePiece model, equal that model's segmentation of the plain text."""
    text = tmp_path / "train.txt"
    lines = [f"lower lowest newer newest number {i}" for i in range(60)]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    codes, spm = tmp_path / "bpe.codes", tmp_path / "spm.model"
    subword.learn_bpe([str(text)], str(codes), 25)
    subword.learn_sentencepiece([str(text)], str(spm), 28, "unigram", 1.0, 1)
    bpe = tmp_path / "train.bpe"
    bpe.write_text("\n".join(map(subword.segmenter("bpe", str(codes)), lines)) + "\n", encoding="utf-8")
    assert "@@" in bpe.read_text(encoding="utf-8")
    out = tmp_path / "train.spm"
    result = subprocess.run([sys.executable, subword.__file__, "resegment", "--from-method", "bpe", "--method",
                             "sentencepiece", "--model", str(spm), "--input", str(bpe), "--output", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    import sentencepiece

    direct = sentencepiece.SentencePieceProcessor(model_file=str(spm))
    assert read_lines(out) == [" ".join(direct.encode(line, out_type=str)) for line in lines]


def test_assemble_selects_every_nth_line():
    assert assemble.selected_numbers(7, 3, False) == [3, 6]
    assert assemble.selected_numbers(7, 3, True) == [1, 2, 4, 5, 7]
    assert assemble.selected_numbers(3, None, False) == [1, 2, 3]


def test_strict_checks_only_the_selected_lines(tmp_path):
    parts = _pair(tmp_path, ["a", "", "c", "d"], b"w\nx\ny\nz\n")
    parts[0]["every"] = 2  # keeps lines 2 and 4; line 2 is empty
    with pytest.raises(PipelineError, match=r"a\.src:2: empty line"):
        assemble.assemble(parts, strict=True, max_chars=100)
    parts[0]["invert"] = True  # keeps lines 1 and 3: the empty line is not part of this split
    assert assemble.assemble(parts, strict=True, max_chars=100) == (["a", "c"], ["w", "y"])


def _pair(tmp_path, src_lines, tgt_bytes):
    (tmp_path / "a.src").write_text("".join(x + "\n" for x in src_lines), encoding="utf-8")
    (tmp_path / "a.tgt").write_bytes(tgt_bytes)
    return [{"src": str(tmp_path / "a.src"), "tgt": str(tmp_path / "a.tgt")}]


def test_assemble_reports_line_count_mismatch_with_both_files(tmp_path):
    parts = _pair(tmp_path, ["a", "b"], b"x\n")
    with pytest.raises(PipelineError, match=r"a\.src has 2 lines, .*a\.tgt has 1"):
        assemble.assemble(parts, strict=False, max_chars=100)


def test_assemble_reports_invalid_utf8_with_line_number(tmp_path):
    parts = _pair(tmp_path, ["a", "b"], b"x\n\xff\xfe\n")
    with pytest.raises(PipelineError, match=r"a\.tgt:2: invalid UTF-8"):
        assemble.assemble(parts, strict=False, max_chars=100)


def test_strict_splits_refuse_empty_and_long_lines(tmp_path):
    parts = _pair(tmp_path, ["a", "b"], b"x\n\n")
    assemble.assemble(parts, strict=False, max_chars=100)  # training data: cleaning drops it later
    with pytest.raises(PipelineError, match=r"a\.tgt:2: empty line"):
        assemble.assemble(parts, strict=True, max_chars=100)
    parts = _pair(tmp_path, ["a", "b" * 11], b"x\ny\n")
    with pytest.raises(PipelineError, match=r"a\.src:2: line of 11 characters exceeds the limit of 10"):
        assemble.assemble(parts, strict=True, max_chars=10)


def test_assemble_cli_leaves_no_output_on_error(tmp_path):
    parts = _pair(tmp_path, ["a", "b"], b"x\n")
    out_src, out_tgt = tmp_path / "out.src", tmp_path / "out.tgt"
    result = subprocess.run([sys.executable, assemble.__file__, "--parts", json.dumps(parts),
                             "--out-src", out_src, "--out-tgt", out_tgt], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "assemble.py: error: line-count mismatch" in result.stderr
    assert not out_src.exists() and not out_tgt.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.src", "a.tgt"]


def test_read_lines_strips_only_line_endings(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b" a \r\nb\n")
    assert read_lines(path) == [" a ", "b"]


# -- WMT16 Romanian steps (preprocess.romanian) ---------------------------------------------------
# Written with escapes so that each letter is unambiguous: cedilla s/S/t/T are U+015F/U+015E/U+0163/U+0162,
# comma-below s/S/t/T are U+0219/U+0218/U+021B/U+021A; a-breve U+0103/U+0102, a-circumflex U+00E2/U+00C2,
# i-circumflex U+00EE/U+00CE.
# "Ştiinţa şi ŞTIINŢA", cedilla forms; "Știința și ȘTIINȚA", comma forms; the vowels in both cases
RO_CEDILLA = "\u015etiin\u0163a \u015fi \u015eTIIN\u0162A"
RO_COMMA = "\u0218tiin\u021ba \u0219i \u0218TIIN\u021aA"
RO_VOWELS = "c\u00e2nd \u00cen \u0103sta \u00c2ND \u0102STA \u00eencet"  # "când În ăsta ÂND ĂSTA încet"


def test_romanian_normalisation_turns_cedilla_into_comma_below_and_nothing_else():
    assert moses.romanian_lines([RO_CEDILLA, RO_COMMA, RO_VOWELS], normalize=True) == [
        "\u0218tiin\u021ba \u0219i \u0218TIIN\u021aA",  # every cedilla letter now has its comma
        "\u0218tiin\u021ba \u0219i \u0218TIIN\u021aA",  # comma forms stay
        "c\u00e2nd \u00cen \u0103sta \u00c2ND \u0102STA \u00eencet",  # the vowels keep their diacritics
    ]


def test_romanian_diacritic_removal_maps_every_letter_in_both_forms_and_cases():
    expected = ["Stiinta si STIINTA", "Stiinta si STIINTA", "cand In asta AND ASTA incet"]
    assert moses.romanian_lines([RO_CEDILLA, RO_COMMA, RO_VOWELS], remove_diacritics=True) == expected
    assert moses.romanian_lines([RO_CEDILLA, RO_COMMA, RO_VOWELS], normalize=True, remove_diacritics=True) == expected


def test_romanian_steps_off_leave_the_text_unchanged():
    lines = [RO_CEDILLA, RO_COMMA, RO_VOWELS]
    assert moses.romanian_lines(lines) == lines
    assert moses.process_lines(lines, "ro", normalize=False, tokenize=False) == lines


def test_romanian_steps_touch_only_romanian_letters():
    # other Latin letters with diacritics (French, German, Turkish dotless i, combining marks) are kept
    other = "\u00e9t\u00e9 \u00fcber \u00e7a \u0131 s\u0326 a\u0306"
    assert moses.romanian_lines([other], normalize=True, remove_diacritics=True) == [other]


def test_romanian_steps_run_after_punctuation_normalisation_and_before_tokenisation():
    line = "\u00abCur\u0163ile \u015fi gr\u0103dinile\u00bb \u00een Bra\u015fov-Sibiu."  # «Curţile şi grădinile» în Braşov-Sibiu.
    out = moses.process_lines([line], "ro", romanian_normalize=True, remove_diacritics=True)
    assert out == ['" Curtile si gradinile " in Brasov @-@ Sibiu .']
    assert moses.process_lines([line], "ro", romanian_normalize=True) == [
        '" Cur\u021bile \u0219i gr\u0103dinile " \u00een Bra\u0219ov @-@ Sibiu .']


def test_moses_cli_applies_the_romanian_steps_only_when_asked(tmp_path):
    src = tmp_path / "in.ro"
    src.write_text(RO_CEDILLA + "\n" + RO_VOWELS + "\n", encoding="utf-8")
    outputs = {}
    for name, extra in (("plain", []), ("ro", ["--romanian-normalize", "--remove-diacritics"])):
        out = tmp_path / f"out.{name}"
        result = subprocess.run([sys.executable, moses.__file__, "--lang", "ro", "--no-normalize", "--input", src,
                                 "--output", out, *extra], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs[name] = read_lines(out)
    assert outputs["plain"] == [RO_CEDILLA, "c\u00e2nd \u00cen \u0103sta \u00c2ND \u0102STA \u00eencet"]
    assert outputs["ro"] == ["Stiinta si STIINTA", "cand In asta AND ASTA incet"]
