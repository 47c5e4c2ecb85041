"""One synthetic world (people, cities, companies, products; their facts and opinions) and its
realisation as English and Chinese text.

Every synthetic task and both pretraining corpora are drawn from this world, so what a model
learns in pretraining (names, relations, templates) is what the tasks ask about. The world is a
pure function of its seed (`random.Random`, no set iteration), so two runs write the same bytes.
Text is built from templates with tracked value offsets, which gives SQuAD answer spans for free.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from bench.data.lexicon import (
    CITY_ENDINGS,
    COMPANY_KINDS,
    FOODS,
    HOBBIES,
    NEGATIONS,
    NEGATIONS_ZH,
    PETS,
    PRODUCTS,
    PROFESSIONS,
    QUESTIONS,
    STATEMENTS,
    STATEMENTS_ZH,
    SYLLABLES,
    VALUE_KIND,
    YESNO,
    ZH_CITIES,
    ZH_COMPANY_ROOTS,
    ZH_GIVEN,
    ZH_SURNAMES,
)

_FORMATTER = string.Formatter()


def fill(template: str, **values: object) -> tuple[str, dict[str, int]]:
    """Format a template and return the text plus the character offset of each field's first use."""
    out: list[str] = []
    starts: dict[str, int] = {}
    pos = 0
    for literal, name, _, _ in _FORMATTER.parse(template):
        out.append(literal)
        pos += len(literal)
        if name is not None:
            text = str(values[name])
            starts.setdefault(name, pos)
            out.append(text)
            pos += len(text)
    return "".join(out), starts


