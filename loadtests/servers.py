"""The application every configuration serves, and the nginx peer: their nginx configuration files.

The application is nginx with one worker serving `/1k` and `/1m` (1 KiB and 1 MiB files) over HTTP/1.1
on APP_PORT and over HTTP/2 with prior knowledge (h2c) on H2_PORT. The peer proxy is a second nginx,
one worker, as a sidecar would be: on the inbound port the iptables rules redirect to, forwarding to
the application over loopback with upstream keep-alive (tracecar pools its upstream connections too).
"""

from __future__ import annotations

from pathlib import Path

APP_PORT = 8080
H2_PORT = 8081
GRPC_PORT = 50051
INBOUND_PORT = 15006  # where `tracecar init` redirects inbound connections
SMALL, LARGE = "/1k", "/1m"
FILES = {SMALL: 1024, LARGE: 1024 * 1024}

_COMMON = """\
worker_processes 1;
daemon off;
pid {dir}/{name}.pid;
error_log stderr warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/{name}-tmp/body;
    proxy_temp_path {dir}/{name}-tmp/proxy;
    fastcgi_temp_path {dir}/{name}-tmp/fastcgi;
    uwsgi_temp_path {dir}/{name}-tmp/uwsgi;
    scgi_temp_path {dir}/{name}-tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
{servers}
}}
"""

_APP_SERVERS = """\
    server {{
        listen {app_port} backlog=4096;
        listen [::]:{app_port} backlog=4096;
        root {dir}/www;
    }}
    server {{
        listen {h2_port} http2 backlog=4096;
        root {dir}/www;
    }}"""

_PEER_SERVERS = """\
    upstream app {{
        server 127.0.0.1:{app_port};
        keepalive 256;
        keepalive_requests 100000000;
    }}
    server {{
        listen {inbound_port} backlog=4096;
        listen [::]:{inbound_port} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}"""


def app_config(directory: Path) -> str:
    servers = _APP_SERVERS.format(dir=directory, app_port=APP_PORT, h2_port=H2_PORT)
    return _COMMON.format(dir=directory, name="app", servers=servers)


def peer_config(directory: Path) -> str:
    servers = _PEER_SERVERS.format(app_port=APP_PORT, inbound_port=INBOUND_PORT)
    return _COMMON.format(dir=directory, name="peer", servers=servers)


def write_site(directory: Path, name: str, config: str) -> Path:
    """Write the config, the temp folders and the served files; every part readable by any user."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    (directory / f"{name}-tmp").mkdir(exist_ok=True)
    www = directory / "www"
    www.mkdir(exist_ok=True)
    for path, size in FILES.items():
        (www / path.lstrip("/")).write_bytes(b"x" * size)
    conf = directory / f"{name}.conf"
    conf.write_text(config)
    return conf
