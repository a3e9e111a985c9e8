"""One paper's tables rebuilt from natpipe's results, the published numbers beside ours, and Δ.

The stem of --paper (data/papers/<paper>.csv) names the paper; its tables are
natpipe/systems/<paper>/tables.py, run by natpipe.tables.render. --rows: JSON list of our rows
that name the paper system they reproduce, each with its resolved model (natpipe.workflow's
paper_rows_json). BLEU, its brevity penalty, SacreBLEU and the repetition rate come from
summary.csv (a column it lacks gives no number); alpha and latencies from the speed CSVs of the
same run and device.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from common import PipelineError, atomic_output, run_main
from natpipe.tables import UnknownPaper, paper_module, paper_numbers, render, speed_summaries


def summary_column(table: pd.DataFrame, column: str) -> dict:
    """(corpus, system) -> a numeric column of summary.csv, where the row has a value."""
    if column not in table.columns:
        return {}
    values = zip(table["corpus"], table["system"], table[column])
    return {(corpus, system): float(value) for corpus, system, value in values if not pd.isna(value)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paper", required=True, help="data/papers/<paper>.csv (a package of natpipe/systems "
                                                       "with a tables.py)")
    parser.add_argument("--rows", required=True, help="JSON list of our rows with their paper labels and resolved models")
    parser.add_argument("--summary", required=True, help="results/tables/summary.csv")
    parser.add_argument("--speed", nargs="*", default=[], help="results/<corpus>/speed.csv")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    name = Path(args.paper).stem
    try:
        paper_module(name)  # fail before reading anything
    except UnknownPaper as err:
        raise PipelineError(f"--paper {args.paper}: {err}") from None
    rows = json.loads(args.rows)
    table = pd.read_csv(args.summary)
    bleu = {(r.corpus, r.system): float(r.bleu_tok) for r in table.itertuples()}
    bp, sacrebleu, repetition = (summary_column(table, column) for column in ("bp", "sacrebleu", "repetition"))
    reference = {row["corpus"]: row["reference"] for row in rows}
    summary = speed_summaries(args.speed, reference)
    markdown = render(name, rows, bleu, paper_numbers(args.paper), summary, bp, sacrebleu, repetition)
    with atomic_output(args.out) as handle:
        handle.write(markdown)
    print(f"paper_tables: {name}: {len(rows)} labelled rows -> {args.out}")


if __name__ == "__main__":
    run_main(main)
