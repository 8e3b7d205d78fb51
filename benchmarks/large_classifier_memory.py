"""Peak memory and step time of a scorer step on large classifiers, with and without activation checkpointing,
against a plain fine-tuning step of the same classifier.

    python benchmarks/large_classifier_memory.py                      # CPU: docs/recipes.md, results JSON
    python benchmarks/large_classifier_memory.py --sizes 1.5b --lengths 128 --modes scorer scorer+ckpt \
        --output benchmarks/results/large_classifier_memory_cpu_1.5b.json
    python benchmarks/large_classifier_memory.py --output benchmarks/results/large_classifier_memory_cpu_all.json \
        --from-results benchmarks/results/large_classifier_memory_cpu.json \
        benchmarks/results/large_classifier_memory_cpu_1.5b.json                # the rows of both, summarized together
    python benchmarks/large_classifier_memory.py --device cuda --sizes 0.5b 1.5b --lengths 512 1024 2048

Classifiers are Qwen2ForSequenceClassification built from configs (random weights: memory and time do not depend on
them) in bf16; ``1.5b`` and ``0.5b`` have the shapes of Qwen2.5-1.5B and -0.5B, ``0.1b`` a narrower, shallower one
with the same vocabulary. Every setting runs in its own process:

- ``scorer``: AutoModelWithScorer (classifier frozen, bf16; scorer weights float32 under bf16 autocast, as
  ``TrainingArguments(bf16=True)`` trains it), one optimizer step of AdamW on the scorer;
- ``scorer+ckpt``: the same with ``activation_checkpointing_enable()``;
- ``finetune`` / ``finetune+ckpt``: the classifier alone, every weight trained with AdamW in bf16 (weights, gradients
  and optimizer states in bf16: the leanest plain fine-tuning step, so the ratio is the conservative one), in train
  mode, with transformers' own gradient checkpointing for ``+ckpt``.

Each process first takes one short step (length 8) so that optimizer states exist, then measures one step of batch
``--batch-size`` x length. On CPU the peak is the process's peak resident memory during that step (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``), on CUDA ``torch.cuda.max_memory_allocated``. ``step`` memory is the
peak minus the memory held before the step (weights, optimizer states). Times are wall-clock and, on a shared
machine, noisy; memory is not. The first token of every text is marked special (never masked), as a BOS token would
be: zeroing a causal decoder's first position overflows its gradient (docs/recipes.md). Writes
``benchmarks/results/large_classifier_memory_<device>.json`` unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForSequenceClassification

from hf_ssxai import AutoModelWithScorer, ScorerConfig

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 1024**3
#: the shapes of Qwen2.5-1.5B and -0.5B, and a smaller one with the same vocabulary (the embeddings dominate it)
SIZES = {
    "1.5b": {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "intermediate_size": 8960},
    "0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "intermediate_size": 4864},
    "0.1b": {"hidden_size": 512, "num_hidden_layers": 12, "num_attention_heads": 8, "intermediate_size": 2816},
}
#: what every size shares with Qwen2.5 (its vocabulary, grouped-query attention with 2 key/value heads)
QWEN2 = {"vocab_size": 151936, "num_key_value_heads": 2, "pad_token_id": 0, "max_position_embeddings": 4096}
MODES = ("scorer", "scorer+ckpt", "finetune", "finetune+ckpt")


def build_classifier(size: str, device: str) -> torch.nn.Module:
    """A bf16 Qwen2 sequence classifier of the given size, random weights."""
    config = Qwen2Config(num_labels=2, **QWEN2, **SIZES[size])
    torch.manual_seed(0)
    return Qwen2ForSequenceClassification._from_config(config, dtype=torch.bfloat16).to(device)


class PeakMemory:
    """Peak memory (bytes) of a block: CUDA's allocator peak, or on CPU the process's peak resident set."""

    def __init__(self, device: str):
        self.device = device

    def current(self) -> int:
        if self.device == "cuda":
            return torch.cuda.memory_allocated()
        return self._status("VmRSS")

    def reset(self) -> None:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        else:
            Path("/proc/self/clear_refs").write_text("5")

    def peak(self) -> int:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated()
        return self._status("VmHWM")

    @staticmethod
    def _status(field: str) -> int:
        return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def measure(size: str, mode: str, length: int, batch_size: int, device: str) -> dict:
    """One setting, in this process: peak and step memory (bytes) and the step's seconds."""
    classifier = build_classifier(size, device)
    parameters = sum(p.numel() for p in classifier.parameters())
    checkpointing = mode.endswith("+ckpt")
    if mode.startswith("scorer"):
        model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(target="prediction")).train()
        if checkpointing:
            model.activation_checkpointing_enable()
        trained = model.scorer.parameters()

        def loss_of(batch: dict) -> torch.Tensor:
            # the first token is a BOS-like special token, never masked: a causal decoder's first position, zeroed,
            # sends the gradient through 1/sqrt(eps) in every RMSNorm and overflows (seen on this 0.5B: NaN)
            special = torch.zeros_like(batch["input_ids"])
            special[:, 0] = 1
            return model(**batch, special_tokens_mask=special, return_loss=True).loss

    else:
        model = classifier.train()
        if checkpointing:
            model.activation_checkpointing_enable()
        trained = model.parameters()

        def loss_of(batch: dict) -> torch.Tensor:
            return model(**batch, labels=torch.zeros(len(batch["input_ids"]), dtype=torch.long, device=device)).loss

    optimizer = torch.optim.AdamW(trained, lr=1e-5)
    generator = torch.Generator().manual_seed(0)

    def step(tokens: int) -> None:
        ids = torch.randint(10, 150000, (batch_size, tokens), generator=generator).to(device)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = loss_of({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(8)  # optimizer states exist from here on
    memory = PeakMemory(device)
    before = memory.current()
    memory.reset()
    start = time.perf_counter()
    step(length)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = memory.peak()
    return {
        "size": size,
        "parameters": parameters,
        "mode": mode,
        "length": length,
        "tokens": batch_size * length,
        "peak_bytes": peak,
        "step_bytes": peak - before,
        "seconds": seconds,
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def summarize(rows: list[dict]) -> dict:
    """Per mode: peak GiB per 1,000 tokens (at each size) and per billion parameters (at each length); per setting:
    the scorer's peak and time over those of the fine-tuning step with the same checkpointing."""
    summary: dict = {"per_1000_tokens_gib": {}, "per_billion_parameters_gib": {}, "ratio_to_finetune": []}
    for mode in MODES:
        of_mode = [row for row in rows if row["mode"] == mode]
        for size in sorted({row["size"] for row in of_mode}):
            points = [row for row in of_mode if row["size"] == size]
            if len(points) > 1:
                value = slope([r["tokens"] / 1000 for r in points], [r["peak_bytes"] / GIB for r in points])
                summary["per_1000_tokens_gib"][f"{mode} {size}"] = round(value, 3)
        for length in sorted({row["length"] for row in of_mode}):
            points = [row for row in of_mode if row["length"] == length]
            if len(points) > 1:
                value = slope([r["parameters"] / 1e9 for r in points], [r["peak_bytes"] / GIB for r in points])
                summary["per_billion_parameters_gib"][f"{mode} length {length}"] = round(value, 3)
    for row in rows:
        if row["mode"].startswith("scorer"):
            plain = row["mode"].replace("scorer", "finetune")
            match = next(
                (r for r in rows if r["mode"] == plain and r["size"] == row["size"] and r["length"] == row["length"]),
                None,
            )
            if match is not None:
                summary["ratio_to_finetune"].append(
                    {
                        "size": row["size"],
                        "length": row["length"],
                        "mode": row["mode"],
                        "peak": round(row["peak_bytes"] / match["peak_bytes"], 3),
                        "time": round(row["seconds"] / match["seconds"], 3),
                    }
                )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["0.1b", "0.5b"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--output", type=Path, help="the results JSON (default: results/large_classifier_memory_DEVICE.json)"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--from-results", nargs="+", type=Path, help="summarize the rows of these results JSONs")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one setting, as JSON: run by the parent in a new process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(**json.loads(args.one), batch_size=args.batch_size, device=args.device)))
        return
    rows = [row for path in args.from_results or [] for row in json.loads(path.read_text())["rows"]]
    for size in args.sizes if not args.from_results else []:
        for length in args.lengths:
            for mode in args.modes:
                one = json.dumps({"size": size, "mode": mode, "length": length})
                command = [sys.executable, __file__, "--one", one, "--batch-size", str(args.batch_size)]
                finished = subprocess.run(
                    [*command, "--device", args.device], capture_output=True, text=True, check=True
                )
                rows.append(json.loads(finished.stdout.strip().splitlines()[-1]))
                row = rows[-1]
                print(
                    f"{size} {mode:14s} length {length:5d}: peak {row['peak_bytes'] / GIB:6.2f} GiB, "
                    f"step {row['step_bytes'] / GIB:6.2f} GiB, {row['seconds']:6.1f} s",
                    flush=True,
                )
    result = {
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "dtype": "bfloat16",
        "rows": rows,
        "summary": summarize(rows),
    }
    path = args.output or RESULTS / f"large_classifier_memory_{args.device}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
