"""Per-kernel sparsity targets with the same overall sparsity (`--kernel_sparsity`).

SparseBERT prunes each of the six encoder kernels to the same target. A small checkpoint is not
equally robust in all of them: one-shot pruning of the MiniLM teacher to 70% costs 17-23 points
when only query/key are pruned and 2-8 for the others (benchmarks/README.md). `kernel_targets`
keeps the named kernels at their own targets and prunes the others harder, so that every encoder
layer, and so the encoder, still has `target` zeros: the same compression of the encoder's
linear weights, spent elsewhere. Every kernel follows the same schedule, scaled to its target.
"""

import numpy as np

from tf_sparsebert.models.encoder import PRUNABLE_KERNELS


def kernel_targets(sizes, target, overrides):
  """The final sparsity of each kernel: `overrides` for the named ones, one shared value for the rest.

  Args:
    sizes: the number of weights of each of the six kernels, in `PRUNABLE_KERNELS` order.
    target: the sparsity of all six together, in (0, 1).
    overrides: `{kernel_name: sparsity}` for some of `PRUNABLE_KERNELS`.

  Returns:
    Six sparsities in `PRUNABLE_KERNELS` order whose size-weighted mean is `target`.

  Raises:
    ValueError: naming `--kernel_sparsity`, for an unknown kernel, a value outside [0, 1), all six
      kernels named, or a split that would need the other kernels outside [0, 1).
  """
  unknown = sorted(set(overrides) - set(PRUNABLE_KERNELS))
  if unknown:
    raise ValueError(f"--kernel_sparsity: unknown kernel(s) {unknown}; choose from "
                     f"{list(PRUNABLE_KERNELS)}")
  for name, value in overrides.items():
    if not 0.0 <= value < 1.0:
      raise ValueError(f"--kernel_sparsity: {name}={value} must be in [0, 1)")
  if len(overrides) == len(PRUNABLE_KERNELS):
    raise ValueError("--kernel_sparsity: name at most five of the six kernels; the others are "
                     "pruned to whatever keeps the overall sparsity at the target")
  if not 0.0 < target < 1.0:
    raise ValueError(f"--kernel_sparsity needs a target sparsity in (0, 1), got {target}")
  named = sum(size * overrides[name] for name, size in zip(PRUNABLE_KERNELS, sizes)
              if name in overrides)
  rest_size = sum(size for name, size in zip(PRUNABLE_KERNELS, sizes) if name not in overrides)
  rest = (target * sum(sizes) - named) / rest_size
  if not 0.0 <= rest < 1.0:
    raise ValueError(f"--kernel_sparsity: {overrides} would leave the other kernels at sparsity "
                     f"{rest:.4f} to reach {target} overall; it must be in [0, 1)")
  return [overrides.get(name, rest) for name in PRUNABLE_KERNELS]


def layer_kernel_targets(layer, target, overrides):
  """`kernel_targets` for the six kernels of a built `PrunableTransformerEncoder`."""
  sizes = [int(np.prod(w.shape)) for w in layer.get_prunable_weights()]
  return kernel_targets(sizes, target, overrides)
