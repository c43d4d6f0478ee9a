"""Reference numbers from the FuRL authors' own JAX code, for ``tests/test_authors_reference.py``.

Run (a Python with jax, flax, optax, distrax and orbax-checkpoint; no torch, gymnasium or Meta-World needed)::

    python scripts/authors_reference.py --checkout /path/to/fuyw/FuRL [--out tests/data/authors_reference.json]

It imports the authors' modules from the checkout at run time (``models/common.py``, ``models/projection.py``,
``models/sac.py``, ``utils/buffer_utils.py``, ``utils/train_utils.py``; nothing of theirs is copied here), runs
their functions on inputs expanded from fixed seeds with numpy (:func:`reference_inputs`, which the test imports
and expands identically), and writes only numbers, with the checkout's commit:

- ``eq4``: ``RewardModel.train_pos_step`` (Eq. 4): the loss and its gradient with respect to the heads;
- ``eq5``: ``DistanceBuffer.sample_with_mask`` (Eq. 5's pair mask, the indices it drew) and
  ``RewardModel.train_neg_step``: the loss and its gradient;
- ``alternating``: ten Adam steps, Eq. 4 and Eq. 5 in turn, on the one optimiser state their ``RewardModel``
  keeps, and the heads after them;
- ``aligned_reward``: ``RewardModel.get_vlm_reward`` (Eq. 3) on a batch of image embeddings;
- ``sac``: one ``SACAgent.train_step`` (critic, actor and temperature losses, the new parameters and target
  parameters), with the Gaussian noise their PRNG keys draw written out so that another implementation can use
  the same noise;
- ``liv`` (with ``--liv``; needs torch, torchvision, opencv-python-headless, ftfy, regex and tqdm as well): a fixed
  256 px frame through their pipeline (``crop_center`` of ``experiments/train_furl.py``, OpenCV's RGB -> BGR,
  torchvision's ``ToTensor``, then their ``LIV`` module's own transforms and CLIP RN50 from their bundled ``clip``
  package) and their instruction for drawer-open through ``clip.tokenize`` and LIV's text encoder, on RANDOM
  RN50 weights expanded from a seed (:func:`rn50_weights`; LIV's real weights cannot be fetched offline). The
  preprocessed tensor and both embeddings are written.

Large arrays are summarised (:func:`summarise`): the L2 norm, the dot product with a seeded probe vector and the
first values; small ones are written whole. The heavy modules their package ``__init__`` files pull in (LIV,
torch, Meta-World, GitPython) are not needed by these functions and are not imported: the script registers the two
packages by path and loads only the modules above.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import types
import zlib
from pathlib import Path

import numpy as np

SEED = 20240722
EMB_DIM = 32          # the heads' input size (LIV's is 1024; the heads' own 256 -> 64 are the authors')
HEAD_HIDDEN, HEAD_OUT = 256, 64
BATCH = 64            # alignment batch
MARGIN = 0.1          # the ranking margin m of their RewardModel
L2_MARGIN = 0.25      # Eq. 5's goal-distance margin m' (their config.l2_margin)
LR = 1e-4
ALTERNATING_STEPS = 10
SAC_OBS, SAC_ACT, SAC_HIDDEN, SAC_BATCH = 39, 4, 32, 16
SAC_TAU, SAC_GAMMA = 0.01, 0.99
SMALL = 512           # arrays with at most this many entries are written whole
HEAD_VALUES = 16      # first values written for a larger array


def _rng(name: str) -> np.random.Generator:
    """One numpy generator per named input, so adding an input never shifts the others."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def _normal(name: str, shape, scale: float = 1.0) -> np.ndarray:
    return (_rng(name).standard_normal(shape) * scale).astype(np.float32)


