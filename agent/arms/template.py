"""`template`: the top hit's canonical call. Zero tokens; the floor every LLM arm must beat."""

from __future__ import annotations

from agent.arms.base import Arm, GenerationRequest, RawGeneration
from agent.prompting import call_template


class TemplateArm(Arm):
    kind = "template"

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        if not request.hits:
            return RawGeneration(text="", meta={"reason": "no API was retrieved"})
        doc = request.hits[0].doc
        return RawGeneration(text=call_template(doc), meta={"from": doc.id})
