"""`hf_ssxai.explain_dataset` and `hf-ssxai explain-dataset`: one explained row per input row, in parquet shards that
appear only when complete, resumable without explaining a finished row again, streamed, pushed at the HfApi boundary.
"""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset, IterableDataset, load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

import hf_ssxai.data.shards
from hf_ssxai import InvalidInputError, SSXAIError, explain_dataset, pipeline
from hf_ssxai.checkpoint import fingerprint
from hf_ssxai.cli import main
from hf_ssxai.data.shards import load_shards
from hf_ssxai.modalities import TextModality
from tests.checkpoint_helpers import SMALL, HubRecorder, tiny_image_model, tiny_text_model
from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor

WORDS = ["the", "movie", "was", "great", "awful", "film", "a", "plot", "fine", "bad", "good"]


def _texts(count: int) -> list[str]:
    rng = np.random.default_rng(count)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 9)))) for _ in range(count)]


@pytest.fixture(scope="module")
def text_model(word_tokenizer):
    return tiny_text_model(word_tokenizer)


@pytest.fixture(scope="module")
def reviews():
    texts = _texts(23)
    return Dataset.from_dict({"review": texts, "key": [f"r{i}" for i in range(len(texts))]})


def _explain(model, dataset, out, **options):
    return explain_dataset(model, dataset, out, progress=False, **{"text_column": "review", **options})


def test_text_rows_hold_the_prediction_and_the_pipelines_words_and_scores(text_model, reviews, tmp_path):
    explained = _explain(text_model, reviews, tmp_path / "out", id_column="key", batch_size=4, shard_size=10)
    assert len(explained) == len(reviews) and list(explained["id"]) == list(reviews["key"])
    expected = pipeline(text_model, batch_size=1)(list(reviews["review"]))
    for row, result in zip(explained, expected, strict=True):  # padded in batches of 4 here, alone there
        assert row["prediction"] == result["label"]
        assert row["probability"] == pytest.approx(result["score"], abs=1e-4)
        assert row["tokens"] == result["tokens"] and row["words"] == result["words"]
        assert row["word_scores"] == pytest.approx(result["word_scores"], abs=1e-4)
        assert row["token_scores"] == pytest.approx(result["token_scores"], abs=1e-4)
    assert explained.features["token_scores"].feature.dtype == "float32"
    # three shards of at most 10 rows, listed in the manifest; the folder loads as one dataset with the Hub's loader
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["complete"] and [shard["rows"] for shard in manifest["shards"]] == [10, 10, 3]
    hub_loader = load_dataset("parquet", data_files=str(tmp_path / "out" / "data" / "*.parquet"), split="train")
    assert hub_loader.to_list() == explained.to_list()


def test_a_killed_run_resumes_without_explaining_a_finished_row_again(text_model, reviews, tmp_path, monkeypatch):
    whole = _explain(text_model, reviews, tmp_path / "whole", batch_size=3, shard_size=5)
    out = tmp_path / "out"
    write = hf_ssxai.data.shards.ShardedOutput.write
    written = []

    def dies_after_two_shards(store, index, records):
        if len(written) == 2:
            # killed while writing the third shard: half of it on disk, under the temporary name only
            (store.data / f".{store.shard_path(index).name}.4242.tmp").write_bytes(b"PAR1 half a shard")
            raise KeyboardInterrupt
        written.append(index)
        return write(store, index, records)

    monkeypatch.setattr(hf_ssxai.data.shards.ShardedOutput, "write", dies_after_two_shards)
    with pytest.raises(KeyboardInterrupt):
        _explain(text_model, reviews, out, batch_size=3, shard_size=5)
    assert written == [0, 1]
    assert len(load_shards(out)) == 10  # a reader sees the two complete shards, never the half-written one
    assert not json.loads((out / "manifest.json").read_text())["complete"]

    monkeypatch.setattr(hf_ssxai.data.shards.ShardedOutput, "write", write)
    prepared = []
    prepare = TextModality.prepare_inputs

    def counting(self, items, *args, **kwargs):
        prepared.extend(items)
        return prepare(self, items, *args, **kwargs)

    monkeypatch.setattr(TextModality, "prepare_inputs", counting)
    resumed = _explain(text_model, reviews, out, batch_size=3, shard_size=5)
    assert prepared == list(reviews["review"])[10:]  # only the rows of the missing shards were explained
    assert resumed.to_list() == whole.to_list()
    assert not list((out / "data").glob(".*"))  # the killed run's temporary file is gone
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_a_folder_of_another_run_is_refused(text_model, reviews, tmp_path):
    _explain(text_model, reviews.select(range(4)), tmp_path / "out")
    with pytest.raises(InvalidInputError, match=r"another run \(it differs in dataset, shard_size\).*another output"):
        _explain(text_model, reviews, tmp_path / "out", shard_size=7)


