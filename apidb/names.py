"""Names other packages and the command line offer as choices: cheap to import (no
pydantic, no YAML), so `toolroute --help` can list them."""

from __future__ import annotations

from typing import Literal, get_args

ImportFormat = Literal["apibench", "openai-tools", "openapi"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = get_args(ImportFormat)

# The hubs of the bundled APIBench catalog.
ApibenchHub = Literal["huggingface", "torchhub", "tensorflowhub"]
APIBENCH_HUBS: tuple[ApibenchHub, ...] = get_args(ApibenchHub)
