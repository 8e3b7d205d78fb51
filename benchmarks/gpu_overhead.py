"""The overhead of an explanation over a plain forward on a GPU, with the levers against launch-bound batches.

Overhead = time of ``AutoModelWithScorer(**inputs)`` (prediction + attributions) / time of the classifier's plain
forward, both under ``torch.inference_mode``, medians of repeated runs in one process (the models and inputs of
``benchmarks/performance.py``: MiniLM text at 128 tokens, ViT-Base images at 224 px), at batch 32 and 256, bf16.
The target is 1.15; the H100 measured 1.41-2.60 at batch 32 without levers (docs/performance.md). Levers, each a
row (``--levers``):

- ``none``: the model as it is;
- ``compile_scorer``: ``torch.compile(model.scorer)`` (inductor: the scorer's small layers traced into few kernels);
- ``fuse``: ``torch.compile(model.scorer, mode="max-autotune-no-cudagraphs", fullgraph=True)``: the scorer's
  small layers fused into autotuned kernels, one graph;
- ``cuda_graphs``: the explained forward and the plain forward each captured once in a CUDA graph and replayed
  (launch cost removed from both sides of the ratio);
- ``compile_and_graphs``: ``torch.compile(model.scorer, mode="reduce-overhead")`` (inductor kernels replayed as
  CUDA graphs), the plain forward as it is.

A lever that fails on a model (capture or compilation) is reported with its error instead of a figure.

    python benchmarks/gpu_overhead.py                          # on a GPU: every lever, both batches, both inputs
    python benchmarks/gpu_overhead.py --levers none,cuda_graphs --batches 32

Writes benchmarks/results/gpu_overhead.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
from performance import RESULTS, image_classifier, image_inputs, median_seconds, text_classifier, text_inputs

from hf_ssxai import AutoModelWithScorer, ScorerConfig

LEVERS = ("none", "compile_scorer", "fuse", "cuda_graphs", "compile_and_graphs")
INPUTS = {"text": 128, "image": 224}


def build(modality: str, batch: int, device: str, dtype: torch.dtype) -> tuple[AutoModelWithScorer, dict]:
    """A fresh model (a compiled scorer must not leak into the next lever) and its inputs."""
    classifier = text_classifier() if modality == "text" else image_classifier(INPUTS["image"])
    special = {"special_token_ids": [0, 101, 102]} if modality == "text" else {}
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(**special))
    inputs = (text_inputs if modality == "text" else image_inputs)(batch, INPUTS[modality], device)
    inputs = {key: value.to(dtype) if value.is_floating_point() else value for key, value in inputs.items()}
    return model.to(device=device, dtype=dtype).eval(), inputs


def graphed(function: Callable[[], Any]) -> Callable[[], Any]:
    """``function`` (fixed inputs) captured once in a CUDA graph; calling the result replays it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
            function()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        function()
    return graph.replay


def measure(modality: str, batch: int, lever: str, device: str, dtype: torch.dtype, repeats: int) -> dict:
    model, inputs = build(modality, batch, device, dtype)
    if lever == "compile_scorer":
        model.scorer = torch.compile(model.scorer)
    elif lever == "fuse":
        model.scorer = torch.compile(model.scorer, mode="max-autotune-no-cudagraphs", fullgraph=True)
    elif lever == "compile_and_graphs":
        model.scorer = torch.compile(model.scorer, mode="reduce-overhead")
    with torch.inference_mode():

        def plain() -> Any:
            return model.classifier(**inputs)

        def explained() -> Any:
            return model(**inputs)

        if lever == "cuda_graphs":
            plain, explained = graphed(plain), graphed(explained)
        for _ in range(3):  # compilation and autotuning happen here, untimed
            explained()
        plain_seconds = median_seconds(plain, device, repeats)
        explained_seconds = median_seconds(explained, device, repeats)
    return {
        "plain_ms": 1e3 * plain_seconds,
        "explained_ms": 1e3 * explained_seconds,
        "overhead": explained_seconds / plain_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of {', '.join(LEVERS)}")
    parser.add_argument("--batches", default="32,256")
    parser.add_argument("--inputs", default="text,image")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    levers = args.levers.split(",")
    if unknown := sorted(set(levers) - set(LEVERS)):
        parser.error(f"unknown levers {unknown}; choose from {', '.join(LEVERS)}")
    dtype = getattr(torch, args.dtype)
    rows = []
    for modality in args.inputs.split(","):
        for batch in map(int, args.batches.split(",")):
            for lever in levers:
                row = {"input": f"{modality} {INPUTS[modality]}", "batch": batch, "lever": lever}
                try:
                    row.update(measure(modality, batch, lever, args.device, dtype, args.repeats))
                except Exception as error:  # a lever this model or device does not take: reported, not fatal
                    row["error"] = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
                rows.append(row)
                print(json.dumps(row), flush=True)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    report = {"device": device_name, "dtype": args.dtype, "torch": torch.__version__, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpu_overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| input | batch | lever | plain (ms) | explained (ms) | overhead (target ≤ 1.15) |")
    print("|---|---:|---|---:|---:|---:|")
    for row in rows:
        figures = (
            f"{row['plain_ms']:.2f} | {row['explained_ms']:.2f} | {row['overhead']:.2f}"
            if "overhead" in row
            else f"failed: {row['error']} | | "
        )
        print(f"| {row['input']} | {row['batch']} | {row['lever']} | {figures} |")


if __name__ == "__main__":
    main()
