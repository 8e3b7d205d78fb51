"""Hub checkpoints offline: loading by repo id from a pre-filled cache, uploads checked at the HfApi boundary."""

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

import hf_ssxai.checkpoint
from hf_ssxai import (
    AutoModelWithScorer,
    CheckpointError,
    ConfigError,
    FingerprintMismatchError,
    ScorerConfig,
    UnsafeCheckpointError,
)
from hf_ssxai.checkpoint import PICKLE_WEIGHTS_NAMES
from hf_ssxai.model_card import build_model_card
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


def test_a_repo_or_revision_missing_from_the_offline_cache_is_named_as_such(text_model, hub_cache, tmp_path):
    cache, _ = hub_cache
    with pytest.raises(CheckpointError, match="user/not-cached: it is not in the local Hugging Face cache"):
        AutoModelWithScorer.from_pretrained("user/not-cached")
    text_model.save_pretrained(tmp_path / "saved")
    cache_repo(cache, "user/text-ssxai", tmp_path / "saved", commit_hash("full"))
    with pytest.raises(CheckpointError, match="holds it, but not its revision 'v2'.*--revision v2"):
        AutoModelWithScorer.from_pretrained("user/text-ssxai", revision="v2")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text("{}")
    cache_repo(cache, "user/plain-classifier", tmp_path / "plain", commit_hash("plain"))
    with pytest.raises(CheckpointError, match="no scorer/config.json, so it is not an hf_ssxai checkpoint"):
        AutoModelWithScorer.from_pretrained("user/plain-classifier")


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (RepositoryNotFoundError, "No Hub repository user/typo \\(or it is private or gated"),
        (RevisionNotFoundError, "The Hub repository user/typo has no revision 'v9'"),
    ],
)
def test_a_repo_or_revision_the_hub_does_not_have_is_named_as_such(monkeypatch, raised, message):
    import httpx2

    def refuse(repo_id, filename, **kwargs):
        raise raised("404", response=httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co")))

    monkeypatch.setattr(hf_ssxai.checkpoint, "hf_hub_download", refuse)
    with pytest.raises(CheckpointError, match=message):
        AutoModelWithScorer.from_pretrained("user/typo", revision="v9")


def test_from_pretrained_takes_transformers_loading_options_for_folders_and_repos(
    text_model, batch, hub_cache, tmp_path
):
    cache, _ = hub_cache
    text_model.save_pretrained(tmp_path / "saved")
    cache_repo(cache, "user/text-ssxai", tmp_path / "saved", commit_hash("full"))
    options = {"cache_dir": cache, "token": "hf_test", "local_files_only": True, "dtype": torch.bfloat16}
    for source in (tmp_path / "saved", "user/text-ssxai"):
        model = AutoModelWithScorer.from_pretrained(
            source, device_map="cpu", **options
        )  # fingerprint checked, then cast
        assert not model.training and not model.scorer.training  # eval mode, as transformers loads
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16} and model.device == torch.device("cpu")
        logits, attributions = _outputs(model, batch)
        assert logits.dtype == torch.bfloat16 and attributions.shape == batch["input_ids"].shape
    kept = AutoModelWithScorer.from_pretrained("user/text-ssxai", dtype="auto", device_map={"": "cpu"})
    assert {p.dtype for p in kept.parameters()} == {torch.float32}
    with pytest.raises(ConfigError, match="one device"):
        AutoModelWithScorer.from_pretrained(tmp_path / "saved", device_map={"classifier": 0, "scorer": 1})
    with pytest.raises(ConfigError, match="no torch dtype"):
        AutoModelWithScorer.from_pretrained(tmp_path / "saved", dtype="float33")
    with pytest.raises(ConfigError, match="unexpected keyword argument.*num_labels"):
        AutoModelWithScorer.from_pretrained(tmp_path / "saved", num_labels=3)
    with pytest.raises(UnsafeCheckpointError, match="never runs code"):
        AutoModelWithScorer.from_pretrained(tmp_path / "saved", trust_remote_code=True)


