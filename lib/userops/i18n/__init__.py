"""The words a reader sees, per report language: templates and display names.

One catalog per language (``zh.yaml``, ``en.yaml`` beside this file, plus per-part files
``zh/<part>.yaml`` / ``en/<part>.yaml`` merged into it) holds

- ``names``: display names of vocabulary values and metrics, per kind (``channel``, ``coupon_kind``,
  ``stage``, ``tier``, ``segment``, ``category``, ``campaign_channel``, ``metric`` ...);
- ``text``: sentence templates (``str.format`` fields), addressed by dotted keys ("brief.kpi.rule"); an
  English count before a noun takes the noun's number from the count: ``{n} {n:order|orders}`` reads
  "1 order" / "2 orders" (see :func:`plural`);
- ``glossary``: the terms of the glossary page at the end of the brief.

Both catalogs hold the same keys (tests/unit/test_i18n.py): a missing translation is an error,
never an English fallback. ``open_play`` sets the run's language and the chain's own display names
(params ``report.language`` / ``report.display_names``)::

    from userops import i18n
    i18n.t("brief.gmv.rose", amount="¥1,234")      # the sentence in the report language
    i18n.name("channel", "paid_ads")                 # '付费广告' (zh) / 'Paid ads' (en)
    i18n.name("channel", "douyin_live")              # open vocabulary: as the chain wrote it
    i18n.name_in_text("segment", "champions")        # in a sentence: '高价值忠诚客' / 'champions'

A value the catalog does not know (a chain's own channel or category) is shown exactly as the data
has it: never turned into words from its snake_case, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Formatter

import yaml

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
ENV_LANGUAGE = "USEROPS_REPORT_LANG"  # `userops run --lang en` / `make run REPORT_LANG=en`
_DIR = Path(__file__).parent

_state: dict = {"lang": DEFAULT_LANGUAGE, "overrides": {}}


class MissingTranslation(KeyError):
    """A template or name key that the language's catalog lacks."""


def _merge(into: dict, part: dict, where: str, path: str = "") -> None:
    for key, value in part.items():
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, where, f"{path}{key}.")
        else:
            raise ValueError(f"{where}: key {path}{key!r} is already defined in another catalog file")


@cache
def catalog(lang: str) -> dict:
    """The whole catalog of ``lang`` (names, text, glossary) as loaded from its YAML files.

    ``<lang>.yaml`` holds the shared names, texts and glossary; ``<lang>/<part>.yaml`` (one per play
    or report part) add their own keys under the same top-level groups. A key defined twice is an
    error, never a silent override.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"report language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    tree = yaml.safe_load((_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    for part in sorted((_DIR / lang).glob("*.yaml")):
        _merge(tree, yaml.safe_load(part.read_text(encoding="utf-8")) or {}, f"i18n/{lang}/{part.name}")
    return tree


def kinds() -> list[str]:
    """The kinds of display names (channel, coupon_kind, ...) the catalogs hold."""
    return sorted(catalog(DEFAULT_LANGUAGE)["names"])


def set_language(lang: str, display_names: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """The report language of this process, with the chain's own display names (params) on top."""
    catalog(lang)  # validates the code
    unknown = sorted(set(display_names or {}) - set(kinds()))
    if unknown:
        raise ValueError(f"report.display_names: unknown kind(s) {unknown}; known: {', '.join(kinds())}")
    _state["lang"] = lang
    _state["overrides"] = {k: dict(v) for k, v in (display_names or {}).items()}


def language() -> str:
    """The current report language ('zh' or 'en')."""
    return _state["lang"]


def _lookup(tree: dict, key: str, lang: str):
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MissingTranslation(f"{lang}: no text {key!r} in lib/userops/i18n/{lang}.yaml")
        node = node[part]
    return node


#: a count shown as exactly one ("1", "+1", "-1"): the noun after it is singular
_ONE = re.compile(r"[+\-−]?1")


def plural(count, forms: str) -> str:
    """``forms`` "order|orders" (singular|plural) for ``count`` as shown: "order" for 1, else "orders".

    The count is judged as the reader sees it: "1" (or "+1") is one; "1.0", "1,000", "0" and "n/a" take
    the plural, as English writes them. Templates use it as a format spec: ``{n} {n:order|orders}``,
    ``{n} dormant {n:user was|users were}``.
    """
    one, sep, many = forms.partition("|")
    if not sep or "|" in many:
        raise ValueError(f"a plural field needs 'singular|plural', got {forms!r}")
    return one if _ONE.fullmatch(str(count).strip()) else many


