"""The deployment files: docker-compose.yml as ``docker compose config`` reads it, the Dockerfile, the systemd
unit and the Kubernetes example. No Docker engine is needed: ``docker compose config`` only parses.

The docker CLI is on the development and CI machines, and scripts/setup --dev gives it the compose plugin
(tools/compose); where the CLI is missing these tests skip, which fails them in CI.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"INFLUXDB_TOKEN": "a-test-token", "INFLUXDB_PASSWORD": "a-test-password", "GRAFANA_ADMIN_PASSWORD": "x"}
SPOOL = "/var/lib/pricecap/spool"


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``docker compose config`` of the repository's compose file with .env.example and ``env``."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = subprocess.run(
        [docker, "compose", "--env-file", ".env.example", "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "is not a docker command" not in result.stderr, "no compose plugin: run tools/compose/build.sh"
    return result


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker compose resolves it, with the secrets set."""
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_docker_compose_config_accepts_the_file(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"influxdb", "collector", "grafana"}
    for name in ("influxdb", "grafana"):
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", services[name]["image"]), "images are pinned"
    assert services["collector"]["build"]["context"] == str(ROOT)


def test_the_token_reaches_influxdb_the_collector_and_grafana(compose: dict[str, Any]) -> None:
    services = compose["services"]
    influxdb = services["influxdb"]["environment"]
    assert influxdb["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influxdb["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == SECRETS["INFLUXDB_TOKEN"]
    for name in ("collector", "grafana"):
        env = services[name]["environment"]
        assert env["INFLUXDB_V2_TOKEN"] == SECRETS["INFLUXDB_TOKEN"]
        assert env["INFLUXDB_V2_URL"] == "http://influxdb:8086"
        assert (env["INFLUXDB_V2_ORG"], env["INFLUXDB_V2_BUCKET"]) == ("pricecap", "trades")


def test_volumes_for_data_spool_and_provisioning(compose: dict[str, Any]) -> None:
    services = compose["services"]
    targets = {name: {v["target"]: v for v in s["volumes"]} for name, s in services.items()}
    assert targets["influxdb"]["/var/lib/influxdb2"]["type"] == "volume"
    assert targets["collector"][SPOOL]["type"] == "volume"
    assert services["collector"]["environment"]["PRICECAP_SPOOL_DIR"] == SPOOL
    provisioning = targets["grafana"]["/etc/grafana/provisioning"]
    assert provisioning["source"] == str(ROOT / "grafana" / "provisioning") and provisioning["read_only"]
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    result = compose_config({})
    assert result.returncode != 0
    assert "set INFLUXDB_" in result.stderr or "set GRAFANA_" in result.stderr


def test_env_example_holds_no_secret() -> None:
    values = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if line and line[0] != "#"
    )
    assert {k: values[k] for k in SECRETS} == dict.fromkeys(SECRETS, "")


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert len([line for line in lines if line.startswith("FROM ")]) == 2
    assert any(line.startswith("COPY --from=build ") for line in lines)
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user not in ("root", "0")
    text = "\n".join(lines)
    assert re.search(r"HEALTHCHECK .*\n.*127\.0\.0\.1:9108/healthz", text)
    assert f"PRICECAP_SPOOL_DIR={SPOOL}" in text


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "systemd" / "pricecap-collector.service")
    service = unit["Service"]
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"] == "/etc/pricecap/collector.env"
    assert service["ExecStart"].split()[1] == "collect"
    for option in ("DynamicUser", "NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    env_example = (ROOT / "deploy" / "systemd" / "collector.env.example").read_text()
    assert "INFLUXDB_V2_TOKEN=\n" in env_example


def test_kubernetes_example() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "collector.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"PersistentVolumeClaim", "Deployment"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["INFLUXDB_V2_TOKEN"]["valueFrom"], "the token comes from a Secret"
    assert env["PRICECAP_SPOOL_DIR"]["value"] == SPOOL
    assert [m["mountPath"] for m in container["volumeMounts"]] == [SPOOL]
