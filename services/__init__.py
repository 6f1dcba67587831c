"""Business logic shared by the API and the tasks. Services flush; their caller commits."""
