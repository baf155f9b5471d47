"""`template`: zero tokens, the floor every LLM arm must beat.

A model API's call is its canonical call. A function or HTTP operation is filled by the
typed extractor (`agent.calls.fill`): numbers, quoted and capitalised spans, enum members
and dates the request states, each matched to the argument its words point at.
"""

from __future__ import annotations

from agent.arms.base import Arm, GenerationRequest, RawGeneration
from agent.calls.fill import fill
from agent.calls.grammar import render_call
from agent.prompting import call_template
from agent.resolve import callable_name


class TemplateArm(Arm):
    kind = "template"

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        if request.fill is not None and request.fill.doc.kind != "python":
            doc = request.fill.doc
            about = f"{doc.name} {doc.description}"
            arguments = fill(doc.parameters, request.query, about, request.fill.today)
            text = render_call(callable_name(doc), arguments)
            return RawGeneration(text=text, meta={"from": doc.id})
        if not request.hits:
            return RawGeneration(text="", meta={"reason": "no API was retrieved"})
        doc = request.hits[0].doc
        return RawGeneration(text=call_template(doc), meta={"from": doc.id})
