"""`/v1/apis`: the live catalog. Every change is searchable by the next request."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from agent.answer import hit_record
from agent.service.deps import AdminDep, CallerDep, StateDep
from agent.service.schemas import (
    APIDocCreate,
    APIDocPage,
    APIDocPublic,
    APIDocUpdate,
    ImportResult,
    SearchResult,
    error_responses,
)
from apidb import LoaderError, load_text
from apidb.names import ImportFormat
from retriever.config import MAX_K, MAX_QUERY_CHARS

router = APIRouter(tags=["apis"])
_ERRORS = error_responses(401, 404, 422, 429)
_WRITE_ERRORS = error_responses(401, 403, 404, 422, 429)


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file itself: APIBench JSON lines, OpenAI tools JSON, or an "
        "OpenAPI 3 document (JSON or YAML).",
        "content": {
            "application/json": {"schema": {}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/v1/search", response_model=SearchResult, responses=_ERRORS, summary="Search the catalog"
)
async def search_apis(
    state: StateDep,
    caller: CallerDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="A request.")],
    hub: Annotated[str | None, Query(max_length=100)] = None,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
) -> SearchResult:
    """The APIs that fit a request, best first, with their fused score and side ranks
    (what a task would retrieve; nothing is routed, run or stored)."""
    hits = await anyio.to_thread.run_sync(lambda: state.pipeline.retriever.search(q, k, hub=hub))
    return SearchResult(query=q, hits=[hit_record(hit) for hit in hits])


@router.get("/v1/apis", response_model=APIDocPage, responses=_ERRORS, summary="List APIs by id")
def list_apis(
    state: StateDep,
    caller: CallerDep,
    hub: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=300, description="The last id seen.")] = None,
) -> APIDocPage:
    docs = state.pipeline.store.list_docs(hub=hub, limit=limit, after=cursor)
    more = len(docs) == limit
    return APIDocPage(
        items=[APIDocPublic.from_doc(d) for d in docs],
        next_cursor=docs[-1].id if docs and more else None,
    )


@router.post(
    "/v1/apis:import",
    response_model=ImportResult,
    responses=error_responses(401, 403, 413, 422, 429),
    openapi_extra=_IMPORT_BODY,
    summary="Add or update APIs from a file: all of it, or none on any error (admin)",
)
async def import_apis(
    request: Request,
    state: StateDep,
    caller: AdminDep,
    format: Annotated[ImportFormat, Query(description="The file's format.")],
    hub: Annotated[str | None, Query(max_length=100)] = None,
) -> ImportResult:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"the file is not UTF-8: {exc}") from exc

    def apply() -> ImportResult:
        docs = load_text(text, format, hub=hub, source="upload")
        summary = state.catalog.import_docs(docs)
        return ImportResult(
            format=format,
            apis=len(docs),
            added=summary.added,
            updated=summary.updated,
            unchanged=summary.unchanged,
        )

    return await anyio.to_thread.run_sync(apply)


@router.get(
    "/v1/apis/{api_id:path}", response_model=APIDocPublic, responses=_ERRORS, summary="One API"
)
def get_api(api_id: str, state: StateDep, caller: CallerDep) -> APIDocPublic:
    return APIDocPublic.from_doc(state.pipeline.store.get(api_id))


@router.post(
    "/v1/apis",
    response_model=APIDocPublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422, 429),
    summary="Add an API (admin)",
)
def create_api(body: APIDocCreate, state: StateDep, caller: AdminDep) -> APIDocPublic:
    return APIDocPublic.from_doc(state.catalog.add(body.to_doc()))


@router.put(
    "/v1/apis/{api_id:path}",
    response_model=APIDocPublic,
    responses={**_WRITE_ERRORS, 201: {"model": APIDocPublic, "description": "Created"}},
    summary="Replace an API (or add it under this id) (admin)",
)
def put_api(
    api_id: str, body: APIDocUpdate, state: StateDep, caller: AdminDep, response: Response
) -> APIDocPublic:
    if body.id is not None and body.id != api_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the body's id {body.id!r} differs from the path's {api_id!r}",
        )
    stored, created = state.catalog.put(body.to_doc(api_id))
    if created:
        response.status_code = status.HTTP_201_CREATED
    return APIDocPublic.from_doc(stored)


@router.delete(
    "/v1/apis/{api_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_WRITE_ERRORS,
    summary="Remove an API (admin)",
)
def delete_api(api_id: str, state: StateDep, caller: AdminDep) -> Response:
    state.catalog.delete(api_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
