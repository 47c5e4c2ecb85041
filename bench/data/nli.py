"""NLI-like synthetic generators (MNLI, XNLI-zh, RTE): a premise of facts about one entity and a
hypothesis that follows from it, contradicts it, or is about something it does not say."""

from __future__ import annotations

import random

from bench.data.lexicon import COMPANY_RELATIONS, NEGATIONS, NEGATIONS_ZH, PERSON_RELATIONS, STATEMENTS, STATEMENTS_ZH
from bench.data.world import World

Row = dict


NLI_DEFAULTS = {"facts": [1, 3], "distractor": 0.2, "same_template": 0.7, "pronoun": 0.3,
                "negation": {"entailment": 0.2, "neutral": 0.25, "contradiction": 0.55}}


def _nli_pair(world: World, rng: random.Random, label: str, kind: str, params: dict, lang: str = "en") -> tuple[str, str]:
    """A premise of facts about one entity (plus maybe a distractor) and a hypothesis whose label
    is `label` in {entailment, neutral, contradiction}. `params` set the difficulty: facts per
    premise, the distractor rate, how often the hypothesis reuses the premise's wording for the
    relation (lexical overlap), how often the premise uses pronouns, and how often each label's
    hypothesis is negated: negation occurs in every class, but more in contradictions, the
    hypothesis-only artifact of the real MNLI (Gururangan et al., 2018)."""
    p = NLI_DEFAULTS | dict(params)
    relations = PERSON_RELATIONS if kind == "person" else COMPANY_RELATIONS
    entities = world.people if kind == "person" else world.companies
    table = STATEMENTS_ZH if lang == "zh" else STATEMENTS
    e = rng.randrange(len(entities))
    facts = entities[e].facts
    rels = rng.sample(relations, k=rng.randint(*p["facts"]))
    templates = {r: rng.randrange(len(table[r])) for r in rels}
    sents = []
    for i, r in enumerate(rels):
        subject_text = None
        if i > 0 and kind == "person" and rng.random() < p["pronoun"] and table[r][templates[r]].startswith("{s}"):
            gender = world.people[e].gender
            subject_text = ("他" if gender == "m" else "她") if lang == "zh" else ("He" if gender == "m" else "She")
        sents.append(world.statement(kind, e, r, facts[r], rng, template=templates[r], subject_text=subject_text, lang=lang)[0])
    other = rng.randrange(len(entities))
    while other == e:
        other = rng.randrange(len(entities))
    if rng.random() < p["distractor"]:  # a sentence about someone else
        r = rng.choice(relations)
        sents.insert(rng.randrange(1, len(sents) + 1), world.statement(kind, other, r, entities[other].facts[r], rng, lang=lang)[0])
    premise = ("" if lang == "zh" else " ").join(sents)
    rel = rng.choice(rels)
    true, wrong = facts[rel], world.random_value(rel, rng, facts[rel])
    neg = rng.random() < p["negation"][label]

    def say(ent: int, r: str, v: int) -> str:
        same = r in templates and rng.random() < p["same_template"]
        n_templates = len((NEGATIONS_ZH if lang == "zh" else NEGATIONS)[r]) if neg else len(table[r])
        t = templates[r] % n_templates if same else rng.randrange(n_templates)
        return world.statement(kind, ent, r, v, rng, negated=neg, template=t, lang=lang)[0]

    if label == "entailment":
        return premise, say(e, rel, wrong if neg else true)
    if label == "contradiction":
        return premise, say(e, rel, true if neg else wrong)
    third = rng.randrange(len(entities))  # neutral: a relation the premise does not state, or someone else
    while third in (e, other):
        third = rng.randrange(len(entities))
    if rng.random() < 0.6 and len(rels) < len(relations):
        r2 = rng.choice([r for r in relations if r not in rels])
        return premise, say(e, r2, facts[r2] if rng.random() < 0.5 else world.random_value(r2, rng))
    return premise, say(third, rel, true if rng.random() < 0.5 else wrong)


NLI3 = ["entailment", "neutral", "contradiction"]


def balanced(rng: random.Random, n: int, k: int) -> list[int]:
    """n labels, each of the k classes n/k times (the rest at random), shuffled."""
    labels = [i % k for i in range(n - n % k)] + [rng.randrange(k) for _ in range(n % k)]
    rng.shuffle(labels)
    return labels


def nli3(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """MNLI-like: 3 balanced classes. Matched splits are about people (the training genre);
    *_mismatched splits are about companies, a genre the training set never shows."""
    kind = "company" if "mismatched" in split else "person"
    rows = []
    for label in balanced(rng, n, 3):
        a, b = _nli_pair(world, rng, NLI3[label], kind, params)
        rows.append({"text_a": a, "text_b": b, "label": label})
    return rows


def nli3_zh(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """XNLI-zh-like: the MNLI construction realised in Chinese."""
    rows = []
    for label in balanced(rng, n, 3):
        a, b = _nli_pair(world, rng, NLI3[label], "person", params, lang="zh")
        rows.append({"text_a": a, "text_b": b, "label": label})
    return rows


def nli2(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """RTE-like: entailment (label 0) vs not_entailment (contradiction or neutral), longer premises."""
    rows = []
    for _ in range(n):
        label = int(rng.random() < 0.5)
        which = "entailment" if label == 0 else rng.choice(("neutral", "contradiction"))
        a, b = _nli_pair(world, rng, which, "person", params)
        rows.append({"text_a": a, "text_b": b, "label": label})
    return rows
