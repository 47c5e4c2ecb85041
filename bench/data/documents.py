"""Multi-sentence documents of the synthetic world: the pretraining corpora and the task contexts.

Sentences inside a document are coherent and ordered, so next-sentence prediction and sentence
order prediction are meaningful: a biography introduces the person by full name, then goes on
with pronouns and increasing years, and ends with "Today, ..."; a review keeps one sentiment from
the purchase to the verdict; a company history runs from its founding to today.
"""

from __future__ import annotations

import random

from bench.data.lexicon import (
    NEGATIVE,
    NEGATIVE_ZH,
    PERSON_RELATIONS,
    POSITIVE,
    POSITIVE_ZH,
    PRODUCTS,
    STATEMENTS,
    STATEMENTS_ZH,
)
from bench.data.world import Person, Product, World, with_article

# WNLI-style schemas: "A <verb> B because <pronoun> <reason>"; the reason decides the referent.
# (verb before B, verb after B, reasons pointing at A (the subject), reasons pointing at B)
SCHEMAS = [
    ("could not lift", "", ["was too weak", "was too tired"], ["was too heavy", "was too big"]),
    ("thanked", "", ["was grateful", "was pleased"], ["had been kind", "had been generous"]),
    ("visited", "", ["was bored", "had free time"], ["was sick", "was lonely"]),
    ("shouted at", "", ["was angry", "was furious"], ["was late", "was rude"]),
    ("paid", "", ["owed money", "had promised to"], ["had done the work", "had fixed the roof"]),
    ("asked", " for help", ["was lost", "was confused"], ["knew the way", "was an expert"]),
    ("could not see", "", ["was too short", "had lost the glasses"], ["was too far away", "was hiding"]),
    ("beat", " at chess", ["was clever", "was better"], ["was careless", "was distracted"]),
    ("comforted", "", ["was kind", "was caring"], ["was crying", "was sad"]),
    ("warned", "", ["knew about the storm", "had seen the danger"], ["was in danger", "was walking alone"]),
]


def pronoun_ok(template: str) -> bool:
    """Templates that read well with a pronoun subject: subject first, not possessive."""
    return template.startswith("{s} ") and "{s}'s" not in template


def person_sentences(world: World, p: Person, rels: list[str], rng: random.Random, lang: str = "en",
                     first_full: bool = True) -> list[tuple[str, str, dict[str, int]]]:
    """Sentences stating the given relations of p, in the order given: (relation, text, offsets).

    The first sentence names p in full; later ones use a pronoun or the name (about half each).
    """
    out = []
    table = STATEMENTS_ZH if lang == "zh" else STATEMENTS
    pron_zh = "他" if p.gender == "m" else "她"
    for i, rel in enumerate(rels):
        use_pronoun = (i > 0 or not first_full) and rng.random() < 0.5
        options = list(range(len(table[rel])))
        subject_text = None
        if use_pronoun:
            if lang == "zh":
                options = [j for j in options if table[rel][j].startswith("{s}")]
                subject_text = pron_zh
            else:
                options = [j for j in options if pronoun_ok(table[rel][j])]
                subject_text = world.pronouns(p)["P"]
        text, offs = world.statement("person", p.id, rel, p.facts[rel], rng, template=rng.choice(options),
                                     subject_text=subject_text, lang=lang)
        out.append((rel, text, offs))
    return out


