"""fastrnn.Vocab: stable order, newline, encode/decode, unknown characters, storage."""

import numpy as np
import pytest

from fastrnn import Vocab


def test_from_text_sorted_with_newline_first_for_lowercase():
    v = Vocab.from_text("banana\napple\n")
    assert v.chars == ("\n", "a", "b", "e", "l", "n", "p")
    assert v.newline == 0
    assert len(v) == v.size == 7
    assert v.char_to_ix == {c: i for i, c in enumerate(v.chars)}
    assert v.ix_to_char == {i: c for i, c in enumerate(v.chars)}


def test_order_is_stable_whatever_the_text_order():
    assert Vocab.from_text("cab") == Vocab.from_text("abc\nabc") == Vocab("bca")


def test_newline_always_present():
    v = Vocab.from_text("xyz")
    assert "\n" in v
    assert v.chars[v.newline] == "\n"
    assert Vocab(["q"]).chars == ("\n", "q")


def test_list_of_lines():
    assert Vocab.from_text(["ab", "c"]) == Vocab.from_text("ab\nc")


def test_course_vocabulary(dinos_text):
    text = dinos_text.lower()
    chars = sorted(set(text))
    v = Vocab.from_text(text)
    assert list(v.chars) == chars
    assert v.char_to_ix == {ch: i for i, ch in enumerate(chars)}
    assert v.ix_to_char == {i: ch for i, ch in enumerate(chars)}


def test_encode_decode_roundtrip():
    v = Vocab.from_text("hello world\n")
    ix = v.encode("hello\nworld")
    assert ix.dtype == np.int64
    assert ix.tolist() == [v.char_to_ix[c] for c in "hello\nworld"]
    assert v.decode(ix) == "hello\nworld"
    assert v.decode([]) == ""
    assert v.encode("").shape == (0,)


def test_non_ascii_characters():
    v = Vocab.from_text("café ünïcødé 🙂\n")
    s = "é🙂ü"
    assert v.decode(v.encode(s)) == s


def test_unknown_characters_are_all_named():
    v = Vocab.from_text("abc\n")
    with pytest.raises(ValueError) as e:
        v.encode("abxyzx!", "prime")
    msg = str(e.value)
    assert "prime" in msg
    for c in "xyz!":
        assert repr(c) in msg
    assert v.unknown("abxyzx!") == ["!", "x", "y", "z"]


def test_check_accepts_known_text():
    Vocab.from_text("abc").check("cab\n")


def test_decode_out_of_range():
    v = Vocab.from_text("ab")
    with pytest.raises(ValueError, match="ixs"):
        v.decode([0, 3])
    with pytest.raises(ValueError, match="ixs"):
        v.decode([-1])


def test_array_roundtrip():
    v = Vocab.from_text("zebra\nÅngström\n")
    a = v.to_array()
    assert a.dtype == np.int32
    assert Vocab.from_array(a) == v


def test_from_array_rejects_bad_storage():
    with pytest.raises(ValueError):
        Vocab.from_array(np.array([ord("b"), ord("a"), 10], np.int32))  # not sorted
    with pytest.raises(ValueError):
        Vocab.from_array(np.array([ord("a")], np.int32))  # no newline
    with pytest.raises(ValueError):
        Vocab.from_array(np.array([], np.int32))
    with pytest.raises(ValueError):
        Vocab.from_array(np.array([1.5]))


@pytest.mark.parametrize("bad", [None, 3, b"abc"])
def test_bad_constructor_input(bad):
    with pytest.raises(TypeError):
        Vocab(bad)


def test_bad_characters():
    with pytest.raises(TypeError, match="length 1"):
        Vocab(["ab"])


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_text(text):
    with pytest.raises(ValueError, match="empty"):
        Vocab.from_text(text)


def test_from_text_type_error():
    with pytest.raises(TypeError):
        Vocab.from_text(42)
    with pytest.raises(TypeError):
        Vocab.from_text(["a", 1])


def test_repr_hash_eq():
    v = Vocab.from_text("ab")
    assert "3 chars" in repr(v)
    assert hash(v) == hash(Vocab("ba"))
    assert v != Vocab("abc")
    assert v != "ab"
