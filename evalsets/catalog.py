"""The MangaAssist catalogue shared by every evalset builder, so intents, rankings and answers
talk about the same titles. Tiers follow 90-day query frequency (seed 002 section 4.2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Title:
    key: str
    en: str
    ja: str
    romaji: str
    genre: str
    tier: str  # head | mid | long
    volumes: int
    author: str


def _t(key: str, en: str, ja: str, romaji: str, genre: str, tier: str, volumes: int, author: str) -> Title:
    return Title(key, en, ja, romaji, genre, tier, volumes, author)


TITLES: tuple[Title, ...] = (
    _t("one_piece", "One Piece", "ワンピース", "wan piisu", "adventure", "head", 110, "Eiichiro Oda"),
    _t("naruto", "Naruto", "ナルト", "naruto", "action", "head", 72, "Masashi Kishimoto"),
    _t(
        "demon_slayer",
        "Demon Slayer",
        "鬼滅の刃",
        "kimetsu no yaiba",
        "dark fantasy",
        "head",
        23,
        "Koyoharu Gotouge",
    ),
    _t(
        "aot",
        "Attack on Titan",
        "進撃の巨人",
        "shingeki no kyojin",
        "dark fantasy",
        "head",
        34,
        "Hajime Isayama",
    ),
    _t("jjk", "Jujutsu Kaisen", "呪術廻戦", "jujutsu kaisen", "action", "head", 30, "Gege Akutami"),
    _t(
        "mha",
        "My Hero Academia",
        "僕のヒーローアカデミア",
        "boku no hero academia",
        "action",
        "head",
        42,
        "Kohei Horikoshi",
    ),
    _t(
        "chainsaw_man",
        "Chainsaw Man",
        "チェンソーマン",
        "chensoo man",
        "horror",
        "head",
        20,
        "Tatsuki Fujimoto",
    ),
    _t(
        "spy_family",
        "Spy x Family",
        "スパイファミリー",
        "supai famirii",
        "comedy",
        "head",
        14,
        "Tatsuya Endo",
    ),
    _t(
        "dragon_ball",
        "Dragon Ball",
        "ドラゴンボール",
        "doragon booru",
        "action",
        "head",
        42,
        "Akira Toriyama",
    ),
    _t(
        "frieren",
        "Frieren",
        "葬送のフリーレン",
        "sousou no furiiren",
        "fantasy",
        "head",
        14,
        "Kanehito Yamada",
    ),
    _t("oshi_no_ko", "Oshi no Ko", "推しの子", "oshi no ko", "drama", "head", 16, "Aka Akasaka"),
    _t("blue_lock", "Blue Lock", "ブルーロック", "buruu rokku", "sports", "head", 31, "Muneyuki Kaneshiro"),
    _t(
        "fma",
        "Fullmetal Alchemist",
        "鋼の錬金術師",
        "hagane no renkinjutsushi",
        "fantasy",
        "mid",
        27,
        "Hiromu Arakawa",
    ),
    _t("death_note", "Death Note", "デスノート", "desu nooto", "thriller", "mid", 12, "Tsugumi Ohba"),
    _t("tokyo_ghoul", "Tokyo Ghoul", "東京喰種", "tokyo guuru", "horror", "mid", 14, "Sui Ishida"),
    _t(
        "vinland_saga",
        "Vinland Saga",
        "ヴィンランド・サガ",
        "vinrando saga",
        "historical",
        "mid",
        28,
        "Makoto Yukimura",
    ),
    _t("haikyu", "Haikyu!!", "ハイキュー!!", "haikyuu", "sports", "mid", 45, "Haruichi Furudate"),
    _t("gintama", "Gintama", "銀魂", "gintama", "comedy", "mid", 77, "Hideaki Sorachi"),
    _t(
        "jojo",
        "JoJo's Bizarre Adventure",
        "ジョジョの奇妙な冒険",
        "jojo no kimyou na bouken",
        "action",
        "mid",
        63,
        "Hirohiko Araki",
    ),
    _t("berserk", "Berserk", "ベルセルク", "beruseruku", "dark fantasy", "mid", 42, "Kentaro Miura"),
    _t(
        "dungeon_meshi",
        "Delicious in Dungeon",
        "ダンジョン飯",
        "danjon meshi",
        "fantasy",
        "mid",
        14,
        "Ryoko Kui",
    ),
    _t(
        "apothecary",
        "The Apothecary Diaries",
        "薬屋のひとりごと",
        "kusuriya no hitorigoto",
        "mystery",
        "mid",
        13,
        "Natsu Hyuuga",
    ),
    _t("dandadan", "Dandadan", "ダンダダン", "dandadan", "comedy", "mid", 18, "Yukinobu Tatsu"),
    _t("kaiju8", "Kaiju No. 8", "怪獣8号", "kaijuu hachigou", "action", "mid", 14, "Naoya Matsumoto"),
    _t(
        "golden_kamuy",
        "Golden Kamuy",
        "ゴールデンカムイ",
        "gooruden kamui",
        "historical",
        "mid",
        31,
        "Satoru Noda",
    ),
    _t("parasyte", "Parasyte", "寄生獣", "kiseijuu", "horror", "long", 10, "Hitoshi Iwaaki"),
    _t("mushishi", "Mushishi", "蟲師", "mushishi", "slice of life", "long", 10, "Yuki Urushibara"),
    _t("yotsuba", "Yotsuba&!", "よつばと!", "yotsuba to", "slice of life", "long", 15, "Kiyohiko Azuma"),
    _t(
        "honey_clover",
        "Honey and Clover",
        "ハチミツとクローバー",
        "hachimitsu to kuroobaa",
        "romance",
        "long",
        10,
        "Chica Umino",
    ),
    _t(
        "lustrous",
        "Land of the Lustrous",
        "宝石の国",
        "houseki no kuni",
        "fantasy",
        "long",
        13,
        "Haruko Ichikawa",
    ),
    _t("ajin", "Ajin", "亜人", "ajin", "thriller", "long", 17, "Gamon Sakurai"),
    _t("dorohedoro", "Dorohedoro", "ドロヘドロ", "dorohedoro", "dark fantasy", "long", 23, "Q Hayashida"),
    _t(
        "umimachi",
        "Our Little Sister",
        "海街diary",
        "umimachi daiarii",
        "slice of life",
        "long",
        9,
        "Akimi Yoshida",
    ),
    _t(
        "girls_last_tour",
        "Girls' Last Tour",
        "少女終末旅行",
        "shoujo shuumatsu ryokou",
        "sci-fi",
        "long",
        6,
        "Tsukumizu",
    ),
    _t("blame", "Blame!", "ブラム!", "buramu", "sci-fi", "long", 10, "Tsutomu Nihei"),
    _t("solanin", "Solanin", "ソラニン", "soranin", "drama", "long", 2, "Inio Asano"),
    _t(
        "oyasumi_punpun",
        "Goodnight Punpun",
        "おやすみプンプン",
        "oyasumi punpun",
        "drama",
        "long",
        13,
        "Inio Asano",
    ),
    _t(
        "witch_hat",
        "Witch Hat Atelier",
        "とんがり帽子のアトリエ",
        "tongari boushi no atorie",
        "fantasy",
        "long",
        13,
        "Kamome Shirahama",
    ),
    _t(
        "heavenly_delusion",
        "Heavenly Delusion",
        "天国大魔境",
        "tengoku daimakyou",
        "sci-fi",
        "long",
        11,
        "Masakazu Ishiguro",
    ),
    _t(
        "shimanami",
        "Our Dreams at Dusk",
        "しまなみ誰そ彼",
        "shimanami tasogare",
        "drama",
        "long",
        4,
        "Yuhki Kamatani",
    ),
)

GENRES_JA: dict[str, str] = {
    "adventure": "冒険",
    "action": "アクション",
    "dark fantasy": "ダークファンタジー",
    "horror": "ホラー",
    "comedy": "コメディ",
    "fantasy": "ファンタジー",
    "drama": "ドラマ",
    "sports": "スポーツ",
    "thriller": "サスペンス",
    "historical": "歴史",
    "mystery": "ミステリー",
    "slice of life": "日常",
    "romance": "恋愛",
    "sci-fi": "SF",
}

FORMATS: tuple[str, ...] = ("paperback", "kindle", "box set", "collector's edition", "omnibus")


def by_tier(tier: str) -> tuple[Title, ...]:
    """Titles of one catalogue tier (head, mid or long)."""
    return tuple(t for t in TITLES if t.tier == tier)
