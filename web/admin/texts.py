"""English of the admin panel's texts."""
ENGLISH: dict[str, str] = {}
