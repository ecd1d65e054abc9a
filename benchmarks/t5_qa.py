"""T5 question answering on the synthetic encyclopedia: context-based versus closed-book.

    python benchmarks/t5_qa.py [--pretrain-steps 3000 --finetune-steps 3000 --lr 1e-3]

A small T5 (d_model 128, 2 + 2 layers, the 399-piece vocabulary of `closed_book.facts_tokenizer`)
pre-trained by span corruption on the descriptions of all 120 countries, then fine-tuned and
scored with SQuAD's EM/F1 on the 160 questions about 20 held-out countries: "question: Q
context: C" (fine-tuned on questions about 5,000 countries, the 100 training ones and made-up
ones, each with a three-sentence passage) and closed-book "question: Q" (fine-tuned on the
800 questions about the 100, rehearsing the corpus; also without pre-training). See
minitrans.experiments.closed_book and lesson 13.
"""

import argparse

from minitrans.experiments.closed_book import facts_t5_config, facts_tokenizer, qa_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--finetune-steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate")
    parser.add_argument("--context-sentences", type=int, default=3,
                        help="context-based: a passage of this many sentences (0: the whole description)")
    parser.add_argument("--reader-countries", type=int, default=5000,
                        help="context-based: fine-tune on questions about this many countries (100 + made-up ones)")
    parser.add_argument("--rehearse-share", type=float, default=0.5,
                        help="closed-book, pre-trained: share of each batch that is span corruption of the corpus")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = facts_tokenizer()
    config = facts_t5_config(tokenizer)  # d_model 128, 2 + 2 layers, no dropout
    results = qa_experiment(tokenizer, config, args.pretrain_steps, args.finetune_steps, seed=args.seed,
                            learning_rate=args.lr, context_sentences=args.context_sentences or None,
                            rehearse_share=args.rehearse_share, reader_countries=args.reader_countries)
    print("\n| T5, held-out countries (160 questions) | EM | F1 |\n|---|---:|---:|")
    for name, result in results.items():
        if isinstance(result, dict):
            print(f"| {name} | {result['scores']['exact_match']:.1f} | {result['scores']['f1']:.1f} |")
    print(f"{results['seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
