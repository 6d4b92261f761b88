"""The encoder's prunable kernels, the student copy, pruning to target, strip, save/load."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import keras_nlp
import tf_sparsebert
from tf_sparsebert.config import ModelConfig, PruningConfig
from tf_sparsebert.models import bert, saving
from conftest import tiny_inputs
from tf_sparsebert.pruning import schedules

keras = tf.keras
CFG = ModelConfig(vocabulary_size=40, num_layers=2, num_heads=2, hidden_dim=32,
                  intermediate_dim=64, max_sequence_length=32)


_inputs = tiny_inputs


def _classifier(seed=0):
  keras.utils.set_random_seed(seed)
  return bert.bert_classifier(bert.bert_backbone(CFG), 2)


def test_prunable_weights_are_exactly_the_six_kernels():
  clf = _classifier()
  for layer in bert.encoder_layers(clf):
    weights = layer.get_prunable_weights()
    assert [tuple(w.shape) for w in weights] == [(32, 2, 16), (32, 2, 16), (32, 2, 16),
                                                (2, 16, 32), (32, 64), (64, 32)]
    assert all("kernel" in w.name for w in weights)
    assert [w.name.split("/")[-2] for w in weights[:4]] == ["query", "key", "value",
                                                             "attention_output"]
  prunable = [w for layer in bert.encoder_layers(clf) for w in layer.get_prunable_weights()]
  assert len({id(w) for w in prunable}) == 12


def test_encoder_matches_keras_nlp_transformer_encoder():
  layer = bert.encoder_layers(_classifier())[0]
  ref = keras_nlp.layers.TransformerEncoder(num_heads=2, intermediate_dim=64, activation="gelu",
                                            layer_norm_epsilon=1e-12)
  x = tf.random.normal((3, 10, 32))
  ref(x)
  ref.set_weights(layer.get_weights())
  mask = np.ones((3, 10), np.int32)
  mask[1, 6:] = 0
  np.testing.assert_allclose(ref(x, padding_mask=mask).numpy(),
                             layer(x, padding_mask=mask).numpy(), atol=1e-5)


def test_distillation_view_shapes_and_shared_weights():
  clf = _classifier()
  view = bert.distillation_view(clf)
  out = view(_inputs())
  assert out["logits"].shape == (8, 2)
  assert [h.shape for h in out["hidden_states"]] == [(8, 16, 32)] * 3
  assert [a.shape for a in out["attention_scores"]] == [(8, 2, 16, 16)] * 2
  np.testing.assert_allclose(out["logits"].numpy(), clf(_inputs()).numpy(), atol=1e-6)
  assert {id(w) for w in view.weights} == {id(w) for w in clf.weights}


def _train_pruned(student, steps):
  x, y = _inputs(), np.arange(8) % 2
  student.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
  student.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])


def test_student_is_a_pruned_copy_and_reaches_target_sparsity():
  teacher = _classifier()
  teacher.trainable = False
  before = [w.numpy().copy() for w in teacher.weights]
  schedule = schedules.cubic_schedule(PruningConfig(target_sparsity=0.8, frequency=2), 10)
  assert schedule.end_step == 10
  student = tf_sparsebert.make_sparse_student(teacher, schedule=schedule)
  np.testing.assert_allclose(student(_inputs()).numpy(), teacher(_inputs()).numpy(), atol=1e-6)
  assert not {id(w) for w in student.weights} & {id(w) for w in teacher.weights}
  assert student.trainable_weights, "a frozen teacher must not give a frozen student"
  _train_pruned(student, 10)
  for a, b in zip(before, teacher.weights):
    np.testing.assert_array_equal(a, b.numpy())
  stripped = tf_sparsebert.strip(student)
  report = tf_sparsebert.sparsity_report(stripped)
  assert len(report["kernels"]) == 12
  for row in report["kernels"]:
    assert abs(row["sparsity"] - 0.8) <= 0.005, row
  # Everything else stays dense.
  pruned = {id(w) for layer in bert.encoder_layers(stripped) for w in layer.get_prunable_weights()}
  for w in stripped.weights:
    if id(w) not in pruned and w.shape.rank > 1:
      assert np.count_nonzero(w.numpy() == 0) == 0, w.name


def test_cubic_schedule_values_and_bad_end_steps():
  sched = schedules.cubic_schedule(PruningConfig(target_sparsity=0.9, begin_step=10,
                                                 end_step=50, frequency=10), 100)
  for step in (10, 30, 50, 80):
    should, sparsity = sched(tf.constant(step, tf.int64))
    frac = min(1.0, (step - 10) / 40)
    assert bool(should) == (step <= 50)
    np.testing.assert_allclose(float(sparsity), 0.9 * (1 - (1 - frac)**3), rtol=1e-5)
  with pytest.raises(ValueError, match="--pruning_end_step=120 is after the last training step"):
    schedules.cubic_schedule(PruningConfig(end_step=120), 100)
  with pytest.raises(ValueError, match="multiple of --pruning_frequency"):
    schedules.cubic_schedule(PruningConfig(end_step=55, frequency=10), 100)
  with pytest.raises(ValueError, match="--target_sparsity"):
    schedules.cubic_schedule(PruningConfig(target_sparsity=1.0), 100)
  with pytest.raises(ValueError, match="--pruning_end_step"):
    PruningConfig(begin_step=20, end_step=19).validate()
  assert PruningConfig(begin_step=20, end_step=20).validate().one_shot  # a ramp of no length


def test_keras_round_trips_of_wrapped_and_stripped_models(tmp_path):
  sched = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
  student = tf_sparsebert.make_sparse_student(_classifier(), schedule=sched)
  _train_pruned(student, 2)
  x = _inputs(seed=3)
  for name, model in (("wrapped", student), ("stripped", tf_sparsebert.strip(student))):
    saving.save_classifier(model, str(tmp_path / name), ["[PAD]"], True, saved_model=False)
    loaded = saving.load_classifier(str(tmp_path / name))
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert (tf_sparsebert.sparsity_report(loaded)["overall"]
            == tf_sparsebert.sparsity_report(model)["overall"])


def test_saved_model_round_trip(tmp_path):
  clf = _classifier()
  clf.save(str(tmp_path / "sm"), save_format="tf")
  loaded = keras.models.load_model(str(tmp_path / "sm"), compile=False)
  x = _inputs()
  np.testing.assert_allclose(loaded(x).numpy(), clf(x).numpy(), atol=1e-6)


def test_mean_pooling_classifier_prunes_strips_and_round_trips(tmp_path):
  keras.utils.set_random_seed(0)
  clf = bert.bert_classifier(bert.bert_backbone(CFG), 2, pooling="mean")
  x = _inputs()
  # Padded positions do not change the mean-pooled logits.
  y = {k: v.copy() for k, v in x.items()}
  y["token_ids"][x["padding_mask"] == 0] = 7
  np.testing.assert_allclose(clf(x).numpy(), clf(y).numpy(), atol=1e-5)
  student = tf_sparsebert.make_sparse_student(clf, target_sparsity=0.5)
  _train_pruned(student, 2)
  stripped = tf_sparsebert.strip(student)
  saving.save_classifier(stripped, str(tmp_path / "m"), ["[PAD]"], True, saved_model=False)
  np.testing.assert_array_equal(saving.load_classifier(str(tmp_path / "m"))(x).numpy(),
                                stripped(x).numpy())
  with pytest.raises(ValueError, match="--pooling"):
    bert.bert_classifier(bert.bert_backbone(CFG), 2, pooling="max")


@pytest.mark.parametrize("block_size", [(16, 1), (4, 1)])
def test_block_pruning_of_2d_and_3d_kernels(tmp_path, block_size):
  sched = tfmot.sparsity.keras.ConstantSparsity(0.75, begin_step=0, frequency=1)
  student = tf_sparsebert.make_sparse_student(_classifier(), schedule=sched, block_size=block_size)
  _train_pruned(student, 3)
  stripped = tf_sparsebert.strip(student)
  report = tf_sparsebert.sparsity_report(stripped, block_size=block_size)
  assert report["block_size"] == list(block_size)
  assert len(report["kernels"]) == 12
  for row in report["kernels"]:
    assert row["block_sparsity"] == pytest.approx(0.75, abs=0.005), row
    assert row["sparsity"] == pytest.approx(0.75, abs=0.005), row  # kept blocks are dense
  bh = block_size[0]
  for layer in bert.encoder_layers(stripped):
    query, _, _, output, intermediate, _ = [w.numpy() for w in layer.get_prunable_weights()]
    # query [hidden, heads, head_dim]: a block is `bh` consecutive hidden inputs of one output unit.
    q = query.reshape(32 // bh, bh, 2, 16)
    assert np.mean(np.all(q == 0, axis=1)) == pytest.approx(0.75)
    # output [heads, head_dim, hidden]: a block is `bh` consecutive head_dim inputs of one head.
    o = output.reshape(2, 16 // bh, bh, 32)
    assert np.mean(np.all(o == 0, axis=2)) == pytest.approx(0.75)
    f = intermediate.reshape(32 // bh, bh, 64)
    assert np.mean(np.all(f == 0, axis=1)) == pytest.approx(0.75)
  # The wrapped block-pruned model saves and loads like tfmot's own wrapper.
  saving.save_classifier(student, str(tmp_path / "wrapped"), ["[PAD]"], True, saved_model=False)
  loaded = saving.load_classifier(str(tmp_path / "wrapped"))
  x = _inputs(seed=4)
  np.testing.assert_array_equal(student(x).numpy(), loaded(x).numpy())


def test_bad_block_size():
  with pytest.raises(ValueError, match="block_size"):
    tf_sparsebert.make_sparse_student(_classifier(), target_sparsity=0.5, block_size=(0, 1))
  with pytest.raises(ValueError, match="--pruning_block_size"):
    PruningConfig(block_size=(16,)).validate()


@pytest.mark.parametrize("kind", ["backbone", "classifier"])
def test_make_sparse_student_from_a_users_keras_nlp_model(kind):
  """A keras-nlp 0.12 BertBackbone / BertClassifier built from a config: same outputs, prunable."""
  keras.utils.set_random_seed(1)
  backbone = keras_nlp.models.BertBackbone(vocabulary_size=40, num_layers=2, num_heads=2,
                                           hidden_dim=32, intermediate_dim=64,
                                           max_sequence_length=32)
  model = backbone if kind == "backbone" else keras_nlp.models.BertClassifier(
      backbone=backbone, num_classes=3, preprocessor=None)
  before = [w.numpy().copy() for w in model.weights]
  student = tf_sparsebert.make_sparse_student(model, target_sparsity=0.5)
  x = _inputs()
  ours, theirs = student(x), model(x)
  if kind == "backbone":
    ours, theirs = ours["sequence_output"], theirs["sequence_output"]
  np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
  assert len(bert.encoder_layers(student)) == 2
  if kind == "classifier":
    _train_pruned(student, 2)
    report = tf_sparsebert.sparsity_report(tf_sparsebert.strip(student))
    assert all(abs(r["sparsity"] - 0.5) <= 0.005 for r in report["kernels"])
  for a, b in zip(before, model.weights):  # the user's model is untouched
    np.testing.assert_array_equal(a, b.numpy())


def test_shallow_copy_keeps_the_first_layers_and_every_other_weight():
  from test_distiller import _clf
  teacher = _clf(layers=3, seed=0)
  copy = bert.shallow_copy(teacher, 2, name="shallow")
  x = {"token_ids": np.array([[2, 5, 7, 3, 0]], np.int32),
       "segment_ids": np.zeros((1, 5), np.int32),
       "padding_mask": np.array([[1, 1, 1, 1, 0]], np.int32)}
  full, short = bert.distillation_view(teacher)(x), bert.distillation_view(copy)(x)
  assert len(short["hidden_states"]) == 3
  for k in range(3):
    np.testing.assert_allclose(short["hidden_states"][k], full["hidden_states"][k], atol=1e-6)
  np.testing.assert_array_equal(copy.get_layer("logits").get_weights()[0],
                                teacher.get_layer("logits").get_weights()[0])
  with pytest.raises(ValueError, match=r"--student_layers must be in \[1, 3\]"):
    bert.shallow_copy(teacher, 4)


def _kernels(model):
  return [w for layer in bert.encoder_layers(model)
          for w in getattr(layer, "layer", layer).get_prunable_weights()]


def test_one_shot_schedule_prunes_the_starting_weights_once_and_keeps_the_mask():
  from test_distiller import _clf, _data
  source = _clf(seed=2)
  starting = [w.numpy() for w in _kernels(source)]
  student = tf_sparsebert.make_sparse_student(
      source, schedule=schedules.one_shot_schedule(PruningConfig(target_sparsity=0.5)))
  student.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x, y = _data()
  student.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  stripped = tf_sparsebert.strip(student)
  for before, after in zip(starting, _kernels(stripped)):
    after = after.numpy()
    threshold = np.sort(np.abs(before).ravel())[before.size // 2 - 1]
    np.testing.assert_array_equal(after == 0, np.abs(before) <= threshold)  # the first mask
