"""The artifact layer shared by both papers, in import order: :mod:`.atomic` (atomic writes, strict JSON, package
versions), :mod:`.runinfo` (run metadata kept out of hashed files: ``run.json``), :mod:`.formats` (one typed class
per JSON file kind), :mod:`.artifacts` (safetensors + sidecar sets), :mod:`.checkpoint` (preemption and resume),
:mod:`.safe_yaml` (bounded YAML for user files)."""
