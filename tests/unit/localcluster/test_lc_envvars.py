"""Environment building and $(VAR) expansion follow the kubelet's rules."""

import pytest
from localcluster import envvars


def lookup(name):
    return {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}.get(name)


@pytest.mark.parametrize("text, expected", [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
    ("$(VAR_REF)", "$(VAR_A)"),            # no recursive expansion
    ("$(VAR_EMPTY)", ""),
    ("$(UNKNOWN)", "$(UNKNOWN)"),          # undefined references stay as they are
    ("$$(VAR_A)", "$(VAR_A)"),             # $$ escapes
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("$(VAR_A", "$(VAR_A"),                # unterminated
    ("$VAR_A", "$VAR_A"),                  # bare $NAME is not a reference
    ("foo$", "foo$"),                      # trailing $
    ("$()", "$()"),
    ("", ""),
    ("$(VAR_A)$", "A$"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
])
def test_expand_matches_kubernetes(text, expected):
    assert envvars.expand(text, lookup) == expected


POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"},
                 "annotations": {"note": "hi"}},
    "spec": {"nodeName": "local-node", "serviceAccountName": "sa"},
    "status": {"podIP": "10.244.0.9", "podIPs": [{"ip": "10.244.0.9"}], "hostIP": "127.0.0.1"},
}


def test_env_order_references_and_sources():
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
        "env": [
            {"name": "FIRST", "value": "1"},
            {"name": "SECOND", "value": "$(FIRST)-$(THIRD)-$(FROM_CM)-$(SVC_SERVICE_HOST)"},
            {"name": "THIRD", "value": "3"},
            {"name": "FROM_CM", "value": "overridden"},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "FROM_CM"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}},
            {"name": "EMPTY"},
        ],
    }
    env = envvars.container_env(
        POD, container, {"SVC_SERVICE_HOST": "10.0.0.5", "FIRST": "svc-loses"},
        {"cm": {"FROM_CM": "cm-value", "1BAD=NAME": "skipped"}}, {"sec": {"TOKEN": "t"}, "gone": None},
        {"cpu": "64", "memory": "512Gi"})
    assert env["SECOND"] == "1-$(THIRD)-cm-value-10.0.0.5"
    assert env["FROM_CM"] == "overridden"
    assert env["S_TOKEN"] == "t"
    assert "1BAD=NAME" not in env
    assert (env["NAME"], env["APP"], env["NOTE"], env["IP"], env["SA"]) == ("p", "x", "hi", "10.244.0.9", "sa")
    assert env["KEY"] == "cm-value"
    assert "OPT" not in env
    assert env["EMPTY"] == ""
    assert env["FIRST"] == "1"          # the container's own env wins over service variables
    assert env["SVC_SERVICE_HOST"] == "10.0.0.5"


def test_missing_required_sources_are_config_errors():
    with pytest.raises(envvars.ContainerConfigError, match='configmap "nope" not found'):
        envvars.container_env(POD, {"envFrom": [{"configMapRef": {"name": "nope"}}]}, {}, {"nope": None}, {}, {})
    with pytest.raises(envvars.ContainerConfigError, match="couldn't find key missing"):
        envvars.container_env(POD, {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "missing"}}}]},
                              {}, {}, {"s": {"other": "1"}}, {})
    # optional envFrom sources that do not exist are skipped
    assert envvars.container_env(POD, {"envFrom": [{"configMapRef": {"name": "nope", "optional": True}}]},
                                 {}, {"nope": None}, {}, {}) == {}


def test_command_and_args_expand_against_the_final_environment():
    container = {"command": ["echo", "$(A)"], "args": ["$(B)", "$$(A)", "$(MISSING)"]}
    assert envvars.expand_command(container, {"A": "a", "B": "b"}) == (["echo", "a"], ["b", "$(A)", "$(MISSING)"])


def test_referenced_objects():
    container = {"envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "b"}}],
                 "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                         {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "d", "key": "k"}}}]}
    assert envvars.referenced_objects(container) == ({"a", "c"}, {"b", "d"})


@pytest.mark.parametrize("quantity, divisor, resource, expected", [
    ("128Mi", "1Mi", "limits.memory", "128"),
    ("500m", "1", "limits.cpu", "1"),        # rounded up
    ("1500m", "1m", "requests.cpu", "1500"),
    (None, "1Gi", "limits.memory", "512"),   # no limit: the node's allocatable
    (None, "1", "requests.memory", "0"),
])
def test_resource_field_ref(quantity, divisor, resource, expected):
    kind, name = resource.split(".")
    container = {"resources": {kind: {name: quantity}}} if quantity else {}
    ref = {"resource": resource, "divisor": divisor}
    assert envvars.resource_value(container, ref, {"cpu": "64", "memory": "512Gi"}) == expected


def test_service_links():
    services = [
        {"metadata": {"name": "kubernetes", "namespace": "default"},
         "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
        {"metadata": {"name": "my-svc", "namespace": "ns"},
         "spec": {"clusterIP": "10.0.0.7", "ports": [{"name": "tcp-comm", "port": 8786, "protocol": "TCP"}]}},
        {"metadata": {"name": "headless", "namespace": "ns"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}},
    ]
    env = envvars.service_env(services, enable_links=True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["MY_SVC_SERVICE_PORT_TCP_COMM"] == "8786"
    assert env["MY_SVC_PORT"] == "tcp://10.0.0.7:8786"
    assert env["MY_SVC_PORT_8786_TCP_ADDR"] == "10.0.0.7"
    assert not any(k.startswith("HEADLESS") for k in env)
    assert set(envvars.service_env(services, enable_links=False)) == {
        k for k in env if k.startswith("KUBERNETES_")}
