"""Phone numbers: parsing and normalisation with phonenumbers (never a hand-made prefix table).

WhatsApp chat ids use E.164 digits without the plus (`393331234567@c.us`); that is `formatted`.
"""
from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

MAX_INPUT_LENGTH = 64  # longer input is not a phone number, whatever its digits

_TYPE_NAMES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


@dataclass(frozen=True)
class PhoneCheck:
    input: str
    is_valid: bool
    formatted: str | None = None  # E.164 digits without "+", as in WhatsApp chat ids
    e164: str | None = None
    country: str | None = None
    type: str | None = None
    display_format: str | None = None
    error: str | None = None

    @property
    def chat_id(self) -> str:
        return f"{self.formatted}@c.us"

    def as_dict(self) -> dict:
        return {"input": self.input, "isValid": self.is_valid, "formatted": self.formatted, "e164": self.e164,
                "country": self.country, "type": self.type, "displayFormat": self.display_format,
                "error": self.error}


def check_number(raw: object, country: str | None = "IT", describe: bool = True) -> PhoneCheck:
    """Parse `raw` as a phone number of `country` (when it has no international prefix).

    `describe=False` skips the number's type and display form (a third of the cost), for callers
    that only need to know whether it is valid and its E.164 form (bulk sends)."""
    text = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) else ""
    if not text.strip():
        return PhoneCheck(input=text, is_valid=False, error="empty")
    if len(text) > MAX_INPUT_LENGTH:
        return PhoneCheck(input=text[:MAX_INPUT_LENGTH], is_valid=False, error="too long")
    try:
        number = phonenumbers.parse(text, (country or "").upper() or None)
    except NumberParseException as exc:
        return PhoneCheck(input=text, is_valid=False, error=_PARSE_ERRORS.get(exc.error_type, "not a phone number"))
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        error = {
            phonenumbers.ValidationResult.TOO_SHORT: "too short",
            phonenumbers.ValidationResult.TOO_LONG: "too long",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
        }.get(reason, "not a valid number for its country")
        return PhoneCheck(input=text, is_valid=False, error=error)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if not describe:
        return PhoneCheck(input=text, is_valid=True, formatted=e164.lstrip("+"), e164=e164)
    return PhoneCheck(
        input=text,
        is_valid=True,
        formatted=e164.lstrip("+"),
        e164=e164,
        country=phonenumbers.region_code_for_number(number),
        type=_TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
        display_format=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
    )


def extract_numbers(text: str, country: str | None = "IT") -> list[dict]:
    """Every valid phone number in free text (phonenumbers' matcher), first occurrence of each,
    with its position (`start`, `end`: character offsets), the raw text and the normalised forms."""
    found, seen = [], set()
    for match in phonenumbers.PhoneNumberMatcher(text, (country or "").upper() or None,
                                                 leniency=phonenumbers.Leniency.VALID):
        number = match.number
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if e164 in seen:
            continue
        seen.add(e164)
        found.append({
            "start": match.start, "end": match.end, "raw": match.raw_string, "formatted": e164.lstrip("+"),
            "e164": e164, "country": phonenumbers.region_code_for_number(number),
            "type": _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
            "displayFormat": phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        })
    return found
