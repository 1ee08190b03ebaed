"""A real network for nbrtc's tests: namespaces, a veth link, nftables and coturn.

Everything here is created by the test and removed by it; traffic stays inside the two
namespaces (and their loopback):

* :class:`NetLab` makes a "server" and a "client" network namespace with names unique to
  this process (``nbrtc-srv-<pid>``, ``nbrtc-cli-<pid>``), joined by a veth pair with
  TEST-NET-1 addresses (server 192.0.2.1/24, client 192.0.2.2/24), ``lo`` up in each and
  IPv6 off. The server namespace also gets a default route to a gateway that does not
  exist (192.0.2.254) and a resolver address outside the lab (198.51.100.53, TEST-NET-2),
  so that a packet meant for the outside world really reaches nftables' output hook (and
  :meth:`Firewall.egress_counter`'s rule, which counts and drops it) instead of failing
  with ENETUNREACH before any rule sees it. ``run``/``popen`` run a command in a
  namespace (``ip netns exec``); :meth:`NetLab.enter` moves the *calling thread* into a
  namespace (``setns``), which is how the test process talks to the Jupyter server and
  kernel living in the server namespace.
* :class:`Firewall` applies one named nftables table in a namespace (a scenario such as
  :meth:`Firewall.block_udp_between` or :meth:`Firewall.only_port`, or the egress
  counter) and reads its named counters back with ``nft -j list counters``.
* :class:`Coturn` runs Debian's ``turnserver`` in the foreground in a namespace, waits
  for its listener, stops it by PID, keeps its log, and parses that log into live
  allocations (see :data:`ALLOC_NEW` and :data:`ALLOC_DELETED` for the lines relied on).
* :func:`chromium_wrapper` writes the small script Playwright launches as its "browser
  binary": it execs Debian Chromium inside the client namespace (Playwright talks to it
  over a pipe, which does not care about network namespaces).

Every wait is bounded; nothing sleeps for a fixed time to let things settle.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

SUBNET = "192.0.2.0/24"
SERVER_IP = "192.0.2.1"
CLIENT_IP = "192.0.2.2"
#: the server namespace's default gateway: no such host exists (see module docstring)
NO_GATEWAY = "192.0.2.254"
#: the server namespace's resolver: outside the lab, so a DNS query is an egress packet
OUTSIDE_RESOLVER = "198.51.100.53"

ETC_NETNS = Path("/etc/netns")

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetLabError(RuntimeError):
    """A lab command failed; the message carries the command and what it printed."""


def unavailable_reason() -> str | None:
    """Why this machine cannot run the lab (not root, no ``ip netns``), or None."""
    if os.geteuid() != 0:
        return "tests/net need root (network namespaces, nftables)"
    if not Path(IP).exists():
        return f"no `ip` at {IP} (apt-get install iproute2)"
    try:
        subprocess.run([IP, "netns", "list"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns` is unavailable here: {exc}"
    return None


def missing_tools() -> list[str]:
    """The lab's programs that are not installed (scripts/setup.sh installs them)."""
    return [p for p in (NFT, TURNSERVER) if not Path(p).exists()]


