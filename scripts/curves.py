"""The learning curves of a corpus's models (recorded by scripts/train.py in train.done.json)
as one CSV and one figure: validation losses against updates and target tokens seen."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from common import PipelineError, atomic_output, run_main
from figures import learning_curves_figure


def curves_table(done_files: list[str], systems: list[str]) -> pd.DataFrame:
    rows = []
    for path, system in zip(done_files, systems, strict=True):
        with open(path, encoding="utf-8") as handle:
            done = json.load(handle)
        if not done.get("curve"):
            raise PipelineError(f"{path}: no validation point recorded (a training older than the learning "
                                "curves, or one that never validated: rerun it with --forcerun train_model)")
        rows += [{"system": system, **point} for point in done["curve"]]
    table = pd.DataFrame(rows)
    first = ["system", "update", "target_tokens", "valid_loss", "valid_nll_loss"]
    return table[first + sorted(c for c in table.columns if c not in first)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--done", nargs="+", required=True, help="train.done.json of each model")
    parser.add_argument("--systems", nargs="+", required=True, help="their model names, in the same order")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--figure", required=True)
    args = parser.parse_args()
    table = curves_table(args.done, args.systems)
    with atomic_output(args.csv) as handle:
        table.to_csv(handle, index=False)
    learning_curves_figure(table, args.figure)
    print(f"curves: {len(table)} validation points of {table['system'].nunique()} models -> {args.csv}")


if __name__ == "__main__":
    run_main(main)
