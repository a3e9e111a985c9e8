"""Summary table: one row per (corpus, system), provenance columns, markdown-safe cells."""
import json

import summarize


def test_rows_are_sorted_and_carry_provenance(tmp_path):
    data = tmp_path / "test.tgt"
    data.write_text("x\n", encoding="utf-8")
    files = []
    for corpus, system, score in (("b", "s1", 3.0), ("a", "s2", 2.0), ("a", "s1", 1.0)):
        path = tmp_path / f"{corpus}-{system}.json"
        detail = f"BLEU = {score:.2f} 40.0/20.0/10.0/5.0 (BP = 0.{int(score)}22 ratio = 0.836 hyp_len = 5 ref_len = 6)"
        path.write_text(json.dumps({"corpus": corpus, "system": system, "bleu_tok": score, "sacrebleu": score,
                                    "bleu_tok_detail": detail, "n_sentences": 1, "signature": "nrefs:1|case:mixed"}))
        files.append(str(path))
    config = {"corpora": {"a": {"teacher": "s1"}}, "models": {"s2": {"data": "mixdistill"}}}
    table = summarize.build_table(files, {"a": [str(data)], "b": [str(data)]}, config, tmp_path)
    assert list(table["role"]) == ["teacher", "system", "system"] and list(table["data"]) == ["R", "MD", "R"]
    assert list(table["distill_teacher"]) == ["", "s1", ""]  # the corpus's teacher distilled s2's data
    assert list(table[["corpus", "system"]].itertuples(index=False, name=None)) == [("a", "s1"), ("a", "s2"), ("b", "s1")]
    assert list(table["bp"]) == [0.122, 0.222, 0.322]  # parsed from each file's own bleu_tok_detail
    assert table["config_sha256"].nunique() == 1 and table["config_sha256"].iloc[0] == summarize.config_hash(config)
    assert table["data_sha256"].iloc[0] == summarize.data_hash([str(data)])
    assert table["git_commit"].iloc[0] == "unknown"  # tmp_path is not a git checkout
    markdown = summarize.markdown_table(table)
    assert "nrefs:1\\|case:mixed" in markdown
    assert all(line.count(" | ") == len(summarize.COLUMNS) - 1 for line in markdown.splitlines()[2:])


def test_a_decoding_variant_row_takes_kind_and_data_from_its_model(tmp_path):
    path = tmp_path / "cmlm10.json"
    path.write_text(json.dumps({"corpus": "a", "system": "CMLM10", "model": "cmlm", "bleu_tok": 1.0, "sacrebleu": 1.0,
                                "n_sentences": 1, "signature": "s"}))
    config = {"corpora": {"a": {"teacher": "at"}}, "models": {"cmlm": {"kind": "cmlm", "data": "distill", "distill_teacher": "at_base"}}}
    row = summarize.build_table([str(path)], {}, config, tmp_path).iloc[0]
    assert (row["system"], row["model"], row["kind"], row["data"], row["role"]) == ("CMLM10", "cmlm", "cmlm", "D", "system")
    assert row["distill_teacher"] == "at_base"  # the model's own teacher, not the corpus's
    assert row["bp"] is None  # no bleu_tok_detail in the JSON


def test_brevity_penalty_is_read_from_the_sacrebleu_score_string():
    import sacrebleu

    score = sacrebleu.corpus_bleu(["a b c"], [["a b c d"]], tokenize="none")
    assert summarize.brevity_penalty(str(score)) == round(score.bp, 3) == 0.717
    assert summarize.brevity_penalty("BLEU = 27.49 59.1/33.0/20.3/12.9 (BP = 1.000 ratio = 1.01 hyp_len = 9 ref_len = 9)") == 1.0
    assert summarize.brevity_penalty("") is None and summarize.brevity_penalty(None) is None


def test_repetition_column_follows_sacrebleu_and_is_empty_for_json_without_it(tmp_path):
    files = []
    for system, extra in (("new", {"repetition": 50.0, "repeated_tokens": 3}), ("old", {})):
        path = tmp_path / f"{system}.json"
        path.write_text(json.dumps({"corpus": "a", "system": system, "bleu_tok": 1.0, "sacrebleu": 1.0,
                                    "n_sentences": 2, "signature": "s", **extra}))
        files.append(str(path))
    table = summarize.build_table(files, {}, {}, tmp_path)
    assert summarize.COLUMNS[summarize.COLUMNS.index("sacrebleu") + 1] == "repetition"
    assert "repeated_tokens" not in table.columns  # the count stays in the JSON
    assert table.set_index("system").loc["new", "repetition"] == 50.0
    assert table.set_index("system")["repetition"].isna().tolist() == [False, True]
    header, _, new, old = summarize.markdown_table(table).splitlines()
    at = header.split(" | ").index("repetition")
    assert new.split(" | ")[at] == "50.0" and old.split(" | ")[at] == ""  # not "nan" or "None"
    assert old.split(" | ")[header.split(" | ").index("bp")] == ""  # no bleu_tok_detail either
    csv = tmp_path / "summary.csv"
    table.to_csv(csv, index=False)
    assert csv.read_text().splitlines()[0].split(",").index("repetition") == summarize.COLUMNS.index("repetition")
