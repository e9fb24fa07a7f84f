"""A compiled rule gives exactly what the interpreter gives: values, errors, work limits.

Every comparison runs a rule both ways at every work limit from 0 steps up
to the one the interpreter needs, so a step charged early or late, or an
error raised in another order, shows as a difference, as does a value that
differs in type, sign of zero, NaN or undefined.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import jsonlogic
from tests.forms.test_jsonlogic_guards import nested, shared_subtrees

MAX_LIMITS = 400  # work limits tried below the one a rule needs; random rules need fewer


def exact(value: Any) -> Any:
    """A value made comparable with ==, keeping what == would blur (1 vs 1.0 vs True, -0.0)."""
    if value is jsonlogic.UNDEFINED:
        return ("undefined",)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    if isinstance(value, (bool, int, str)) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, list):
        return ("list", [exact(item) for item in value])
    if isinstance(value, dict):
        return ("dict", sorted((str(key), exact(item)) for key, item in value.items()))
    raise TypeError(f"cannot compare {value!r}")


def outcome(evaluate: Any, *args: Any) -> tuple:
    try:
        return ("value", exact(evaluate(*args)))
    except jsonlogic.RuleError as error:
        return ("RuleError", error.code, error.vi, error.en)
    except Exception as error:  # whatever the interpreter lets through must match too
        return (type(error).__name__,)


def differences(rule: Any, data: Any) -> list[str]:
    """Work limits at which compiled and interpreted evaluation of rule on data differ."""
    compiled = jsonlogic.compile_rule(rule)
    found = []
    for limit in [*range(MAX_LIMITS), jsonlogic.MAX_STEPS]:
        interpreted = outcome(jsonlogic.evaluate, rule, data, limit)
        got = outcome(compiled.evaluate, data, limit)
        if got != interpreted:
            found.append(f"limit {limit}: compiled {got}, interpreted {interpreted}")
        if interpreted[:2] != ("RuleError", "rule_too_costly"):
            break  # a limit this high changes nothing more, but for MAX_STEPS itself
    if outcome(compiled.apply, data) != outcome(jsonlogic.apply, rule, data):
        found.append("apply differs")
    return found


def test_the_vector_files_give_the_same_results_compiled(parity) -> None:
    cases = parity.cases("jsonlogic-official-tests.json") + parity.cases("sotay-vectors.json")
    assert len(cases) > 2000
    wrong = [(case[:2], diff) for case in cases if (diff := differences(case[0], case[1]))]
    assert wrong == []


def test_the_comparison_notices_a_difference(monkeypatch) -> None:
    # A compiled `==` that is strict where the interpreter is loose must be caught.
    rule = {"==": [{"var": "a"}, "1"]}
    assert differences(rule, {"a": 1}) == []
    monkeypatch.setitem(jsonlogic.STANDARD_OPERATORS, "==", jsonlogic.strict_equals)
    compiled = jsonlogic.compile_rule(rule)
    monkeypatch.undo()
    assert compiled.apply({"a": 1}) is False and jsonlogic.apply(rule, {"a": 1}) is True


# ---------------------------------------------------------------- random rules

NAMES = ["a", "b", "s", "n", "xs", "d", "d.e", "xs.0", "xs.length", "s.1", "a.b.c", "",
         "current", "accumulator", "nope"]
OPERATORS = sorted(jsonlogic.KNOWN_OPERATORS - {"today"}) + ["nope", "Math.abs", "eval"]
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**53, 2**60),
    st.sampled_from([0.5, -0.0, 1e21, -1e-7, math.nan, math.inf, -math.inf]),
    st.sampled_from(["", "0", "1", " 2 ", "a", "0x1f", "1e3", "yes", "Việt", "x" * 70]),
    st.sampled_from(NAMES),
)
VARS = st.one_of(
    st.builds(lambda path: {"var": path}, st.sampled_from(NAMES)),
    st.builds(lambda path, default: {"var": [path, default]}, st.sampled_from(NAMES), LEAVES),
)


def nest(rule: Any, depth: int, wrapper: str) -> Any:
    """rule under `depth` levels: reached always (!!, list) or only when `a` is truthy (if)."""
    for _ in range(depth):
        if wrapper == "if":
            rule = {"if": [{"var": "a"}, rule, 0]}
        elif wrapper == "list":
            rule = [rule]
        else:
            rule = {"!!": [rule]}
    return rule


def extend(inner: st.SearchStrategy) -> st.SearchStrategy:
    names = st.lists(st.sampled_from(NAMES), max_size=3)
    return st.one_of(
        st.builds(lambda op, args: {op: args}, st.sampled_from(OPERATORS),
                  st.lists(inner, max_size=4)),
        st.builds(lambda op, arg: {op: arg}, st.sampled_from(OPERATORS), inner),  # no list
        st.lists(inner, max_size=3),
        st.builds(lambda keys: {"missing": keys}, names),
        st.builds(lambda keys: {"missing": [keys]}, names),
        st.builds(lambda need, keys: {"missing_some": [need, keys]}, inner, names),
        st.builds(lambda op, items, logic, extra: {op: [items, logic, *extra]},
                  st.sampled_from(["map", "filter", "reduce", "all", "some", "none"]),
                  st.one_of(VARS, inner), inner, st.lists(inner, max_size=1)),
        st.builds(lambda p, q: {"p": p, "q": q}, inner, inner),  # an object, not logic
        st.builds(nest, inner, st.integers(jsonlogic.MAX_DEPTH - 3, jsonlogic.MAX_DEPTH + 2),
                  st.sampled_from(["if", "list", "!!"])),
    )


RULES = st.recursive(st.one_of(LEAVES, VARS), extend, max_leaves=16)
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)),
    max_leaves=12)
DATA = st.one_of(JSON, st.dictionaries(st.sampled_from(["a", "b", "s", "n", "xs", "d"]), JSON,
                                       max_size=6))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RULES, DATA)
def test_random_rules_give_the_same_results_compiled(rule, data) -> None:
    assert differences(rule, data) == []


def test_a_long_text_given_back_costs_its_steps_compiled_too() -> None:
    rule, data = {"*": [{"var": "s"}]}, {"s": "x" * (64 * (jsonlogic.MAX_STEPS + 1))}
    assert outcome(jsonlogic.compile_rule(rule).apply, data)[:2] == (
        "RuleError", "rule_too_costly")
    assert outcome(jsonlogic.compile_rule(rule).apply, data) == outcome(
        jsonlogic.apply, rule, data)


# ---------------------------------------------------------------- guards


def test_too_deep_is_raised_only_when_evaluation_gets_there() -> None:
    rule = {"if": [{"var": "deep"}, nested(jsonlogic.MAX_DEPTH + 5), "shallow"]}
    compiled = jsonlogic.compile_rule(rule)
    assert compiled.apply({"deep": False}) == "shallow"
    with pytest.raises(jsonlogic.RuleError) as caught:
        compiled.apply({"deep": True})
    assert caught.value.code == "rule_too_deep"
    assert differences(rule, {"deep": False}) == differences(rule, {"deep": True}) == []


def test_a_rule_at_the_depth_limit_evaluates_compiled() -> None:
    limit = jsonlogic.MAX_DEPTH  # an operator's arguments are one level below it
    assert jsonlogic.compile_rule(nested(limit)).apply() == limit + 1
    with pytest.raises(jsonlogic.RuleError, match="nested too deeply"):
        jsonlogic.compile_rule(nested(limit + 1)).apply()
    assert differences(nested(limit), None) == differences(nested(limit + 1), None) == []


@pytest.mark.parametrize("shape", ["operator", "list", "var"])
def test_compiling_a_rule_100000_deep_stops_at_the_depth_limit(shape: str, count_calls) -> None:
    rule: object = 1
    for _ in range(100_000):
        rule = {"operator": {"+": [rule, 1]}, "list": [rule], "var": {"var": rule}}[shape]
    limit = 3 * (jsonlogic.MAX_DEPTH + 2)  # a few nodes a level, not 100,000 levels
    planned = count_calls(jsonlogic._Compiler, "plan", limit)
    compiled = jsonlogic.compile_rule(rule)  # no RecursionError either
    assert 0 < planned[0] <= limit
    with pytest.raises(jsonlogic.RuleError) as caught:
        compiled.apply({})
    assert caught.value.code == "rule_too_deep"


def test_a_rule_sharing_subtrees_is_left_to_the_interpreter(count_calls) -> None:
    # Compiling stops at MAX_RULE_NODES of the rule's 2**31 nodes.
    rule = shared_subtrees()
    planned = count_calls(jsonlogic._Compiler, "plan", jsonlogic.MAX_RULE_NODES + 1)
    compiled = jsonlogic.compile_rule(rule)
    assert planned[0] == jsonlogic.MAX_RULE_NODES + 1
    assert outcome(compiled.evaluate, {"t": "ab"})[:2] == ("RuleError", "rule_too_costly")
    assert outcome(compiled.evaluate, {"t": "ab"}) == outcome(jsonlogic.evaluate, rule, {"t": "ab"})


BOUNDARY_CASES = [
    # constant lists and literals folded into one charge, a var with a default
    ({"in": [{"var": ["x", "b"]}, ["a", ["b", "c"], "d"]]}, {}),
    # a long string or list result is charged len // 64 more, whatever the arguments' shape
    ({"cat": {"var": "s"}}, {"s": "x" * 200}),
    ({"cat": [{"var": "s"}, "tail"]}, {"s": "x" * 200}),
    ({"cat": [{"var": "s"}, {"var": "s"}]}, {"s": "x" * 200}),
    ({"cat": [{"var": "s"}, {"var": "s"}, "tail"]}, {"s": "x" * 200}),
    ({"merge": [{"var": "xs"}, {"var": "xs"}]}, {"xs": list(range(100))}),
    # the household form's largest rule
    ({"if": [{"and": [{"==": [{"var": "k4"}, "ignore_check"]}, {">=": [{"+": [
        {"if": [{"==": [{"var": k}, "done"]}, 1, 0]} for k in ("k1", "k2", "k3", "k5")]}, 3]}]},
        1, 0]}, {"k1": "done", "k2": "done", "k3": "no", "k4": "ignore_check", "k5": "done"}),
    # per-item logic, missing (interpreted inside), and a reduce
    ({"reduce": [{"filter": [{"var": "xs"}, {">": [{"var": ""}, 1]}]},
                 {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}, {"xs": [1, 2, 3, 4]}),
    ({"missing_some": [1, ["a", "b", {"var": "c"}]]}, {"b": 1, "c": "zz"}),
]


@pytest.mark.parametrize(("rule", "data"), BOUNDARY_CASES)
def test_the_work_limit_falls_at_the_same_step(rule, data) -> None:
    needed = next(limit for limit in range(1, 10_000)
                  if outcome(jsonlogic.evaluate, rule, data, limit)[0] == "value")
    compiled = jsonlogic.compile_rule(rule)
    assert outcome(compiled.evaluate, data, needed) == outcome(jsonlogic.evaluate, rule, data)
    for side in (lambda: compiled.evaluate(data, needed - 1),
                 lambda: jsonlogic.evaluate(rule, data, needed - 1)):
        with pytest.raises(jsonlogic.RuleError) as caught:
            side()
        assert caught.value.code == "rule_too_costly"
        assert f"limit {needed - 1} steps" in caught.value.en
    assert differences(rule, data) == []


def test_unknown_operators_raise_when_reached_after_their_arguments() -> None:
    compiled = jsonlogic.compile_rule({"or": [{"var": "a"}, {"eval": [{"var": "b"}]}]})
    assert compiled.apply({"a": 1}) == 1
    with pytest.raises(jsonlogic.RuleError) as caught:
        compiled.apply({"a": 0})
    assert caught.value.code == "unknown_operator" and "'eval'" in caught.value.en
    # its arguments run first: a too deep one is the error reported
    deep = jsonlogic.compile_rule({"eval": [nested(jsonlogic.MAX_DEPTH)]})
    with pytest.raises(jsonlogic.RuleError, match="nested too deeply"):
        deep.apply()


def test_apply_returns_none_for_undefined_and_evaluate_keeps_it() -> None:
    compiled = jsonlogic.compile_rule({"and": []})
    assert compiled.apply() is None
    assert compiled.evaluate() is jsonlogic.UNDEFINED


def test_results_are_fresh_lists_and_literal_objects_as_in_the_rule() -> None:
    literal = {"p": 1, "q": 2}
    compiled = jsonlogic.compile_rule([[1, 2], literal])
    first, second = compiled.apply(), compiled.apply()
    assert first == second == [[1, 2], literal]
    assert first is not second and first[0] is not second[0]
    assert first[1] is literal
    first[0].append(3)
    assert compiled.apply()[0] == [1, 2]
