import random

import pytest

from airflow_mesos.mesos.errors import RecordIOError
from airflow_mesos.mesos.recordio import RecordIODecoder, encode

RECORDS = [b'{"type":"HEARTBEAT"}', b"x", b"", b"0123456789" * 50, "ünïcode".encode(), b"12\n34"]
STREAM = b"".join(encode(record) for record in RECORDS)


def decode_in_chunks(stream: bytes, sizes) -> list[bytes]:
    decoder = RecordIODecoder()
    records, position = [], 0
    for size in sizes:
        records += decoder.feed(stream[position:position + size])
        position += size
    records += decoder.feed(stream[position:])
    decoder.close()
    return records


def test_encode_prefixes_the_decimal_length_and_a_newline():
    assert encode(b'{"type":"HEARTBEAT"}') == b'20\n{"type":"HEARTBEAT"}'


def test_whole_stream_in_one_feed():
    assert decode_in_chunks(STREAM, []) == RECORDS


def test_byte_at_a_time():
    assert decode_in_chunks(STREAM, [1] * len(STREAM)) == RECORDS


@pytest.mark.parametrize("seed", range(20))
def test_random_chunking(seed):
    rng = random.Random(seed)
    sizes = [rng.randint(0, 40) for _ in range(200)]
    assert decode_in_chunks(STREAM, sizes) == RECORDS


def test_records_are_returned_as_soon_as_complete():
    decoder = RecordIODecoder()
    assert decoder.feed(b"3\nab") == []
    assert decoder.feed(b"c5\nhe") == [b"abc"]
    assert decoder.feed(b"llo") == [b"hello"]


def test_oversized_record_is_refused_before_its_data_arrives():
    decoder = RecordIODecoder(max_record_size=10)
    with pytest.raises(RecordIOError, match=r"11 bytes.*limit of 10 bytes"):
        decoder.feed(b"11\n")


def test_endless_size_prefix_is_refused():
    decoder = RecordIODecoder(max_record_size=10)
    with pytest.raises(RecordIOError, match="longer than"):
        decoder.feed(b"1" * 25)


def test_record_exactly_at_the_limit_is_fine():
    decoder = RecordIODecoder(max_record_size=3)
    assert decoder.feed(b"3\nabc") == [b"abc"]


@pytest.mark.parametrize("prefix", [b"x1\n", b"-1\n", b"1 \n", b"0x10\n", b"{\"type\"", b"\n"])
def test_bad_size_prefix(prefix):
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError, match="size prefix"):
        decoder.feed(prefix)


def test_decoder_stays_failed_after_an_error():
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError):
        decoder.feed(b"zz\n")
    with pytest.raises(RecordIOError):
        decoder.feed(b"1\na")


def test_truncated_inside_a_record():
    decoder = RecordIODecoder()
    decoder.feed(b"10\nabc")
    with pytest.raises(RecordIOError, match="announced 10 bytes, only 3 arrived"):
        decoder.close()


def test_truncated_inside_a_size_prefix():
    decoder = RecordIODecoder()
    assert decoder.feed(b"3\nabc12") == [b"abc"]
    with pytest.raises(RecordIOError, match="size prefix"):
        decoder.close()


def test_clean_end_of_stream():
    decoder = RecordIODecoder()
    assert decoder.feed(b"1\na") == [b"a"]
    decoder.close()


def test_max_record_size_must_be_positive():
    with pytest.raises(ValueError):
        RecordIODecoder(max_record_size=0)
