"""Field types every request model shares: bounded money, safe text, known currencies."""

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)

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


Amount = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT, description="Pence (minor units)")]
OptionalLimit = Annotated[int, Strict(), Field(ge=0, le=MAX_AMOUNT)]
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


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so nothing is set by mass assignment."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """A response body, built from rows or domain objects."""

    model_config = ConfigDict(from_attributes=True)


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null: leave the field out to keep its current value")
    return value


def not_null(*fields: str) -> Any:
    """A validator for PATCH models: these fields may be left out, but never sent as null."""
    return field_validator(*fields, mode="before")(_refuse_null)
