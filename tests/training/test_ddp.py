"""Two processes under torchrun (gloo, CPU) train the same weights as one process with the whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config, write_blocks_npz

from pyadvman.configs import config_record

_SCRIPT = """
import sys, json
from pyadvman.training import TrainConfig, train
cfg = TrainConfig.from_record(json.loads(sys.argv[1]))
train(cfg, sys.argv[2], progress=False)
"""


# AWP: the offsets must come from the whole batch's gradient on every process (all-reduced), not each shard's;
# a deterministic attack on every image (no random start, fraction 1) perturbs the same images either way
@pytest.mark.parametrize("objective", [{}, {"objective": "awp", "adversarial_fraction": 1.0, "awp_gamma": 0.05,
                                             "train_attack": {"steps": 2, "start": "none"}}])
def test_two_process_ddp_matches_one_process(tmp_path, objective) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz, n=800)
    # no BatchNorm: per-process batch statistics would (rightly) differ from the full batch's
    cfg = tiny_config(npz, model="mlp", model_options={"units": [32], "batch_norm": False}, epochs=2, **objective)
    cfg_json = json.dumps(config_record(cfg))
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


_SYNC_SCRIPT = """
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from pyadvman.attacks import PGD, AttackProtocol
from pyadvman.models import build_model
from pyadvman.training.objectives import Batch, Mixed, attack_perturbation
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = build_model("standard", (1, 28, 28), 10)
net = DistributedDataParallel(model)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
torch.manual_seed(rank + 1)  # different data and attack starts per process
objective = Mixed(attack_perturbation(PGD(eps=0.1, protocol=AttackProtocol(steps=3))), 0.5)
for _ in range(3):
    model.train()
    loss, _ = objective(model, net, Batch(torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(2)]
dist.all_gather(gathered, flat)
assert torch.equal(gathered[0], gathered[1]), "processes diverged"
assert not torch.equal(flat, torch.cat([p.flatten() for p in build_model("standard", (1, 28, 28), 10).parameters()]))
dist.destroy_process_group()
"""


def test_attacks_inside_ddp_keep_the_processes_in_sync(tmp_path) -> None:
    # attacks turn requires_grad off and on again on the bare module; DDP's gradient hooks must survive that
    script = tmp_path / "sync_script.py"
    script.write_text(_SYNC_SCRIPT)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-4000:]


_NAN_SCRIPT = """
import sys, json
import torch.distributed as dist
from pyadvman.training import TrainConfig, loop

real = loop.build_objective

class OneRankDiverges:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def __call__(self, model, net, batch):
        self.calls += 1
        loss, logs = self.inner(model, net, batch)
        return (loss * float("nan") if dist.get_rank() == 1 and self.calls == 3 else loss), logs

loop.build_objective = lambda cfg, data: OneRankDiverges(real(cfg, data))
try:
    loop.train(TrainConfig.from_record(json.loads(sys.argv[1])), sys.argv[2], progress=False)
except loop.TrainingDivergedError as error:
    print(f"rank {dist.get_rank()}: {error}", file=sys.stderr)
    sys.exit(3)
"""


def test_a_loss_that_diverges_on_one_process_stops_every_process(tmp_path) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz, n=800)
    cfg = tiny_config(npz, model="mlp", model_options={"units": [16], "batch_norm": False}, epochs=1)
    script = tmp_path / "nan_script.py"
    script.write_text(_NAN_SCRIPT)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), json.dumps(config_record(cfg)), str(tmp_path / "run")],
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240,
                         check=False)
    assert run.returncode != 0
    assert "rank 1: the training loss is nan at epoch 1, step 3 of 20" in run.stderr, run.stderr[-3000:]
    assert "rank 0: the training loss is not finite on another process at epoch 1, step 3" in run.stderr
