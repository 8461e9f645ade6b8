"""Helpers for the plugin examples' integration tests (kubectl as a user would use it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "plugins-examples"


def example_dirs() -> list[Path]:
    """Every example plugin project (a directory of plugins-examples/ with a pyproject.toml)."""
    return sorted(p.parent for p in EXAMPLES.glob("*/pyproject.toml"))


class Namespace:
    """kubectl helpers scoped to one test namespace (tests read state as a user would)."""

    def __init__(self, k8s: Any, name: str) -> None:
        self.k8s = k8s
        self.name = name

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return str(self.k8s.kubectl(*args, "-n", self.name, input=input, check=check).stdout)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", kind, name, "-o", "json", "--ignore-not-found")
        return yaml.safe_load(out) if out.strip() else None

    def items(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"] + (["-l", selector] if selector else [])
        items: list[dict[str, Any]] = yaml.safe_load(self.kubectl(*args))["items"]
        return [i for i in items if not i["metadata"].get("deletionTimestamp")]

    def names(self, kind: str, selector: str | None = None) -> list[str]:
        return sorted(i["metadata"]["name"] for i in self.items(kind, selector))

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any]:
        obj = self.get(kind, name) or {}
        return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.items("events") if e.get("reason") == reason]

    def scheduler_ip(self, cluster: str) -> str:
        service = self.get("service", f"{cluster}-scheduler")
        assert service is not None
        return str(service["spec"]["clusterIP"])


def cluster_manifest(name: str, namespace: str, *, workers: int = 1, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A DaskCluster as KubeCluster would create it, ready for kubectl apply."""
    from dask_operator.testing import make_cluster

    cluster = make_cluster(name, namespace, workers=workers, annotations=annotations)
    for key in ("uid", "generation", "resourceVersion", "creationTimestamp"):
        cluster["metadata"].pop(key, None)
    return cluster


class SelfSignedCA:
    """Issues certificates the way a cert-manager CA Issuer does (cryptography, in process)."""

    def __init__(self, name: str = "dask-test-ca") -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, certificate: dict[str, Any]) -> dict[str, bytes]:
        """Secret data (``tls.crt``, ``tls.key``, ``ca.crt``) for a cert-manager Certificate's spec."""
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        spec = certificate["spec"]
        assert spec["privateKey"]["algorithm"] == "ECDSA"
        key = ec.generate_private_key(ec.SECP256R1())
        usages = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH}
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in spec["dnsNames"]]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usages[u] for u in spec["usages"] if u in usages]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return {
            "tls.crt": cert.public_bytes(serialization.Encoding.PEM),
            "tls.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()),
            "ca.crt": self.pem(),
        }

    def secret_for(self, certificate: dict[str, Any], issuer: str) -> dict[str, Any]:
        """The Secret cert-manager writes for ``certificate`` (type kubernetes.io/tls)."""
        import base64

        meta = certificate["metadata"]
        data = self.issue(certificate)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": certificate["spec"]["secretName"],
                "namespace": meta["namespace"],
                "annotations": {
                    "cert-manager.io/certificate-name": meta["name"],
                    "cert-manager.io/issuer-name": issuer,
                    "cert-manager.io/issuer-kind": certificate["spec"]["issuerRef"].get("kind", "Issuer"),
                    "cert-manager.io/issuer-group": certificate["spec"]["issuerRef"].get("group", "cert-manager.io"),
                    "cert-manager.io/common-name": certificate["spec"]["commonName"],
                    "cert-manager.io/alt-names": ",".join(certificate["spec"]["dnsNames"]),
                },
            },
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
