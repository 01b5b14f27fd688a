"""Deterministic generator of GENERATED demo data (names, ID cards, phones, units, places, topics).

Nothing here is real: every person, ID-card number, phone number, unit and credit code is
invented from word lists and a seeded ``random.Random``, so the same seed always gives the same
data.  The numbers are nonetheless well-formed: ID cards, mobiles and credit codes pass the rules
of :mod:`app.core.formats`, so demo and benchmark data go through the same checks as real input.

    fake = FakeData(seed=42)
    fake.person_name(), fake.id_card(), fake.mobile(), fake.unit_name("soe")
    for number in fake.unique_id_cards(100_000): ...
"""
import random
from datetime import date, timedelta

from app.core.formats import (
    CREDIT_CODE_CATEGORIES,
    CREDIT_CODE_CHARS,
    credit_code_check_char,
    id_card_check_char,
    validate_credit_code,
)

__all__ = ["FakeData", "unique_id_cards", "UNIT_TYPES", "GENDERS", "SKILLS", "MATTERS"]

GENDERS = ("男", "女")
_MALE = {"男", "m", "male", "M", "Male", "MALE", 1, "1"}
_FEMALE = {"女", "f", "female", "F", "Female", "FEMALE", 2, "2", 0, "0"}

UNIT_TYPES = ("organ", "institution", "soe", "private", "social_org")
# Unit type -> (registration authority, organisation category) of its credit code.
UNIT_CREDIT_KIND = {
    "organ": ("1", "1"),
    "institution": ("1", "2"),
    "soe": ("9", "1"),
    "private": ("9", "1"),
    "social_org": ("5", "1"),
}

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "慕容")
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林峰建国志文博晨阳海东成亮"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英红梅琳燕萍雪慧莉婷倩洁颖琴云兰凤珍晶欣悦佳怡露瑶雯"

# Common words of Chinese place names, used to invent streets, communities, roads and units.
_PLACE_WORDS = (
    "向阳", "东城", "新华", "幸福", "和平", "团结", "光明", "建设", "人民", "胜利",
    "红旗", "友谊", "解放", "长青", "文化", "民主", "前进", "朝阳", "复兴", "安宁",
    "兴隆", "春光", "东风", "西苑", "南湖", "北苑", "振兴", "育才", "滨河", "青年",
    "新民", "永安", "丰收", "金桥", "翠园", "花园", "龙泉", "明珠", "景苑", "康乐",
)
_CN_NUMBERS = (
    "一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
    "十一", "十二", "十三", "十四", "十五", "十六", "十七", "十八", "十九", "二十",
)
_ROAD_SUFFIXES = ("路", "街", "大道", "巷", "北路", "南路", "东路", "西路")
_ESTATE_SUFFIXES = ("小区", "家园", "花园", "苑", "新村", "公寓", "佳苑")

_ORGAN_BODIES = (
    "市场监督管理局", "人力资源和社会保障局", "住房和城乡建设局", "教育局", "卫生健康委员会",
    "民政局", "司法局", "财政局", "城市管理综合执法局", "退役军人事务局", "应急管理局",
    "自然资源局", "交通运输局", "统计局", "审计局", "文化体育和旅游局", "发展和改革委员会",
    "区委组织部", "区委宣传部", "区委统战部", "区总工会", "区妇联",
)
_INSTITUTION_PATTERNS = (
    "{p}区第{n}中学", "{p}区实验小学", "{p}路小学", "{p}区人民医院", "{p}区中医医院",
    "{p}区妇幼保健院", "{p}区图书馆", "{p}区文化馆", "{p}区疾病预防控制中心",
    "{p}街道社区卫生服务中心", "{p}区职业技术学校", "{p}区第{n}幼儿园", "{p}区退役军人服务中心",
)
_SOE_PATTERNS = (
    "{p}供电公司", "{p}供水有限责任公司", "{p}燃气有限公司", "{p}热力有限公司",
    "{p}公共交通集团有限公司", "{p}城市建设投资集团有限公司", "{p}水务集团有限公司",
    "{p}邮政分公司", "{p}粮油储备有限公司", "{p}国有资产投资经营有限公司",
)
_BRAND_CHARS = "瑞华鑫达恒泰博创信联智远腾安源通宏盛嘉德新辰卓越锦程佳美"
_PRIVATE_SUFFIXES = (
    "科技有限公司", "信息技术有限公司", "物业服务有限公司", "商贸有限公司", "建筑工程有限公司",
    "餐饮管理有限公司", "物流有限公司", "电子商务有限公司", "家政服务有限公司", "医药连锁有限公司",
)
_SOCIAL_ORG_PATTERNS = (
    "{p}区志愿者协会", "{p}区书法家协会", "{p}区慈善协会", "{p}社会工作服务中心",
    "{p}区个体劳动者协会", "{p}区老年人体育协会", "{p}区青年创业促进会", "{p}邻里互助会",
    "{p}区律师协会", "{p}区餐饮行业协会", "{p}区红十字会", "{p}区摄影家协会",
)

