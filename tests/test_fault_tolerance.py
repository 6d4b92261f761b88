"""Kill a run with SIGKILL during each stage, rerun the same command, and check it resumes.

tests/kill_at_step.py kills the training process right after a known step of the teacher or
the student; the export is killed from outside while its output is still `tflite.partial`.
"""

import json
import os
import subprocess
import sys
import time

from conftest import REPO

TINY = ["--flagfile=configs/tiny.flags", "--checkpoint_steps=3"]
TEACHER_STEPS, STUDENT_STEPS = 8, 16  # tiny.flags: 64 examples / batch 8; 1 + 2 epochs


def _run(ckpt, out, *extra, kill_stage="none", kill_step=0, wait=True):
  cmd = [sys.executable, "tests/kill_at_step.py", kill_stage, str(kill_step), *TINY,
         f"--init_checkpoint={ckpt}", f"--output_dir={out}", *extra]
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=dict(os.environ, CI="1"))
  if wait:
    proc.stderr_text = proc.communicate(timeout=600)[1]
  return proc


def _json(path):
  with open(path) as f:
    return json.load(f)


def _mtimes(directory):
  return {os.path.join(root, name): os.path.getmtime(os.path.join(root, name))
          for root, _, files in os.walk(directory) for name in files}


def test_killed_in_every_stage_resumes_and_matches_an_uninterrupted_run(
    tiny_checkpoint_bert_vocab, tmp_path):
  ckpt = tiny_checkpoint_bert_vocab
  baseline = str(tmp_path / "uninterrupted")
  assert _run(ckpt, baseline).returncode == 0
  out = str(tmp_path / "killed")

  # 1. Killed after teacher step 5: only the backup at step 3 is left, nothing else is final.
  proc = _run(ckpt, out, "--export_tflite", kill_stage="teacher", kill_step=5)
  assert proc.returncode == -9, proc.stderr_text[-2000:]
  assert os.path.isdir(os.path.join(out, "backup", "teacher"))
  assert not os.path.exists(os.path.join(out, "teacher"))

  # Other settings on the unfinished run are refused, and nothing is touched.
  before = _mtimes(out)
  proc = _run(ckpt, out, "--export_tflite", "--target_sparsity=0.5")
  assert proc.returncode != 0
  assert "holds an unfinished run with other settings (pruning.target_sparsity)" in (
      proc.stderr_text)
  assert _mtimes(out) == before

  # 2. The same command resumes the teacher at step 3 (2 steps redone); killed at student step 11.
  proc = _run(ckpt, out, "--export_tflite", kill_stage="student", kill_step=11)
  assert proc.returncode == -9, proc.stderr_text[-2000:]
  assert f"teacher at step 3 of {TEACHER_STEPS}" in proc.stderr_text
  assert os.path.isfile(os.path.join(out, "teacher", "model.keras"))
  assert not os.path.exists(os.path.join(out, "student"))
  teacher_files = _mtimes(os.path.join(out, "teacher"))
  # The student's first epoch finished before the kill: its logs are kept with the backup.
  before_kill = _json(os.path.join(out, "backup", "student", "history.json"))
  assert [e["epoch"] for e in before_kill] == [1]

  # 3. Resumes the student at step 9; killed from outside during the export.
  proc = _run(ckpt, out, "--export_tflite", wait=False)
  partial = os.path.join(out, "tflite.partial")
  deadline = time.time() + 600
  while not os.path.isdir(partial) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.kill()
  err = proc.communicate()[1]
  assert proc.returncode == -9, err[-2000:]
  assert f"student at step 9 of {STUDENT_STEPS}" in err
  assert not os.path.exists(os.path.join(out, "tflite"))  # never half-written
  assert not os.path.exists(os.path.join(out, "backup"))  # training is over
  finished = _mtimes(out)

  # 4. Resumes at the export: teacher, student and metrics are kept as they were.
  proc = _run(ckpt, out, "--export_tflite")
  assert proc.returncode == 0, proc.stderr_text[-3000:]
  after = _mtimes(out)
  for path, mtime in finished.items():
    if "tflite.partial" not in path and "flags.txt" not in path and "/logs/" not in path:
      assert after[path] == mtime, path
  assert all(after[p] == m for p, m in teacher_files.items())
  assert not os.path.exists(partial)
  report = _json(os.path.join(out, "tflite", "export_report.json"))
  assert all(os.path.isfile(os.path.join(out, "tflite", e["file"]))
             for e in report["variants"].values())

  metrics, reference = _json(os.path.join(out, "metrics.json")), _json(
      os.path.join(baseline, "metrics.json"))
  assert metrics["resumed_at_step"] == {"teacher": "finished", "student": 9}
  # Only epoch 2 was left to run, yet the history holds both epochs: epoch 1 from the killed
  # run's log, and the teacher's epoch from the run that finished it.
  student = metrics["history"]["student"]
  assert student["epoch"] == [1, 2] and len(student["loss"]) == 2
  assert student["loss"][0] == before_kill[0]["loss"]
  assert student["dev_accuracy"][0] == before_kill[0]["dev_accuracy"]
  assert metrics["history"]["teacher"]["epoch"] == [1]
  assert len(metrics["timing"]["student_epoch_seconds"]) == 2
  assert reference["history"]["student"]["epoch"] == [1, 2]
  for row in _json(os.path.join(out, "sparsity.json"))["kernels"]:
    assert abs(row["sparsity"] - 0.9) <= 0.005, row
  # Dropout draws are not part of the backup, so "within noise", not bit-identical.
  assert abs(metrics["student"]["accuracy"] - reference["student"]["accuracy"]) <= 12.5
  assert abs(metrics["teacher"]["accuracy"] - reference["teacher"]["accuracy"]) <= 12.5


def test_sigterm_ends_with_one_line_and_the_same_command_resumes(tiny_checkpoint_bert_vocab,
                                                                  tmp_path):
  """SIGTERM (a scheduler's stop) and Ctrl-C end with one `error:` line saying how to resume,
  not a traceback or a silent 143; the same command then finishes the run."""
  import signal
  out = str(tmp_path / "run")
  cmd = [sys.executable, "-m", "tf_sparsebert.train", *TINY,
         f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}"]
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=dict(os.environ, CI="1"))
  deadline = time.time() + 300
  while not os.path.exists(os.path.join(out, "backup")) and time.time() < deadline:
    time.sleep(0.2)  # training has started (its first backup folder exists)
  proc.send_signal(signal.SIGTERM)
  stderr = proc.communicate(timeout=300)[1]
  assert proc.returncode == 130, stderr[-2000:]
  assert stderr.strip().splitlines()[-1] == (
      "error: interrupted (SIGTERM); rerun the same command to resume from the last backup")
  assert "Traceback" not in stderr
  again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, CI="1"))
  assert again.returncode == 0, again.stderr[-2000:]
  assert os.path.isfile(os.path.join(out, "metrics.json"))
