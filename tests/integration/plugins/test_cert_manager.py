"""The cert-manager example end to end on the local cluster, with cert-manager's real CRDs.

No cert-manager controller runs here: the test plays its part, issuing the Certificate's Secret
from a self-signed CA and marking the Certificate Ready, as a CA Issuer would."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from dask_operator.testing import make_cluster, make_worker_group, wait_for
from dask_operator_cert_manager import plugin
from distributed import Client
from distributed.comm import CommClosedError, connect
from distributed.security import Security
from plugin_helpers import SelfSignedCA, cluster_manifest

pytestmark = pytest.mark.cluster
PLUGINS = {"cert_manager": "dask_operator_cert_manager.plugin"}


@pytest.fixture
def tls_operator(examples_installed, dask_crds, cert_manager_crds, namespace, dask_operator_runner):
    return dask_operator_runner(namespace, plugins=PLUGINS, only=True)


def identity(address: str, security: Security) -> str | None:
    """The scheduler's ``identity()`` type over a raw comm, or None if it cannot be had in 10 s."""

    async def ask() -> str:
        comm = await connect(address, timeout=5, **security.get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            reply = await comm.read()
            return str(reply["type"])
        finally:
            comm.abort()

    try:
        return asyncio.run(asyncio.wait_for(ask(), 10))
    except (OSError, TypeError, ValueError, asyncio.TimeoutError, CommClosedError):
        return None


def issuer(ns, ca: SelfSignedCA) -> None:
    """A CA Issuer as an admin would create it (validated by cert-manager's real CRD)."""
    ns.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "dask-ca", "namespace": ns.name},
              "data": {"tls.crt": base64.b64encode(ca.pem()).decode(), "tls.key": base64.b64encode(b"unused").decode()}})
    ns.apply({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "dask-ca", "namespace": ns.name},
              "spec": {"ca": {"secretName": "dask-ca"}}})


def test_tls_cluster_waits_for_its_certificate_then_computes_only_with_credentials(ns, tls_operator, tmp_path: Path):
    ca = SelfSignedCA()
    issuer(ns, ca)
    ns.apply(cluster_manifest("secure", ns.name, workers=1, annotations={plugin.ISSUER: "dask-ca"}))

    # The operator asks for the Certificate and waits for its Secret: condition, Event, no scheduler.
    certificate = wait_for(lambda: ns.get("certificates.cert-manager.io", "secure-dask-tls"), 60, message="the Certificate")
    cluster = ns.get("daskcluster", "secure")
    assert [r["uid"] for r in certificate["metadata"]["ownerReferences"]] == [cluster["metadata"]["uid"]]
    assert certificate["spec"]["issuerRef"]["name"] == "dask-ca"
    waiting = wait_for(lambda: ns.condition("daskcluster", "secure", "PrerequisitesReady"), 60, message="PrerequisitesReady")
    assert waiting["status"] == "False" and waiting["reason"] == "WaitingForPrerequisites"
    assert "Secret secure-dask-tls" in waiting["message"]
    assert ns.get("daskcluster", "secure")["status"]["phase"] == "Pending"
    assert wait_for(lambda: ns.events("WaitingForPrerequisites"), 30, message="a WaitingForPrerequisites Event")
    assert ns.get("deployment", "secure-scheduler") is None and ns.names("pods") == []
    # A worker group added meanwhile waits too (its Pods would need the Secret).
    extra = make_worker_group(make_cluster("secure", ns.name), "extra", workers=1)
    extra["metadata"] = {"name": extra["metadata"]["name"]}  # as a user writes it: no uid, no generation
    ns.apply(extra)
    waiting_group = wait_for(lambda: ns.condition("daskworkergroup", "secure-extra", "Ready"), 60, message="the group's status")
    assert waiting_group["reason"] == "WaitingForPrerequisites" and "Secret secure-dask-tls" in waiting_group["message"]
    assert ns.names("pods") == []

    # cert-manager's part: the Secret, then the Certificate's Ready condition.
    ns.apply(ca.secret_for(certificate, "dask-ca"))
    ns.kubectl("patch", "certificates.cert-manager.io", "secure-dask-tls", "--subresource=status", "--type=merge", "-p",
               '{"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", '
               '"message": "Certificate is up to date and has not expired"}]}}')
    ns.kubectl("wait", "--for=condition=Ready", "daskcluster/secure", "--timeout=180s")
    status = ns.get("daskcluster", "secure")["status"]
    assert status["schedulerAddress"] == f"tls://secure-scheduler.{ns.name}.svc.cluster.local:8786"
    assert ns.condition("daskcluster", "secure", "PrerequisitesReady")["status"] == "True"
    worker = ns.items("pods", "dask.org/component=worker")[0]
    env = {e["name"]: e.get("value") for e in worker["spec"]["containers"][0]["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == status["schedulerAddress"]

    secret = ns.get("secret", "secure-dask-tls")
    for key in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / key).write_bytes(base64.b64decode(secret["data"][key]))
    address = f"tls://{ns.scheduler_ip('secure')}:8786"
    security = Security(tls_ca_file=str(tmp_path / "ca.crt"), tls_client_cert=str(tmp_path / "tls.crt"),
                        tls_client_key=str(tmp_path / "tls.key"), require_encryption=True)
    with Client(address, security=security, timeout=30) as client:
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 90, message="both groups' workers connected")
        assert all(a.startswith("tls://") for a in client.scheduler_info()["workers"])
        assert client.submit(sum, [1, 2, 39]).result(timeout=60) == 42

    # Without TLS credentials there is no way in: plain TCP, or TLS without a client certificate.
    # (Same probe as with credentials, which must answer, so a broken probe cannot pass.)
    assert identity(address, security) == "Scheduler"
    assert identity(f"tcp://{ns.scheduler_ip('secure')}:8786", Security()) is None
    assert identity(address, Security(tls_ca_file=str(tmp_path / "ca.crt"), require_encryption=True)) is None

    # Removing the annotation deletes the Certificate and returns the cluster to plain TCP.
    ns.kubectl("annotate", "daskcluster/secure", f"{plugin.ISSUER}-")
    wait_for(lambda: ns.get("certificates.cert-manager.io", "secure-dask-tls") is None, 60, message="the Certificate pruned")
    wait_for(lambda: (ns.get("daskcluster", "secure")["status"].get("schedulerAddress") or "").startswith("tcp://"), 60,
             message="a tcp:// scheduler address")
