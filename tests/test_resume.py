"""Fault-tolerance building blocks: data position, backup arithmetic, atomic writes, run dirs."""

import contextlib
import json
import os

import numpy as np
import pytest

from tf_sparsebert import config as cfg
from tf_sparsebert import resume, run_dir
from tf_sparsebert.data import preprocessing
import tensorflow as tf

keras = tf.keras


def _batches(ds):
  return [tuple(x["token_ids"].numpy().ravel().tolist()) for x, _ in ds]


def _dataset(seed=3):
  rng = np.random.default_rng(0)
  n, seq = 40, 16
  lengths = rng.integers(3, seq, n)
  mask = (np.arange(seq)[None] < lengths[:, None]).astype(np.int32)
  features = {"token_ids": (np.arange(n)[:, None] + 1) * mask,
              "segment_ids": np.zeros((n, seq), np.int32), "padding_mask": mask}
  return preprocessing.make_dataset(features, np.zeros(n, np.int32), batch_size=4,
                                    training=True, seed=seed, bucket_width=4)


def test_resumed_data_continue_exactly_where_the_killed_run_was():
  tf.keras.utils.set_random_seed(1)
  ds, steps = _dataset()
  full = _batches(resume.resumable_dataset(ds, 3, 0))
  assert len(full) == 3 * steps
  assert full[:steps] != full[steps:2 * steps]  # reshuffled every epoch
  for start in (1, steps - 1, steps + 3):
    tf.keras.utils.set_random_seed(1)  # a new process: same seeds, freshly built pipeline
    ds, _ = _dataset()
    assert _batches(resume.resumable_dataset(ds, 3, start)) == full[start:]


def test_one_dataset_per_epoch_is_one_sequence_resumed_at_any_step():
  def epochs():  # e.g. fresh augmented copies per epoch, each epoch's data built anew
    return [_dataset(seed)[0] for seed in (3, 4, 5)]

  full = _batches(resume.resumable_dataset(epochs(), 3, 0))
  assert full == sum((_batches(d) for d in epochs()), [])
  assert full[:10] != full[10:20]
  for start in (1, 12, 25):
    assert _batches(resume.resumable_dataset(epochs(), 3, start)) == full[start:]
  with pytest.raises(ValueError, match="2 epoch datasets for 3 epochs"):
    resume.resumable_dataset(epochs()[:2], 3, 0)


def _fit_with_backups(directory, steps, epochs, save_freq):
  model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
  model.compile(optimizer="sgd", loss="mse")
  x = np.ones((steps * 2, 2), np.float32)
  ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(2)
  model.fit(resume.resumable_dataset(ds, epochs, 0), epochs=epochs, steps_per_epoch=steps,
            verbose=0, callbacks=[resume.backup_callback(directory, save_freq)])
  return model


@pytest.mark.parametrize("steps, epochs, save_freq, expected", [
    (5, 2, 3, 9),    # last backup after global step 9 (epoch 1, batch 3): resume at 9
    (5, 2, 5, 10),   # last backup at the end of epoch 1: resume at the start of epoch 2
    (4, 3, 100, 0),  # never backed up
])
def test_resume_step_matches_the_last_backup(tmp_path, steps, epochs, save_freq, expected):
  directory = str(tmp_path / "backup")
  _fit_with_backups(directory, steps, epochs, save_freq)
  assert resume.resume_step(directory, steps) == expected


def test_backup_restores_weights_and_optimizer_step(tmp_path):
  directory = str(tmp_path / "backup")
  trained = _fit_with_backups(directory, 5, 2, 5)
  model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
  model.compile(optimizer="sgd", loss="mse")
  x = np.ones((10, 2), np.float32)
  ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(2)
  # Everything was done: the restored fit runs no step and keeps the backed-up state.
  model.fit(resume.resumable_dataset(ds, 2, 10), epochs=2, steps_per_epoch=5, verbose=0,
            callbacks=[resume.backup_callback(directory, 5)])
  assert int(model.optimizer.iterations.numpy()) == 10
  np.testing.assert_array_equal(model.get_weights()[0], trained.get_weights()[0])


class _KillAt(keras.callbacks.Callback):
  """Stands for a SIGKILL: stops fit with an exception after global step `step`."""

  def __init__(self, step):
    super().__init__()
    self.step = step

  def on_train_batch_end(self, batch, logs=None):
    if int(self.model.optimizer.iterations.numpy()) == self.step:
      raise KeyboardInterrupt


