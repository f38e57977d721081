import math
import re

import pytest

from loadstack.prometheus.query import PrometheusQueryError, instant_query_url, label_matchers, parse_instant


def _vector(*values):
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"i": str(i)}, "value": [100.5, v]} for i, v in enumerate(values)]}}


def test_url_encodes_the_query_and_time():
    url = instant_query_url("http://127.0.0.1:9090/", 'sum(rate(x{status=~"5.."}[5s]))', at=12.25)
    assert url.startswith("http://127.0.0.1:9090/api/v1/query?query=sum%28rate%28x%7Bstatus%3D~%225..%22%7D%5B5s%5D%29%29")
    assert url.endswith("&time=12.250")


def test_one_series_is_its_number_and_time():
    result = parse_instant(_vector("41.5"))
    assert (result.value, result.evaluated_at, result.series) == (41.5, 100.5, 1)


@pytest.mark.parametrize("text", ["NaN", "+Inf", "-Inf"])
def test_nan_and_infinity_are_no_data(text):
    assert parse_instant(_vector(text)).value is None


def test_an_empty_vector_is_no_data():
    result = parse_instant(_vector())
    assert result.value is None and result.series == 0 and math.isnan(result.evaluated_at)


def test_a_scalar_is_a_number():
    assert parse_instant({"status": "success", "data": {"resultType": "scalar", "result": [3.0, "2"]}}).value == 2.0


def test_several_series_must_be_aggregated():
    with pytest.raises(PrometheusQueryError, match="returned 2 series.*sum"):
        parse_instant(_vector("1", "2"), "rate(x[5s])")


def test_a_refused_query_says_why():
    with pytest.raises(PrometheusQueryError, match="bad_data parse error"):
        parse_instant({"status": "error", "errorType": "bad_data", "error": "parse error"}, "rate(")


def test_label_matchers_quote_values_exactly_and_sort_names():
    assert label_matchers({}) == ""
    assert label_matchers({"pool": "stack", "job": "app"}) == 'job="app",pool="stack"'
    assert label_matchers({"name": 'a"b\\c\nd'}) == 'name="a\\"b\\\\c\\nd"'


@pytest.mark.parametrize("name", ["2pool", "pool-name", "__name__", "", "pool\n"])
def test_label_matchers_refuse_what_is_not_a_label_name(name):
    with pytest.raises(ValueError, match=re.escape(f"label {name!r} is not a Prometheus label name")):
        label_matchers({name: "x"})


def test_label_matchers_refuse_a_value_that_is_not_text():
    with pytest.raises(TypeError, match="label pool's value 3 is not a string"):
        label_matchers({"pool": 3})
