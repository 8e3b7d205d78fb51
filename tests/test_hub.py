"""Hub checkpoints offline: loading by repo id from a pre-filled cache, uploads checked at the HfApi boundary."""

import pytest
import torch
from huggingface_hub import ModelCard

from hf_ssxai import AutoModelWithScorer, CheckpointError, FingerprintMismatchError
from hf_ssxai.checkpoint import PICKLE_WEIGHTS_NAMES
from hf_ssxai.model_card import render_model_card
from tests.checkpoint_helpers import (
    HubRecorder,
    cache_repo,
    commit_hash,
    small_benchmark,
    tiny_image_model,
    tiny_text_model,
)


@pytest.fixture
def text_model(word_tokenizer):
    return tiny_text_model(word_tokenizer)


@pytest.fixture
def batch(word_tokenizer):
    return dict(word_tokenizer(["the movie was great", "awful"], padding=True, return_tensors="pt"))


def _outputs(model, batch):
    with torch.no_grad():
        out = model.eval()(**batch)
    return out.logits, out.attributions


def test_full_repo_loads_by_id_and_by_commit_from_the_cache(text_model, batch, hub_cache, tmp_path):
    cache, downloads = hub_cache
    text_model.save_pretrained(tmp_path / "saved")
    commit = commit_hash("full")
    cache_repo(cache, "user/text-ssxai", tmp_path / "saved", commit)
    expected = _outputs(text_model, batch)

    by_id = AutoModelWithScorer.from_pretrained("user/text-ssxai")  # cache found through HF_HUB_CACHE
    by_commit = AutoModelWithScorer.from_pretrained("user/text-ssxai", revision=commit, cache_dir=cache)
    for loaded in (by_id, by_commit):
        assert loaded.processor is not None
        for got, want in zip(_outputs(loaded, batch), expected, strict=True):
            assert torch.equal(got, want)
    assert ("user/text-ssxai", "scorer/config.json", None) in downloads
    assert ("user/text-ssxai", "scorer/model.safetensors", commit) in downloads


def test_scorer_only_repo_loads_its_base_classifier_by_id_and_revision(text_model, batch, hub_cache, tmp_path):
    cache, downloads = hub_cache
    trained_against = commit_hash("classifier v1")
    text_model.classifier.save_pretrained(tmp_path / "classifier")
    text_model.processor.save_pretrained(tmp_path / "classifier")
    cache_repo(cache, "user/classifier", tmp_path / "classifier", trained_against, ref=None)
    # main has moved on to other weights: only the named revision fits the scorer's fingerprint
    other = tiny_text_model(text_model.processor).classifier
    with torch.no_grad():
        other.classifier.weight.add_(1.0)
    other.save_pretrained(tmp_path / "classifier-v2")
    text_model.processor.save_pretrained(tmp_path / "classifier-v2")
    cache_repo(cache, "user/classifier", tmp_path / "classifier-v2", commit_hash("classifier v2"))

    text_model.scorer_config.base_model_name_or_path = "user/classifier"
    text_model.scorer_config.base_model_revision = trained_against
    text_model.save_pretrained(tmp_path / "scorer", scorer_only=True)
    cache_repo(cache, "user/scorer", tmp_path / "scorer", commit_hash("scorer"))
    text_model.scorer_config.base_model_revision = None
    text_model.save_pretrained(tmp_path / "scorer-main", scorer_only=True)
    cache_repo(cache, "user/scorer-main", tmp_path / "scorer-main", commit_hash("scorer main"))

    loaded = AutoModelWithScorer.from_pretrained("user/scorer", cache_dir=cache)
    for got, want in zip(_outputs(loaded, batch), _outputs(text_model, batch), strict=True):
        assert torch.equal(got, want)
    assert ("user/scorer", "scorer/model.safetensors", None) in downloads
    with pytest.raises(FingerprintMismatchError):
        AutoModelWithScorer.from_pretrained("user/scorer-main", cache_dir=cache)


def test_repo_missing_from_the_offline_cache_is_a_checkpoint_error(hub_cache):
    with pytest.raises(CheckpointError, match="no scorer/config.json"):
        AutoModelWithScorer.from_pretrained("user/not-cached")


# ---------------------------------------------------------------- uploads


