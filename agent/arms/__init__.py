"""Generation arms: one small ABC (`base.Arm`), one module per backend.

Backends import their heavy libraries (llama_cpp, transformers, httpx) inside the module,
and the pool (`agent.pool`) imports a backend's module only when that arm is first built.
"""

from agent.arms.base import Arm, Generation, GenerationRequest, Price, RawGeneration

__all__ = ["Arm", "Generation", "GenerationRequest", "Price", "RawGeneration"]
