# One raw TCP connection to the broker under test, speaking MQTT through mqtt_wire. Every wait is
# bounded; nothing here decides whether a test passed, it only reports what the server did.
"""A deliberately thin MQTT client for the conformance suite.

It sends exactly the bytes a test asks for, never retries, never answers on its own (a test that
wants a PUBACK sends it), and records whether and how the server closed the connection.
"""

import socket
import time

import mqtt_wire as wire

DEFAULT_TIMEOUT = 2.0


class ProtocolFailure(AssertionError):
    """The server did something the test did not expect; the message says what."""


class Connection:
    """A socket to the broker plus a receive buffer of not yet decoded bytes."""

    def __init__(self, port, version=wire.MQTT_311, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.closed = False
        self.received = []
        self.next_packet_id = 1
        self.pending = []
        self.awaiting_release = set()
        self.client_id = None
        self.connack = None
        self.last_pubrec = None

    # -- raw I/O --------------------------------------------------------------------------------

    def send(self, data):
        """Writes raw bytes. Returns False if the server has already closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def _fill(self, deadline):
        """Reads once into the buffer before ``deadline``; False on timeout, sets ``closed``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """The next packet from the server, or ``None`` on timeout or close."""
        deadline = time.monotonic() + timeout
        while True:
            frame = wire.split_frame(self.buffer)
            if frame is not None:
                first, body, consumed = frame
                del self.buffer[:consumed]
                decoded = wire.decode(first, body, self.version)
                self.received.append(decoded)
                return decoded
            if self.closed or not self._fill(deadline):
                return None

    def expect(self, packet_type, timeout=DEFAULT_TIMEOUT, what=""):
        """The next packet, which must be of ``packet_type``."""
        got = self.recv(timeout)
        if got is None:
            state = "closed the connection" if self.closed else "sent nothing"
            raise ProtocolFailure(
                "expected %s%s, server %s"
                % (wire.PACKET_NAMES[packet_type], " " + what if what else "", state)
            )
        if got.type != packet_type:
            raise ProtocolFailure(
                "expected %s%s, got %r"
                % (wire.PACKET_NAMES[packet_type], " " + what if what else "", got)
            )
        return got

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Drains packets until the server closes; returns ``(closed, packets_seen)``."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            got = self.recv(max(0.0, deadline - time.monotonic()))
            if got is not None:
                seen.append(got)
                continue
            return self.closed, seen

    def drain(self, timeout=0.3):
        """Every packet that arrives within ``timeout`` (stops early on close)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            got = self.recv(max(0.0, deadline - time.monotonic()))
            if got is None:
                return seen
            seen.append(got)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # -- protocol helpers -----------------------------------------------------------------------

    def allocate_packet_id(self):
        packet_id = self.next_packet_id
        self.next_packet_id = packet_id % 65535 + 1
        return packet_id

    def connect(self, client_id, **options):
        """Sends CONNECT and returns the CONNACK (any reason code)."""
        self.send(wire.connect(client_id, version=self.version, **options))
        return self.expect(wire.CONNACK, what="in reply to CONNECT")

    def subscribe(self, subscriptions, properties=None):
        """``subscriptions``: list of ``(filter, options)`` or of filters (QoS 0). Returns SUBACK,
        skipping any PUBLISH that arrives first (kept in ``pending``)."""
        normalised = [(item, 0) if isinstance(item, str) else item for item in subscriptions]
        packet_id = self.allocate_packet_id()
        self.send(wire.subscribe(packet_id, normalised, self.version, properties))
        return self._await_reply(wire.SUBACK, packet_id)

    def unsubscribe(self, topic_filters, properties=None):
        packet_id = self.allocate_packet_id()
        self.send(wire.unsubscribe(packet_id, topic_filters, self.version, properties))
        return self._await_reply(wire.UNSUBACK, packet_id)

    def _await_reply(self, packet_type, packet_id):
        """The acknowledgement for ``packet_id``; PUBLISH packets arriving first are kept in
        ``pending`` for ``messages``."""
        while True:
            got = self.recv()
            if got is None:
                raise ProtocolFailure(
                    "no %s for packet id %d (%s)"
                    % (
                        wire.PACKET_NAMES[packet_type],
                        packet_id,
                        "closed" if self.closed else "timeout",
                    )
                )
            if got.type == wire.PUBLISH:
                self.pending.append(got)
                continue
            if got.type != packet_type:
                raise ProtocolFailure(
                    "expected %s, got %r" % (wire.PACKET_NAMES[packet_type], got)
                )
            if got.packet_id != packet_id:
                raise ProtocolFailure(
                    "%s carries packet id %d, sent %d" % (got.name, got.packet_id, packet_id)
                )
            return got

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, dup=False):
        """Publishes and completes the QoS handshake. Returns the final acknowledgement (PUBACK or
        PUBCOMP; for QoS 2 the PUBREC is kept in ``last_pubrec``) or ``None`` for QoS 0."""
        packet_id = self.allocate_packet_id() if qos else None
        self.send(
            wire.publish(
                topic, payload, qos, retain, dup, packet_id, self.version, properties
            )
        )
        if qos == 0:
            return None
        if qos == 1:
            return self._await_reply(wire.PUBACK, packet_id)
        self.last_pubrec = self._await_reply(wire.PUBREC, packet_id)
        if self.last_pubrec.reason_code is not None and self.last_pubrec.reason_code >= 0x80:
            return self.last_pubrec
        self.send(wire.ack(wire.PUBREL, packet_id, self.version))
        return self._await_reply(wire.PUBCOMP, packet_id)

    def acknowledge(self, delivered):
        """Sends the first acknowledgement a delivered PUBLISH needs (PUBACK or PUBREC). The
        PUBCOMP for a QoS 2 delivery is sent by ``messages`` when the PUBREL arrives."""
        if delivered.qos == 1:
            self.send(wire.ack(wire.PUBACK, delivered.packet_id, self.version))
        elif delivered.qos == 2:
            self.send(wire.ack(wire.PUBREC, delivered.packet_id, self.version))
            self.awaiting_release.add(delivered.packet_id)

    def messages(self, timeout=0.5, count=None, acknowledge=True):
        """PUBLISH packets received within ``timeout`` (or until ``count`` arrived and every QoS 2
        handshake finished), acknowledging each one. Messages held back by the subscribe and
        publish helpers come first. Any other packet fails the test."""
        found, self.pending = self.pending, []
        for held in found:
            if acknowledge:
                self.acknowledge(held)
        deadline = time.monotonic() + timeout
        while count is None or len(found) < count or self.awaiting_release:
            got = self.recv(max(0.0, deadline - time.monotonic()))
            if got is None:
                break
            if got.type == wire.PUBREL and got.packet_id in self.awaiting_release:
                self.awaiting_release.discard(got.packet_id)
                self.send(wire.ack(wire.PUBCOMP, got.packet_id, self.version))
                continue
            if got.type != wire.PUBLISH:
                raise ProtocolFailure("expected PUBLISH, got %r" % got)
            found.append(got)
            if acknowledge:
                self.acknowledge(got)
        return found

    def disconnect(self, reason_code=0, properties=None, timeout=2.0):
        """Sends DISCONNECT and waits (bounded) for the server to close its side, so that a test
        reconnecting with the same client id meets a server that has finished with this
        connection. Returns whether the server closed in time."""
        self.send(wire.disconnect(self.version, reason_code, properties))
        closed, _ = self.wait_closed(timeout)
        self.close()
        return closed
