"""MediaPipe Tasks TextClassifier side of an export (run with a mediapipe venv's python).

MediaPipe pins numpy<2 and protobuf<5, which TensorFlow 2.21 cannot share, so this script runs
in its own small venv (`make .venv-mediapipe`) and imports nothing else from this project.

  python tflite/mediapipe_task.py write --model=sparse_fp32.tflite --vocab_file=vocab.txt \
      --labels=0,1 --output=sparse_fp32.mediapipe.tflite
  python tflite/mediapipe_task.py classify --model=sparse_fp32.mediapipe.tflite \
      --sentences_json=in.json --output_json=scores.json

`write` adds the metadata MediaPipe's BERT text classifier needs (WordPiece vocab and labels
embedded, input tensors mapped to ids/mask/segment_ids). `classify` runs the model with
`mediapipe.tasks.python.text.TextClassifier` (the C++ task that Android apps run through
`com.google.mediapipe:tasks-text`) and writes each sentence's scores in label order.
"""

import argparse
import json

# Tensor names the TFLite converter gives our signature's inputs (tflite/README.md).
IDS = "serving_default_input_word_ids:0"
MASK = "serving_default_input_mask:0"
SEGMENTS = "serving_default_input_type_ids:0"


def write(model, vocab_file, labels, output):
  from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, text_classifier
  with open(model, "rb") as f:
    buffer = f.read()
  writer = text_classifier.MetadataWriter.create_for_bert_model(
      buffer, tokenizer=metadata_writer.BertTokenizer(vocab_file_path=vocab_file),
      labels=metadata_writer.Labels().add(labels), ids_name=IDS, mask_name=MASK,
      segment_name=SEGMENTS)
  content, _ = writer.populate()
  with open(output, "wb") as f:
    f.write(content)


def classify(model, sentences, labels):
  from mediapipe.tasks.python import text
  from mediapipe.tasks.python.core import base_options
  options = text.TextClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=model),
                                       max_results=-1)
  rows = []
  with text.TextClassifier.create_from_options(options) as classifier:
    for sentence in sentences:
      categories = classifier.classify(sentence).classifications[0].categories
      scores = {c.category_name: c.score for c in categories}
      rows.append([scores[label] for label in labels])
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  w = sub.add_parser("write")
  w.add_argument("--model", required=True)
  w.add_argument("--vocab_file", required=True)
  w.add_argument("--labels", required=True)
  w.add_argument("--output", required=True)
  c = sub.add_parser("classify")
  c.add_argument("--model", required=True)
  c.add_argument("--sentences_json", required=True, help="JSON list of sentences")
  c.add_argument("--labels", required=True)
  c.add_argument("--output_json", required=True)
  args = parser.parse_args()
  if args.command == "write":
    write(args.model, args.vocab_file, args.labels.split(","), args.output)
  else:
    with open(args.sentences_json, encoding="utf-8") as f:
      sentences = json.load(f)
    with open(args.output_json, "w") as f:
      json.dump(classify(args.model, sentences, args.labels.split(",")), f)


if __name__ == "__main__":
  main()
