"""Send-media through the API: the file stored once in PostgreSQL, the row queued with its
attachment, and every bad upload refused with a 4xx JSON error and nothing stored.
(Sending and receiving through a worker on the simulator: test_media_pipeline.py.)"""
import base64
import dataclasses
import http.server
import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core.db import get_engine
from models import Media, MediaChunk, Message
from services import media as media_store
from services.messages import now
from tests import media_samples as samples

SEND = "/api/whatsapp/send-media"


def stored_count(session) -> tuple[int, int]:
    return session.scalar(select(func.count()).select_from(Media)), \
        session.scalar(select(func.count()).select_from(MediaChunk))


def upload(client, headers, data: bytes, name: str = "foto.jpg", **fields):
    form = {"phoneNumber": "3331234567", **fields, "file": (io.BytesIO(data), name)}
    return client.post(SEND, data=form, headers=headers, content_type="multipart/form-data")


def test_a_multipart_upload_is_stored_once_and_queued_with_its_attachment(committed_client, committed_db, pro):
    picture = samples.jpeg(3 * media_store.CHUNK_BYTES // 2)  # two chunks
    answer = upload(committed_client, pro, picture, caption="lo scontrino")
    assert answer.status_code == 202, answer.json
    data = answer.json["data"]
    assert (data["type"], data["mimetype"], data["size"], data["filename"]) == ("image", "image/jpeg", len(picture),
                                                                              "foto.jpg")
    row = committed_db.get(Message, data["messageId"])
    assert (row.caption, row.body, row.media_type, row.filename) == ("lo scontrino", None, "image", "foto.jpg")
    assert str(row.media_id) == data["mediaId"] and stored_count(committed_db) == (1, 2)
    assert b"".join(media_store.read_chunks(get_engine(), row.media_id)) == picture
    served = committed_client.get(f"/api/whatsapp/messages/{row.id}/media", headers=pro)
    assert served.status_code == 200 and served.data == picture and served.mimetype == "image/jpeg"
    assert served.headers["Content-Disposition"] == "inline; filename=foto.jpg"


def test_json_with_base64_or_a_data_url(client, db_session, pro):
    document = samples.pdf()
    for payload in (base64.b64encode(document).decode(),
                    "data:application/pdf;base64," + base64.b64encode(document).decode()):
        answer = client.post(SEND, json={"phoneNumber": "3331234567", "base64": payload, "filename": "fattura.pdf"},
                             headers=pro)
        assert answer.status_code == 202, answer.json
        assert answer.json["data"]["type"] == "document" and answer.json["data"]["mimetype"] == "application/pdf"
    voice = client.post(SEND, json={"phoneNumber": "3331234567", "type": "ptt",
                                    "base64": base64.b64encode(samples.ogg_opus()).decode()}, headers=pro)
    assert voice.status_code == 202 and voice.json["data"]["type"] == "ptt"
    assert voice.json["data"]["filename"] == "ptt.oga"


@pytest.mark.parametrize("case, status", [
    ("no file", 422), ("zero bytes", 422), ("a .jpg that is a zip", 415), ("bytes of no known type", 415),
    ("an image that is a pdf", 415), ("over the image limit", 413), ("a sticker with a caption", 422),
    ("two sources", 422), ("bad base64", 422), ("a file field in JSON", 422), ("a bad number", 422),
])
def test_bad_uploads_get_a_4xx_and_store_nothing(client, db_session, pro, case, status):
    jpeg = base64.b64encode(samples.jpeg()).decode()
    answer = {
        "no file": lambda: client.post(SEND, data={"phoneNumber": "3331234567"}, headers=pro,
                                       content_type="multipart/form-data"),
        "zero bytes": lambda: upload(client, pro, b""),
        "a .jpg that is a zip": lambda: upload(client, pro, samples.zip_file(), "foto.jpg"),
        "bytes of no known type": lambda: upload(client, pro, b"\x00\x01\x02\x03" * 100, "dati.bin"),
        "an image that is a pdf": lambda: upload(client, pro, samples.pdf(), "doc.pdf", type="image"),
        "over the image limit": lambda: upload(client, pro, samples.jpeg(16 * 1024 * 1024 + 1)),
        "a sticker with a caption": lambda: client.post(SEND, json={"phoneNumber": "3331234567", "base64": jpeg,
                                                                    "type": "sticker", "caption": "x"}, headers=pro),
        "two sources": lambda: client.post(SEND, json={"phoneNumber": "3331234567", "base64": jpeg,
                                                       "url": "https://example.com/a.jpg"}, headers=pro),
        "bad base64": lambda: client.post(SEND, json={"phoneNumber": "3331234567", "base64": "%%%%"}, headers=pro),
        "a file field in JSON": lambda: client.post(SEND, json={"phoneNumber": "3331234567", "file": "x"}, headers=pro),
        "a bad number": lambda: upload(client, pro, samples.jpeg(), phoneNumber="12"),
    }[case]()
    assert answer.status_code == status, answer.json
    assert answer.json["success"] is False and answer.json["error"]["details"]
    assert stored_count(db_session) == (0, 0)
    assert db_session.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/foto.jpg", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/x.jpg", "http://10.1.2.3/x.jpg", "file:///etc/passwd",
                                 "http://user:pw@example.com/x.jpg", "http://metadata.google.internal/x"])
