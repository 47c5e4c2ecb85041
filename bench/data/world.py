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

# --- lexicons: (English, Chinese) pairs; Chinese words are multi-character so jieba segments them
# as words and whole-word masking differs from character masking ---------------------------------
PROFESSIONS = [
    ("baker", "面包师"), ("teacher", "老师"), ("doctor", "医生"), ("nurse", "护士"), ("engineer", "工程师"),
    ("lawyer", "律师"), ("farmer", "农民"), ("pilot", "飞行员"), ("painter", "画家"), ("singer", "歌手"),
    ("writer", "作家"), ("chef", "厨师"), ("driver", "司机"), ("journalist", "记者"), ("scientist", "科学家"),
    ("dentist", "牙医"), ("architect", "建筑师"), ("musician", "音乐家"), ("accountant", "会计"), ("soldier", "士兵"),
]
FOODS = [
    ("apples", "苹果"), ("watermelon", "西瓜"), ("bananas", "香蕉"), ("noodles", "面条"), ("dumplings", "饺子"),
    ("rice", "米饭"), ("beef", "牛肉"), ("tofu", "豆腐"), ("grapes", "葡萄"), ("eggs", "鸡蛋"), ("oranges", "橙子"),
    ("bread", "面包"), ("cheese", "奶酪"), ("chocolate", "巧克力"), ("potatoes", "土豆"), ("tomatoes", "西红柿"),
    ("mushrooms", "蘑菇"), ("peaches", "桃子"), ("carrots", "胡萝卜"), ("cucumbers", "黄瓜"),
]
HOBBIES = [
    ("running", "跑步"), ("swimming", "游泳"), ("singing", "唱歌"), ("dancing", "跳舞"), ("painting", "画画"),
    ("fishing", "钓鱼"), ("hiking", "爬山"), ("reading", "读书"), ("chess", "下棋"), ("travelling", "旅游"),
    ("cycling", "骑车"), ("cooking", "做饭"), ("photography", "摄影"), ("gardening", "园艺"),
]
PETS = [
    ("dog", "小狗"), ("cat", "小猫"), ("parrot", "鹦鹉"), ("rabbit", "兔子"), ("goldfish", "金鱼"), ("turtle", "乌龟"),
    ("hamster", "仓鼠"), ("goat", "山羊"), ("pigeon", "鸽子"), ("duck", "鸭子"),
]
PRODUCTS = [  # (English type, Chinese type, Chinese measure word, aspects)
    ("phone", "手机", "部", [("screen", "屏幕"), ("battery", "电池"), ("camera", "相机"), ("speaker", "喇叭")]),
    ("camera", "相机", "台", [("lens", "镜头"), ("battery", "电池"), ("menu", "菜单"), ("grip", "手柄")]),
    ("laptop", "电脑", "台", [("keyboard", "键盘"), ("screen", "屏幕"), ("battery", "电池"), ("fan", "风扇")]),
    ("bicycle", "自行车", "辆", [("brakes", "刹车"), ("saddle", "座椅"), ("gears", "齿轮"), ("frame", "车架")]),
    ("film", "电影", "部", [("plot", "情节"), ("acting", "表演"), ("music", "音乐"), ("ending", "结局")]),
    ("novel", "小说", "本", [("plot", "情节"), ("characters", "人物"), ("ending", "结局"), ("prose", "文字")]),
    ("album", "专辑", "张", [("songs", "歌曲"), ("lyrics", "歌词"), ("vocals", "演唱"), ("production", "制作")]),
    ("restaurant", "餐厅", "家", [("food", "饭菜"), ("service", "服务"), ("prices", "价格"), ("decor", "装修")]),
]
POSITIVE = ["excellent", "wonderful", "great", "superb", "impressive", "delightful", "solid", "reliable", "charming", "brilliant"]
NEGATIVE = ["awful", "terrible", "poor", "disappointing", "dull", "clumsy", "weak", "dreadful", "flimsy", "boring"]
POSITIVE_ZH = ["出色", "优秀", "漂亮", "可靠", "精彩", "舒服"]
NEGATIVE_ZH = ["糟糕", "失望", "难看", "无聊", "麻烦", "差劲"]
ZH_CITIES = [
    "北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州", "长沙", "郑州",
    "青岛", "沈阳", "大连", "厦门", "昆明", "济南", "福州", "合肥", "南昌", "贵阳", "兰州", "太原", "宁波", "无锡",
]
ZH_SURNAMES = list("张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾")
ZH_GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华",
    "平", "刚", "桂英", "建华", "文", "辉", "玲", "建国", "志强", "海燕", "小红", "晓明", "国庆", "春梅", "子涵",
]
ZH_COMPANY_ROOTS = ["华信", "天成", "东方", "金星", "长城", "宏达", "新世纪", "海洋", "光明", "远大", "星辰", "和平", "未来", "阳光"]
COMPANY_KINDS = ["Company", "Group", "Works", "Industries", "Labs"]
CITY_ENDINGS = ["ton", "burg", "vale", "port", "ford", "mere", "dale", "a", "ia", "holm"]
SYLLABLES = [
    "ka", "lo", "mi", "ren", "dar", "vel", "tor", "sa", "ni", "bel", "mor", "quin", "ta", "zu", "fen", "ril", "bra",
    "cas", "del", "gor", "hal", "jun", "kel", "lin", "mar", "nor", "pel", "ros", "sil", "tam", "ul", "var", "wen", "yor",
]

