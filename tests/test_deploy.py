"""The deployment files: docker-compose.yml as ``docker compose config`` reads it, the Dockerfile and the
systemd unit (the Kubernetes manifest: tests/test_kubernetes.py). No Docker engine is needed: ``docker compose
config`` only parses, and ``systemd-analyze`` reads unit files offline.

The docker CLI is on the development and CI machines, and scripts/setup --dev gives it the compose plugin
(tools/compose); where the CLI is missing these tests skip, which fails them in CI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"INFLUXDB_TOKEN": "a-test-token", "INFLUXDB_PASSWORD": "a-test-password", "GRAFANA_ADMIN_PASSWORD": "x"}
SPOOL = "/var/lib/pricecap/spool"


def compose_config(env: dict[str, str], *profiles: str) -> subprocess.CompletedProcess[str]:
    """``docker compose config`` of the repository's compose file with .env.example, ``env`` and ``profiles``."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = subprocess.run(
        [
            *[docker, "compose", "--env-file", ".env.example", "-f", "docker-compose.yml"],
            *[arg for profile in profiles for arg in ("--profile", profile)],
            *["config", "--format", "json"],
        ],
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


@pytest.fixture(scope="module")
def pair() -> dict[str, Any]:
    """The services of ``docker compose --profile pair``."""
    result = compose_config(SECRETS, "pair")
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def test_docker_compose_config_accepts_the_file(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"influxdb", "collector", "setup", "grafana"}
    for name in ("influxdb", "grafana"):
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", services[name]["image"]), "images are pinned"
    assert re.fullmatch(r"influxdb:2\.\d+\.\d+", services["influxdb"]["image"]), "InfluxDB 2: `latest` is 3, no Flux"
    assert services["collector"]["build"]["context"] == str(ROOT)


