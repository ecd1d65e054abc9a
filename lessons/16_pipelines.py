# %% [markdown]
# # Lesson 16: pipelines, checkpoints and model cards
#
# The course's Hugging Face week: a pipeline wraps a checkpoint in three stages,
#
#     preprocess   text -> token ids (the tokenizer)
#     forward      ids -> scores (the model, a batch at a time)
#     postprocess  scores -> an answer people can read (labels, words, spans)
#
# and a checkpoint is only as good as the task it was trained for. Here, on the real
# all-MiniLM-L6-v2 (a sentence-embedding BERT):
#
# 1. feature extraction, stage by stage,
# 2. what the same checkpoint does on tasks it was never trained for (fill-mask, question answering),
# 3. saving a checkpoint with its model card.
# `python lessons/16_pipelines.py` (--quick: the same, it is small).

# %%
import numpy as np

import minitrans
from minitrans.checkpoints import minilm_folder, read_model_card
from minitrans.embeddings import mean_pooling, normalize
from minitrans.models import task_class
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary

args = lesson_args("Lesson 16: pipelines")
out = output_dir(args, "16_pipelines")
folder = minilm_folder(required=True)

# %% [markdown]
# ## Step 1: feature extraction, one stage at a time
# `preprocess` turns each text into ids; `collate` pads a batch and marks the real tokens;
# `forward` runs the encoder; `postprocess` hands back one vector per token. Averaging the
# real tokens' vectors (what all-MiniLM-L6-v2 was trained for) gives sentence vectors whose
# dot products say which sentences mean alike. `forward` calls the model through
# `minitrans.kernels.compiled_call`: the whole forward pass compiled as one XLA program per batch
# shape, where calling `model(...)` directly would compile each operation on its own, a few times
# slower the first time a shape is seen.

# %%
step("Step 1: feature extraction, stage by stage")
extract = minitrans.pipeline("feature-extraction", model=folder)
sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]
rows = [extract.preprocess(s) for s in sentences]
print("preprocess:", [extract.tokenizer.id_to_token[int(i)] for i in rows[0]["input_ids"]])
batch = extract.collate(rows)
print("collate:   ", {name: value.shape for name, value in batch.items()})
outputs = extract.forward(batch)
print("forward:    hidden states", outputs["hidden"].shape, "(batch, tokens, hidden)")
vectors = np.asarray(normalize(mean_pooling(outputs["hidden"], batch["attention_mask"])))
similarity = vectors @ vectors.T
for i, s in enumerate(sentences):
    print(f"  {s:<40} " + "  ".join(f"{x:5.2f}" for x in similarity[i]))
print("postprocess: one input gives", np.array(extract.postprocess(extract.row(outputs, 0))).shape)

# %% [markdown]
# ## Step 2: not every checkpoint suits your task
# all-MiniLM-L6-v2 has no masked-LM head and no question-answering head: loading it for those
# tasks starts their heads from random numbers (the loader names them). The pipelines run,
# and their answers are noise. A task needs a checkpoint fine-tuned for it (lessons 12-14).

# %%
step("Step 2: the same checkpoint on tasks it was not trained for")
masked_lm = task_class("bert", "masked-lm").from_pretrained(folder)  # prints the tensors it had to start new
fill = minitrans.pipeline("fill-mask", masked_lm, extract.tokenizer)
for guess in fill("Paris is the [MASK] of France.", top_k=3):
    print(f"  fill-mask: {guess['token_str']:<12} {guess['score']:.4f}")
answer = minitrans.pipeline("question-answering", model=folder)
context = "The Normans gave their name to Normandy, a region in France. Rollo was their first ruler."
print("  question-answering:", answer(question="Who was the first ruler of Normandy?", context=context))
scores = [g["score"] for g in fill("The cat sat on the [MASK].", top_k=50)]
save_curves({"fill-mask probabilities, untrained head": scores}, out / "untrained_head.png",
            "A checkpoint without the task's head: flat, meaningless scores", xlabel="rank")

# %% [markdown]
# ## Step 3: a checkpoint and its model card
# `save_pretrained` writes the weights (Hugging Face's names: transformers loads them), the
# configuration, and a model card saying what the model is, how it was trained, on what, and
# what it scored. Trainer checkpoints and `minitrans qa train` fill the card in.

# %%
step("Step 3: save a checkpoint with its card")
model = extract.model
model.save_pretrained(out / "minilm_copy", card={"training": {"source": "all-MiniLM-L6-v2, unchanged"},
                                                 "data": "none: a copy of the published weights",
                                                 "figures": {"cosine(guitar, instrument)": round(float(similarity[0, 1]), 3)}})
print(read_model_card(out / "minilm_copy"))

# %% [markdown]
# ## What you should see
# A real checkpoint and no training: the same figures in the quick and the full run (seed 0).

# %%
expect("cosine(guitar, instrument)", similarity[0, 1], full=Expect(0.667, at_least=0.66, at_most=0.675),
       quick=Expect(0.667, at_least=0.66, at_most=0.675))
unrelated = Expect(-0.054, at_least=-0.07, at_most=-0.04)
expect("cosine(guitar, stock market)", similarity[0, 2], full=unrelated, quick=unrelated)
flat = Expect(0.0022, at_most=0.01)  # 30,522 words: a uniform guess gives each 0.00003
expect("fill-mask with an untrained head: the best guess's probability", scores[0], full=flat, quick=flat)
summary("a pipeline is four stages (preprocess, collate, forward, postprocess) around any checkpoint; a head the "
        "checkpoint never trained gives flat, meaningless scores, and a saved model carries its card",
        [])
