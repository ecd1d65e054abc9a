"""The experiment behind context-based versus closed-book question answering with T5:

    context-based:  "question: What is the capital of Lodorwen? context: ... is Torkaom ..."  ->  "Torkaom"
    closed-book:    "question: What is the capital of Lodorwen?"                              ->  "Torkaom"

Context-based QA reads the answer off the context; closed-book QA must have stored the fact in
its parameters during pre-training (Roberts et al., 2020, "How much knowledge can you pack
into the parameters of a language model?"). `qa_experiment` shows the contrast on the
project's synthetic encyclopedia: T5 is pre-trained by span corruption on the descriptions
of all 120 countries, fine-tuned on questions about 100 of them (the context-based reader
also on thousands of made-up countries, as copying is what it must learn), and scored (SQuAD
EM/F1) on questions about the other 20, whose facts it saw only in pre-training.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets import bundled
from minitrans.datasets import text_to_text as t2t
from minitrans.datasets.corpus import read_corpus, split_documents
from minitrans.datasets.span_corruption import make_span_batch, pack_rows, raw_length_for
from minitrans.datasets.streaming import pad_rows
from minitrans.datasets.synthetic import QUESTION_FACTS, describe_facts, make_countries, questions
from minitrans.experiments import lineage
from minitrans.losses import IGNORE
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
from minitrans.qa.text_to_text import encode_pairs, score, source_length_for
from minitrans.tokenizers.sentencepiece import T5Tokenizer
from minitrans.training.pretraining import pretrain_t5

SPAN_INPUT, SPAN_TARGET = 64, 16  # span-corruption rows: pre-training and rehearsal alike


def facts_tokenizer(vocab_size: int = 400, max_piece_length: int = 4, model_prefix=None) -> T5Tokenizer:
    """A SentencePiece vocabulary learned from data/facts_corpus.txt whose pieces are at most
    `max_piece_length` characters and whose numbers are spelt digit by digit: every made-up
    name is spelt from syllable pieces ("Garfendor" -> "▁Gar" "fen" "dor"), every year from
    digits.

    With longer pieces the unigram model gives each frequent name of the corpus a piece of its
    own (and each year too), and the held-out countries' answers become tokens the reader has
    never written: it learns to copy the syllables of its fine-tuning countries and cannot
    copy "▁Garfendor"."""
    lines = bundled("facts_corpus.txt").read_text().splitlines()
    return T5Tokenizer.train(lines, vocab_size=vocab_size, model_prefix=model_prefix,
                             max_piece_length=max_piece_length, split_digits=True)


def facts_t5_config(tokenizer, num_layers: int = 2) -> T5Config:
    """The experiment's small T5: d_model 128, 2 + 2 layers of 4 heads of 32, d_ff 512, no
    dropout (970,368 parameters with `facts_tokenizer`'s 399 ids). The lessons' quick mode
    takes 1 + 1 layers: half the program to compile."""
    return T5Config(vocab_size=tokenizer.vocab_size, d_model=128, d_kv=32, d_ff=512, num_layers=num_layers,
                    num_heads=4, dropout_rate=0.0)


def qa_pairs(countries, closed_book: bool, rng: np.random.Generator,
             context_sentences: int | None = None) -> list[tuple[str, str, str]]:
    """(id, source text, answer) for every question about `countries`. The context is the
    country's whole description, or with `context_sentences` a passage of that many of its
    sentences in their order: the one that states the answer and others picked at random."""
    pairs = []
    for c in countries:
        facts = describe_facts(c, rng)
        sentences = [sentence for _, sentence in facts]
        for j, (question, answer) in enumerate(questions(c)):
            if closed_book:
                source = t2t.closed_book(question)
            else:
                chosen = range(len(sentences))
                if context_sentences:
                    stating = [fact for fact, _ in facts].index(QUESTION_FACTS[j])
                    others = [i for i in range(len(sentences)) if i != stating]
                    chosen = sorted([stating, *rng.choice(others, context_sentences - 1, replace=False)])
                source = t2t.question_answering(question, " ".join(sentences[i] for i in chosen))
            pairs.append((f"{c.name}-{j}", source, answer))
    return pairs


def corpus_rows(tokenizer, input_length: int = SPAN_INPUT, target_length: int = SPAN_TARGET) -> np.ndarray:
    """The pre-training documents of data/facts_corpus.txt (those `pretrain_t5` trains on, not
    its held-out ones) as rows for span corruption, for `fine_tune(..., rehearse=rows)`."""
    documents, _ = split_documents(read_corpus(bundled("facts_corpus.txt")))
    return pack_rows([" ".join(d) for d in documents], tokenizer, raw_length_for(input_length, target_length))


def stack_batches(a: dict, b: dict) -> dict:
    """Rows of two text-to-text batches in one: inputs padded with 0, labels with IGNORE."""
    out = {}
    for key, fill in (("input_ids", 0), ("labels", IGNORE)):
        width = max(a[key].shape[1], b[key].shape[1])
        out[key] = np.concatenate([pad_rows(list(x[key]), width, fill) for x in (a, b)])
    return out


def qa_batch(pairs, tokenizer, source_length: int, rng: np.random.Generator, batch_size: int = 32,
             rehearse: np.ndarray | None = None, rehearse_share: float = 0.5) -> dict:
    """A batch of randomly drawn (id, source, answer) pairs; with `rehearse` (`corpus_rows`),
    `rehearse_share` of its rows are span corruption of the pre-training corpus instead."""
    span_rows = 0 if rehearse is None else int(round(batch_size * rehearse_share))
    batch = encode_pairs([pairs[j] for j in rng.integers(len(pairs), size=batch_size - span_rows)],
                         tokenizer, source_length)
    if span_rows:
        span = make_span_batch(rehearse[rng.integers(len(rehearse), size=span_rows)], tokenizer, rng,
                               input_length=SPAN_INPUT, target_length=SPAN_TARGET)
        batch = stack_batches(batch, span)
    return batch


def fine_tune(model, pairs, tokenizer, steps: int, source_length: int, rng: np.random.Generator,
              learning_rate: float = 1e-3, batch_size: int = 32, rehearse: np.ndarray | None = None,
              rehearse_share: float = 0.5):
    """Fine-tune on (id, source, answer) pairs. With `rehearse` (`corpus_rows`), part of every
    batch is span corruption of the pre-training corpus: the model keeps rehearsing the facts
    while it learns to answer questions, as T5 mixes its unsupervised objective into
    multi-task training (Raffel et al., 2020, section 3.5.2). Fine-tuned on 800 questions
    alone, a model learns their answers by heart (training loss near 0)."""
    return lineage.fit(model, lineage.t5_loss,
                       lambda i: qa_batch(pairs, tokenizer, source_length, rng, batch_size, rehearse, rehearse_share),
                       steps, learning_rate=learning_rate, log_every=max(1, steps // 4))


def extra_countries(known, n: int, seed: int):
    """`n` more made-up countries, none named like a country in `known`.

    A context-based reader learns to copy from many contexts and needs no facts of its own, so
    its training questions may be about any countries. Fine-tuned on the 100 countries alone,
    it learns their 100 capitals by heart instead of learning to read them off the context."""
    names = {c.name for c in known}
    fresh = [c for c in make_countries(n + len(names) + 200, seed=seed) if c.name not in names]
    if len(fresh) < n:
        raise ValueError(f"could make only {len(fresh)} new country names, {n} asked")
    return fresh[:n]


def qa_experiment(tokenizer, config: T5Config, pretrain_steps: int, finetune_steps: int, seed: int = 0,
                  learning_rate: float = 1e-3, context_sentences: int | None = 3, rehearse_share: float = 0.5,
                  reader_countries: int = 5000, log=print) -> dict:
    """Pre-train on the encyclopedia, fine-tune context-based and closed-book QA, score both on
    held-out countries; closed-book also without pre-training, to show where its facts came from.
    The pre-trained closed-book model rehearses the corpus while it learns the questions
    (`rehearse_share` of each batch; 0 fine-tunes on the questions alone). The context-based
    reader is fine-tuned on questions about `reader_countries` countries (the 100 and made-up
    ones): so many that it cannot learn their answers by heart and must read them."""
    rng = np.random.default_rng(seed)
    countries = make_countries(120, seed=0)  # the countries of data/facts_corpus.txt
    train_countries, test_countries = countries[:100], countries[100:]
    readers_countries = train_countries + extra_countries(countries, reader_countries - len(train_countries), seed + 1)
    results, started = {}, time.perf_counter()
    log(f"pre-training T5 ({pretrain_steps} steps of span corruption on {bundled('facts_corpus.txt').name})")
    pretrained = pretrain_t5(bundled("facts_corpus.txt"), config, tokenizer, steps=pretrain_steps, batch_size=32,
                             input_length=SPAN_INPUT, target_length=SPAN_TARGET, learning_rate=2e-3,
                             warmup_steps=max(5, pretrain_steps // 10), eval_every=max(10, pretrain_steps // 4),
                             seed=seed)["model"]
    graphdef, state = nnx.split(pretrained)
    rehearse = corpus_rows(tokenizer) if rehearse_share else None
    for name, closed_book, from_pretrained in [("context-based, pre-trained", False, True),
                                               ("closed-book, pre-trained", True, True),
                                               ("closed-book, no pre-training", True, False)]:
        fine_tuning_countries = train_countries if closed_book else readers_countries
        train = qa_pairs(fine_tuning_countries, closed_book, rng, context_sentences)
        test = qa_pairs(test_countries, closed_book, rng, context_sentences)
        source_length = source_length_for(train + test, tokenizer)
        # each run gets its own copy of the pre-trained weights (training donates its buffers)
        model = nnx.merge(graphdef, jax.tree.map(jnp.array, state)) if from_pretrained \
            else T5ForConditionalGeneration(config, rngs=nnx.Rngs(seed))
        rehearsing = rehearse if closed_book and from_pretrained else None
        log(f"\n{name}: fine-tuning on {len(train)} questions about {len(fine_tuning_countries)} countries "
            f"(inputs of {source_length} tokens)" + (f", {rehearse_share:.0%} of each batch rehearsing the corpus"
                                                     if rehearsing is not None else ""))
        model, _ = fine_tune(model, train, tokenizer, finetune_steps, source_length, rng, learning_rate,
                             rehearse=rehearsing, rehearse_share=rehearse_share)
        scores, predictions = score(model, tokenizer, test, source_length)
        examples = [(s, predictions[qid], a) for qid, s, a in test[:3]]
        results[name] = {"scores": scores, "examples": examples}
        log(f"  held-out countries ({len(test)} questions): EM {scores['exact_match']:.1f}  F1 {scores['f1']:.1f}")
        for source, got, gold in examples:
            log(f"    {source[:60]:<60} -> {got!r} (gold {gold!r})")
    results["seconds"] = time.perf_counter() - started
    return results
