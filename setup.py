"""tf_sparsebert: SparseBERT knowledge-aware pruning on TensorFlow/Keras (tfmot + keras-nlp)."""
import setuptools

# The checked stack (see ../shared/STACK.md). tfmot only works with Keras 2 (tf_keras), and
# keras-nlp 0.12.1 is the last release that follows tf.keras.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "tf-keras==2.21.0",
    "tensorflow-model-optimization==0.8.1",
    "keras-nlp==0.12.1",
    "tensorflow-text==2.21.1",
    "tensorflow-datasets==4.9.10",
    "importlib_resources",  # imported by tfds 4.9.10 on Python 3.11, not declared by it
    "ai-edge-litert==2.3.0",
    "absl-py",
    "tensorboard",  # TF 2.21 no longer depends on it; Keras TensorBoard callbacks need it
    "safetensors",
    "scikit-learn",
    "scipy",
    "tokenizers",  # the on-device runner's WordPiece (sparsebert_lite imports no TensorFlow)
    "matplotlib",  # sparsity heat maps and training curves (TensorBoard images, report)
]

setuptools.setup(
    name="tf_sparsebert",
    version="0.1.0",
    description="SparseBERT: prune BERT while distilling from a fine-tuned teacher (tfmot + keras-nlp).",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["tf_sparsebert", "tf_sparsebert.*"]) + [
        "sparsebert_lite"],
    package_dir={"sparsebert_lite": "tflite/sparsebert_lite"},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "tests": ["pytest", "pytest-timeout"],
        # The HF parity benchmark: an independent BERT implementation to compare against.
        "parity": ["torch==2.13.0", "transformers"],
    },
)
