"""Learning curves from fairseq-train's log: one point per validation, against updates and the
target tokens seen so far. People judge NAT training by these curves, so every training job
records them (scripts/train.py) and the workflow draws them per corpus (scripts/curves.py).
"""
from __future__ import annotations

import re

_FIELD = re.compile(r"([a-z_]+)[= ]([-0-9.e+]+|inf|nan)\b")


def _fields(text: str) -> dict[str, float]:
    return {key: float(value) for key, value in _FIELD.findall(text)}


def parse_training_log(lines) -> list[dict]:
    """Validation points of a fairseq-train log. Each has `update`, `target_tokens` (summed from
    the train_inner lines: words per batch x updates since the previous line; a validation
    between two lines carries the last rate on) and every `valid_<metric>` fairseq logged (loss,
    nll_loss, ppl, per-task losses such as HRT's skip_at_loss; losses in bits, as fairseq logs
    them). A resumed run appends to the same log and restarts from its checkpoint's update: what
    was logged past that update is forgotten, for tokens and points alike."""
    seen, rate = {0: 0.0}, {0: 0.0}  # update -> target tokens so far, words per batch before it
    points: dict[int, dict] = {}
    for line in lines:
        if "train_inner" in line and "num_updates=" in line:
            fields = _fields(line)
            update = int(fields["num_updates"])
            for later in [u for u in seen if u >= update and u > 0]:
                del seen[later], rate[later]
            for later in [u for u in points if u > update]:
                del points[later]
            before = max(seen)
            seen[update] = seen[before] + fields.get("wpb", 0.0) * (update - before)
            rate[update] = fields.get("wpb", 0.0)
        elif "valid on" in line and "num_updates" in line:
            fields = _fields(line.split("subset", 1)[1])
            update = int(fields.pop("num_updates"))
            before = max(u for u in seen if u <= update)
            points[update] = {"update": update, "target_tokens": round(seen[before] + rate[before] * (update - before)),
                              **{f"valid_{key}": value for key, value in fields.items()
                                 if key not in ("wps", "wpb", "bsz", "best_loss")}}
    return [points[u] for u in sorted(points)]
