"""Language identification: Arabic recognised by its letters, everything else by langdetect."""
from __future__ import annotations

from pipelines import language

ARABIC = ("أعلنت وزارة الدفاع الأمريكية أن قوات التحالف الدولي نفذت غارات جوية على مواقع لتنظيم الدولة "
          "الإسلامية في ريف دير الزور الشرقي، وأكدت أن العملية جاءت بالتنسيق مع قوات سوريا الديمقراطية "
          "في إطار الحملة المستمرة ضد خلايا التنظيم في المنطقة. ") * 3
PERSIAN = ("وزارت دفاع آمریکا اعلام کرد که نیروهای ائتلاف بین‌المللی حملات هوایی را علیه مواضع گروه داعش "
           "در حومه شرقی دیر الزور انجام دادند و این عملیات با هماهنگی نیروهای دموکراتیک سوریه صورت گرفت. ") * 3
URDU = ("امریکی محکمہ دفاع نے اعلان کیا ہے کہ بین الاقوامی اتحاد کی افواج نے دیر الزور کے مشرقی دیہی علاقے "
        "میں داعش کے ٹھکانوں پر فضائی حملے کیے اور یہ کارروائی شامی جمہوری فورسز کے ساتھ مل کر کی گئی۔ ") * 3
ENGLISH = ("The US Defense Department said coalition forces carried out air strikes on Islamic State "
           "positions in the eastern Deir ez-Zor countryside, in coordination with the Syrian Democratic Forces. ") * 3


def test_arabic_is_recognised_by_its_letters_whatever_the_page_declares():
    for hint in (None, "ar", "en"):
        found = language.detect("غارات على مواقع التنظيم", ARABIC, hint=hint)
        assert (found.lang, found.source) == ("ar", "script")


def test_other_arabic_script_languages_are_left_to_langdetect():
    assert language.detect("", PERSIAN) == ("fa", language.detect("", PERSIAN).prob, "detected")
    assert language.detect("", URDU).lang == "ur" and language.detect("", URDU).source == "detected"
    # Persian typed with the Arabic ي and ك: no taa marbuta, so not taken for Arabic
    old_style = PERSIAN.replace("ی", "ي").replace("ک", "ك")
    assert language.detect("", old_style).source == "detected"


def test_latin_and_mixed_texts_are_left_to_langdetect():
    assert language.detect("Air strikes", ENGLISH)[::2] == ("en", "detected")
    mixed = ARABIC[:300] + ENGLISH * 2
    assert language.detect("", mixed).source == "detected"


def test_the_script_rule_agrees_with_langdetect_on_arabic_news(monkeypatch):
    rule = language.detect("", ARABIC)
    monkeypatch.setattr(language, "_arabic_by_script", lambda sample: False)
    assert language.detect("", ARABIC).lang == rule.lang == "ar"


def test_short_texts_follow_the_hint():
    assert language.detect("", "خبر", hint="ar") == ("ar", 0.0, "hint")
    assert language.detect("", "x", hint=None) == (None, 0.0, "none")
