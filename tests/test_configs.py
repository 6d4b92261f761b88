"""The flagfiles in configs/: each resolves to the configuration its committed results record."""

import glob
import json
import os

import pytest
from absl import flags

from tf_sparsebert import config as tsb_config
from tf_sparsebert import flags as tsb_flags
from conftest import REPO, benchmark_module

@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(REPO)  # flagfiles name each other relative to the repository


def _resolved(*argv):
  fv = flags.FlagValues()
  tsb_flags.define_train_flags(fv)
  fv(["train", "--output_dir=runs/x", *argv])  # a later --output_dir (a flagfile's) wins
  return tsb_flags.train_config_from_flags(fv).to_dict()


def _claims_runs():
  return benchmark_module("paper_claims").RUNS


def test_every_committed_claims_result_is_what_its_flagfile_trains_today():
  runs = _claims_runs()
  paths = sorted(glob.glob(os.path.join(REPO, "benchmarks", "results", "claims", "*.json")))
  assert len(paths) >= 40
  for path in paths:
    with open(path) as f:
      result = json.load(f)
    _, flagfile, extra = runs[result["name"]]
    resolved = _resolved(f"--flagfile=configs/claims/{flagfile}", *extra)
    assert tsb_config.recipe_differences(result["config"], resolved) == [], result["name"]


def test_main_flagfile_is_the_fast_5_epoch_recipe_with_its_teacher_at_batch_32_and_width_32():
  main = _resolved("--flagfile=configs/mrpc.flags")
  with open(os.path.join(REPO, "benchmarks", "results", "claims",
                         "mrpc_sparsebert_aug5_lr2e4_fast_90.json")) as f:
    run = json.load(f)["config"]
  # The student's batches are the fast run's (batch 8, padded to 16 tokens); the teacher trains at
  # batch 32 padded to 32 tokens, as the teacher that run was distilled from (fine-tuned by
  # configs/claims/mrpc_finetune_then_prune.flags).
  assert tsb_config.recipe_differences(run, main) == [
      "data.batch_size", "data.bucket_width", "data.student_batch_size", "data.student_bucket_width"]
  assert (main["data"]["student_batch_size"], main["data"]["student_bucket_width"]) == (
      run["data"]["batch_size"], run["data"]["bucket_width"]) == (8, 16)
  assert main["student_freeze_token_embedding"] and run["student_freeze_token_embedding"]
  teacher = _resolved("--flagfile=configs/claims/mrpc_finetune_then_prune.flags")
  for key in ("teacher_optimizer", "pooling", "init_checkpoint"):
    assert main[key] == teacher[key], key
  for key in ("batch_size", "bucket_width", "max_seq_length", "seed"):
    assert main["data"][key] == teacher["data"][key], key


def test_core_flagfile_is_the_one_the_core_results_were_trained_with():
  core = _resolved("--flagfile=configs/mrpc_core.flags")
  with open(os.path.join(REPO, "benchmarks", "results", "claims",
                         "mrpc_sparsebert_90_seed42.json")) as f:
    assert tsb_config.recipe_differences(json.load(f)["config"], core) == []
