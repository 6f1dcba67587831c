"""The panel's bulk send (ADMIN and up): pasted numbers and a CSV, the invalid ones shown before
queuing, the job's progress page and its cancel; services.bulk as the API's /send-bulk and /jobs."""
import io
import re

from sqlalchemy import select

from models import BulkJob, Message
from models.enums import Role
from tests.test_admin_panel import csrf_of, log_in


def _logged_in(client, make_user, role=Role.ADMIN) -> str:
    assert log_in(client, make_user(role)).status_code == 302
    return csrf_of(client)


def _form(token, action, numbers="", csv_bytes=None, message="Offerta di primavera"):
    data = {"csrf_token": token, "action": action, "numbers": numbers, "message": message}
    if csv_bytes is not None:
        data["csv"] = (io.BytesIO(csv_bytes), "numeri.csv")
    return data


def test_the_numbers_are_checked_before_anything_is_queued_then_the_job_runs_and_is_cancelled(
        client, make_user, db_session):
    token = _logged_in(client, make_user)
    pasted = "333 000 1001\n12; 3330001002, +39 333 000 1001"
    csv_bytes = "numero;nome\n3330001003;Anna\n3330001004;Luca\n".encode()
    checked = client.post("/admin/bulk", data=_form(token, "check", pasted, csv_bytes),
                          content_type="multipart/form-data")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert re.search(r'id="valid-count">4<', page) and re.search(r'id="invalid-count">2<', page)
    assert "12:" in page and "numero:" in page  # the bad number and the CSV's header
    assert db_session.scalar(select(BulkJob)) is None  # nothing queued by a check
    numbers = re.search(r'<textarea id="numbers" name="numbers" rows="6">([^<]*)</textarea>', page).group(1)
    assert numbers.count("\n") == 6  # 7 entries, the CSV's too: a send needs no second upload

    sent = client.post("/admin/bulk", data=_form(token, "send", numbers), content_type="multipart/form-data")
    assert sent.status_code == 302
    job_id = sent.headers["Location"].rsplit("/", 1)[1]
    rows = list(db_session.scalars(select(Message).where(Message.bulk_job_id == job_id)))
    assert len(rows) == 4 and {r.status for r in rows} == {"QUEUED"}
    job_page = client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "0 di 4 (0 %)" in job_page and 'id="cancel-job"' in job_page and "12:" in job_page

    assert client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 302
    db_session.expire_all()
    assert {(r.status, r.error_type) for r in db_session.scalars(
        select(Message).where(Message.bulk_job_id == job_id))} == {("FAILED", "CANCELLED")}
    progress = client.get(f"/admin/jobs/{job_id}/progress").get_data(as_text=True)
    assert "CANCELLED" in progress and "4 di 4 (100 %)" in progress
    again = client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "CONFLICT" in again.get_data(as_text=True)


def test_a_professional_may_follow_a_job_but_not_send_nor_cancel_one(client, make_user, db_session):
    admin_token = _logged_in(client, make_user)
    sent = client.post("/admin/bulk", data=_form(admin_token, "send", "3330001005"),
                       content_type="multipart/form-data")
    job_path = sent.headers["Location"]
    token = _logged_in(client, make_user, Role.PROFESSIONAL)
    assert client.get("/admin/bulk").status_code == 403
    page = client.get(job_path)
    assert page.status_code == 200 and 'id="cancel-job"' not in page.get_data(as_text=True)
    assert client.post(f"{job_path}/cancel", data={"csrf_token": token}).status_code == 403


def test_bad_bulk_input_is_shown_in_the_form(client, make_user):
    token = _logged_in(client, make_user)
    for data, status in [(_form(token, "send", ""), 422),
                         (_form(token, "check", "", b"\xff\xfe\x00bad"), 422),
                         (_form(token, "send", "3330001006", message="   "), 422),
                         (_form(token, "check", "\n".join(["3330001007"] * 10_001)), 422)]:
        response = client.post("/admin/bulk", data=data, content_type="multipart/form-data")
        assert response.status_code == status and "VALIDATION_ERROR" in response.get_data(as_text=True)
