"""Who is the chief of a TF_CONFIG cluster (only the chief writes the bundle; README, multi-node training)."""

from __future__ import annotations

import json

import pytest

from pneumoviewer.training.distribute import tf_config_task


def _cfg(cluster, ttype, index):
    return json.dumps({"cluster": cluster, "task": {"type": ttype, "index": index}})


@pytest.mark.parametrize(("cluster", "ttype", "index", "expected"), [
    ({"worker": ["a:1", "b:1"]}, "worker", 0, (True, 0, 2)),  # no chief: worker 0 is the chief
    ({"worker": ["a:1", "b:1"]}, "worker", 1, (False, 1, 2)),
    ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "chief", 0, (True, 0, 3)),
    ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "worker", 0, (False, 1, 3)),  # a chief exists: worker 0 is not
])
def test_chief_and_position(cluster, ttype, index, expected):
    assert tf_config_task(_cfg(cluster, ttype, index)) == expected


@pytest.mark.parametrize(("raw", "message"), [("{not json", "not valid JSON"), ('{"task": {}}', "'cluster'"),
                                              ("[1, 2]", "'cluster'")])
def test_bad_tf_config_is_a_clear_error(raw, message):
    with pytest.raises(ValueError, match=message):
        tf_config_task(raw)
