"""routing: the most specific rule wins; ids are checked; foreign containers are not ours."""

from ingest_core.routing import RoutingRule, match_rule, valid_collection_id, watches_container

RULES = [
    RoutingRule(container="catalogs"),
    RoutingRule(container="catalogs", prefix="naip/", collection="naip-{folder}", collectionPolicy="require"),
    RoutingRule(account="other", container="drops", collection="fixed"),
]


def test_longest_prefix_wins():
    assert match_rule(RULES, "acct", "catalogs", "naip/2021/catalog.json") is RULES[1]
    assert match_rule(RULES, "acct", "catalogs", "s2/catalog.json") is RULES[0]


def test_account_restriction():
    assert match_rule(RULES, "acct", "drops", "x/catalog.json") is None
    assert match_rule(RULES, "OTHER", "drops", "x/catalog.json") is RULES[2]
    assert not watches_container(RULES, "acct", "drops")
    assert watches_container(RULES, "acct", "catalogs")


def test_collection_template():
    assert RULES[0].collection_id("a/b/catalog.json", "my-cat") == "my-cat"
    assert RULES[1].collection_id("naip/2021/catalog.json", "x") == "naip-naip"


def test_collection_id_validation():
    assert valid_collection_id("demo-landcover")
    assert not valid_collection_id("ab")
    assert not valid_collection_id("has space")
    assert not valid_collection_id("x" * 33)
