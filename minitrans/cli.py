"""The `minitrans` command.

    minitrans lesson list                     the step-through lessons
    minitrans lesson 01 [--quick]             run lesson 01 (arguments pass through)
    minitrans exercise list                   the unit-test exercises
    minitrans exercise start NAME [--dir D]   write your copy of an exercise, solution stubbed
    minitrans exercise check NAME [--dir D]   grade your copy, check by check
    minitrans exercise hint NAME              a hint
    minitrans pretrain bert [--corpus FILE] [--config mini] [--minutes M | --steps N] ...
    minitrans pretrain t5 [--corpus FILE] [--config mini] [--vocab spiece.model] [--minutes M | --steps N] ...
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
    from minitrans.pretraining.t5 import pretrain_t5
    from minitrans.tokenizers.sentencepiece import T5Tokenizer

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

    from minitrans.models.bert import BertConfig
    from minitrans.pretraining.bert import pretrain_bert
    from minitrans.tokenizers import WordPieceTokenizer
    from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab

    from minitrans.datasets import bundled

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

    args, rest = parser.parse_known_args(argv)
    if args.command == "lesson":
        return cmd_lesson(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "pretrain":
        return cmd_pretrain(args)
    return cmd_exercise(args)


if __name__ == "__main__":
    sys.exit(main())