class _Formatter(Formatter):
    """str.format with one addition: a format spec "singular|plural" picks the noun for the count."""

    def format_field(self, value, format_spec: str) -> str:
        if "|" in format_spec:
            return plural(value, format_spec)
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def fill(template: str, /, **fields) -> str:
    """``template`` filled with ``fields``: str.format plus the plural fields (``{n:order|orders}``)."""
    return _FORMATTER.format(template, **fields)


def t(key: str, **fields) -> str:
    """The template ``key`` of the current language filled with ``fields`` (str.format; a format spec
    "singular|plural" is the noun for that count field, :func:`plural`)."""
    lang = language()
    template = _lookup(catalog(lang)["text"], key, lang)
    if not isinstance(template, str):
        raise MissingTranslation(f"{lang}: {key!r} is a group of texts, not one text")
    return fill(template, **fields) if fields else template


def fields(template: str) -> set[str]:
    """The ``{name}`` fields of a template (tests compare them across languages)."""
    return {f for _, f, _, _ in Formatter().parse(template) if f}


def name(kind: str, value) -> str:
    """The display name of a vocabulary ``value`` of ``kind`` in the current language.

    The chain's params (``report.display_names``) win over the catalog; a value neither knows is
    returned exactly as the data has it (open vocabularies: a chain's own channels, categories).
    """
    lang = language()
    names = catalog(lang)["names"]
    if kind not in names:
        raise MissingTranslation(f"{lang}: no kind of names {kind!r} in lib/userops/i18n/{lang}.yaml")
    text = str(value)
    own = _state["overrides"].get(kind, {})
    if text in own:
        return own[text]
    return names[kind].get(text, text)


#: a first word written as a common word in title case ("Champions", "Paid", "New-user"); words with more
#: capitals ("WeChat", "SMS", "AOV", "D7") are names or acronyms and keep their case
# words of catalog names that stay capitalised inside a sentence: the chain's App is a product name
_PROPER_WORDS = frozenset({"App"})
_TITLE_WORD = re.compile(r"[A-Z][a-z]+(?:-[a-z]+)*(?![\w-])")


def name_in_text(kind: str, value) -> str:
    """The display name of ``value`` as it reads inside a sentence of the current language.

    Catalog names are capitalised for table cells, chart labels and titles ("Champions", "Paid ads");
    inside an English sentence they read in lower case ("... of champions users", "... from paid ads"),
    except names and acronyms ("WeChat groups", "SMS", "AOV"). Chinese has no case: the same as
    :func:`name`. The chain's own names (params, open vocabulary) are shown exactly as written.
    """
    shown = name(kind, value)
    text = str(value)
    if language() != "en" or text in _state["overrides"].get(kind, {}) or not known(kind, value):
        return shown
    return in_sentence(shown)


def in_sentence(label: str) -> str:
    """A capitalised label of the catalog ("Offline", "Paid ads") as it reads inside a sentence of the
    current language: its first ordinary word in lower case in English ("offline"); names and
    acronyms ("WeChat", "SMS") and every Chinese label unchanged."""
    if language() != "en":
        return label
    first = _TITLE_WORD.match(label)
    if not first or first.group(0) in _PROPER_WORDS:
        return label
    return first.group(0).lower() + label[first.end() :]


def known(kind: str, value) -> bool:
    """True when the catalog or the chain's params name ``value`` of ``kind``."""
    text = str(value)
    return text in _state["overrides"].get(kind, {}) or text in catalog(language())["names"][kind]


def glossary() -> list[tuple[str, str]]:
    """The glossary page of the brief: (term, explanation) in the current language."""
    return [(e["term"], e["text"]) for e in catalog(language())["glossary"].values()]


def month(period) -> str:
    """'2026年6月' / 'June 2026' for a :class:`userops.period.Period`."""
    return t("common.month", year=period.start.year, month=period.start.month, name=period.label)


def month_short(period) -> str:
    """'6月' / 'Jun 2026' (same year as the report) for a Period."""
    return t("common.month_short", year=period.start.year, month=period.start.month, name=period.short)
