"""The Trainer following a generative task with BLEU and ROUGE (`generation_metrics`): the
figures it logs equal sacrebleu's and rouge-score's on the texts the model generates."""

import numpy as np
import pytest
import sacrebleu
from conftest import shared_data
from flax import nnx
from rouge_score import rouge_scorer

from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
from minitrans.tokenizers.sentencepiece import T5Tokenizer
from minitrans.training.glue import collate_text_to_text
from minitrans.training.pretraining import span_corruption_loss
from minitrans.training.trainer import Trainer, TrainingArguments, generated_texts, generation_metrics

SOURCES = ["summarize: The cat sat on the mat all day long.", "summarize: Rain fell over the quiet town at night.",
           "summarize: The committee approved the new budget today.", "summarize: Students walked to school."]
# every reference is at most 8 tokens with its end token: every batch pads its labels to 8, one compiled step
REFERENCES = ["A cat on the mat.", "Rain fell on the town.", "The budget was approved.", "Students walked."]


@pytest.mark.slow
def test_the_trainer_logs_bleu_and_rouge_equal_to_the_reference_scorers():
    tokenizer = T5Tokenizer(shared_data("t5/spiece.model"))
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=tokenizer.vocab_size), rngs=nnx.Rngs(0))
    features = [{"input_ids": np.array(tokenizer.encode(s), np.int32), "labels": np.array(tokenizer.encode(r), np.int32)}
                for s, r in zip(SOURCES, REFERENCES)] * 4
    evaluate = generation_metrics(tokenizer, SOURCES, REFERENCES, max_new_tokens=12, batch_size=4)
    args = TrainingArguments(max_steps=24, batch_size=4, learning_rate=3e-3, eval_every=12, progress_bar=False,
                             log_every=12)
    trainer = Trainer(model, features, args=args, loss_fn=span_corruption_loss, collate=collate_text_to_text,
                      evaluate=evaluate, log=lambda line: None)
    trainer.train()
    evaluations = [r for r in trainer.history if "eval_bleu" in r]
    assert [r["step"] for r in evaluations] == [12, 24]
    last = evaluations[-1]
    texts = generated_texts(trainer.model, tokenizer, SOURCES, max_new_tokens=12, batch_size=4)
    assert any(texts)  # the model writes something after 24 steps
    assert last["eval_bleu"] == pytest.approx(sacrebleu.corpus_bleu(texts, [REFERENCES]).score, abs=1e-9)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = [scorer.score(reference, text) for text, reference in zip(texts, REFERENCES)]
    for kind in ("rouge1", "rouge2", "rougeL"):
        assert last[f"eval_{kind}"] == pytest.approx(np.mean([s[kind].fmeasure for s in scores]), abs=1e-12)


def test_generation_metrics_refuse_what_they_cannot_score():
    with pytest.raises(ValueError, match="one reference per source and at least one of each; got 2 sources and 1 references"):
        generation_metrics(None, ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="unknown generation metric"):
        generation_metrics(None, ["a"], ["a"], metrics=("meteor",))
