"""Field types every request model shares: bounded money, safe text, known currencies."""

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from service.models_base import OneBudgetModel

# The largest amount anyone may send: £10bn in pence, far below 2**63, so sums never overflow.
MAX_AMOUNT = 1_000_000_000_000

# Active ISO 4217 codes; a budget's currency must be one of them.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _known_currency(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code such as GBP")
    return value


# Repeated on a table's Field(...): SQLModel's Field sets description=None, which would win.
PENCE = "Pence (minor units)"

Amount = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT, description=PENCE)]
OptionalLimit = Annotated[int, Strict(), Field(ge=0, le=MAX_AMOUNT)]
PositiveLimit = Annotated[OptionalLimit, Field(gt=0)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_nul),
]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
]
Currency = Annotated[
    str, StringConstraints(min_length=3, max_length=3), AfterValidator(_known_currency)
]


def _no_default_in_schema(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable() -> Any:
    """A PATCH field that may be left out (None when it was) but is never sent as null.

    The field's type has no None, so `null` is refused with a 422 instead of reaching a
    NOT NULL column; read the body with `model_dump(exclude_unset=True)`.
    """
    return Field(default=None, json_schema_extra=_no_default_in_schema)


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so nothing is set by mass assignment."""

    model_config = ConfigDict(extra="forbid")


class SharedRequestModel(OneBudgetModel):
    """A request body sharing its fields with a table: unknown fields are refused too."""

    model_config = {"extra": "forbid"}


class ResponseModel(BaseModel):
    """A response body, built from rows or domain objects."""

    model_config = ConfigDict(from_attributes=True)
