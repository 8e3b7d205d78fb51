"""Scorer training under FSDP2 and DeepSpeed ZeRO-2/3, two processes, launched with the shipped accelerate configs.

On a machine without GPU the configs run over gloo on the CPU (num_processes 2, no mixed precision); with GPUs, on
them. Each setup trains 6 steps with a checkpoint every 3 (``recipes/check_distributed.py``), then resumes a second
run from step 3. The last checkpoint must load in one process with ``AutoModelWithScorer.from_pretrained`` (strict:
full shapes, and the classifier's fingerprint must match the one the scorer was trained against) and reproduce the
outputs the distributed model gave; the resumed run must end where the uninterrupted one did.
"""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hf_ssxai import AutoModelWithScorer

ROOT = Path(__file__).resolve().parents[1]
#: DeepSpeed is an optional extra, and its two setups take about a minute each: run with ``pytest -m slow``
DEEPSPEED = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("deepspeed") is None,
        reason="DeepSpeed is not installed: pip install hf-ssxai[deepspeed]",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _two_process_config(name: str, folder: Path) -> Path:
    """The shipped ``recipes/accelerate/NAME.yaml`` for two processes, full precision (exact comparisons), on the
    CPU when there is no GPU. A DeepSpeed config file is copied with ``stage3_param_persistence_threshold: 0``: ZeRO-3
    keeps parameters below that size whole, which would be all of this tiny model's."""
    config = yaml.safe_load((ROOT / "recipes" / "accelerate" / f"{name}.yaml").read_text())
    config.update(num_processes=2)
    if "deepspeed_config_file" in config.get("deepspeed_config", {}):
        deepspeed = json.loads((ROOT / config["deepspeed_config"]["deepspeed_config_file"]).read_text())
        deepspeed["zero_optimization"]["stage3_param_persistence_threshold"] = 0
        (folder / f"{name}.json").write_text(json.dumps(deepspeed))
        config["deepspeed_config"]["deepspeed_config_file"] = str(folder / f"{name}.json")
    else:
        config["mixed_precision"] = "no"
    if not torch.cuda.is_available():
        config["use_cpu"] = True
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _launch(config: Path, output: Path, *extra: str) -> str:
    """Run ``recipes/check_distributed.py`` under ``config``; returns its output."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(config),
        "--main_process_port", str(_free_port()),
        str(ROOT / "recipes" / "check_distributed.py"),
        "--output-dir", str(output),
        *extra,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-4000:]
    assert finished.stdout.count("distributed type: DistributedType.") == 2
    expected = "FSDP" if config.stem == "fsdp" else "DEEPSPEED"
    assert f"distributed type: DistributedType.{expected}" in finished.stdout, "the setup did not take effect"
    return finished.stdout


SETUPS = ["fsdp", pytest.param("zero2", marks=DEEPSPEED), pytest.param("zero3", marks=DEEPSPEED)]


@pytest.mark.parametrize("setup", SETUPS)
def test_checkpoints_hold_the_full_scorer_and_resume_exactly(setup, tmp_path):
    config = _two_process_config(setup, tmp_path)
    run, resumed = tmp_path / "run", tmp_path / "resumed"
    output = _launch(config, run)
    sharded = re.search(r"sharded parameters: (\d+) of (\d+)", output).groups()
    if setup == "zero2":  # ZeRO-2 partitions gradients and optimizer states only
        assert sharded[0] == "0", sharded
    else:  # every parameter (the classifier's and the scorer's) is a shard while training
        assert sharded[0] == sharded[1] != "0", sharded

    probe = load_file(run / "probe.safetensors")
    inputs = {name.removeprefix("input."): tensor for name, tensor in probe.items() if name.startswith("input.")}
    model = AutoModelWithScorer.from_pretrained(run / "checkpoint-6")  # strict shapes; fingerprint-checked classifier
    with torch.no_grad():
        outputs = model(**inputs)
    torch.testing.assert_close(outputs.logits, probe["logits"], rtol=0, atol=1e-6)
    torch.testing.assert_close(outputs.attributions, probe["attributions"], rtol=0, atol=1e-6)
    assert (probe["attributions"] - probe["untrained_attributions"]).abs().max() > 0.1, "the scorer did not train"
    assert not list((run / "checkpoint-6").glob("pytorch_model_fsdp*")), "FSDP's pickled model copy was kept"

    resumed.mkdir()
    subprocess.run(["cp", "-r", str(run / "checkpoint-3"), str(resumed)], check=True)
    _launch(config, resumed, "--resume-from-checkpoint", str(resumed / "checkpoint-3"))
    uninterrupted = load_file(run / "checkpoint-6" / "scorer" / "model.safetensors")
    continued = load_file(resumed / "checkpoint-6" / "scorer" / "model.safetensors")
    assert uninterrupted.keys() == continued.keys()
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(continued[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_save_pretrained_writes_the_state_dict_it_is_given(tmp_path):
    """What ScorerTrainer._save relies on: the full weights Trainer gathered are saved, not the module's own tensors
    (which are shards under FSDP and ZeRO-3); a part the state dict lacks comes from the module."""
    spec = importlib.util.spec_from_file_location("check_distributed", ROOT / "recipes" / "check_distributed.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model, _ = script.build_model()
    gathered = {name: tensor + 1 for name, tensor in model.state_dict().items() if name.startswith("scorer.")}
    model.save_pretrained(tmp_path / "full", state_dict=gathered)
    saved = load_file(tmp_path / "full" / "scorer" / "model.safetensors")
    assert saved.keys() == {name.removeprefix("scorer.") for name in gathered}
    assert all(torch.equal(saved[name.removeprefix("scorer.")], tensor) for name, tensor in gathered.items())
    # the classifier came from the module: it loads against the fingerprint the scorer was trained with
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "full")
    assert torch.equal(reloaded.scorer.state_dict()["to_logit.bias"], gathered["scorer.to_logit.bias"])