def test_the_token_reaches_influxdb_the_collector_and_grafana(compose: dict[str, Any]) -> None:
    services = compose["services"]
    influxdb = services["influxdb"]["environment"]
    assert influxdb["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influxdb["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == SECRETS["INFLUXDB_TOKEN"]
    for name in ("collector", "setup", "grafana"):
        env = services[name]["environment"]
        assert env["INFLUXDB_V2_TOKEN"] == SECRETS["INFLUXDB_TOKEN"]
        assert env["INFLUXDB_V2_URL"] == "http://influxdb:8086"
        assert (env["INFLUXDB_V2_ORG"], env["INFLUXDB_V2_BUCKET"]) == ("pricecap", "trades")


def test_setup_runs_before_grafana_and_influxd_does_not_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    setup = services["setup"]
    assert setup["command"] == ["setup", "--no-rebuild"] and setup["restart"] == "no"
    assert setup["image"] == services["collector"]["image"], "the same pricecap image"
    assert setup["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert "setup" not in services["collector"]["depends_on"], "collecting never waits for setup"
    assert services["influxdb"]["environment"]["INFLUXD_PPROF_DISABLED"] == "true"


def test_volumes_for_data_spool_and_provisioning(compose: dict[str, Any]) -> None:
    services = compose["services"]
    targets = {name: {v["target"]: v for v in s.get("volumes", [])} for name, s in services.items()}
    assert targets["influxdb"]["/var/lib/influxdb2"]["type"] == "volume"
    assert targets["collector"][SPOOL]["type"] == "volume"
    assert services["collector"]["environment"]["PRICECAP_SPOOL_DIR"] == SPOOL
    provisioning = targets["grafana"]["/etc/grafana/provisioning"]
    assert provisioning["source"] == str(ROOT / "grafana" / "provisioning") and provisioning["read_only"]
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_the_pair_profile_adds_a_second_collector_of_the_same_symbols(
    compose: dict[str, Any], pair: dict[str, Any]
) -> None:
    assert set(pair) == {*compose["services"], "collector-b"}
    a, b = pair["collector"], pair["collector-b"]
    assert b["profiles"] == ["pair"] and "profiles" not in a
    for key in ("image", "build", "restart", "depends_on", "command"):
        assert a[key] == b[key], key
    assert {k: v for k, v in a["environment"].items() if k != "PRICECAP_INSTANCE"} == {
        k: v for k, v in b["environment"].items() if k != "PRICECAP_INSTANCE"
    }


def test_each_of_the_pair_has_its_spool_instance_port_and_rest_share(pair: dict[str, Any]) -> None:
    a, b = pair["collector"], pair["collector-b"]
    assert (a["environment"]["PRICECAP_INSTANCE"], b["environment"]["PRICECAP_INSTANCE"]) == (
        "collector",
        "collector-b",
    )
    spools = [{v["target"]: v["source"] for v in c["volumes"]}[SPOOL] for c in (a, b)]
    assert spools == ["spool", "spool-b"]
    assert [c["ports"][0]["published"] for c in (a, b)] == ["9108", "9109"]
    shares = [float(c["command"][c["command"].index("--rest-weight-share") + 1]) for c in (a, b)]
    assert 0.8 <= sum(shares) <= 1.0, "the two share the one IP's REST weight"


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


UNIT = ROOT / "deploy" / "systemd" / "pricecap-collector@.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "collector.env.example"


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze ARGS`` (offline: it reads unit files, no running systemd needed)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    return subprocess.run([analyze, *args], capture_output=True, text=True, timeout=60, check=False)


def unit_service() -> dict[str, list[str]]:
    """The template's [Service] settings, each with its values in order (a setting may be given twice)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
        elif line and line[0] != "#":
            key, value = line.split("=", 1)
            section.setdefault(key, []).append(value)
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]
    return sections["Service"]


def env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and line[0] != "#")


def test_systemd_template_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    instance = tmp_path / "pricecap-collector@1.service"  # an instance of the template, as systemd loads it
    instance.symlink_to(UNIT)
    verify = systemd_analyze("verify", str(instance))
    assert (verify.returncode, verify.stderr) == (0, "")
    security = systemd_analyze("security", "--offline=yes", "--threshold=20", str(instance))
    assert security.returncode == 0, security.stdout[-2000:]
    service = unit_service()
    assert service["Restart"] == ["always"]
    assert int(service["TimeoutStopSec"][0]) >= 330
    for option in ("DynamicUser", "NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert service[option] == ["yes"], option
    assert service["ProtectSystem"] == ["strict"]


def test_each_systemd_instance_runs_its_own_shard_spool_and_name() -> None:
    service = unit_service()
    assert service["StateDirectory"] == ["pricecap/%i"], "a spool and checkpoint per instance"
    environment = dict(v.split("=", 1) for v in service["Environment"])
    assert environment == {"PRICECAP_SPOOL_DIR": "/var/lib/pricecap/%i", "PRICECAP_INSTANCE": "%H-%i"}
    assert service["EnvironmentFile"] == ["/etc/pricecap/collector.env"]
    assert env_example()["INFLUXDB_V2_TOKEN"] == "", "no secret in the example"


def systemd_argv(tmp_path: Path, instance: str) -> list[str]:
    """The arguments pricecap gets from ExecStart, run as systemd runs it for ``instance`` of host h1 with the
    example env file (systemd's specifiers and ``$$`` replaced, then the shell line it starts)."""
    shim = tmp_path / "pricecap"
    shim.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    shim.chmod(0o755)
    (service_line,) = unit_service()["ExecStart"]
    assert "$" not in service_line.replace("$$", ""), "every $ is the shell's: systemd would expand a lone $"
    line = service_line
    for specifier, value in (("%i", instance), ("%H", "h1"), ("$$", "$"), ("/opt/pricecap/bin/pricecap", str(shim))):
        line = line.replace(specifier, value)
    argv = shlex.split(line)
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3, service_line
    result = subprocess.run(argv, env=env_example(), capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.splitlines()


def test_systemd_instance_command_line(tmp_path: Path) -> None:
    assert systemd_argv(tmp_path, "2") == [
        *["collect", "--all-symbols", "--shard", "2/3", "--rest-weight-share", "0.3"],
        *["--metrics-port", "9110", "--log-json"],
    ]


def test_pricecap_collect_takes_every_deployed_command_line(pair: dict[str, Any], tmp_path: Path) -> None:
    """The arguments and PRICECAP_* variables the Dockerfile, compose, systemd and Kubernetes give the collector
    are options of ``pricecap collect`` with values it accepts (parsed as click does before running it)."""
    from collector.cli import collect

    manifest = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "collector.yaml").read_text())
    containers = [
        c for d in manifest if d["kind"] == "StatefulSet" for c in d["spec"]["template"]["spec"]["containers"]
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = {
        "Dockerfile": json.loads(re.findall(r"^CMD (.*)$", dockerfile, re.MULTILINE)[-1]),
        "systemd": systemd_argv(tmp_path, "0"),
        **{f"compose {name}": pair[name]["command"] for name in ("collector", "collector-b")},
        **{f"kubernetes {i}": [a.replace("$(POD_INDEX)", "2") for a in c["args"]] for i, c in enumerate(containers)},
    }
    for where, argv in lines.items():
        assert argv[0] == "collect", where
        collect.make_context("collect", argv[1:])  # raises click's usage error for an unknown option or value
    envvars = {param.envvar for param in collect.params}
    given = {
        *unit_service()["Environment"],
        *(f"{k}={v}" for name in ("collector", "collector-b") for k, v in pair[name]["environment"].items()),
        *(f"{e['name']}=" for c in containers for e in c["env"]),
    }
    names = {line.split("=", 1)[0] for line in given}
    assert {"PRICECAP_INSTANCE", "PRICECAP_SPOOL_DIR"} <= names
    assert {n for n in names if n.startswith("PRICECAP_")} <= envvars
