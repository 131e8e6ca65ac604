"""A throwaway certificate authority made with the `openssl` command, for TLS tests.

    ca = TestCA(tmp_path)                       # a CA key and self-signed certificate
    leaf = ca.issue("localhost", serial=0x1001) # a server certificate for localhost/127.0.0.1/::1
    leaf.cert, leaf.key, leaf.chain             # paths; chain = leaf + CA, as ECHO_TLS_CERT wants
    ca.context()                                # a Python ssl client context trusting this CA
    ca.spki_hash                                # base64 SHA-256 of the CA's public key (Chromium)
"""
import base64
import hashlib
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args, input=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=input).stdout


@dataclass
class Leaf:
    cert: Path
    key: Path
    chain: Path
    serial: int


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, folder, name="Echo Test CA"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = self.folder / "ca.key"
        self.cert = self.folder / "ca.crt"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(self.key), "-out", str(self.cert), "-days", "3", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, common_name="localhost", serial=0x1001, names=("DNS:localhost", "IP:127.0.0.1", "IP:::1"),
              prefix=None, key_type="ec", days=2):
        """A leaf signed by this CA; `key_type` "ec" (P-256) or "rsa" (2048)."""
        prefix = prefix or f"leaf-{serial:x}"
        key, csr = self.folder / f"{prefix}.key", self.folder / f"{prefix}.csr"
        cert, chain = self.folder / f"{prefix}.crt", self.folder / f"{prefix}-chain.pem"
        new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
        _openssl("req", "-new", *new_key, "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={common_name}")
        extensions = self.folder / f"{prefix}.ext"
        extensions.write_text(
            f"subjectAltName={','.join(names)}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-set_serial", str(serial), "-days", str(days), "-sha256", "-extfile", str(extensions), "-out", str(cert))
        chain.write_bytes(cert.read_bytes() + self.cert.read_bytes())
        return Leaf(cert=cert, key=key, chain=chain, serial=serial)

    def context(self, alpn=("http/1.1",)):
        """A client context that trusts only this CA and checks host names."""
        context = ssl.create_default_context(cafile=str(self.cert))
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context

    @property
    def spki_hash(self):
        """What Chromium's --ignore-certificate-errors-spki-list takes: base64(SHA-256(SPKI DER))."""
        public = _openssl("x509", "-in", str(self.cert), "-noout", "-pubkey")
        der = _openssl("pkey", "-pubin", "-outform", "der", input=public)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()