def test_a_url_to_a_private_address_is_refused(client, db_session, pro, url):
    answer = client.post(SEND, json={"phoneNumber": "3331234567", "url": url}, headers=pro)
    assert answer.status_code == 422 and answer.json["error"]["details"]["url"]
    assert stored_count(db_session) == (0, 0)


@pytest.fixture
def file_server():
    """A loopback HTTP server: /ok.jpg serves a JPEG, /redirect redirects to it, /big is large."""
    picture = samples.jpeg(100_000)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/ok.jpg")
                self.end_headers()
                return
            body = picture if self.path == "/ok.jpg" else samples.jpeg(17 * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)) if self.path != "/big-chunked" else "")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", picture
    server.shutdown()


def test_a_url_is_fetched_when_its_network_is_allowed(app, client, db_session, pro, file_server, monkeypatch):
    base, picture = file_server
    refused = client.post(SEND, json={"phoneNumber": "3331234567", "url": f"{base}/ok.jpg"}, headers=pro)
    assert refused.status_code == 422  # loopback: refused unless MEDIA_URL_ALLOW_HOSTS names it
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    media_url_allow_hosts="127.0.0.0/8"))
    answer = client.post(SEND, json={"phoneNumber": "3331234567", "url": f"{base}/ok.jpg"}, headers=pro)
    assert answer.status_code == 202, answer.json
    assert answer.json["data"]["filename"] == "ok.jpg" and answer.json["data"]["size"] == len(picture)
    row = db_session.get(Media, answer.json["data"]["mediaId"])
    assert b"".join(c.data for c in db_session.scalars(
        select(MediaChunk).where(MediaChunk.media_id == row.id).order_by(MediaChunk.seq))) == picture
    redirected = client.post(SEND, json={"phoneNumber": "3331234567", "url": f"{base}/redirect"}, headers=pro)
    assert redirected.status_code == 422 and "302" in redirected.json["error"]["message"]
    big = client.post(SEND, json={"phoneNumber": "3331234567", "url": f"{base}/big", "type": "image"}, headers=pro)
    assert big.status_code == 413
    assert stored_count(db_session)[0] == 1


def test_the_same_idempotency_key_and_file_replays_another_file_is_422(committed_client, committed_db, pro):
    client, db_session = committed_client, committed_db
    headers = {**pro, "Idempotency-Key": "media-1"}
    first = upload(client, headers, samples.jpeg(seed=1))
    again = upload(client, headers, samples.jpeg(seed=1))
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert upload(client, headers, samples.jpeg(seed=2)).status_code == 422
    assert stored_count(db_session)[0] == 1


def test_bulk_media_stores_the_file_once_for_every_recipient(client, db_session, admin, pro):
    def form():
        return {"recipients": ["3331234567", "3331234568", "12"], "caption": "offerta",
                "file": (io.BytesIO(samples.png()), "offerta.png")}
    answer = client.post("/api/whatsapp/send-media-bulk", data=form(), headers=admin,
                         content_type="multipart/form-data")
    assert answer.status_code == 202, answer.json
    assert answer.json["data"]["queued"] == ["393331234567", "393331234568"] and len(answer.json["data"]["invalid"]) == 1
    rows = db_session.scalars(select(Message).where(Message.bulk_job_id == answer.json["data"]["jobId"])).all()
    assert len({r.media_id for r in rows}) == 1 and {r.caption for r in rows} == {"offerta"}
    assert stored_count(db_session) == (1, 1)
    assert client.post("/api/whatsapp/send-media-bulk", data=form(), headers=pro,
                       content_type="multipart/form-data").status_code == 403
    many = {"recipients": [str(3340000000 + i) for i in range(1500)],  # more parts than werkzeug's default 1,000
            "file": (io.BytesIO(samples.png()), "offerta.png")}
    answer = client.post("/api/whatsapp/send-media-bulk", data=many, headers=admin, content_type="multipart/form-data")
    assert answer.status_code == 202 and len(answer.json["data"]["queued"]) == 1500


def test_retention_purges_old_files_but_not_those_still_to_send(client, db_session, pro):
    sent = upload(client, pro, samples.jpeg(seed=3)).json["data"]
    waiting = upload(client, pro, samples.jpeg(seed=4)).json["data"]
    db_session.execute(update(Message).where(Message.id == sent["messageId"]).values(status="SENT"))
    db_session.execute(update(Media).values(created_at=now() - timedelta(days=31)))
    assert media_store.purge(db_session, retention_days=0) == 0  # 0: keep forever
    assert media_store.purge(db_session, retention_days=30) == 1
    assert db_session.get(Media, waiting["mediaId"]) is not None
    gone = db_session.get(Message, sent["messageId"])
    db_session.refresh(gone)
    assert gone.media_id is None and gone.media_url is None
    assert client.get(f"/api/whatsapp/messages/{gone.id}/media", headers=pro).status_code == 404


