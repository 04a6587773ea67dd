"""Cleaning: boilerplate rules (as data), the seeds, language detection and outlet recognition."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rasd.text.clean import clean_text, load_boilerplate, remove_boilerplate, rules_for
from rasd.text.lang import arabic_share, detect_language
from rasd.text.normalize import clean_chars, is_normalized, normalize
from rasd.text.outlets import (
    find_outlet, is_masthead, load_outlets, outlet_from_text, outlet_from_url, recognise_outlet,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = {p.name[:3]: p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "sample").glob("*.txt"))}


# ------------------------------------------------------------------ the rules are data, normalised and tested

def _all_rules():
    data = load_boilerplate()
    out = [(None, r) for r in data["generic"]]
    for outlet, rules in (data.get("outlets") or {}).items():
        out += [(outlet, r) for r in rules]
    return out


def test_boilerplate_file_is_documented_and_normalised():
    data = load_boilerplate()
    assert data["source"] and data["notes"]
    ids = [r["id"] for _, r in _all_rules()]
    assert len(ids) == len(set(ids))
    known = {o.id for o in load_outlets()}
    for outlet, r in _all_rules():
        assert r.get("notes"), r["id"]
        assert r.get("examples"), r["id"]
        assert is_normalized(r["pattern"]), r["id"]
        re.compile(r["pattern"])
        assert outlet is None or outlet in known


@pytest.mark.parametrize("outlet,rule", _all_rules(), ids=lambda x: x["id"] if isinstance(x, dict) else str(x))
def test_every_rule_removes_its_examples(outlet, rule):
    for ex in rule["examples"]:
        assert is_normalized(ex), ex
        lines = ["قتل مدنيان في قصف مدفعي على بلدة كنصفرة بريف إدلب الجنوبي، صباح اليوم، بحسب الدفاع المدني السوري الذي أسعف المصابين إلى مشفى قريب في المنطقة بعد القصف."]
        if rule["kind"] in ("repeated_caption", "repeated_line"):
            lines += [ex, ex]
        else:
            lines += [ex]
        kept, dropped = remove_boilerplate(lines, rules_for(outlet))
        expected = lines[:2] if rule["kind"] == "repeated_line" else lines[:1]  # one copy stays
        assert kept == expected, (rule["id"], ex, dropped)
        assert {rid for _, rid in dropped} == {rule["id"]}


def test_outlets_file_is_normalised_and_documented():
    outlets = load_outlets()
    assert len({o.id for o in outlets}) == len(outlets)
    import yaml
    from importlib import resources

    raw = yaml.safe_load(resources.files("rasd.data").joinpath("outlets.yaml").read_text(encoding="utf-8"))
    assert raw["source"] and raw["notes"]
    for o in raw["outlets"]:
        assert o.get("source"), o["id"]
        for f in o.get("forms") or ():
            assert is_normalized(f), (o["id"], f)
        for d in o.get("domains") or ():
            assert d == d.lower() and "/" not in d


# ------------------------------------------------------------------ rules on short purpose-written examples

REPORT = "قتل مدنيان وأصيب ثلاثة آخرون بجروح جراء قصف مدفعي استهدف بلدة كنصفرة في ريف إدلب الجنوبي صباح اليوم، بحسب ما أفاد الدفاع المدني السوري الذي قال إن فرقه أسعفت المصابين إلى مشفى قريب."


def test_caption_marker_removes_both_copies():
    raw = f"عنوان الخبر هنا\n\nدمار في بلدة كنصفرة (الدفاع المدني)\n\ncamera iconدمار في بلدة كنصفرة (الدفاع المدني)\n\n{REPORT}"
    assert clean_text(raw) == f"عنوان الخبر هنا\n\n{REPORT}"


def test_repeated_caption_and_repeated_line():
    raw = f"آثار القصف على السوق (ناشطون)\nآثار القصف على السوق (ناشطون)\n{REPORT}\n{REPORT}\nسيارة محترقة (فيديو)"
    assert clean_text(raw) == f"{REPORT}\nسيارة محترقة (فيديو)"


def test_see_also_heading_and_block_stop_at_prose():
    raw = (f"{REPORT}\n\nشاهد أيضًا\n\nعنوان مقال آخر لا علاقة له\n\n{REPORT.replace('كنصفرة', 'البارة')}\n\n"
           "مقالات ذات صلة\nعنوان أول\nعنوان ثان\n×\n" + REPORT.replace("كنصفرة", "كفرنبل"))
    out = clean_text(raw)
    assert "شاهد" not in out and "عنوان مقال آخر" not in out and "مقالات" not in out and "عنوان أول" not in out
    assert out.count("قتل مدنيان") == 3  # the prose after each block is kept


def test_inline_read_also_and_widgets():
    raw = "\n".join([
        "icon", "التغطية الحية", "+A", "حجم الخط", "-A", "tag icon ع ع ع", "Facebook Twitter WhatsApp Telegram",
        REPORT, "اقرأ أيضًا: قصف على ريف حماة", "زر الذهاب إلى الأعلى", "منذ ساعتين", "اترك ردًا",
    ])
    assert clean_text(raw) == REPORT


def test_paragraphs_kept_and_blank_runs_collapsed():
    raw = "عنوان  الخبر\r\n\r\n\r\n\r\nالفقرة الأولى من الخبر.\n   \nالفقرة الثانية ـــ من الخبر.\n\n\n"
    assert clean_text(raw) == "عنوان الخبر\n\nالفقرة الأولى من الخبر.\n\nالفقرة الثانية من الخبر."


def test_reporting_lines_that_look_like_chrome_are_kept():
    keep = [
        "وقال الناشط إن الأهالي طالبوا بدعم المشافي في المنطقة بعد القصف الذي استهدف السوق الشعبي.",
        "ونشرت الصفحة عبر فيسبوك صورًا للدمار الذي خلفه القصف في حي المشارقة بمدينة حلب.",
        "وشارك مئات الأشخاص في مظاهرة بمدينة السويداء للمطالبة بالإفراج عن المعتقلين.",
        "وقالت مصادر محلية لعنب بلدي إن الاشتباكات تجددت في المنطقة.",
    ]
    assert clean_text("\n".join(keep)) == clean_chars("\n".join(keep))


def test_per_outlet_rules_apply_only_to_that_outlet():
    line = "دولار واحد شهريًا يصنع الفرق"
    assert clean_text(f"{REPORT}\n{line}", "Enab Baladi") == REPORT
    assert clean_text(f"{REPORT}\n{line}", "enab-baladi") == REPORT
    assert normalize(line) in normalize(clean_text(f"{REPORT}\n{line}"))


def test_control_characters_removed():
    assert clean_text("قصف\x00 على\x1a البلدة\u2028سطر ثان") == "قصف على البلدة\nسطر ثان"


# ------------------------------------------------------------------ the seeds

BOILERPLATE_IN_SEEDS = [
    "camera icon", "tag icon", "ع ع ع", "حجم الخط", "التغطية الحية", "اقرأ أيضًا", "مقالات متعلقة",
    "مقالات ذات صلة", "زر الذهاب", "ادعم عنب بلدي", "اضغط هنا للمساهمة", "دولار واحد شهريًا",
    "سوريا بحاجة للصحافة الحرة", "الإعلام الموجّه", "(بصرى الآن)", "(ناشطون)", "(تجمع أحرار حوران)",
]

REPORTING_IN_SEEDS = {
    "000": ["درعا.. “اللواء الثامن” على خط المواجهات في جاسم",
            "وأفاد مراسل عنب بلدي في درعا أن أرتالًا عسكرية دخلت، مساء الجمعة 14 من تشرين الأول، إلى مدينة جاسم",
            "إن أربعة مقاتلين محليين قتلوا إثر الاشتباكات",
            "أن فصائل المعارضة قررت محاربة خلايا التنظيم لتجنيب المدينة حملة النظام، لكن دون تنسيق معه."],
    "001": ["من وراء ظهور خلايا تنظيم الدولة في جاسم بدرعا؟ ومن يقاتلهم؟", "2022.10.20 | 17:50 دمشق",
            "درعا - خاص", "عناصر الفيلق الخامس", "وخلال الأيام الماضية قتل العشرات من عناصر التنظيم",
            "في حين تجاوز العدد 100 عنصر خلال الشهر الفائت"],
    "002": ["درعا.. انسحاب قوات النظام من مدينة جاسم بعد التوصل لاتفاق مع وجهائها",
            "وبحسب ما قاله قيادي سابق بفصائل المعارضة في المدينة اليوم، الثلاثاء 15 من آذار",
            "وسبق أن شنت قواته حملة عسكرية على المدينة في عام 2020"],
    "003": ["تمديد حظر التجول في جاسم بريف درعا لليوم الثاني",
            "فجرت المجموعات المحلية في مدينة جاسم شمالي درعا اليوم منزلا كان يتحصن فيه 4 قادة من تنظيم داعش",
            "وكشف المصدر أن وجهاء جاسم قرروا أمس الأول الخميس طرد خلايا التنظيم"],
    "004": ["درعا – نورث برس", "حملة لملاحقة خلايا داعش", "فوضى وجرائم قتل مستمرة",
            "وأسفر الهجوم عن مقتل عنصر من القوات الحكومية وإصابة ضابط برتبة ملازم أول وعنصرين آخرين."],
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seed_cleaning(seed):
    outlet = outlet_from_text(SEEDS[seed])
    out = clean_text(SEEDS[seed], outlet.id if outlet else None)
    folded = normalize(out)
    for bp in BOILERPLATE_IN_SEEDS:
        assert normalize(bp) not in folded, bp
    assert "\n\n\n" not in out and out == out.strip()
    for sentence in REPORTING_IN_SEEDS[seed]:
        assert normalize(sentence) in folded, sentence
    # Every line of reporting survives: each kept line of the raw text is a line of the output.
    out_lines = {normalize(ln) for ln in out.split("\n")}
    raw_lines = [normalize(ln) for ln in SEEDS[seed].split("\n") if normalize(ln)]
    dropped = [ln for ln in raw_lines if ln not in out_lines]
    # Only short chrome lines go (and photo captions, however long).
    assert all(len(ln.split()) < 25 or ln.startswith("camera icon") for ln in dropped), dropped


# ------------------------------------------------------------------ language

def test_detect_language():
    assert detect_language(REPORT) == "ar"
    assert detect_language("Two civilians were killed in shelling on the town, the monitor said.") == "en"
    assert detect_language("Deux civils ont été tués dans un bombardement.") == "other"
    assert detect_language("12345 - 678") == "und"
    mixed = REPORT + " " + "The report was published in English as well by the agency." * 1
    assert detect_language(mixed) == "ar"
    assert 0.0 <= arabic_share(mixed) <= 1.0
    assert detect_language("قصف on the town of Idlib said the report", min_arabic_share=0.2) == "en"


# ------------------------------------------------------------------ outlets

def test_find_outlet_from_metadata_names():
    assert find_outlet("Enab Baladi").id == "enab-baladi"
    assert find_outlet("North Press (نورث برس)").id == "north-press"
    assert find_outlet("Al-Baath (albaathmedia.sy)").id == "al-baath"
    assert find_outlet("عنب بلدي").id == "enab-baladi"
    assert find_outlet("Some Blog") is None and find_outlet(None) is None


def test_outlet_from_url():
    assert outlet_from_url("https://www.enabbaladi.net/archives/1").id == "enab-baladi"
    assert outlet_from_url("https://npasyria.com/?p=1").id == "north-press"
    assert outlet_from_url("https://notenabbaladi.net.example.com/") is None
    assert outlet_from_url("not a url") is None and outlet_from_url(None) is None


def test_outlet_from_text_needs_an_authorship_cue():
    assert outlet_from_text("الحسكة – نورث برس\n" + REPORT).id == "north-press"
    assert outlet_from_text(REPORT + "\nوأفاد مراسل عنب بلدي أن القصف استمر.").id == "enab-baladi"
    assert outlet_from_text(REPORT + "\nوقالت مصادر محلية لتلفزيون سوريا إن القصف استمر.").id == "syria-tv"
    assert outlet_from_text(REPORT + "\nوقال المصدر للمرصد السوري لحقوق الإنسان إن القصف استمر.").id == "sohr"
    # Citing another outlet is not authorship.
    assert outlet_from_text(REPORT + "\nوفق موقع “تجمع أحرار حوران” المحلي، وهو ما أكدته شبكة “درعا 24”.") is None
    # A dateline outranks a quote given to another outlet.
    text = "حماة – نورث برس\n" + REPORT + "\nوقال مصدر لوكالة سانا إن القصف استمر."
    assert outlet_from_text(text).id == "north-press"
    assert recognise_outlet(REPORT, "https://www.syria.tv/x").id == "syria-tv"


def test_is_masthead():
    assert is_masthead("درعا – نورث برس")
    assert is_masthead("بلدي نيوز")
    assert not is_masthead("قال مصدر محلي لنورث برس إن الاشتباكات تجددت في المدينة صباح اليوم")


def test_clean_text_is_idempotent_on_layouts():
    raw = "آثار القصف (ناشطون)\nicon\nآثار القصف (ناشطون)\n" + REPORT + "\nمقالات متعلقة\nعنوان\n" + REPORT
    once = clean_text(raw)
    assert "ناشطون" not in once and clean_text(once) == once


from hypothesis import given, settings, strategies as st  # noqa: E402

_LINES = st.sampled_from([
    REPORT, "camera iconصورة من القصف (ناشطون)", "صورة من القصف (ناشطون)", "tag icon ع ع ع", "", " ",
    "مقالات ذات صلة", "شاهد أيضًا", "عنوان قصير", "اقرأ أيضًا: عنوان", "+A", "حجم الخط", "زر الذهاب إلى الأعلى",
    "×", "قتل مدني في درعا", "قُتل مدني في درعا",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINES, max_size=14))
def test_clean_text_properties(lines):
    raw = "\n".join(lines)
    out = clean_text(raw)
    assert clean_text(out) == out
    assert "\n\n\n" not in out and out == out.strip()
    # Every kept line comes from the input.
    src = {clean_text(ln) for ln in lines}
    assert all(ln in src for ln in out.split("\n") if ln)
