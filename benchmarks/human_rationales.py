"""Human rationales on generated data, through the user's own path: a recipe, then the benchmark on a CSV file.

A tiny BERT and its scorer are trained by a recipe on planted-evidence sentences (``max_length`` 32, which travels
with the checkpoint). The held-out CSV holds sentences with a planted two-word rationale (the deciding word and a
neighbour), given as character offsets, as text and as words (lists as JSON), plus a variant in which every second
rationale is widened to the whole sentence, as happens with neutral tweets. Measured for three methods:

- the three ways of giving the same rationale give identical per-sample values (checked here);
- widening half of the rationales raises token F1 and AUPRC for every method, and F1 over random does not rise;
- ``where`` and ``correct_only``: the rows of one label, the rows the classifier gets right beside all rows.

Run:  python benchmarks/human_rationales.py  (about a minute on 2 CPU cores)
Writes benchmarks/results/human_rationales.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from datasets import Dataset
from transformers import set_seed

from hf_ssxai.benchmark import BenchmarkResult, benchmark_from_pretrained
from hf_ssxai.data.synthetic import build_word_tokenizer, planted_rationale_texts, planted_text_dataset
from hf_ssxai.training.recipe import run_classifier_phase, run_scorer_phase

RESULTS = Path(__file__).parent / "results" / "human_rationales.json"
METHODS = ("scorer", "saliency", "integrated_gradients")
COLUMNS = ("rationale_f1", "rationale_f1_over_random", "rationale_iou", "rationale_auprc", "pointing_game")
#: the rationale columns of the held-out CSV and how each is read
FORMATS = {"rationale_offsets": "auto", "rationale_span": "auto", "rationale_words": "words", "widened": "auto"}
QUICK = {"per_device_train_batch_size": 32, "save_strategy": "no", "report_to": "none", "disable_tqdm": True}


def write_data(folder: Path, test_rows: int) -> Path:
    """Training and validation sentences, the tokenizer, and the held-out CSV with its rationale columns."""
    tokenizer = build_word_tokenizer()
    tokenizer.save_pretrained(folder / "tokenizer")
    for split, seed, size in (("train", 0, 1500), ("validation", 1, 200)):
        rows = planted_text_dataset(tokenizer, size, seed=seed).select_columns(["text", "label"])
        rows.to_csv(folder / f"{split}.csv", index=False)
    test = planted_rationale_texts(test_rows, seed=2)
    widened = [
        [[0, len(text)]] if index % 2 else offsets
        for index, (text, offsets) in enumerate(zip(test["text"], test["rationale_offsets"], strict=True))
    ]
    cells = {
        "text": test["text"],
        "label": test["label"],
        "rationale_span": test["rationale_span"],
        **{name: [json.dumps(value) for value in test[name]] for name in ("rationale_offsets", "rationale_words")},
        "widened": [json.dumps(value) for value in widened],
    }
    Dataset.from_dict(cells).to_csv(folder / "test.csv", index=False)
    return folder / "test.csv"


def recipe(folder: Path, vocab_size: int) -> dict:
    return {
        "modality": "text",
        "data": {
            "path": "csv",
            "data_files": {split: str(folder / f"{split}.csv") for split in ("train", "validation")},
            "splits": {"train": "train", "validation": "validation"},
            "text_column": "text",
        },
        "max_length": 32,
        "classifier": {
            "scratch": {
                "model_type": "bert",
                "vocab_size": vocab_size,
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 64,
            },
            "processor": {"pretrained": str(folder / "tokenizer")},
        },
        "classifier_training": {**QUICK, "num_train_epochs": 3, "learning_rate": 2e-3, "seed": 0},
        "scorer": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        "scorer_training": {**QUICK, "num_train_epochs": 4, "learning_rate": 3e-3, "seed": 0},
    }


def table(results: dict[str, BenchmarkResult]) -> str:
    """One row per (rationale column, method): the rationale metrics' means and the rows' mean coverage."""
    lines = [
        "| rationale | method | F1 | random F1 | F1 over random | IoU | AUPRC | pointing game |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        summary, coverage = result.summary(), result.coverage_summary()[""]
        for method in result.methods:
            means = [summary[method][column]["mean"] for column in COLUMNS]
            cells = [means[0], coverage["mean_coverage"], *means[1:]]
            lines.append(f"| {name} | {method} | " + " | ".join(f"{value:.3f}" for value in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-rows", type=int, default=220, help="held-out sentences (the first 20 are baselines)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    set_seed(0)  # the recipe builds the classifier and the scorer before their Trainer seeds: seed their weights here
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        test_csv = write_data(folder, args.test_rows)
        plan = recipe(folder, len(build_word_tokenizer()))
        metrics = {"classifier": run_classifier_phase(plan, folder), "scorer": run_scorer_phase(plan, folder)}
        common = {"methods": METHODS, "num_samples": None, "progress": False, "split": "test"}
        results = {
            column: benchmark_from_pretrained(
                str(folder / "model"), str(test_csv), evidence_column=column, evidence_format=fmt, **common
            )
            for column, fmt in FORMATS.items()
        }
        cut = benchmark_from_pretrained(
            str(folder / "model"),
            str(test_csv),
            evidence_column="rationale_span",
            where="label == 1",
            correct_only=True,
            **common,
        )
    same = [
        results[name].values == results["rationale_offsets"].values for name in ("rationale_span", "rationale_words")
    ]
    correct = cut.correct()
    report = {
        "classifier_accuracy": results["rationale_span"].metadata["accuracy"],
        "truncation_length": results["rationale_span"].metadata["truncation_length"],
        "identical_values_offsets_span_words": all(same),
        "summary": {name: result.summary() for name, result in results.items()},
        "coverage": {name: result.coverage_summary()[""] for name, result in results.items()},
        "label_1_rows": len(cut.sample_indices),
        "label_1_rows_right": len(correct.sample_indices),
        "label_1_summary": {"all": cut.summary(), "correct": correct.summary()},
        "training_metrics": metrics,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\nidentical per-sample values (offsets, span, words): {all(same)}")
    print(f"label == 1: {len(cut.sample_indices)} rows, the classifier gets {len(correct.sample_indices)} right")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