def test_the_beat_job_purges_in_batches_and_commits(committed_client, committed_db, pro, monkeypatch):
    from tasks.maintenance import purge_media

    ids = [upload(committed_client, pro, samples.jpeg(seed=i)).json["data"]["messageId"] for i in range(3)]
    committed_db.execute(update(Message).where(Message.id.in_(ids)).values(status="READ"))
    committed_db.execute(update(Media).values(created_at=now() - timedelta(days=365)))
    committed_db.commit()
    monkeypatch.setattr(media_store.purge, "__defaults__", (2,))  # batches of 2: the loop runs twice
    assert purge_media() == 3
    committed_db.expire_all()
    assert stored_count(committed_db) == (0, 0)


def test_a_stored_file_is_sent_by_its_id_in_its_own_session_only(client, db_session, pro):
    stored = client.post("/api/whatsapp/media", data={"file": (io.BytesIO(samples.png()), "grafico.png")},
                         headers=pro, content_type="multipart/form-data")
    assert stored.status_code == 201 and stored.json["data"]["type"] == "image"
    media_id = stored.json["data"]["mediaId"]
    sent = client.post(SEND, json={"phoneNumber": "3331234567", "mediaId": media_id, "caption": "ecco"}, headers=pro)
    assert sent.status_code == 202 and sent.json["data"]["mediaId"] == media_id
    other = media_store.store(db_session, session_name="altra", chunks=[samples.png()], kind=None, filename=None,
                              max_bytes=10**6)
    for unknown in (str(other.id), "00000000-0000-0000-0000-000000000000"):
        refused = client.post(SEND, json={"phoneNumber": "3331234567", "mediaId": unknown}, headers=pro)
        assert refused.status_code == 422 and refused.json["error"]["details"] == {"mediaId": ["unknown file"]}


def test_a_schedule_sends_its_file_with_every_run_and_keeps_it_from_the_purge(client, db_session, pro, monkeypatch):
    from services import scheduling

    monkeypatch.setattr("services.dispatch.publish_send", lambda *a, **k: None)
    media_id = client.post("/api/whatsapp/media", json={"base64": base64.b64encode(samples.pdf()).decode(),
                                                        "filename": "listino.pdf"}, headers=pro).json["data"]["mediaId"]
    send_at = now() + timedelta(hours=1)
    created = client.post("/api/whatsapp/scheduled", headers=pro, json={
        "phoneNumber": "3331234567", "message": "il listino", "mediaId": media_id, "sendAt": send_at.isoformat()})
    assert created.status_code == 201 and created.json["data"]["mediaId"] == media_id
    assert client.post("/api/whatsapp/scheduled", headers=pro, json={
        "phoneNumber": "3331234567", "message": "x", "mediaId": "00000000-0000-0000-0000-000000000000",
        "sendAt": send_at.isoformat()}).status_code == 422
    db_session.execute(update(Media).values(created_at=now() - timedelta(days=90)))
    assert media_store.purge(db_session, retention_days=30) == 0  # an active schedule holds it
    scheduling.dispatch_due(db_session, grace_seconds=300, country="IT", at=send_at + timedelta(seconds=1))
    message = db_session.scalars(select(Message).where(Message.scheduled_message_id == created.json["data"]["id"])).one()
    assert (str(message.media_id), message.caption, message.body, message.filename) == (media_id, "il listino", None,
                                                                                     "listino.pdf")


def test_a_number_that_opted_out_gets_media_only_when_transactional(client, db_session, pro):
    from models import Contact

    db_session.add(Contact(phone_number="393331234567", opted_out_at=now()))
    db_session.flush()
    refused = upload(client, pro, samples.jpeg())
    assert refused.status_code == 409 and stored_count(db_session) == (0, 0)
    assert upload(client, pro, samples.jpeg(), transactional="true").status_code == 202


def test_erasing_one_recipient_keeps_a_bulk_file_the_others_still_hold(client, db_session, admin):
    from core.settings import get_settings
    from services import privacy

    form = {"recipients": ["3331234567", "3331234568"], "file": (io.BytesIO(samples.png()), "offerta.png")}
    job = client.post("/api/whatsapp/send-media-bulk", data=form, headers=admin,
                      content_type="multipart/form-data").json["data"]["jobId"]
    db_session.execute(update(Message).where(Message.bulk_job_id == job).values(status="READ"))
    assert privacy.erase(db_session, "393331234567", get_settings())["media_files"] == 0
    assert stored_count(db_session)[0] == 1
    assert privacy.erase(db_session, "393331234568", get_settings())["media_files"] == 1
    assert stored_count(db_session) == (0, 0)
