"""A dashboard's poll of an unchanged list is audited once per window; a change, or the window's end, again."""

from web.repeats import RecentReads


def test_the_same_read_is_new_again_only_after_the_window_or_when_it_changes():
    now = [0.0]
    recent = RecentReads(window_s=600, clock=lambda: now[0])
    assert recent.is_new(("dr-li", "/api/v1/alerts", frozenset({"a1"})))
    now[0] = 599
    assert not recent.is_new(("dr-li", "/api/v1/alerts", frozenset({"a1"})))
    assert recent.is_new(("dr-li", "/api/v1/alerts", frozenset({"a1", "a2"})))  # another student shown
    assert recent.is_new(("dr-wang", "/api/v1/alerts", frozenset({"a1"})))  # another person
    now[0] = 600
    assert recent.is_new(("dr-li", "/api/v1/alerts", frozenset({"a1"})))
