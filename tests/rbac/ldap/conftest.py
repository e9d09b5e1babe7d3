"""A real OpenLDAP server (Debian's slapd) for the LDAP login tests, one per xdist worker.

The session fixture writes a slapd.conf (mdb database in a temporary
directory, TLS with a CA and server certificate made here), loads a small
directory with slapadd, starts slapd on a free loopback port, waits until it
answers, and stops it and removes its files at the end. Each test adds its
own users, so tests never see each other's changes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.modlist
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
MISSING = (
    "The LDAP login tests need OpenLDAP's server and tools: install the Debian "
    "packages slapd and ldap-utils (apt-get install slapd ldap-utils)."
)

BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=sluicegate,{BASE}"
READER_PASSWORD = "reader-secret"
# groupOfNames needs a member: this entry keeps every group non-empty.
NOBODY = f"cn=nobody,{BASE}"
GROUP_NAMES = ("admins", "editors", "readers")

SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/nis.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
TLSCACertificateFile {root}/ca.pem
TLSCertificateFile {root}/server.pem
TLSCertificateKeyFile {root}/server.key

database mdb
maxsize 33554432
suffix "{base}"
rootdn "{admin_dn}"
rootpw {admin_password}
directory {root}/data
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"""

ENTRIES = f"""\
dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups

dn: {READER_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: sluicegate
userPassword: {READER_PASSWORD}

dn: {NOBODY}
objectClass: organizationalRole
cn: nobody
""" + "".join(
    f"""
dn: cn={name},{GROUPS}
objectClass: groupOfNames
cn: {name}
member: {NOBODY}
"""
    for name in GROUP_NAMES
)


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


@dataclass(frozen=True)
class Directory:
    """The running slapd: its URI, its CA certificate, and ways to change its entries."""

    uri: str
    ca_file: Path

    def admin(self) -> ldap.ldapobject.LDAPObject:
        conn = ldap.initialize(self.uri, bytes_mode=False)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5.0)
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return conn

    def add_user(
        self,
        password: str,
        *,
        groups: Sequence[str] = (),
        given_name: str = "Grace",
        surname: str = "Hopper",
        uid: str | None = None,
    ) -> str:
        """Add a person (a fresh uid unless given) to `groups`; return the uid."""
        uid = uid or f"u{uuid.uuid4().hex[:10]}"
        entry = {
            "objectClass": [b"inetOrgPerson"],
            "uid": [uid.encode()],
            "cn": [f"{given_name} {surname}".encode()],
            "givenName": [given_name.encode()],
            "sn": [surname.encode()],
            "mail": [f"{uid}@example.org".encode()],
            "userPassword": [password.encode()],
        }
        conn = self.admin()
        try:
            conn.add_s(f"uid={uid},{PEOPLE}", ldap.modlist.addModlist(entry))
        finally:
            conn.unbind_s()
        self.set_groups(uid, add=groups)
        return uid

    def set_groups(self, uid: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Add the user to the groups `add` and take them out of `remove`."""
        member = [f"uid={uid},{PEOPLE}".encode()]
        conn = self.admin()
        try:
            for name in add:
                conn.modify_s(group_dn(name), [(ldap.MOD_ADD, "member", member)])
            for name in remove:
                conn.modify_s(group_dn(name), [(ldap.MOD_DELETE, "member", member)])
        finally:
            conn.unbind_s()

    def set_attribute(self, uid: str, attribute: str, value: str) -> None:
        conn = self.admin()
        try:
            conn.modify_s(f"uid={uid},{PEOPLE}", [(ldap.MOD_REPLACE, attribute, [value.encode()])])
        finally:
            conn.unbind_s()


def write_certificates(root: Path) -> None:
    """Write a CA (ca.pem) and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sluicegate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (root / "ca.pem").write_bytes(ca.public_bytes(pem))
    (root / "server.pem").write_bytes(server.public_bytes(pem))
    (root / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(uri: str) -> bool:
    conn = ldap.initialize(uri, bytes_mode=False)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 1.0)
    conn.set_option(ldap.OPT_TIMEOUT, 1.0)
    try:
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
    except ldap.LDAPError:
        return False
    conn.unbind_s()
    return True


def start_slapd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start slapd on a free port (a few tries: another worker may take the port first)."""
    log = root / "slapd.log"
    for _attempt in range(5):
        uri = f"ldap://127.0.0.1:{free_port()}/"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(SLAPD), "-f", str(root / "slapd.conf"), "-h", uri, "-d", "0"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            if answers(uri):
                return process, uri
            time.sleep(0.1)
        process.kill()
        process.wait()
    pytest.fail(f"slapd did not start; its log:\n{log.read_text()[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def directory() -> Iterator[Directory]:
    """A running slapd holding the test directory, for this worker alone."""
    missing = [str(path) for path in (SLAPD, SLAPADD, SCHEMA_DIR) if not path.exists()]
    if missing:
        pytest.fail(f"{MISSING} Not found: {', '.join(missing)}.", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="sluicegate-slapd-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        (root / "data").mkdir()
        write_certificates(root)
        (root / "slapd.conf").write_text(
            SLAPD_CONF.format(
                schema=SCHEMA_DIR,
                modules=MODULE_DIR,
                root=root,
                base=BASE,
                admin_dn=ADMIN_DN,
                admin_password=ADMIN_PASSWORD,
            )
        )
        (root / "entries.ldif").write_text(ENTRIES)
        loaded = subprocess.run(
            [str(SLAPADD), "-q", "-f", str(root / "slapd.conf"), "-l", str(root / "entries.ldif")],
            capture_output=True,
            text=True,
            check=False,
        )
        if loaded.returncode != 0:
            pytest.fail(f"slapadd failed:\n{loaded.stderr}", pytrace=False)
        process, uri = start_slapd(root)
        yield Directory(uri=uri, ca_file=root / "ca.pem")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