def test_a_stream_gives_the_rows_of_the_whole_dataset(text_model, reviews, tmp_path):
    whole = _explain(text_model, reviews, tmp_path / "whole", shard_size=6)
    stream = reviews.to_iterable_dataset(num_shards=2)
    assert isinstance(stream, IterableDataset)
    assert _explain(text_model, stream, tmp_path / "stream", shard_size=6).to_list() == whole.to_list()


def test_a_named_file_streamed_or_not_and_a_captum_method(text_model, reviews, tmp_path):
    path = tmp_path / "reviews.csv"
    reviews.to_csv(path, index=False)
    loaded = _explain(text_model, str(path), tmp_path / "loaded", split="test", shard_size=8)
    streamed = _explain(text_model, str(path), tmp_path / "streamed", split="test", shard_size=8, streaming=True)
    assert loaded.to_list() == streamed.to_list() and len(loaded) == len(reviews)
    saliency = _explain(text_model, reviews, tmp_path / "saliency", method="saliency")
    assert list(saliency["tokens"]) == list(loaded["tokens"])
    assert list(saliency["prediction"]) == list(loaded["prediction"])
    scores = np.concatenate([np.asarray(row) for row in saliency["token_scores"]])
    assert scores.min() >= 0 and scores.max() == 1  # made comparable: absolute value, min-max per row
    assert list(saliency["token_scores"]) != list(loaded["token_scores"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"text_column": "body"}, r"No column 'body' in the dataset; its columns: review, key\. Name the raw-input"),
        ({"id_column": "uid"}, r"No column 'uid'"),
        ({"map_format": "jpeg"}, r"map_format must be one of float16, png, got 'jpeg'"),
        ({"method": "lime"}, r"Methods \['lime'\]: choose one or more of scorer, "),
        ({"shard_size": 0}, r"batch_size and shard_size must be positive"),
    ],
)
def test_bad_options_are_named(text_model, reviews, tmp_path, options, message):
    with pytest.raises(InvalidInputError, match=message):
        _explain(text_model, reviews, tmp_path / "out", **options)
    assert not (tmp_path / "out" / "data").exists() or not list((tmp_path / "out" / "data").iterdir())


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 256, size=(20 + i, 24, 3), dtype=np.uint8)) for i in range(5)]
    return Dataset.from_dict({"image": pictures})


def test_image_maps_as_float16_or_png_at_the_processed_resolution(images, tmp_path):
    model = tiny_image_model()
    arrays = explain_dataset(model, images, tmp_path / "f16", batch_size=2, shard_size=3, progress=False)
    pngs = explain_dataset(model, images, tmp_path / "png", map_format="png", shard_size=3, progress=False)
    assert arrays.features["map"].feature.feature.dtype == "float16"
    expected = pipeline(model, return_tensors=True)(images)
    for row, png, result in zip(arrays, pngs, expected, strict=True):
        processed = result["attributions"].numpy()
        assert np.asarray(row["map"]).shape == processed.shape == (16, 16)
        np.testing.assert_allclose(np.asarray(row["map"], dtype=np.float32), processed, atol=1e-3)
        assert png["map"].size == (16, 16) and png["map"].mode == "L"
        np.testing.assert_allclose(np.asarray(png["map"]) / 255, processed, atol=0.5 / 255 + 1e-6)
        assert row["prediction"] == png["prediction"] == result["label"]


def test_text_image_rows_hold_both_parts(word_tokenizer, images, tmp_path):
    torch.manual_seed(0)
    processor = tiny_fusion_processor(word_tokenizer)
    from hf_ssxai import AutoModelWithScorer

    model = AutoModelWithScorer.from_classifier(tiny_fusion_classifier(len(word_tokenizer)), SMALL, processor=processor)
    pairs = images.add_column("caption", _texts(len(images)))
    explained = explain_dataset(model, pairs, tmp_path / "out", text_column="caption", progress=False)
    expected = pipeline(model)([{"text": row["caption"], "image": row["image"]} for row in pairs])
    for row, result in zip(explained, expected, strict=True):
        assert row["text_words"] == result["text"]["words"]
        assert row["text_word_scores"] == pytest.approx(result["text"]["word_scores"], abs=1e-5)
        np.testing.assert_allclose(np.asarray(row["image_map"], np.float32), result["image"]["attributions"], atol=1e-3)


