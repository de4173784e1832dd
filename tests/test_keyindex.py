from hypothesis import given, settings
from hypothesis import strategies as st

from ftui.dataset.keyindex import KeyIndex

keys = st.integers(min_value=1, max_value=2**64 - 1)


@settings(max_examples=60)
@given(st.lists(st.tuples(keys, st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1)), max_size=3000))
def test_behaves_like_dict_setdefault(pairs: list[tuple[int, int]]) -> None:
    index = KeyIndex(capacity=4)  # small, so the table grows many times
    reference: dict[int, int] = {}
    for key, value in pairs:
        earlier = index.setdefault(key, value)
        if key in reference:
            assert earlier == reference[key]
        else:
            assert earlier is None
            reference[key] = value
    assert len(index) == len(reference)
    for key, value in reference.items():
        assert index.get(key) == value


def test_colliding_slots_keep_both_keys() -> None:
    index = KeyIndex(capacity=8)
    first, second = 8 * 3 + 5, 8 * 11 + 5  # same slot modulo the table size
    assert index.setdefault(first, 1) is None
    assert index.setdefault(second, 2) is None
    assert (index.get(first), index.get(second)) == (1, 2)
    assert index.get(8 * 7 + 5) is None


def test_line_numbers_beyond_32_bits_are_clamped_not_crashing() -> None:
    index = KeyIndex()
    index.setdefault(42, 2**40)
    assert index.get(42) == 2**31 - 1