def with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def capitalize(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass
class Person:
    id: int
    name: str  # English full name
    zh_name: str
    gender: str  # "m" | "f"
    facts: dict[str, int]  # relation -> value index (year for birth_year)
    friend: int = -1

    @property
    def first(self) -> str:
        return self.name.split()[0]


@dataclass
class Company:
    id: int
    name: str
    zh_name: str
    facts: dict[str, int]


@dataclass
class Product:
    id: int
    name: str  # e.g. "Zentor"
    kind: int  # index into PRODUCTS
    maker: int  # company id


@dataclass
class World:
    seed: int
    cities: list[str]
    people: list[Person]
    companies: list[Company]
    products: list[Product]
    opinions: list[tuple[int, int, int]] = field(default_factory=list)  # (person, product, +1/-1), unique pairs

    @property
    def opinion_of(self) -> dict[tuple[int, int], int]:
        """(person, product) -> +1 / -1."""
        return {(p, prod): pol for p, prod, pol in self.opinions}

    # --- values as text -------------------------------------------------------------------------
    def value_text(self, rel: str, val: int, lang: str = "en") -> tuple[str, str]:
        """(bare text, text with article) of a relation's value."""
        kind = VALUE_KIND[rel]
        zh = lang == "zh"
        if kind == "city":
            t = ZH_CITIES[val] if zh else self.cities[val]
        elif kind == "year":
            t = str(val)
        elif kind == "company":
            t = self.companies[val].zh_name if zh else self.companies[val].name
        elif kind == "person":
            t = self.people[val].zh_name if zh else self.people[val].name
        else:
            lex = {"profession": PROFESSIONS, "food": FOODS, "hobby": HOBBIES, "pet": PETS}.get(kind)
            t = PRODUCTS[val][1 if zh else 0] if kind == "product" else lex[val][1 if zh else 0]
        if zh or kind not in ("profession", "pet"):
            return t, t
        return t, with_article(t)

    def random_value(self, rel: str, rng: random.Random, exclude: int | None = None) -> int:
        """A value of the relation's kind other than `exclude`."""
        kind = VALUE_KIND[rel]
        while True:
            if kind == "year":
                v = rng.randint(1850, 2010) if rel == "founded_in" else rng.randint(1940, 1999)
            else:
                n = {"city": len(self.cities), "company": len(self.companies), "person": len(self.people),
                     "profession": len(PROFESSIONS), "food": len(FOODS), "hobby": len(HOBBIES), "pet": len(PETS),
                     "product": len(PRODUCTS)}[kind]
                v = rng.randrange(n)
            if v != exclude:
                return v

    def subject(self, kind: str, idx: int, lang: str = "en") -> str:
        ent = self.people[idx] if kind == "person" else self.companies[idx]
        return ent.zh_name if lang == "zh" else ent.name

    def pronouns(self, person: Person) -> dict[str, str]:
        m = person.gender == "m"
        return {"P": "He" if m else "She", "p": "he" if m else "she", "pos": "his" if m else "her", "obj": "him" if m else "her"}

    # --- sentences ------------------------------------------------------------------------------
    def statement(self, kind: str, subj: int, rel: str, val: int, rng: random.Random, *, negated: bool = False,
                  template: int | None = None, subject_text: str | None = None, lang: str = "en") -> tuple[str, dict[str, int]]:
        """One sentence stating (or denying) a fact, and the offsets of {s} and {v} in it."""
        if lang == "zh":
            table = NEGATIONS_ZH if negated else STATEMENTS_ZH
        else:
            table = NEGATIONS if negated else STATEMENTS
        options = table[rel]
        t = options[(template if template is not None else rng.randrange(len(options))) % len(options)]
        v, va = self.value_text(rel, val, lang)
        s = subject_text or self.subject(kind, subj, lang)
        pron = self.pronouns(self.people[subj]) if kind == "person" else {"P": "It", "p": "it", "pos": "its", "obj": "it"}
        text, starts = fill(t, s=s, v=v, va=va, **pron)
        if "va" in starts and va != v:  # the bare value inside "a baker" is the answer span
            starts["v"] = starts["va"] + len(va) - len(v)
        return capitalize(text), starts

    def question(self, kind: str, subj: int, rel: str, rng: random.Random, template: int | None = None) -> str:
        options = QUESTIONS[rel]
        t = options[(template if template is not None else rng.randrange(len(options))) % len(options)]
        return capitalize(fill(t, s=self.subject(kind, subj))[0])

    def yesno(self, subj: int, rel: str, val: int, rng: random.Random, template: int | None = None) -> str:
        options = YESNO[rel]
        t = options[(template if template is not None else rng.randrange(len(options))) % len(options)]
        v, va = self.value_text(rel, val)
        return capitalize(fill(t, s=self.people[subj].name, v=v, va=va)[0])


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def build_world(seed: int, n_people: int = 400, n_companies: int = 40, n_products: int = 80) -> World:
    """The world: a pure function of the seed."""
    rng = random.Random(f"world-{seed}")
    cities: list[str] = []
    while len(cities) < len(ZH_CITIES):
        c = _name(rng, rng.choice((1, 2))) + rng.choice(CITY_ENDINGS)
        if c not in cities:
            cities.append(c.capitalize())
    companies: list[Company] = []
    used: set[str] = set()
    while len(companies) < n_companies:
        root = _name(rng, 2)
        name = f"{root} {rng.choice(COMPANY_KINDS)}"
        zh = rng.choice(ZH_COMPANY_ROOTS) + rng.choice(["科技", "电子", "食品", "机械", "文化", "贸易"]) + "公司"
        if name in used or zh in used:
            continue
        used.update((name, zh))
        companies.append(Company(len(companies), name, zh, {}))
    people: list[Person] = []
    while len(people) < n_people:
        name = f"{_name(rng, 2)} {_name(rng, rng.choice((2, 3)))}"
        zh = rng.choice(ZH_SURNAMES) + rng.choice(ZH_GIVEN)
        if name in used or zh in used:
            continue
        used.update((name, zh))
        year = rng.randint(1940, 1999)
        facts = {
            "born_in": rng.randrange(len(cities)), "birth_year": year, "profession": rng.randrange(len(PROFESSIONS)),
            "lives_in": rng.randrange(len(cities)), "works_for": rng.randrange(n_companies),
            "likes_food": rng.randrange(len(FOODS)), "hobby": rng.randrange(len(HOBBIES)), "pet": rng.randrange(len(PETS)),
        }
        people.append(Person(len(people), name, zh, rng.choice("mf"), facts))
    for p in people:
        p.friend = rng.choice([q.id for q in people if q.id != p.id and q.gender == p.gender][:50])
    for c in companies:
        c.facts = {"based_in": rng.randrange(len(cities)), "founded_in": rng.randint(1850, 2010),
                   "founded_by": rng.randrange(n_people), "makes": rng.randrange(len(PRODUCTS))}
    products: list[Product] = []
    while len(products) < n_products:
        name = _name(rng, 2)
        if name in used:
            continue
        used.add(name)
        maker = rng.randrange(n_companies)
        products.append(Product(len(products), name, companies[maker].facts["makes"], maker))
    opinions: dict[tuple[int, int], int] = {}
    while len(opinions) < 3 * n_people:
        opinions.setdefault((rng.randrange(n_people), rng.randrange(n_products)), rng.choice((1, 1, -1)))
    opinions = [(p, prod, pol) for (p, prod), pol in opinions.items()]
    return World(seed, cities, people, companies, products, opinions)