def test_push_uploads_shards_and_a_card_naming_model_and_fingerprint(text_model, reviews, tmp_path, monkeypatch):
    hub = HubRecorder().install(monkeypatch)
    _explain(text_model, reviews, tmp_path / "out", shard_size=10, push_to_hub="user/reviews-explained", private=True)
    assert hub.call("create_repo") == {
        "repo_id": "user/reviews-explained",
        "token": None,
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    assert hub.call("upload_folder")["repo_type"] == "dataset"
    assert sorted(name for name in hub.files if name.startswith("data/")) == [
        "data/shard-00000.parquet",
        "data/shard-00001.parquet",
        "data/shard-00002.parquet",
    ]
    card = DatasetCard(hub.readme)
    assert fingerprint(text_model.classifier) in card.text and "| model |" in card.text
    assert card.data.configs[0]["data_files"][0]["path"] == "data/shard-*.parquet"


def test_card_escapes_what_it_quotes(text_model, tmp_path):
    texts = Dataset.from_dict({"review": _texts(3)})
    out = tmp_path / "out"
    _explain(text_model, texts, out)
    run = json.loads((out / "run.json").read_text())
    from hf_ssxai.dataset_explanation import dataset_card

    card = dataset_card({**run, "model": "evil`</td><script>\n# heading"}, load_shards(out))
    assert "`evil'</td><script> # heading`" in card.text and "\n# heading" not in card.text


def test_cli_explains_a_csv_and_resumes(text_model, reviews, tmp_path, capsys):
    text_model.save_pretrained(tmp_path / "model")
    reviews.to_csv(tmp_path / "reviews.csv", index=False)
    argv = ["explain-dataset", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "reviews.csv")]
    argv += ["--split", "test", "--text-column", "review", "--id-column", "key", "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--shard-size", "10", "--quiet"]) == 0
    assert f"Explained {len(reviews)} rows into {tmp_path / 'out'}." in capsys.readouterr().out
    assert list(load_shards(tmp_path / "out")["id"]) == list(reviews["key"])
    assert main([*argv, "--shard-size", "5", "--quiet"]) == 1
    assert "holds the shards of another run (it differs in shard_size)" in capsys.readouterr().err


def test_an_empty_dataset_and_shards_another_machine_kept_are_named(text_model, reviews, tmp_path, monkeypatch):
    with pytest.raises(InvalidInputError, match="The dataset has no rows: nothing to explain"):
        _explain(text_model, reviews.select([]), tmp_path / "empty")
    # processes on another machine without a shared folder: their shards never arrive here
    write = hf_ssxai.data.shards.ShardedOutput.write
    monkeypatch.setattr(
        hf_ssxai.data.shards.ShardedOutput,
        "write",
        lambda store, index, records: None if index == 1 else write(store, index, records),
    )
    with pytest.raises(SSXAIError, match=r"Shards \[1\] are missing from .*share .*run the same command again"):
        _explain(text_model, reviews, tmp_path / "out", shard_size=10)
    assert not json.loads((tmp_path / "out" / "manifest.json").read_text())["complete"]
    assert not (tmp_path / "out" / "README.md").exists()


def test_every_process_reads_the_shards_left_before_any_process_writes_one(text_model, reviews, tmp_path, monkeypatch):
    """Processes split the shards left between them, so they must all split the same list. A process that started
    late used to read it after another had written a shard, split a shorter list, and one shard fell between them
    (`tests/test_data_parallel.py` failed so under load). Each process now reads the list, then waits for all."""
    import contextlib

    import hf_ssxai.dataset_explanation

    events = []

    class RecordingState:
        is_main_process, num_processes, process_index = True, 1, 0

        def main_process_first(self):
            return contextlib.nullcontext()

        def wait_for_everyone(self):
            events.append("barrier")

    store = hf_ssxai.data.shards.ShardedOutput
    complete, write = store.complete, store.write
    monkeypatch.setattr(hf_ssxai.dataset_explanation, "process_state", RecordingState)
    monkeypatch.setattr(store, "complete", lambda self: events.append("read") or complete(self))
    monkeypatch.setattr(store, "write", lambda self, *args: events.append("write") or write(self, *args))
    _explain(text_model, reviews, tmp_path / "out", shard_size=10)
    first_write = events.index("write")
    last_read = max(i for i, event in enumerate(events[:first_write]) if event == "read")
    assert "barrier" in events[last_read:first_write], events


def test_a_failed_upload_is_one_clear_error_after_the_shards_are_safe(text_model, reviews, tmp_path, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    def offline(api, repo_id, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    with pytest.raises(SSXAIError, match=r"Upload to user/reviews-explained failed: Cannot reach .* offline mode"):
        _explain(text_model, reviews, tmp_path / "out", push_to_hub="user/reviews-explained")
    assert len(load_shards(tmp_path / "out")) == len(reviews)  # explained and kept: push again later
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["complete"]


def test_a_saved_dataset_streams_as_it_loads(text_model, reviews, tmp_path):
    from datasets import DatasetDict

    DatasetDict({"train": reviews}).save_to_disk(tmp_path / "saved")
    loaded = _explain(text_model, str(tmp_path / "saved"), tmp_path / "loaded", shard_size=10)
    streamed = _explain(text_model, str(tmp_path / "saved"), tmp_path / "streamed", shard_size=10, streaming=True)
    assert len(loaded) == len(reviews) and streamed.to_list() == loaded.to_list()
