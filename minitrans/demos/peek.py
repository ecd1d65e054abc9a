"""`minitrans demo peek`: why not bi-directional? (lesson 07's experiment, for a classroom)

The same GPT is trained twice on next-word prediction: under the causal mask, and fully visible
so that each position can peek at the word it must predict. The page draws the two training
curves (the peeking one falls to near zero: it copies), the held-out perplexity when the next
word is hidden, as in generation (the peeking one is lost), and samples from both.
"""

import numpy as np

from minitrans.datasets import bundled
from minitrans.demos.page import html_page, script
from minitrans.experiments.lineage import peeking_experiment
from minitrans.generation import generate

PROMPTS = ("the capital of", "the river", "people in", "the flag of")


def peek_data(seed: int = 0, steps: int = 250, samples: int = 3) -> dict:
    experiment = peeking_experiment(bundled("facts_corpus.txt"), quick=True, seed=seed, steps=steps)
    vocab, length = experiment["vocab"], experiment["length"]
    written = {}
    for name, model in experiment["models"].items():
        written[name] = []
        for i, prompt in enumerate(PROMPTS):
            ids = [vocab.bos_id] + vocab.encode(prompt)
            rows = generate(model, np.array([ids] * samples), max_new_tokens=length - len(ids), do_sample=True,
                            temperature=0.8, top_k=20, seed=seed + i)
            written[name] += [{"prompt": prompt, "text": vocab.decode(row.tolist()[len(ids):])} for row in rows]
    causal = np.tril(np.ones((6, 6), int))
    return {"curves": {name: np.round(curve, 4).tolist() for name, curve in experiment["curves"].items()},
            "perplexities": {name: round(p, 2) for name, p in experiment["perplexities"].items()},
            "samples": written, "masks": {"causal (GPT)": causal.tolist(), "bidirectional": np.ones((6, 6), int).tolist()},
            "config": str(next(iter(experiment["models"].values())).config), "seed": seed}


def build(seed: int = 0, steps: int = 250) -> str:
    data = peek_data(seed, steps)
    intro = ("Two copies of one small GPT learn to predict the next word of the same text. The first reads under the "
             "<b>causal</b> mask: each word sees only the words before it. The second is <b>bidirectional</b>: every "
             "word sees every word, including the one it must predict. Watch its loss: it learns to copy. Then hide "
             "the future, as generating text must: the copier has learned nothing it can use. This is why BERT, "
             "which reads both ways, is trained to fill in masked words instead.")
    return html_page("Why not bi-directional? Each word can peek at itself", intro, data, script("peek"), style=STYLE)


STYLE = """
.panels { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
#chart { border: 1px solid #d0d5dd; border-radius: 8px; background: #fff; }
#chart text { font-size: 12px; fill: #333; }
.legend-item { cursor: pointer; }
.legend-item.off { opacity: 0.35; }
#readout { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; min-height: 18px; }
.sample { font-family: ui-monospace, "DejaVu Sans Mono", monospace; margin: 4px 0; }
.sample .prompt { font-weight: bold; }
.masks-row { display: flex; gap: 26px; }
"""
