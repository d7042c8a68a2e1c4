"""HTTP for one fetch from an archive, bounded: one deadline for the whole fetch (every
request, redirect and byte, not each read), caps on the bytes received and on the bytes a
gzipped answer unpacks to, and a redirect limit. liblore does the asking and b4 the parsing;
this session is the one liblore sends its requests through.

The deadline holds from the server's name on: its lookup is waited for only until then.
Each bound reached is a ReviewbotError naming the server, what happened and what to try.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib

import requests
import requests.adapters
import urllib3
from urllib3.util.connection import allowed_gai_family

from reviewbot.errors import Cancelled, TimedOut, Unavailable
from reviewbot.limits import Limits

CHUNK = 64 * 1024
UNPACK_STEP = 1 << 20
WATCH_STEP = 0.1  # seconds between two looks at the deadline and the caller's cancel
GZIP_MAGIC = b"\x1f\x8b"


class BoundedSession(requests.Session):
    """Use as a context manager, one per fetch. `server` and `source` name the archive and the
    input in errors; `cancel`, once set, stops the fetch as its deadline would."""

    def __init__(self, limits: Limits, server: str, source: str, seconds: float | None = None,
                 cancel: threading.Event | None = None):
        super().__init__()
        self.limits, self.server, self.source = limits, server, source
        self.seconds = seconds or limits.fetch_seconds
        self.deadline = time.monotonic() + self.seconds
        self.cancel = cancel
        self.expired = threading.Event()
        self.done = threading.Event()
        self.sockets: list[socket.socket] = []
        self.received = 0
        adapter = _TrackingAdapter(self)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        # the deadline holds while a read waits: at the deadline every socket is shut down
        self.watchdog = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> BoundedSession:
        self.watchdog.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.close()

    def _watch(self) -> None:
        while not self.done.wait(min(max(self.deadline - time.monotonic(), 0), WATCH_STEP)):
            if time.monotonic() >= self.deadline or (self.cancel and self.cancel.is_set()):
                self.expired.set()
                for sock in list(self.sockets):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # closed already
                return

    def timed_out(self) -> TimedOut | Cancelled:
        if self.cancel is not None and self.cancel.is_set():
            return Cancelled(self.source, "the review was cancelled")
        return TimedOut(self.source, f"{self.server} did not send the thread within "
                                     f"{self.seconds:g}s (try again later, or a longer "
                                     "--lore-timeout)")

    def out_of_time(self) -> bool:
        return (self.expired.is_set() or time.monotonic() >= self.deadline
                or (self.cancel is not None and self.cancel.is_set()))

    def remaining(self) -> float:
        if self.out_of_time():
            raise self.timed_out()
        return self.deadline - time.monotonic()

    def request(self, method, url, **kwargs) -> requests.Response:
        """One request with the redirects it takes, each answer read whole within the bounds."""
        follow = kwargs.pop("allow_redirects", True)
        for _hop in range(self.limits.redirects + 1):
            try:
                response = super().request(method, url, allow_redirects=False, stream=True,
                                           **{**kwargs, "timeout": self.remaining()})
                target = self.get_redirect_target(response) if follow else None
                if target is None:
                    self._read_body(response)
                    return response
            except (requests.RequestException, urllib3.exceptions.HTTPError,
                    http.client.HTTPException, OSError) as err:
                if self.out_of_time():  # a read timed out at the deadline, or was cut there
                    raise self.timed_out() from None
                if isinstance(err, (requests.ConnectionError, requests.Timeout)):
                    raise  # liblore's: it tries the archive's other addresses
                raise Unavailable(self.source, f"{self.server} sent a broken answer: "
                                               f"{one_line(err)} (try again later)") from None
            response.close()  # a redirect's body is not worth reading
            url = requests.compat.urljoin(response.url, target)
        raise Unavailable(self.source, f"{self.server} redirected more than "
                                       f"{self.limits.redirects} times (a redirect loop? check "
                                       "--lore-url; [limits] redirects in the config)")

    def resolve_redirects(self, *args, **kwargs):
        """None here: request() follows redirects itself, within the bounds (requests' own
        following reads each redirect's whole body first, however big)."""
        return iter(())

    def _read_body(self, response: requests.Response) -> None:
        """Read the answer into `response.content`, counting its bytes as they come."""
        chunks = []
        while True:
            self.remaining()
            chunk = response.raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            self.received += len(chunk)
            if self.received > self.limits.fetch_bytes:
                response.close()
                raise Unavailable(self.source, f"{self.server} sent more than "
                                               f"{self.limits.fetch_bytes} bytes (a thread this "
                                               "big is not a patch series; [limits] fetch_bytes "
                                               "in the config)")
            chunks.append(chunk)
        self.remaining()  # a socket shut down at the deadline reads as the end of the answer
        body = b"".join(chunks)
        if body.startswith(GZIP_MAGIC) and unpacked_size(body, self.limits.mail_bytes) > \
                self.limits.mail_bytes:
            raise Unavailable(self.source, f"{self.server} sent a thread that unpacks to more "
                                           f"than {self.limits.mail_bytes} bytes ([limits] "
                                           "mail_bytes in the config)")
        response._content = body
        response._content_consumed = True


def one_line(err: BaseException) -> str:
    """What an error says, without the tuple reprs urllib3 wraps it in."""
    text = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    return " ".join(text.split())[:160] or type(err).__name__


def unpacked_size(data: bytes, cap: int) -> int:
    """How many bytes gzipped `data` unpacks to, counted up to just past `cap` (a gzip bomb
    is never unpacked whole); every gzip member counts. A corrupt stream counts as far as it
    goes: its reader reports it."""
    size = 0
    while data and size <= cap:
        unpacker = zlib.decompressobj(wbits=31)
        pending = data
        try:
            while pending and size <= cap:  # a megabyte at a time: only the count is kept
                size += len(unpacker.decompress(pending, min(UNPACK_STEP, cap + 1 - size)))
                pending = unpacker.unconsumed_tail
        except zlib.error:
            break
        if not unpacker.eof:
            break
        data = unpacker.unused_data
    return size


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections look their server up within the session's deadline and add
    their sockets to the session's, for the deadline to cut."""

    def __init__(self, session: BoundedSession):
        self.session = session
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools = self.poolmanager.pool_classes_by_scheme
        self.poolmanager.pool_classes_by_scheme = {
            scheme: type(pool.__name__, (pool,), {"ConnectionCls": _tracking(pool.ConnectionCls,
                                                                            self.session)})
            for scheme, pool in pools.items()}


def _tracking(connection_class: type, session: BoundedSession) -> type:
    class Tracking(connection_class):
        def _new_conn(self):
            """Connect to each address of the server in turn, looked up first within the
            deadline. Only the connect sees an address: `host` is the name again before TLS
            (its SNI and certificate check) and the Host header use it."""
            name = self._dns_host
            try:
                addresses = resolve(name, self.port, session)
            except socket.gaierror as err:
                raise urllib3.exceptions.NameResolutionError(self.host, self, err) from err
            except TimeoutError as err:
                raise urllib3.exceptions.ConnectTimeoutError(self, str(err)) from err
            except UnicodeError:  # as urllib3 says it
                raise urllib3.exceptions.LocationParseError(
                    f"'{name}', label empty or too long") from None
            try:
                for address in addresses[:-1]:
                    try:
                        return self._tracked_conn(address)
                    except (urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.ConnectTimeoutError):
                        pass  # the next address may answer
                return self._tracked_conn(addresses[-1])
            finally:
                self._dns_host = name

        def _tracked_conn(self, address: str):
            # each address gets what is left of the deadline, not what was left when the
            # request began: a socket joins `sockets` (for the deadline to cut) only once
            # connected, so nothing else would stop a third dead address
            left = session.deadline - time.monotonic()
            if left <= 0 or session.out_of_time():
                raise urllib3.exceptions.ConnectTimeoutError(self, f"no time left to connect to {address}")
            if isinstance(self.timeout, (int, float)):
                self.timeout = min(self.timeout, left)
            self._dns_host = address
            sock = super()._new_conn()
            session.sockets.append(sock)
            return sock
    return Tracking


def resolve(host: str, port: int, session: BoundedSession) -> list[str]:
    """The addresses of `host`, in the resolver's order. The lookup runs on a helper thread:
    nothing cuts a getaddrinfo that waits on a slow name server, but the wait for it ends at
    the session's deadline (or its cancel), with a TimeoutError; the thread ends on its own."""
    answer: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            answer["found"] = socket.getaddrinfo(host, port, allowed_gai_family(),
                                                 socket.SOCK_STREAM)
        except Exception as err:  # raised to the caller as a direct call would raise it
            answer["error"] = err
        finally:
            done.set()

    threading.Thread(target=lookup, name="reviewbot-resolve", daemon=True).start()
    while not done.wait(WATCH_STEP):
        if session.out_of_time():
            raise TimeoutError(f"looking up {host} did not finish by the deadline")
    if "error" in answer:
        raise answer["error"]
    addresses = list(dict.fromkeys(found[4][0] for found in answer["found"]))
    if not addresses:
        raise socket.gaierror(f"no address for {host}")
    return addresses
