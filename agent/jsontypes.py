"""Names for JSON whose shape belongs to someone else.

A JSON schema a client sent, a payload of the OpenAI or Slack API, bubblewrap's info
document, a sandbox trace record, an arm's `describe()`: their keys are defined by a
foreign format or are free-form by design, so they stay JSON objects, named as such. What
toolroute passes between its own components is typed (`agent.task.TaskResult`,
`agent.evaluation.records`, `agent.sandbox.protocol`).
"""

from __future__ import annotations

from typing import Any

# A JSON object of a foreign or free-form format.
JSONObject = dict[str, Any]
