"""The Kubernetes manifest, checked without a cluster or kubectl: every object against the API's own JSON
schemas (strict: an unknown or misspelt field fails), then what the schemas cannot say: the shard of each pod
is its ordinal, both copies run the same N shards with a spool per pod, they never share a node, a drain
leaves one pod of every shard, and an update rolls copy b only after copy a.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deploy" / "kubernetes" / "collector.yaml"
POD_INDEX = "apps.kubernetes.io/pod-index"
OLDEST = "1.28"  # the first Kubernetes that labels StatefulSet pods with their index
SPOOL = "/var/lib/pricecap/spool"

Object = dict[str, Any]


def load() -> list[Object]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def of_kind(kind: str) -> list[Object]:
    return [d for d in load() if d["kind"] == kind]


def copies() -> dict[str, Object]:
    """The two StatefulSets by their copy label."""
    return {s["metadata"]["labels"]["copy"]: s for s in of_kind("StatefulSet")}


def selects(selector: Object, labels: dict[str, str]) -> bool:
    """A label selector of matchLabels only (the manifest uses no matchExpressions) against a pod's labels."""
    assert set(selector) == {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def pods(statefulset: Object) -> list[dict[str, str]]:
    """The labels of each pod the StatefulSet makes: its template's, plus those the controller adds."""
    name = statefulset["metadata"]["name"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    return [
        {**labels, POD_INDEX: str(k), "statefulset.kubernetes.io/pod-name": f"{name}-{k}"}
        for k in range(statefulset["spec"]["replicas"])
    ]


def container(statefulset: Object) -> Object:
    (only,) = statefulset["spec"]["template"]["spec"]["containers"]
    result: Object = only
    return result


@pytest.mark.parametrize("version", [OLDEST, kubernetes_validate.latest_version()])
def test_every_object_is_valid_for_the_api(version: str) -> None:
    documents = load()
    assert {d["kind"] for d in documents} == {"Service", "StatefulSet", "PodDisruptionBudget"}
    for document in documents:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{document['kind']}/{document['metadata']['name']} against {version}: {path}: {e.message}")


def test_the_schemas_catch_a_misspelt_field() -> None:
    (service,) = of_kind("Service")
    service["spec"]["clusterIp"] = service["spec"].pop("clusterIP")
    with pytest.raises(kubernetes_validate.ValidationError, match="clusterIp"):
        kubernetes_validate.validate(service, OLDEST, strict=True)


def test_each_pod_collects_the_shard_of_its_ordinal() -> None:
    sets = copies()
    assert set(sets) == {"a", "b"}
    shards = {s["spec"]["replicas"] for s in sets.values()}
    assert len(shards) == 1 and shards.pop() == 3, "both copies run the same N shards"
    for statefulset in sets.values():
        args = container(statefulset)["args"]
        assert args[:2] == ["collect", "--all-symbols"]
        assert args[args.index("--shard") + 1] == f"$(POD_INDEX)/{statefulset['spec']['replicas']}"
        env = {e["name"]: e for e in container(statefulset)["env"]}
        assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{POD_INDEX}']"
        assert env["PRICECAP_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        names = [e["name"] for e in container(statefulset)["env"]]
        assert names.index("POD_INDEX") < names.index("PRICECAP_INSTANCE"), "$(POD_INDEX) needs it defined"


def test_the_collectors_share_the_rest_budget_of_one_ip() -> None:
    sets = copies().values()
    total = 0.0
    for statefulset in sets:
        args = container(statefulset)["args"]
        total += float(args[args.index("--rest-weight-share") + 1]) * statefulset["spec"]["replicas"]
    assert 0.9 <= total <= 1.0, "all pods behind one NAT address together spend about the IP's whole budget"


def test_every_pod_has_a_spool_of_its_own_and_the_token_from_a_secret() -> None:
    for statefulset in copies().values():
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        pod = statefulset["spec"]["template"]["spec"]
        assert "volumes" not in pod, "no volume shared between the pods"
        env = {e["name"]: e for e in container(statefulset)["env"]}
        assert env["PRICECAP_SPOOL_DIR"]["value"] == SPOOL
        assert container(statefulset)["volumeMounts"] == [{"name": claim["metadata"]["name"], "mountPath": SPOOL}]
        assert env["INFLUXDB_V2_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "pricecap-influxdb", "key": "token"}


def test_pods_are_unprivileged_probed_and_given_time_to_flush() -> None:
    for statefulset in copies().values():
        pod = statefulset["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] >= 330
        c = container(statefulset)
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, probe


def test_the_two_copies_differ_only_where_they_must() -> None:
    """Copy b is copy a with the other copy label, the mirrored anti-affinity and its update partition."""
    a, b = (copy.deepcopy(s) for s in (copies()["a"], copies()["b"]))
    for statefulset in (a, b):
        del statefulset["spec"]["updateStrategy"]
        del statefulset["spec"]["template"]["spec"]["affinity"]
    a["metadata"]["name"] = b["metadata"]["name"]
    for labels in (
        a["metadata"]["labels"],
        a["spec"]["selector"]["matchLabels"],
        a["spec"]["template"]["metadata"]["labels"],
    ):
        labels["copy"] = "b"
    assert a == b


def test_the_copies_of_a_shard_never_share_a_node() -> None:
    sets = copies()
    for name, other in (("a", "b"), ("b", "a")):
        pod = sets[name]["spec"]["template"]["spec"]
        (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert all(selects(term["labelSelector"], p) for p in pods(sets[other])), "it keeps off the other copy"
        assert not any(selects(term["labelSelector"], p) for p in pods(sets[name])), "not off its own copy"


def test_one_disruption_budget_per_shard_over_both_copies() -> None:
    sets = copies()
    every_pod = [p for s in sets.values() for p in pods(s)]
    budgets = of_kind("PodDisruptionBudget")
    assert len(budgets) == sets["a"]["spec"]["replicas"]
    covered = set()
    for budget in budgets:
        spec = budget["spec"]
        assert spec["minAvailable"] == 1, "an integer: a percentage would count both StatefulSets' replicas"
        assert "maxUnavailable" not in spec
        chosen = [p for p in every_pod if selects(spec["selector"], p)]
        assert {p["copy"] for p in chosen} == {"a", "b"} and len(chosen) == 2, budget["metadata"]["name"]
        assert len({p[POD_INDEX] for p in chosen}) == 1
        covered.add(chosen[0][POD_INDEX])
    assert covered == {str(k) for k in range(sets["a"]["spec"]["replicas"])}


def test_an_update_rolls_copy_b_only_after_copy_a() -> None:
    """Copy a rolls one pod at a time, each once /healthz is 200; copy b's partition (its replicas) holds all
    of its pods back until the deployment guide's step sets it to 0, so a shard's two pods never restart together."""
    sets = copies()
    a, b = sets["a"]["spec"], sets["b"]["spec"]
    assert a["updateStrategy"] == {"type": "RollingUpdate"}
    assert b["updateStrategy"]["type"] == "RollingUpdate"
    assert b["updateStrategy"]["rollingUpdate"] == {"partition": b["replicas"]}
    assert a["minReadySeconds"] > 0
    page = (ROOT / "docs" / "guides" / "deployment.md").read_text()
    section = page[page.index("## Kubernetes") :]
    steps = [
        line.strip().split(" #")[0].rstrip() for line in section.splitlines() if line.strip().startswith("kubectl ")
    ]
    rollout_a = f"kubectl rollout status statefulset/{sets['a']['metadata']['name']}"
    patch_b = (
        f"kubectl patch statefulset {sets['b']['metadata']['name']} "
        """-p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}'"""
    )
    assert rollout_a in steps and patch_b in steps
    assert steps.index(rollout_a) < steps.index(patch_b), "docs: copy b only after copy a is done"


def test_the_headless_service_names_both_copies() -> None:
    (service,) = of_kind("Service")
    assert service["spec"]["clusterIP"] == "None"
    for statefulset in copies().values():
        assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
        assert all(selects({"matchLabels": service["spec"]["selector"]}, p) for p in pods(statefulset))
