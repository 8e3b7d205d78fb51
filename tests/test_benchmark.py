"""The benchmark: every method on the same samples and features; table, Pareto statement, JSON, radar; the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from hf_ssxai import BenchmarkResult, InvalidInputError, run_benchmark
from hf_ssxai.benchmark import COSTS, METRICS, dataset_to_batch
from hf_ssxai.cli import main
from hf_ssxai.data.synthetic import as_batch
from hf_ssxai.explainers import get_explainer, supported_explainers
from hf_ssxai.metrics import auc, complexity, compute_perturbations

TEXT_COLUMNS = ("input_ids", "attention_mask")
#: cheaper settings where fewer steps/samples do not weaken what a test checks
FAST = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 8},
    "deeplift_shap": {"num_baselines": 4},
}
SUBSET = ("scorer", "saliency", "integrated_gradients")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def text_run(planted_text):
    """(model, test dataset, a benchmark of three methods on 24 planted-text samples with the evidence column)."""
    model, test = planted_text
    result = run_benchmark(
        model,
        test,
        methods=SUBSET,
        explainer_kwargs=FAST,
        num_samples=24,
        batch_size=8,
        evidence_column="evidence_position",
    )
    return model, test, result


def _baselines(model, test):
    return dataset_to_batch(model, test.select(range(100, 108)))


def _hand_made(means: dict[str, dict[str, float]], ms: dict[str, float] | None = None) -> BenchmarkResult:
    """A result whose every sample of a method has the given value (std 0); forwards 1, ms as given (or 1)."""
    return BenchmarkResult(
        values={method: {metric: [value, value] for metric, value in row.items()} for method, row in means.items()},
        cost={method: {"ms_per_sample": (ms or {}).get(method, 1.0), "forwards_per_sample": 1.0} for method in means},
    )


def _table(markdown: str) -> tuple[list[str], dict[str, list[str]]]:
    """(column headings, cells per method) of a Markdown table."""
    lines = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    heading, rows = [cell.strip() for cell in lines[0][1:]], lines[2:]
    return heading, {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}


# ---------------------------------------------------------------------------------------------- on the planted model
def test_result_has_every_method_metric_and_sample(text_run):
    model, test, result = text_run
    assert result.methods == list(SUBSET)
    assert result.metrics == list(METRICS)  # pointing game included: evidence was given
    for method in SUBSET:
        for metric in METRICS:
            values = torch.tensor(result.values[method][metric])
            assert values.shape == (24,) and torch.isfinite(values).all()
        assert set(result.cost[method]) == set(COSTS) and result.cost[method]["ms_per_sample"] > 0
    assert len(result.sample_indices) == len(set(result.sample_indices)) == len(result.predictions) == 24
    assert result.sample_indices == sorted(result.sample_indices) and max(result.sample_indices) < len(test)
    assert {"mean", "std"} == set(result.summary()["scorer"]["deletion_auc"])
    meta = result.metadata
    for key in ("model", "classifier_fingerprint", "num_samples", "device", "torch_threads", "steps", "seed", "date"):
        assert key in meta
    assert meta["num_samples"] == 24 and meta["steps"] == 10 and meta["explainer_kwargs"] == FAST
    assert 0.9 <= meta["accuracy"] <= 1.0
    assert {name: cost["forwards_per_sample"] for name, cost in result.cost.items()} == {
        "scorer": 1.0,
        "saliency": 1.0,
        "integrated_gradients": 9.0,  # one forward for the prediction + n_steps; the warm-up is not counted
    }


def test_every_method_is_measured_on_the_same_samples(text_run):
    model, test, result = text_run
    batch = as_batch(test.select(result.sample_indices), TEXT_COLUMNS)
    with torch.no_grad():
        assert model.classifier(**batch).logits.argmax(-1).tolist() == result.predictions
    for name in SUBSET:
        out = get_explainer(name, model, **FAST.get(name, {})).attribute(batch)
        expected = complexity(out.attributions, out.feature_mask)
        torch.testing.assert_close(torch.tensor(result.values[name]["complexity"]), expected, atol=1e-4, rtol=1e-4)


def test_scorer_finds_the_evidence_and_deletes_better_than_random_maps(text_run):
    """The random-map control lives here, not among the benchmarked methods: it is a check of the benchmark
    (a faithful map must beat chance), not an explanation method, and the method registry belongs to explainers."""
    model, test, result = text_run
    scorer = result.summary()["scorer"]
    assert scorer["pointing_game"]["mean"] >= 0.9
    batch = as_batch(test.select(result.sample_indices), TEXT_COLUMNS)
    repeated = {key: value.repeat(3, 1) for key, value in batch.items()}  # three random maps per sample
    random_maps = torch.rand(repeated["input_ids"].shape, generator=torch.Generator().manual_seed(0))
    random_auc = float(auc(compute_perturbations(model, repeated, random_maps).deletion_curve).mean())
    assert scorer["deletion_auc"]["mean"] < random_auc - 0.05, (scorer["deletion_auc"]["mean"], random_auc)


def test_results_are_deterministic_and_independent_of_the_other_methods(planted_text):
    model, test = planted_text
    kwargs = {"baseline_inputs": _baselines(model, test), "explainer_kwargs": FAST, "num_samples": 8, "seed": 3}
    first = run_benchmark(model, test, methods=("scorer", "gradient_shap"), **kwargs)
    again = run_benchmark(model, test, methods=("scorer", "gradient_shap"), **kwargs)
    alone = run_benchmark(model, test, methods=("gradient_shap",), **kwargs)
    assert first.values == again.values and first.sample_indices == again.sample_indices
    assert alone.values["gradient_shap"] == first.values["gradient_shap"]


def test_every_supported_method_on_text(planted_text):
    model, test = planted_text
    result = run_benchmark(
        model, test, baseline_inputs=_baselines(model, test), explainer_kwargs=FAST, num_samples=8, batch_size=4
    )
    assert result.methods == list(supported_explainers(model))  # BERT: every method but agf
    for method in result.methods:
        assert all(torch.isfinite(torch.tensor(v)).all() for v in result.values[method].values())
    assert {name: cost["forwards_per_sample"] for name, cost in result.cost.items()} == {
        "scorer": 1.0,
        "saliency": 1.0,
        "guided_backprop": 1.0,
        "integrated_gradients": 9.0,
        "deeplift": 3.0,
        "deeplift_shap": 9.0,  # 1 + 2 x num_baselines
        "gradient_shap": 9.0,  # 1 + n_samples
        "transformer_relevance": 1.0,
    }
    _, rows = _table(result.to_markdown())
    assert list(rows) == result.methods


def test_images_with_evidence_masks_and_indices():
    """The image path (stacked pixel_values, [H, W] evidence masks or flat pixel indices) on an untrained tiny ViT."""
    from hf_ssxai import AutoModelWithScorer, ScorerConfig
    from hf_ssxai.data.synthetic import planted_image_dataset
    from tests.helpers import tiny_image_classifier

    torch.manual_seed(0)
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("vit"), ScorerConfig(hidden_size=32))
    images = planted_image_dataset(8, seed=0)
    flat_index = as_batch(images, ("evidence",))["evidence"].flatten(1).float().argmax(dim=1)  # a pixel of each square
    images = images.add_column("evidence_pixel", flat_index.tolist())
    runs = {
        column: run_benchmark(model, images, methods=("scorer", "saliency"), batch_size=4, evidence_column=column)
        for column in ("evidence", "evidence_pixel")
    }
    for result in runs.values():
        assert result.metrics == list(METRICS)
        assert all(len(values) == 8 for values in result.values["saliency"].values())
    # the same maps; a single evidence pixel is harder to point at than the whole square
    assert runs["evidence"].values["scorer"]["complexity"] == runs["evidence_pixel"].values["scorer"]["complexity"]
    square, pixel = (torch.tensor(runs[c].values["saliency"]["pointing_game"]) for c in ("evidence", "evidence_pixel"))
    assert (pixel <= square).all()


def test_bad_arguments_are_refused(planted_text):
    model, test = planted_text
    with pytest.raises(InvalidInputError, match="known explainers"):
        run_benchmark(model, test, methods=("scorer", "lime"))
    with pytest.raises(InvalidInputError, match="needs baseline samples"):
        run_benchmark(model, test, methods=("gradient_shap",))
    with pytest.raises(InvalidInputError, match="unknown methods"):
        run_benchmark(model, test, methods=("scorer",), explainer_kwargs={"ig": {"n_steps": 4}})
    with pytest.raises(InvalidInputError, match="available columns: text, label, input_ids"):
        run_benchmark(model, test, methods=("scorer",), evidence_column="rationale")


# ---------------------------------------------------------------------------------------------- tables and Pareto
def test_markdown_has_one_row_per_method_and_one_best_per_column():
    result = _hand_made(
        {
            "scorer": {"average_drop": 0.1, "deletion_auc": 0.4, "complexity": 2.0, "sparsity": 3.0},
            "saliency": {"average_drop": 0.3, "deletion_auc": 0.2, "complexity": 1.0, "sparsity": 2.0},
            "deeplift": {"average_drop": 0.2, "deletion_auc": 0.3, "complexity": 3.0, "sparsity": 4.0},
        },
        ms={"scorer": 0.5, "saliency": 2.0, "deeplift": 3.0},
    )
    heading, rows = _table(result.to_markdown())
    assert heading == [
        "average drop ↓",
        "deletion AUC ↓",
        "complexity ↓",
        "sparsity ↑",
        "ms / sample ↓",
        "forwards / sample ↓",
    ]
    assert list(rows) == ["scorer", "saliency", "deeplift"]
    assert rows["scorer"][0] == "**0.100 ± 0.000**" and rows["saliency"][0] == "0.300 ± 0.000"
    best = {column: [m for m, cells in rows.items() if cells[i].startswith("**")] for i, column in enumerate(heading)}
    assert best == {
        "average drop ↓": ["scorer"],
        "deletion AUC ↓": ["saliency"],
        "complexity ↓": ["saliency"],
        "sparsity ↑": ["deeplift"],
        "ms / sample ↓": ["scorer"],
        "forwards / sample ↓": ["scorer", "saliency", "deeplift"],  # a tie: every tied method is bold
    }


def test_ties_are_judged_at_the_shown_precision():
    result = _hand_made(
        {
            "scorer": {"deletion_auc": 0.1004, "sparsity": 2.0},
            "saliency": {"deletion_auc": 0.1001, "sparsity": 2.5},
            "deeplift": {"deletion_auc": 0.2, "sparsity": 3.0},
        }
    )
    _, rows = _table(result.to_markdown())
    assert [m for m, cells in rows.items() if cells[0].startswith("**")] == ["scorer", "saliency"]  # both "0.100"
    # saliency's 0.1001 does not beat the scorer's 0.1004 (equal as shown), so its better sparsity alone does not
    # make it dominate the scorer
    front = result.pareto_front(faithfulness=("deletion_auc",), clarity=("sparsity",))
    assert front.dominated_by["scorer"] == [] and front.front == ["scorer", "saliency", "deeplift"]


def test_pareto_front_on_a_hand_made_result():
    result = _hand_made(
        {
            "scorer": {"average_drop": 0.2, "deletion_auc": 0.1, "complexity": 1.0, "sparsity": 9.0},
            "saliency": {"average_drop": 0.1, "deletion_auc": 0.5, "complexity": 3.0, "sparsity": 2.0},
            "deeplift": {"average_drop": 0.1, "deletion_auc": 0.05, "complexity": 0.5, "sparsity": 1.0},
        }
    )
    front = result.pareto_front()
    # saliency beats the scorer on average drop only, never on a clarity metric: no dominance.
    # deeplift beats the scorer on average drop and deletion AUC, and on complexity: it dominates it.
    assert front.dominated_by == {"scorer": ["deeplift"], "saliency": ["scorer", "deeplift"], "deeplift": []}
    assert front.front == ["deeplift"]
    assert front.beats_reference == {
        ("average_drop", "complexity"): ["deeplift"],
        ("average_drop", "sparsity"): [],
        ("deletion_auc", "complexity"): ["deeplift"],
        ("deletion_auc", "sparsity"): [],
    }
    statement = front.to_markdown()
    assert (
        "**Pareto front** (faithfulness: average drop ↓, deletion AUC ↓; clarity: complexity ↓, sparsity ↑)"
        in statement
    )
    assert "| average drop ↓ | deeplift | none |" in statement and "scorer (by deeplift)" in statement


def test_pareto_front_can_be_empty_and_checks_metrics():
    # each method beats the other on one faithfulness and one clarity metric: they dominate each other
    result = _hand_made(
        {
            "scorer": {"average_drop": 0.2, "deletion_auc": 0.1, "complexity": 1.0, "sparsity": 2.0},
            "saliency": {"average_drop": 0.1, "deletion_auc": 0.3, "complexity": 2.0, "sparsity": 3.0},
        }
    )
    front = result.pareto_front()
    assert front.front == [] and "empty (every method is dominated)" in front.to_markdown()
    with pytest.raises(InvalidInputError, match="were not measured"):
        result.pareto_front(faithfulness=("insertion_auc",))
    with pytest.raises(InvalidInputError, match="same metrics"):
        BenchmarkResult(values={"a": {"complexity": [1.0]}, "b": {"sparsity": [1.0]}}, cost={})


def test_json_round_trip(text_run, tmp_path):
    _, _, result = text_run
    result.to_json(tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["scorer"]["complexity"] == result.summary()["scorer"]["complexity"]
    loaded = BenchmarkResult.from_json(tmp_path / "results.json")
    assert loaded == result
    assert loaded.to_markdown() == result.to_markdown()


def test_radar_writes_a_png(tmp_path):
    result = _hand_made(
        {
            "scorer": {"deletion_auc": 0.1, "complexity": 1.0, "sparsity": 3.0},
            "saliency": {"deletion_auc": 0.3, "complexity": 2.0, "sparsity": 2.0},
        }
    )
    figure = result.radar(tmp_path / "radar.png", title="test")
    assert (tmp_path / "radar.png").read_bytes().startswith(PNG_MAGIC)
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels == ["deletion AUC ↓", "complexity ↓", "sparsity"]  # radar_plot marks lower-is-better axes


# ---------------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def checkpoint_and_csv(planted_text, tmp_path_factory):
    """The planted-text model saved with its tokenizer, and its test sentences as CSV (text, label, evidence)."""
    model, test = planted_text
    folder = tmp_path_factory.mktemp("benchmark_cli")
    model.save_pretrained(folder / "model")
    table = test.select_columns(["text", "label", "evidence_position"])
    table.select(range(40)).to_csv(folder / "test.csv", index=False)
    table.select(range(100, 120)).to_csv(folder / "train.csv", index=False)
    return folder


def test_cli_writes_json_markdown_and_radar(checkpoint_and_csv, tmp_path):
    data = tmp_path / "data"  # a folder with train.csv and test.csv: two splits
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.csv").write_bytes((checkpoint_and_csv / f"{split}.csv").read_bytes())
    out = tmp_path / "out"
    argv = ["benchmark", "--model", str(checkpoint_and_csv / "model"), "--dataset", str(data), "--output-dir", str(out)]
    argv += ["--methods", "scorer,saliency,gradient_shap", "--num-samples", "12", "--batch-size", "6"]
    argv += ["--baseline-samples", "4", "--evidence-column", "evidence_position", "--quiet"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metadata"]["baselines"].startswith("4 rows of the train split")
    assert results["metadata"]["split"] == "test" and results["metadata"]["num_samples"] == 12
    assert len(results["values"]["gradient_shap"]["pointing_game"]) == 12
    assert results["summary"]["scorer"]["pointing_game"]["mean"] >= 0.9  # evidence positions survive re-tokenizing
    report = (out / "results.md").read_text()
    assert "| method | average drop ↓ |" in report and "**Pareto front**" in report
    assert (out / "radar.png").read_bytes().startswith(PNG_MAGIC)


def test_cli_single_file_baselines_and_errors(checkpoint_and_csv, tmp_path, capsys):
    base = [
        "benchmark",
        "--model",
        str(checkpoint_and_csv / "model"),
        "--dataset",
        str(checkpoint_and_csv / "test.csv"),
    ]
    out = tmp_path / "out"
    argv = [*base, "--methods", "scorer,deeplift_shap", "--num-samples", "6", "--baseline-samples", "4"]
    assert main([*argv, "--output-dir", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert "first 4 rows of the test split" in results["metadata"]["baselines"]
    assert min(results["sample_indices"]) >= 4  # baseline rows are not evaluated
    # a run without SHAP methods keeps the same rows apart, so split runs can be merged
    assert main([*base, "--methods", "saliency", "--num-samples", "6", "--baseline-samples", "4",
                 "--output-dir", str(tmp_path / "other"), "--quiet"]) == 0  # fmt: skip
    other = json.loads((tmp_path / "other" / "results.json").read_text())
    assert other["sample_indices"] == results["sample_indices"]
    assert other["metadata"]["baselines"].startswith("none (no SHAP method benchmarked; reserved: the first 4")
    capsys.readouterr()

    assert main([*base, "--text-column", "sentence", "--output-dir", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "'sentence'" in error and "available columns: text, label, evidence_position" in error
    assert main([*base, "--image-column", "image", "--quiet"]) == 1
    assert "is a text classifier" in capsys.readouterr().err
    assert main([*base, "--methods", "scorer,lime", "--quiet"]) == 1
    assert "choose one or more of scorer" in capsys.readouterr().err


def test_evidence_adds_the_rationale_overlap_of_each_map():
    """With evidence, the top features of a map (as many as the evidence has) are compared with it: F1 and IoU."""
    from hf_ssxai.benchmark.runner import _clarity

    maps, valid = torch.tensor([[0.9, 0.8, 0.1, 0.0], [0.9, 0.8, 0.1, 0.0]]), torch.ones(2, 4, dtype=torch.bool)
    evidence = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=torch.bool)  # found / half found
    values = _clarity(maps, valid, evidence)
    torch.testing.assert_close(values["rationale_f1"], torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(values["rationale_iou"], torch.tensor([1.0, 1 / 3]))
    assert "rationale_f1" not in _clarity(maps, valid, None)  # no evidence, no rationale columns
