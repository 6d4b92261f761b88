"""benchmarks/summarize_claims.py: the table and the Figure-4 plot from result JSON files."""

import importlib.util
import json
import os

from conftest import REPO


def _module(name="summarize_claims"):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(REPO, "benchmarks", name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _result(directory, name, acc, sparsity, seed=42, series="sparsebert", layers=0):
  full, kept = 600, (100 * layers if layers else round(600 * (1 - sparsity)))
  with open(os.path.join(directory, name + ".json"), "w") as f:
    json.dump({"name": name, "task": "mrpc", "series": series,
               "teacher": {"accuracy": 80.0, "f1": 86.0},
               "student": {"accuracy": acc, "f1": acc + 5, "main": acc},
               "config": {"student_layers": layers,
                          "data": {"seed": seed}, "pruning": {"target_sparsity": sparsity}},
               "sparsity": {"overall": sparsity, "num_weights": 100 * layers or full},
               "encoder_nonzero_weights": kept, "student_examples_per_second": 40.0}, f)


def test_table_and_plot(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "a", 78.0, 0.9)
  _result(results, "b", 76.0, 0.9, seed=1)
  _result(results, "c", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "d", 72.0, 0.0, series="shallow", layers=1)
  _result(results, "e", 74.5, 0.9, series="sparsebert_long")
  readme = tmp_path / "README.md"
  readme.write_text("intro\n<!-- claims:begin -->\nold\n<!-- claims:end -->\nafter\n")
  monkeypatch.setattr(m, "RESULTS", str(results))
  monkeypatch.setattr(m, "README", str(readme))
  monkeypatch.setattr(m, "PLOT", str(tmp_path / "claims.png"))
  m.main()
  text = readme.read_text()
  assert text.startswith("intro\n") and text.endswith("after\n") and "old" not in text
  # two seeds at 90%: mean 77, std 1.41; compression 600 / 60 = 10x
  assert "| SparseBERT (prune while distilling) | 0.900 | 0.9000 | 60 | 10.0x | 77.00 | " \
         "1.41 (n=2) |" in text
  assert "| fine-tune, then prune | 0.900 |" in text and "| -10.00 |" in text
  # the longer schedule is its own line, not averaged into the 5-epoch one
  assert "| SparseBERT, 10 epochs (ramp over 3000 of 3460 steps) | 0.900 | 0.9000 | 60 | 10.0x | " \
         "74.50 |  |" in text
  # the 1-layer dense student keeps 100 of the 600 full-depth encoder weights: 6x
  assert "dense shallow student (distilled) (1 layers) | 0.000 | 0.0000 | 100 | 6.0x | 72.00" in text
  assert (tmp_path / "claims.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_series_is_the_flagfile_recipe():
  m = _module("paper_claims")
  assert m.series("mrpc_sparsebert_90") == "sparsebert"
  assert m.series("mrpc_sparsebert_long_90") == "sparsebert_long"
  assert m.series("mrpc_finetune_then_prune_80") == "finetune_then_prune"
  assert m.series("mrpc_shallow_1l") == "shallow"
  assert m.series("sst2_sparsebert_90") == "sparsebert"
  for name, (task, flagfile, _) in m.RUNS.items():  # every run's flagfile exists
    assert os.path.exists(os.path.join(REPO, "configs", "claims", flagfile)), name
    assert name.startswith(task + "_" + m.series(name)), name
