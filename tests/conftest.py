import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import huggingface_hub  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from hypothesis import settings  # noqa: E402

import hf_ssxai.checkpoint  # noqa: E402
from hf_ssxai.data.synthetic import build_word_tokenizer, planted_text_dataset  # noqa: E402

torch.set_num_threads(2)

# The property tests draw the same examples on every run, so a CI run cannot turn red on an example no earlier run
# drew; HYPOTHESIS_PROFILE=explore draws new ones (and remembers failures in .hypothesis/), to search before a
# release (docs/reliability.md).
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session")
def word_tokenizer():
    return build_word_tokenizer()


@pytest.fixture(scope="session")
def planted_text(word_tokenizer, tmp_path_factory):
    """A tiny BERT trained on planted-evidence text, with a trained scorer. Returns (model, test dataset)."""
    from transformers import DataCollatorWithPadding

    from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
    from hf_ssxai.data.synthetic import planted_text_dataset
    from tests.helpers import fit_classifier, tiny_text_classifier, training_args

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("planted_text")
    train = planted_text_dataset(word_tokenizer, 1500, seed=0)
    test = planted_text_dataset(word_tokenizer, 200, seed=1)
    collator = DataCollatorWithPadding(word_tokenizer)
    columns = ["input_ids", "attention_mask", "label"]
    classifier = tiny_text_classifier("bert", len(word_tokenizer))
    fit_classifier(classifier, train.select_columns(columns), out / "clf", processor=word_tokenizer)
    config = ScorerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=word_tokenizer)
    args = training_args(out / "scorer", num_train_epochs=4)
    ScorerTrainer(model=model, args=args, train_dataset=train.select_columns(columns), data_collator=collator).train()
    return model.eval(), test


def _planted_image(family, tmp_path_factory, num_classes=3):
    from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
    from hf_ssxai.data.synthetic import planted_image_dataset
    from tests.helpers import fit_classifier, tiny_image_classifier, training_args

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp(f"planted_{family}")
    train = planted_image_dataset(1500, seed=0, num_classes=num_classes)
    test = planted_image_dataset(200, seed=1, num_classes=num_classes)
    classifier = fit_classifier(
        tiny_image_classifier(family, num_labels=num_classes),
        train.select_columns(["pixel_values", "label"]),
        out / "clf",
        epochs=6,
    )
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=32, num_hidden_layers=1))
    args = training_args(out / "scorer", num_train_epochs=4)
    ScorerTrainer(model=model, args=args, train_dataset=train.select_columns(["pixel_values", "label"])).train()
    return model.eval(), test


@pytest.fixture(scope="session")
def planted_vit(tmp_path_factory):
    """A tiny ViT trained on planted-evidence images, with a trained scorer. Returns (model, test dataset)."""
    return _planted_image("vit", tmp_path_factory)


@pytest.fixture(scope="session")
def planted_resnet(tmp_path_factory):
    """A tiny ResNet trained on planted-evidence images of four classes (enough for 2x2 grids of distinct classes),
    with a trained scorer. Returns (model, test dataset)."""
    return _planted_image("resnet", tmp_path_factory, num_classes=4)


@pytest.fixture
def text_recipe(word_tokenizer, tmp_path):
    """A YAML training recipe over planted-evidence CSV files: a 2-layer BERT from scratch, a tiny scorer."""
    for split, seed, size in (("train", 0, 256), ("validation", 1, 32)):
        planted_text_dataset(word_tokenizer, size, seed=seed).select_columns(["text", "label"]).to_csv(
            tmp_path / f"{split}.csv", index=False
        )
    word_tokenizer.save_pretrained(tmp_path / "tokenizer")
    quick = {"per_device_train_batch_size": 16, "logging_steps": 2, "save_strategy": "no", "report_to": "none"}
    recipe = {
        "modality": "text",
        "data": {
            "path": "csv",
            "data_files": {"train": str(tmp_path / "train.csv"), "validation": str(tmp_path / "validation.csv")},
            "splits": {"train": "train", "validation": "validation"},
            "text_column": "text",
        },
        "classifier": {
            "scratch": {
                "model_type": "bert",
                "vocab_size": len(word_tokenizer),
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 64,
            },
            "processor": {"pretrained": str(tmp_path / "tokenizer")},
        },
        "classifier_training": {**quick, "max_steps": 16, "learning_rate": 2e-3},
        "scorer": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2},
        "scorer_training": {**quick, "max_steps": 12, "learning_rate": 3e-3},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in offline mode; records every hf_hub_download that hf_ssxai makes."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads both variables once, at import: set the constants its functions consult
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    downloads = []
    real_download = hf_ssxai.checkpoint.hf_hub_download

    def recording_download(repo_id, filename, **kwargs):
        downloads.append((repo_id, filename, kwargs.get("revision")))
        return real_download(repo_id, filename, **kwargs)

    monkeypatch.setattr(hf_ssxai.checkpoint, "hf_hub_download", recording_download)
    return cache, downloads