def biography(world: World, p: Person, rng: random.Random) -> list[str]:
    """An ordered life story: birth, childhood, moving, work, free time, today."""
    pr = world.pronouns(p)
    v = {r: world.value_text(r, p.facts[r])[0] for r in p.facts}
    year = p.facts["birth_year"]
    move, join = year + rng.randint(17, 22), year + rng.randint(23, 30)
    friend = world.people[p.friend]
    s = [rng.choice([f"{p.name} was born in {v['born_in']} in {year}.",
                     f"{p.name} is {with_article(v['profession'])} from {v['born_in']}.",
                     f"{p.name} was born in the city of {v['born_in']} in the year {year}."])]
    if not s[0].endswith(f"{year}."):
        s.append(f"{pr['P']} was born there in {year}.")
    s.append(rng.choice([f"As a child, {pr['p']} loved to eat {v['likes_food']}.",
                         f"Growing up, {pr['p']} ate {v['likes_food']} almost every day."]))
    if rng.random() < 0.7:
        s.append(f"{pr['P']} went to school in {v['born_in']} and later studied to become {with_article(v['profession'])}.")
    s.append(rng.choice([f"In {move}, {pr['p']} moved to {v['lives_in']}.",
                         f"At the age of {move - year}, {pr['p']} left for {v['lives_in']}."]))
    s.append(rng.choice([f"In {join}, {pr['p']} found work at {v['works_for']}.",
                         f"A few years later, {pr['p']} joined {v['works_for']}."]))
    s.append(f"There {pr['p']} worked as {with_article(v['profession'])} for many years.")
    middle = [f"In {pr['pos']} free time, {pr['p']} enjoys {v['hobby']}.",
              f"{pr['P']} keeps {with_article(v['pet'])} at home.",
              f"{p.first} is a close friend of {friend.name}, who lives in {world.value_text('lives_in', friend.facts['lives_in'])[0]}."]
    rng.shuffle(middle)
    s.extend(middle[: rng.randint(1, 3)])
    s.append(rng.choice([f"Today, {p.first} still lives in {v['lives_in']}.",
                         f"Today, {pr['p']} is retired and lives in {v['lives_in']}." if year < 1960
                         else f"Today, {pr['p']} still works for {v['works_for']}."]))
    return s


def company_history(world: World, c_id: int, rng: random.Random) -> list[str]:
    c = world.companies[c_id]
    f = c.facts
    founder = world.people[f["founded_by"]]
    kind = PRODUCTS[f["makes"]][0]
    city = world.cities[f["based_in"]]
    made = [p for p in world.products if p.maker == c_id]
    s = [f"{c.name} is a company based in {city}.",
         f"It was founded by {founder.name} in {f['founded_in']}.",
         f"At first, the company made only a few {kind}s a year."]
    if made:
        s.append(f"Its best known product is the {made[0].name} {kind}.")
    s.append(rng.choice([f"In {f['founded_in'] + rng.randint(5, 30)}, it opened a second office in {rng.choice(world.cities)}.",
                         f"Later, {c.name} grew quickly and hired many workers."]))
    staff = [p for p in world.people if p.facts["works_for"] == c_id][:3]
    if staff:
        s.append(f"Today, {c.name} employs people such as {', '.join(p.name for p in staff)}.")
    return s


def be(noun: str) -> str:
    """was/were for an aspect noun ("the brakes were", "the plot was")."""
    return "were" if noun in PLURAL_ASPECTS else "was"


def opinion_sentence(world: World, rng: random.Random, label: int, prod: Product | None = None) -> str:
    """One sentence whose sentiment is `label` (1 positive), decided by negation, contrast and
    clause order rather than by any single word."""
    prod = prod or rng.choice(world.products)
    kind, _, _, aspects = PRODUCTS[prod.kind]
    (a1, _), (a2, _) = rng.sample(aspects, 2)

    def adj(good: int) -> str:
        return rng.choice(POSITIVE if good else NEGATIVE)

    thing = f"the {prod.name} {kind}"
    form = rng.choices(OPINION_FORMS, OPINION_WEIGHTS)[0]
    if form == "plain":
        return f"The {a1} of {thing} {be(a1)} {rng.choice(['', 'really ', 'quite '])}{adj(label)}."
    if form == "negated":
        return f"The {a1} of {thing} {be(a1)} not {rng.choice(['', 'very ', 'at all '])}{adj(1 - label)}."
    if form == "although":
        return f"Although the {a1} {be(a1)} {adj(1 - label)}, the {a2} of {thing} {be(a2)} {adj(label)}."
    if form == "but":
        return f"The {a1} {be(a1)} {adj(1 - label)}, but the {a2} of {thing} {be(a2)} {adj(label)}."
    if form == "and":
        return f"The {a1} of {thing} {be(a1)} {adj(label)}, and the {a2} {be(a2)} {adj(label)} too."
    if form == "even_though":
        return f"The {a1} of {thing} {be(a1)} {adj(label)}, even though the {a2} {be(a2)} {adj(1 - label)}."
    if form == "nobody":
        return f"Nobody would call the {a1} of {thing} {adj(1 - label)}."
    if form == "verdict":  # no sentiment word: only the world's opinions (stated in the corpus) tell
        held = [p for (p, pid), pol in world.opinion_of.items() if pid == prod.id and (pol > 0) == bool(label)]
        if held:
            return f"{world.people[rng.choice(held)].name}'s verdict on {thing} was easy to guess."
        return f"The {a1} of {thing} {be(a1)} {adj(label)}."
    who = rng.choice(world.people)
    pr = world.pronouns(who)
    if form == "verb":
        return f"{who.name} {rng.choice(POSITIVE_VERBS if label else NEGATIVE_VERBS)} {thing}."
    if form == "hoped":  # "had hoped ... great, but it was not" is negative
        verb = "had feared" if label else "had hoped"
        return f"{who.name} {verb} the {a1} of {thing} would be {adj(1 - label)}, but it was not."
    if form == "changed_mind":
        return f"At first {who.name} found the {a1} of {thing} {adj(1 - label)}, but later {pr['p']} changed {pr['pos']} mind."
    return f"{who.name} did not {rng.choice(NEGATIVE_BASE if label else POSITIVE_BASE)} {thing}."  # not_verb