SKILLS = (
    "法律咨询", "政策宣讲", "医疗义诊", "矛盾调解", "理发", "家电维修", "心理疏导", "助老服务",
    "文艺演出", "垃圾分类指导", "安全巡逻", "书法教学", "课业辅导", "水电维修", "健康讲座",
    "反诈宣传", "消防宣传", "摄影摄像",
)
POSTS = (
    "楼道长", "政策宣传员", "矛盾调解员", "安全巡逻员", "环境监督员", "文明劝导员",
    "助老志愿者", "网格信息员", "垃圾分类督导员", "民情联络员",
)

# Grid-governance matters: (subject, resolution pattern).  {b} = building number,
# {p} = place word; patterns read as the task a meeting assigns.
MATTERS = (
    ("燃气表维修", "联系燃气公司上门维修{b}号楼故障燃气表"),
    ("小区停车难", "协调{p}小区周边道路夜间临时停车位"),
    ("工厂噪音扬尘", "督促{p}路搅拌站落实降噪防尘措施"),
    ("绿化浇水", "落实{p}小区绿化带夏季定时浇水"),
    ("楼道杂物清理", "组织清理{b}号楼楼道堆放杂物"),
    ("老旧小区改造", "推进{p}小区老旧管网改造入户意见征集"),
    ("电动车充电桩", "在{p}小区增设电动自行车集中充电桩"),
    ("独居老人探访", "建立独居老人每周上门探访台账"),
    ("高空抛物治理", "在{b}号楼加装高空抛物监控探头"),
    ("路灯维修", "协调城管部门修复{p}路损坏路灯"),
    ("屋顶漏水", "督促物业维修{b}号楼顶层漏水"),
    ("下水道堵塞", "疏通{b}号楼单元下水管道"),
    ("消防通道占用", "清理{p}小区消防通道违规停车"),
    ("二次供水水箱清洗", "完成{p}小区二次供水水箱清洗消毒"),
    ("流浪犬整治", "联合物业开展流浪犬集中收容"),
    ("外墙脱落隐患", "排查修复{b}号楼外墙空鼓脱落"),
    ("菜市场环境整治", "整治{p}菜市场周边占道经营"),
    ("加装电梯", "协调{b}号楼加装电梯住户意见"),
    ("物业服务质量", "督促物业公司公示收支并整改服务短板"),
    ("垃圾分类推进", "在{p}小区增设垃圾分类定时定点投放点"),
)
_TOPIC_PATTERNS = (
    "关于{m}问题的协商", "{p}小区{m}议事", "研究解决{m}事宜", "{m}整改推进", "{m}情况通报及下步安排",
)
_NEEDS = (
    "独居老人定期探访", "青少年暑期托管", "社区健康义诊", "老旧小区加装电梯协调", "反诈宣传进小区",
    "困难家庭子女课业辅导", "小区环境卫生整治", "居民法律咨询", "残疾人就业帮扶", "社区文体活动场地",
)
_RESOURCES = (
    "会议室场地", "法律顾问团队", "义诊医疗队", "流动图书车", "志愿服务队", "文艺演出队",
    "办公电脑捐赠", "专项资金支持", "家电维修技术人员", "心理咨询师",
)
_PROJECT_PATTERNS = (
    "{u}进社区“{s}”志愿服务", "“红色{p}”{s}项目", "{s}结对共建", "“邻里{p}”{s}行动",
)