def test_push_sends_checkpoint_and_card_in_one_commit(text_model, monkeypatch):
    hub = HubRecorder().install(monkeypatch)
    text_model.scorer_config.base_model_name_or_path = "google-bert/bert-base-uncased"
    commit = text_model.push_to_hub(
        "user/text-ssxai",
        revision="v1",
        private=True,
        token="hf_test",
        benchmark=small_benchmark(),
        training_info={"datasets": ["stanfordnlp/sst2"], "steps": 300},
    )

    assert commit.oid == commit_hash("upload")
    assert hub.call("create_repo") == {
        "repo_id": "user/text-ssxai",
        "token": "hf_test",
        "private": True,
        "exist_ok": True,
    }
    assert hub.call("create_branch") == {"repo_id": "user/text-ssxai", "branch": "v1", "exist_ok": True}
    upload = hub.call("upload_folder")
    assert (upload["repo_id"], upload["revision"]) == ("user/text-ssxai", "v1")
    assert set(hub.files) == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "scorer/config.json",
        "scorer/model.safetensors",
        "README.md",
    }
    assert not [name for name in hub.files if name.rsplit("/", 1)[-1] in PICKLE_WEIGHTS_NAMES or name.endswith(".bin")]

    card = ModelCard(hub.readme)  # parsed and validated as the Hub does
    metadata = card.data.to_dict()
    assert metadata["library_name"] == "hf_ssxai"
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["base_model"] == "google-bert/bert-base-uncased"
    assert metadata["datasets"] == ["stanfordnlp/sst2"]
    assert {"explainability", "xai", "hf_ssxai"} <= set(metadata["tags"])
    assert small_benchmark().to_markdown() in hub.readme
    assert 'AutoModelWithScorer.from_pretrained("user/text-ssxai")' in hub.readme
    assert 'pipeline("user/text-ssxai")' in hub.readme
    assert text_model.scorer_config.base_model_fingerprint in hub.readme


def test_push_scorer_only_sends_only_the_scorer(text_model, monkeypatch):
    hub = HubRecorder().install(monkeypatch)
    text_model.scorer_config.base_model_name_or_path = "user/classifier"
    text_model.scorer_config.base_model_revision = commit_hash("classifier v1")
    text_model.push_to_hub("user/scorer", scorer_only=True)

    assert set(hub.files) == {"scorer/config.json", "scorer/model.safetensors", "README.md"}
    assert [name for name, _ in hub.calls] == ["create_repo", "upload_folder"]  # no branch without a revision
    assert hub.call("upload_folder")["revision"] is None
    metadata = ModelCard(hub.readme).data.to_dict()
    assert (metadata["base_model"], metadata["base_model_relation"]) == ("user/classifier", "adapter")
    assert commit_hash("classifier v1") in hub.readme
    assert "No benchmark was uploaded" in hub.readme


def test_push_scorer_only_warns_when_no_hub_classifier_is_named(text_model, monkeypatch, caplog):
    HubRecorder().install(monkeypatch)
    text_model.scorer_config.base_model_name_or_path = None
    text_model.push_to_hub("user/scorer", scorer_only=True)
    assert "names no Hub classifier" in caplog.text


def test_card_metadata_stays_single_line_and_local_bases_are_left_out(tmp_path):
    model = tiny_image_model()
    model.scorer_config.base_model_name_or_path = str(tmp_path)  # a local folder is no Hub base model
    card = render_model_card(model, "user/vit-ssxai", training_info={"dataset": "my\ndata: set"})
    metadata = ModelCard(card).data.to_dict()
    assert metadata["datasets"] == ["my data: set"]
    assert metadata["pipeline_tag"] == "image-classification"
    assert "base_model" not in metadata
    assert "An image classifier" in card
    assert "$" not in card  # every placeholder filled


def test_text_image_card_names_both_maps_and_the_pair_usage(word_tokenizer, tmp_path, monkeypatch):
    from hf_ssxai import ScorerConfig
    from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor

    processor = tiny_fusion_processor(word_tokenizer)
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=16), processor=processor)
    card = render_model_card(model, "user/caption-matching-ssxai", training_info={"dataset": "flickr8k"})
    metadata = ModelCard(card).data.to_dict()
    assert "pipeline_tag" not in metadata  # the Hub has no task for classifying (text, image) pairs
    assert metadata["library_name"] == "hf_ssxai" and metadata["datasets"] == ["flickr8k"]
    assert "A text-image classifier" in card and "eq. 3.5" in card
    assert 'explain({"text": "a dog runs on the beach", "image": "image.jpg"})' in card
    assert "model.processor(text=[" in card
    assert "$" not in card

    recorder = HubRecorder().install(monkeypatch)
    model.push_to_hub("user/caption-matching-ssxai")
    assert {"README.md", "config.json", "model.safetensors", "scorer/model.safetensors"} <= set(recorder.files)
    assert "A text-image classifier" in recorder.files["README.md"].decode()
