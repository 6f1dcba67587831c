"""Create the database named by DATABASE_URL if it does not exist (then `alembic upgrade head`)."""
import sys

import psycopg
from sqlalchemy.engine import make_url

from core.settings import get_settings


def main() -> int:
    url = make_url(get_settings().database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.database}"')
            print(f"created database {url.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
