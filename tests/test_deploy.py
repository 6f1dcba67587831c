"""deploy/: the Prometheus rules and the Grafana dashboard speak of the metrics the gateway really
exports (read from a real /metrics scrape), and docker-compose's `monitoring` profile loads them.
`promtool` checks the rules and the config when it is installed (README "Monitoring")."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.test_metrics import TOKEN

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wagateway.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "wagateway.yml"
PROMETHEUS_OWN = {"up"}  # series Prometheus makes itself for each target

_METRIC = re.compile(r"\b(wagateway_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b(wagateway_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(expression, legend) of every panel, and the session variable's query."""
    board = dashboard()
    found = [(t["expr"], t.get("legendFormat", "")) for panel in board["panels"] for t in panel["targets"]]
    return found + [(v["query"]["query"], "") for v in board["templating"]["list"]]


def exposition_names(text: str) -> dict[str, set[str]]:
    """{every series name a scrape may hold: label names seen on it} from a real /metrics answer
    (a counter's `_total`, a histogram's `_bucket`, `_count` and `_sum`, whether or not it has
    samples yet)."""
    names: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            for suffix in {"histogram": ("_bucket", "_count", "_sum"), "counter": ("",)}.get(kind, ("",)):
                names.setdefault(name + suffix, set())
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', rest.partition("}")[0]))
            names.setdefault(name.split()[0], set()).update(labels)
    return names


@pytest.fixture
def scraped(metrics_app, committed_db, session_name, redis_client, tmp_path) -> dict[str, set[str]]:
    """The metrics of a gateway that served a request and knows a live session."""
    from tasks.health import check_session
    from tests.test_alerts import settings

    client = metrics_app.test_client()
    assert client.get("/healthz").status_code == 200
    redis_client.hset(f"wa:{session_name}:state",
                      mapping={"state": "CONNECTED", "heartbeat": str(time.time()), "browser_mb": "300"})
    with settings(tokens_dir=str(tmp_path)):
        check_session()
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    return exposition_names(answer.text)


from tests.test_alerts import session_name  # noqa: E402,F401 - a fixture
from tests.test_metrics import metrics_app  # noqa: E402,F401 - a fixture


def test_every_metric_in_the_rules_and_the_dashboard_is_exported(scraped):
    queries = [(rule["expr"], "") for rule in rules()] + dashboard_queries()
    used = {name for expr, _ in queries for name in _METRIC.findall(expr)}
    assert used, "no metric found in deploy/"
    assert not used - set(scraped), f"not exported by the gateway: {sorted(used - set(scraped))}"
    # the labels they select, group by and name in legends exist on those series
    for expr, legend in queries:
        metrics = set(_METRIC.findall(expr))
        known = set().union(*(scraped[m] for m in metrics)) | {"le", "job", "instance"}
        if not all(scraped[m] for m in metrics):
            continue  # a series with no sample yet in this scrape shows no labels to compare with
        for name, matchers in _SELECTOR.findall(expr):
            assert set(_MATCHER.findall(matchers)) <= scraped[name] | {"job", "instance"}, (name, matchers)
        grouped = {label.strip() for group in _GROUPING.findall(expr)
                   for label in group.split(",") if label.strip()}
        assert grouped | set(_LEGEND.findall(legend)) <= known, expr
    # Prometheus' own series aside, every bare metric name in a rule is ours
    for rule in rules():
        bare = set(re.findall(r"(?<![\w.$])([a-z_]+)\{", rule["expr"])) - set(_METRIC.findall(rule["expr"]))
        assert bare <= PROMETHEUS_OWN, (rule["alert"], bare)


