"""
The order-book algorithm against OKX's documentation.

OKX's v5 docs (Order book channel › Checksum) give two example books and the strings
their checksums are computed over; the CRC32 values of those same two books are the
ones OKX published with them in its earlier (v3) depth-channel docs: -1881014294 and
831078360. (The ``checksum`` shown in the v5 docs' example push, -855196043, is
illustrative: it does not match that example's levels, so it is not used.)
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from fmzokx.okx.stream.book import BookError, OrderBook, checksum, checksum_text


def test_documented_example_both_sides_long() -> None:
    bids = [["3366.1", "7", "0", "3"], ["3366", "6", "3", "4"]]
    asks = [["3366.8", "9", "10", "3"], ["3368", "8", "3", "4"]]
    assert checksum_text(bids, asks) == "3366.1:7:3366.8:9:3366:6:3368:8"
    assert checksum(bids, asks) == -1881014294


def test_documented_example_one_side_short() -> None:
    bids = [["3366.1", "7", "0", "3"]]
    asks = [["3366.8", "9", "10", "3"], ["3368", "8", "3", "4"], ["3372", "8", "3", "4"]]
    assert checksum_text(bids, asks) == "3366.1:7:3366.8:9:3368:8:3372:8"
    assert checksum(bids, asks) == 831078360


def test_documented_v5_interleaving() -> None:
    bids = [["43231.1", "4"], ["43231", "6"]]
    asks = [["43232.8", "9"], ["43232.9", "8"]]
    assert checksum_text(bids, asks) == "43231.1:4:43232.8:9:43231:6:43232.9:8"


def test_checksum_uses_25_levels_a_side_and_the_strings_as_sent() -> None:
    bids = [[f"{1000 - i}.5000", "1"] for i in range(30)]
    asks = [[f"{1001 + i}", "2.10"] for i in range(30)]
    text = checksum_text(bids, asks)
    assert text.count(":") == 25 * 4 - 1
    assert text.startswith("1000.5000:1:1001:2.10:999.5000:1")
    assert "975.5000" not in text and "1026" not in text
    signed = zlib.crc32(text.encode())
    assert checksum(bids, asks) == (signed - 2**32 if signed >= 2**31 else signed)


def snapshot() -> OrderBook:
    book = OrderBook()
    asks = [["101", "1", "0", "1"], ["102", "2", "0", "1"], ["103", "3", "0", "2"]]
    bids = [["100", "4", "0", "1"], ["99", "5", "0", "1"], ["98", "6", "0", "3"]]
    book.apply("snapshot", {"asks": asks, "bids": bids, "ts": "1000", "prevSeqId": -1,
                            "seqId": 10, "checksum": checksum(bids, asks)})
    return book


def test_snapshot_then_update_inserts_replaces_and_deletes_in_price_order() -> None:
    book = snapshot()
    update = {
        "asks": [["100.5", "7", "0", "1"], ["102", "0", "0", "0"], ["103", "9", "0", "4"]],
        "bids": [["99.5", "8", "0", "2"], ["98", "0", "0", "0"]],
        "ts": "2000", "prevSeqId": 10, "seqId": 15,
    }
    asks = [["100.5", "7", "0", "1"], ["101", "1", "0", "1"], ["103", "9", "0", "4"]]
    bids = [["100", "4", "0", "1"], ["99.5", "8", "0", "2"], ["99", "5", "0", "1"]]
    update["checksum"] = checksum(bids, asks)
    book.apply("update", update)
    assert book.levels(400) == {"asks": asks, "bids": bids, "ts": "2000", "seqId": 15}
    assert book.levels(1) == {"asks": asks[:1], "bids": bids[:1], "ts": "2000", "seqId": 15}


def test_no_change_message_and_sequence_reset_keep_the_chain() -> None:
    book = snapshot()
    same = book.levels(400)
    book.apply("update", {"asks": [], "bids": [], "ts": "3000", "prevSeqId": 10, "seqId": 10,
                          "checksum": checksum(same["bids"], same["asks"])})
    # After maintenance OKX may restart seqId lower, still chained by prevSeqId.
    book.apply("update", {"asks": [], "bids": [], "ts": "4000", "prevSeqId": 10, "seqId": 3,
                          "checksum": 0})
    book.apply("update", {"asks": [], "bids": [], "ts": "5000", "prevSeqId": 3, "seqId": 5,
                          "checksum": 0})
    assert book.synced and book.seq_id == 5 and book.ts == "5000"


def test_a_gap_resets_the_book() -> None:
    book = snapshot()
    with pytest.raises(BookError) as caught:
        book.apply("update", {"asks": [], "bids": [], "ts": "2000", "prevSeqId": 11,
                              "seqId": 12, "checksum": 0})
    assert caught.value.reason == "gap"
    assert not book.synced and book.levels(5)["asks"] == []


def test_an_update_before_any_snapshot_is_a_gap() -> None:
    with pytest.raises(BookError) as caught:
        OrderBook().apply("update", {"asks": [], "bids": [], "ts": "1", "prevSeqId": 1,
                                     "seqId": 2, "checksum": 0})
    assert caught.value.reason == "gap"


def test_a_checksum_mismatch_resets_the_book() -> None:
    book = snapshot()
    with pytest.raises(BookError) as caught:
        book.apply("update", {"asks": [["101", "1.5", "0", "1"]], "bids": [], "ts": "2000",
                              "prevSeqId": 10, "seqId": 11, "checksum": 12345})
    assert caught.value.reason == "checksum"
    assert not book.synced


def test_checksum_zero_is_not_checked() -> None:
    # OKX announced the field would always be 0 from June 2026: the seqId chain remains.
    book = snapshot()
    book.apply("update", {"asks": [["101", "1.5", "0", "1"]], "bids": [], "ts": "2000",
                          "prevSeqId": 10, "seqId": 11, "checksum": 0})
    assert book.levels(1)["asks"] == [["101", "1.5", "0", "1"]]


def test_the_book_keeps_at_most_its_depth() -> None:
    book = OrderBook(depth=3)
    asks = [[str(200 + i), "1", "0", "1"] for i in range(5)]
    bids = [[str(199 - i), "1", "0", "1"] for i in range(5)]
    book.apply("snapshot", {"asks": asks, "bids": bids, "ts": "1", "prevSeqId": -1,
                            "seqId": 1, "checksum": 0})
    assert [row[0] for row in book.levels(10)["asks"]] == ["200", "201", "202"]
    assert [row[0] for row in book.levels(10)["bids"]] == ["199", "198", "197"]


@pytest.mark.parametrize(
    "item",
    [
        {"asks": [], "bids": [], "prevSeqId": -1},
        {"asks": "x", "bids": [], "prevSeqId": -1, "seqId": 1},
        {"asks": [["1"]], "bids": [], "prevSeqId": -1, "seqId": 1},
        {"asks": [["x", "1"]], "bids": [], "prevSeqId": -1, "seqId": 1},
        {"asks": [["1", "-1"]], "bids": [], "prevSeqId": -1, "seqId": 1},
        {"asks": [[1, 1]], "bids": [], "prevSeqId": -1, "seqId": 1},
    ],
)
def test_malformed_pushes_are_refused(item: dict[str, Any]) -> None:
    with pytest.raises(BookError) as caught:
        OrderBook().apply("snapshot", item)
    assert caught.value.reason == "malformed"


def test_unknown_action_is_refused() -> None:
    with pytest.raises(BookError):
        snapshot().apply("partial", {"asks": [], "bids": [], "prevSeqId": 10, "seqId": 10})
