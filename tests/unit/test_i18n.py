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
