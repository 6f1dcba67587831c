"""Webhook endpoints (ADMIN and up): the event log pushed to a URL, signed per Standard Webhooks."""
from __future__ import annotations

import uuid

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import WebhookDelivery, WebhookEndpoint
from models.enums import ErrorType
from services import webhooks
from services.events import EVENT_TYPES
from web.api.blueprint import Blueprint
from web.auth import Capability, authorize_session, current_principal, requires
from web.pagination import page
from web.schemas import PageArgs, envelope, ok, page_envelope
from web.session_scope import SessionName
from web.transaction import audit_target

blp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks",
                description="Webhook endpoints and their deliveries (Standard Webhooks signatures)")



def EventTypes(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), data_key="eventTypes",
                       attribute="event_types", validate=validate.Length(min=1, max=len(EVENT_TYPES)),
                       metadata={"description": f"any of: {', '.join(EVENT_TYPES)}"}, **kwargs)


def Url(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=webhooks.URL_MAX_LENGTH), metadata={
        "description": "http(s); loopback and private addresses only if WEBHOOK_ALLOW_HOSTS allows them"}, **kwargs)


def Description() -> fields.String:
    return fields.String(validate=validate.Length(max=500), allow_none=True)


class EndpointCreateSchema(Schema):
    url = Url(required=True)
    eventTypes = EventTypes(required=True)
    session = SessionName("only this WhatsApp session's events (omitted: every session's)", allow_none=True)
    active = fields.Boolean(load_default=True)
    description = Description()


class EndpointPatchSchema(Schema):
    url = Url()
    eventTypes = EventTypes()
    session = SessionName("only this WhatsApp session's events (null: every session's)", allow_none=True)
    active = fields.Boolean()
    description = Description()


class EndpointSchema(Schema):
    id = fields.UUID()
    url = fields.String()
    eventTypes = fields.List(fields.String(), attribute="event_types")
    session = fields.String(allow_none=True)
    active = fields.Boolean()
    description = fields.String(allow_none=True)
    disabledReason = fields.String(attribute="disabled_reason", allow_none=True)
    failingSince = fields.DateTime(attribute="failing_since", allow_none=True)
    previousSecretUntil = fields.DateTime(attribute="previous_secret_until", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(attribute="secret_shown", metadata={"description": "whsec_...: shown only now, keep it to verify signatures"})


class DeliveryQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf([webhooks.PENDING, webhooks.DELIVERED, webhooks.FAILED]))


class RecoverSchema(Schema):
    since = fields.AwareDateTime(required=True, metadata={
        "description": "recover what the endpoint missed from this time on (the event log keeps EVENTS_RETENTION_DAYS)"})

    @validates("since")
    def _not_in_the_future(self, value, **_):
        if value > webhooks.now():
            raise ValidationError("must not be in the future")


class RecoveredSchema(Schema):
    requeued = fields.Integer(metadata={"description": "FAILED deliveries sent again (same webhook-id)"})
    created = fields.Integer(metadata={"description": "deliveries of logged events the endpoint never got a row for "
                                                      "(they came while it was switched off)"})
    complete = fields.Boolean(metadata={"description": f"false: the call stopped at {webhooks.RECOVER_LIMIT}; "
                                                       "call again with the same `since` for the rest"})


class DeliverySchema(Schema):
    id = fields.UUID(metadata={"description": "the webhook-id header the receiver got"})
    eventId = fields.Integer(attribute="event_id", allow_none=True)
    eventType = fields.String(attribute="event_type")
    status = fields.String(metadata={"description": "PENDING, DELIVERED or FAILED"})
    attempts = fields.Integer()
    nextAttemptAt = fields.DateTime(attribute="next_attempt_at", allow_none=True)
    lastStatusCode = fields.Integer(attribute="last_status_code", allow_none=True)
    lastResponse = fields.String(attribute="last_response", allow_none=True,
                                 metadata={"description": f"the first {webhooks.EXCERPT_BYTES} bytes of the answer"})
    lastError = fields.String(attribute="last_error", allow_none=True)
    latencyMs = fields.Integer(attribute="latency_ms", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    lastAttemptAt = fields.DateTime(attribute="last_attempt_at", allow_none=True)
    deliveredAt = fields.DateTime(attribute="delivered_at", allow_none=True)


def _settings():
    return current_app.config["SETTINGS"]


def _check_session(name: str | None) -> None:
    """A caller limited to some sessions subscribes to theirs only (never to every session's)."""
    principal = current_principal()
    if name is None and principal.sessions is not None:
        raise GatewayError(403, "a caller limited to some sessions must name one of them in `session`",
                           ErrorType.PERMISSION_DENIED, details={"allowedSessions": list(principal.sessions)})
    if name is not None:
        authorize_session(principal, name)


def _endpoint(endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint:
    endpoint = get_or_404(db, WebhookEndpoint, endpoint_id, "webhook endpoint", for_update=for_update)
    limited = current_principal().sessions
    if limited is not None and endpoint.session not in limited:
        raise GatewayError(404, "no webhook endpoint with this id")
    return endpoint


@blp.route("", methods=["POST"])
@requires(Capability.MANAGE)
@blp.arguments(EndpointCreateSchema)
@blp.response(201, envelope(EndpointWithSecretSchema))
def create_endpoint(args):
    """Subscribe a URL to event types. The answer holds its signing secret, shown only this once."""
    _check_session(args.get("session"))
    endpoint, secret = webhooks.create(db, _settings(), url=args["url"], event_types=args["event_types"],
                                       session_name=args.get("session"), description=args.get("description"),
                                       active=args["active"], created_by=current_principal().id)
    audit_target(f"webhook:{endpoint.id}", action="webhook.create", url=endpoint.url)
    return ok(_with_secret(endpoint, secret), "webhook created")


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> dict:
    """The endpoint as EndpointWithSecretSchema dumps it: its columns and the secret given."""
    endpoint.secret_shown = secret
    return endpoint


@blp.route("")
@requires(Capability.MANAGE)
@blp.response(200, envelope(EndpointSchema, many=True))
def list_endpoints():
    """Every endpoint the caller may see, newest first (secrets are never listed)."""
    rows = db.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at.desc())).all()
    limited = current_principal().sessions
    return ok([row for row in rows if limited is None or row.session in limited])


