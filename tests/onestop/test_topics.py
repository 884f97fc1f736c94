import pytest

from onestop import topics
from onestop.errors import TopicError


def test_event_topic_is_built_and_parsed_back():
    topic = topics.event("north-b3", "kiosk-b3-lobby", "checkin")
    assert topic == "onestop/v1/north-b3/dev/kiosk-b3-lobby/evt/checkin"
    parsed = topics.parse(topic)
    assert (parsed.kind, parsed.site, parsed.device, parsed.event_type) == ("event", "north-b3", "kiosk-b3-lobby",
                                                                            "checkin")


@pytest.mark.parametrize(("topic", "kind"), [
    ("onestop/v1/north-b3/dev/kiosk-1/state", "state"),
    ("onestop/v1/north-b3/dev/kiosk-1/cfg", "cfg"),
    ("onestop/v1/north-b3/space/study-24h-2f/occupancy", "occupancy"),
    ("onestop/v1/north-b3/space/study-24h-2f/presence", "presence"),
    ("onestop/v1/north-b3/alert/clinic", "alert"),
    ("onestop/v1/north-b3/gateway/state", "gateway-state"),
])
def test_every_contract_topic_parses_to_its_kind(topic, kind):
    assert topics.parse(topic).kind == kind


def test_builders_and_parser_agree_for_every_topic_kind():
    built = [topics.state("s1", "dev-1"), topics.cfg("s1", "dev-1"), topics.occupancy("s1", "room-1"),
             topics.presence("s1", "room-1"), topics.alert("s1", "clinic"), topics.gateway_state("s1")]
    assert [topics.parse(t).kind for t in built] == ["state", "cfg", "occupancy", "presence", "alert",
                                                     "gateway-state"]


@pytest.mark.parametrize("topic", [
    "onestop/v2/north-b3/dev/kiosk-1/evt/checkin",       # wrong version
    "onestop/v1/North/dev/kiosk-1/evt/checkin",           # site not a slug
    "onestop/v1/north-b3/dev/k1/evt/checkin",             # device id too short
    "onestop/v1/north-b3/dev/kiosk-1/evt/check in",       # bad type segment
    "onestop/v1/north-b3/dev/kiosk-1/evt/checkin/extra",  # extra level
    "onestop/v1/north-b3/dev/+/evt/checkin",              # wildcard is not a topic
    "onestop/v1/north-b3/unknown",
    "",
    "random/topic",
])
def test_topics_outside_the_contract_are_rejected(topic):
    with pytest.raises(TopicError):
        topics.parse(topic)


@pytest.mark.parametrize(("builder", "args"), [
    (topics.event, ("bad site", "kiosk-1", "checkin")),
    (topics.event, ("north", "kiosk/1", "checkin")),
    (topics.state, ("north", "#")),
    (topics.occupancy, ("north", "Room 1")),
    (topics.presence, ("north", "room/1")),
    (topics.alert, ("north", "+")),
])
def test_builders_refuse_values_that_would_escape_the_topic_tree(builder, args):
    with pytest.raises(TopicError):
        builder(*args)


def test_filters_cover_the_site_only():
    assert topics.events_filter("north-b3") == "onestop/v1/north-b3/dev/+/evt/+"
    assert topics.site_tree("north-b3") == "onestop/v1/north-b3/#"


def test_every_filter_is_its_template_with_wildcards():
    assert topics.states_filter("north-b3") == "onestop/v1/north-b3/dev/+/state"
    assert topics.occupancy_filter("north-b3") == "onestop/v1/north-b3/space/+/occupancy"
    assert topics.presence_filter("north-b3") == "onestop/v1/north-b3/space/+/presence"
    assert topics.branch_filter("dev") == "onestop/v1/+/dev/#"
    assert topics.branch_filter("alert", "north-b3") == "onestop/v1/north-b3/alert/#"
    assert topics.wildcard(topics.EVENT, device="%u") == "onestop/v1/+/dev/%u/evt/+"


def test_a_wildcard_for_a_placeholder_the_template_lacks_is_an_error():
    with pytest.raises(TopicError):
        topics.wildcard(topics.OCCUPANCY, device="%u")


SAMPLE = {"site": "north-b3", "device": "kiosk-b3-lobby", "type": "checkin", "space": "study-24h-2f",
          "team": "clinic"}


@pytest.mark.parametrize("template", topics.TEMPLATES)
def test_every_template_filled_in_is_a_topic_the_parser_takes(template):
    """The templates (used by the ACL and AsyncAPI generators) and the parser state one set of topics."""
    filled = template.format(**{name: SAMPLE[name] for name in topics.placeholders(template)})
    parsed = topics.parse(filled)
    assert {name: getattr(parsed, "event_type" if name == "type" else name)
            for name in topics.placeholders(template)} == {name: SAMPLE[name]
                                                           for name in topics.placeholders(template)}
    assert len({topics.parse(t.format(**{n: SAMPLE[n] for n in topics.placeholders(t)})).kind
                for t in topics.TEMPLATES}) == len(topics.TEMPLATES)