def test_scorer_config_is_registered_with_auto_config(text_model, tmp_path):
    from transformers import AutoConfig

    text_model.save_pretrained(tmp_path / "saved")
    config = AutoConfig.from_pretrained(tmp_path / "saved", subfolder="scorer")
    assert isinstance(config, ScorerConfig)
    loaded, saved = config.to_dict(), text_model.scorer_config.to_dict()
    assert {k: v for k, v in loaded.items() if k != "_name_or_path"} == {
        k: v for k, v in saved.items() if k != "_name_or_path"
    }


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
        license="apache-2.0",
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
    assert metadata["license"] == "apache-2.0"
    assert {"explainability", "xai", "hf_ssxai"} <= set(metadata["tags"])
    [index] = metadata["model-index"]  # the scorer's benchmark means, faithfulness and clarity
    [result] = index["results"]
    assert result["dataset"]["type"] == "stanfordnlp/sst2"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {
        "average_drop": 0.15,
        "deletion_auc": 0.25,
        "complexity": 2.5,
        "sparsity": 4.5,
    }
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


def test_card_metadata_names_only_hub_repos(tmp_path):
    model = tiny_image_model()
    model.scorer_config.base_model_name_or_path = str(tmp_path)  # a local folder is no Hub base model
    datasets = ["stanford\nnlp/sst2", "ylecun/mnist", str(tmp_path / "data.csv"), "../data/test.tsv"]
    card = str(build_model_card(model.scorer_config, "user/vit-ssxai", training_info={"datasets": datasets}))
    metadata = ModelCard(card).data.to_dict()
    assert metadata["datasets"] == ["ylecun/mnist"]  # "stanford nlp/sst2" is no repo id either
    assert metadata["pipeline_tag"] == "image-classification"
    assert "base_model" not in metadata and "license" not in metadata
    assert str(tmp_path) not in card and "../data" not in card
    assert "An image classifier" in card and "License" in card and "license=" in card  # says how to state one
    assert "$" not in card  # every placeholder filled


def test_text_image_card_names_both_maps_and_the_pair_usage(word_tokenizer, tmp_path, monkeypatch):
    from hf_ssxai import ScorerConfig
    from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor

    processor = tiny_fusion_processor(word_tokenizer)
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=16), processor=processor)
    card = str(
        build_model_card(model.scorer_config, "user/caption-matching-ssxai", training_info={"dataset": "flickr8k"})
    )
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


def test_no_local_path_reaches_a_saved_config_or_card(word_tokenizer, tmp_path):
    """A classifier loaded from a local folder, benchmarked on a local file: the checkpoint names neither."""
    from transformers import AutoModelForSequenceClassification

    from hf_ssxai import BenchmarkResult

    tiny_text_model(word_tokenizer).classifier.save_pretrained(tmp_path / "my-local-classifier")
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "my-local-classifier")
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=16), processor=word_tokenizer)
    local = small_benchmark()
    benchmark = BenchmarkResult(
        local.values, local.cost, {"dataset": str(tmp_path / "test.tsv"), "model": str(tmp_path)}, [3, 7]
    )
    card = build_model_card(model.scorer_config, "user/text-ssxai", benchmark=benchmark, license="mit")
    model.save_pretrained(tmp_path / "saved", model_card=card)
    model.save_pretrained(tmp_path / "default-card")
    for folder in ("saved", "default-card"):
        files = [path for path in (tmp_path / folder).rglob("*") if path.suffix in (".json", ".md", ".txt")]
        assert {"README.md", "config.json"} <= {path.name for path in files}
        for path in files:
            text = path.read_text(encoding="utf-8")
            assert str(tmp_path) not in text and "my-local-classifier" not in text, path
        loaded = ModelCard.load(tmp_path / folder / "README.md")  # parses as the Hub parses it
        assert loaded.data.library_name == "hf_ssxai" and loaded.data.pipeline_tag == "text-classification"
    assert ModelCard.load(tmp_path / "saved" / "README.md").data.license == "mit"
    assert "# default-card" in (tmp_path / "default-card" / "README.md").read_text()  # titled by its folder
