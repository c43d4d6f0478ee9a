"""Running the pipeline's stages on a SLURM cluster (``cliprl slurm``): planning jobs from dvc.yaml, submitting
them with dependencies, and requeueing preempted ones."""
