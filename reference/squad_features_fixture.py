"""Write tests/fixtures/squad_windows_hf.json.gz: Hugging Face's extractive-QA features for real
SQuAD questions, to test minitrans.qa.prepare_train_features against.

What it records is what transformers' run_qa.py computes (fast tokenizer of all-MiniLM-L6-v2,
truncation="only_second", max_length=384, stride=128, overflowing windows, offsets; labels
by its prepare_train_features loop): per question, a digest of every window's input_ids and the
(start, end) labels. Run with the reference venv (tokenizers installed):

    python reference/squad_features_fixture.py MINILM_FOLDER ../shared/data/squad/train-v1.1.reconstructed.json.gz
"""
import gzip
import hashlib
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer


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
            offsets, sequence_ids = window.offsets, window.sequence_ids
            # run_qa.py's prepare_train_features labelling loop
            first = sequence_ids.index(1)
            last = len(sequence_ids) - 1
            while sequence_ids[last] != 1:
                last -= 1
            if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
                labels.append((0, 0))
                continue
            i = first
            while i < len(offsets) and offsets[i][0] <= start_char:
                i += 1
            j = last
            while offsets[j][1] >= end_char:
                j -= 1
            labels.append((i - 1, j + 1))
        out_records[qa["id"]] = {"digest": digest.hexdigest()[:16], "labels": labels}
    with gzip.open(out, "wt") as f:
        json.dump(out_records, f)
    print(f"wrote {out}: {len(out_records)} questions, "
          f"{sum(len(r['labels']) for r in out_records.values())} windows")


if __name__ == "__main__":
    main(*sys.argv[1:])
