"""Synthetic task generators (sentences and sentence pairs; NLI is in nli.py, the reading tasks in
reading.py): rows in the roles of a task spec, drawn from the world.

A spec names its generator (`synthetic.generator`); a generator returns rows keyed by the spec's
roles (text_a/text_b/label, question/context/answers/id, article/question/options/answer/id) plus
hub-only columns (e.g. SQuAD's `title`). Each task is learnable by a small model (the label
follows from the text by a rule the model can find) but not by a single keyword: negation and
contrast in sentiment, value-level mismatches in paraphrase and NLI, distractor people and
look-alike relations ("born in 1975" vs "born in Quarsa") in the reading tasks.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bench.data.documents import SCHEMAS, opinion_sentence
from bench.data.lexicon import PERSON_RELATIONS, QUESTIONS, STATEMENTS
from bench.data.nli import nli2, nli3, nli3_zh
from bench.data.reading import reading_comprehension, span_qa
from bench.data.world import World, capitalize

Row = dict
Generator = Callable[[World, random.Random, str, int, dict], list[Row]]
PREFIXES = ["", "", "According to the records, ", "As reported, ", "It is known that "]


def _prefixed(rng: random.Random, sentence: str) -> str:
    pre = rng.choice(PREFIXES)
    return pre + sentence[0].lower() + sentence[1:] if pre and sentence.startswith("The ") else pre + sentence


def _other_person(world: World, rng: random.Random, *exclude: int, same_gender_as: int | None = None) -> int:
    while True:
        q = rng.randrange(len(world.people))
        if q in exclude:
            continue
        if same_gender_as is None or world.people[q].gender == world.people[same_gender_as].gender:
            return q


def _two_templates(rng: random.Random, rel: str) -> tuple[int, int]:
    n = len(STATEMENTS[rel])
    a = rng.randrange(n)
    return a, (a + rng.randrange(1, n)) % n


# --- single sentences ----------------------------------------------------------------------------
def sentiment(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """SST-2-like: the label follows negation ("not"), contrast ("although ..., ...", "but") and
    clause order, so no single word decides it."""
    rows = []
    for _ in range(n):
        label = int(rng.random() < 0.55)
        rows.append({"text_a": opinion_sentence(world, rng, label), "label": label})
    return rows


AGREEMENT = {"was": "were", "were": "was", "is": "are", "are": "is", "lives": "live", "live": "lives", "works": "work",
             "has": "have", "does": "do", "owns": "own", "likes": "like", "enjoys": "enjoy", "keeps": "keep"}
FUNCTION_WORDS = {"was", "is", "in", "the", "a", "an", "as", "by", "for", "to", "of", "at", "who", "and"}


def _acceptable(world: World, rng: random.Random) -> str:
    p = rng.choice(world.people)
    q = world.people[_other_person(world, rng, p.id)]
    r = rng.random()
    if r < 0.6:
        rel = rng.choice(PERSON_RELATIONS)
        return world.statement("person", p.id, rel, p.facts[rel], rng)[0]
    city = world.cities[p.facts["lives_in"]]
    prof, prof_a = world.value_text("profession", p.facts["profession"])
    if r < 0.8:
        return rng.choice([f"{p.name} and {q.name} were born in {city}.", f"{p.name} and {q.name} live in {city}.",
                           f"{p.name} and {q.name} are {prof}s.", f"Both {p.name} and {q.name} work for {world.companies[p.facts['works_for']].name}."])
    return rng.choice([f"{p.name}, who is {prof_a}, lives in {city}.", f"{p.name} has lived in {city} since {p.facts['birth_year'] + 20}.",
                       f"The friend of {p.name} is {prof_a} in {city}."])


def _corrupt(rng: random.Random, sentence: str) -> str:
    words = sentence[:-1].split(" ")
    kinds = ["swap", "drop", "agree", "double", "reverse"]
    for _ in range(10):
        kind = rng.choice(kinds)
        w = list(words)
        if kind == "swap" and len(w) > 2:
            i = rng.randrange(len(w) - 1)
            if w[i][0].isupper() and w[i + 1][0].isupper():  # two name parts: still a name
                continue
            w[i], w[i + 1] = w[i + 1], w[i]
        elif kind == "drop":
            cands = [i for i, x in enumerate(w) if x.lower() in FUNCTION_WORDS and i > 0]
            if not cands:
                continue
            del w[rng.choice(cands)]
        elif kind == "agree":
            cands = [i for i, x in enumerate(w) if x in AGREEMENT]
            if not cands:
                continue
            i = rng.choice(cands)
            w[i] = AGREEMENT[w[i]]
        elif kind == "double":
            cands = [i for i, x in enumerate(w) if x.islower()]
            if not cands:
                continue
            i = rng.choice(cands)
            w.insert(i, w[i])
        elif kind == "reverse" and len(w) > 4:
            i = rng.randrange(1, len(w) - 2)
            w[i : i + 3] = w[i : i + 3][::-1]
        out = " ".join(w) + "."
        if out != sentence:
            return capitalize(out)
    return capitalize(" ".join(reversed(words)) + ".")


def acceptability(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """CoLA-like: sentences of the world (acceptable, ~70%) or the same with a structural error
    (two words swapped, a function word dropped, broken agreement, a doubled word)."""
    rows = []
    for _ in range(n):
        s = _acceptable(world, rng)
        label = int(rng.random() < 0.7)
        rows.append({"text_a": s if label else _corrupt(rng, s), "label": label})
    return rows


# --- sentence pairs ------------------------------------------------------------------------------
def paraphrase(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """MRPC-like: the same fact in two templates (equivalent, ~68%), or a near copy with the value,
    the subject or the relation changed (not equivalent)."""
    rows = []
    for _ in range(n):
        p = rng.choice(world.people)
        rel = rng.choice(PERSON_RELATIONS)
        t1, t2 = _two_templates(rng, rel)
        s1 = _prefixed(rng, world.statement("person", p.id, rel, p.facts[rel], rng, template=t1)[0])
        label = int(rng.random() < 0.68)
        if label:  # a paraphrase; as in the real MRPC, often a near copy (high word overlap)
            s2 = world.statement("person", p.id, rel, p.facts[rel], rng, template=t1 if rng.random() < 0.4 else t2)[0]
        else:
            r = rng.random()
            if r < 0.5:
                s2 = world.statement("person", p.id, rel, world.random_value(rel, rng, p.facts[rel]), rng, template=rng.choice((t1, t2)))[0]
            elif r < 0.8:
                q = _other_person(world, rng, p.id)
                s2 = world.statement("person", q, rel, p.facts[rel], rng, template=t2)[0]
            else:
                rel2 = rng.choice([x for x in PERSON_RELATIONS if x != rel])
                s2 = world.statement("person", p.id, rel2, p.facts[rel2], rng)[0]
        rows.append({"text_a": s1, "text_b": s2, "label": label})
    return rows


def question_pairs(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """QQP-like: two wordings of one question (duplicate, ~37%) or questions that differ in the
    person, the relation or (yes/no questions) the value."""
    rows = []
    for _ in range(n):
        p = rng.choice(world.people)
        rel = rng.choice(PERSON_RELATIONS)
        label = int(rng.random() < 0.37)
        if rng.random() < 0.7:  # wh-questions
            t1 = rng.randrange(len(QUESTIONS[rel]))
            q1 = world.question("person", p.id, rel, rng, t1)
            if label:
                q2 = world.question("person", p.id, rel, rng, (t1 + rng.randrange(1, len(QUESTIONS[rel]))) % len(QUESTIONS[rel]))
            elif rng.random() < 0.5:
                q2 = world.question("person", _other_person(world, rng, p.id), rel, rng, rng.choice((t1, t1 + 1)))
            else:
                q2 = world.question("person", p.id, rng.choice([x for x in PERSON_RELATIONS if x != rel]), rng)
        else:  # yes/no questions
            val = p.facts[rel] if rng.random() < 0.5 else world.random_value(rel, rng)
            q1 = world.yesno(p.id, rel, val, rng, 0)
            if label:
                q2 = world.yesno(p.id, rel, val, rng, 1)
            elif rng.random() < 0.6:
                q2 = world.yesno(p.id, rel, world.random_value(rel, rng, val), rng, rng.randrange(2))
            else:
                q2 = world.yesno(_other_person(world, rng, p.id), rel, val, rng, rng.randrange(2))
        if rng.random() < 0.5:
            q1, q2 = q2, q1
        rows.append({"text_a": q1, "text_b": q2, "label": label})
    return rows


def _and(first: str, second: str) -> str:
    """Two sentences as one: "A is x." + "B is y." -> "A is x, and B is y." """
    second = second[0].lower() + second[1:] if second.startswith("The ") else second
    return f"{first[:-1]}, and {second}"


SIMILARITY_LEVELS = [  # (what s2 shares with s1, base score)
    ("same", 5.0), ("same_plus", 4.0), ("value", 3.0), ("subject", 2.2), ("relation", 1.4), ("rel_only", 0.8), ("none", 0.2),
]


def similarity(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """STS-B-like: a 0-5 score from how much of the fact (subject, relation, value) two sentences
    share, plus noise."""
    rows = []
    for _ in range(n):
        p = rng.choice(world.people)
        rel = rng.choice(PERSON_RELATIONS)
        t1, t2 = _two_templates(rng, rel)
        s1 = world.statement("person", p.id, rel, p.facts[rel], rng, template=t1)[0]
        level, base = rng.choice(SIMILARITY_LEVELS)
        q = _other_person(world, rng, p.id)
        rel2 = rng.choice([x for x in PERSON_RELATIONS if x != rel])
        if level == "same":
            s2 = world.statement("person", p.id, rel, p.facts[rel], rng, template=t2)[0]
        elif level == "same_plus":
            s2 = _and(world.statement("person", p.id, rel, p.facts[rel], rng, template=t2)[0],
                      world.statement("person", p.id, rel2, p.facts[rel2], rng)[0])
        elif level == "value":
            s2 = world.statement("person", p.id, rel, world.random_value(rel, rng, p.facts[rel]), rng, template=t2)[0]
        elif level == "subject":
            s2 = world.statement("person", q, rel, p.facts[rel], rng, template=t2)[0]
        elif level == "relation":
            s2 = world.statement("person", p.id, rel2, p.facts[rel2], rng)[0]
        elif level == "rel_only":
            s2 = world.statement("person", q, rel, world.random_value(rel, rng, p.facts[rel]), rng)[0]
        else:  # none
            s2 = world.statement("person", q, rel2, world.people[q].facts[rel2], rng)[0]
        score = min(5.0, max(0.0, base + rng.gauss(0.0, 0.3)))
        rows.append({"text_a": s1, "text_b": s2, "label": round(score, 3)})
    return rows


def question_nli(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """QNLI-like: does the sentence answer the question (entailment, label 0)? Wrong sentences are
    about the same person with another relation, or another person with the same relation."""
    rows = []
    for _ in range(n):
        p = rng.choice(world.people)
        rel = rng.choice(PERSON_RELATIONS)
        question = world.question("person", p.id, rel, rng)
        label = int(rng.random() < 0.5)
        if label == 0:
            s = world.statement("person", p.id, rel, p.facts[rel], rng)[0]
        elif rng.random() < 0.65:  # like the real QNLI, most wrong sentences are about the same subject
            rel2 = rng.choice([x for x in PERSON_RELATIONS if x != rel])
            s = world.statement("person", p.id, rel2, p.facts[rel2], rng)[0]
        else:
            q = _other_person(world, rng, p.id)
            s = world.statement("person", q, rel, world.people[q].facts[rel], rng)[0]
        rows.append({"text_a": question, "text_b": _prefixed(rng, s), "label": label})
    return rows


def coreference(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """WNLI-like Winograd schemas: "A thanked B because he had been kind." -> "B had been kind."
    The reason decides whether the pronoun is A or B (label 1 = entailment). With the referent
    equally often A and B the label is an XOR of two facts (candidate is A; reason points at A)
    that gives gradient descent nothing to start from; `subject_share` > 0.5 makes "the candidate
    is A" alone predictive, and the reasons carry the rest."""
    share = float(params.get("subject_share", 0.75))
    rows = []
    for _ in range(n):
        a = rng.choice(world.people)
        b = world.people[_other_person(world, rng, a.id, same_gender_as=a.id)]
        verb, after, subj_reasons, obj_reasons = rng.choice(SCHEMAS)
        to_subject = rng.random() < share
        reason = rng.choice(subj_reasons if to_subject else obj_reasons)
        pron = world.pronouns(a)["p"]
        s1 = f"{a.first} {verb} {b.first}{after} because {pron} {reason}."
        pick_a = rng.random() < 0.5
        s2 = f"{(a if pick_a else b).first} {reason}."
        rows.append({"text_a": s1, "text_b": s2, "label": int(pick_a == to_subject)})
    return rows


GENERATORS: dict[str, Generator] = {
    "sentiment": sentiment, "acceptability": acceptability, "paraphrase": paraphrase, "question_pairs": question_pairs,
    "similarity": similarity, "nli3": nli3, "nli3_zh": nli3_zh, "nli2": nli2, "question_nli": question_nli,
    "coreference": coreference, "span_qa": span_qa, "reading_comprehension": reading_comprehension,
}
