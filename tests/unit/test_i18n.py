"""The report language catalogs: the same keys in every language, business names, the chain's own names."""

from __future__ import annotations

import re

import pytest

from userops import i18n
from userops.params import ParamsError, load_params

SNAKE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")
CJK = re.compile(r"[\u3400-\u9fff]")


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and not {"term", "text"} <= set(v):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.fixture(autouse=True)
def _restore_language():
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_every_language_has_the_same_keys_and_fields():
    zh, en = _leaves(i18n.catalog("zh")), _leaves(i18n.catalog("en"))
    assert sorted(set(zh) ^ set(en)) == []  # a missing translation is a failure, never a fallback
    for key, text in zh.items():
        if isinstance(text, str) and not key.startswith("text.common.month"):  # month: name or numbers
            assert i18n.fields(text) == i18n.fields(en[key]), key  # the same numbers in both


def test_chinese_texts_read_as_chinese_and_show_no_code():
    zh = _leaves(i18n.catalog("zh"))
    for key, value in zh.items():
        texts = [value["term"], value["text"]] if isinstance(value, dict) else [value]
        for text in texts:
            shown = re.sub(r"\{[a-z_]+\}", "", str(text))
            assert not SNAKE.search(shown), (key, text)
            assert "$" not in shown and "`" not in shown, key
        words = re.findall(r"[A-Za-z]{4,}", re.sub(r"\{[a-z_]+\}", "", str(value)))
        if set(words) - {"Shapley"}:
            assert CJK.search(str(value)), key  # sentences are Chinese, not English left behind


def test_names_and_the_open_vocabulary():
    i18n.set_language("zh")
    assert i18n.name("channel", "paid_ads") == "付费广告"
    assert i18n.name("stage", "churned") == "沉睡用户"
    assert i18n.name("campaign_channel", "wechat_notice") == "微信服务通知"
    # a value the chain invented is shown exactly as the data has it, never prettified
    assert i18n.name("channel", "douyin_live") == "douyin_live"
    assert not i18n.known("channel", "douyin_live")
    i18n.set_language("en")
    assert i18n.name("channel", "paid_ads") == "Paid ads"
    with pytest.raises(i18n.MissingTranslation):
        i18n.name("colour", "red")
    with pytest.raises(i18n.MissingTranslation):
        i18n.t("brief.no_such_sentence")


def test_the_demo_vocabulary_has_names_in_every_language():
    from userops import demo

    wanted = {
        "channel": demo.CHANNELS,
        "order_channel": demo.ORDER_CHANNELS,
        "campaign_channel": tuple(demo.CAMPAIGN_COST),
        "category": ("fresh", "cooking", "mother_baby", "snacks", "drinks", "daily"),
        "segment": tuple(r.name for r in load_params("params/default.yaml").persona.segments),
    }
    for lang in i18n.LANGUAGES:
        names = i18n.catalog(lang)["names"]
        for kind, values in wanted.items():
            assert sorted(set(values) - set(names[kind])) == [], (lang, kind)