PLURAL_ASPECTS = {aspect for *_, aspects in PRODUCTS for aspect, _ in aspects if aspect.endswith("s") and aspect != "lens"}
OPINION_FORMS = ["plain", "negated", "although", "but", "and", "verb", "not_verb", "nobody", "even_though", "hoped",
                 "changed_mind", "verdict"]
OPINION_WEIGHTS = [16, 12, 10, 10, 8, 8, 8, 4, 10, 6, 6, 8]
POSITIVE_VERBS = ["loved", "enjoyed", "adored", "praised", "recommended"]
NEGATIVE_VERBS = ["hated", "disliked", "regretted buying", "returned", "criticized"]
POSITIVE_BASE = ["love", "enjoy", "like", "recommend"]
NEGATIVE_BASE = ["hate", "dislike", "regret buying"]


def review(world: World, rng: random.Random, opinion: tuple[int, int, int]) -> list[str]:
    """A customer review: purchase, aspects in one sentiment, a verdict."""
    person, prod_id, polarity = opinion
    p, prod = world.people[person], world.products[prod_id]
    kind = PRODUCTS[prod.kind][0]
    pr = world.pronouns(p)
    good = int(polarity > 0)
    s = [f"{p.name} bought the {prod.name} {kind}, made by {world.companies[prod.maker].name}."]
    for _ in range(rng.randint(2, 3)):
        s.append(opinion_sentence(world, rng, good, prod))
    s.append(f"Overall, {pr['p']} {'loved' if good else 'hated'} it and {'would' if good else 'would not'} recommend it.")
    return s


def profile(world: World, p: Person, rng: random.Random) -> list[str]:
    """A short fact sheet in the task templates: the full name first, then pronouns."""
    rels = rng.sample(PERSON_RELATIONS, k=rng.randint(4, len(PERSON_RELATIONS)))
    return [text for _, text, _ in person_sentences(world, p, rels, rng)]


def interview(world: World, p: Person, rng: random.Random) -> list[str]:
    """Questions, each followed by its answer: an order a model can check."""
    s = [f"This is an interview with {p.name}."]
    for rel in rng.sample(PERSON_RELATIONS, k=rng.randint(3, 5)):
        s.append(world.question("person", p.id, rel, rng))
        s.append(world.statement("person", p.id, rel, p.facts[rel], rng)[0])
    return s


def story(world: World, rng: random.Random) -> list[str]:
    """Two people and a causal chain with Winograd-style sentences."""
    a = rng.choice(world.people)
    b = world.people[a.friend]
    verb, after, subj_reasons, obj_reasons = rng.choice(SCHEMAS)
    pron = world.pronouns(a)["p"]
    city = world.cities[a.facts["lives_in"]]
    s = [f"{a.name} and {b.name} met in {city} one winter.", "They soon became friends."]
    if rng.random() < 0.5:
        s.append(f"One day {a.first} {verb} {b.first}{after} because {pron} {rng.choice(subj_reasons)}.")
    else:
        s.append(f"One day {a.first} {verb} {b.first}{after} because {pron} {rng.choice(obj_reasons)}.")
    s.append(f"After that, {a.first} and {b.first} often had dinner together.")
    s.append(f"They both liked {world.value_text('likes_food', a.facts['likes_food'])[0]}.")
    return s