def test_the_rules_mirror_the_gateways_own_alerts():
    by_kind = {rule["labels"].get("kind"): rule for rule in rules()}
    # services/health.py's kinds that a metric can show (the others are about a worker's own view)
    assert {"error_rate", "session_down", "queue_stale", "queue_backlog", "browser_restarts", "disk_low",
            "uptime"} <= set(by_kind)
    for rule in rules():
        assert rule["alert"].startswith("Wagateway") and rule["annotations"]["summary"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    # thresholds are the defaults of the ALERT_* settings
    from core.settings import Settings

    defaults = Settings()
    assert f"> {defaults.alert_error_rate}" in by_kind["error_rate"]["expr"]
    assert f">= {defaults.alert_error_min_messages}" in by_kind["error_rate"]["expr"]
    assert by_kind["session_down"]["for"] == f"{defaults.alert_disconnected_minutes}m"
    assert f"> {defaults.alert_queue_age_minutes} * 60" in by_kind["queue_stale"]["expr"]
    assert f"> {defaults.alert_browser_restarts_per_hour}" in by_kind["browser_restarts"]["expr"]
    assert f"< {defaults.alert_disk_free_mb} * 1024 * 1024" in by_kind["disk_low"]["expr"]


def test_the_monitoring_profile_loads_the_files_in_deploy():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == ["monitoring"] and grafana["profiles"] == ["monitoring"]
    assert not any("profiles" in s for name, s in services.items() if name not in {"prometheus", "grafana"})

    def mounts(service: dict) -> dict[str, Path]:
        found = {}
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume
                found[target] = ROOT / source
        return found

    # Prometheus: its config and rules, the token as a secret where the config reads it, the API's port
    config_dir = mounts(prometheus)["/etc/prometheus"]
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert all((config_dir / name).is_file() for name in config["rule_files"])
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    assert "metrics_token" in prometheus["secrets"]
    api_job, workers_job = config["scrape_configs"]
    assert api_job["metrics_path"] == "/metrics"
    assert api_job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    [target] = api_job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in services and f"0.0.0.0:{port}" in services[host]["command"]
    # each Celery worker container serves its own counters where the workers' job looks for them
    [discovery] = workers_job["dns_sd_configs"]
    worker_command = ["celery", "-A", "worker", "worker"]
    celery_workers = {name for name, s in services.items() if s.get("command", [])[:4] == worker_command}
    assert set(discovery["names"]) == celery_workers
    for name in celery_workers:
        assert str(services[name]["environment"]["METRICS_PORT"]) == str(discovery["port"]), name
    # a container of several processes sums them from a directory of its own (pids are per container)
    for name in ("api", "jobs"):
        directory = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in services[name]["tmpfs"], name
    assert "PROMETHEUS_MULTIPROC_DIR" not in compose["x-app"]["environment"]  # never shared across containers

    # Grafana: the data source points at the prometheus service, the dashboards' folder is mounted
    grafana_mounts = mounts(grafana)
    assert grafana_mounts["/etc/grafana/provisioning"] == DEPLOY / "grafana" / "provisioning"
    [source] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    [provider] = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert grafana_mounts[provider["options"]["path"]] == DASHBOARD.parent
    board = dashboard()
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for kpi in ("send success", "latency p95", "queue depth", "session state", "uptime", "browser memory",
                "webhook"):
        assert kpi in titles, kpi

    # one knob for the level: no process is given a level of its own on its command line
    for name, service in services.items():
        command = " ".join(map(str, service.get("command", [])))
        assert "--loglevel" not in command and "--log-level" not in command, name


VENDORED_PROMTOOL = Path(__file__).resolve().parents[1] / "vendor" / "promtool" / "usr" / "bin" / "promtool"
PROMTOOL = (os.environ.get("PROMTOOL") or shutil.which("promtool")
            or (str(VENDORED_PROMTOOL) if VENDORED_PROMTOOL.exists() else None))  # scripts/setup_system.sh


@pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (Debian's `prometheus` package ships it; "
                                         "the parsing tests above run anyway)")
def test_promtool_accepts_the_rules_their_unit_tests_and_the_config(tmp_path):
    def promtool(*args: str) -> None:
        done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    promtool("check", "rules", str(RULES))
    promtool("test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml"))
    # the config as the container reads it, with a token file where the compose secret would be
    for path in (DEPLOY / "prometheus").iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "token").write_text("x" * 32)
    config = tmp_path / "prometheus.yml"
    config.write_text(config.read_text().replace("/run/secrets/metrics_token", str(tmp_path / "token")))
    promtool("check", "config", str(config))
