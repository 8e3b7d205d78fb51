"""Data safety (issue 19, groups 1 and 2): a save killed after any single file operation leaves the old checkpoint
or the new one, never a mix; what a killed save leaves behind is removed by the next save and reported by a load; a
scorer is never loaded onto a classifier without a fingerprint that says they belong together."""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import stat
from contextlib import contextmanager, suppress

import pytest
import torch

import hf_ssxai.modeling
import hf_ssxai.saving
from hf_ssxai import AutoModelWithScorer, CheckpointError, FingerprintMismatchError, UnsafeCheckpointError
from hf_ssxai.checkpoint import fingerprint
from tests.checkpoint_helpers import cache_repo, commit_hash, tiny_text_model

#: every call that changes a directory entry or writes a file during a save
FILE_OPERATIONS = (
    (os, "mkdir"),
    (os, "makedirs"),
    (os, "rename"),
    (os, "replace"),
    (os, "link"),
    (os, "symlink"),
    (os, "unlink"),
    (os, "remove"),
    (os, "rmdir"),
    (shutil, "rmtree"),
    (shutil, "copy2"),
    (shutil, "copymode"),
    (hf_ssxai.saving, "_exchange"),
    (hf_ssxai.modeling, "save_file"),
)


class Killed(BaseException):
    """The process died here: nothing after this point runs, not even cleanup in ``finally`` blocks."""


@contextmanager
def killed_after(monkeypatch, operations: int | None, counter: list[int]):
    """Let ``operations`` file operations happen, then kill the process (None: never); count them in ``counter``."""
    with monkeypatch.context() as patch:
        for owner, name in FILE_OPERATIONS:
            real = getattr(owner, name)

            def operation(*args, _real=real, **kwargs):
                if operations is not None and counter[0] >= operations:
                    raise Killed
                result = _real(*args, **kwargs)
                counter[0] += 1
                return result

            patch.setattr(owner, name, operation)
        with suppress(Killed):
            yield


def _state(model: AutoModelWithScorer) -> dict[str, torch.Tensor]:
    return {**{f"c.{k}": v for k, v in model.classifier.state_dict().items()}, **model.scorer.state_dict()}


def _same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module")
def old_and_new(word_tokenizer):
    """Two checkpoints that differ in classifier and scorer weights, each with its own fingerprint."""
    old = tiny_text_model(word_tokenizer)
    new = copy.deepcopy(old)
    with torch.no_grad():
        for parameter in [*new.classifier.parameters(), *new.scorer.parameters()]:
            parameter.add_(0.5)
    new.scorer_config.base_model_fingerprint = fingerprint(new.classifier)
    return old, new


@pytest.mark.parametrize("swap", ["exchange", "two renames"])
def test_a_save_killed_after_any_file_operation_leaves_the_old_or_the_new_checkpoint(
    old_and_new, tmp_path, monkeypatch, swap
):
    old, new = old_and_new
    if swap == "two renames":  # a platform or file system without an atomic swap
        monkeypatch.setattr(hf_ssxai.saving, "_exchange", lambda first, second: False)
    counted = [0]
    old.save_pretrained(tmp_path / "count")
    with killed_after(monkeypatch, None, counted):
        new.save_pretrained(tmp_path / "count")
    total = counted[0]
    assert total > 10  # staging, weights, links, the swap, the clean-up
    seen = []
    for k in range(total + 1):
        destination = tmp_path / f"k{k}" / "ckpt"
        old.save_pretrained(destination)
        with killed_after(monkeypatch, k, [0]):
            new.save_pretrained(destination)
        try:
            loaded = _state(AutoModelWithScorer.from_pretrained(destination))
        except CheckpointError as error:  # only while the two renames have left no folder at the destination
            assert swap == "two renames" and not destination.exists(), f"kill after {k} operations: {error}"
            assert "interrupted" in str(error)
            seen.append("missing")
            continue
        outcome = "old" if _same(loaded, _state(old)) else "new" if _same(loaded, _state(new)) else "mix"
        assert outcome != "mix", f"a kill after {k} of {total} file operations left a mixed checkpoint"
        seen.append(outcome)
    # the old checkpoint until the one swap, the new one after it (and, without a swap, no folder in between)
    order = {"old": 0, "missing": 1, "new": 2}
    assert seen[0] == "old" and seen[-1] == "new" and seen == sorted(seen, key=order.get)
    if swap == "exchange":
        assert "missing" not in seen