@blp.route("/<uuid:endpoint_id>")
@requires(Capability.MANAGE)
@blp.response(200, envelope(EndpointSchema))
def get_endpoint(endpoint_id: uuid.UUID):
    return ok(_endpoint(endpoint_id))


@blp.route("/<uuid:endpoint_id>", methods=["PATCH"])
@requires(Capability.MANAGE)
@blp.arguments(EndpointPatchSchema)
@blp.response(200, envelope(EndpointSchema))
def change_endpoint(args, endpoint_id: uuid.UUID):
    """Change the URL, types, session filter, description; `active: true` switches a disabled one on again."""
    endpoint = _endpoint(endpoint_id, for_update=True)
    if "session" in args:
        _check_session(args["session"])
    audit_target(f"webhook:{endpoint.id}", action="webhook.change")
    return ok(webhooks.change(db, _settings(), endpoint, args), "webhook changed")


@blp.route("/<uuid:endpoint_id>", methods=["DELETE"])
@requires(Capability.MANAGE)
@blp.response(200, envelope())
def delete_endpoint(endpoint_id: uuid.UUID):
    """Delete the endpoint and its deliveries (pending ones are not sent)."""
    endpoint = _endpoint(endpoint_id, for_update=True)
    audit_target(f"webhook:{endpoint.id}", action="webhook.delete", url=endpoint.url)
    db.delete(endpoint)
    return ok(None, "webhook deleted")


@blp.route("/<uuid:endpoint_id>/rotate-secret", methods=["POST"])
@requires(Capability.MANAGE)
@blp.response(200, envelope(EndpointWithSecretSchema))
def rotate_secret(endpoint_id: uuid.UUID):
    """A new secret, shown once; the old one signs too (a second signature) for WEBHOOK_SECRET_GRACE_HOURS."""
    endpoint = _endpoint(endpoint_id, for_update=True)
    secret = webhooks.rotate(endpoint, _settings().webhook_secret_grace_hours)
    audit_target(f"webhook:{endpoint.id}", action="webhook.rotate_secret")
    return ok(_with_secret(endpoint, secret), "secret rotated")


@blp.route("/<uuid:endpoint_id>/deliveries")
@requires(Capability.MANAGE)
@blp.arguments(DeliveryQuerySchema, location="query")
@blp.response(200, page_envelope(DeliverySchema))
def list_deliveries(args, endpoint_id: uuid.UUID):
    """The endpoint's deliveries, newest first: status, attempts, last answer and latency."""
    endpoint = _endpoint(endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if args.get("status"):
        query = query.where(WebhookDelivery.status == args["status"])
    rows, next_cursor = page(query, WebhookDelivery.created_at, WebhookDelivery.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


@blp.route("/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@requires(Capability.MANAGE)
@blp.response(202, envelope(DeliverySchema))
def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID):
    """Send this delivery again now (same webhook-id; a delivered one too)."""
    endpoint = _endpoint(endpoint_id)
    delivery = db.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                       WebhookDelivery.endpoint_id == endpoint.id).with_for_update())
    if delivery is None:
        raise GatewayError(404, "no delivery with this id for this endpoint")
    webhooks.retry(db, delivery)
    audit_target(f"webhook:{endpoint.id}", action="webhook.retry", delivery=str(delivery.id))
    return ok(delivery, "delivery queued")


@blp.route("/<uuid:endpoint_id>/recover", methods=["POST"])
@requires(Capability.MANAGE)
@blp.arguments(RecoverSchema)
@blp.response(202, envelope(RecoveredSchema))
def recover_deliveries(args, endpoint_id: uuid.UUID):
    """Deliver again what the endpoint missed since `since`, once it is switched on again: its failed
    deliveries and the events logged while it was off (409 while it is off)."""
    endpoint = _endpoint(endpoint_id, for_update=True)
    requeued, created = webhooks.recover(db, endpoint, args["since"])
    audit_target(f"webhook:{endpoint.id}", action="webhook.recover", since=args["since"].isoformat(),
                 requeued=requeued, created=created)
    return ok({"requeued": requeued, "created": created, "complete": requeued + created < webhooks.RECOVER_LIMIT},
              "deliveries queued")


@blp.route("/<uuid:endpoint_id>/test", methods=["POST"])
@requires(Capability.MANAGE)
@blp.response(202, envelope(DeliverySchema))
def test_endpoint(endpoint_id: uuid.UUID):
    """Send a signed `webhook.test` event now; follow it in the deliveries."""
    endpoint = _endpoint(endpoint_id)
    audit_target(f"webhook:{endpoint.id}", action="webhook.test")
    return ok(webhooks.test(db, endpoint), "test queued")
