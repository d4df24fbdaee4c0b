"""Tests for `simutrador.data.symbols`: table-driven normalization, rejections and Hypothesis properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simutrador.data.symbols import (
    CRYPTO_ASSETS,
    FIAT_CURRENCIES,
    MAX_SYMBOL_LENGTH,
    AssetClass,
    SymbolProblem,
    classify_symbol,
    normalize_symbol,
)

STOCK, FOREX, CRYPTO = AssetClass.STOCK, AssetClass.FOREX, AssetClass.CRYPTO

VALID: list[tuple[str, str, AssetClass]] = [
    # stocks
    ("AAPL", "AAPL", STOCK),
    ("aapl", "AAPL", STOCK),
    ("  msft\u0020", "MSFT", STOCK),
    ("F", "F", STOCK),
    ("BRK.B", "BRK.B", STOCK),
    ("brk.b", "BRK.B", STOCK),
    ("brk-b", "BRK.B", STOCK),
    ("BRK/B", "BRK.B", STOCK),
    ("BF.AB", "BF.AB", STOCK),
    ("X2", "X2", STOCK),
    # forex
    ("EUR/USD", "EUR/USD", FOREX),
    ("eurusd", "EUR/USD", FOREX),
    ("EUR-USD", "EUR/USD", FOREX),
    ("eur_usd", "EUR/USD", FOREX),
    (" gbp/jpy ", "GBP/JPY", FOREX),
    ("USDJPY", "USD/JPY", FOREX),
    # crypto
    ("BTC-USD", "BTC-USD", CRYPTO),
    ("btc/usd", "BTC-USD", CRYPTO),
    ("BTCUSD", "BTC-USD", CRYPTO),
    ("btc_usd", "BTC-USD", CRYPTO),
    ("ETHUSDT", "ETH-USDT", CRYPTO),
    ("eth/usdt", "ETH-USDT", CRYPTO),
    ("ETH/BTC", "ETH-BTC", CRYPTO),
    ("BTCEUR", "BTC-EUR", CRYPTO),
    ("MATICUSD", "MATIC-USD", CRYPTO),
    ("DOGEUSDT", "DOGE-USDT", CRYPTO),
    ("SOLUSDC", "SOL-USDC", CRYPTO),
    ("USDTUSD", "USDT-USD", CRYPTO),
]

INVALID: list[tuple[object, str]] = [
    ("", "empty"),
    (" ", "empty"),
    ("    ", "empty"),
    ("AA PL", "contains whitespace"),
    ("BRK B", "contains whitespace"),
    ("\x00", "contains control characters"),
    ("AAPL\x00", "contains control characters"),
    ("AA\nPL", "contains control characters"),
    ("AAPL\n", "contains control characters"),
    ("\tAAPL", "contains control characters"),
    ("AAPL\x7f", "contains control characters"),
    ("AAPL\u200b", "contains control characters"),
    ("A" * (MAX_SYMBOL_LENGTH + 1), f"longer than {MAX_SYMBOL_LENGTH} characters"),
    ("AAPL" + " " * MAX_SYMBOL_LENGTH, f"longer than {MAX_SYMBOL_LENGTH} characters"),
    ("ÄAPL", "contains non-ASCII characters"),
    ("AAPL€", "contains non-ASCII characters"),
    ("東証", "contains non-ASCII characters"),
    ("AAPL/USD", "not a recognised stock, forex or crypto symbol format"),
    ("EUR/EUR", "not a recognised stock, forex or crypto symbol format"),
    ("BTC-BTC", "not a recognised stock, forex or crypto symbol format"),
    ("123", "not a recognised stock, forex or crypto symbol format"),
    ("AAPL!", "not a recognised stock, forex or crypto symbol format"),
    ("TOOLONGTICKER", "not a recognised stock, forex or crypto symbol format"),
    ("BRK.BBB", "not a recognised stock, forex or crypto symbol format"),
    ("BRK.", "not a recognised stock, forex or crypto symbol format"),
    (".B", "not a recognised stock, forex or crypto symbol format"),
    ("EUR//USD", "not a recognised stock, forex or crypto symbol format"),
    ("-", "not a recognised stock, forex or crypto symbol format"),
]

NON_STRINGS: list[tuple[object, str, str]] = [
    (None, "<NoneType>", "NoneType"),
    (3, "<int>", "int"),
    (3.5, "<float>", "float"),
    (True, "<bool>", "bool"),
    (b"AAPL", "<bytes>", "bytes"),
    (bytearray(b"AAPL"), "<bytearray>", "bytearray"),
    (["AAPL"], "<list>", "list"),
    (("EUR", "USD"), "<tuple>", "tuple"),
    (Decimal("1"), "<Decimal>", "Decimal"),
]


@pytest.mark.parametrize(("raw", "canonical", "asset_class"), VALID, ids=[repr(v[0]) for v in VALID])
def test_valid_symbols_normalize(raw: str, canonical: str, asset_class: AssetClass) -> None:
    assert classify_symbol(raw) == (canonical, asset_class)
    assert normalize_symbol(raw) == canonical
    # The canonical spelling is a fixed point.
    assert classify_symbol(canonical) == (canonical, asset_class)


@pytest.mark.parametrize(("raw", "reason"), INVALID, ids=[repr(v[0]) for v in INVALID])
def test_malformed_symbols_are_reported(raw: str, reason: str) -> None:
    result = classify_symbol(raw)
    assert isinstance(result, SymbolProblem)
    assert result.reason == reason
    assert normalize_symbol(raw) == result


@pytest.mark.parametrize(("raw", "shown", "type_name"), NON_STRINGS, ids=[repr(v[0]) for v in NON_STRINGS])
def test_non_strings_are_reported_not_raised(raw: object, shown: str, type_name: str) -> None:
    result = classify_symbol(raw)
    assert result == SymbolProblem(shown, f"a symbol must be a string, got {type_name}")
    assert normalize_symbol(raw) == result


def test_a_non_string_is_described_by_its_type_never_its_repr() -> None:
    nested: object = "AAPL"
    for _ in range(100_000):  # its repr would recurse past the interpreter's limit
        nested = [nested]
    assert classify_symbol(nested) == SymbolProblem("<list>", "a symbol must be a string, got list")
    assert classify_symbol(10**5000) == SymbolProblem("<int>", "a symbol must be a string, got int")  # no str() either


def test_problem_shows_a_long_symbol_truncated() -> None:
    raw = "ABCDEFGHIJ" * 5
    assert classify_symbol(raw) == SymbolProblem(raw[:MAX_SYMBOL_LENGTH] + "...", "longer than 32 characters")


def test_problem_shows_control_characters_escaped() -> None:
    assert classify_symbol("AA\nPL\x00") == SymbolProblem("AA\\nPL\\x00", "contains control characters")
    assert classify_symbol("AAPL\x7f") == SymbolProblem("AAPL\\x7f", "contains control characters")


def test_problem_shows_the_input_as_given() -> None:
    assert classify_symbol(" aa pl ") == SymbolProblem(" aa pl ", "contains whitespace")
    assert classify_symbol("aapl/usd") == SymbolProblem(
        "aapl/usd", "not a recognised stock, forex or crypto symbol format"
    )


def test_length_limit_is_on_the_raw_input() -> None:
    exactly = " " * (MAX_SYMBOL_LENGTH - 4) + "AAPL"
    assert len(exactly) == MAX_SYMBOL_LENGTH
    assert classify_symbol(exactly) == ("AAPL", STOCK)
    over = " " + exactly
    result = classify_symbol(over)
    assert isinstance(result, SymbolProblem)
    assert result.reason == "longer than 32 characters"


def test_asset_class_wire_values() -> None:
    assert [c.value for c in AssetClass] == ["stock", "forex", "crypto"]


def test_currency_tables_do_not_overlap() -> None:
    # An overlap would make a pair both forex and crypto.
    assert not (FIAT_CURRENCIES & CRYPTO_ASSETS)
    assert all(code.isascii() and code.isupper() for code in FIAT_CURRENCIES | CRYPTO_ASSETS)


def test_problem_is_frozen() -> None:
    problem = SymbolProblem("x", "y")
    with pytest.raises(AttributeError):
        problem.reason = "z"  # type: ignore[misc]
    assert problem == SymbolProblem("x", "y")


@pytest.mark.parametrize(
    "raw", ["\xdf", "\xdf\xdf", "\u017fpy", "\u0131bm", "\ufb01", "a\xdf", "\uff21\uff21\uff30\uff2c"]
)
def test_non_ascii_that_upper_cases_to_ascii_is_refused(raw: str) -> None:
    # str.upper() maps these to ASCII ("\xdf" -> "SS", "\ufb01" -> "FI"); they must still be refused.
    assert classify_symbol(raw) == SymbolProblem(raw, "contains non-ASCII characters")


# --- properties -----------------------------------------------------------------------------------

SEPARATORS = st.sampled_from(["/", "-", "_", ""])
FIAT = st.sampled_from(sorted(FIAT_CURRENCIES))
CRYPTO_BASE = st.sampled_from(sorted(CRYPTO_ASSETS))
CRYPTO_QUOTE = st.sampled_from(sorted(FIAT_CURRENCIES | CRYPTO_ASSETS))
SYMBOLISH = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeusdtz0123456789./-_ ", max_size=14)


def _random_case(data: st.DataObject, text: str) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.lower() if flip else ch for ch, flip in zip(text, flips, strict=True))


@settings(deadline=None)
@given(st.text())
@example("")
@example("\x00")
@example("ß" * 40)
@example("\ud7ff")
def test_classify_never_raises_on_text(raw: str) -> None:
    result = classify_symbol(raw)
    if isinstance(result, SymbolProblem):
        assert isinstance(result.symbol, str)
        assert result.reason
    else:
        canonical, asset_class = result
        assert isinstance(asset_class, AssetClass)
        assert canonical
        assert canonical.isascii()
        assert canonical == canonical.upper()
        assert not any(ch.isspace() for ch in canonical)
    assert normalize_symbol(raw) == (result if isinstance(result, SymbolProblem) else result[0])


@settings(deadline=None)
@given(st.one_of(st.text(), SYMBOLISH))
@example("brk-b")
@example("eurusd")
@example("ETHUSDT")
def test_normalization_is_idempotent(raw: str) -> None:
    first = normalize_symbol(raw)
    if isinstance(first, str):
        assert normalize_symbol(first) == first
        assert classify_symbol(first) == classify_symbol(raw)


@settings(deadline=None)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.complex_numbers(),
        st.binary(),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
        st.builds(object),
    )
)
def test_classify_never_raises_on_non_strings(raw: object) -> None:
    result = classify_symbol(raw)
    assert isinstance(result, SymbolProblem)
    assert result.reason == f"a symbol must be a string, got {type(raw).__name__}"
    assert len(result.symbol) <= MAX_SYMBOL_LENGTH


@settings(deadline=None)
@given(st.from_type(type).flatmap(st.from_type))
def test_classify_never_raises_on_arbitrary_objects(raw: object) -> None:
    result = classify_symbol(raw)
    assert isinstance(result, (tuple, SymbolProblem))
    if not isinstance(raw, str):
        assert isinstance(result, SymbolProblem)


@settings(deadline=None)
@given(st.data(), FIAT, FIAT, SEPARATORS)
def test_any_spelling_of_a_forex_pair_is_canonical(data: st.DataObject, base: str, quote: str, sep: str) -> None:
    raw = _random_case(data, f"{base}{sep}{quote}")
    result = classify_symbol(raw)
    if base == quote:
        assert isinstance(result, SymbolProblem) or result[1] is STOCK
    else:
        assert result == (f"{base}/{quote}", FOREX)


@settings(deadline=None)
@given(st.data(), CRYPTO_BASE, CRYPTO_QUOTE, SEPARATORS)
def test_any_spelling_of_a_crypto_pair_is_canonical(data: st.DataObject, base: str, quote: str, sep: str) -> None:
    raw = _random_case(data, f"{base}{sep}{quote}")
    result = classify_symbol(raw)
    if base != quote:
        assert result == (f"{base}-{quote}", CRYPTO)


@settings(deadline=None)
@given(
    st.data(),
    st.from_regex(r"[A-Z][A-Z0-9]{0,4}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[A-Z]{1,2}", fullmatch=True)),
    st.sampled_from([".", "-", "/"]),
)
def test_any_spelling_of_a_ticker_is_canonical(
    data: st.DataObject, ticker: str, share_class: str | None, sep: str
) -> None:
    raw = ticker if share_class is None else f"{ticker}{sep}{share_class}"
    expected = ticker if share_class is None else f"{ticker}.{share_class}"
    assert classify_symbol(_random_case(data, raw)) == (expected, STOCK)
