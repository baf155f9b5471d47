"""The real signatures of the catalog libraries' entry points, checked inside the sandbox.

A simulated call must bind to the signature the real library has (as of transformers 4.x,
torch 2.x and tensorflow_hub 0.16): `hub.load(handle, tags, options)` takes no `model=`,
`torch.hub.load` needs a repo and a model, `from_pretrained` needs a model id. Keys are
matched against the end of the called path after import aliases are expanded; free names
(`pipeline(...)` without an import) are mapped to their libraries by `FREE_NAME_PATHS`.

Each parameter is `(name, kind, has_default)` with kind positional|varargs|keyword|varkw.
"""

from __future__ import annotations

Parameter = tuple[str, str, bool]

SIGNATURES: dict[str, list[Parameter]] = {
    "transformers.pipeline": [
        ("task", "positional", True),
        ("model", "positional", True),
        ("config", "positional", True),
        ("tokenizer", "positional", True),
        ("feature_extractor", "positional", True),
        ("image_processor", "positional", True),
        ("framework", "positional", True),
        ("revision", "positional", True),
        ("use_fast", "positional", True),
        ("token", "positional", True),
        ("device", "positional", True),
        ("device_map", "positional", True),
        ("torch_dtype", "positional", True),
        ("trust_remote_code", "positional", True),
        ("model_kwargs", "positional", True),
        ("pipeline_class", "positional", True),
        ("kwargs", "varkw", False),
    ],
    "from_pretrained": [
        ("pretrained_model_name_or_path", "positional", False),
        ("model_args", "varargs", False),
        ("kwargs", "varkw", False),
    ],
    "torch.hub.load": [
        ("repo_or_dir", "positional", False),
        ("model", "positional", False),
        ("args", "varargs", False),
        ("source", "keyword", True),
        ("trust_repo", "keyword", True),
        ("force_reload", "keyword", True),
        ("verbose", "keyword", True),
        ("skip_validation", "keyword", True),
        ("kwargs", "varkw", False),
    ],
    "tensorflow_hub.load": [
        ("handle", "positional", False),
        ("tags", "positional", True),
        ("options", "positional", True),
    ],
    "tensorflow_hub.KerasLayer": [
        ("handle", "positional", False),
        ("trainable", "positional", True),
        ("arguments", "positional", True),
        ("_sentinel", "positional", True),
        ("tags", "positional", True),
        ("signature", "positional", True),
        ("signature_outputs_as_dict", "positional", True),
        ("output_key", "positional", True),
        ("output_shape", "positional", True),
        ("load_options", "positional", True),
        ("kwargs", "varkw", False),
    ],
}

# Names APIBench's canonical calls use without importing them.
FREE_NAME_PATHS: dict[str, str] = {
    "hub": "tensorflow_hub",
    "tf": "tensorflow",
    "torch": "torch",
    "np": "numpy",
    "pipeline": "transformers.pipeline",
}

# Libraries whose imports the sandbox answers with recording stand-ins.
SIMULATED_LIBRARIES: tuple[str, ...] = (
    "transformers",
    "torch",
    "torchvision",
    "torchaudio",
    "tensorflow",
    "tensorflow_hub",
    "tensorflow_text",
    "keras",
    "diffusers",
    "sentence_transformers",
    "huggingface_hub",
    "datasets",
    "timm",
    "PIL",
    "numpy",
    "joblib",
    "cv2",
    "librosa",
    "soundfile",
    "pandas",
    "sklearn",
    "scipy",
    "fairseq",
    "espnet",
    "speechbrain",
    "asteroid",
    "nemo",
    "pyannote",
    "stable_baselines3",
    "rl_zoo3",
    "sb3_contrib",
    "ultralyticsplus",
    "ultralytics",
    "yolov5",
    "doctr",
    "audiocraft",
    "requests",
    "PyTorch",
)
