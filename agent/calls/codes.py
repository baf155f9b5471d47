"""Standard codes for things a request names: the IANA time zone of a place, the ISO 4217
code of a currency.

APIs rarely take "New York" for a time zone or "US dollars" for a currency; they take
`America/New_York` and `USD`. Those are not values the request states word for word, and
not values a model should invent either: they are looked up in the standard tables, which
ship with the packages (`tzdata`'s zone tables, `pycountry`'s currencies), so the lookup
runs offline and says nothing it cannot back. A place the tables do not know ("San Diego"
is in America/Los_Angeles, but no table says so) gets no code, and the argument stays
ungrounded rather than guessed.

`timezone_codes(request)` and `currency_codes(request)` give each code with where the
request names it; `named_codes(request)` is every code, for the verifier's grounding.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

_CONTINENTS = ("Africa", "America", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
# Words of currency names that are everyday English: a request that says "real-time" or
# "the rand" names no currency by them.
_COMMON_WORDS = frozenset({"real", "rand", "gold", "silver", "unit", "mark", "new", "special"})
# ISO 4217's X codes are metals, funds and test codes, except these regional currencies.
_REGIONAL_X = frozenset({"XAF", "XCD", "XOF", "XPF"})
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class NamedCode:
    """A standard code and the stretch of the request that names what it stands for."""

    code: str
    start: int
    end: int


def timezone_codes(request: str) -> list[NamedCode]:
    """The IANA zone of every place the request names that has one: a zone's own city
    ("Tokyo", "New York City") or a country with a single zone ("Japan")."""
    cities, countries = _zone_tables()
    words = list(_WORD.finditer(request))
    found: dict[str, NamedCode] = {}
    for i in range(len(words)):
        for length in (4, 3, 2, 1):  # the longest name first: "New York" before "York"
            if i + length > len(words) or not words[i].group(0)[0].isupper():
                continue
            start, end = words[i].start(), words[i + length - 1].end()
            key = _key(request[start:end])
            if key.endswith(" city") and key not in cities:
                key = key[: -len(" city")]
            zone = cities.get(key) or countries.get(key)
            if zone is not None:
                found.setdefault(zone, NamedCode(zone, start, end))
                break
    return sorted(found.values(), key=lambda named: named.start)


def currency_codes(request: str) -> list[NamedCode]:
    """The ISO 4217 code of every currency the request names: by its name ("US dollars",
    "Swiss francs", "euros"), by a word of its name that no other currency uses ("yuan"),
    or by its code ("EUR")."""
    names, unique_words, codes = _currency_tables()
    words = list(_WORD.finditer(request))
    found: dict[str, NamedCode] = {}
    taken: set[int] = set()
    for length in (3, 2, 1):
        for i in range(len(words) - length + 1):
            if taken & set(range(i, i + length)):
                continue
            start, end = words[i].start(), words[i + length - 1].end()
            text = request[start:end]
            key = _key(text)
            code = names.get(key) or (unique_words.get(key) if length == 1 else None)
            if code is None and length == 1 and text.isupper() and text in codes:
                code = text
            if code is not None:
                found.setdefault(code, NamedCode(code, start, end))
                taken |= set(range(i, i + length))
    return sorted(found.values(), key=lambda named: named.start)


def named_codes(request: str) -> frozenset[str]:
    """Every standard code of something the request names."""
    return frozenset(n.code for n in [*timezone_codes(request), *currency_codes(request)])


def _key(text: str) -> str:
    """Lower case, one space between words, a plural `s` taken off each ("euros")."""
    words = re.findall(r"[a-z]+", text.lower())
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


@functools.cache
def _zone_tables() -> tuple[dict[str, str], dict[str, str]]:
    """(city → zone, country name → zone for countries with one zone), from tzdata's
    `zone1970.tab` and `iso3166.tab`."""
    tables = resources.files("tzdata").joinpath("zoneinfo")
    country_names = {}
    for line in tables.joinpath("iso3166.tab").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t")[:2]
            country_names[code] = _key(name)
    cities: dict[str, str] = {}
    zones_of: dict[str, list[str]] = {}
    for line in tables.joinpath("zone1970.tab").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        country_list, _, zone = line.split("\t")[:3]
        if zone.split("/")[0] not in _CONTINENTS:
            continue
        cities.setdefault(_key(zone.rsplit("/", 1)[-1].replace("_", " ")), zone)
        for country in country_list.split(","):
            zones_of.setdefault(country, []).append(zone)
    countries = {
        country_names[code]: zones[0]
        for code, zones in zones_of.items()
        if len(zones) == 1 and code in country_names
    }
    return cities, countries


@functools.cache
def _currency_tables() -> tuple[dict[str, str], dict[str, str], frozenset[str]]:
    """(name → code, distinctive word → code, every code), from pycountry."""
    import pycountry

    currencies = [
        c for c in pycountry.currencies if not c.alpha_3.startswith("X") or c.alpha_3 in _REGIONAL_X
    ]
    names = {_key(c.name): c.alpha_3 for c in currencies}
    users: dict[str, set[str]] = {}
    for currency in currencies:
        for word in _key(currency.name).split():
            users.setdefault(word, set()).add(currency.alpha_3)
    unique_words = {
        word: next(iter(codes))
        for word, codes in users.items()
        if len(codes) == 1 and len(word) > 3 and word not in _COMMON_WORDS and word not in names
    }
    return names, unique_words, frozenset(c.alpha_3 for c in currencies)
