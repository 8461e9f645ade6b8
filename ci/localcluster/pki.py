"""Certificates, keys and kubeconfigs for one local cluster (regenerated on every fresh `up`)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .config import BRIDGE_IP, CLUSTER_DOMAIN, KUBERNETES_SERVICE_IP, ClusterConfig

_VALIDITY = datetime.timedelta(days=365)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


class Authority:
    """A throw-away CA that signs serving and client certificates."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = _name("dask-localcluster-ca")
        self.cert = (
            _builder(subject, subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @classmethod
    def load(cls, pki_dir: Path) -> Authority:
        """The CA a running cluster was started with (to issue more client certificates)."""
        ca = cls.__new__(cls)
        key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{pki_dir / 'ca.key'} is not the EC key this module writes")
        ca.key = key
        ca.cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
        return ca

    def issue(
        self,
        cn: str,
        org: str | None = None,
        *,
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            _builder(_name(cn, org), self.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if dns or ips:
            names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _cert_pem(cert), _key_pem(key)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def generate(cfg: ClusterConfig) -> None:
    """Writes every certificate, key and the admin kubeconfig of a fresh cluster."""
    pki = cfg.pki
    shutil.rmtree(pki, ignore_errors=True)
    pki.mkdir(parents=True)
    ca = Authority()
    _write(pki / "ca.crt", _cert_pem(ca.cert))
    _write(pki / "ca.key", _key_pem(ca.key), private=True)

    service_names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     f"kubernetes.default.svc.{CLUSTER_DOMAIN}", "localhost"]
    crt, key = ca.issue("kube-apiserver", server=True, dns=tuple(service_names),
                        ips=("127.0.0.1", KUBERNETES_SERVICE_IP, BRIDGE_IP))
    _write(pki / "apiserver.crt", crt)
    _write(pki / "apiserver.key", key, private=True)

    crt, key = ca.issue("kube-apiserver-kubelet-client", "system:masters")
    _write(pki / "apiserver-kubelet-client.crt", crt)
    _write(pki / "apiserver-kubelet-client.key", key, private=True)

    crt, key = ca.issue(f"system:node:{cfg.node_name}", server=True, dns=(cfg.node_name, "localhost"),
                        ips=("127.0.0.1",))
    _write(pki / "kubelet.crt", crt)
    _write(pki / "kubelet.key", key, private=True)

    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki / "sa.key", _key_pem(sa), private=True)
    _write(pki / "sa.pub", sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    users = {
        "admin": ("admin", "system:masters"),
        "controller-manager": ("system:kube-controller-manager", "system:masters"),
        "scheduler": ("system:kube-scheduler", None),
        "agent": ("local-cluster-agent", "system:masters"),
    }
    for file_name, (cn, org) in users.items():
        crt, key = ca.issue(cn, org)
        write_kubeconfig(pki.parent / f"{file_name}.kubeconfig", cfg.apiserver_url,
                         _cert_pem(ca.cert), crt, key)


def write_kubeconfig(path: Path, server: str, ca: bytes, crt: bytes, key: bytes) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server,
                                                    "certificate-authority-data": b64(ca)}}],
        "users": [{"name": "local", "user": {"client-certificate-data": b64(crt),
                                             "client-key-data": b64(key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local",
                                                   "namespace": "default"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
