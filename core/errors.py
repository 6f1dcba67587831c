"""The one error envelope: types, HTTP statuses, and user-facing text in Italian and English.

`{"success": false, "error": {"type", "message", "userMessage", "retry", "suggestions", "details"}}`
`message` is for developers (English); `userMessage` and `suggestions` are for the people using the
client, Italian by default and English when the request's Accept-Language prefers it.
"""
from __future__ import annotations

from typing import Any

from models.enums import ErrorType

# type -> (retry?, {lang: (userMessage, [suggestions])})
_TEXTS: dict[ErrorType, tuple[bool, dict[str, tuple[str, list[str]]]]] = {
    ErrorType.CONNECTION_ERROR: (True, {
        "it": ("WhatsApp non è connesso in questo momento.",
               ["Controlla lo stato della sessione", "Riprova tra qualche minuto"]),
        "en": ("WhatsApp is not connected right now.",
               ["Check the session status", "Try again in a few minutes"]),
    }),
    ErrorType.VALIDATION_ERROR: (False, {
        "it": ("I dati inviati non sono validi.", ["Correggi i campi indicati e riprova"]),
        "en": ("The data sent is not valid.", ["Fix the fields listed and try again"]),
    }),
    ErrorType.RATE_LIMIT: (True, {
        "it": ("Troppe richieste: limite raggiunto.", ["Attendi qualche istante prima di riprovare"]),
        "en": ("Too many requests: limit reached.", ["Wait a moment before trying again"]),
    }),
    ErrorType.INVALID_NUMBER: (False, {
        "it": ("Il numero di telefono non è valido.",
               ["Usa il formato internazionale, ad esempio +39 333 123 4567"]),
        "en": ("The phone number is not valid.",
               ["Use the international format, e.g. +39 333 123 4567"]),
    }),
    ErrorType.NOT_WHATSAPP: (False, {
        "it": ("Il numero non usa WhatsApp.", ["Contatta la persona con un altro canale"]),
        "en": ("The number is not on WhatsApp.", ["Reach the person through another channel"]),
    }),
    ErrorType.BLOCKED: (False, {
        "it": ("Il destinatario non può ricevere messaggi da questo account.",
               ["Verifica che il numero non abbia bloccato l'account"]),
        "en": ("The recipient cannot receive messages from this account.",
               ["Check that the number has not blocked the account"]),
    }),
    ErrorType.UNKNOWN: (True, {
        "it": ("Si è verificato un errore imprevisto.", ["Riprova; se persiste contatta l'assistenza"]),
        "en": ("An unexpected error occurred.", ["Try again; if it persists contact support"]),
    }),
    ErrorType.AUTHENTICATION_ERROR: (False, {
        "it": ("Autenticazione richiesta o non valida.", ["Effettua di nuovo l'accesso"]),
        "en": ("Authentication is missing or not valid.", ["Log in again"]),
    }),
    ErrorType.PERMISSION_DENIED: (False, {
        "it": ("Non hai i permessi per questa operazione.", ["Chiedi a un amministratore"]),
        "en": ("You are not allowed to do this.", ["Ask an administrator"]),
    }),
    ErrorType.NOT_FOUND: (False, {
        "it": ("La risorsa richiesta non esiste.", ["Controlla l'indirizzo o l'identificativo"]),
        "en": ("The resource asked for does not exist.", ["Check the address or the id"]),
    }),
    ErrorType.SERVICE_UNAVAILABLE: (True, {
        "it": ("Il servizio è temporaneamente non disponibile.", ["Riprova tra qualche secondo"]),
        "en": ("The service is temporarily unavailable.", ["Try again in a few seconds"]),
    }),
    ErrorType.CONFLICT: (False, {
        "it": ("L'operazione è in conflitto con lo stato attuale.", ["Ricarica lo stato e riprova"]),
        "en": ("The operation conflicts with the current state.", ["Reload the state and try again"]),
    }),
}

STATUS_TYPES: dict[int, ErrorType] = {
    400: ErrorType.VALIDATION_ERROR, 401: ErrorType.AUTHENTICATION_ERROR,
    403: ErrorType.PERMISSION_DENIED, 404: ErrorType.NOT_FOUND, 405: ErrorType.VALIDATION_ERROR,
    409: ErrorType.CONFLICT, 413: ErrorType.VALIDATION_ERROR, 415: ErrorType.VALIDATION_ERROR,
    422: ErrorType.VALIDATION_ERROR, 429: ErrorType.RATE_LIMIT, 503: ErrorType.CONNECTION_ERROR,
}


class GatewayError(Exception):
    """An expected failure with its type and HTTP status; rendered as the error envelope."""

    def __init__(self, status: int, message: str, error_type: ErrorType | None = None,
                 details: Any = None, retry: bool | None = None, texts: UserTexts | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or STATUS_TYPES.get(status, ErrorType.UNKNOWN)
        self.details = details
        self.retry = retry
        self.texts = texts  # a more precise userMessage than the type's (e.g. one wa-js group error)


# {lang: (userMessage, [suggestions])}, "it" required
UserTexts = dict[str, tuple[str, list[str]]]


def error_body(error_type: ErrorType, message: str, lang: str = "it", details: Any = None,
               retry: bool | None = None, texts: UserTexts | None = None) -> dict:
    default_retry, type_texts = _TEXTS[error_type]
    texts = texts or type_texts
    user_message, suggestions = texts.get(lang, texts["it"])
    return {
        "success": False,
        "error": {
            "type": str(error_type),
            "message": message,
            "userMessage": user_message,
            "retry": default_retry if retry is None else retry,
            "suggestions": suggestions,
            "details": {} if details is None else details,  # always an object, as the original sent
        },
    }
