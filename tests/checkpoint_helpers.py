"""Tiny untrained checkpoints, a pre-filled Hugging Face cache and a recorder of Hub uploads, for offline tests."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo, HfApi, RepoUrl
from transformers import ViTImageProcessor

from hf_ssxai import AutoModelWithScorer, BenchmarkResult, ScorerConfig
from tests.helpers import tiny_image_classifier, tiny_text_classifier

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
TEXT_LABELS = {0: "negative", 1: "positive"}
IMAGE_SIZE = 16


def tiny_text_model(tokenizer: Any) -> AutoModelWithScorer:
    """An untrained tiny BERT over ``tokenizer``'s vocabulary with an untrained scorer and named labels."""
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(tokenizer))
    classifier.config.id2label = dict(TEXT_LABELS)
    classifier.config.label2id = {name: index for index, name in TEXT_LABELS.items()}
    return AutoModelWithScorer.from_classifier(classifier, SMALL, processor=tokenizer).eval()


def tiny_image_model() -> AutoModelWithScorer:
    """An untrained tiny ViT (16x16 inputs) with a ViTImageProcessor and an untrained scorer."""
    torch.manual_seed(0)
    processor = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return AutoModelWithScorer.from_classifier(tiny_image_classifier("vit", image_size=IMAGE_SIZE), SMALL, processor)


def commit_hash(name: str) -> str:
    """A made-up 40-hex-digit commit id."""
    return hashlib.sha1(name.encode()).hexdigest()


def cache_repo(cache: Path, repo_id: str, folder: Path, commit: str, *, ref: str | None = "main") -> None:
    """Put ``folder`` into a Hugging Face cache as snapshot ``commit`` of ``repo_id``, the standard layout.

    ``models--{org}--{name}/blobs/<sha256>`` hold the bytes, ``snapshots/<commit>/<path>`` link to them and
    ``refs/<ref>`` names the commit (no ref: reachable only by its commit hash).
    """
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for file in sorted(path for path in folder.rglob("*") if path.is_file()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)


@dataclass
class HubRecorder:
    """What would have been sent to the Hub: HfApi's repo, branch and upload calls, and the uploaded files."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def install(self, monkeypatch: Any) -> HubRecorder:
        """Replace the HfApi methods push_to_hub uses by recorders (no network)."""
        recorder = self

        def create_repo(api: HfApi, repo_id: str, **kwargs: Any) -> RepoUrl:
            recorder.calls.append(("create_repo", {"repo_id": repo_id, "token": api.token, **kwargs}))
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def create_branch(api: HfApi, repo_id: str, **kwargs: Any) -> None:
            recorder.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

        def upload_folder(api: HfApi, run_as_future: bool = False, **kwargs: Any) -> CommitInfo | Future:
            recorder.calls.append(("upload_folder", kwargs))
            folder = Path(kwargs["folder_path"])
            ignored = kwargs.get("ignore_patterns") or []
            recorder.files = {
                path.relative_to(folder).as_posix(): path.read_bytes()
                for path in folder.rglob("*")
                if path.is_file() and not any(path.relative_to(folder).match(pattern) for pattern in ignored)
            }
            url = f"https://huggingface.co/{kwargs['repo_id']}/commit/{commit_hash('upload')}"
            commit = CommitInfo(url, kwargs["commit_message"], "", commit_hash("upload"))
            if not run_as_future:
                return commit
            done: Future = Future()  # what HfApi returns for uploads run in the background (Trainer's pushes)
            done.set_result(commit)
            return done

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_branch", create_branch)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        return self

    def call(self, name: str) -> dict[str, Any]:
        """The arguments of the single call to ``name``."""
        found = [kwargs for called, kwargs in self.calls if called == name]
        assert len(found) == 1, f"{name} called {len(found)} times: {self.calls}"
        return found[0]

    @property
    def readme(self) -> str:
        return self.files["README.md"].decode()


def small_benchmark() -> BenchmarkResult:
    """A hand-made benchmark result of two methods on two samples."""
    values = {
        "scorer": {
            "average_drop": [0.1, 0.2],
            "deletion_auc": [0.3, 0.2],
            "complexity": [2.0, 3.0],
            "sparsity": [4, 5],
        },
        "saliency": {
            "average_drop": [0.4, 0.5],
            "deletion_auc": [0.5, 0.4],
            "complexity": [5.0, 6.0],
            "sparsity": [2, 3],
        },
    }
    cost = {method: {"ms_per_sample": 1.5, "forwards_per_sample": 1.0} for method in values}
    return BenchmarkResult(values, cost, metadata={"dataset": "stanfordnlp/sst2"}, sample_indices=[3, 7])
