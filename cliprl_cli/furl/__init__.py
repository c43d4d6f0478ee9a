"""FuRL (Fu et al., ICML 2024) on Meta-World in torch: ``cliprl furl``.

Modules: ``config`` (FurlConfig, the variant table, the CLI profiles as named FurlConfig instances), ``env``
(Meta-World + headless upright rendering), ``vlm`` (open_clip, frozen), ``synthetic`` and ``synthetic_vlm`` (a
SYNTHETIC VLM with a known error: the known-answer test, and ``--vlm-model synthetic``), ``rewards`` (Eqs. 2-5,
goal-baseline reward), ``sac*`` and ``drq`` (the state and pixel agents), ``buffer`` and ``frames`` (replay with
fp16 embeddings, alignment samples; the pixel frame buffer), ``goal_image`` (scripted expert goal frame, cached),
``state`` (everything a run mutates, saved to and restored from a checkpoint). The loop: ``train`` (``run_furl``:
set-up, the loop, checkpoints) over ``context`` (what a run uses but does not change), ``observation`` (the state
and pixel observation strategies), ``acting`` (random, agent and relay actions), ``episodes`` (resets and episode
ends), ``collect`` (background embedding, commits to the replay and the alignment store), ``learn`` (one gradient
step), ``evaluate`` and ``outputs`` (curve points, the final artifacts).

Run outputs under ``--out DIR`` (every JSON file carries a top-level ``"vlm_random_weights"``: true when the VLM had
random weights, i.e. its rewards are noise; a ``--vlm-model synthetic`` run's config.json, curve.json, summary.json
and agent.json also carry ``"vlm_synthetic": true``, and its ``vlm`` identity starts ``synthetic|``:
``synthetic_vlm``):

- ``config.json``: the resolved :class:`~cliprl_cli.furl.config.FurlConfig` plus ``instruction``, ``vlm`` (model and
  weights) and ``device_resolved``.
- ``curve.json``: ``{"vlm_random_weights", "task", "variant", "seed", "curve": [point, ...]}``, one point per
  evaluation (every ``eval_every`` env steps and at the end). Each point: ``step`` (env steps so far),
  ``success_any`` (fraction of evaluation episodes with a success at any step: Meta-World's convention),
  ``success_last`` (success at the last step: the paper's), ``return`` (Meta-World's dense return),
  ``sparse_return`` (sum of ``success - 1``), ``episodes``, ``train_success_episodes``, ``positive_frames``,
  ``relay_on``, ``updates``, ``wall_s``, ``env_steps_per_s``; and, averaged over the gradient steps since the
  previous point (absent before learning starts): ``vlm_reward_mean/std/min/max`` (VLM reward of the sampled
  batches), ``train_reward_mean``, ``critic_loss``, ``actor_loss``, ``alpha``, ``q``, ``entropy``; with alignment:
  ``align_loss``, ``align_stage`` (1 = Eq. 5, 2 = Eq. 4, averaged), ``align_neg_neg`` (Eq. 5),
  ``align_pos_neg`` and ``align_pos_pos`` (the two terms of Eq. 4).
- ``agent.safetensors`` + ``agent.json`` (kind ``furl-agent``): ``agent.*`` (actor, critic, critic_target,
  log_alpha), ``relay_agent.*`` (the task-reward SAC of the relay variants), ``heads.*`` (f_L = ``heads.text``,
  f_I = ``heads.image``), ``text_embedding``, ``goal_embedding``.
- ``expert_rewards.json`` (VLM variants): one scripted-expert trajectory (up to 20 steps past its first success):
  ``step``, ``success``, ``first_success``, ``zero_shot`` (Eq. 2), ``aligned`` (Eq. 3 with the final heads, when
  the variant has heads), ``training_reward`` (the VLM reward the variant trains with): the paper's Figure 11.
- ``frames/``: ``goal.png`` (furl) and a few upright training frames ``step_<8-digit env step>.png``.
- ``summary.json``: final evaluation point, wall time, steps/s, time split (env, render, embed_wait, update,
  eval), replay bytes per transition, ``resumed_from_step`` (None for an uninterrupted run).
- ``checkpoint.safetensors`` + ``checkpoint.json``: only while a run is in progress or was preempted
  (``--checkpoint-every`` seconds, and on SIGTERM/SIGUSR1, then exit 75); removed once ``summary.json`` is written.
  The scheme is described in :mod:`cliprl_cli.furl.state`.
"""
