"""Success messages (`{"success": true, ..., "message"}`) in the language of the request.

The same rule as the errors' `userMessage` (web.errors.request_language): Italian by default, as
the original system answered, English when `Accept-Language` prefers it. Views name a text by its
key; `{placeholders}` are filled from the keyword arguments.

The admin panel's pages speak through the same function: their key is the Italian text itself
(what the template shows by default), its English in web/admin/texts.py.
"""
from __future__ import annotations

from web.admin.texts import ENGLISH as _PANEL_ENGLISH
from web.errors import request_language

# key -> (Italian, English)
_TEXTS: dict[str, tuple[str, str]] = {
    "message.queued": ("Messaggio messo in coda per l'invio", "message queued"),
    "message.sent": ("Messaggio inviato con successo", "message sent"),
    "message.failed": ("Invio del messaggio non riuscito: {reason}", "the message could not be sent: {reason}"),
    "message.read": ("Messaggio segnato come letto", "marked as read"),
    "bulk.queued": ("{queued} messaggi in coda, {invalid} numeri non validi",
                    "{queued} messages queued, {invalid} invalid numbers"),
    "template_bulk.queued": ("{queued} messaggi in coda, {invalid} numeri non validi, {errors} con variabili mancanti",
                             "{queued} messages queued, {invalid} invalid numbers, {errors} with missing variables"),
    "warning.new_numbers": (
        "{new} destinatari su {recipients} ({share}%) non hanno mai scritto a questa sessione "
        "né ricevuto suoi messaggi: oltre il {threshold}% di numeri nuovi l'account rischia "
        "segnalazioni e blocchi",
        "{new} of {recipients} recipients ({share}%) never wrote to this session nor got a message from it: "
        "above {threshold}% new numbers the account risks reports and bans"),
    "job.cancelled": ("{stopped} messaggi annullati", "{stopped} messages cancelled"),
    "template.created": ("Template creato", "template created"),
    "template.updated": ("Template aggiornato", "template updated"),
    "template.deleted": ("Template eliminato", "template deleted"),
    "template.cloned": ("Template duplicato", "template cloned"),
    "user.created": ("Utente creato", "user created"),
    "user.updated": ("Utente aggiornato", "user updated"),
    "session.created": ("Sessione creata", "session created"),
    "session.updated": ("Sessione aggiornata", "session updated"),
    "session.deleted": ("Sessione eliminata; disconnessione in coda", "session deleted; logout queued"),
    "session.command": ("Comando {command} richiesto", "{command} requested"),
    "token.issued": ("Token emesso: salvalo ora, non sarà più mostrato", "token issued: store it now"),
    "token.updated": ("Token aggiornato", "token updated"),
    "token.revoked": ("Token revocato", "token revoked"),
    "errors.reset": ("Contatori degli errori azzerati", "error counters reset"),
    "backup.requested": ("Backup richiesto", "backup requested"),
    "restore.requested": ("Ripristino richiesto", "restore requested"),
    "contact.updated": ("Contatto aggiornato", "contact updated"),
    "privacy.erased": ("Dati personali cancellati", "personal data erased"),
    "contacts.sync_queued": ("Sincronizzazione dei contatti in coda", "contact sync queued"),
    "scheduled.created": ("Messaggio programmato, primo invio alle {at}", "scheduled, first run at {at}"),
    "scheduled.updated": ("Programmazione aggiornata, prossimo invio alle {at}", "updated, next run at {at}"),
    "scheduled.cancelled": ("Programmazione annullata", "cancelled"),
    "check.cached": ("Risposta dalla cache", "cached answer"),
    "check.answered": ("Risposta della sessione", "answered by the session"),
    "check.pending": ("La sessione non ha ancora risposto: interroga whatsAppCheck.jobId",
                      "the session has not answered yet: poll whatsAppCheck.jobId"),
}


def say(key: str, **params) -> str:
    """The success message `key`, or a panel text given in Italian, in the request's language."""
    italian, english = _TEXTS.get(key) or (key, _PANEL_ENGLISH.get(key, key))
    text = english if request_language() == "en" else italian
    return text.format(**params) if params else text