def test_what_a_killed_save_leaves_is_reported_and_removed_by_the_next_save(old_and_new, tmp_path, monkeypatch, caplog):
    old, new = old_and_new
    destination = tmp_path / "ckpt"
    old.save_pretrained(destination)
    with killed_after(monkeypatch, 8, [0]):
        new.save_pretrained(destination)
    leftovers = list(tmp_path.glob(".ckpt.saving-*"))
    assert leftovers
    with caplog.at_level(logging.WARNING, logger="hf_ssxai"):
        AutoModelWithScorer.from_pretrained(destination)
    assert str(leftovers[0]) in caplog.text
    # this process still runs, so its folders may belong to a save in progress: left alone, with a warning
    caplog.clear()
    new.save_pretrained(destination)
    assert all(path.exists() for path in leftovers) and "still runs" in caplog.text
    # once the process that left them has ended, the next save removes them
    monkeypatch.setattr(hf_ssxai.saving, "_process_alive", lambda pid: False)
    new.save_pretrained(destination)
    assert not list(tmp_path.glob(".ckpt.saving-*"))
    assert _same(_state(AutoModelWithScorer.from_pretrained(destination)), _state(new))


def test_a_save_keeps_other_files_and_the_folder_mode_but_drops_stale_weights(old_and_new, tmp_path):
    old, new = old_and_new
    destination = tmp_path / "run"
    old.save_pretrained(destination)
    (destination / "checkpoint-10").mkdir()
    (destination / "checkpoint-10" / "optimizer.pt").write_bytes(b"optimizer state")
    (destination / "notes.txt").write_text("mine")
    (destination / "model-00002-of-00002.safetensors").write_bytes(b"stale shard")
    destination.chmod(0o750)
    new.save_pretrained(destination)
    assert (destination / "checkpoint-10" / "optimizer.pt").read_bytes() == b"optimizer state"
    assert (destination / "notes.txt").read_text() == "mine"
    assert not (destination / "model-00002-of-00002.safetensors").exists()
    assert stat.S_IMODE(destination.stat().st_mode) == 0o750
    assert _same(_state(AutoModelWithScorer.from_pretrained(destination)), _state(new))
    assert not list(tmp_path.glob(".run.saving-*"))


def test_saving_onto_a_file_or_into_an_unwritable_folder_is_a_checkpoint_error(old_and_new, tmp_path):
    old, _ = old_and_new
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CheckpointError, match="it is a file"):
        old.save_pretrained(tmp_path / "file")
    with pytest.raises(CheckpointError, match="Give a folder you can write to"):
        old.save_pretrained(tmp_path / "file" / "ckpt")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root may write anywhere
        return
    with pytest.raises(CheckpointError, match="Give a folder you can write to"):
        old.save_pretrained(locked / "ckpt")


def test_a_missing_fingerprint_is_refused_unless_asked(word_tokenizer, tmp_path, caplog):
    tiny_text_model(word_tokenizer).save_pretrained(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "scorer" / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "base_model_fingerprint": None}))
    with pytest.raises(FingerprintMismatchError, match="no base_model_fingerprint.*ignore_fingerprint_mismatch=True"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")
    with caplog.at_level(logging.WARNING, logger="hf_ssxai"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt", ignore_fingerprint_mismatch=True)
    assert "no base_model_fingerprint" in caplog.text


def test_a_hub_scorer_base_resolves_on_the_hub_only(word_tokenizer, hub_cache, tmp_path, monkeypatch):
    cache, _ = hub_cache
    model = tiny_text_model(word_tokenizer)
    model.save_pretrained(tmp_path / "base")
    cache_repo(cache, "someone/base", tmp_path / "base", commit_hash("base"))
    model.scorer_config.base_model_name_or_path = "someone/base"
    model.save_pretrained(tmp_path / "scorer_only", scorer_only=True)
    cache_repo(cache, "someone/scorer", tmp_path / "scorer_only", commit_hash("scorer"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _same(_state(AutoModelWithScorer.from_pretrained("someone/scorer")), _state(model))
    # a folder in the working directory with the base's name would be loaded instead of the Hub repo
    shutil.copytree(tmp_path / "base", work / "someone" / "base")
    with pytest.raises(UnsafeCheckpointError, match="a local folder of that name .* would be loaded in its place"):
        AutoModelWithScorer.from_pretrained("someone/scorer")
