# One image for api, worker, beat and flower; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
# Chromium and its driver come from Debian (undetected-chromedriver is given both paths and downloads
# nothing); npm installs the pinned wa-js bundle and Swagger UI.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium chromium-driver npm fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt
COPY vendor/package.json vendor/package-lock.json vendor/
RUN npm ci --prefix vendor --no-audit --no-fund --loglevel=error
COPY . .

EXPOSE 8000
CMD ["gunicorn", "-b", "0.0.0.0:8000", "web:create_app()"]
