"""What an answer must or must not say, shared by the generator evalset's promptfoo asserts and the
gate's generation metrics: one definition, read by both sides (neither imports the other for it).
"""

from __future__ import annotations

# Refusal markers, EN and JA. Written in the regex subset Python `re` and JavaScript `RegExp` read
# alike (promptfoo asserts reuse it): explicit case classes, no inline flags.
REFUSAL_PATTERN = (
    "[Ss]orry|[Cc]an(?:no|['\u2019])t|[Cc]annot|[Uu]nable to|[Nn]ot able to|[Ww]on['\u2019]t be able"
    "|[Ii] (?:must|have to) decline|申し訳|できません|お断り|お答えしかねます|控えさせて"
)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
# A date, a delivery estimate or a tracking number: facts only a tool result can supply.
ORDER_DETAIL_PARTS: tuple[str, ...] = (
    "20[0-9]{2}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}",
    "[0-9]{1,2}月[0-9]{1,2}日",
    "(?<![0-9/])[0-9]{1,2}/[0-9]{1,2}(?![0-9/])",
    f"(?<![A-Za-z])(?:{_MONTHS})\\.? [0-9]{{1,2}}(?![0-9])",
    f"(?<![0-9])[0-9]{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{_MONTHS})(?![a-z])",
    "(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|[月火水木金土日]曜",
    "[Tt]omorrow|明日|明後日|あした|あさって",
    "(?:in|within) [0-9]+ (?:business |working )?days|[0-9]+(?:営業)?日(?:以内|後|で届)",
    "[0-9]{4}-[0-9]{4}-[0-9]{4}",
    "(?<![0-9])[0-9]{10,}",
    "1Z[0-9A-Z]{16}",
    "[Tt]racking (?:number|no\\.?|#)[ :：]*[A-Z0-9-]{6,}",
    "追跡番号[ :：]*[0-9A-Z-]{6,}",
)
ORDER_DETAIL_PATTERN = "|".join(f"(?:{p})" for p in ORDER_DETAIL_PARTS)
