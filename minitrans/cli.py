"""The `minitrans` command.

    minitrans tour [--quick] [--model FOLDER] [--squad FILE]   the main demo: pre-train, fine-tune, answer
    minitrans lesson list                     the step-through lessons
    minitrans lesson 01 [--quick]             run lesson 01 (arguments pass through)
    minitrans exercise list                   the unit-test exercises
    minitrans exercise start NAME [--dir D]   write your copy of an exercise, solution stubbed
    minitrans exercise check NAME [--dir D]   grade your copy, check by check
    minitrans exercise hint NAME              a hint
    minitrans pretrain bert [--corpus FILE] [--config mini] [--minutes M | --steps N] ...
    minitrans pretrain t5 [--corpus FILE] [--config mini] [--vocab spiece.model] [--minutes M | --steps N] ...
    minitrans qa train --model FOLDER --train FILE [--eval FILE] --out DIR [--minutes M] [--steps N] [--scratch]
    minitrans qa eval --model DIR --eval FILE [--version-2]
    minitrans qa predict --model DIR --input FILE --output predictions.json
    minitrans qa ask --model DIR --context TEXT --question TEXT
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path


def lessons_dir() -> Path:
    """The lessons/ folder of the source checkout (the library itself never imports lessons)."""
    folder = Path(os.environ.get("MINITRANS_LESSONS", Path(__file__).resolve().parents[1] / "lessons"))
    if not folder.is_dir():
        raise SystemExit(f"no lessons folder at {folder}: lessons ship with the source checkout; "
                         "set MINITRANS_LESSONS to its lessons/ folder")
    return folder


def lesson_files() -> dict[str, Path]:
    return {path.name.split("_")[0]: path for path in sorted(lessons_dir().glob("[0-9][0-9]_*.py"))}


def cmd_lesson(args, rest: list[str]) -> int:
    lessons = lesson_files()
    if args.number == "list":
        for number, path in lessons.items():
            print(f"{number}  {path.stem[3:].replace('_', ' ')}   ({path})")
        return 0
    number = args.number.zfill(2)
    if number not in lessons:
        raise SystemExit(f"no lesson {args.number!r}; expected one of {', '.join(lessons)} "
                         "(`minitrans lesson list`)")
    return subprocess.call([sys.executable, str(lessons[number]), *rest])


def cmd_exercise(args) -> int:
    from minitrans import exercises

    exercises.load_all()
    if args.action == "list":
        width = max(len(name) for name in exercises.EXERCISES)
        for name, ex in exercises.EXERCISES.items():
            print(f"{name:<{width}}  {ex.topic}  ({len(ex.checks)} checks; reference: "
                  f"{ex.module}.{ex.object_name})")
        return 0
    if not args.name:
        raise SystemExit(f"`minitrans exercise {args.action}` needs an exercise NAME; "
                         f"one of: {', '.join(exercises.EXERCISES)}")
    try:
        ex = exercises.get(args.name)
    except KeyError as error:
        raise SystemExit(error.args[0])
    if args.action == "hint":
        print(f"Hint for {ex.name}:\n{ex.hint}")
        return 0
    if args.action == "start":
        try:
            path = exercises.start(ex.name, args.dir, force=args.force)
        except FileExistsError as error:
            raise SystemExit(str(error))
        print(f"Wrote {path}. Fill in the parts marked YOUR CODE HERE, then run:\n"
              f"  minitrans exercise check {ex.name} --dir {args.dir}")
        return 0
    results, text = exercises.check(ex.name, args.dir)
    print(text)
    return 0 if all(r.passed for r in results) else 1




def cmd_pretrain_t5(args, corpus: Path) -> int:
    from minitrans.datasets import shared
    from minitrans.datasets.corpus import read_corpus
    from minitrans.models.t5 import T5Config
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    from minitrans.training.pretraining import pretrain_t5

    presets = {"tiny": T5Config.tiny, "mini": T5Config.mini, "small": T5Config.small, "base": T5Config.base}
    if args.config not in presets:
        raise SystemExit(f"--config must be one of {', '.join(presets)} for T5, got {args.config!r}")
    spiece = Path(args.vocab) if args.vocab else shared("t5/spiece.model")
    if spiece is not None:
        tokenizer = T5Tokenizer.from_file(spiece)
    else:
        print(f"no --vocab and no ../shared/data/t5/spiece.model: training a SentencePiece model of "
              f"{args.vocab_size:,} on {corpus} ...", flush=True)
        tokenizer = T5Tokenizer.train([" ".join(d) for d in read_corpus(corpus, args.max_chars)], args.vocab_size)
    pretrain_t5(corpus, presets[args.config](), tokenizer, steps=args.steps, minutes=args.minutes,
                batch_size=args.batch_size, input_length=args.max_length, target_length=args.target_length,
                learning_rate=args.lr, warmup_steps=args.warmup, eval_every=args.eval_every, seed=args.seed,
                out_dir=args.out, max_chars=args.max_chars, log=lambda line: print(line, flush=True))
    return 0


def cmd_pretrain(args) -> int:
    import gzip

    from minitrans.datasets import bundled
    from minitrans.models.bert import BertConfig
    from minitrans.tokenizers import WordPieceTokenizer
    from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab
    from minitrans.training.pretraining import pretrain_bert

    corpus = Path(args.corpus) if args.corpus else bundled("facts_corpus.txt")
    if not corpus.exists():
        raise SystemExit(f"corpus {corpus} does not exist")
    if args.steps is None and args.minutes is None:
        args.steps = 300
    if args.model == "t5":
        return cmd_pretrain_t5(args, corpus)
    presets = {"tiny": BertConfig.tiny, "mini": BertConfig.mini, "base": BertConfig.base}
    if args.config in presets:
        config = presets[args.config]()
    elif Path(args.config).is_file():
        config = BertConfig.from_json_file(args.config)
    else:
        raise SystemExit(f"--config must be one of {', '.join(presets)} or a config.json file, got {args.config!r}")
    if args.vocab:
        vocab = Path(args.vocab)
        tokenizer = WordPieceTokenizer.from_pretrained(vocab) if vocab.is_dir() else WordPieceTokenizer.from_vocab_file(vocab)
    else:
        if corpus.is_dir() or ".json" in corpus.suffixes:
            raise SystemExit("learning a vocabulary reads one text file: pass --vocab with a folder or SQuAD corpus")
        opener = gzip.open if corpus.suffix == ".gz" else open
        with opener(corpus, "rt", encoding="utf-8", errors="replace") as f:
            text = f.read(args.max_chars) if args.max_chars else f.read()
        print(f"learning a WordPiece vocabulary of up to {args.vocab_size:,} tokens from {corpus} ...")
        tokenizer = WordPieceTokenizer(learn_wordpiece_vocab(text.splitlines(), args.vocab_size))
    def log(line: str) -> None:
        print(line, flush=True)

    pretrain_bert(corpus, config, tokenizer, log=log, steps=args.steps, minutes=args.minutes, batch_size=args.batch_size,
                  max_length=args.max_length, learning_rate=args.lr, warmup_steps=args.warmup,
                  eval_every=args.eval_every, seed=args.seed, out_dir=args.out, max_chars=args.max_chars)
    return 0


def cmd_qa(args) -> int:
    import json
    import time

    from minitrans.datasets.squad import load_squad
    from minitrans.qa import squad as qa

    started = time.perf_counter()
    if not args.model:
        raise SystemExit("`minitrans qa` needs --model FOLDER (a BERT checkpoint: config.json, model.safetensors, vocab.txt)")
    model, tokenizer = qa.load_qa_model(args.model, scratch=args.scratch, seed=args.seed, dropout=args.dropout)
    if args.action == "train":
        if not args.train or not args.out:
            raise SystemExit("`minitrans qa train` needs --train FILE (SQuAD JSON) and --out DIR")
        model = qa.train_squad(model, tokenizer, args.train, args.out, steps=args.steps, minutes=args.minutes,
                               epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                               warmup_steps=args.warmup, max_length=args.max_length, stride=args.stride,
                               limit=args.limit, seed=args.seed, started=started)
    if args.action in ("train", "eval") and args.eval:
        scores = qa.evaluate_squad(model, tokenizer, args.eval, args.out, version_2=args.version_2,
                                   max_length=args.max_length, stride=args.stride, limit=args.eval_limit)
        print(json.dumps(scores, indent=1))
    elif args.action == "eval":
        raise SystemExit("`minitrans qa eval` needs --eval FILE (SQuAD JSON)")
    if args.action == "predict":
        if not args.input or not args.output:
            raise SystemExit("`minitrans qa predict` needs --input FILE (SQuAD JSON) and --output FILE")
        predictions, differences = qa.predict_squad(model, tokenizer, load_squad(args.input),
                                                    version_2=args.version_2, max_length=args.max_length,
                                                    stride=args.stride)
        Path(args.output).write_text(json.dumps(predictions, indent=1, ensure_ascii=False))
        print(f"wrote {len(predictions):,} answers to {args.output}")
    if args.action == "ask":
        if args.question is None or args.context is None:
            raise SystemExit("`minitrans qa ask` needs --question TEXT and --context TEXT")
        qa.ask(model, tokenizer, args.question, args.context, version_2=args.version_2)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minitrans", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    lesson = commands.add_parser("lesson", help="run a step-through lesson")
    lesson.add_argument("number", help="a lesson number such as 01, or 'list'")

    exercise = commands.add_parser("exercise", help="unit-test exercises")
    exercise.add_argument("action", choices=["list", "start", "check", "hint"])
    exercise.add_argument("name", nargs="?")
    exercise.add_argument("--dir", default="exercises", help="folder of your copies (default: exercises)")
    exercise.add_argument("--force", action="store_true", help="start: overwrite an existing copy")

    pretrain = commands.add_parser("pretrain", help="pre-train a model from scratch on a text corpus")
    pretrain.add_argument("model", choices=["bert", "t5"])
    pretrain.add_argument("--corpus", help="a text file, .gz, or a folder of them (default: data/facts_corpus.txt)")
    pretrain.add_argument("--config", default="mini", help="tiny, mini, base (BERT: or a config.json; T5: or small)")
    pretrain.add_argument("--vocab", help="BERT: vocab.txt or a folder holding one; T5: a spiece.model "
                          "(default: learn one from the corpus; T5 uses ../shared/data/t5/spiece.model if present)")
    pretrain.add_argument("--vocab-size", type=int, default=8000, help="when learning the vocabulary")
    pretrain.add_argument("--target-length", type=int, default=32, help="T5: span-corruption target length")
    pretrain.add_argument("--steps", type=int, help="training steps (default 300 unless --minutes)")
    pretrain.add_argument("--minutes", type=float, help="stop after this many minutes of wall clock")
    pretrain.add_argument("--batch-size", type=int, default=32)
    pretrain.add_argument("--max-length", type=int, default=128, help="sequence (T5: input) length")
    pretrain.add_argument("--lr", type=float, default=1e-4)
    pretrain.add_argument("--warmup", type=int, default=100)
    pretrain.add_argument("--eval-every", type=int, default=50)
    pretrain.add_argument("--max-chars", type=int, help="read only the first N characters of the corpus")
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.add_argument("--out", help="folder to save the model, vocabulary and history")

    tour = commands.add_parser("tour", help="the main demo: pre-train, fine-tune for QA, answer questions")
    tour.add_argument("--quick", action="store_true", help="a one-minute version")
    tour.add_argument("--model", help="a BERT checkpoint folder to fine-tune (default: all-MiniLM-L6-v2 if installed)")
    tour.add_argument("--squad", help="a SQuAD file to fine-tune on instead of data/mini_squad.json")
    tour.add_argument("--limit", type=int, help="with --squad: its first N questions")
    tour.add_argument("--steps", type=int, help="fine-tuning steps (default 250)")
    tour.add_argument("--out", default="outputs/tour")

    qa = commands.add_parser("qa", help="extractive question answering with BERT (SQuAD)")
    qa.add_argument("action", choices=["train", "eval", "predict", "ask"])
    qa.add_argument("--model", help="a BERT checkpoint folder (config.json, model.safetensors, vocab.txt)")
    qa.add_argument("--scratch", action="store_true", help="random weights with the checkpoint's config and vocabulary")
    qa.add_argument("--train", help="SQuAD JSON (.json or .json.gz) to fine-tune on")
    qa.add_argument("--eval", help="SQuAD JSON to score with the official metric")
    qa.add_argument("--input", help="predict: SQuAD JSON whose questions to answer")
    qa.add_argument("--output", help="predict: where to write {id: answer}")
    qa.add_argument("--question")
    qa.add_argument("--context")
    qa.add_argument("--out", help="train: folder for the fine-tuned model, logs and curves; eval: for predictions")
    qa.add_argument("--version-2", action="store_true", help="SQuAD 2.0: predict no answer when [CLS] wins")
    qa.add_argument("--minutes", type=float, help="train: wall-clock budget, tokenisation included")
    qa.add_argument("--steps", type=int, help="train: optimisation steps (the learning rate decays to 0 there)")
    qa.add_argument("--epochs", type=int, default=1)
    qa.add_argument("--batch-size", type=int, default=32)
    qa.add_argument("--lr", type=float, default=1e-4)
    qa.add_argument("--warmup", type=int, default=100)
    qa.add_argument("--max-length", type=int, default=384)
    qa.add_argument("--stride", type=int, default=128)
    qa.add_argument("--limit", type=int, help="train: use only the first N questions")
    qa.add_argument("--eval-limit", type=int, help="eval: score only the first N questions")
    qa.add_argument("--seed", type=int, default=0)
    qa.add_argument("--dropout", type=float, help="train: replace the checkpoint's dropout rates (e.g. 0)")

    args, rest = parser.parse_known_args(argv)
    try:
        return run(parser, args, rest)
    except (ValueError, OSError, KeyError) as error:  # the library's errors say what was expected
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise SystemExit(f"minitrans {args.command}: {message}") from error


def run(parser, args, rest) -> int:
    if args.command == "lesson":
        return cmd_lesson(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "pretrain":
        return cmd_pretrain(args)
    if args.command == "qa":
        return cmd_qa(args)
    if args.command == "tour":
        from minitrans.tour import tour
        tour(args.out, model=args.model, squad=args.squad, quick=args.quick, steps=args.steps, limit=args.limit)
        return 0
    return cmd_exercise(args)


if __name__ == "__main__":
    sys.exit(main())
