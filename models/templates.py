from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey


class Template(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    category: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    variables: Mapped[list] = mapped_column(JSONB, default=list)  # [{key, description, required, default}]
    is_active: Mapped[bool] = mapped_column(default=True)
    usage_count: Mapped[int] = mapped_column(default=0)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    created_by: Mapped[str | None] = mapped_column(String(80))
    updated_by: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        Index("ix_templates_category", "category"),
        Index("ix_templates_tags", "tags", postgresql_using="gin"),
    )
