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


def test_folder_of_a_catalog_at_the_container_root_is_its_file_stem():
    rule = RoutingRule(container="catalogs", collection="c-{folder}-{catalog_id}")
    assert rule.collection_id("landcover.json", "x") == "c-landcover-x"
    assert rule.collection_id("a/b/catalog.json", "x") == "c-a-x"


def test_a_rule_without_an_account_watches_that_container_in_any_account():
    rules = [RoutingRule(container="catalogs", prefix="p/")]
    assert watches_container(rules, "any", "catalogs") and not watches_container(rules, "any", "other")
    assert match_rule(rules, "ANY", "catalogs", "p/x/catalog.json") is rules[0]
    assert match_rule(rules, "any", "catalogs", "q/x/catalog.json") is None
    assert watches_container([RoutingRule(account="Other", container="drops")], "OTHER", "drops")
