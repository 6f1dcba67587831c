"""How a wa-js group error reaches the client: an HTTP status, an error type, and a user message in
Italian (and English) that says what went wrong with the group, not just the error type's text.

Codes are wa-js 4.6.0's (`src/group/functions/`: `ensureGroup.ts`, `ensureGroupAndParticipants.ts`,
`create.ts`, ...); the simulator answers with the same (tests/simulator/groups.py)."""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import GatewayError, UserTexts
from models.enums import ErrorType


@dataclass(frozen=True)
class GroupRule:
    status: int
    error_type: ErrorType
    it: str
    en: str

    def texts(self) -> UserTexts:
        return {"it": (self.it, ["Controlla il gruppo e i partecipanti indicati"]),
                "en": (self.en, ["Check the group and the participants given"])}


RULES: dict[str, GroupRule] = {
    "chat_not_found": GroupRule(404, ErrorType.NOT_FOUND, "Il gruppo non esiste o l'account non lo vede.",
                                "The group does not exist or the account cannot see it."),
    "not_a_group": GroupRule(422, ErrorType.VALIDATION_ERROR, "La chat indicata non è un gruppo.",
                             "The chat given is not a group."),
    "group_you_are_not_admin": GroupRule(403, ErrorType.PERMISSION_DENIED,
                                         "L'account WhatsApp non è amministratore del gruppo.",
                                         "The WhatsApp account is not an admin of the group."),
    "participant_not_exists": GroupRule(422, ErrorType.NOT_WHATSAPP, "Uno dei partecipanti non usa WhatsApp.",
                                        "One of the participants is not on WhatsApp."),
    "invalid_wid": GroupRule(422, ErrorType.INVALID_NUMBER, "Uno dei numeri indicati non è valido.",
                             "One of the numbers given is not valid."),
    "group_participant_not_found": GroupRule(422, ErrorType.VALIDATION_ERROR,
                                             "Uno dei partecipanti non fa parte del gruppo.",
                                             "One of the participants is not in the group."),
    "not_valid_group_participants": GroupRule(422, ErrorType.VALIDATION_ERROR,
                                              "Nessuno dei partecipanti indicati fa parte del gruppo.",
                                              "None of the participants given is in the group."),
    "group_participant_is_not_a_group_member": GroupRule(422, ErrorType.VALIDATION_ERROR,
                                                         "Uno dei partecipanti non è membro del gruppo.",
                                                         "One of the participants is not a member of the group."),
    "group_participant_is_already_a_group_admin": GroupRule(409, ErrorType.CONFLICT,
                                                            "Il partecipante è già amministratore del gruppo.",
                                                            "The participant is already a group admin."),
    "group_participant_is_already_not_a_group_admin": GroupRule(409, ErrorType.CONFLICT,
                                                                "Il partecipante non è amministratore del gruppo.",
                                                                "The participant is not a group admin."),
    "you_are_not_allowed_set_group_subject": GroupRule(403, ErrorType.PERMISSION_DENIED,
                                                       "Non è consentito cambiare il nome di questo gruppo.",
                                                       "Changing this group's name is not allowed."),
    "you_are_not_allowed_set_group_description": GroupRule(403, ErrorType.PERMISSION_DENIED,
                                                           "Non è consentito cambiare la descrizione di questo "
                                                           "gruppo.", "Changing this group's description is "
                                                           "not allowed."),
    "group_add_participant_error": GroupRule(422, ErrorType.VALIDATION_ERROR,
                                             "WhatsApp ha rifiutato l'aggiunta dei partecipanti.",
                                             "WhatsApp refused to add the participants."),
    "rate_overlimit": GroupRule(429, ErrorType.RATE_LIMIT, "WhatsApp limita le richieste: riprova più tardi.",
                                "WhatsApp is limiting requests: try again later."),
    # not wa-js codes: the session could not run the call
    "session_cap_reached": GroupRule(429, ErrorType.RATE_LIMIT,
                                     "Limite orario o giornaliero della sessione raggiunto: riprova più tardi.",
                                     "The session's hourly or daily limit is reached: try again later."),
    "not_connected": GroupRule(503, ErrorType.CONNECTION_ERROR, "WhatsApp non è connesso in questo momento.",
                               "WhatsApp is not connected right now."),
    "no_answer": GroupRule(503, ErrorType.CONNECTION_ERROR,
                           "La sessione WhatsApp non ha risposto in tempo.",
                           "The WhatsApp session did not answer in time."),
}
# anything else WhatsApp Web answered: its error, passed on as the upstream's (502)
UNKNOWN = GroupRule(502, ErrorType.UNKNOWN, "WhatsApp ha risposto con un errore imprevisto.",
                    "WhatsApp answered with an unexpected error.")
TRANSIENT = frozenset({"not_connected", "no_answer", "rate_overlimit", "session_cap_reached"})


def rule(code: str | None) -> GroupRule:
    return RULES.get(code or "", UNKNOWN)


def error(code: str | None, message: str) -> GatewayError:
    """The error envelope of a failed group call."""
    found = rule(code)
    return GatewayError(found.status, message, found.error_type, details={"code": code},
                        retry=code in TRANSIENT, texts=found.texts())


def user_message(code: str | None, lang: str = "it") -> str:
    found = rule(code)
    return found.en if lang == "en" else found.it
