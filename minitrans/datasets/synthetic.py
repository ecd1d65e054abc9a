"""A small synthetic encyclopedia the project writes itself, so demos run offline in minutes.

Fictional countries with capitals, rivers, languages, founders and exports, described in
varied sentences and grouped into one document per country. Models can learn its facts in
pre-training (closed-book question answering asks about them) and its sentences make a corpus
for masked-LM and next-sentence pre-training. Deterministic for a seed.

    python -m minitrans.datasets.synthetic data/facts_corpus.txt
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SYLLABLES = ["zor", "va", "quel", "mont", "bran", "del", "ash", "wen", "tor", "li", "mar", "ka", "sel",
             "ven", "dor", "rin", "pa", "lo", "gar", "the", "ni", "ul", "bes", "co", "fen", "ra", "syl", "om"]
GOODS = ["copper", "tea", "wool", "glass", "salt", "timber", "silk", "olives", "tin", "paper", "honey", "rice"]
ANIMALS = ["heron", "lynx", "otter", "falcon", "bison", "crane", "badger", "stag", "wolf", "swan"]
COLOURS = ["green", "blue", "red", "gold", "white", "black", "orange", "violet"]


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    river: str
    language: str
    founder: str
    founded: int
    export: str
    animal: str
    colour: str
    neighbour: str


FACTS = ("capital", "river", "language", "founded", "export", "animal", "flag", "neighbour")
QUESTION_FACTS = ("capital", "river", "language", "founded", "founded", "export", "animal", "flag")  # of `questions`


def make_name(rng: np.random.Generator, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES, size=parts)).capitalize()


def make_countries(n: int = 120, seed: int = 0) -> list[Country]:
    rng = np.random.default_rng(seed)
    names: list[str] = []
    while len(names) < n:
        name = make_name(rng, 2 + int(rng.integers(2)))
        if name not in names:
            names.append(name)
    countries = []
    for i, name in enumerate(names):
        countries.append(Country(
            name=name, capital=make_name(rng, 3), river=make_name(rng, 2), language=name[:-1] + "ish",
            founder=f"{make_name(rng, 2)} {make_name(rng, 2)}", founded=int(rng.integers(800, 1900)),
            export=str(rng.choice(GOODS)), animal=str(rng.choice(ANIMALS)), colour=str(rng.choice(COLOURS)),
            neighbour=names[(i + 1) % n]))
    return countries


def describe_facts(c: Country, rng: np.random.Generator) -> list[tuple[str, str]]:
    """One document as (fact, sentence) pairs: the country's facts (`FACTS`) in shuffled order,
    with varied wording."""
    facts = [
        [f"The capital of {c.name} is {c.capital}.", f"{c.capital} is the capital city of {c.name}."],
        [f"The river {c.river} flows through {c.capital}.", f"{c.capital} stands on the banks of the river {c.river}."],
        [f"People in {c.name} speak {c.language}.", f"The official language of {c.name} is {c.language}."],
        [f"{c.name} was founded by {c.founder} in {c.founded}.", f"In {c.founded}, {c.founder} founded {c.name}."],
        [f"The main export of {c.name} is {c.export}.", f"{c.name} is known for exporting {c.export}."],
        [f"The national animal of {c.name} is the {c.animal}.", f"The {c.animal} is the national animal of {c.name}."],
        [f"The flag of {c.name} is {c.colour}.", f"{c.name} flies a {c.colour} flag."],
        [f"{c.name} shares a border with {c.neighbour}.", f"To the north of {c.name} lies {c.neighbour}."],
    ]
    order = rng.permutation(len(facts))
    return [(FACTS[i], facts[i][int(rng.integers(len(facts[i])))]) for i in order]


def describe(c: Country, rng: np.random.Generator) -> list[str]:
    """One document: the country's facts in shuffled order, with varied wording."""
    return [sentence for _, sentence in describe_facts(c, rng)]


def questions(c: Country) -> list[tuple[str, str]]:
    """(question, answer) pairs about one country; the j-th asks about fact QUESTION_FACTS[j]
    (the capital also appears in the river's sentence: look the sentence up by its fact)."""
    return [(f"What is the capital of {c.name}?", c.capital),
            (f"Which river flows through {c.capital}?", c.river),
            (f"What language do people in {c.name} speak?", c.language),
            (f"Who founded {c.name}?", c.founder),
            (f"In what year was {c.name} founded?", str(c.founded)),
            (f"What is the main export of {c.name}?", c.export),
            (f"What is the national animal of {c.name}?", c.animal),
            (f"What colour is the flag of {c.name}?", c.colour)]


def corpus_text(n: int = 120, seed: int = 0, repeats: int = 3) -> str:
    """Documents separated by blank lines; each country is described `repeats` times in
    different words and orders, so a model can learn the facts and not one phrasing."""
    rng = np.random.default_rng(seed + 1)
    countries = make_countries(n, seed)
    documents = [" ".join(describe(c, rng)) for _ in range(repeats) for c in countries]
    return "\n\n".join(documents) + "\n"


def main(argv: list[str]) -> None:
    path = Path(argv[0] if argv else "data/facts_corpus.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(corpus_text())
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
