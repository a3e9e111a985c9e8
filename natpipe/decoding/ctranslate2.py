"""The AT a user would deploy: a fairseq `transformer` checkpoint run by CTranslate2.

Every NAT paper measures its speed-up against fairseq's Python beam search. The CTranslate2 rows
put an optimised C++ engine next to it, decoding exactly what fairseq decodes: the source tokens
of the same binarized split (so subword units and unknown words are fairseq's), in
fairseq-generate's own batches, with the row's beam, length penalty and fairseq's length rule
as natpipe applies it (natpipe/decoding/length_cap.py: floor(a * n + b) tokens for a source of n,
at least one), so that its BLEU is comparable with the fairseq row's and its time with every row's. The compute type (float32, int8,
float16, bfloat16) is chosen when the converted model is loaded; one conversion serves them all.

The system has the interface of natpipe.decoding.systems.LoadedSystem (dataset, to, translate,
string), so the speed harness times it like any other row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from natpipe.decoding.systems import DecodingSystem

# fairseq's SequenceGenerator never decodes past the decoder's positions (1,024 for the sizes here)
MAX_POSITIONS = 1024


def supported_compute_types(device: str) -> set[str]:
    """What CTranslate2 runs efficiently on this torch device ("cpu", "cuda:0")."""
    import ctranslate2

    kind = torch.device(device).type
    if kind == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        return set()
    return set(ctranslate2.get_supported_compute_types(kind))


def length_cap(source_length: int, search: dict) -> int:
    """natpipe's cap on the tokens of a hypothesis (EOS excluded) for a source of
    `source_length` tokens (EOS excluded): floor(a * n + b), as natpipe.decoding.length_cap."""
    return min(math.floor(search["max_len_a"] * source_length + search["max_len_b"]), MAX_POSITIONS - 1)


@dataclass
class CTranslate2System(DecodingSystem):
    model_dir: str = ""
    compute_type: str = "float32"
    search: dict = field(default_factory=dict)  # the row's resolved generate: beam, lenpen, max_len_a/b, max_tokens
    threads: int = 1
    device: str = "cpu"
    translator: object = field(default=None, repr=False)

    def supports(self, device: str) -> bool:
        return self.compute_type in supported_compute_types(device)

    def to(self, device: str) -> "CTranslate2System":
        """Load the converted model on `device` with the row's compute type (an unsupported one is
        an error from CTranslate2, never a silent fallback to another type)."""
        import ctranslate2

        where = torch.device(device)
        self.translator = ctranslate2.Translator(
            self.model_dir, device=where.type, device_index=where.index or 0, compute_type=self.compute_type,
            inter_threads=1, intra_threads=self.threads if where.type == "cpu" else 0)
        self.device = device
        return self

    def source_tokens(self, sentence_id: int) -> list[str]:
        src_dict, tokens = self.task.source_dictionary, self.dataset.src[sentence_id]
        return [src_dict[t] for t in tokens.tolist() if t != src_dict.eos()]

    def translate(self, ids: list[int], with_scores: bool = False) -> dict:
        """Best hypothesis (target token ids, no EOS) of each sentence id, decoded as one batch;
        with_scores: (tokens, CTranslate2's normalised score) instead.

        CTranslate2 has one length limit per call: the batch decodes up to its largest sentence
        cap, and a longer hypothesis is cut at its own cap. For greedy search that is exactly
        fairseq's forced EOS at the cap; for beam search it may differ on hypotheses that reach
        their cap (repetition loops), which `decode` avoids by decoding each cap apart."""
        if self.translator is None:
            self.to(self.device)
        sources = [self.source_tokens(i) for i in ids]
        caps = [length_cap(len(tokens), self.search) for tokens in sources]
        results = self.translator.translate_batch(
            sources, beam_size=self.search["beam"], length_penalty=self.search["lenpen"],
            max_decoding_length=max(caps), min_decoding_length=1, max_batch_size=0, return_scores=with_scores)
        out = {}
        for sentence_id, cap, result in zip(ids, caps, results):
            tokens = [self.tgt_dict.index(token) for token in result.hypotheses[0][:cap]]
            out[sentence_id] = (tokens, result.scores[0]) if with_scores else tokens
        return out

    def decode(self) -> dict[int, tuple[list[int], float]]:
        """Every sentence of the split -> (tokens, score), in fairseq-generate's batches split by
        length cap, so that every hypothesis is capped exactly as fairseq caps it."""
        out = {}
        for batch in self.generate_batches():
            by_cap: dict[int, list[int]] = {}
            for sentence_id in batch:
                by_cap.setdefault(length_cap(len(self.source_tokens(sentence_id)), self.search), []).append(sentence_id)
            for group in by_cap.values():
                out.update(self.translate(group, with_scores=True))
        return out

    def generate_batches(self) -> list[list[int]]:
        """fairseq-generate's batches of the split (its length order, --max-tokens, batch-size
        multiple 1), so that each batch's length cap is the one fairseq applied."""
        iterator = self.task.get_batch_iterator(
            dataset=self.dataset, max_tokens=self.search["max_tokens"], required_batch_size_multiple=1,
            max_positions=(MAX_POSITIONS, MAX_POSITIONS), ignore_invalid_inputs=False)
        return [list(map(int, batch)) for batch in iterator.frozen_batches]


def load_ctranslate2_system(model: dict, data_bin: str, src: str, tgt: str, subset: str = "test",
                            threads: int = 1) -> CTranslate2System:
    """A CTranslate2 row (generate.engine ctranslate2) over a binarized split, on the CPU until `to`,
    with the row's intra_threads (else `threads`)."""
    from fairseq import options, tasks

    generate = model["generate"]
    parser = options.get_generation_parser()
    args = options.parse_args_and_arch(parser, [data_bin, "--task", "translation", "-s", src, "-t", tgt,
                                                "--gen-subset", subset])
    task = tasks.setup_task(args)
    task.load_dataset(subset)
    return CTranslate2System(model_dir=generate["ct2_model"], compute_type=generate["compute_type"],
                             search=generate, task=task, subset=subset, threads=generate.get("intra_threads") or threads)
