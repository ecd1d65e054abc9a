"""`minitrans demo masking`: BERT's masked-language-model input (Devlin et al., 2019, 3.1).

Of a sentence's tokens, 15% are chosen; of those, 80% become [MASK], 10% a random token and 10%
stay as they are, and the model must give the original token at every chosen position. Each
click on the page shows another draw (made here by `minitrans.datasets.masking.mask_tokens`,
the function BERT's pre-training uses) with what a pre-trained BERT predicts at the chosen
positions, and keeps the running count of the three outcomes.
"""

import html
from pathlib import Path

import numpy as np

from minitrans.checkpoints import read_config
from minitrans.datasets.masking import mask_tokens
from minitrans.demos.page import checkpoint_name, html_page, script
from minitrans.kernels import compiled_call
from minitrans.models import load_for_task
from minitrans.pipelines import softmax_ranking
from minitrans.tokenizers import WordPieceTokenizer

SENTENCE = "The capital of Lodorwen is Torkaom. The river Fenash flows through Torkaom."
TOP = 5  # predictions shown per chosen position


def masked_lm_folder(folder, steps: int, out: Path) -> Path:
    """The checkpoint to predict with: `folder`, or a small BERT pre-trained on the bundled
    encyclopedia (the main demo's second stage) and kept in `out` for the next time."""
    if folder is not None:
        architectures = read_config(folder).get("architectures") or []
        if not any(name.endswith(("ForMaskedLM", "ForPreTraining")) for name in architectures):
            raise ValueError(f"{folder} has no masked-language-model head (its architectures: "
                             f"{', '.join(architectures) or 'none'}): the masking demo needs a checkpoint trained to "
                             "fill in masked words, such as `minitrans pretrain` writes")
        return Path(folder)
    if (out / "config.json").is_file():
        print(f"predicting with the small BERT pre-trained earlier in {out} (delete the folder to pre-train anew)")
        return out
    from minitrans.tour import pretrain_small_bert

    print(f"no --model: pre-training a small BERT on the bundled encyclopedia for {steps} steps (kept in {out})")
    return pretrain_small_bert(out.parent, steps, folder_name=out.name)


def masking_data(folder=None, text: str = SENTENCE, draws: int = 40, seed: int = 0, steps: int = 400,
                 cache: str | Path = "outputs/demos") -> dict:
    folder = masked_lm_folder(folder, steps, Path(cache) / f"masking-bert-{steps}-steps")
    model = load_for_task(folder, "masked-lm", verbose=False)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    limit = model.config.max_position_embeddings
    encoding = tokenizer.encode(text, truncation=True, max_length=limit)
    if len(tokenizer.tokenize(text)) + 2 > limit:
        import warnings

        warnings.warn(f"the text is longer than the model's {limit} positions: its first {limit} tokens are used",
                      stacklevel=2)
    ids = np.asarray(encoding.ids)
    special = [tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id]
    rng = np.random.default_rng(seed)
    rows, labels = mask_tokens(np.repeat(ids[None], draws, 0), mask_token_id=tokenizer.mask_id,
                               vocab_size=tokenizer.vocab_size, special_ids=special, rng=rng)
    logits = np.asarray(compiled_call(model, rows, np.zeros_like(rows), np.ones_like(rows)).logits)
    shown = []
    for row, label, scores in zip(rows, labels, logits):
        chosen = []
        for position in np.flatnonzero(label >= 0):
            best, p = softmax_ranking(scores[position], TOP)
            outcome = "mask" if row[position] == tokenizer.mask_id else "kept" if row[position] == ids[position] else "random"
            chosen.append({"position": int(position), "outcome": outcome, "shown": tokenizer.id_to_token[int(row[position])],
                           "predictions": [[tokenizer.id_to_token[int(t)], round(float(p[t]), 4)] for t in best]})
        shown.append(chosen)
    return {"model": checkpoint_name(folder), "tokens": encoding.tokens, "draws": shown, "seed": seed}


def build(model=None, text: str = SENTENCE, draws: int = 40, seed: int = 0, steps: int = 400) -> str:
    data = masking_data(model, text, draws, seed, steps)
    intro = ("BERT learns by filling in blanks. In each sentence, 15% of the tokens are <b>chosen</b>; of these, 80% "
             "are replaced by <span class='token mask'>[MASK]</span>, 10% by a <span class='token random'>random</span> "
             "token, and 10% are <span class='token kept'>kept</span> as they are, and the model must say the "
             "original token at every chosen position (it cannot tell which kept tokens were chosen, so it must "
             "represent every token well). Click <b>Draw again</b> for another draw; under each chosen token, what "
             f"the pre-trained model <span class='mono'>{html.escape(data['model'])}</span> predicts there.")
    return html_page("Masked language modelling: 15%, then 80 / 10 / 10", intro, data, script("masking"), style=STYLE)


STYLE = """
.token.mask { background: #f8c9c4; } .token.random { background: #fde2a7; } .token.kept { background: #c9ecc9; }
.token.chosen { outline: 2px solid #333; }
.row { margin: 10px 0; display: flex; flex-wrap: wrap; align-items: flex-start; }
.row .label { width: 120px; font-weight: 600; padding-top: 6px; }
.slot { display: inline-flex; flex-direction: column; align-items: center; margin: 2px; }
.predictions { font-size: 12px; margin-top: 4px; min-width: 90px; }
.prediction { display: flex; align-items: center; gap: 4px; margin: 1px 0; }
.prediction .bar { height: 8px; background: #1f5fbf; border-radius: 2px; }
.prediction.right { font-weight: bold; color: #176117; }
#tally { margin-top: 14px; }
"""
