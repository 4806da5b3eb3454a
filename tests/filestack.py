"""The `files` test module (tests/fixtures/modules/files) as stacks and workspaces: what the
tests that run real terraform set up before each plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

FILES_MODULE = Path(__file__).resolve().parent / "fixtures" / "modules" / "files"


def push_files(store: Store, tmp_path: Path, *, stack: str = "files", **variables: Any) -> None:
    """Push a stack `stack` of the files module with these variables (a new version when
    they differ from the last push)."""
    from tfctl.stacks import push_spec_file

    spec = {"name": stack, "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": variables}  # fmt: skip
    path = tmp_path / f"{stack}.yaml"
    path.write_text(yaml.safe_dump(spec))
    push_spec_file(store, path, author="test")


def files_workspace(store: Store, name: str, out: Path, *, stack: str = "files") -> str:
    """A workspace `name` of `stack` on the local backend whose files go to `out`."""
    from tfctl.workspaces import create_workspace

    create_workspace(store, name, stack=stack, backend="local", backend_config={},
                     variables={"dir": str(out)})  # fmt: skip
    return name
