"""Reading-comprehension generators of the synthetic world: SQuAD-like spans and RACE-like
multiple choice. Same contract as generators.py: rows keyed by the spec's roles."""

from __future__ import annotations

import random

from bench.data.documents import person_sentences
from bench.data.lexicon import CLOZE, PERSON_RELATIONS, VALUE_KIND
from bench.data.world import World

Row = dict


def span_qa(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """SQuAD-like: a paragraph about one person (pronouns after the first sentence) and a friend,
    questions about either; with `unanswerable` > 0 (v2), questions about facts the paragraph does
    not state get empty answer lists: `absent_relation_share` of them ask about a relation the
    paragraph never mentions, the rest about one it states only for the other person."""
    frac = float((params.get("unanswerable") or {}).get(split, (params.get("unanswerable") or {}).get("train", 0.0)))
    absent_share = float(params.get("absent_relation_share", 0.7))
    is_eval = split != "train"
    rows: list[Row] = []
    while len(rows) < n:
        p = rng.choice(world.people)
        q = world.people[p.friend]
        p_rels = rng.sample(PERSON_RELATIONS, k=rng.randint(3, 6))
        q_rels = rng.sample(PERSON_RELATIONS, k=rng.randint(1, 2))
        parts = person_sentences(world, p, p_rels, rng) + person_sentences(world, q, q_rels, rng)
        owners = [p.id] * len(p_rels) + [q.id] * len(q_rels)
        context, spans = "", {}
        for (rel, text, offs), owner in zip(parts, owners):
            start = len(context) + (1 if context else 0)
            context = f"{context} {text}" if context else text
            value, value_a = world.value_text(rel, world.people[owner].facts[rel])
            spans[(owner, rel)] = (value, start + offs["v"], value_a, start + offs.get("va", offs["v"]))
        for _ in range(rng.randint(2, 4)):
            if rng.random() < frac:
                who = rng.choice((p, q))
                missing = [r for r in PERSON_RELATIONS if (who.id, r) not in spans]
                stated = {r for _, r in spans}
                absent = [r for r in missing if r not in stated]  # the paragraph never mentions it
                adversarial = [r for r in missing if r in stated]  # stated, but for the other person
                if absent and (not adversarial or rng.random() < absent_share):
                    rel = rng.choice(absent)
                else:
                    rel = rng.choice(adversarial)
                answers = {"text": [], "answer_start": []}
            else:
                (owner, rel) = rng.choice(list(spans))
                who = world.people[owner]
                value, start, value_a, start_a = spans[(owner, rel)]
                assert context[start : start + len(value)] == value
                if is_eval:  # several annotators, as in the hub's validation set
                    alt = (value_a, start_a) if value_a != value else (value, start)
                    answers = {"text": [value, value, alt[0]], "answer_start": [start, start, alt[1]]}
                else:
                    answers = {"text": [value], "answer_start": [start]}
            rows.append({"id": f"{rng.getrandbits(96):024x}", "title": p.name.replace(" ", "_"), "context": context,
                         "question": world.question("person", who.id, rel, rng), "answers": answers})
    return rows[:n]


def _distractors(world: World, rng: random.Random, rel: str, correct: int, in_article: list[int], k_in: int) -> list[int]:
    """Three wrong values of the relation's kind: up to k_in that the article mentions (for
    someone else), the rest that it does not."""
    out = [v for v in dict.fromkeys(rng.sample(in_article, len(in_article))) if v != correct][:k_in]
    while len(out) < 3:
        v = world.random_value(rel, rng, correct)
        if v not in out and v not in in_article:
            out.append(v)
    return out


def _race_article(world: World, rng: random.Random, level: str, number: int, k_in: int, n_people: list[int]) -> list[Row]:
    high = level == "high"
    lo, hi = n_people
    k = rng.randint(lo, hi) if lo != hi else lo  # no draw for a fixed count: the stream stays as it was
    people = [world.people[i] for i in rng.sample(range(len(world.people)), k=k)]
    paragraphs, facts = [], []
    for p in people:
        rels = rng.sample(PERSON_RELATIONS, k=rng.randint(4, 6) if high else rng.randint(3, 4))
        paragraphs.append(" ".join(t for _, t, _ in person_sentences(world, p, rels, rng)))
        facts += [(p, r) for r in rels]
    if high and len(people) > 1:
        a, b = people[0], people[1]
        paragraphs.insert(1, f"{a.name} and {b.name} met in {world.cities[a.facts['lives_in']]} many years ago.")
    article = "\n".join(paragraphs)
    rows = []
    for _ in range(rng.randint(3, 5) if high else rng.randint(2, 4)):
        p, rel = rng.choice(facts)
        kind = VALUE_KIND[rel]
        mentioned = [o.facts[r] for o, r in facts if VALUE_KIND[r] == kind]
        qtype = rng.choices(["wh", "cloze", "true", "not_true"], [40, 25, 20, 15])[0]
        own = [r for o, r in facts if o is p]
        if qtype == "not_true" and len(own) < 4:
            qtype = "true"
        if qtype in ("wh", "cloze"):
            wrong = _distractors(world, rng, rel, p.facts[rel], mentioned, k_in)
            article_form = qtype == "cloze" and rel in ("profession", "pet")
            options = [world.value_text(rel, v)[1 if article_form else 0] for v in [p.facts[rel], *wrong]]
            question = world.question("person", p.id, rel, rng) if qtype == "wh" else CLOZE[rel].format(s=p.name)
        elif qtype == "true":
            options = [world.statement("person", p.id, rel, p.facts[rel], rng)[0]]
            while len(options) < 4:
                o, r = rng.choice(facts)
                s = world.statement("person", o.id, r, world.random_value(r, rng, o.facts[r]), rng)[0]
                if s not in options:
                    options.append(s)
            question = "Which of the following is true according to the passage?"
        else:
            r_false = rng.choice(own)
            options = [world.statement("person", p.id, r_false, world.random_value(r_false, rng, p.facts[r_false]), rng)[0]]
            options += [world.statement("person", p.id, r, p.facts[r], rng)[0] for r in rng.sample([r for r in own if r != r_false], 3)]
            question = f"Which of the following is NOT true about {p.name}?"
        correct = options[0]
        rng.shuffle(options)
        rows.append({"id": f"{level}{number}.txt", "article": article, "question": question, "options": options,
                     "answer": "ABCD"[options.index(correct)]})
    return rows


def reading_comprehension(world: World, rng: random.Random, split: str, n: int, params: dict) -> list[Row]:
    """RACE-like: articles about `people[level]` people (a count or a [min, max] range; default 1 at
    middle, 3-4 at high); wh, cloze, "which is true" and "which is NOT true" questions;
    `distractors_in_article` of the three wrong options occur in the article (a value it states for
    another person or relation), the others do not. The `levels` shares
    split n between middle and high; each level is its own prefix-stable stream, so the 'all'
    config holds exactly the first rows of the 'middle' and 'high' configs, as on the hub."""
    levels = params.get("levels") or {"middle": 0.3, "high": 0.7}
    k_in = int(params.get("distractors_in_article", 1))
    people = {"middle": 1, "high": [3, 4], **(params.get("people") or {})}
    ranges = {}
    for level, count in people.items():
        lo, hi = (count, count) if isinstance(count, int) else tuple(count)
        if not 1 <= lo <= hi:
            raise ValueError(f"synthetic.people.{level}: {count!r} must be a count >= 1 or a range [min, max]")
        ranges[level] = [lo, hi]
    counts = {lvl: round(n * share) for lvl, share in levels.items()}
    counts[list(counts)[-1]] += n - sum(counts.values())
    rows: list[Row] = []
    for level, k in counts.items():
        stream = random.Random(f"{world.seed}-race-{level}-{split}")
        got: list[Row] = []
        number = 1
        while len(got) < k:
            got += _race_article(world, stream, level, number, k_in, ranges[level])
            number += 1
        rows += got[:k]
    return rows
