"""`Prefer`, `Accept` and `Range` headers."""

from __future__ import annotations

import pytest

from backstack.core.errors import NotAcceptable, RangeNotSatisfiable
from backstack.rest.request.parse import parse_accept, parse_prefer, parse_range
from backstack.rest.request.query import Accept, Preferences, Range

# ---------------------------------------------------------------- Prefer


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], Preferences()),
        ([""], Preferences()),
        (["return=representation"], Preferences(return_="representation")),
        (["return=minimal"], Preferences(return_="minimal")),
        (["return=headers-only"], Preferences(return_="headers-only")),
        (["count=exact"], Preferences(count="exact")),
        (["count=planned"], Preferences(count="planned")),
        (["count=estimated"], Preferences(count="estimated")),
        (["resolution=merge-duplicates"], Preferences(resolution="merge-duplicates")),
        (["resolution=ignore-duplicates"], Preferences(resolution="ignore-duplicates")),
        (["missing=default"], Preferences(missing="default")),
        (["missing=null"], Preferences(missing="null")),
        (["tx=rollback"], Preferences(tx="rollback")),
        (["tx=commit"], Preferences(tx="commit")),
        (["handling=strict"], Preferences(handling="strict")),
        (["handling=lenient"], Preferences(handling="lenient")),
        (["max-affected=5"], Preferences(max_affected=5)),
        (["timezone=America/Los_Angeles"], Preferences(timezone="America/Los_Angeles")),
        (["params=single-object"], Preferences(params="single-object")),
        # JS Headers.append joins with ", "; py joins with ","
        (["return=representation, count=exact"], Preferences(return_="representation", count="exact")),
        (["return=representation,count=exact"], Preferences(return_="representation", count="exact")),
        (["return=representation", "count=exact"], Preferences(return_="representation", count="exact")),
        (["  return=minimal ,  , count=exact  "], Preferences(return_="minimal", count="exact")),
        # py rewrites return= and may send it twice: the last one wins
        (["return=minimal,return=representation"], Preferences(return_="representation")),
        (["return=minimal", "return=representation"], Preferences(return_="representation")),
        (
            ["resolution=ignore-duplicates,missing=default,return=representation"],
            Preferences(return_="representation", resolution="ignore-duplicates", missing="default"),
        ),
        (
            ["return=representation,count=exact,handling=strict,max-affected=3"],
            Preferences(return_="representation", count="exact", handling="strict", max_affected=3),
        ),
        (["anything", "return=bogus"], Preferences(invalid=("anything", "return=bogus"))),
        (["max-affected=-1,max-affected=x"], Preferences(invalid=("max-affected=-1", "max-affected=x"))),
        (["Return=minimal"], Preferences(invalid=("Return=minimal",))),
        (["timezone="], Preferences(invalid=("timezone=",))),
    ],
)
def test_prefer(headers: list[str], expected: Preferences) -> None:
    assert parse_prefer(headers) == expected


def test_prefer_applied_echo() -> None:
    prefs = parse_prefer(["return=representation, count=exact, bogus"])
    assert prefs.applied() == "return=representation, count=exact"
    assert prefs.invalid == ("bogus",)


# ---------------------------------------------------------------- Accept


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Accept("json")),
        ("", Accept("json")),
        ("application/json", Accept("json")),
        ("application/json; charset=utf-8", Accept("json")),
        ("APPLICATION/JSON", Accept("json")),
        ("*/*", Accept("json")),
        ("application/*", Accept("json")),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Accept("json")),
        ("application/vnd.pgrst.object+json", Accept("object")),
        ("application/vnd.pgrst.object", Accept("object")),
        ("application/vnd.pgrst.object+json;nulls=stripped", Accept("object", strip_nulls=True)),
        ("application/vnd.pgrst.object+json; nulls=stripped", Accept("object", strip_nulls=True)),
        ("application/vnd.pgrst.array+json;nulls=stripped", Accept("json", strip_nulls=True)),
        ("application/vnd.pgrst.array+json", Accept("json")),
        ("application/vnd.pgrst.array", Accept("json")),
        ("text/csv", Accept("csv")),
        ("application/openapi+json", Accept("openapi")),
        ("text/plain, text/csv", Accept("csv")),
        ("text/csv;q=0.5, application/json", Accept("json")),
        ("application/json;q=0, text/csv", Accept("csv")),
        ("application/json;q=0.2, application/vnd.pgrst.object+json;q=0.9", Accept("object")),
        ("text/csv;q=abc", Accept("csv")),
    ],
)
def test_accept(header: str | None, expected: Accept) -> None:
    assert parse_accept(header) == expected


@pytest.mark.parametrize(
    ("header", "listed"),
    [
        ("text/html", "text/html"),
        ("application/geo+json", "application/geo+json"),
        ("application/vnd.pgrst.plan+json", "application/vnd.pgrst.plan+json"),
        ("text/plain, image/png", "text/plain, image/png"),
        ("application/json;q=0", "application/json;q=0"),
    ],
)
def test_unavailable_media_type(header: str, listed: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        parse_accept(header)
    error = caught.value
    assert (error.status, error.code) == (406, "PGRST107")
    assert error.message == f"None of these media types are available: {listed}"


# ---------------------------------------------------------------- Range


@pytest.mark.parametrize(
    ("header", "unit", "expected"),
    [
        (None, None, None),
        ("0-24", None, Range(0, 24)),
        ("0-24", "items", Range(0, 24)),
        ("0-24", "Items", Range(0, 24)),
        ("10-", "items", Range(10, None)),
        ("5-5", None, Range(5, 5)),
        (" 0-9 ", None, Range(0, 9)),
        ("0-24", "bytes", None),
        ("items=0-24", None, None),
        ("-5", None, None),
        ("a-b", None, None),
        ("", None, None),
        ("9" * 30 + "-", None, Range(2**63 - 1, None)),
    ],
)
def test_range(header: str | None, unit: str | None, expected: Range | None) -> None:
    assert parse_range(header, unit) == expected


def test_range_lower_above_upper_is_416() -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range("5-2", "items")
    error = caught.value
    assert (error.status, error.code, error.message) == (416, "PGRST103", "Requested range not satisfiable")
    assert error.details == (
        "The lower boundary must be lower than or equal to the upper boundary in the Range header."
    )
