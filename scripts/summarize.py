"""Collect every system's BLEU JSON into results/tables/summary.{csv,md} with provenance.

Provenance columns say exactly what produced a number: the hash of the effective config, the
git commit, the sha256 of the raw data, the host and the torch/fairseq versions.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

from common import atomic_output, run_main, sha256_file
from natpipe.tables import DATA_LABELS

COLUMNS = ["corpus", "system", "model", "kind", "role", "data", "distill_teacher", "bleu_tok", "bp", "sacrebleu", "repetition", "n_sentences", "signature", "config_sha256",
           "git_commit", "data_sha256", "host", "torch", "fairseq"]

_BP = re.compile(r"\bBP = ([0-9]+(?:\.[0-9]+)?)")


def brevity_penalty(detail: str | None) -> float | None:
    """The brevity penalty of a sacrebleu score string ("BLEU = ... (BP = 0.822 ratio = ...)")."""
    match = _BP.search(detail or "")
    return float(match.group(1)) if match else None


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def data_hash(files: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()[:16]


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def build_table(bleu_files: list[str], data_files: dict[str, list[str]], config: dict, repo: Path) -> pd.DataFrame:
    common = {"config_sha256": config_hash(config), "git_commit": git_commit(repo),
              "host": platform.node(), "torch": version("torch"), "fairseq": version("fairseq-fixed")}
    hashes = {corpus: data_hash(files) for corpus, files in data_files.items()}
    rows = []
    for path in bleu_files:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        corpus, system = result["corpus"], result["system"]
        model = result.get("model") or system  # a decoding variant (CMLM10) names its model
        teacher = config.get("corpora", {}).get(corpus, {}).get("teacher")
        spec = config.get("models", {}).get(model, {})
        rows.append({**{key: result.get(key) for key in COLUMNS}, **common, "model": model,
                     "kind": spec.get("kind", "at"), "role": "teacher" if system == teacher else "system",
                     "data": DATA_LABELS[spec.get("data", "raw")],
                     "distill_teacher": (spec.get("distill_teacher") or teacher) if spec.get("data", "raw") != "raw" else "",
                     "bp": brevity_penalty(result.get("bleu_tok_detail")),
                     "data_sha256": hashes.get(corpus, "unknown")})
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["corpus", "system"], kind="stable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bleu", nargs="+", required=True)
    parser.add_argument("--data", required=True, help="JSON {corpus: [raw data files]}")
    parser.add_argument("--config", required=True, help="JSON of the effective config")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    table = build_table(args.bleu, json.loads(args.data), json.loads(args.config), repo)
    with atomic_output(args.csv) as handle:
        table.to_csv(handle, index=False)
    with atomic_output(args.md) as handle:
        handle.write("# natpipe summary\n\nBLEU on each corpus's test set: `bleu_tok` is tokenized BLEU as the "
                     "papers report it and `bp` its brevity penalty, `sacrebleu` is detokenized SacreBLEU (signature column), "
                     "`repetition` the % of output tokens that repeat the token before them. `system` is the "
                     "evaluation row, `model` the checkpoint it decodes (CMLM1/4/10 decode one CMLM with 1/4/10 "
                     "iterations; <model>_ct2_<type> decodes it with CTranslate2 at that compute type). `role`: the corpus's teacher or another system; `data`: raw (R), distilled (D) or MixDistill (MD) "
                     "training targets, `distill_teacher` the AT whose beam output they were (D/MD).\n\n")
        handle.write(markdown_table(table))
        handle.write("\n")
    print(table[["corpus", "system", "bleu_tok", "sacrebleu"]].to_string(index=False))


def markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""  # a number the JSON lacks (no bleu_tok_detail, or an older JSON without repetition)
        return str(value).replace("|", "\\|")  # sacrebleu signatures contain pipes

    body = "".join("| " + " | ".join(cell(v) for v in row) + " |\n" for row in table.itertuples(index=False))
    return header + body


if __name__ == "__main__":
    run_main(main)
