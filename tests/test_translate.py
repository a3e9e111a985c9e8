"""Hypotheses come back in sentence order; a lost sentence is an error."""
import pytest

import translate


def test_hypotheses_are_reordered_by_id_and_first_is_best():
    lines = ["S-1\tb", "H-1\t-0.5\tzwei", "H-1\t-0.9\tzwo", "D-1\t-0.5\tzwei", "H-0\t-0.1\teins",
             "H-2\t-0.2\t"]
    assert translate.parse_hypotheses(lines, 3) == ["eins", "zwei", ""]


def test_missing_hypothesis_is_an_error():
    with pytest.raises(translate.PipelineError, match=r"returned 1 of 2 hypotheses \(missing ids: \[1\]\)"):
        translate.parse_hypotheses(["H-0\t-0.1\teins"], 2)
