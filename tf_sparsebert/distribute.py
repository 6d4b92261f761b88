"""The `tf.distribute` strategy a run trains under, and which worker writes the outputs.

  strategy = make_strategy(DistributeConfig(strategy="mirrored"))
  with strategy.scope():
    ...  # build the teacher and the pruned student, compile, fit

Keras splits each global batch of `--batch_size` examples over `strategy.num_replicas_in_sync`
replicas and all-reduces (sums) the gradients; `Distiller.train_step` scales its loss for that.
tfmot's mask updates run in cross-replica context (`merge_call`), so every replica holds the
same masks.
"""

import json
import os
import socket

import tensorflow as tf


def split_cpu(num_devices):
  """Splits the first CPU into `num_devices` logical devices; must run before TF initialises."""
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
  except RuntimeError as e:  # TF already initialised: only fine if it has the same split
    if len(tf.config.list_logical_devices("CPU")) != num_devices:
      raise ValueError(f"--num_cpu_devices={num_devices}: TensorFlow is already initialised "
                       f"with {len(tf.config.list_logical_devices('CPU'))} CPU devices") from e


def _local_devices():
  """All local GPUs, else all logical CPU devices (see `split_cpu`)."""
  gpus = tf.config.list_logical_devices("GPU")
  return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def _tpu_strategy(tpu):
  """TPUStrategy on `tpu` (a name, grpc:// address, or "" for a TPU VM's own TPU)."""
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
  if tpu:  # a remote TPU: connect this host to it
    tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def make_strategy(config):
  """The strategy named by a `DistributeConfig` (call first: multi-worker needs a fresh runtime).

  - one_device: TensorFlow's default strategy (the first GPU, else the CPU).
  - mirrored: synchronous data parallelism over all local GPUs, or all logical CPUs.
  - multi_worker_mirrored: synchronous over the workers of the `TF_CONFIG` cluster (every
    worker runs the same command; worker 0 is the chief and writes the outputs).
  - tpu: `TPUStrategy` on `config.tpu` (not runnable on this project's CPU machines).
  """
  config.validate()
  if config.num_cpu_devices:
    split_cpu(config.num_cpu_devices)
  if config.strategy == "one_device":  # the default strategy (Keras' BackupAndRestore does not
    return tf.distribute.get_strategy()  # take OneDeviceStrategy); it places ops on GPU:0 if any
  if config.strategy == "mirrored":
    return tf.distribute.MirroredStrategy(_local_devices())
  if config.strategy == "multi_worker_mirrored":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--distribution_strategy=multi_worker_mirrored needs the TF_CONFIG "
                       "environment variable (the cluster and this worker's task)")
    try:
      json.loads(os.environ["TF_CONFIG"])
    except ValueError as e:
      raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()
  return _tpu_strategy(config.tpu)


def worker_index(strategy):
  """This worker's index in a multi-worker cluster (0, the chief, everywhere else)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
    return 0
  if resolver.task_type in ("chief", None):
    return 0
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_id + (1 if has_chief else 0)


def is_chief(strategy):
  return worker_index(strategy) == 0


def local_cluster(num_workers):
  """`TF_CONFIG` values for `num_workers` workers on free ports of 127.0.0.1 (one per worker).

  For trying `multi_worker_mirrored` on one machine: start the same command once per value.
  """
  socks = [socket.socket() for _ in range(num_workers)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  hosts = [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
  for s in socks:
    s.close()
  return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
          for i in range(num_workers)]
