from __future__ import annotations

import pytest

from loadstack.queues import INFRA, LOAD, SERVICES, QueuesError, TaskQueues


def test_each_class_of_work_gets_its_queue_and_an_unnamed_one_the_default():
    queues = TaskQueues.parse(" infra=infra , services=infra,load=load-gen@a,")
    assert [queues.queue_for(w) for w in (INFRA, SERVICES, LOAD)] == ["infra", "infra", "load-gen@a"]
    assert TaskQueues.parse("load=load").queue_for(INFRA) is None
    assert TaskQueues.from_env({}).queue_for(LOAD) is None


def test_every_bad_entry_is_named_with_its_fix_in_one_error():
    with pytest.raises(QueuesError) as caught:
        TaskQueues.parse("infra, loads=load, load=a b, infra=x, infra=y")
    message = str(caught.value)
    assert message.startswith("LOADSTACK_QUEUES='infra, loads=load")
    assert "'infra' is not <work>=<queue>" in message
    assert "'loads' is not a class of work: use one of infra, services, load" in message
    assert "queue 'a b' of load" in message
    assert "infra is given twice (x, y)" in message


def test_an_unknown_class_of_work_is_a_bug_named_as_such():
    with pytest.raises(QueuesError, match="unknown class of work 'gpu'"):
        TaskQueues().queue_for("gpu")