def test_epoch_log_keeps_the_epochs_finished_before_a_kill(tmp_path):
  directory, steps, epochs = str(tmp_path / "backup"), 5, 3
  x = np.arange(steps * 4, dtype=np.float32).reshape(-1, 2)
  ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(2)

  def fit(callbacks):
    start = resume.resume_step(directory, steps)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    log = resume.EpochLog(directory, start // steps)
    with contextlib.suppress(KeyboardInterrupt):
      model.fit(resume.resumable_dataset(ds, epochs, start), epochs=epochs,
                steps_per_epoch=steps, verbose=0,
                callbacks=[resume.backup_callback(directory, 3), *callbacks, log])
    return start, log

  # Killed after step 11 (epoch 3): epochs 1 and 2 were logged, the last backup is at step 9.
  start, log = fit([_KillAt(11)])
  with open(os.path.join(directory, resume.HISTORY_FILE)) as f:
    written = json.load(f)
  assert start == 0 and [e["epoch"] for e in written] == [1, 2] == log.history()["epoch"]
  # Resumed at step 9, inside epoch 2: epoch 1's logs are kept, epoch 2 is logged again.
  start, log = fit([])
  history = log.history()
  assert start == 9 and history["epoch"] == [1, 2, 3]
  assert history["loss"][0] == written[0]["loss"] and len(history["loss"]) == 3
  assert all(s > 0 for s in history["seconds"])
  # A finished stage reads all of them; one that resumes at step 0 starts afresh.
  assert resume.EpochLog(directory, epochs).history() == history
  assert resume.EpochLog(directory, 0).history() == {}
  assert resume.EpochLog(None, epochs).history() == {}
  # Only written by a log that may write (the chief's).
  reader = resume.EpochLog(str(tmp_path / "worker"), 0, write=False)
  reader.on_epoch_begin(0)
  reader.on_epoch_end(0, {"loss": 1.0})
  assert reader.history()["loss"] == [1.0] and not os.path.exists(tmp_path / "worker")


def test_unreadable_backup_names_the_directory(tmp_path):
  chief = tmp_path / "backup" / "chief"
  chief.mkdir(parents=True)
  (chief / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
  (chief / "ckpt-1.index").write_bytes(b"\x00garbage")
  with pytest.raises(ValueError, match=r"training backup .*ckpt-1 is unreadable"):
    resume.resume_step(str(tmp_path / "backup"), 5)


def test_exclusive_lets_one_process_at_a_time_use_a_directory(tmp_path):
  out = str(tmp_path / "parent" / "run")
  with run_dir.exclusive(out):
    # flock conflicts between two open files even within one process, as between processes
    with pytest.raises(ValueError, match=rf"--output_dir: {out} is in use by another training "
                                         rf"process \(pid {os.getpid()}\)"):
      with run_dir.exclusive(out):
        pass
  with run_dir.exclusive(out):  # released at the end of the block (and when a process dies)
    pass
  # Nothing beside the folder, and no parent folder created (a failed run leaves no litter).
  assert os.listdir(tmp_path) == []
  with run_dir.exclusive("gs://bucket/run"):  # not a local path: not locked
    pass


def test_atomic_directory_is_all_or_nothing(tmp_path):
  path = str(tmp_path / "student")
  with pytest.raises(RuntimeError):
    with run_dir.atomic_directory(path) as partial:
      open(os.path.join(partial, "half"), "w").close()
      raise RuntimeError("killed")
  assert not os.path.exists(path)
  with run_dir.atomic_directory(path) as partial:  # the stale .partial is replaced
    assert os.listdir(partial) == []
    open(os.path.join(partial, "model.keras"), "w").close()
  assert os.listdir(path) == ["model.keras"] and not os.path.exists(path + ".partial")


def _config(out, **kw):
  return cfg.TrainConfig(output_dir=out, init_checkpoint="x",
                         data=cfg.DataConfig(glue_dir="g"), **kw)


def test_output_dir_new_resume_or_refused(tmp_path):
  out = str(tmp_path / "run")
  config = _config(out)
  assert run_dir.check_output_dir(config) == "new"
  os.makedirs(out)
  assert run_dir.check_output_dir(config) == "new"  # empty
  open(os.path.join(out, "notes.txt"), "w").close()
  with pytest.raises(ValueError, match="--output_dir: .* not a tf_sparsebert run"):
    run_dir.check_output_dir(config)
  run_dir.write_json(os.path.join(out, "config.json"), {"train": config.to_dict()})
  assert run_dir.check_output_dir(config) == "resume"
  older = config.to_dict()  # a run started before --student_bucket_width existed
  del older["data"]["student_bucket_width"]
  run_dir.write_json(os.path.join(out, "config.json"), {"train": older})
  assert run_dir.check_output_dir(config) == "resume"
  run_dir.write_json(os.path.join(out, "config.json"), {"train": config.to_dict()})
  other = _config(out, pooling="mean", pruning=cfg.PruningConfig(target_sparsity=0.5))
  with pytest.raises(ValueError, match=r"other settings \(pooling, pruning.target_sparsity\)"):
    run_dir.check_output_dir(other)
  run_dir.write_json(os.path.join(out, run_dir.FINISHED_MARKER), {})
  with pytest.raises(ValueError, match="already holds a finished run"):
    run_dir.check_output_dir(config)
  exporting = _config(out, export_tflite=True)  # finished only once the export is there too
  with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"train": exporting.to_dict()}, f)
  assert run_dir.check_output_dir(exporting) == "resume"
  assert run_dir.check_output_dir(_config(out, export_tflite=True, overwrite=True)) == "new"