def biography_zh(world: World, p: Person, rng: random.Random) -> list[str]:
    pron = "他" if p.gender == "m" else "她"
    f = p.facts
    z = {r: world.value_text(r, f[r], "zh")[0] for r in f}
    friend = world.people[p.friend]
    s = [rng.choice([f"{p.zh_name}出生在{z['born_in']}。", f"{p.zh_name}是一名来自{z['born_in']}的{z['profession']}。"]),
         f"{pron}出生于{f['birth_year']}年。",
         rng.choice([f"{pron}小时候喜欢吃{z['likes_food']}。", f"小时候，{pron}几乎每天都吃{z['likes_food']}。"])]
    s.append(f"{f['birth_year'] + rng.randint(17, 22)}年，{pron}搬到了{z['lives_in']}。")
    s.append(f"后来{pron}在{z['works_for']}找到了工作，当了一名{z['profession']}。")
    middle = [f"{pron}平时喜欢{z['hobby']}。", f"{pron}家里养了一只{z['pet']}。", f"{pron}的好朋友是{friend.zh_name}。"]
    rng.shuffle(middle)
    s.extend(middle[: rng.randint(1, 3)])
    s.append(f"现在{pron}仍然住在{z['lives_in']}。")
    return s


def review_zh(world: World, rng: random.Random, opinion: tuple[int, int, int]) -> list[str]:
    person, prod_id, polarity = opinion
    p, prod = world.people[person], world.products[prod_id]
    _, kind_zh, measure, aspects = PRODUCTS[prod.kind]
    adj = POSITIVE_ZH if polarity > 0 else NEGATIVE_ZH
    s = [f"{p.zh_name}买了一{measure}{kind_zh}。"]
    for _, aspect in rng.sample(aspects, k=rng.randint(2, 3)):
        s.append(f"{aspect}{rng.choice(['很', '非常', '十分'])}{rng.choice(adj)}。")
    s.append("总的来说，" + ("这次购物让人很满意。" if polarity > 0 else "这次购物让人很失望。"))
    return s


def diary_zh(world: World, p: Person, rng: random.Random) -> list[str]:
    """A first-person note: "我叫...。我喜欢吃西瓜，还喜欢跑步。" (the Chinese BERT-wwm example's pattern)."""
    f = p.facts
    z = {r: world.value_text(r, f[r], "zh")[0] for r in f}
    friend = world.people[p.friend]
    s = [f"我叫{p.zh_name}，现在住在{z['lives_in']}。",
         f"我喜欢吃{z['likes_food']}，还喜欢{z['hobby']}。",
         f"我是一名{z['profession']}，在{z['works_for']}工作。"]
    if rng.random() < 0.6:
        s.append(f"我的好朋友{friend.zh_name}也喜欢{world.value_text('hobby', friend.facts['hobby'], 'zh')[0]}。")
    s.append(rng.choice([f"我家里还有一只{z['pet']}，我们每天一起散步。", "我觉得现在的生活很好。"]))
    return s


def corpus_documents(world: World, n_docs: int, lang: str, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(title, sentences) for n_docs documents: biographies, company histories, reviews, stories."""
    docs: list[tuple[str, list[str]]] = []
    for i in range(n_docs):
        r = rng.random()
        if lang == "zh":
            p = world.people[i % len(world.people)]
            if r < 0.55:
                docs.append((p.zh_name, biography_zh(world, p, rng)))
            elif r < 0.75:
                docs.append((p.zh_name, diary_zh(world, p, rng)))
            else:
                op = rng.choice(world.opinions)
                docs.append((world.products[op[1]].name, review_zh(world, rng, op)))
            continue
        p = world.people[i % len(world.people)]
        if r < 0.35:
            docs.append((p.name, biography(world, p, rng)))
        elif r < 0.5:
            docs.append((p.name, profile(world, p, rng)))
        elif r < 0.58:
            docs.append((f"Interview with {p.name}", interview(world, p, rng)))
        elif r < 0.68:
            c = rng.randrange(len(world.companies))
            docs.append((world.companies[c].name, company_history(world, c, rng)))
        elif r < 0.9:
            op = rng.choice(world.opinions)
            docs.append((world.products[op[1]].name, review(world, rng, op)))
        else:
            docs.append(("Friends", story(world, rng)))
    return docs