def test_params_choose_the_language_and_the_chain_names(tmp_path, monkeypatch):
    monkeypatch.delenv(i18n.ENV_LANGUAGE, raising=False)
    f = tmp_path / "p.yaml"
    f.write_text(
        "report:\n  language: en\n  display_names: {channel: {paid_ads: 信息流广告}}\n", encoding="utf-8"
    )
    p = load_params(f)
    assert p.report.language == "en"
    i18n.set_language(p.report.language, p.report.display_names)
    assert i18n.name("channel", "paid_ads") == "信息流广告" and i18n.known("channel", "paid_ads")
    assert i18n.name("channel", "app") == "App"
    monkeypatch.setenv(i18n.ENV_LANGUAGE, "zh")  # `userops run --lang zh` wins over the file
    assert load_params(f).report.language == "zh"
    bad = tmp_path / "bad.yaml"
    bad.write_text("report:\n  display_names: {colour: {red: 红}}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="colour"):
        load_params(bad)
    monkeypatch.setenv(i18n.ENV_LANGUAGE, "fr")
    with pytest.raises(ParamsError, match="report.language"):
        load_params(f)


def test_part_catalogs_merge_and_a_key_defined_twice_is_an_error(tmp_path):
    tree = {"text": {"common": {"na": "n/a"}}}
    i18n._merge(tree, {"text": {"play01": {"a": "x"}}}, "i18n/en/play01.yaml")
    assert tree == {"text": {"common": {"na": "n/a"}, "play01": {"a": "x"}}}
    with pytest.raises(ValueError, match=r"i18n/en/dup.yaml: key text.common.'na'"):
        i18n._merge(tree, {"text": {"common": {"na": "again"}}}, "i18n/en/dup.yaml")


def test_value_tiers_read_in_one_language():
    """activity.tier_label once gave '核心 core' (Chinese and the code side by side) in every report."""
    from userops import activity

    i18n.set_language("zh")
    assert activity.tier_label("core") == "核心用户"
    assert activity.tier_label("new") == "新客"  # the lifecycle stage's name
    i18n.set_language("en")
    assert activity.tier_label("core") == "Core"
    assert activity.tier_label("none") == "No spend"
    assert activity.tier_label("vip_gold") == "vip_gold"  # a tier the chain named in params: as written


def test_names_inside_an_english_sentence_read_in_lower_case():
    i18n.set_language("en")
    assert i18n.name("segment", "champions") == "Champions"  # table cells, chart labels, titles
    assert i18n.name_in_text("segment", "champions") == "champions"  # "... of champions users ..."
    assert i18n.name_in_text("coupon_kind", "new_user_small") == "new-user small coupon"
    assert i18n.name_in_text("metric", "recall_lift_all") == "churn recall: reactivation lift"
    # names and acronyms keep their case
    assert i18n.name_in_text("channel", "wechat_group") == "WeChat groups"
    assert i18n.name_in_text("campaign_channel", "sms") == "SMS"
    assert i18n.name_in_text("factor", "aov") == "AOV"
    # the chain's own names, from params or the data, exactly as written
    assert i18n.name_in_text("channel", "Douyin_Live") == "Douyin_Live"
    i18n.set_language("en", {"segment": {"champions": "Gold Club"}})
    assert i18n.name_in_text("segment", "champions") == "Gold Club"
    i18n.set_language("zh")  # no case in Chinese
    assert i18n.name_in_text("segment", "champions") == i18n.name("segment", "champions")


def test_report_labels_inside_an_english_sentence():
    # play 03's segment labels are report texts, not catalog names: "12.5 days for offline orders"
    i18n.set_language("en")
    assert i18n.in_sentence("Offline") == "offline"
    assert i18n.in_sentence("Online and offline") == "online and offline"
    assert i18n.in_sentence(i18n.name("campaign_channel", "offline_push")) == "in-store push"
    assert i18n.in_sentence("WeChat groups") == "WeChat groups" and i18n.in_sentence("SMS") == "SMS"
    assert i18n.in_sentence("App") == "App"  # the chain's app: a product name
    i18n.set_language("zh")
    assert i18n.in_sentence("线下") == "线下"


def test_every_text_builder_of_the_library_is_used():
    """A reader-facing sentence builder (``def *_text``) that nothing calls is dead wording, left in one
    language (campaigns.reminder_money_text was English-only and unused)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lib = [f.read_text(encoding="utf-8") for f in (root / "lib" / "userops").rglob("*.py")]
    texts = lib + [f.read_text(encoding="utf-8") for f in (root / "notebooks").glob("*.ipynb")]
    builders = {n for t in lib for n in re.findall(r"^def ([a-z]\w*_text)\(", t, re.M)}
    assert len(builders) > 10
    unused = sorted(n for n in builders if sum(len(re.findall(rf"\b{n}\b", t)) for t in texts) < 2)
    assert unused == []


# ------------------------------------------------------------------ English plurals: "1 order", "2 orders"

#: the plural nouns English report sentences put after a count, with their singulars
PLURALS = {
    "days": "day", "users": "user", "buyers": "buyer", "orders": "order", "months": "month", "weeks": "week",
    "hours": "hour", "campaigns": "campaign", "clusters": "cluster", "registrations": "registration",
    "customers": "customer", "coupons": "coupon", "touches": "touch", "channels": "channel", "members": "member",
    "rows": "row", "notices": "notice", "reminders": "reminder", "cohorts": "cohort", "redemptions": "redemption",
    "points": "point", "changes": "change", "leaders": "leader", "repeaters": "repeater", "times": "time",
    "participants": "participant", "gaps": "gap", "spenders": "spender", "visits": "visit", "groups": "group",
    "promoters": "promoter", "referrers": "referrer", "categories": "category", "profiles": "profile",
    "levels": "level", "measures": "measure", "candidates": "candidate", "estimates": "estimate", "tables": "table",
    "splits": "split",
}  # fmt: skip
#: fields that put a name, a share or money (never a count) before a noun: "{tier} users", "{share} of buyers"
NAME_FIELDS = {
    "channel", "kind", "name", "stage", "tier", "top", "best", "bottom", "worst", "first", "mature", "declining",
    "churned", "growth", "new", "prospect", "label", "table", "span", "what", "words", "month", "prev",
    "multi", "diffs", "stages", "level", "unit", "hi_channel", "lo_channel",
}  # fmt: skip
#: words between a count and a noun that make the noun not the count's ("1 or more buyers", "1 of users");
#: a singular noun right after the count is its noun, followed by a verb ("1 user orders")
_NOT_MID = "of|or|on|in|for|from|across|need|needs|whose|vs|is|are|to|and|the|with|at|by|than|per|each"
_NOT_ADJ = rf"(?!(?:{_NOT_MID}|{'|'.join(PLURALS.values())})\b)"
_MID = rf"(?:{_NOT_ADJ}[a-z][\w-]* ){{0,2}}?"  # lower-case words: a name field ("Gold") is not an adjective
_PLURAL_FIELD = re.compile(r"\{(\w+):([^{}|]*)\|([^{}]*)\}")


def _count_before(count: str, nouns) -> re.Pattern:
    return re.compile(rf"(?<![\w.,+-]){re.escape(count)} {_MID}(?:{'|'.join(nouns)})(?![\w-])")


def _english_templates() -> dict[str, str]:
    en = _leaves(i18n.catalog("en")["text"])
    return {k: v for k, v in en.items() if isinstance(v, str) and i18n.fields(v)}


def test_every_english_count_before_a_noun_agrees_with_one():
    """Every English template rendered with every count 1 reads '1 order', never '1 orders' (name fields
    get a name), and each plural field's forms are 'singular|plural' of one noun ('user is|users are')."""
    i18n.set_language("en")
    one_plural = _count_before("1", PLURALS)
    bad, counted = [], 0
    for key, template in _english_templates().items():
        names = {f: "Gold" for f in i18n.fields(template) & NAME_FIELDS}
        shown = i18n.fill(template, **({f: "1" for f in i18n.fields(template)} | names))
        if wrong := one_plural.search(shown):
            bad.append((key, wrong.group(0)))
        for _, one, many in _PLURAL_FIELD.findall(template):
            noun = many.split()[0]
            if noun not in PLURALS or one.split()[0] != PLURALS[noun]:
                bad.append((key, f"{one}|{many}"))  # forms swapped or not a known noun
            counted += 1
    assert bad == [], "\n".join(map(str, bad))
    assert counted > 300  # the catalog's counts really go through plural fields


def test_plural_fields_pick_the_noun_from_the_count_as_shown():
    assert i18n.plural("1", "order|orders") == "order"
    assert i18n.plural(1, "order|orders") == "order"
    assert i18n.plural("+1", "new user|new users") == "new user"  # '+1 new user vs Jun'
    assert i18n.plural("2", "order|orders") == "orders"
    assert i18n.plural("1,000", "order|orders") == "orders"
    assert i18n.plural("1.0", "day|days") == "days"  # English writes '1.0 days'
    assert i18n.plural("0", "order|orders") == "orders"
    assert i18n.plural("n/a", "order|orders") == "orders"
    with pytest.raises(ValueError, match="singular"):
        i18n.plural("1", "orders")
    assert i18n.fill("{n} {n:user was|users were} active", n="1") == "1 user was active"
    assert i18n.fill("{n} {n:user was|users were} active", n="3") == "3 users were active"


def test_english_sentences_with_one_read_in_the_singular():
    from userops import narrative as nv

    i18n.set_language("en")
    keep = i18n.t(
        "retention_report.action_keep", lift="+2.0 pp", ci="95% CI 1%–3%", orders=nv.num(1.2),
        margin="¥50", basis="gross margin", cost="¥10", roi="",
    )  # fmt: skip
    assert "added about 1 order and ¥50" in keep
    assert "1 recall campaign without a randomised holdout" in i18n.t(
        "recall_report.unmeasured", n=nv.num(1), names="C1", more=""
    )
    assert "1 user was active" in i18n.t("activity_report.active.events", mau="1", dau_mau="1%", wau_mau="2%")
    assert "In 1 randomised channel split," in i18n.t(
        "recall_report.verdict.head", n="1", best="SMS", diff="+1 pp", ci="x"
    )


def test_chinese_templates_have_no_plural_fields():
    # Chinese nouns have no number: the same template reads for 1 and for 2
    zh = _leaves(i18n.catalog("zh")["text"])
    assert [k for k, v in zh.items() if isinstance(v, str) and re.search(r"\{\w+:[^}]*\|", v)] == []
    i18n.set_language("zh")
    assert i18n.t("recall_report.unmeasured", n="1", names="C1", more="").startswith("1")