def test_overwrite_replaces_only_a_run_and_never_an_input(tmp_path):
  ckpt = tmp_path / "ckpt"
  ckpt.mkdir()
  (ckpt / "model.safetensors").write_bytes(b"weights")
  config = lambda out, **kw: cfg.TrainConfig(  # noqa: E731
      output_dir=str(out), init_checkpoint=str(ckpt), overwrite=True,
      data=cfg.DataConfig(glue_dir=str(tmp_path / "glue")), **kw)
  # The checkpoint folder itself, a folder inside it, or one holding it: refused, flag named.
  for out in (ckpt, ckpt / "run", tmp_path):
    with pytest.raises(ValueError, match=r"--output_dir: .* and --init_checkpoint=.* overlap"):
      run_dir.check_output_dir(config(out))
  # Through a symlink too.
  (tmp_path / "link").symlink_to(ckpt)
  with pytest.raises(ValueError, match="overlap"):
    run_dir.check_output_dir(config(tmp_path / "link"))
  # A folder that is not a run: --overwrite refuses it.
  notes = tmp_path / "notes"
  notes.mkdir()
  (notes / "thesis.tex").write_text("years of work")
  with pytest.raises(ValueError, match="not a tf_sparsebert run; --overwrite only replaces runs"):
    run_dir.check_output_dir(config(notes))
  assert (ckpt / "model.safetensors").read_bytes() == b"weights"
  assert (notes / "thesis.tex").read_text() == "years of work"


def test_replacing_keeps_the_old_run_until_the_new_one_is_written(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  (out / "metrics.json").write_text("old")
  with pytest.raises(RuntimeError):
    with run_dir.replacing(str(out)):
      assert not out.exists() and (tmp_path / "run.replaced" / "metrics.json").exists()
      out.mkdir()
      (out / "half").write_text("new, unfinished")
      raise RuntimeError("the new run failed")
  assert (out / "metrics.json").read_text() == "old" and not (out / "half").exists()
  assert not (tmp_path / "run.replaced").exists()
  with pytest.raises(RuntimeError):  # after commit(), a later failure keeps the new run
    with run_dir.replacing(str(out)) as commit:
      out.mkdir()
      (out / "metrics.json").write_text("new")
      commit()
      raise RuntimeError("the export failed")
  assert (out / "metrics.json").read_text() == "new"
  assert not (tmp_path / "run.replaced").exists()


def test_the_lock_holds_through_a_symlink_and_dotdot(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  (tmp_path / "alias").symlink_to(out)
  (tmp_path / "sub").mkdir()
  with run_dir.exclusive(str(out)):
    for other in (tmp_path / "alias", tmp_path / "sub" / ".." / "run"):
      with pytest.raises(ValueError, match="is in use by another training process"):
        with run_dir.exclusive(str(other)):
          pass