def _run(argv: Sequence[str], timeout: float = 30.0, input: str | None = None) -> str:
    """Run ``argv``; return its stdout; raise :class:`NetLabError` if it fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, input=input
        )
    except subprocess.TimeoutExpired as exc:
        raise NetLabError(f"{' '.join(argv)}: no exit within {timeout} s") from exc
    if done.returncode != 0:
        raise NetLabError(
            f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip() or done.stdout}"
        )
    return done.stdout


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


# ------------------------------------------------------------------------------ NetLab


class NetLab:
    """Two network namespaces joined by a veth pair (see the module docstring).

    Use as a context manager (``with NetLab() as lab:``), or call :meth:`up` and
    :meth:`down`. ``down`` is safe to call more than once and after a partial ``up``.
    """

    def __init__(self, tag: str | None = None) -> None:
        tag = tag or str(os.getpid())
        self.server = f"nbrtc-srv-{tag}"
        self.client = f"nbrtc-cli-{tag}"
        # interface names are at most 15 characters
        self.server_if = f"nbs{tag}"[:15]
        self.client_if = f"nbc{tag}"[:15]
        self.server_ip = SERVER_IP
        self.client_ip = CLIENT_IP
        self._created: list[str] = []
        self._etc_dirs: list[Path] = []

    # --- life -----------------------------------------------------------------------
    def up(self) -> NetLab:
        try:
            for ns in (self.server, self.client):
                _run([IP, "netns", "add", ns])
                self._created.append(ns)
            veth = ["type", "veth", "peer", "name", self.client_if, "netns", self.client]
            _run([IP, "-n", self.server, "link", "add", self.server_if, *veth])
            for ns, dev, addr in (
                (self.server, self.server_if, self.server_ip),
                (self.client, self.client_if, self.client_ip),
            ):
                self.run(ns, ["sh", "-c", _NO_IPV6])
                _run([IP, "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
                _run([IP, "-n", ns, "link", "set", dev, "up"])
                _run([IP, "-n", ns, "link", "set", "lo", "up"])
            _run([IP, "-n", self.server, "route", "add", "default", "via", NO_GATEWAY])
            etc = ETC_NETNS / self.server  # `ip netns exec` bind-mounts these
            if not ETC_NETNS.exists():
                ETC_NETNS.mkdir()
                self._etc_dirs.append(ETC_NETNS)  # removed last, if still empty
            etc.mkdir()
            self._etc_dirs.append(etc)
            (etc / "resolv.conf").write_text(f"nameserver {OUTSIDE_RESOLVER}\n")
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Delete the namespaces (their veth ends go with them) and the /etc/netns files."""
        errors = []
        while self._created:
            ns = self._created.pop()
            try:
                _run([IP, "netns", "delete", ns])
            except NetLabError as exc:
                errors.append(str(exc))
        while self._etc_dirs:
            d = self._etc_dirs.pop()
            if d == ETC_NETNS:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if empty: another lab may be using it
            else:
                shutil.rmtree(d, ignore_errors=True)
        if errors:
            raise NetLabError("; ".join(errors))

    def __enter__(self) -> NetLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # --- commands -------------------------------------------------------------------
    def prefix(self, ns: str) -> list[str]:
        """``ip netns exec NS``: prepend to an argv to run it in namespace ``ns``."""
        return [IP, "netns", "exec", ns]

    def run(self, ns: str, argv: Sequence[str], timeout: float = 30.0) -> str:
        """Run ``argv`` in namespace ``ns``; its stdout (NetLabError when it fails)."""
        return _run([*self.prefix(ns), *argv], timeout=timeout)

    def popen(self, ns: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` in namespace ``ns``. ``ip netns exec`` execs it, so the
        Popen's pid is the program's own (stop it by that pid)."""
        return subprocess.Popen([*self.prefix(ns), *argv], **kwargs)

    @contextlib.contextmanager
    def enter(self, ns: str) -> Iterator[None]:
        """Move the calling thread into ``ns`` for the block, then back.

        Only this thread changes namespace (``setns(2)`` on a thread). Sockets it opens
        inside live in ``ns``, and so do processes and threads it starts meanwhile (a
        zmq context's I/O threads included, which keep their namespace afterwards).
        """
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)


_NO_IPV6 = (
    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6;"
    " echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"
)


# ---------------------------------------------------------------------------- Firewall


class Firewall:
    """One nftables table (``inet <name>``) in a namespace, holding one scenario.

    Each scenario method replaces the table's whole content; :meth:`remove` deletes it
    (also on ``with`` exit). Counters are named nft counters, read by :meth:`counters`.
    """

    def __init__(self, lab: NetLab, ns: str, name: str = "nbrtc_scenario") -> None:
        self.lab, self.ns, self.name = lab, ns, name
        self.scenario: str | None = None

    def _apply(self, scenario: str, counters: Sequence[str], chains: str) -> Firewall:
        decl = "".join(f"  counter {c} {{}}\n" for c in counters)
        script = (
            f"table inet {self.name}\n"  # create-if-missing, so the delete never fails
            f"delete table inet {self.name}\n"
            f"table inet {self.name} {{\n{decl}{chains}}}\n"
        )
        _run([*self.lab.prefix(self.ns), NFT, "-f", "-"], input=script)
        self.scenario = scenario
        return self

    def block_udp_between(
        self,
        a: str = CLIENT_IP,
        b: str = SERVER_IP,
        except_ports: Sequence[int] = (),
        one_way: bool = False,
    ) -> Firewall:
        """Drop UDP between ``a`` and ``b`` (both ways; with ``one_way`` only from ``a`` to
        ``b``), except packets from or to one of ``except_ports`` (e.g. 3478 for TURN over
        UDP). Counter: ``udp_dropped``."""
        keep = ""
        if except_ports:
            ports = ", ".join(str(p) for p in except_ports)
            keep = f"udp sport != {{ {ports} }} udp dport != {{ {ports} }} "
        rules = "".join(
            f"    ip saddr {s} ip daddr {d} meta l4proto udp {keep}"
            'counter name "udp_dropped" drop\n'
            for s, d in (((a, b),) if one_way else ((a, b), (b, a)))
        )
        return self._apply(
            f"block_udp_between({a}, {b}, except={list(except_ports)}, one_way={one_way})",
            ["udp_dropped"],
            _chain("input", rules) + _chain("output", rules),
        )

    def only_port(self, port: int, a: str = CLIENT_IP, b: str = SERVER_IP) -> Firewall:
        """Between ``a`` and ``b`` allow only TCP to/from ``port`` (the notebook's); drop
        everything else (UDP, other TCP ports, ICMP). Counter: ``dropped``."""
        rules = "".join(
            f"    ip saddr {s} ip daddr {d} tcp dport {port} accept\n"
            f"    ip saddr {s} ip daddr {d} tcp sport {port} accept\n"
            f'    ip saddr {s} ip daddr {d} counter name "dropped" drop\n'
            for s, d in ((a, b), (b, a))
        )
        return self._apply(
            f"only_port({port})", ["dropped"], _chain("input", rules) + _chain("output", rules)
        )

    def egress_counter(self) -> Firewall:
        """Count, and drop, every packet this namespace sends to an address outside
        192.0.2.0/24 and loopback. Counters: ``egress_v4``, ``egress_v6``."""
        rules = (
            f"    meta nfproto ipv4 ip daddr != {{ 127.0.0.0/8, {SUBNET} }} "
            'counter name "egress_v4" drop\n'
            '    meta nfproto ipv6 ip6 daddr != ::1 counter name "egress_v6" drop\n'
        )
        return self._apply("egress_counter", ["egress_v4", "egress_v6"], _chain("output", rules))

    def counters(self) -> dict[str, int]:
        """``{counter name: packets}`` of this table."""
        out = _run([*self.lab.prefix(self.ns), NFT, "-j", "list", "counters", "table", "inet",
                    self.name])  # fmt: skip
        found: dict[str, int] = {}
        for item in json.loads(out).get("nftables", []):
            c = item.get("counter")
            if c and c.get("table") == self.name:
                found[c["name"]] = int(c.get("packets", 0))
        return found

    def reset(self) -> None:
        """Set this table's counters back to zero."""
        _run([*self.lab.prefix(self.ns), NFT, "reset", "counters", "table", "inet", self.name])

    def exists(self) -> bool:
        out = _run([*self.lab.prefix(self.ns), NFT, "-j", "list", "tables"])
        return any(t.get("table", {}).get("name") == self.name for t in json.loads(out)["nftables"])

    def remove(self) -> None:
        """Delete the table if it exists (idempotent)."""
        if self.exists():
            _run([*self.lab.prefix(self.ns), NFT, "delete", "table", "inet", self.name])
        self.scenario = None

    def __enter__(self) -> Firewall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _chain(hook: str, rules: str) -> str:
    return (
        f"  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n{rules}  }}\n"
    )


# ------------------------------------------------------------------------------ coturn

#: coturn 4.6.1 (with ``-v``) logs this when an ALLOCATE succeeds, once per allocation
#: (a TURN session holds at most one allocation), e.g.
#: ``2: : session 000000000000000001: new, realm=<nbrtc.test>, username=<u>, lifetime=777``
ALLOC_NEW = re.compile(r"session (\d+): new, realm=<[^>]*>, username=<[^>]*>, lifetime=\d+")
#: ...and this when a session ends, whatever the reason (TCP connection closed by the
#: client, "allocation timeout" about 1 s after a REFRESH with lifetime 0 over UDP, an
#: expired allocation), e.g. ``8: : session 000000000000000002: delete: realm=<nbrtc.test>,
#: username=<u>``. It follows a ``closed (2nd stage) ... reason: ...`` line.
ALLOC_DELETED = re.compile(r"session (\d+): delete: realm=<[^>]*>, username=<[^>]*>")
#: printed (with ``-v``) once the UDP listener is bound: coturn is ready
READY = "UDP listener opened"


@dataclass(frozen=True)
class LogLine:
    t: float  # time.monotonic() when the line was read
    text: str


class ForegroundServer:
    """A server process run in the foreground by a test (coturn, janus): its output read
    line by line into memory (each line stamped with the monotonic time it was read) and
    into ``log_path``; stopped by its PID. Subclasses say how to start it and when it is
    ready (:meth:`launch`, :meth:`wait_ready`)."""

    #: names the reader thread and the errors
    name = "server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._lines: list[LogLine] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def launch(self, argv: Sequence[str]) -> None:
        """Start ``argv`` (already prefixed with ``ip netns exec NS`` when it runs in a
        namespace: that execs, so the PID is the server's) and start reading its output."""
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-log", daemon=True)
        self._reader.start()

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready()`` until true; if the process exits or ``timeout`` passes first,
        stop it and raise :class:`NetLabError` with ``what`` and the log's tail."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                code = None if self.proc is None else self.proc.poll()
                why = f"exited with {code}" if code is not None else f"{what} within {timeout} s"
                self.stop()
                raise NetLabError(f"{self.name} {why}; log:\n{self.log_tail()}")
            time.sleep(0.05)  # poll interval (bounded by the deadline)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in self.proc.stdout:  # ends at EOF, when the server exits
                log.write(raw)
                log.flush()
                line = LogLine(time.monotonic(), raw.decode(errors="replace").rstrip())
                with self._lock:
                    self._lines.append(line)

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM by PID, SIGKILL after ``timeout`` s; return the seconds it took."""
        start = time.monotonic()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        return time.monotonic() - start

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def lines(self) -> list[LogLine]:
        with self._lock:
            return list(self._lines)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(ln.text for ln in self.lines()[-n:])


class Coturn(ForegroundServer):
    """Debian's ``turnserver`` in the foreground in a namespace, started and stopped by
    the test (by PID), its log kept in memory and in ``workdir/turnserver.log``.

    ``-v`` is needed: without it coturn 4.6.1 wrote neither the listener line nor any
    session line here (stdout to a pipe or a file alike). Each log line is stamped with
    the monotonic time it was read, so release times are measured here, not from
    coturn's one-second log stamps.
    """

    name = "turnserver"

    def __init__(
        self,
        lab: NetLab,
        workdir: Path,
        ns: str | None = None,
        ip: str = SERVER_IP,
        port: int = 3478,
        user: tuple[str, str] = ("u", "p"),
        realm: str = "nbrtc.test",
        min_port: int = 49160,
        max_port: int = 49200,
        tls: tuple[Path, Path] | None = None,
        tls_port: int = 5349,
    ) -> None:
        self.lab, self.ns, self.ip, self.port = lab, ns or lab.server, ip, port
        self.user, self.realm = user, realm
        self.workdir = Path(workdir)
        self.min_port, self.max_port = min_port, max_port
        self.tls, self.tls_port = tls, tls_port
        super().__init__(self.workdir / "turnserver.log")

    def argv(self) -> list[str]:
        args = [
            TURNSERVER, "-n", "-v",
            f"--listening-ip={self.ip}", f"--relay-ip={self.ip}",
            f"--listening-port={self.port}",
            "--lt-cred-mech", f"--user={self.user[0]}:{self.user[1]}", f"--realm={self.realm}",
            "--fingerprint", "--no-dtls", "--allow-loopback-peers", "--no-cli",
            f"--min-port={self.min_port}", f"--max-port={self.max_port}",
            f"--pidfile={self.workdir / 'turnserver.pid'}",
            f"--userdb={self.workdir / 'turndb'}",
            "--log-file=stdout", "--simple-log",
        ]  # fmt: skip
        if self.tls is None:
            args.append("--no-tls")
        else:
            cert, key = self.tls
            args += [f"--tls-listening-port={self.tls_port}", f"--cert={cert}", f"--pkey={key}"]
        return args

    def start(self, timeout: float = 20.0) -> Coturn:
        """Start it; return once its log says :data:`READY` (stop it and raise if not)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / "turndb").unlink()  # a fresh user database per run
        self.launch([*self.lab.prefix(self.ns), *self.argv()])
        self.wait_ready(lambda: any(READY in ln.text for ln in self.lines()), timeout, "not ready")
        return self

    def __enter__(self) -> Coturn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the log ----------------------------------------------------------------------
    def events(self) -> list[tuple[float, str, str]]:
        """``(time, "new" | "deleted", session id)`` for every allocation line so far."""
        out = []
        for ln in self.lines():
            if m := ALLOC_NEW.search(ln.text):
                out.append((ln.t, "new", m.group(1)))
            elif m := ALLOC_DELETED.search(ln.text):
                out.append((ln.t, "deleted", m.group(1)))
        return out

    def live_sessions(self) -> set[str]:
        """Sessions whose allocation was made and not yet deleted."""
        live: set[str] = set()
        for _t, kind, sid in self.events():
            if kind == "new":
                live.add(sid)
            else:
                live.discard(sid)  # a session that only got a 401 ends without "new"
        return live

    def allocations(self) -> int:
        """The number of live allocations, from the log."""
        return len(self.live_sessions())

    def made(self) -> int:
        """How many allocations were made since start."""
        return sum(1 for _t, kind, _s in self.events() if kind == "new")

    def wait_released(self, timeout: float, since: float | None = None) -> float:
        """Wait until no allocation is live; return when the last one was deleted,
        in seconds after ``since`` (a ``time.monotonic()``; default: now).

        Raises TimeoutError naming the live sessions when ``timeout`` s pass first.
        """
        since = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            live = self.live_sessions()
            if not live:
                deleted = [t for t, kind, _s in self.events() if kind == "deleted"]
                last = max(deleted, default=since)
                return max(0.0, last - since)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"coturn allocations still live after {timeout} s: {sorted(live)}\n"
                    f"{self.log_tail(20)}"
                )
            time.sleep(0.02)  # poll interval (bounded by the deadline)


def self_signed_cert(workdir: Path, ip: str = SERVER_IP) -> tuple[Path, Path]:
    """A throw-away certificate and key for ``ip`` (for coturn's TLS listener)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "turn-cert.pem", workdir / "turn-key.pem"
    _run([
        OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={ip}",
        "-addext", f"subjectAltName=IP:{ip}",
    ])  # fmt: skip
    return cert, key


# ---------------------------------------------------------------------------- Chromium


def chromium_wrapper(lab: NetLab, directory: Path, chromium: str = "/usr/bin/chromium") -> Path:
    """Write ``directory/chromium-in-<client ns>``: a script that execs ``chromium`` in the
    client namespace with the arguments it got. Give it to Playwright as
    ``executable_path``; the browser's PID is the script's (each step execs)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"chromium-in-{lab.client}"
    path.write_text(f'#!/bin/sh\nexec {IP} netns exec {lab.client} {chromium} "$@"\n')
    path.chmod(0o755)
    return path


# ------------------------------------------------------------- additions for TURN paths

CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"


def private_ca(
    workdir: Path, ip: str = SERVER_IP, name: str = "nbrtc lab CA"
) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``ip`` that it signed, made with openssl
    in ``workdir``: ``(ca.pem, cert.pem, key.pem)``. Unlike :func:`self_signed_cert` the
    server certificate is not a CA itself, so a browser that trusts the CA accepts it."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        workdir / n for n in ("ca-key.pem", "ca.pem", "server-key.pem", "server.csr", "server.pem")
    )
    ext = workdir / "server-ext.cnf"
    ext.write_text(
        f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _run([
        OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(ca_key), "-out", str(ca), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ])  # fmt: skip
    _run([
        OPENSSL, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={ip}",
    ])  # fmt: skip
    _run([
        OPENSSL, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
    ])  # fmt: skip
    return ca, cert, key


def nss_home(home: Path, cas: Sequence[Path]) -> Path:
    """Make ``home/.pki/nssdb``, the NSS database Chromium on Linux reads its user's
    trusted CAs from, trusting each of ``cas`` for TLS servers (``certutil``, from Debian's
    libnss3-tools). Give Chromium ``HOME=home``; return ``home``."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    _run([CERTUTIL, "-N", "-d", f"sql:{db}", "--empty-password"])
    for i, ca in enumerate(cas):
        _run(
            [
                CERTUTIL,
                "-A",
                "-d",
                f"sql:{db}",
                "-n",
                f"nbrtc-lab-ca-{i}",
                "-t",
                "C,,",
                "-i",
                str(ca),
            ]
        )
    return home


def block_udp_and_tcp_ports(
    fw: Firewall,
    ports: Sequence[int],
    a: str = CLIENT_IP,
    b: str = SERVER_IP,
    also_from_b: bool = False,
) -> Firewall:
    """Scenario on ``fw``: drop all UDP between ``a`` and ``b`` and TCP to/from ``ports``
    (a TURN server that is there but cannot be reached). With ``also_from_b`` the ports
    are dropped for ``b`` itself too (``b`` to ``b``, over ``lo``: the kernel next to its
    TURN server cannot reach it either). Counter: ``dropped``."""
    plist = ", ".join(str(p) for p in ports)
    pairs = [(a, b), (b, a)] + ([(b, b)] if also_from_b else [])
    rules = "".join(
        (f'    ip saddr {s} ip daddr {d} meta l4proto udp counter name "dropped" drop\n'
         if s != d else "")
        + f'    ip saddr {s} ip daddr {d} tcp dport {{ {plist} }} counter name "dropped" drop\n'
        f'    ip saddr {s} ip daddr {d} tcp sport {{ {plist} }} counter name "dropped" drop\n'
        for s, d in pairs
    )  # fmt: skip
    return fw._apply(
        f"block_udp_and_tcp_ports({list(ports)}, also_from_b={also_from_b})",
        ["dropped"],
        _chain("input", rules) + _chain("output", rules),
    )
