"""The Graph list options the emulator accepts, refuses and pages with (docs/contracts.md §1.7), and the
order-ignoring arrangement.

The documented options are "$count, $filter, $skip, $top" plus $expand on incidents, with @odata.nextLink paging
(https://learn.microsoft.com/graph/api/security-list-alerts_v2, https://learn.microsoft.com/graph/api/security-list-incidents).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from emulator.defender.ordering import OrderMode
from emulator.graph.errors import GraphError
from emulator.graph.incidents import INCIDENT_RULES
from emulator.graph.query import ListRules, decode_skiptoken, encode_skiptoken, page_of, parse_entity, parse_list
from emulator.graph.routes import ALERT_RULES

BASE = "https://graph.microsoft.com/v1.0/security/alerts_v2"


def _query(**options: str) -> MultiDict[str]:
    return MultiDict({f"${name}": value for name, value in options.items()})


def _refusal(query: MultiDict[str], *, rules: ListRules = ALERT_RULES) -> str:
    with pytest.raises(GraphError) as caught:
        parse_list(query, rules, max_top=2000)
    assert (caught.value.status, caught.value.code) == (400, "BadRequest")
    return caught.value.message


@given(st.integers(min_value=0, max_value=10**12))
def test_a_skiptoken_round_trips_any_offset(offset: int) -> None:
    assert decode_skiptoken(encode_skiptoken(offset)) == offset


@pytest.mark.parametrize("token", ["", "abc", encode_skiptoken(0)[:-2] + "!!", "eyJvIjogLTF9"])
def test_a_forged_skiptoken_is_a_400(token: str) -> None:
    # "eyJvIjogLTF9" is {"o": -1}: well-formed, but no offset a page could have handed out
    assert _refusal(MultiDict({"$skiptoken": token})) == "The $skiptoken value is not valid."


@pytest.mark.parametrize(
    ("option", "name"),
    [("orderby", "OrderBy"), ("select", "Select"), ("search", "Search"), ("expand", "Expand"), ("format", "Format")],
)
def test_undocumented_system_options_are_refused_by_name(option: str, name: str) -> None:
    assert _refusal(_query(**{option: "x"})).startswith(f"Query option '{name}' is not allowed.")


def test_incidents_allow_expand_alerts_only_and_get_by_id_allows_expand_only() -> None:
    assert parse_list(_query(expand="alerts"), INCIDENT_RULES, max_top=50).expand == frozenset({"alerts"})
    assert "Could not find a property named 'comments'" in _refusal(_query(expand="comments"), rules=INCIDENT_RULES)
    assert parse_entity(_query(expand="Alerts"), INCIDENT_RULES) == frozenset({"alerts"})
    with pytest.raises(GraphError, match="Query option 'Top' is not allowed"):
        parse_entity(_query(top="1"), INCIDENT_RULES)


def test_unknown_dollar_parameters_are_refused_and_others_ignored() -> None:
    assert _refusal(MultiDict({"$bogus": "1"})) == "The query parameter '$bogus' is not supported."
    assert parse_list(MultiDict({"api-version": "x"}), ALERT_RULES, max_top=2000).offset == 0


def test_filter_top_and_count_errors_name_the_problem() -> None:
    assert _refusal(_query(filter="severity eq")).startswith("Invalid filter clause:")
    assert _refusal(_query(filter="serviceSource eq 'x'"), rules=INCIDENT_RULES).startswith("Invalid filter clause:")
    assert "The limit of '2000' for Top query" in _refusal(_query(top="2001"))
    assert "'$count' query parameter value 'maybe' is not valid" in _refusal(_query(count="maybe"))


def test_pages_follow_top_and_link_on_with_a_skiptoken_keeping_the_options() -> None:
    query = _query(filter="status eq 'new'", top="3", count="true", skip="2")
    parsed = parse_list(query, ALERT_RULES, max_top=2000)
    page = page_of(list(range(10)), parsed, page_size=2000, next_base=BASE, query=query)
    # $top is the page size, the offset starts at $skip, and the link replaces $skip by a $skiptoken
    assert page.items == [2, 3, 4]
    assert page.next_link is not None
    link = urlsplit(page.next_link)
    params = parse_qs(link.query)
    assert f"{link.scheme}://{link.netloc}{link.path}" == BASE
    assert params["$filter"] == ["status eq 'new'"]
    assert params["$top"] == ["3"]
    assert "$skip" not in params
    following = parse_list(MultiDict((k, v[0]) for k, v in params.items()), ALERT_RULES, max_top=2000)
    assert page_of(list(range(10)), following, page_size=2000, next_base=BASE, query=query).items == [5, 6, 7]
    # the server's page size caps a larger $top; the last page has no link
    capped = page_of(list(range(10)), parse_list(_query(top="9"), ALERT_RULES, max_top=2000), page_size=4,
                     next_base=BASE, query=_query(top="9"))  # fmt: skip
    assert capped.items == [0, 1, 2, 3]
    last = page_of(list(range(10)), parse_list(_query(skip="8"), ALERT_RULES, max_top=2000), page_size=4,
                   next_base=BASE, query=_query(skip="8"))  # fmt: skip
    assert (last.items, last.next_link) == ([8, 9], None)


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=40), st.integers())
def test_the_arbitrary_order_is_a_stable_permutation(ids: list[str], seed: int) -> None:
    mode = OrderMode(ignore_order=True, seed=seed)
    arranged = mode.arrange(ids, lambda item: item)
    assert sorted(arranged) == sorted(ids)
    # stable: the same items give the same order, and an item added later does not reorder the others
    assert mode.arrange(list(reversed(ids)), lambda item: item) == arranged
    extra = mode.arrange([*ids, "\x00new"], lambda item: item)
    assert [item for item in extra if item != "\x00new"] == arranged