def _dense(prefix: str, fan_in: int, fan_out: int, lead: tuple = ()) -> dict:
    """A dense layer's kernel ``(..., in, out)`` (flax's layout) and bias, both nonzero."""
    return {"kernel": _normal(prefix + "/kernel", lead + (fan_in, fan_out), 1.0 / np.sqrt(fan_in)),
            "bias": _normal(prefix + "/bias", lead + (fan_out,), 0.1)}


def heads_params() -> dict:
    """The reward heads f_L (``text_encoder``) and f_I (``image_encoder``) in the authors' ``Projection`` layout."""
    return {enc: {"Dense_0": _dense(f"{enc}/Dense_0", EMB_DIM, HEAD_HIDDEN),
                  "Dense_1": _dense(f"{enc}/Dense_1", HEAD_HIDDEN, HEAD_OUT)}
            for enc in ("text_encoder", "image_encoder")}


def sac_params() -> dict:
    """Actor, twin critic and target twin critic in the layout of the authors' ``Actor`` and ``DoubleCritic``."""
    actor = {"net": {"Dense_0": _dense("actor/Dense_0", SAC_OBS, SAC_HIDDEN),
                     "Dense_1": _dense("actor/Dense_1", SAC_HIDDEN, SAC_HIDDEN)},
             "mu_layer": _dense("actor/mu", SAC_HIDDEN, SAC_ACT),
             "std_layer": _dense("actor/std", SAC_HIDDEN, SAC_ACT)}

    def critic(name):
        return {"VmapCritic_0": {
            "net": {"Dense_0": _dense(f"{name}/Dense_0", SAC_OBS + SAC_ACT, SAC_HIDDEN, (2,)),
                    "Dense_1": _dense(f"{name}/Dense_1", SAC_HIDDEN, SAC_HIDDEN, (2,))},
            "out_layer": _dense(f"{name}/out", SAC_HIDDEN, 1, (2,))}}
    return {"actor": actor, "critic": critic("critic"), "critic_target": critic("critic_target"),
            "log_alpha": np.float32(-0.5)}


