"""Stacks: the spec catalog (`tfctl stack list/show/push`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from tfctl.server.deps import Db, Operator, Viewer, json_ok

router = APIRouter(prefix="/terraform/stacks", tags=["stacks"])


@router.get("", summary="Every stack with its latest version")
def list_stacks(db: Db, _: Viewer) -> JSONResponse:
    from tfctl.stacks import list_stacks as list_all

    return json_ok(list_all(db))


@router.get("/{name}", summary="A stack version (default: the latest) with its spec")
def show_stack(
    name: str, db: Db, _: Viewer, version: Annotated[int | None, Query(ge=1)] = None
) -> JSONResponse:
    from tfctl.stacks import show_version

    return json_ok(show_version(db, name, version).to_dict())


@router.post("", status_code=201, summary="Push a spec document: a new version if it changed")
def push_stack(
    db: Db,
    who: Operator,
    document: Annotated[dict[str, Any], Body(description="The spec, as `stack push` reads it")],
) -> JSONResponse:
    from tfctl.stacks import push_spec_document

    view = push_spec_document(db, document, author=who.name, source="POST /terraform/stacks")
    data = {"name": view.name, "version": view.version, "hash": view.hash,
            "created": view.created}  # fmt: skip
    return json_ok(data, status=201 if view.created else 200)
