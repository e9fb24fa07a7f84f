"""The evaluator refuses hostile rules with a clear error instead of crashing or hanging."""

from __future__ import annotations

import pytest

from forms import jsonlogic


def nested(depth: int) -> object:
    rule: object = 1
    for _ in range(depth):
        rule = {"+": [rule, 1]}
    return rule


def test_rule_at_the_depth_limit_evaluates() -> None:
    assert jsonlogic.apply(nested(jsonlogic.MAX_DEPTH // 2), None) == jsonlogic.MAX_DEPTH // 2 + 1


@pytest.mark.parametrize("depth", [jsonlogic.MAX_DEPTH + 1, 5_000, 100_000])
def test_deeply_nested_rule_is_refused(depth: int) -> None:
    with pytest.raises(jsonlogic.RuleError) as caught:
        jsonlogic.apply(nested(depth), None)
    assert caught.value.code == "rule_too_deep"
    assert "sâu" in caught.value.vi and "deeply" in caught.value.en


def test_check_rule_reports_depth_without_recursing() -> None:
    problems = jsonlogic.check_rule(nested(100_000))
    assert [code for _, code, _, _ in problems] == ["rule_too_deep"]


def test_quadratic_rule_is_stopped_by_the_work_limit(monkeypatch) -> None:
    # Each step merges the accumulator again: 10,000 items would copy 50 million.
    rule = {"reduce": [{"var": "xs"}, {"merge": [{"var": "accumulator"}, [1]]}, []]}
    merge, copied = jsonlogic.STANDARD_OPERATORS["merge"], [0]

    def counted_merge(*args: object) -> list:
        result = merge(*args)
        copied[0] += len(result)
        return result
    monkeypatch.setitem(jsonlogic.STANDARD_OPERATORS, "merge", counted_merge)
    with pytest.raises(jsonlogic.RuleError) as caught:
        jsonlogic.apply(rule, {"xs": list(range(10_000))})
    assert caught.value.code == "rule_too_costly"
    # A long result costs a step per 64 items: the limit bounds the copying.
    assert 0 < copied[0] <= 64 * jsonlogic.MAX_STEPS < 50_000_000 // 2


def test_exponential_string_growth_is_stopped() -> None:
    rule: object = "ab"
    for _ in range(40):
        rule = {"cat": [rule, rule]}
    with pytest.raises(jsonlogic.RuleError):
        jsonlogic.apply(rule, None)


def test_ordinary_work_over_many_rows_is_allowed() -> None:
    rule = {"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
    assert jsonlogic.apply(rule, {"xs": list(range(1_000))}) == 499_500


def test_unknown_operators_are_reported_with_their_path() -> None:
    rule = {"and": [{"==": [1, 1]}, {"if": [{"eval": ["x"]}, {"log": 1}, {"Math.abs": [-1]}]}]}
    problems = jsonlogic.check_rule(rule)
    assert sorted((path, code) for path, code, _, _ in problems) == [
        (".and[1].if[0].eval", "unknown_operator"),
        (".and[1].if[1].log", "unknown_operator"),
        (".and[1].if[2].Math.abs", "unknown_operator"),
    ]


def test_unknown_operator_at_run_time_is_a_rule_error() -> None:
    with pytest.raises(jsonlogic.RuleError) as caught:
        jsonlogic.apply({"eval": ["import os"]}, None)
    assert caught.value.code == "unknown_operator"


def test_apply_returns_none_for_undefined_and_evaluate_keeps_it() -> None:
    assert jsonlogic.apply({"and": []}) is None
    assert jsonlogic.evaluate({"and": []}) is jsonlogic.UNDEFINED


def test_prototype_names_find_nothing() -> None:
    assert jsonlogic.apply({"var": "constructor"}, {}) is None
    assert jsonlogic.apply({"var": "a.toString"}, {"a": {}}) is None


def test_variables_lists_the_fields_a_rule_reads() -> None:
    rule = {"and": [{"var": "consent"}, {"missing": ["age", "members.0.name"]},
                    {"some": [{"var": "members"}, {"==": [{"var": "age"}, 1]}]},
                    {"missing_some": [1, ["k1", "k2"]]}, {"var": {"cat": ["a", "b"]}}]}
    assert jsonlogic.variables(rule) == {"consent", "age", "members", "k1", "k2"}


def shared_subtrees() -> dict:
    """Built in Python, a rule can share subtrees: 2**30 nodes in 31 objects."""
    rule: dict = {"var": "t"}
    for _ in range(30):
        rule = {"cat": [rule, rule]}
    return rule


def test_rule_sharing_subtrees_is_refused_before_walking_them_all(count_calls) -> None:
    rule = shared_subtrees()
    limit = 2 * (jsonlogic.MAX_RULE_NODES + 1)  # of the rule's 2**31 nodes
    looked_at = count_calls(jsonlogic, "is_logic", limit)  # once per node walked
    problems = jsonlogic.check_rule(rule)
    assert [code for _, code, _, _ in problems] == ["rule_too_large"]
    assert jsonlogic.variables(rule) == {"t"}
    assert 0 < looked_at[0] <= limit