def reference_inputs() -> dict:
    """Every input of the reference computations, expanded from :data:`SEED` with numpy (float32)."""
    steps = []
    for k in range(ALTERNATING_STEPS):
        if k % 2 == 0:
            steps.append({"eq": 4, "pos": _normal(f"alt{k}/pos", (BATCH, EMB_DIM)),
                          "neg": _normal(f"alt{k}/neg", (BATCH, EMB_DIM)),
                          "lag": _normal(f"alt{k}/lag", (BATCH, EMB_DIM))})
        else:
            steps.append({"eq": 5, "emb": _normal(f"alt{k}/emb", (BATCH, EMB_DIM)),
                          "dist": _rng(f"alt{k}/dist").uniform(0.0, 2.0, BATCH)})
    return {
        "text": _normal("text", (EMB_DIM,)),
        "heads": heads_params(),
        "eq4": {"pos": _normal("eq4/pos", (BATCH, EMB_DIM)), "neg": _normal("eq4/neg", (BATCH, EMB_DIM)),
                "lag": _normal("eq4/lag", (BATCH, EMB_DIM))},
        # distances in float64, as their replay buffer keeps them
        "eq5": {"emb": _normal("eq5/emb", (BATCH, EMB_DIM)), "dist": _rng("eq5/dist").uniform(0.0, 2.0, BATCH)},
        "alternating": steps,
        "reward_images": _normal("reward/images", (BATCH, EMB_DIM)),
        "sac": {"params": sac_params(),
                "obs": _normal("sac/obs", (SAC_BATCH, SAC_OBS)),
                "act": np.tanh(_normal("sac/act", (SAC_BATCH, SAC_ACT))),
                "reward": _normal("sac/reward", (SAC_BATCH,)),
                "next_obs": _normal("sac/next_obs", (SAC_BATCH, SAC_OBS)),
                "discount": (_rng("sac/discount").uniform(size=SAC_BATCH) > 0.2).astype(np.float32)},
    }


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """A nested dict of arrays as ``{"a/b/c": array}``."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) or hasattr(value, "items"):
            out.update(flatten(dict(value.items()), name))
        else:
            out[name] = np.asarray(value)
    return out


def probe(name: str, shape) -> np.ndarray:
    """The seeded probe vector a summary of the array ``name`` is dotted with (float64, standard normal)."""
    return np.random.default_rng([SEED, 7, zlib.crc32(name.encode())]).standard_normal(shape)


def summarise(name: str, array) -> dict:
    """``{"values": [...]}`` for small arrays, else ``{"norm", "dot", "first", "size"}`` (float64 sums)."""
    a = np.asarray(array, dtype=np.float64)
    if a.size <= SMALL:
        return {"shape": list(a.shape), "values": a.ravel().tolist()}
    return {"shape": list(a.shape), "size": int(a.size), "norm": float(np.sqrt((a * a).sum())),
            "dot": float((a * probe(name, a.shape)).sum()), "first": a.ravel()[:HEAD_VALUES].tolist()}


def summarise_tree(tree) -> dict:
    return {name: summarise(name, value) for name, value in flatten(tree).items()}


def input_checksums(inputs: dict) -> dict:
    """Sum of every input array, so that the test can check it expanded the same numbers."""
    flat = {}
    for key, value in inputs.items():
        if key == "alternating":
            for k, step in enumerate(value):
                for name, arr in step.items():
                    if name != "eq":
                        flat[f"alternating/{k}/{name}"] = np.asarray(arr)
        elif isinstance(value, dict):
            flat.update(flatten(value, key))
        else:
            flat[key] = np.asarray(value)
    return {name: float(np.asarray(a, dtype=np.float64).sum()) for name, a in sorted(flat.items())}


def liv_frame() -> np.ndarray:
    """The fixed upright 256 px RGB frame both pipelines embed (smooth gradients plus noise, uint8)."""
    rng = _rng("liv/frame")
    y, x = np.mgrid[0:256, 0:256] / 255.0
    base = np.stack([x, y, 0.5 * (x + y)], axis=-1) * 200.0
    return np.clip(base + rng.normal(0.0, 20.0, base.shape), 0, 255).astype(np.uint8)


def rn50_weights(shapes: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray]:
    """RANDOM weights for every entry of an OpenAI-format CLIP state dict (``name -> (shape, dtype name)``), expanded
    from the seed per name, at scales that keep a deep network's activations sane, rounded to float16 (their
    ``clip.load`` builds the model in float16 before loading a state dict, so only float16 values survive it)."""
    out = {}
    for name, (shape, dtype) in sorted(shapes.items()):
        if dtype.startswith("int"):
            out[name] = np.zeros(shape, dtype=np.int64)
            continue
        rng = _rng("rn50/" + name)
        leaf = name.rsplit(".", 1)[-1]
        if name == "logit_scale":
            a = np.full(shape, np.log(1 / 0.07))
        elif leaf == "running_var":
            a = 1.0 + 0.1 * rng.uniform(size=shape)
        elif leaf in ("running_mean", "bias") or name.endswith("_bias"):
            a = 0.02 * rng.standard_normal(shape)
        elif len(shape) == 1:  # batch-norm and layer-norm scales
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif "embedding" in name:
            a = 0.02 * rng.standard_normal(shape)
        else:
            fan_in = shape[0] if name == "text_projection" else int(np.prod(shape[1:]))
            a = rng.standard_normal(shape) / np.sqrt(fan_in)
        out[name] = a.astype(np.float16).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Running the authors' code


def load_authors_modules(checkout: Path) -> types.SimpleNamespace:
    """Import the authors' modules from ``checkout`` without their package ``__init__`` files (which import LIV,
    torch and Meta-World): the packages ``models`` and ``utils`` are registered by path, their namespaces filled the
    way their ``__init__`` files fill them, for the names these modules use."""
    checkout = checkout.resolve()
    sys.modules.setdefault("git", types.ModuleType("git"))  # utils/train_utils.py imports GitPython for log_git only
    for pkg in ("models", "utils"):
        module = types.ModuleType(pkg)
        module.__path__ = [str(checkout / pkg)]
        sys.modules[pkg] = module
    utils, models = sys.modules["utils"], sys.modules["models"]
    buffer_utils = importlib.import_module("utils.buffer_utils")
    train_utils = importlib.import_module("utils.train_utils")
    utils.Batch, utils.target_update = buffer_utils.Batch, train_utils.target_update
    common = importlib.import_module("models.common")
    for name in dir(common):  # their models/__init__.py: from .common import *
        if not name.startswith("_"):
            setattr(models, name, getattr(common, name))
    projection = importlib.import_module("models.projection")
    sac = importlib.import_module("models.sac")
    return types.SimpleNamespace(buffer_utils=buffer_utils, common=common, projection=projection, sac=sac)


def _as_jax(tree):
    import jax.numpy as jnp

    return {k: _as_jax(v) if isinstance(v, dict) else jnp.asarray(v) for k, v in tree.items()}


def run_authors(checkout: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import optax
    import distrax
    from flax.training import train_state

    jax.config.update("jax_platform_name", "cpu")
    their = load_authors_modules(checkout)
    inp = reference_inputs()
    text = jnp.asarray(inp["text"])[None]  # their text embedding is (1, D)

    model = their.projection.RewardModel(seed=0, lr=LR, margin=MARGIN, emb_dim=EMB_DIM, text_embedding=text)

    def fresh_state(tx=None):
        return train_state.TrainState.create(apply_fn=model.proj.apply, params=_as_jax(inp["heads"]),
                                             tx=tx or optax.adam(LR))

    # An "optimiser" that keeps the gradient it is given as its state and leaves the parameters alone: their
    # train steps apply the gradient inside a jitted function, so this is how the exact gradient comes out.
    keep_grad = optax.GradientTransformation(
        lambda params: jax.tree_util.tree_map(jnp.zeros_like, params),
        lambda grads, state, params=None: (jax.tree_util.tree_map(jnp.zeros_like, grads), grads))

    out: dict = {}

    # Eq. 4: train_pos_step from fresh heads; the loss is the sum of the two logged means
    e4 = inp["eq4"]
    state = fresh_state(keep_grad)
    new_state, info = model.train_pos_step(jnp.asarray(e4["pos"]), jnp.asarray(e4["neg"]), jnp.asarray(e4["lag"]),
                                           state)
    out["eq4"] = {"loss": float(info["pos_loss"]) + float(info["neg_loss"]),
                  "pos_pos": float(info["pos_loss"]), "pos_neg": float(info["neg_loss"]),
                  "pos_num": int(info["pos_num"]), "neg_num": int(info["neg_num"]),
                  "grad": summarise_tree(new_state.opt_state)}

    # Eq. 5: their buffer draws the batch and builds the pair mask; train_neg_step computes the loss
    e5 = inp["eq5"]
    buf = their.buffer_utils.DistanceBuffer(obs_dim=1, act_dim=1, emb_dim=EMB_DIM, max_size=BATCH)
    for i in range(BATCH):
        buf.add(np.zeros(1), np.zeros(1), np.zeros(1), 0.0, 0.0, e5["emb"][i], e5["dist"][i])
    np.random.seed(SEED % (2 ** 32))
    batch = buf.sample_with_mask(BATCH, L2_MARGIN)
    idx = np.random.RandomState(SEED % (2 ** 32)).randint(0, BATCH, size=BATCH)  # the draw sample_with_mask made
    assert np.array_equal(batch.embeddings, e5["emb"][idx].astype(np.float64))
    state = fresh_state(keep_grad)
    new_state, info = model.train_neg_step(batch._replace(embeddings=jnp.asarray(batch.embeddings, jnp.float32)),
                                           state)
    out["eq5"] = {"index": idx.tolist(), "kept_pairs": int(batch.masks.sum()), "loss": float(info["pos_loss"]),
                  "rewards": np.asarray(info["vlm_rewards"], np.float64).tolist(),
                  "grad": summarise_tree(new_state.opt_state)}

    # ten alternating Adam steps on one optimiser state (their RewardModel keeps one proj_state for both losses)
    state = fresh_state()
    losses = []
    for step in inp["alternating"]:
        if step["eq"] == 4:
            state, info = model.train_pos_step(jnp.asarray(step["pos"]), jnp.asarray(step["neg"]),
                                               jnp.asarray(step["lag"]), state)
            losses.append(float(info["pos_loss"]) + float(info["neg_loss"]))
        else:
            d = step["dist"]
            masks = ((d.reshape(-1, 1) - d.reshape(1, -1)) < -L2_MARGIN).astype(np.float32)  # their mask, in order
            b = their.buffer_utils.MaskBatch(None, None, None, None, None, jnp.asarray(step["emb"]), masks)
            state, info = model.train_neg_step(b, state)
            losses.append(float(info["pos_loss"]))
    out["alternating"] = {"losses": losses, "params": summarise_tree(state.params)}

    # Eq. 3 with the initial heads
    r = model.get_vlm_reward(fresh_state(), jnp.asarray(inp["reward_images"]))
    out["aligned_reward"] = np.asarray(r, np.float64).tolist()

    out["sac"] = run_authors_sac(their, inp["sac"])
    return out


def run_authors_sac(their, s: dict) -> dict:
    """One ``SACAgent.train_step`` from the given parameters and batch; the noise its keys drew is written out."""
    import jax
    import jax.numpy as jnp
    import optax
    import distrax
    from flax.training import train_state

    agent = their.sac.SACAgent(obs_dim=SAC_OBS, act_dim=SAC_ACT, seed=0, tau=SAC_TAU, gamma=SAC_GAMMA, lr=LR,
                               hidden_dims=(SAC_HIDDEN, SAC_HIDDEN))
    p = s["params"]
    actor_state = train_state.TrainState.create(apply_fn=agent.actor.apply, params=_as_jax(p["actor"]),
                                                tx=optax.adam(LR))
    critic_state = train_state.TrainState.create(apply_fn=agent.critic.apply, params=_as_jax(p["critic"]),
                                                 tx=optax.adam(LR))
    alpha_state = train_state.TrainState.create(apply_fn=None, params={"value": jnp.asarray(p["log_alpha"])},
                                                tx=optax.adam(LR))
    # the parameter trees must match theirs exactly, or apply() would fail or ignore a layer
    for ours, module, args in ((p["actor"], agent.actor, (jax.random.PRNGKey(0), jnp.ones((1, SAC_OBS)))),
                               (p["critic"], agent.critic, (jnp.ones((1, SAC_OBS)), jnp.ones((1, SAC_ACT))))):
        shapes = jax.tree_util.tree_map(lambda a: a.shape, module.init(jax.random.PRNGKey(0), *args)["params"])
        mine = jax.tree_util.tree_map(lambda a: np.asarray(a).shape, ours)
        assert jax.tree_util.tree_structure(shapes) == jax.tree_util.tree_structure(mine), (shapes, mine)
        assert jax.tree_util.tree_leaves(shapes) == jax.tree_util.tree_leaves(mine)
    batch = their.buffer_utils.Batch(observations=jnp.asarray(s["obs"]), actions=jnp.asarray(s["act"]),
                                     rewards=jnp.asarray(s["reward"]), discounts=jnp.asarray(s["discount"]),
                                     next_observations=jnp.asarray(s["next_obs"]))
    key = jax.random.PRNGKey(SEED % (2 ** 31))
    new_alpha, new_actor, new_critic, new_target, info = agent.train_step(
        batch, key, alpha_state, actor_state, critic_state, _as_jax(p["critic_target"]))

    # The standard-normal draws behind their sampled actions: train_step splits key into (actor step, critic step);
    # each step splits its key into one key per sample; distrax's MultivariateNormalDiag(mu, std) draws
    # mu + std * eps with eps the draw of MultivariateNormalDiag(0, 1) on the same key.
    key1, key2 = jax.random.split(key)
    standard = distrax.MultivariateNormalDiag(jnp.zeros(SAC_ACT), jnp.ones(SAC_ACT))

    def draws(k):
        return np.stack([np.asarray(standard.sample(seed=kk)) for kk in jax.random.split(k, num=SAC_BATCH)])
    eps_obs, eps_next = draws(key1), draws(key2)
    # check that reading: their actor's sampled action at s equals tanh(mu + std * eps)
    keys = jax.random.split(key1, num=SAC_BATCH)
    for b in range(SAC_BATCH):
        _, sampled, _ = agent.actor.apply({"params": actor_state.params}, keys[b], batch.observations[b])
        x = agent.actor.apply({"params": actor_state.params}, batch.observations[b], method=lambda m, o: m.net(o))
        mu = agent.actor.apply({"params": actor_state.params}, x, method=lambda m, h: m.mu_layer(h))
        std = jax.nn.softplus(agent.actor.apply({"params": actor_state.params}, x,
                                                method=lambda m, h: m.std_layer(h))) + 1e-3
        assert np.allclose(np.tanh(mu + std * eps_obs[b]), sampled, atol=1e-6), b

    return {"eps_obs": eps_obs.astype(np.float64).tolist(), "eps_next": eps_next.astype(np.float64).tolist(),
            "critic_loss": float(info["critic_loss"]), "actor_loss": float(info["actor_loss"]),
            "alpha_loss": float(info["alpha_loss"]), "alpha": float(info["alpha"]), "logp": float(info["logp"]),
            "q": float(info["q"]),
            "actor": summarise_tree(new_actor.params), "critic": summarise_tree(new_critic.params),
            "critic_target": summarise_tree(new_target), "log_alpha": float(new_alpha.params["value"])}


def _stub(name: str, **attrs) -> None:
    """Register a stand-in module for an import their module makes but the functions run here never use."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def run_authors_liv(checkout: Path, their) -> dict:
    """Their frame preprocessing and LIV (CLIP RN50) embeddings, on RANDOM seeded weights (:func:`rn50_weights`)."""
    import ast
    import tempfile

    import cv2
    import torch
    import torch._dynamo  # noqa: F401  (before any stand-in module exists: it probes the installed packages)
    import torchvision.transforms as T

    checkout = checkout.resolve()
    sys.path.insert(0, str(checkout))  # their bundled `clip` package
    try:
        import pkg_resources  # noqa: F401  (clip/clip.py reads a version through it; gone from new setuptools)
    except ImportError:
        import packaging.version
        _stub("pkg_resources", packaging=sys.modules["packaging"])
    # experiments/train_furl.py imports these at its top; crop_center (all that runs of it here) needs none
    # (the attributes: names its signatures annotate with)
    for name, attrs in (("imageio", {}), ("ml_collections", {"ConfigDict": dict}), ("gymnasium", {"Env": object}),
                        ("pandas", {}), ("matplotlib", {}), ("matplotlib.pyplot", {})):
        try:
            importlib.import_module(name)
        except ImportError:
            _stub(name, **attrs)
    utils = sys.modules["utils"]
    src = (checkout / "utils" / "env_utils.py").read_text()
    tasks = next(ast.literal_eval(node.value) for node in ast.parse(src).body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "TASKS")
    utils.TASKS = tasks
    utils.DistanceBuffer = their.buffer_utils.DistanceBuffer
    utils.EmbeddingBuffer = their.buffer_utils.EmbeddingBuffer
    for name in ("log_git", "get_logger", "make_env", "load_liv"):
        setattr(utils, name, None)
    models = sys.modules["models"]
    models.SACAgent, models.RewardModel = their.sac.SACAgent, their.projection.RewardModel
    models.FuRLAgent = importlib.import_module("models.furl").FuRLAgent
    clip = importlib.import_module("clip")
    liv_module = importlib.import_module("models.liv")
    sys.modules.setdefault("experiments", types.ModuleType("experiments")).__path__ = [str(checkout / "experiments")]
    train_furl = importlib.import_module("experiments.train_furl")

    rn50 = clip.model.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12)  # OpenAI's RN50 settings
    shapes = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in rn50.state_dict().items()}
    weights = rn50_weights(shapes)
    # clip.load tries torch.jit.load on the open file first and, when that fails, torch.load on the same handle;
    # newer torch leaves the handle moved after the failed attempt, so put it back where it was
    real_jit_load = torch.jit.load

    def jit_load_keeping_position(f, *args, **kwargs):
        pos = f.tell()
        try:
            return real_jit_load(f, *args, **kwargs)
        finally:
            f.seek(pos)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rn50.pt"
        torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, path)
        torch.jit.load = jit_load_keeping_position
        try:
            liv = liv_module.LIV(modelid=str(path), device="cpu")
        finally:
            torch.jit.load = real_jit_load
    liv.eval()  # their load_liv() puts the model in eval mode
    frame = liv_frame()
    image = train_furl.crop_center(None, frame)
    image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    tensor = T.Compose([T.ToTensor()])(image)
    with torch.no_grad():
        preprocessed = liv.transforms_tensor(tensor[None])
        image_emb = liv(input=tensor[None], modality="vision")
        instruction = tasks["drawer-open-v2-goal-hidden"]
        text_emb = liv(input=clip.tokenize([instruction]), modality="text")
    return {"instruction": instruction, "frame_checksum": int(frame.astype(np.int64).sum()),
            "preprocessed": summarise("liv/preprocessed", preprocessed.numpy()),
            "image_embedding": summarise("liv/image_embedding", image_emb.numpy()),
            "text_embedding": summarise("liv/text_embedding", text_emb.numpy()),
            "weights_keys": len(weights),
            "weights_checksum": float(sum(float(np.asarray(v, np.float64).sum()) for v in weights.values()))}


