"""Decoding pages whose charset is declared in the header, only in a <meta>, not at all, or wrongly."""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from pipelines.encoding import charset_from_content_type, charset_from_meta, decode_html, normalize_label

ROOT = Path(__file__).resolve().parent.parent
# Real Arabic text: the Strategic Observatory seed (seeds/README.md).
ARABIC = (ROOT / "seeds" / "003_f73e49b5b275455f.txt").read_text(encoding="utf-8").strip()[:3000]
FRENCH = ("Le gouvernement a annoncé mercredi une série de mesures économiques. Les députés ont débattu "
          "pendant des heures à l'Assemblée, où l'opposition a dénoncé un « coup de force ». ") * 5


def page(text: str, meta: str = "", lang: str = "ar") -> str:
    return (f'<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{text[:40]}</title></head>'
            f"<body><article><p>{text}</p></article></body></html>")


def test_header_charset():
    body = page(ARABIC).encode("windows-1256")
    decoded = decode_html(body, "text/html; charset=windows-1256")
    assert decoded.text == page(ARABIC)
    assert (decoded.encoding, decoded.source, decoded.warnings) == ("windows-1256", "http-header", ())


@pytest.mark.parametrize("meta", [
    '<meta charset="windows-1256">',
    '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256" />',
    "<META HTTP-EQUIV='content-type' CONTENT='text/html;charset=cp1256'>",
])
def test_meta_charset_only(meta):
    body = page(ARABIC, meta).encode("windows-1256")
    decoded = decode_html(body, "text/html")
    assert ARABIC in decoded.text
    assert (decoded.encoding, decoded.source) == ("windows-1256", "meta")


def test_no_charset_at_all_windows_1256_is_detected():
    body = page(ARABIC).encode("windows-1256")
    decoded = decode_html(body, None)
    assert ARABIC in decoded.text
    assert (decoded.encoding, decoded.source) == ("windows-1256", "detected")
    assert "detected windows-1256" in decoded.warnings[0]


def test_undeclared_utf8():
    decoded = decode_html(page(ARABIC).encode("utf-8"), "text/html")
    assert ARABIC in decoded.text
    assert decoded.encoding == "utf-8"
    assert not decoded.warnings


def test_bom_wins_over_a_wrong_header():
    body = codecs.BOM_UTF8 + page(ARABIC).encode("utf-8")
    decoded = decode_html(body, "text/html; charset=windows-1256")
    assert ARABIC in decoded.text
    assert (decoded.encoding, decoded.source) == ("utf-8", "bom")


def test_utf16_with_bom():
    body = codecs.BOM_UTF16_LE + page(ARABIC).encode("utf-16-le")
    decoded = decode_html(body, None)
    assert ARABIC in decoded.text
    assert decoded.source == "bom"


def test_declared_utf8_but_windows_1256():
    """A UTF-8 template around a body saved in windows-1256: the bytes say otherwise."""
    body = page(ARABIC, '<meta charset="utf-8">').encode("windows-1256")
    decoded = decode_html(body, "text/html; charset=UTF-8")
    assert ARABIC in decoded.text
    assert decoded.encoding == "windows-1256"
    assert "\ufffd" not in decoded.text
    assert any("does not fit" in w and "HTTP header" in w for w in decoded.warnings)


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "latin1"])
def test_declared_latin_but_utf8(declared):
    """A server default of ISO-8859-1 over UTF-8 bytes would give «Ø§Ù„…» mojibake."""
    decoded = decode_html(page(ARABIC).encode("utf-8"), f"text/html; charset={declared}")
    assert ARABIC in decoded.text
    assert decoded.encoding == "utf-8"
    assert "Ø" not in decoded.text
    assert decoded.warnings


def test_declared_latin_but_windows_1256():
    decoded = decode_html(page(ARABIC).encode("windows-1256"), "text/html; charset=ISO-8859-1")
    assert ARABIC in decoded.text
    assert decoded.encoding == "windows-1256"
    assert decoded.warnings


def test_real_latin_text_is_left_alone():
    body = page(FRENCH, lang="fr").encode("windows-1252")
    decoded = decode_html(body, "text/html; charset=iso-8859-1")
    assert FRENCH in decoded.text
    assert decoded.encoding == "windows-1252"
    assert not decoded.warnings


def test_a_few_invalid_utf8_bytes_are_replaced_not_fatal():
    good = page(ARABIC * 3).encode("utf-8")
    at = good.index(b" ", 5000)                          # between two characters
    body = good[:at] + b"\xff\xfe" + good[at:]
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded.encoding == "utf-8"
    assert decoded.text.count("\ufffd") == 2
    assert any("replaced" in w for w in decoded.warnings)


def test_truncated_multibyte_character_at_the_end():
    body = page(ARABIC).encode("utf-8")
    cut = body[: body.index(b"</p>") - 1]       # cuts inside a two-byte Arabic letter
    decoded = decode_html(cut, "text/html; charset=utf-8")
    assert decoded.encoding == "utf-8"
    assert decoded.text.startswith("<!DOCTYPE html>")


def test_unknown_label_is_reported_and_ignored():
    decoded = decode_html(page(ARABIC).encode("windows-1256"), "text/html; charset=x-klingon")
    assert decoded.encoding == "windows-1256"
    assert any("unknown charset 'x-klingon'" in w for w in decoded.warnings)


def test_garbage_never_raises():
    for body in (b"", b"\x00\x01\x02", bytes(range(256)) * 20, b"\xc3" * 1000):
        decoded = decode_html(body, "text/html; charset=utf-8")
        assert isinstance(decoded.text, str)


def test_labels():
    assert charset_from_content_type('text/html; charset="UTF-8"') == "utf-8"
    assert charset_from_content_type(b"text/html;charset=windows-1256") == "windows-1256"
    assert charset_from_content_type("text/html") is None
    assert charset_from_meta(b'<html><head><meta charset=\'cp1256\'></head>') == "cp1256"
    assert normalize_label("ISO-8859-1") == "windows-1252"
    assert normalize_label("cp1256") == "windows-1256"
    assert normalize_label("UTF8") == "utf-8"
    assert normalize_label("x-klingon") is None


def test_lone_a0_in_utf8_is_a_no_break_space():
    """A Latin-1 no-break space typed into a UTF-8 page: a space, not a replacement character."""
    body = page("بدأ" + "\xa0" + "المهاجم " + ARABIC).encode("utf-8").replace("\xa0".encode(), b"\xa0")
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded.encoding == "utf-8"
    assert "بدأ\u00a0المهاجم" in decoded.text and "\ufffd" not in decoded.text
