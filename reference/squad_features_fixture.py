"""Write tests/fixtures/squad_windows_hf.json.gz: Hugging Face's extractive-QA features for real
SQuAD questions, to test minitrans.qa.prepare_train_features against.

What it records: the reference tokenizer's windows (the fast tokenizer of all-MiniLM-L6-v2 from
the `tokenizers` library, truncation="only_second", max_length=384, stride=128, overflowing windows,
offsets, as transformers' run_qa.py sets it up), and for each window the answer's (start, end)
token positions by the rule the SQuAD papers state, written here in our words (`answer_tokens`):
per question, a digest of every window's input_ids and the (start, end) labels. Run with the reference venv
(tokenizers installed):

    python reference/squad_features_fixture.py MINILM_FOLDER ../shared/data/squad/train-v1.1.reconstructed.json.gz
"""
import gzip
import hashlib
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer


def answer_tokens(offsets, sequence_ids, start_char: int, end_char: int) -> tuple[int, int]:
    """The first and last context token that the answer's characters [start_char, end_char)
    overlap; (0, 0), the [CLS] token, when the window's context does not hold all of them."""
    context = [i for i, sequence in enumerate(sequence_ids) if sequence == 1]
    if offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return (0, 0)
    overlapping = [i for i in context if offsets[i][0] < end_char and offsets[i][1] > start_char]
    return (overlapping[0], overlapping[-1]) if overlapping else (0, 0)


def main(folder, squad_file, out="tests/fixtures/squad_windows_hf.json.gz", n_first=1500, n_long=300):
    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    with gzip.open(squad_file, "rt") as f:
        data = json.load(f)["data"]
    qas = [(qa, p["context"]) for a in data for p in a["paragraphs"] for qa in p["qas"]]
    long_ones = [x for x in qas[n_first:] if len(x[1]) > 1800][:n_long]
    chosen = qas[:n_first] + long_ones
    tok.enable_truncation(384, stride=128, strategy="only_second")
    out_records = {}
    for qa, context in chosen:
        pair = tok.encode(qa["question"].lstrip(), context)
        answer = qa["answers"][0]
        start_char, end_char = answer["answer_start"], answer["answer_start"] + len(answer["text"])
        digest, labels = hashlib.sha1(), []
        for window in [pair] + pair.overflowing:
            digest.update(json.dumps(window.ids).encode())
            labels.append(answer_tokens(window.offsets, window.sequence_ids, start_char, end_char))
        out_records[qa["id"]] = {"digest": digest.hexdigest()[:16], "labels": labels}
    with gzip.open(out, "wt") as f:
        json.dump(out_records, f)
    print(f"wrote {out}: {len(out_records)} questions, "
          f"{sum(len(r['labels']) for r in out_records.values())} windows")


if __name__ == "__main__":
    main(*sys.argv[1:])
