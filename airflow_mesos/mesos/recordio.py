"""RecordIO framing of the Mesos event stream, sans I/O.

A stream is a sequence of ``<decimal size>\\n<size bytes of data>`` records, with
no separator after the data (Mesos ``docs/recordio.md``).  HTTP chunk boundaries
are unrelated to record boundaries, so the decoder buffers across ``feed`` calls.

The decoder never touches a socket: feed it bytes, get complete records back, and
call :meth:`RecordIODecoder.close` at end of stream to learn whether the stream
was cut in the middle of a record.
"""

from __future__ import annotations

from airflow_mesos.mesos.errors import RecordIOError

DEFAULT_MAX_RECORD_SIZE = 64 * 1024 * 1024
"""A large OFFERS event from a big cluster can be megabytes; anything near this is an attack or a bug."""

# A size prefix longer than this many digits cannot be under any sane limit; we stop
# buffering there instead of growing the buffer on a stream that never sends "\n".
_MAX_PREFIX_DIGITS = 20


def encode(record: bytes) -> bytes:
    """Frame one record: ``b"3\\nabc"``."""
    return str(len(record)).encode("ascii") + b"\n" + bytes(record)


class RecordIODecoder:
    """Incremental RecordIO decoder.

    :param max_record_size: largest record (in bytes) accepted; a larger announced size raises
        :class:`RecordIOError` before any of its data is buffered.
    """

    def __init__(self, max_record_size: int = DEFAULT_MAX_RECORD_SIZE) -> None:
        if max_record_size <= 0:
            raise ValueError(f"max_record_size must be positive, got {max_record_size}")
        self.max_record_size = max_record_size
        self._buffer = bytearray()
        # Size of the record whose data we are waiting for, or None while reading a size prefix.
        self._pending_size: int | None = None
        self._failed: RecordIOError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes from the stream; return the records they complete, in order.

        :raises RecordIOError: on a non-digit size prefix or a record larger than ``max_record_size``.
            The decoder is then unusable: every later call raises the same error.
        """
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        records: list[bytes] = []
        try:
            while True:
                if self._pending_size is None:
                    newline = self._buffer.find(b"\n")
                    if newline < 0:
                        self._check_prefix(self._buffer, complete=False)
                        break
                    self._pending_size = self._check_prefix(self._buffer[:newline], complete=True)
                    del self._buffer[: newline + 1]
                if len(self._buffer) < self._pending_size:
                    break
                records.append(bytes(self._buffer[: self._pending_size]))
                del self._buffer[: self._pending_size]
                self._pending_size = None
        except RecordIOError as exc:
            self._failed = exc
            raise
        return records

    def close(self) -> None:
        """Declare the end of the stream.

        :raises RecordIOError: if the stream ended inside a size prefix or inside a record's data.
        """
        if self._failed is not None:
            raise self._failed
        if self._pending_size is not None:
            raise RecordIOError(
                f"stream truncated: record announced {self._pending_size} bytes, "
                f"only {len(self._buffer)} arrived"
            )
        if self._buffer:
            raise RecordIOError(f"stream truncated inside a record size prefix ({bytes(self._buffer[:32])!r})")

    def _check_prefix(self, prefix: bytes | bytearray, *, complete: bool) -> int:
        """Validate a (possibly partial) size prefix; return the size when ``complete``."""
        shown = bytes(prefix[:32])
        if prefix and not prefix.isdigit():
            raise RecordIOError(f"bad record size prefix {shown!r}: expected decimal digits then '\\n'")
        if len(prefix) > _MAX_PREFIX_DIGITS:
            raise RecordIOError(
                f"record size prefix {shown!r}... is longer than {_MAX_PREFIX_DIGITS} digits "
                f"(limit is {self.max_record_size} bytes)"
            )
        if not complete:
            return 0
        if not prefix:
            raise RecordIOError("empty record size prefix: expected decimal digits before '\\n'")
        size = int(prefix)
        if size > self.max_record_size:
            raise RecordIOError(
                f"record of {size} bytes announced, larger than the limit of {self.max_record_size} bytes"
            )
        return size
