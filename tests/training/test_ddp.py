"""Two processes under torchrun (gloo, CPU) train the same weights as one process with the whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config, write_blocks_npz

_SCRIPT = """
import sys, json
from pyadvman.training import TrainConfig, train
cfg = TrainConfig(**json.loads(sys.argv[1]))
train(cfg, sys.argv[2], progress=False)
"""


def test_two_process_ddp_matches_one_process(tmp_path) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz, n=800)
    # no BatchNorm: per-process batch statistics would (rightly) differ from the full batch's
    cfg = tiny_config(npz, model="mlp", model_options={"units": [32], "batch_norm": False}, epochs=2)
    cfg_json = json.dumps({**cfg.__dict__, "betas": list(cfg.betas)})
    script = tmp_path / "train_script.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), cfg_json, str(tmp_path / "single")], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), cfg_json, str(tmp_path / "ddp")], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert ddp.returncode == 0, ddp.stderr[-4000:]
    a = torch.load(tmp_path / "single" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "ddp" / "model.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5)
    assert not torch.equal(a["layers.1.weight"], torch.zeros_like(a["layers.1.weight"]))
    final = json.loads((tmp_path / "ddp" / "final.json").read_text())
    assert final["test_accuracy"] > 0.8
