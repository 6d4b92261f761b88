"""experiments/summarize_claims.py: the table and the Figure-4 plot from result JSON files."""

import json
import os

import pytest

from conftest import REPO, benchmark_module


def _module(name="summarize_claims"):
  return benchmark_module(name)


def _result(directory, name, acc, sparsity, seed=42, series="sparsebert", layers=0, teacher=80.0,
            output_dir=None, speed=40.0, **data):
  full, kept = 600, (100 * layers if layers else round(600 * (1 - sparsity)))
  with open(os.path.join(directory, name + ".json"), "w") as f:
    json.dump({"name": name, "task": "mrpc", "series": series,
               "teacher": {"accuracy": teacher, "f1": 86.0},
               "student": {"accuracy": acc, "f1": acc + 5, "main": acc},
               "config": {"student_layers": layers, "output_dir": output_dir or name,
                          "data": {"seed": seed, **data},
                          "pruning": {"target_sparsity": sparsity}},
               "sparsity": {"overall": sparsity, "num_weights": 100 * layers or full},
               "encoder_nonzero_weights": kept, "student_examples_per_second": speed}, f)


def test_table_and_plot(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "a", 78.0, 0.9)
  _result(results, "b", 76.0, 0.9, seed=1)
  _result(results, "c", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "d", 72.0, 0.0, series="shallow", layers=1)
  _result(results, "e", 74.5, 0.9, series="sparsebert_long")
  _result(results, "f", 76.5, 0.9, series="sparsebert_long_b16")
  readme = tmp_path / "README.md"
  readme.write_text("intro\n<!-- claims:begin -->\nold\n<!-- claims:end -->\nafter\n")
  monkeypatch.setattr(m, "RESULTS", str(results))
  monkeypatch.setattr(m, "README", str(readme))
  monkeypatch.setattr(m, "PLOT", str(tmp_path / "claims.png"))
  monkeypatch.setattr(m, "EXPLORATION_PLOT", str(tmp_path / "claims_exploration.png"))
  m.main()
  text = readme.read_text()
  assert text.startswith("intro\n") and text.endswith("after\n") and "old" not in text
  # two seeds at 90%: mean 77, std 1.41; compression 600 / 60 = 10x
  assert "| SparseBERT (prune while distilling) | 0.900 | 0.9000 | 60 | 10.0x | 77.00 | " \
         "1.41 (n=2) |" in text
  assert "| fine-tune, then prune | 0.900 |" in text and "| -10.00 |" in text
  # the longer schedule is its own line, not averaged into the 5-epoch one
  assert "| SparseBERT, 10 epochs (ramp over 3000 of ~3460 steps) | 0.900 | 0.9000 | 60 | 10.0x | " \
         "74.50 |  |" in text
  assert "| SparseBERT, 10 epochs at batch 16 (ramp over 6000 of ~6900 steps) | 0.900 | 0.9000 | " \
         "60 | 10.0x | 76.50 |  |" in text
  # the 1-layer dense student keeps 100 of the 600 full-depth encoder weights: 6x
  assert "dense shallow student (distilled) (1 layer) | 0.000 | 0.0000 | 100 | 6.0x | 72.00" in text
  assert (tmp_path / "claims.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert (tmp_path / "claims_exploration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure4_draws_one_line_per_strategy_with_the_seed_spread(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "a", 78.0, 0.9, series="sparsebert_aug5_lr2e4_fast")
  _result(results, "b", 76.0, 0.9, seed=1, series="sparsebert_aug5_lr2e4_fast")
  _result(results, "c", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "d", 72.0, 0.0, series="shallow", layers=1)
  _result(results, "e", 60.0, 0.9, series="sparsebert_long")  # exploration: not in Figure 4
  monkeypatch.setattr(m, "RESULTS", str(results))
  drawn = m.figure4(m.load(), path=str(tmp_path / "f4.png"))
  sparsebert = next(v for k, v in drawn.items() if k.startswith("SparseBERT"))
  assert sparsebert == [(10.0, 77.0, pytest.approx(2 ** 0.5))]
  assert drawn["fine-tune, then prune"] == [(10.0, 70.0, None)]
  assert drawn["shallow"] == [(6.0, 72.0, None)]
  assert len(drawn) == 3 and (tmp_path / "f4.png").read_bytes()[:4] == b"\x89PNG"


def test_series_is_the_flagfile_recipe():
  m = _module("paper_claims")
  assert m.series("mrpc_sparsebert_90") == "sparsebert"
  assert m.series("mrpc_sparsebert_long_90") == "sparsebert_long"
  assert m.series("mrpc_sparsebert_long_b16_90") == "sparsebert_long_b16"
  assert m.series("mrpc_sparsebert_long_b8_90") == "sparsebert_long_b8"
  assert m.series("mrpc_sparsebert_aug_95") == "sparsebert_aug"
  assert m.RUNS["mrpc_sparsebert_aug5_lr2e4_fast_90_seed2"] == (  # a seed keeps its recipe
      "mrpc", "mrpc_sparsebert_aug5_lr2e4_fast.flags", ["--target_sparsity=0.9", "--seed=2"])
  assert m.series("mrpc_finetune_then_prune_80") == "finetune_then_prune"
  assert m.series("mrpc_prune_then_finetune_95_seed42") == "prune_then_finetune"
  assert m.RUNS["mrpc_finetune_then_prune_90_seed42"] == (
      "mrpc", "mrpc_finetune_then_prune.flags", ["--target_sparsity=0.9", "--seed=42"])
  assert m.series("mrpc_shallow_1l") == "shallow"
  assert m.series("sst2_sparsebert_90") == "sparsebert"
  for name, (task, flagfile, _) in m.RUNS.items():  # every run's flagfile exists
    assert os.path.exists(os.path.join(REPO, "experiments", "configs", flagfile)), name
    assert name.startswith(task + "_" + m.series(name)), name


def test_adopt_records_a_run_and_starts_no_other(monkeypatch):
  m = _module("paper_claims")
  adopted, started = [], []
  monkeypatch.setattr(m, "adopt", lambda name, *a: adopted.append(name) or {"student": {}})
  monkeypatch.setattr(m, "run", lambda name, *a: started.append(name) or {
      "student": {}, "sparsity": {"overall": 0.9}})
  monkeypatch.setattr("sys.argv", ["paper_claims.py", "--adopt", "mrpc_sparsebert_aug_95=x"])
  m.main()
  assert adopted == ["mrpc_sparsebert_aug_95"] and started == []
  monkeypatch.setattr("sys.argv", ["paper_claims.py", "--only", "mrpc_sparsebert_aug_9.",
                                   "--runs_dir=/nonexistent"])
  monkeypatch.setattr(m.os.path, "exists", lambda path: False)  # as if neither had run yet
  m.main()
  assert started == ["mrpc_sparsebert_aug_95", "mrpc_sparsebert_aug_90"]


def test_every_series_has_a_label_and_its_own_colour():
  m, claims = _module(), _module("paper_claims")
  for name in claims.RUNS:
    assert claims.series(name) in m.LABELS and claims.series(name) in m.MARKERS, name
  colours = m.COLOURS[:len(m.MARKERS)]
  assert len(set(colours)) == len(m.MARKERS) and "C7" not in colours  # C7: the teacher's grey


def test_checks_compute_each_target_margin(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "s90", 79.6, 0.9)                      # teacher 80: needs 79.5
  _result(results, "s95a", 78.0, 0.95)                    # needs 79.0; mean of seeds 78.5
  _result(results, "s95b", 79.0, 0.95, seed=1)
  _result(results, "f90", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "p90", 72.5, 0.9, series="prune_then_finetune")
  _result(results, "s83", 75.0, 1 - 100 / 600)            # 6x, as the 1-layer student
  _result(results, "d1", 73.5, 0.0, series="shallow", layers=1)
  monkeypatch.setattr(m, "RESULTS", str(results))
  lines = m.checks(m.load())
  assert "- SparseBERT (prune while distilling) at 90%: 79.60 vs teacher - 0.5 = 79.50: met " \
         "(+0.10)" in lines
  assert "- SparseBERT (prune while distilling) at 95% (mean of 2 seeds, std 0.71): 78.50 vs " \
         "teacher - 1.0 = 79.00: missed (-0.50)" in lines
  assert "- SparseBERT (prune while distilling) >= both baselines at 90%: 79.60 vs 72.50: met " \
         "(+7.10)" in lines
  assert "- SparseBERT (prune while distilling) >= 1-layer dense student + 2 at 6.0x: 75.00 vs " \
         "73.50: missed (-0.50)" in lines
  assert len(lines) == 4  # no baselines at 95%, no long schedule


def test_runs_from_another_teacher_are_their_own_point(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "s90", 76.0, 0.9)                      # the task's usual teacher, 80
  _result(results, "p90", 72.0, 0.9, series="prune_then_finetune")
  _result(results, "f90", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "t42", 74.0, 0.9, teacher=78.0, speed=16.0)  # 3 seeds from a teacher at 78
  _result(results, "t1", 75.0, 0.9, seed=1, teacher=78.0, speed=11.5)  # resumed beside CI
  _result(results, "t2", 76.0, 0.9, seed=2, teacher=78.0, speed=17.7)
  _result(results, "t2again", 99.0, 0.9, seed=2, teacher=78.0, output_dir="elsewhere")
  monkeypatch.setattr(m, "RESULTS", str(results))
  rows = m.load()
  assert sorted(r["name"] for r in rows) == ["f90", "p90", "s90", "t1", "t2", "t42"]  # t2 once
  table = m.table(rows)
  # seed 42 from teacher 80 is not averaged with the seeds from teacher 78
  assert "| SparseBERT (prune while distilling) | 0.900 | 0.9000 | 60 | 10.0x | 76.00 |  | 81.00 " \
         "| -4.00 |" in table
  assert "| SparseBERT (prune while distilling), from the teacher at 78.00 | 0.900 | 0.9000 | 60 " \
         "| 10.0x | 75.00 | 1.00 (n=3) | 80.00 | -3.00 | 16.0 |" in table  # median ex/s
  assert "Teacher (mrpc): accuracy 78.00, f1 86.00 (the runs marked 'from the teacher at " \
         "78.00')" in table
  lines = m.checks(rows)
  assert lines == [
      "- SparseBERT (prune while distilling) at 90%: 76.00 vs teacher - 0.5 = 79.50: missed "
      "(-3.50)",
      "- SparseBERT (prune while distilling) >= both baselines at 90%: 76.00 vs 72.00: met (+4.00)",
      "- SparseBERT (prune while distilling) at 90%, from the teacher at 78.00 (mean of 3 seeds, "
      "std 1.00): 75.00 vs teacher - 0.5 = 77.50: missed (-2.50)"]  # no baselines from teacher 78


def test_prune_then_finetune_stands_for_every_teacher(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "s90", 76.0, 0.9)                      # the task's usual teacher, 80
  _result(results, "s80", 77.0, 0.8)                      # (most runs)
  _result(results, "s70", 78.0, 0.7)
  _result(results, "p90", 72.0, 0.9, series="prune_then_finetune")  # never reads a teacher
  _result(results, "f90", 70.0, 0.9, series="finetune_then_prune")
  _result(results, "t90", 75.0, 0.9, teacher=78.0)        # another teacher: its own fine-tune-
  _result(results, "g90", 73.0, 0.9, series="finetune_then_prune", teacher=78.0)  # then-prune
  _result(results, "t95", 71.0, 0.95, teacher=78.0)       # no prune-then-fine-tune at 95%
  _result(results, "g95", 68.0, 0.95, series="finetune_then_prune", teacher=78.0)
  monkeypatch.setattr(m, "RESULTS", str(results))
  lines = [line for line in m.checks(m.load()) if "baselines" in line]
  assert lines == [
      "- SparseBERT (prune while distilling) >= both baselines at 90%: 76.00 vs 72.00: met (+4.00)",
      "- SparseBERT (prune while distilling) >= both baselines at 90%, from the teacher at 78.00: "
      "75.00 vs 73.00: met (+2.00)"]  # max(73 from teacher 78, 72 from teacher 80)


def test_prune_then_finetune_from_another_teacher_stands_for_the_usual_one(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "s90", 76.0, 0.9)                      # the usual teacher, 80 (most runs)
  _result(results, "s95", 75.0, 0.95)
  _result(results, "f90", 68.0, 0.9, series="finetune_then_prune")
  _result(results, "f95", 67.0, 0.95, series="finetune_then_prune")
  _result(results, "p90", 72.0, 0.9, series="prune_then_finetune", teacher=78.0)  # run beside
  _result(results, "p95", 71.0, 0.95, series="prune_then_finetune", teacher=78.0)  # an older one
  _result(results, "o90", 74.0, 0.9, teacher=78.0)
  monkeypatch.setattr(m, "RESULTS", str(results))
  lines = [line for line in m.checks(m.load()) if "baselines" in line]
  assert lines == [
      "- SparseBERT (prune while distilling) >= both baselines at 90%: 76.00 vs 72.00: met (+4.00)",
      "- SparseBERT (prune while distilling) >= both baselines at 95%: 75.00 vs 71.00: met (+4.00)"]
  # teacher 78 has no fine-tune-then-prune of its own: no line for o90


def test_rows_from_the_usual_teacher_come_first_within_a_recipe(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "u90", 76.0, 0.9)                      # the usual teacher (80): 3 runs
  _result(results, "u80", 78.0, 0.8)
  _result(results, "u70", 79.5, 0.7)
  _result(results, "o95", 70.0, 0.95, teacher=78.0)       # another teacher, higher compression
  _result(results, "o50", 79.0, 0.5, teacher=78.0)        # and lower
  monkeypatch.setattr(m, "RESULTS", str(results))
  recipes = [line.split(" | ")[1:3] for line in m.table(m.load()).splitlines()[2:7]]
  assert recipes == [
      ["SparseBERT (prune while distilling)", "0.700"],
      ["SparseBERT (prune while distilling)", "0.800"],
      ["SparseBERT (prune while distilling)", "0.900"],
      ["SparseBERT (prune while distilling), from the teacher at 78.00", "0.500"],
      ["SparseBERT (prune while distilling), from the teacher at 78.00", "0.950"]]


def test_agreement_against_hand_computed_values():
  import numpy as np
  m = _module("agreement")
  teacher = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
  student = np.array([[0.6, 0.4], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
  out = m.compare(np.log(teacher), np.log(student), np.array([0, 1, 1, 1]))  # as logits
  assert out["accuracy"] == 75.0 and out["teacher_accuracy"] == 75.0
  assert out["agreement"] == 50.0  # rows 0 and 1
  assert out["positive_rate"] == 50.0 and out["teacher_positive_rate"] == 50.0
  kl = [0.9 * np.log(0.9 / 0.6) + 0.1 * np.log(0.1 / 0.4),
        0.2 * np.log(0.2 / 0.3) + 0.8 * np.log(0.8 / 0.7),
        0.4 * np.log(0.4 / 0.6) + 0.6 * np.log(0.6 / 0.4),
        0.7 * np.log(0.7 / 0.1) + 0.3 * np.log(0.3 / 0.9)]
  np.testing.assert_allclose(out["kd_kl"], np.mean(kl), rtol=1e-6)


def test_usual_teacher_counts_points_not_seeds(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  for name, sparsity in (("s50", 0.5), ("s70", 0.7), ("s80", 0.8)):  # three points, teacher 80
    _result(results, name, 77.0, sparsity)
  for seed in (42, 1, 2, 3):  # one point in four seeds from teacher 78: more runs, fewer points
    _result(results, f"t90_{seed}", 75.0, 0.9, seed=seed, teacher=78.0)
  monkeypatch.setattr(m, "RESULTS", str(results))
  assert m.reference_teachers(m.load()) == {"mrpc": 80.0}


def test_a_rerun_of_a_recipe_counts_once_whatever_version_wrote_it(tmp_path, monkeypatch):
  m = _module()
  results = tmp_path / "claims"
  results.mkdir()
  _result(results, "old", 76.0, 0.9, output_dir="runs/old")  # written before student_batch_size
  # the default: the same recipe
  _result(results, "new", 78.0, 0.9, output_dir="runs/new", student_batch_size=0)
  _result(results, "b16", 74.0, 0.9, output_dir="runs/b16", student_batch_size=16)  # another
  monkeypatch.setattr(m, "RESULTS", str(results))
  assert sorted(r["name"] for r in m.load()) == ["b16", "new"]