def checkout_commit(checkout: Path) -> str:
    """The checkout's commit (``git rev-parse HEAD``), or ``COMMIT`` written beside an exported tree."""
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        marker = checkout / "COMMIT"
        if marker.is_file():
            return marker.read_text().strip()
        raise SystemExit(f"error: {checkout} is not a git checkout and has no COMMIT file naming its commit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, required=True, help="a local checkout of fuyw/FuRL")
    parser.add_argument("--liv", action="store_true", help="also their frame preprocessing and LIV embeddings "
                        "(needs torch, torchvision, opencv-python-headless, ftfy, regex, tqdm)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data"
                        / "authors_reference.json")
    args = parser.parse_args(argv)
    if not (args.checkout / "models" / "projection.py").is_file():
        print(f"error: {args.checkout} has no models/projection.py: not a checkout of fuyw/FuRL", file=sys.stderr)
        return 2
    import flax
    import jax
    import optax

    doc = {"source": "fuyw/FuRL", "commit": checkout_commit(args.checkout),
           "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
                        "numpy": np.__version__},
           "settings": {"seed": SEED, "emb_dim": EMB_DIM, "batch": BATCH, "margin": MARGIN, "l2_margin": L2_MARGIN,
                        "lr": LR, "sac_hidden": SAC_HIDDEN, "sac_batch": SAC_BATCH, "tau": SAC_TAU,
                        "gamma": SAC_GAMMA},
           "inputs_checksum": input_checksums(reference_inputs())}
    doc.update(run_authors(args.checkout))
    if args.liv:
        doc["liv"] = run_authors_liv(args.checkout, load_authors_modules(args.checkout))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out} (fuyw/FuRL {doc['commit'][:7]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
