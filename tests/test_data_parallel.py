"""`hf-ssxai explain-dataset` and `hf-ssxai benchmark` under `accelerate launch` with two CPU processes (gloo): the
processes share the work, and the result is exactly that of one process (timings aside)."""

import json
from contextlib import contextmanager

import pytest
import torch
from datasets import Dataset

from hf_ssxai.cli import main
from hf_ssxai.data.parallel import my_share
from hf_ssxai.data.shards import load_shards
from tests.checkpoint_helpers import tiny_text_model
from tests.launch_helpers import launch_two_processes

TEXTS = [
    "the movie was great", "awful film", "a great and awful plot", "fine", "the plot was fine and great", "bad",
    "good good good", "the awful movie", "great", "movie plot film", "the the", "a film", "was it fine",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint_and_csv(word_tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("parallel")
    tiny_text_model(word_tokenizer).save_pretrained(folder / "model")
    Dataset.from_dict({"text": TEXTS, "label": [i % 2 for i in range(len(TEXTS))]}).to_csv(
        folder / "test.csv", index=False
    )
    return folder


@contextmanager
def _one_thread():
    """One torch thread, as each launched process has (OMP_NUM_THREADS=1): the same arithmetic, bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def test_one_process_takes_all_the_work_in_order():
    assert my_share(range(5)) == [0, 1, 2, 3, 4]


def test_two_processes_explain_exactly_the_rows_of_one(checkpoint_and_csv, tmp_path):
    options = ["--model", str(checkpoint_and_csv / "model"), "--dataset", str(checkpoint_and_csv / "test.csv")]
    options += ["--split", "test", "--shard-size", "4", "--batch-size", "3", "--quiet"]
    with _one_thread():
        assert main(["explain-dataset", *options, "--output-dir", str(tmp_path / "one")]) == 0
    finished = launch_two_processes(
        ["-m", "hf_ssxai.cli", "explain-dataset", *options, "--output-dir", str(tmp_path / "two")]
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("Explained 13 rows") == 1  # the main process reports
    one, two = load_shards(tmp_path / "one"), load_shards(tmp_path / "two")
    assert len(two) == len(TEXTS) and two.to_list() == one.to_list()
    # the shards were shared: 4 shards, two per process, each written once
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["complete"] and [shard["rows"] for shard in manifest["shards"]] == [4, 4, 4, 1]


def test_two_process_benchmark_equals_one_process_timings_aside(checkpoint_and_csv, tmp_path):
    options = ["--model", str(checkpoint_and_csv / "model"), "--dataset", str(checkpoint_and_csv / "test.csv")]
    options += ["--methods", "scorer,saliency", "--num-samples", "11", "--batch-size", "3", "--quiet"]
    options += ["--baseline-samples", "2"]
    with _one_thread():
        assert main(["benchmark", *options, "--output-dir", str(tmp_path / "one")]) == 0
    finished = launch_two_processes(
        ["-m", "hf_ssxai.cli", "benchmark", *options, "--output-dir", str(tmp_path / "two")]
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("Wrote ") == 1  # one report, by the main process
    one, two = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("one", "two"))
    for result in (one, two):
        result["metadata"].pop("date")
        assert set(result.pop("cost")) == {"scorer", "saliency"}
    assert len(two["values"]["saliency"]["deletion_auc"]) == 11
    assert two == one
