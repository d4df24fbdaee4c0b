"""What the user's own catalogs (folders, DataFrames) report about each instrument.

`InstrumentDefaults` holds the per-catalog settings a user may give (timezone,
exchange, asset class, currency, price increment, lot size), checked once;
`InstrumentDefaults.describe` turns a symbol and its held ranges into the
`SymbolInfo` the catalog serves. Defaults by asset class: market ``US``/``FOREX``/
``CRYPTO``; lot size 1 (stocks, forex) or 0.00000001 (crypto); a price increment
that is the finest the data uses, and at least 0.01 (stocks), 0.00001 (forex) or
0.00000001 (crypto); pairs are quoted in their second currency, stocks in
`currency` (USD unless told).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import attrs

from simutrador.data.catalog import SymbolInfo
from simutrador.data.resample import trading_zone
from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import TIMEFRAMES
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import ParseError, parse_money
from simutrador.sessions.models import DataRange

__all__ = ["InstrumentDefaults"]

_MARKETS: Final[Mapping[AssetClass, str]] = {
    AssetClass.STOCK: "US",
    AssetClass.FOREX: "FOREX",
    AssetClass.CRYPTO: "CRYPTO",
}
_DECIMALS: Final[Mapping[AssetClass, int]] = {AssetClass.STOCK: 2, AssetClass.FOREX: 5, AssetClass.CRYPTO: 8}
_LOT_SIZES: Final[Mapping[AssetClass, Decimal]] = {
    AssetClass.STOCK: Decimal(1),
    AssetClass.FOREX: Decimal(1),
    AssetClass.CRYPTO: Decimal("0.00000001"),
}


def _refuse(field: str, message: str) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, f"{field}: {message}", {"fields": [field]})


def _positive(field: str, value: Decimal | str | int | None) -> Decimal | None:
    if value is None:
        return None
    try:
        parsed = parse_money(value)
    except ParseError as exc:
        raise _refuse(field, str(exc)) from None
    if parsed <= 0:
        raise _refuse(field, "must be above zero")
    return parsed


@attrs.frozen(kw_only=True, slots=True)
class InstrumentDefaults:
    """Per-catalog settings for the user's instruments, checked (build with `create`).

    Attributes:
        timezone: IANA zone name of naive times and trading days.
        zone: The `tzinfo` of `timezone`.
        exchange: The market every symbol is reported on, or None (by asset class).
        asset_class: The asset class of every symbol, or None (from its spelling).
        currency: The quote currency of stocks.
        price_increment: The tick size, or None (inferred from the data).
        lot_size: The smallest quantity step, or None (by asset class).
    """

    timezone: str = "UTC"
    zone: tzinfo = UTC
    exchange: str | None = None
    asset_class: AssetClass | None = None
    currency: str = "USD"
    price_increment: Decimal | None = None
    lot_size: Decimal | None = None

    @classmethod
    def create(  # noqa: PLR0917
        cls,
        timezone: str = "UTC",
        exchange: str | None = None,
        asset_class: AssetClass | str | None = None,
        currency: str = "USD",
        price_increment: Decimal | str | int | None = None,
        lot_size: Decimal | str | int | None = None,
    ) -> InstrumentDefaults:
        """Check and normalize the settings.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` naming the bad setting.
        """
        try:
            zone = trading_zone(timezone)
        except (ValueError, KeyError):
            raise _refuse("timezone", f"unknown IANA zone {timezone!r}") from None
        try:
            klass = AssetClass(asset_class) if asset_class is not None else None
        except ValueError:
            raise _refuse("asset_class", f"{asset_class!r} is not one of stock, forex, crypto") from None
        if not (isinstance(currency, str) and currency.isalpha() and 2 <= len(currency) <= 5):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise _refuse("currency", f"{currency!r} is not a currency code such as USD")
        return cls(
            timezone="UTC" if zone is UTC else timezone,
            zone=zone,
            exchange=exchange.strip().upper() or None if exchange else None,
            asset_class=klass,
            currency=currency.upper(),
            price_increment=_positive("price_increment", price_increment),
            lot_size=_positive("lot_size", lot_size),
        )

    def key(self) -> str:
        """The settings as text, for fingerprints."""
        return repr(
            (self.timezone, self.exchange, self.asset_class, self.currency, self.price_increment, self.lot_size)
        )

    def describe(
        self, symbol: str, spelled_class: AssetClass, ranges: Mapping[str, DataRange], decimals: int
    ) -> SymbolInfo:
        """The `SymbolInfo` of canonical `symbol`, whose data needs `decimals` decimal places."""
        klass = self.asset_class or spelled_class
        pair = next((symbol.split(separator)[1] for separator in ("/", "-") if separator in symbol), None)
        return SymbolInfo(
            symbol=symbol,
            asset_class=klass,
            market=self.exchange or _MARKETS[klass],
            ranges=MappingProxyType(dict(sorted(ranges.items(), key=lambda item: TIMEFRAMES[item[0]].rank))),
            price_increment=self.increment(klass, decimals),
            lot_size=self.lot_size or _LOT_SIZES[klass],
            currency=pair or self.currency,
            timezone=self.timezone,
        )

    def increment(self, asset_class: AssetClass, decimals: int) -> Decimal:
        """The tick size for data needing `decimals` places: the setting, else inferred."""
        return self.price_increment or Decimal(1).scaleb(-max(decimals, _DECIMALS[asset_class]))
