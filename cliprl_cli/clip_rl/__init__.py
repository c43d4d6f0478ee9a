"""CLIP-RL (policy transfer): the worlds (the paper's grid, the MiniGrid colour x shape rooms), PPO and its
convergence rule, the policy network and its weight averaging, the contrastive alignment of instructions with
policies, transfer by similarity-weighted averaging, and the library-size study. Settings: :mod:`.config`."""
