"""The panel's Send and Messages pages through Flask's test client: the same rules as the API's
/send and template send (validation, opt-out, one entry point), conversations by number, ticks."""
import re
import uuid

from sqlalchemy import select

from models import Message, Template
from models.enums import Role
from services import templates
from tests.test_admin_panel import csrf_of, log_in


def _logged_in(client, make_user, role=Role.PROFESSIONAL) -> str:
    assert log_in(client, make_user(role)).status_code == 302
    return csrf_of(client)


def _rows(db_session, phone):
    return list(db_session.scalars(select(Message).where(Message.phone_number == phone)))


def test_a_professional_sends_one_message_and_sees_it_queued_in_its_conversation(client, make_user, db_session):
    token = _logged_in(client, make_user)
    response = client.post("/admin/send", data={"phoneNumber": "333 123 4567", "message": "Ciao dal pannello",
                                                "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/messages/393331234567")
    [row] = _rows(db_session, "393331234567")
    assert row.status == "QUEUED" and row.body == "Ciao dal pannello" and row.user_id.startswith("user:")
    chat = client.get("/admin/messages/393331234567/chat").get_data(as_text=True)
    assert "Ciao dal pannello" in chat and 'data-status="QUEUED"' in chat and "🕓" in chat
    listing = client.get("/admin/messages").get_data(as_text=True)
    assert "+393331234567" in listing and "Ciao dal pannello" in listing


def test_an_invalid_number_is_shown_in_the_form_which_keeps_the_text(client, make_user, db_session):
    token = _logged_in(client, make_user)
    response = client.post("/admin/send", data={"phoneNumber": "12", "message": "testo tenuto", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Il numero di telefono non è valido." in page and "testo tenuto" in page
    assert db_session.scalar(select(Message).where(Message.body == "testo tenuto")) is None


def test_the_number_is_checked_as_typed_by_the_apis_rules(client, make_user):
    _logged_in(client, make_user)
    assert "✓ +393331234567" in client.get("/admin/send/check?phoneNumber=3331234567").get_data(as_text=True)
    assert "✗" in client.get("/admin/send/check?phoneNumber=12").get_data(as_text=True)


def test_a_template_is_previewed_then_sent_and_counted(client, make_user, db_session):
    template = templates.create(db_session, by=None, name=f"promemoria-{uuid.uuid4().hex[:6]}", category="notification",
                                content="Ciao {{nome}}, appuntamento alle {{ora}}")
    db_session.commit()
    token = _logged_in(client, make_user)
    form = client.get(f"/admin/send?template={template.id}").get_data(as_text=True)
    assert 'name="var_nome"' in form and 'name="var_ora"' in form
    base = {"template": str(template.id), "phoneNumber": "3331234567", "csrf_token": token, "var_nome": "Anna"}
    missing = client.post("/admin/send/template", data={**base, "action": "preview"}).get_data(as_text=True)
    assert "Mancano: ora" in missing
    preview = client.post("/admin/send/template", data={**base, "var_ora": "15:30", "action": "preview"})
    assert "Ciao Anna, appuntamento alle 15:30" in preview.get_data(as_text=True) and not _rows(db_session, "393331234567")
    sent = client.post("/admin/send/template", data={**base, "var_ora": "15:30", "action": "send"})
    assert sent.status_code == 302
    [row] = _rows(db_session, "393331234567")
    assert row.body == "Ciao Anna, appuntamento alle 15:30" and row.template_id == template.id
    db_session.expire_all()
    assert db_session.get(Template, template.id).usage_count == 1


def test_a_failed_message_shows_why_in_italian_and_search_finds_conversations(client, make_user, db_session, app):
    session = app.config["SETTINGS"].session_name
    for phone, body, status, error in [("393330000001", "ordine spedito", "FAILED", "NOT_WHATSAPP"),
                                       ("393330000002", "buongiorno", "READ", None)]:
        db_session.add(Message(session=session, direction="outgoing", status=status, phone_number=phone,
                               chat_id=f"{phone}@c.us", body=body, error_type=error))
    db_session.commit()
    _logged_in(client, make_user)
    chat = client.get("/admin/messages/393330000001/chat").get_data(as_text=True)
    assert "✗" in chat and "Il numero non usa WhatsApp." in chat
    assert 'tick-READ' in client.get("/admin/messages/393330000002/chat").get_data(as_text=True)
    found = client.get("/admin/messages?q=spedito").get_data(as_text=True)
    assert "+393330000001" in found and "+393330000002" not in found
    by_number = client.get("/admin/messages?q=%2B39 333 000 0002").get_data(as_text=True)
    assert "+393330000002" in by_number and "+393330000001" not in by_number
    assert "Nessuna conversazione" in client.get("/admin/messages?q=%25_nothing").get_data(as_text=True)


def test_a_client_may_neither_send_nor_read_messages(client, make_user, db_session):
    token = _logged_in(client, make_user, Role.CLIENT)
    assert client.post("/admin/send", data={"phoneNumber": "3331234567", "message": "x",
                                            "csrf_token": token}).status_code == 403
    assert client.get("/admin/messages").status_code == 403


def test_bad_input_is_4xx_never_500(client, make_user):
    token = _logged_in(client, make_user)
    for path, data in [("/admin/send/template", {"template": "nope"}),
                       ("/admin/send/template", {"template": str(uuid.uuid4())}),
                       ("/admin/send", {"phoneNumber": "3331234567", "message": "   "}),
                       ("/admin/send", {"phoneNumber": "x" * 5000, "message": "y"}),
                       ("/admin/send", {"phoneNumber": "3331234567", "message": "y" * 70_000})]:
        status = client.post(path, data={**data, "csrf_token": token}).status_code
        assert 400 <= status < 500, (path, status)
    assert client.get("/admin/messages/12345").status_code == 422
    assert client.get("/admin/send?template=nope").status_code == 200


def test_times_are_shown_in_the_gateways_time_zone(client, make_user, db_session, app):
    from datetime import datetime, timezone

    db_session.add(Message(session=app.config["SETTINGS"].session_name, direction="incoming", status="READ",
                           phone_number="393330000009", chat_id="393330000009@c.us", body="ciao",
                           created_at=datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)))
    db_session.commit()
    _logged_in(client, make_user)
    assert "15/01 13:00" in client.get("/admin/messages/393330000009/chat").get_data(as_text=True)  # Europe/Rome


def test_a_conversation_is_marked_read_and_a_message_shows_its_history(client, make_user, db_session, app):
    session = app.config["SETTINGS"].session_name
    incoming = [Message(session=session, direction="incoming", status="DELIVERED", phone_number="393330000010",
                        chat_id="393330000010@c.us", body=f"domanda {n}", from_me=False) for n in range(2)]
    db_session.add_all(incoming)
    db_session.commit()
    token = _logged_in(client, make_user)
    chat = client.get("/admin/messages/393330000010/chat").get_data(as_text=True)
    assert "Segna come letti (2)" in chat
    assert client.post("/admin/messages/393330000010/read", data={"csrf_token": token}).status_code == 302
    db_session.expire_all()
    assert {m.status for m in _rows(db_session, "393330000010")} == {"READ"}
    assert "Segna come letti" not in client.get("/admin/messages/393330000010/chat").get_data(as_text=True)
    history = client.get(f"/admin/messages/{incoming[0].id}").get_data(as_text=True)
    assert "RECEIVED" in history and "READ" in history and "domanda 0" in history
    assert client.get(f"/admin/messages/{uuid.uuid4()}").status_code == 404
