"""tf.distribute end to end: the train CLI mirrored over two logical CPUs against one device,
and two MultiWorkerMirrored worker processes on 127.0.0.1 (TF_CONFIG)."""

import json
import os
import subprocess
import sys

import numpy as np

from conftest import REPO
from tf_sparsebert import distribute


def _train_cli(*argv, env=None):
  return subprocess.Popen(
      [sys.executable, "-m", "tf_sparsebert.train", "--flagfile=configs/tiny.flags", *argv],
      cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, CI="1", **(env or {})))


def _read(run_dir, name):
  with open(os.path.join(run_dir, name)) as f:
    return json.load(f)


def _finish(procs, timeout=600):
  try:
    errors = [p.communicate(timeout=timeout)[1] for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, err in zip(procs, errors):
    assert p.returncode == 0, err[-3000:]


def test_cli_mirrored_matches_one_device(tiny_checkpoint_bert_vocab, tmp_path):
  runs = {"one_device": str(tmp_path / "one"), "mirrored": str(tmp_path / "mirrored")}
  flags = {"one_device": [], "mirrored": ["--num_cpu_devices=2"]}
  _finish([_train_cli(f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                      f"--distribution_strategy={name}", *flags[name])
           for name, out in runs.items()])
  one, mir = (_read(runs[k], "metrics.json") for k in ("one_device", "mirrored"))
  assert mir["distribution"] == {"strategy": "mirrored", "num_replicas": 2}
  for name in runs:
    for row in _read(runs[name], "sparsity.json")["kernels"]:
      assert abs(row["sparsity"] - 0.9) <= 0.005, (name, row)
  # Dropout draws differ between the two, so the curves agree within noise, not exactly.
  np.testing.assert_allclose(mir["history"]["student"]["loss"],
                             one["history"]["student"]["loss"], rtol=0.15)
  assert abs(mir["student"]["accuracy"] - one["student"]["accuracy"]) <= 12.5  # 4 of 32


def test_two_workers_end_with_identical_masks(tiny_checkpoint_bert_vocab, tmp_path):
  out = str(tmp_path / "run")
  procs = [_train_cli(f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                      "--distribution_strategy=multi_worker_mirrored",
                      env={"TF_CONFIG": tf_config})
           for tf_config in distribute.local_cluster(2)]
  _finish(procs)
  worker = os.path.join(out, "workers", "worker_1")
  chief_masks, worker_masks = _read(out, "sparsity.json"), _read(worker, "sparsity.json")
  assert chief_masks["zeros_sha256"] == worker_masks["zeros_sha256"]
  assert abs(chief_masks["overall"] - 0.9) < 0.005
  chief, other = _read(out, "metrics.json"), _read(worker, "metrics.json")
  assert chief["distribution"] == {"strategy": "multi_worker_mirrored", "num_replicas": 2}
  assert chief["student"] == other["student"] and chief["teacher"] == other["teacher"]
  assert os.path.isfile(os.path.join(out, "student", "model.keras"))
  assert not os.path.exists(os.path.join(worker, "student"))  # only the chief writes models
  assert not os.path.exists(os.path.join(out, "backup"))
