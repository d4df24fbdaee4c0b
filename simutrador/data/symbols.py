"""Symbol normalization: one canonical spelling per instrument.

Rules (DESIGN §3): trim and upper-case; stocks stay as tickers with an optional
share-class suffix (``BRK.B``; ``BRK-B`` and ``BRK/B`` mean the same); forex pairs
``EUR/USD``, ``EURUSD`` and ``EUR-USD`` become ``EUR/USD``; crypto pairs
``BTC-USD``, ``BTC/USD`` and ``BTCUSD`` become ``BTC-USD``. Other exchange-traded
instruments are kept as written, upper-cased, and classed as stocks: numeric tickers
with an exchange suffix (``7203.T``, ``0700.HK``), futures and vendor codes with
``=`` (``ES=F``, ``GC=F``) and indices with ``^`` (``^GSPC``). Control characters,
whitespace inside the symbol, empty and over-long strings are refused.

The functions here are pure and never raise for any string input: malformed input
is reported as a `SymbolProblem`, so a validator can collect every problem at once.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Final

import attrs

__all__ = [
    "MAX_SYMBOL_LENGTH",
    "AssetClass",
    "SymbolProblem",
    "classify_symbol",
    "normalize_symbol",
]

MAX_SYMBOL_LENGTH: Final = 32
"""Longest symbol accepted, before normalization."""


class AssetClass(StrEnum):
    """What kind of instrument a symbol names."""

    STOCK = "stock"
    FOREX = "forex"
    CRYPTO = "crypto"


@attrs.frozen(slots=True)
class SymbolProblem:
    """Why a string is not a well-formed symbol.

    Attributes:
        symbol: The input as given (truncated for display when very long).
        reason: A short explanation.
    """

    symbol: str
    reason: str


FIAT_CURRENCIES: Final = frozenset(
    [
        "USD",
        "EUR",
        "JPY",
        "GBP",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SEK",
        "NOK",
        "DKK",
        "HKD",
        "SGD",
        "CNH",
        "MXN",
        "ZAR",
        "TRY",
        "PLN",
        "CZK",
        "HUF",
    ]
)
"""Currencies that make a pair a forex pair."""

CRYPTO_ASSETS: Final = frozenset(
    [
        "BTC",
        "ETH",
        "SOL",
        "XRP",
        "ADA",
        "DOGE",
        "DOT",
        "LTC",
        "AVAX",
        "LINK",
        "BCH",
        "XLM",
        "UNI",
        "ATOM",
        "MATIC",
        "TRX",
        "BNB",
        "USDT",
        "USDC",
        "DAI",
    ]
)
"""Crypto assets that make a pair a crypto pair (as base, or as quote for stablecoins)."""

_STOCK = re.compile(r"[A-Z][A-Z0-9]{0,5}(?:\.[A-Z]{1,2})?")
_CLASS_SUFFIX = re.compile(r"([A-Z][A-Z0-9]{0,5})[-/]([A-Z]{1,2})")
_PAIR_SEPARATED = re.compile(r"([A-Z0-9]{2,6})[/\-_]([A-Z0-9]{3,5})")
_PAIR_JOINED = re.compile(r"[A-Z0-9]{6,10}")
_OTHER_INSTRUMENT = re.compile(r"[0-9][A-Z0-9]{0,5}\.[A-Z]{1,3}|[A-Z0-9]{1,8}=[A-Z]|\^[A-Z0-9]{1,8}")
_QUOTES_BY_LENGTH: Final = tuple(sorted(FIAT_CURRENCIES | CRYPTO_ASSETS, key=len, reverse=True))


def _pair(base: str, quote: str) -> tuple[str, AssetClass] | None:
    if base in FIAT_CURRENCIES and quote in FIAT_CURRENCIES and base != quote:
        return f"{base}/{quote}", AssetClass.FOREX
    if base in CRYPTO_ASSETS and (quote in FIAT_CURRENCIES or quote in CRYPTO_ASSETS) and base != quote:
        return f"{base}-{quote}", AssetClass.CRYPTO
    return None


def classify_symbol(raw: object) -> tuple[str, AssetClass] | SymbolProblem:
    """Normalize `raw` and tell its asset class, or say why it is malformed.

    Args:
        raw: Anything; only strings can be symbols.

    Returns:
        ``(canonical, asset_class)``, or a `SymbolProblem`.

    Example:
        >>> classify_symbol(" eur-usd ")
        ('EUR/USD', <AssetClass.FOREX: 'forex'>)
        >>> classify_symbol("btcusd")
        ('BTC-USD', <AssetClass.CRYPTO: 'crypto'>)
    """
    if not isinstance(raw, str):  # described by its type: the repr of nested data can recurse or be huge
        kind = type(raw).__name__
        return SymbolProblem(f"<{kind}>"[:MAX_SYMBOL_LENGTH], f"a symbol must be a string, got {kind}")
    if len(raw) > MAX_SYMBOL_LENGTH:
        return SymbolProblem(raw[:MAX_SYMBOL_LENGTH] + "...", f"longer than {MAX_SYMBOL_LENGTH} characters")
    return _classify_text(raw)


@functools.lru_cache(maxsize=8192)
def _classify_text(raw: str) -> tuple[str, AssetClass] | SymbolProblem:
    """`classify_symbol` for strings of at most `MAX_SYMBOL_LENGTH` (pure, so cached)."""
    if not raw.isprintable():
        return SymbolProblem(
            raw.encode("unicode_escape", "backslashreplace").decode("ascii"), "contains control characters"
        )
    text = raw.strip()
    if not text:
        return SymbolProblem(raw, "empty")
    if any(ch.isspace() for ch in text):
        return SymbolProblem(raw, "contains whitespace")
    if not text.isascii():  # checked before upper(): "ﬁ".upper() is "FI"
        return SymbolProblem(raw, "contains non-ASCII characters")
    text = text.upper()
    if match := _PAIR_SEPARATED.fullmatch(text):
        pair = _pair(match.group(1), match.group(2))
        if pair is not None:
            return pair
    if _PAIR_JOINED.fullmatch(text):
        for quote in _QUOTES_BY_LENGTH:
            if text.endswith(quote):
                pair = _pair(text[: -len(quote)], quote)
                if pair is not None:
                    return pair
    if _STOCK.fullmatch(text):
        return text, AssetClass.STOCK
    if match := _CLASS_SUFFIX.fullmatch(text):
        return f"{match.group(1)}.{match.group(2)}", AssetClass.STOCK
    if _OTHER_INSTRUMENT.fullmatch(text):
        return text, AssetClass.STOCK
    return SymbolProblem(raw, "not a recognised stock, forex or crypto symbol format")


def normalize_symbol(raw: object) -> str | SymbolProblem:
    """The canonical spelling of `raw`, or why it is malformed. Idempotent on success."""
    result = classify_symbol(raw)
    return result if isinstance(result, SymbolProblem) else result[0]
