"""docker/: there is no Docker engine here, so check what can be checked: the compose file
parses and wires the services, the Dockerfile has the promised shape, and every entry
point of docker/entrypoint.sh really starts (web answers /healthz, the worker and beat come
up on a Redis of their own, migrate builds a database)."""

import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.servers import free_port, gunicorn_start

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent


def _env(tmp_path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ENV", "SECRET_KEY"}
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'docker.sqlite3'}",
        **extra,
    )
    return env


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_specification(compose):
    # docker/compose-spec.schema.json: the Compose Specification's JSON schema (Apache-2.0),
    # as shipped in docker-compose 1.29.2 (compose/config/compose_spec.json).
    schema = json.loads((DOCKER / "compose-spec.schema.json").read_text())
    errors = [
        f"{list(error.path)}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert errors == []


def test_compose_names_the_services(compose):
    services = {"postgres", "redis", "migrate", "web", "nginx", "worker", "beat", "stream"}
    assert set(compose["services"]) == services
    assert compose["services"]["postgres"]["image"] == "postgres:16"
    assert compose["services"]["redis"]["image"] == "redis:7"


@pytest.mark.parametrize("service", ["postgres", "redis", "web", "nginx", "worker"])
def test_compose_services_have_healthchecks(compose, service):
    assert compose["services"][service]["healthcheck"]["test"]


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat", "stream"])
def test_compose_app_services_use_the_image_and_a_known_role(compose, service):
    conf = compose["services"][service]
    assert conf["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / conf["build"]["context"] / conf["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile"
    )
    assert conf["command"] == [service]
    assert re.search(rf"^\s+{service}\)", ENTRYPOINT.read_text(), re.MULTILINE)
    env = conf["environment"]
    assert env["DJANGO_ENV"] == "production"
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= set(env)


def test_compose_app_services_wait_for_healthy_dependencies_and_migrations(compose):
    for service in ("web", "worker"):
        depends = compose["services"][service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_is_multi_stage_non_root_and_collects_static():
    text = (DOCKER / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM python:3\.11-slim AS \w+", text, re.MULTILINE)) == 2
    assert "requirements/base.txt" in text
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
    assert (ROOT / "requirements" / "base.txt").exists()


def test_entrypoint_is_valid_executable_shell():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0


def test_entrypoint_passes_other_commands_through(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "python", "-c", "print('passed through')"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.stdout.strip() == "passed through"


def test_gunicorn_accepts_the_config():
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--check-config", "-c", "config/gunicorn.conf.py",
         "config.wsgi"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_celery_app_loads():
    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "config", "report"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "celery" in result.stdout


def test_migrate_entry_builds_the_database(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "migrate"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "docker.sqlite3") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"accounts_organization", "signals_signal", "django_migrations"} <= tables


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None, ""


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_web_entry_serves_healthz_and_keeps_webhook_passwords_out_of_the_log(tmp_path):
    port = free_port()
    env = _env(tmp_path, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", DEBUG="False")
    migrate = subprocess.run(
        [str(ENTRYPOINT), "migrate"], cwd=ROOT, env=env, capture_output=True, timeout=300
    )
    assert migrate.returncode == 0
    process = subprocess.Popen(
        [str(ENTRYPOINT), "web"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(lambda: _get(f"{base}/healthz")[0] is not None), "gunicorn never answered"
        status, body = _get(f"{base}/healthz")
        assert status == 200, body
        assert '"database": "ok"' in body
        _get(f"{base}/trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/pw0123456789secret")
        time.sleep(0.5)
    finally:
        output = _stop(process)
    assert "/healthz" in output
    assert "/trading/webhook/6f1c2b7e-8d34-4f7e-9a55-0c3e1a2b4d5f/***" in output
    assert "pw0123456789secret" not in output


@pytest.mark.parametrize(
    "role, ready",
    [("worker", re.compile(r"celery@\S+ ready")), ("beat", re.compile(r"beat: Starting"))],
)
def test_worker_and_beat_entries_start_on_redis(tmp_path, throwaway_redis, role, ready):
    log = tmp_path / f"{role}.log"
    env = _env(
        tmp_path,
        REDIS_URL=throwaway_redis[1],
        CELERY_CONCURRENCY="1",
        CELERY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
    )
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(ENTRYPOINT), role], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            started = _wait_for(lambda: ready.search(log.read_text()), timeout=60)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert started, log.read_text()[-2000:]
    if role == "beat":
        # Its state goes where it is told (a writable path for the non-root user).
        assert list(tmp_path.glob("beat-schedule*"))


def test_stream_entry_starts_and_stops_cleanly(tmp_path):
    env = _env(tmp_path)
    migrate = subprocess.run(
        [str(ENTRYPOINT), "migrate"], cwd=ROOT, env=env, capture_output=True, timeout=300
    )
    assert migrate.returncode == 0
    log = tmp_path / "stream.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(ENTRYPOINT), "stream"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            started = _wait_for(lambda: "trade stream started" in log.read_text(), timeout=60)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
    assert started, log.read_text()[-2000:]
    assert code == 0 and "trade stream stopped" in log.read_text()


# --- The proxy in front: the only published ports, buffering, TLS, redacted logs ---------

NGINX = shutil.which("nginx")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def _resolve(value: str, secrets_for: dict) -> str:
    """A compose value with its ${VAR:?...} and ${VAR:-default} resolved the way compose
    resolves them with nothing but the required secrets set."""

    def one(match: re.Match) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in secrets_for:
            return secrets_for[name]
        assert op == ":-", f"{name} is required and the test does not know it"
        return rest

    return re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", one, str(value))


def test_only_the_proxy_is_published(compose):
    published = {name for name, conf in compose["services"].items() if conf.get("ports")}
    assert published == {"nginx"}
    nginx = compose["services"]["nginx"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert {port.rsplit(":", 1)[1] for port in nginx["ports"]} == {"443", "80"}
    assert compose["services"]["web"]["expose"] == ["8000"]


def test_the_web_trusts_exactly_the_proxys_address(compose):
    address = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert compose["services"]["web"]["environment"]["TRUSTED_PROXIES"] == address


def test_check_deploy_is_clean_with_exactly_the_compose_web_environment(compose, tmp_path):
    required = {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    web = {k: _resolve(v, required) for k, v in compose["services"]["web"]["environment"].items()}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **web}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _self_signed(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir()
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _nginx_conf(tmp_path: Path, *, upstream: int, https: int, http: int) -> Path:
    """docker/nginx.conf as shipped, pointed at a local gunicorn, ports and certificates."""
    text = (DOCKER / "nginx.conf").read_text()
    for shipped, local in [
        ("server web:8000;", f"server 127.0.0.1:{upstream};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("/etc/nginx/certs/", f"{tmp_path / 'certs'}/"),
    ]:
        assert shipped in text
        text = text.replace(shipped, local)
    _self_signed(tmp_path / "certs")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return conf


@pytest.fixture
def proxied(tmp_path):
    """gunicorn (one sync worker, a generous per-read client timeout so only nginx can be
    what protects it) behind nginx with docker/nginx.conf; (https port, http port, nginx
    output file)."""
    web, upstream = gunicorn_start(tmp_path, GUNICORN_CLIENT_TIMEOUT="60")
    https, http = free_port(), free_port()
    conf = _nginx_conf(tmp_path, upstream=upstream, https=https, http=http)
    (tmp_path / "nginx").mkdir()
    output = tmp_path / "nginx.out"
    globals_ = f"daemon off; pid {tmp_path / 'nginx.pid'};"
    with output.open("wb") as sink:
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp_path / "nginx"), "-c", str(conf), "-g", globals_],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert _wait_for(lambda: _https_status(https, "/healthz") is not None), output.read_text()
        yield https, http, output
    finally:
        for process in (nginx, web):
            process.terminate()
            process.wait(timeout=30)


def _tls(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return context.wrap_socket(raw, server_hostname="localhost")


def _https_status(port: int, path: str, raw: bytes | None = None) -> int | None:
    try:
        with _tls(port) as sock:
            sock.sendall(raw or f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            head = sock.recv(65536)
    except OSError:
        return None
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None


@needs_nginx
def test_the_shipped_nginx_config_is_valid(tmp_path):
    conf = _nginx_conf(tmp_path, upstream=free_port(), https=free_port(), http=free_port())
    (tmp_path / "nginx").mkdir()
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf),
         "-g", f"pid {tmp_path / 'nginx.pid'};"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@needs_nginx
def test_slow_clients_wait_in_nginx_not_in_a_worker(proxied):
    https, _, _ = proxied
    # A form POST with a CSRF cookie and a same-origin Referer: Django's CSRF check reads
    # the body for the token, so a worker given this request waits for the rest of it.
    head = (
        b"POST /admin/login/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Referer: https://localhost/admin/login/\r\n"
        b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n\r\n"
    )
    stalled = []
    for _ in range(8):  # the 4 stalled all 4 workers; here there is one
        sock = _tls(https)
        sock.sendall(head + b"0123456789")
        stalled.append(sock)
    try:
        assert _https_status(https, "/healthz") == 200
        for sock in stalled:  # ... answered while all eight still wait, unanswered
            sock.setblocking(False)
            with pytest.raises(ssl.SSLWantReadError):
                sock.recv(1)
    finally:
        for sock in stalled:
            sock.close()


@needs_nginx
def test_port_80_redirects_to_https_keeping_the_method(proxied):
    _, http, _ = proxied
    with socket.create_connection(("127.0.0.1", http), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/signals/ingest HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = sock.recv(65536).decode()
    assert head.startswith("HTTP/1.1 308")
    assert "Location: https://localhost/api/v1/signals/ingest" in head


@needs_nginx
def test_nginx_logs_no_password_or_api_key(proxied):
    https, _, output = proxied
    hook, password, key = str(uuid.uuid4()), secrets.token_hex(16), f"tr_1234abcd_{'k' * 43}"
    paths = [
        f"/trading/webhook/{hook}/{password}",
        f"/trading/webhook/{hook}%2F{password}",
        f"/trading/webhook/{hook}%252F{password}",
        f"//trading//webhook//{hook}//{password}",
        f"/TRADING/WEBHOOK/{hook}/{password}",
        f"/tr%61ding/webhook/{hook}{password}",
        f"/trading/webhook/{password}",
        f"/tr%2561ding/webhook/{hook}/{password}",
        f"/trading%252Fwebhook%252F{hook}%252F{password}",
        f"/trading/webhook/{hook}%252F{password}",
        f"/trading/webhook/{hook}\\{password}",
        f"/api/v1/signals/ingest?apiKey={key}",
        f"/api/v1/signals/ingest?a=1&api%4Bey={key}",
        f"/trading/webhook/{hook}/{password}?pad={'a' * 5000}",  # over nginx's 4 KiB line
    ]
    for path in paths:
        raw = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {key}\r\n"
        _https_status(https, path, (raw + "Content-Length: 2\r\n\r\n{}").encode())
    _https_status(
        https, "/", f"POST /x HTTP/1.1\r\nHost: localhost\r\nX: {'b' * 5000}\r\n\r\n".encode()
    )
    time.sleep(0.5)
    log = output.read_text()
    assert f"/trading/webhook/{hook}/***" in log and "/api/v1/signals/ingest" in log
    assert " 414 " in log
    assert password not in log and key not in log and "kkkkkkkk" not in log
