from datetime import date

import pytest

from health_app.services.accounts.passwords import check_password, hash_password, verify_password
from health_app.services.validation import (
    FieldError,
    clean_date_of_birth,
    clean_email,
    clean_email_pair,
    clean_health_card,
    clean_health_card_expiry,
    clean_name,
    clean_phone,
    clean_postal_code,
)
from tests.factories import luhn_card

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("a+tag@sub.example.org", "a+tag@sub.example.org"),
    ],
)
def test_email_is_normalised(raw: str, expected: str) -> None:
    assert clean_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "plain", "a@", "@b.com", "a b@c.com", "x" * 250 + "@e.com"])
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(FieldError):
        clean_email(raw)


def test_email_confirmation_must_match() -> None:
    assert clean_email_pair("a@example.com", "A@example.com ") == "a@example.com"
    with pytest.raises(FieldError, match="do not match"):
        clean_email_pair("a@example.com", "b@example.com")


def test_health_card_accepts_common_spellings_and_normalises() -> None:
    card = luhn_card(123456789)
    digits = card.replace("-", "")[:10]
    assert clean_health_card(f"{digits[:4]} {digits[4:7]} {digits[7:]} ab") == card
    assert clean_health_card(digits) == card[:-3]


@pytest.mark.parametrize(
    "raw", ["", "1234-567-890-AB", "12345", "1234-567-89X-AB", "1234-567-890-ABC"]
)
def test_bad_health_cards_are_refused(raw: str) -> None:
    # 1234-567-890 fails the check digit; the others are malformed.
    with pytest.raises(FieldError):
        clean_health_card(raw)


def test_expired_health_card_is_refused() -> None:
    assert clean_health_card_expiry(TODAY, today=TODAY) == TODAY
    with pytest.raises(FieldError, match="expired"):
        clean_health_card_expiry(date(2026, 3, 1), today=TODAY)


def test_date_of_birth_cannot_be_in_future() -> None:
    with pytest.raises(FieldError, match="future"):
        clean_date_of_birth(date(2026, 3, 3), today=TODAY)
    with pytest.raises(FieldError, match="130"):
        clean_date_of_birth(date(1890, 1, 1), today=TODAY)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(416) 555-0123", "+14165550123"),
        ("1-647-555-0199", "+16475550199"),
        ("+44 20 7946 0958", "+442079460958"),
        ("", ""),
    ],
)
def test_phone_numbers_become_e164(raw: str, expected: str) -> None:
    assert clean_phone(raw) == expected


@pytest.mark.parametrize("raw", ["555-0123", "016-555-0123", "416-055-0123", "call me", "+1 2"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(FieldError):
        clean_phone(raw)


def test_postal_code() -> None:
    assert clean_postal_code("m5v2t6", region="CA-ON") == "M5V 2T6"
    with pytest.raises(FieldError):
        clean_postal_code("12345", region="CA-ON")


def test_names_keep_markup_as_text_but_refuse_control_characters() -> None:
    assert (
        clean_name("<script>alert(1)</script>", label="First name") == "<script>alert(1)</script>"
    )
    with pytest.raises(FieldError):
        clean_name("Ja\x00ne", label="First name")
    with pytest.raises(FieldError, match="at most 100"):
        clean_name("x" * 101, label="First name")


def test_password_rules_are_length_and_commonness_only() -> None:
    assert check_password("purple monkey dishwasher")  # spaces, no digits: fine
    assert check_password("ÄÖÜ ünïcödé pass")
    with pytest.raises(FieldError, match="at least 12"):
        check_password("short")
    with pytest.raises(FieldError, match="at most 128"):
        check_password("x" * 100 + "y" * 29)
    with pytest.raises(FieldError, match="too common"):
        check_password("Qwerty123456")
    with pytest.raises(FieldError, match="too common"):
        check_password("aaaaaaaaaaaaaaaaaaa")
    with pytest.raises(FieldError, match="name or email"):
        check_password("jane-doe-rocks-2026", context_words=("Jane",))


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = hash_password("purple monkey dishwasher")
    assert hashed.startswith("$argon2id$")
    assert verify_password("purple monkey dishwasher", hashed)
    assert not verify_password("purple monkey dishwashe", hashed)
    assert not verify_password("anything", None)


def test_the_health_card_example_shown_on_the_form_is_itself_valid() -> None:
    """Before: the hint "1234-567-890-AB" was refused by the check it explained."""
    import inspect
    import re

    from health_app.components import person_fields

    examples = re.findall(r"\d{4}-\d{3}-\d{3}-[A-Z]{2}", inspect.getsource(person_fields))
    assert examples, "no example in the hint"
    for example in examples:
        assert clean_health_card(example) == example


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("123456", "123456"), (" 12 3456 ", "123456"), ("", None), ("12a456", None), ("123", None)],
)
def test_licence_numbers(raw: str, ok: str | None) -> None:
    from health_app.services.validation import clean_licence_number

    if ok is None:
        with pytest.raises(FieldError):
            clean_licence_number(raw)
    else:
        assert clean_licence_number(raw) == ok