PERSON_RELATIONS = ("born_in", "birth_year", "profession", "lives_in", "works_for", "likes_food", "hobby", "pet")
COMPANY_RELATIONS = ("based_in", "founded_in", "founded_by", "makes")
VALUE_KIND = {  # relation -> what its value is
    "born_in": "city", "birth_year": "year", "profession": "profession", "lives_in": "city", "works_for": "company",
    "likes_food": "food", "hobby": "hobby", "pet": "pet", "based_in": "city", "founded_in": "year",
    "founded_by": "person", "makes": "product",
}

# --- English templates. {s} subject, {v} value, {va} value with its article, {P}/{p} pronoun,
# {pos} possessive. Every statement template has a negated twin (same index modulo length). -----
STATEMENTS = {
    "born_in": ["{s} was born in {v}.", "{s}'s birthplace is {v}.", "{s} comes from the city of {v}."],
    "birth_year": ["{s} was born in {v}.", "{s} was born in the year {v}.", "The birth of {s} took place in {v}."],
    "profession": ["{s} works as {va}.", "{s} is {va} by trade.", "{s} earns a living as {va}."],
    "lives_in": ["{s} lives in {v}.", "{s} has a home in {v}.", "{s} resides in {v}."],
    "works_for": ["{s} works for {v}.", "{s} is employed by {v}.", "{s} has a job at {v}."],
    "likes_food": ["{s} likes to eat {v}.", "{s}'s favourite food is {v}.", "{s} enjoys {v} more than any other food."],
    "hobby": ["{s} enjoys {v} in {pos} free time.", "{s}'s hobby is {v}.", "{s} spends weekends on {v}."],
    "pet": ["{s} owns {va}.", "{s} keeps {va} as a pet.", "{s} looks after {va} at home."],
    "based_in": ["{s} is based in {v}.", "{s} has its headquarters in {v}.", "The offices of {s} are in {v}."],
    "founded_in": ["{s} was founded in {v}.", "{s} was set up in the year {v}.", "{s} opened its doors in {v}."],
    "founded_by": ["{s} was founded by {v}.", "{v} started {s}.", "{s} was set up by {v}."],
    "makes": ["{s} makes {v}s.", "{s} builds {v}s.", "{s} is known for its {v}s."],
}
NEGATIONS = {
    "born_in": ["{s} was not born in {v}.", "{s}'s birthplace is not {v}.", "{s} does not come from {v}."],
    "birth_year": ["{s} was not born in {v}.", "{s} was not born in the year {v}."],
    "profession": ["{s} does not work as {va}.", "{s} is not {va}."],
    "lives_in": ["{s} does not live in {v}.", "{s} has no home in {v}."],
    "works_for": ["{s} does not work for {v}.", "{s} is not employed by {v}."],
    "likes_food": ["{s} does not like to eat {v}.", "{s}'s favourite food is not {v}."],
    "hobby": ["{s} does not enjoy {v}.", "{s}'s hobby is not {v}."],
    "pet": ["{s} does not own {va}.", "{s} has never kept {va}."],
    "based_in": ["{s} is not based in {v}.", "{s} has no offices in {v}."],
    "founded_in": ["{s} was not founded in {v}."],
    "founded_by": ["{s} was not founded by {v}."],
    "makes": ["{s} does not make {v}s."],
}
QUESTIONS = {  # wh-questions; the answer is the value
    "born_in": ["Where was {s} born?", "In which city was {s} born?", "What is {s}'s birthplace?"],
    "birth_year": ["In which year was {s} born?", "When was {s} born?", "What year was {s} born in?"],
    "profession": ["What does {s} do for a living?", "What is {s}'s job?", "What is the profession of {s}?"],
    "lives_in": ["Where does {s} live?", "In which city does {s} live?", "Where is {s}'s home?"],
    "works_for": ["Which company does {s} work for?", "Who employs {s}?", "Where does {s} have a job?"],
    "likes_food": ["What is {s}'s favourite food?", "What does {s} like to eat?", "Which food does {s} enjoy most?"],
    "hobby": ["What is {s}'s hobby?", "What does {s} enjoy in free time?", "How does {s} spend weekends?"],
    "pet": ["What pet does {s} have?", "Which animal does {s} keep?", "What animal does {s} own?"],
    "based_in": ["Where is {s} based?", "In which city are the offices of {s}?"],
    "founded_in": ["When was {s} founded?", "In which year was {s} set up?"],
    "founded_by": ["Who founded {s}?", "Who started {s}?"],
    "makes": ["What does {s} make?", "What is {s} known for?"],
}
YESNO = {  # yes/no questions about a (subject, relation, value) triple
    "born_in": ["Was {s} born in {v}?", "Is {v} the birthplace of {s}?"],
    "birth_year": ["Was {s} born in {v}?", "Is {v} the year {s} was born?"],
    "profession": ["Is {s} {va}?", "Does {s} work as {va}?"],
    "lives_in": ["Does {s} live in {v}?", "Is {v} where {s} lives?"],
    "works_for": ["Does {s} work for {v}?", "Is {s} employed by {v}?"],
    "likes_food": ["Does {s} like to eat {v}?", "Is {v} {s}'s favourite food?"],
    "hobby": ["Does {s} enjoy {v}?", "Is {v} {s}'s hobby?"],
    "pet": ["Does {s} own {va}?", "Does {s} keep {va} as a pet?"],
}
CLOZE = {  # RACE-style statements with a blank
    "born_in": "{s} was born in _ .", "birth_year": "{s} was born in the year _ .", "profession": "{s} works as _ .",
    "lives_in": "{s} now lives in _ .", "works_for": "{s} works for _ .", "likes_food": "{s}'s favourite food is _ .",
    "hobby": "In free time {s} enjoys _ .", "pet": "At home {s} keeps _ .",
}
STATEMENTS_ZH = {
    "born_in": ["{s}出生在{v}。", "{s}的家乡是{v}。", "{v}是{s}的出生地。"],
    "birth_year": ["{s}出生于{v}年。", "{s}是{v}年出生的。"],
    "profession": ["{s}是一名{v}。", "{s}的职业是{v}。", "{s}一直在做{v}的工作。"],
    "lives_in": ["{s}住在{v}。", "{s}现在生活在{v}。", "{s}的家在{v}。"],
    "works_for": ["{s}在{v}工作。", "{s}是{v}的员工。"],
    "likes_food": ["{s}喜欢吃{v}。", "{s}最爱吃的是{v}。"],
    "hobby": ["{s}的爱好是{v}。", "{s}平时喜欢{v}。"],
    "pet": ["{s}养了一只{v}。", "{s}家里有一只{v}。"],
}
NEGATIONS_ZH = {
    "born_in": ["{s}不是在{v}出生的。"], "birth_year": ["{s}不是{v}年出生的。"], "profession": ["{s}不是{v}。"],
    "lives_in": ["{s}不住在{v}。"], "works_for": ["{s}不在{v}工作。"], "likes_food": ["{s}不喜欢吃{v}。"],
    "hobby": ["{s}不喜欢{v}。"], "pet": ["{s}没有养{v}。"],
}

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
