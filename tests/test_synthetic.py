"""The synthetic-experiment plan: which masking points exist and how RANDOM is seeded/averaged."""
import pandas as pd

import synthetic


def test_plan_has_every_point_of_figure_2():
    plan = synthetic.masking_plan([0.1, 0.5], seeds=[1, 2, 3], chunk_sizes=[2, 3, 4])
    counts = pd.DataFrame(plan)["strategy"].value_counts().to_dict()
    assert counts == {"head": 2, "tail": 2, "random": 6, "chunk": 3}
    chunk = [p for p in plan if p["strategy"] == "chunk"]
    assert [round(p["p_mask"], 4) for p in chunk] == [0.5, 0.6667, 0.75]  # the real rate 1 - 1/k


def test_random_positions_are_reproducible_per_seed_and_differ_across_seeds():
    targets = [list(range(20)), list(range(7))]
    point = {"strategy": "random", "p_mask": 0.5, "chunk_size": None, "seed": 1}
    first, again = synthetic.positions_for(point, targets), synthetic.positions_for(point, targets)
    other = synthetic.positions_for({**point, "seed": 2}, targets)
    assert first == again and first != other
    assert [len(p) for p in first] == [10, 3]
    head = synthetic.positions_for({**point, "strategy": "head"}, targets + [[]])
    assert head == [list(range(10)), [0, 1, 2], []]  # an empty translation has nothing to mask


def test_random_average_is_appended_per_rate():
    rows = [{"strategy": "random", "p_mask": 0.5, "chunk_size": None, "seed": s, "mask_rate": 0.5, "n_masked": 5,
             "n_tokens": 10, "bleu_tok": b, "sacrebleu": b} for s, b in ((1, 10.0), (2, 20.0))]
    rows.append({"strategy": "head", "p_mask": 0.5, "chunk_size": None, "seed": None, "mask_rate": 0.5,
                 "n_masked": 5, "n_tokens": 10, "bleu_tok": 1.0, "sacrebleu": 1.0})
    table = synthetic.with_random_average(pd.DataFrame(rows, columns=synthetic.COLUMNS))
    mean = table[table["seed"] == "mean"]
    assert len(mean) == 1 and mean["bleu_tok"].iloc[0] == 15.0 and len(table) == 4