def _org_code_check_char(body):
    """GB 11714 check character for an 8-character organisation code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - ord("A") + 10) * w for c, w in zip(body, weights))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


class FakeData:
    """Seeded generator of invented demo data; equal seeds give equal sequences."""

    def __init__(self, seed=0):
        self.rng = random.Random(seed)

    # ---- people --------------------------------------------------------------------------

    def gender(self):
        """'男' or '女'."""
        return self.rng.choice(GENDERS)

    def person_name(self, gender=None):
        """Common surname + one or two given characters, e.g. 王伟, 李秀英."""
        rng = self.rng
        surname = rng.choice(_COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(_SURNAMES)
        if gender is None:
            pool = _GIVEN_MALE if rng.random() < 0.5 else _GIVEN_FEMALE
        else:
            pool = _GIVEN_MALE if gender in _MALE else _GIVEN_FEMALE
        given = "".join(rng.sample(pool, 1 if rng.random() < 0.3 else 2))
        return surname + given

    @staticmethod
    def _seq_candidates(gender):
        """Three-digit sequence codes 001-999; the last digit is odd for men, even for women."""
        if gender is None:
            return range(1, 1000)
        if gender in _MALE:
            return range(1, 1000, 2)
        if gender in _FEMALE:
            return range(2, 1000, 2)
        raise ValueError(f"unknown gender {gender!r}")

    @staticmethod
    def _birth_bounds(birth_year_range):
        first, last = birth_year_range
        start = date(max(int(first), 1900), 1, 1)
        end = min(date(int(last), 12, 31), date.today())
        if end < start:
            raise ValueError(f"empty birth year range {birth_year_range!r}")
        return start, end

    @staticmethod
    def _id_from(region, birth, seq):
        first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
        return first17 + id_card_check_char(first17)

    def id_card(self, region="650102", birth_year_range=(1960, 2000), gender=None):
        """A well-formed (invented) 18-character ID-card number; gender sets the parity digit."""
        region = str(region)
        if len(region) != 6 or not region.isdigit():
            raise ValueError(f"region must be 6 digits, not {region!r}")
        start, end = self._birth_bounds(birth_year_range)
        birth = start + timedelta(days=self.rng.randrange((end - start).days + 1))
        return self._id_from(region, birth, self.rng.choice(self._seq_candidates(gender)))

    def unique_id_cards(self, count, region="650102", birth_year_range=(1960, 2000), gender=None):
        """Yield ``count`` distinct well-formed ID-card numbers in random order.

        ``region`` is one 6-digit code or a sequence of them.  Uniqueness is guaranteed by
        sampling distinct indexes of (region, birth date, sequence code) without replacement;
        capacity is about 365,000 numbers per region per birth year.  Raises ValueError when
        ``count`` exceeds the capacity.
        """
        regions = [region] if isinstance(region, (str, int)) else list(region)
        regions = [str(r) for r in regions]
        if not regions or any(len(r) != 6 or not r.isdigit() for r in regions):
            raise ValueError(f"regions must be 6-digit codes, not {region!r}")
        start, end = self._birth_bounds(birth_year_range)
        seqs = self._seq_candidates(gender)
        days = (end - start).days + 1
        capacity = len(regions) * days * len(seqs)
        if count > capacity:
            raise ValueError(f"only {capacity} distinct numbers fit these regions and years")
        per_region = days * len(seqs)
        for index in self.rng.sample(range(capacity), count):
            r, rest = divmod(index, per_region)
            day, s = divmod(rest, len(seqs))
            yield self._id_from(regions[r], start + timedelta(days=day), seqs[s])

    def mobile(self):
        """An 11-digit mainland mobile number with a real network prefix (the rest is random)."""
        prefix = self.rng.choice((
            "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
            "150", "151", "152", "153", "155", "156", "157", "158", "159",
            "166", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189",
            "191", "198", "199",
        ))
        return prefix + "".join(self.rng.choice("0123456789") for _ in range(8))

    def skills(self, k=None):
        """One to three distinct skills of a reporting member, e.g. ['法律咨询', '理发']."""
        k = k or self.rng.randint(1, 3)
        return self.rng.sample(SKILLS, k)

    def post_name(self):
        """A post a member claims (认领岗位), e.g. 楼道长."""
        return self.rng.choice(POSTS)

    # ---- units ---------------------------------------------------------------------------

    def credit_code(self, kind="9", cat="1", region="659001"):
        """A well-formed (invented) unified social credit code.

        ``kind`` is the registration authority (9 market regulator, 1 establishment office,
        5 civil affairs, ...), ``cat`` the category, ``region`` six digits.  The embedded
        organisation code (characters 9-17) carries its own GB 11714 check character.
        """
        kind, cat, region = str(kind).upper(), str(cat).upper(), str(region)
        if cat not in CREDIT_CODE_CATEGORIES.get(kind, ""):
            raise ValueError(f"unknown registration authority / category {kind!r}/{cat!r}")
        if self.rng.random() < 0.5:
            body = "".join(self.rng.choice("0123456789") for _ in range(8))
        else:  # codes issued since 2015 start the organisation part with "MA"
            body = "MA" + "".join(self.rng.choice(CREDIT_CODE_CHARS) for _ in range(6))
        first17 = kind + cat + region + body + _org_code_check_char(body)
        return validate_credit_code(first17 + credit_code_check_char(first17))

    def unit_credit_code(self, unit_type, region="659001"):
        """A credit code whose authority/category suits ``unit_type`` (see :data:`UNIT_TYPES`)."""
        kind, cat = UNIT_CREDIT_KIND[unit_type]
        return self.credit_code(kind, cat, region)

    def _place(self):
        return self.rng.choice(_PLACE_WORDS)

    def unit_name(self, unit_type=None):
        """An invented unit name of the given type (organ, institution, soe, private, social_org)."""
        rng = self.rng
        if unit_type is None:
            unit_type = rng.choice(UNIT_TYPES)
        p = self._place()
        if unit_type == "organ":
            body = rng.choice(_ORGAN_BODIES)
            return p + body if body.startswith(("区委", "区总", "区妇")) else f"{p}区{body}"
        if unit_type == "institution":
            return rng.choice(_INSTITUTION_PATTERNS).format(p=p, n=rng.choice(_CN_NUMBERS[:12]))
        if unit_type == "soe":
            return rng.choice(_SOE_PATTERNS).format(p=p)
        if unit_type == "private":
            brand = "".join(rng.sample(_BRAND_CHARS, 2))
            return p + brand + rng.choice(_PRIVATE_SUFFIXES)
        if unit_type == "social_org":
            return rng.choice(_SOCIAL_ORG_PATTERNS).format(p=p)
        raise ValueError(f"unknown unit type {unit_type!r}; expected one of {UNIT_TYPES}")

    # ---- places --------------------------------------------------------------------------

    def street_name(self):
        """e.g. 向阳街道."""
        return self._place() + "街道"

    def community_name(self):
        """e.g. 幸福社区, 东城花园社区, 二十社区."""
        roll = self.rng.random()
        if roll < 0.6:
            return self._place() + "社区"
        if roll < 0.8:
            return self._place() + self.rng.choice(("里", "苑", "花园", "新村")) + "社区"
        return self.rng.choice(_CN_NUMBERS[1:]) + "社区"

    def grid_name(self, number=None):
        """e.g. 第3网格."""
        return f"第{number or self.rng.randint(1, 30)}网格"

    def address(self):
        """e.g. 团结路88号幸福家园3栋2单元502室."""
        rng = self.rng
        return (
            f"{self._place()}{rng.choice(_ROAD_SUFFIXES)}{rng.randint(1, 399)}号"
            f"{self._place()}{rng.choice(_ESTATE_SUFFIXES)}{rng.randint(1, 30)}栋"
            f"{rng.randint(1, 6)}单元{rng.randint(1, 18)}{rng.randint(1, 4):02d}室"
        )

    # ---- governance matters -------------------------------------------------------------

    def matter(self):
        """A grid-governance subject, e.g. 小区停车难."""
        return self.rng.choice(MATTERS)[0]

    def meeting_topic(self):
        """An agenda item of a joint meeting, e.g. 关于电动车充电桩问题的协商."""
        return self.rng.choice(_TOPIC_PATTERNS).format(m=self.matter(), p=self._place())

    def resolution_title(self):
        """A resolution (议定事项) to be chased and closed, e.g. 组织清理12号楼楼道堆放杂物."""
        pattern = self.rng.choice(MATTERS)[1]
        return pattern.format(b=self.rng.randint(1, 40), p=self._place())

    def demand_title(self):
        """A resident demand collected on a grid round, e.g. 3号楼燃气表维修."""
        return f"{self.rng.randint(1, 40)}号楼{self.matter()}"

    def need_title(self):
        """An item of a community needs list (需求清单)."""
        return self.rng.choice(_NEEDS)

    def resource_title(self):
        """An item of a unit resources list (资源清单)."""
        return self.rng.choice(_RESOURCES)

    def project_title(self, unit_name=None):
        """An item of a projects list (项目清单)."""
        unit = unit_name or self.unit_name()
        return self.rng.choice(_PROJECT_PATTERNS).format(u=unit, s=self.rng.choice(SKILLS), p=self._place())

    # ---- dates ---------------------------------------------------------------------------

    def date_between(self, start, end):
        """A date in [start, end]."""
        return start + timedelta(days=self.rng.randrange((end - start).days + 1))

    def datetime_between(self, start, end):
        """A datetime in [start, end), to the minute."""
        minutes = max(int((end - start).total_seconds() // 60), 1)
        return start + timedelta(minutes=self.rng.randrange(minutes))

    def choice(self, seq):
        return self.rng.choice(seq)


def unique_id_cards(count, region="650102", birth_year_range=(1960, 2000), gender=None, seed=0):
    """Module-level shortcut for ``FakeData(seed).unique_id_cards(...)``."""
    return FakeData(seed).unique_id_cards(count, region, birth_year_range, gender)
