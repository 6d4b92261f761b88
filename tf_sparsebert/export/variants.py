"""Export variants: what a name such as `compact_sparse_int8` asks of the converter, parsed once."""

import dataclasses

# The four files a run exports by default: the sparse pair for size, the dense pair as references.
VARIANTS = ("sparse_fp32", "sparse_int8", "dense_fp32", "dense_int8")
# Every variant: `[compact_]{sparse,dense}_{fp32,int8,int8_per_tensor}`. `compact_` first removes
# the FFN neurons pruning emptied (tf_sparsebert.pruning.compact); `int8_per_tensor` quantizes
# each weight matrix with one scale instead of one per output channel, which XNNPACK computes
# correctly for sparse weights (its per-channel sparse int8 path is wrong).
ALL_VARIANTS = tuple(f"{c}{s}_{q}" for c in ("", "compact_") for s in ("sparse", "dense")
                     for q in ("fp32", "int8", "int8_per_tensor"))
COMPACT_VARIANTS = tuple(v for v in ALL_VARIANTS if v.startswith("compact_"))
# A student with heads or neurons pruned whole also gets its compacted files: dense int8 for speed
# (smaller matrices on XNNPACK), sparse int8 for size.
STRUCTURED_VARIANTS = ("compact_dense_int8", "compact_sparse_int8")


def default_variants(head_sparsity=0.0, neuron_sparsity=0.0):
  """The variants an export writes unless told otherwise, for a student pruned so."""
  return VARIANTS + (STRUCTURED_VARIANTS if head_sparsity or neuron_sparsity else ())
# The block shapes (of Keras' [in, out] kernels) whose sparse weights LiteRT's builtin
# FULLY_CONNECTED kernels read directly: fp32 reads 1x4 and 1x16 blocks of [out, in], int8 only
# 1x16. Any other pattern is rebuilt dense by a DENSIFY op when the model loads.
_READ_DIRECTLY = {False: ((4, 1), (16, 1)), True: ((16, 1),)}


@dataclasses.dataclass(frozen=True)
class Variant:
  """One export variant, parsed from its name (`Variant.parse("compact_sparse_int8")`)."""
  name: str
  compact: bool
  sparse: bool
  int8: bool
  per_tensor: bool

  @classmethod
  def parse(cls, name):
    if isinstance(name, Variant):
      return name
    if name not in ALL_VARIANTS:
      raise ValueError(f"--variants: unknown variant {name!r}; choose from {list(ALL_VARIANTS)}")
    return cls(name=name, compact=name.startswith("compact_"), sparse="sparse_" in name,
               int8="_int8" in name, per_tensor=name.endswith("_per_tensor"))

  @property
  def uncompacted(self):
    """The same variant without `compact_` (what the converter does to the compacted model)."""
    return Variant.parse(self.name.removeprefix("compact_"))

  def sparse_weights_note(self, block_size):
    """What the sparse weights of a student pruned in `block_size` blocks buy in this variant
    (None for dense variants)."""
    if not self.sparse:
      return None
    block = tuple(int(b) for b in block_size)
    if block in _READ_DIRECTLY[self.int8]:
      return (f"{block[0]}x{block[1]} blocks: LiteRT's builtin kernels read the sparse weights "
              "directly (size and, at high sparsity, speed)")
    return (f"{block[0]}x{block[1]} blocks: LiteRT rebuilds these weights dense at load (DENSIFY); "
            "this file buys size, not speed; for speed take a dense_int8 file")

  def __str__(self):
    return self.name
