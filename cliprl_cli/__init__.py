"""cliprl: language-guided RL research toolkit (CLIP-RL transfer, FuRL fuzzy VLM rewards)."""

__version__ = "0.1.0"
