"""The words and sentence templates of the synthetic world, in English and Chinese.

Lexicons are (English, Chinese) pairs; Chinese words are multi-character so jieba segments them as
words and whole-word masking differs from character masking.
"""

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
