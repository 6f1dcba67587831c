"""Schemas of the media endpoints (send-media, single and bulk)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.bulk import MAX_RECIPIENTS
from services.media import KINDS
from web.api.messages_schemas import transactional_field

CAPTION_MAX = 4096  # WhatsApp cuts captions longer than this
URL_MAX = 2000


class UploadSchema(Schema):
    """One file: `file` (multipart), or `url` / `base64` (JSON or multipart)."""

    file = fields.Raw(metadata={"type": "string", "format": "binary",
                                "description": "the file (multipart/form-data only)"})
    url = fields.String(validate=validate.Length(min=1, max=URL_MAX), metadata={
        "description": "an http(s) URL the gateway downloads (public addresses only, bounded in size and time)"})
    base64 = fields.String(validate=validate.Length(min=1), metadata={
        "description": "the file as base64, or a data URL `data:<type>;base64,...`"})
    type = fields.String(validate=validate.OneOf(KINDS), metadata={
        "description": "how WhatsApp shows it (ptt = voice note); default: from the file's bytes "
                       "(image, video or audio when WhatsApp plays that format, else document)"})
    filename = fields.String(validate=validate.Length(min=1, max=255),
                             metadata={"description": "the name the recipient sees (documents)"})

    @validates_schema
    def _one_source(self, data, **_kwargs):
        sources = [name for name in ("file", "url", "base64", "mediaId") if name in self.fields]
        given = [name for name in sources if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationError(f"give exactly one of {', '.join(sources)}", field_name="file")
        if data.get("file") is not None and not hasattr(data["file"], "stream"):
            raise ValidationError("file must be a file part of a multipart/form-data body", field_name="file")
        if data.get("type") == "sticker" and data.get("caption"):
            raise ValidationError("a sticker has no caption", field_name="caption")


class _MediaSource(UploadSchema):
    """A file to send: as for an upload, or `mediaId`, a file stored before (POST /media)."""

    mediaId = fields.UUID(metadata={"description": "a file stored with POST /api/whatsapp/media"})
    caption = fields.String(validate=validate.Length(max=CAPTION_MAX))


class SendMediaSchema(_MediaSource):
    phoneNumber = fields.String(validate=validate.Length(min=1, max=64))
    recipient = fields.String(validate=validate.Length(min=1, max=64),
                              metadata={"description": "alias of phoneNumber"})
    transactional = transactional_field()

    @validates_schema
    def _one_recipient(self, data, **_kwargs):
        if not (data.get("phoneNumber") or data.get("recipient")):
            raise ValidationError("phoneNumber (or recipient) is required", field_name="phoneNumber")


class SendMediaBulkSchema(_MediaSource):
    recipients = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                             validate=validate.Length(min=1, max=MAX_RECIPIENTS))


class StoredSchema(Schema):
    mediaId = fields.UUID(attribute="id")
    type = fields.String(attribute="kind")
    mimetype = fields.String()
    size = fields.Integer()
    filename = fields.String()
    sha256 = fields.String()


class MediaQueuedSchema(Schema):
    messageId = fields.UUID()
    status = fields.String()
    phoneNumber = fields.String()
    mediaId = fields.UUID()
    type = fields.String()
    mimetype = fields.String()
    size = fields.Integer()
    filename = fields.String()
