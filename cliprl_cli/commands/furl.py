"""`cliprl furl`: train one Meta-World task with one FuRL variant (thin: options -> cliprl_cli.furl.train.run_furl)."""

from __future__ import annotations

from typing import Optional

import typer

# Values an option takes when it is not given on the command line. "default" is sized for a workstation CPU with
# the paper's CLIP (needs its weights: online, cached, or --vlm-checkpoint); "paper" is the paper's budget
# (GPU work); "cpu-small" runs offline anywhere with a tiny random-weight VLM (plumbing tests, smoke runs).
PROFILES = {
    "default": dict(steps=20_000, random_steps=5_000, eval_every=5_000, eval_episodes=5, image_size=128,
                    vlm_model="RN50", vlm_pretrained="openai", fast_render=False, num_envs=1),
    "paper": dict(steps=1_000_000, random_steps=10_000, eval_every=10_000, eval_episodes=10, image_size=256,
                  vlm_model="RN50", vlm_pretrained="openai", fast_render=False, num_envs=1),
    "cpu-small": dict(steps=3_000, random_steps=1_000, eval_every=1_000, eval_episodes=2, image_size=64,
                      vlm_model="cliprl-tiny", vlm_pretrained="none", fast_render=True, num_envs=1),
}


def furl_command(
    task: str = typer.Option("drawer-open-v3", "--task", help="Meta-World MT10 task (-v3 names; -v2 accepted)."),
    variant: str = typer.Option("furl", "--variant", help="sac, vlm-rm, vlm-rm-gb, vlm, vlm-proj, relay, "
                                "furl-no-goal or furl."),
    seed: int = typer.Option(0, "--seed", help="Random seed (also picks the fixed goal)."),
    out: str = typer.Option("runs/furl", "--out", help="Output directory (curve.json, agent.safetensors, ...)."),
    profile: str = typer.Option("default", "--profile", help="Defaults for the options not given: default, "
                                "paper (1e6 steps, 256 px) or cpu-small (3k steps, 64 px, tiny random VLM)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Environment steps in total (from --profile)."),
    random_steps: Optional[int] = typer.Option(None, "--random-steps",
                                               help="Uniform-random steps before learning (paper 10k) (from --profile)."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Evaluate every N env steps (from --profile)."),
    eval_episodes: Optional[int] = typer.Option(None, "--eval-episodes", help="Episodes per evaluation (from --profile)."),
    num_envs: Optional[int] = typer.Option(None, "--num-envs", help="Environments stepped together; their frames "
                                           "are embedded as one batch (from --profile)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: every core for "
                                          "`sac`, which renders nothing while training; half the cores for the "
                                          "VLM variants, leaving the rest to the renderer)."),
    random_goal: bool = typer.Option(False, "--random-goal", help="New goal every episode (paper Table 2)."),
    instruction: Optional[str] = typer.Option(None, "--instruction", help="Override the task's instruction "
                                              "(default: the paper's Table 4)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Rendered frame side in px (from --profile)."),
    camera: str = typer.Option("corner2", "--camera", help="Meta-World camera for the VLM (paper: corner2)."),
    fast_render: Optional[bool] = typer.Option(None, "--fast-render/--full-render", "--no-shadows/--shadows",
                                               help="Turn the renderer's shadows, reflections and multisampling "
                                               "off: ~8x faster on Mesa (from --profile)."),
    vlm_model: Optional[str] = typer.Option(None, "--vlm-model", help="open_clip model name, or cliprl-tiny "
                                            "(from --profile; paper: RN50)."),
    vlm_pretrained: Optional[str] = typer.Option(None, "--vlm-pretrained", help="open_clip pretrained tag, or "
                                                 "'none' for RANDOM weights (from --profile; paper: openai)."),
    vlm_checkpoint: Optional[str] = typer.Option(None, "--vlm-checkpoint", help="Local open_clip state-dict file "
                                                 "(overrides --vlm-pretrained)."),
    baseline_prompt: str = typer.Option("A robot arm on a table.", "--baseline-prompt",
                                        help="Baseline prompt b of the vlm-rm-gb variant."),
    gb_alpha: float = typer.Option(0.5, "--gb-alpha", help="Goal-baseline projection strength a (vlm-rm-gb)."),
    rho: float = typer.Option(0.05, "--rho", help="VLM reward weight in r_task + rho r_vlm (paper 0.05)."),
    batch_size: int = typer.Option(256, "--batch-size", help="SAC batch size (paper 256)."),
    buffer_size: int = typer.Option(1_000_000, "--buffer-size", help="Replay capacity (paper 1e6)."),
    goal_cache: Optional[str] = typer.Option(None, "--goal-cache", help="Goal-image cache directory "
                                             "(default ~/.cache/cliprl/furl-goals)."),
    checkpoint_every: float = typer.Option(300.0, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints to OUT/checkpoint.safetensors (also "
                                                "written on SIGTERM/SIGUSR1, then exit 75; rerunning the same "
                                                "command resumes)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train SAC with (fuzzy) VLM rewards on one Meta-World task: FuRL and the paper's baselines.

    Preemption-safe: a checkpoint is written every --checkpoint-every seconds and on SIGTERM/SIGUSR1 (between two
    environment steps), then the command exits 75; running the same command again resumes, with the same final
    bytes on the CPU. A corrupt checkpoint is reported, renamed *.corrupt-<time>, and the run starts afresh."""
    from ..errors import CliprlError
    from ..furl.train import FurlConfig, run_furl

    if profile not in PROFILES:
        raise CliprlError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    given = dict(steps=steps, random_steps=random_steps, eval_every=eval_every, eval_episodes=eval_episodes,
                 image_size=image_size, vlm_model=vlm_model, vlm_pretrained=vlm_pretrained, fast_render=fast_render,
                 num_envs=num_envs)
    resolved = {k: (v if v is not None else PROFILES[profile][k]) for k, v in given.items()}
    cfg = FurlConfig(task=task, variant=variant, seed=seed, out=out, device=device, random_goal=random_goal,
                     instruction=instruction, camera=camera, threads=threads, vlm_checkpoint=vlm_checkpoint,
                     baseline_prompt=baseline_prompt, gb_alpha=gb_alpha, rho=rho, batch_size=batch_size,
                     buffer_size=buffer_size, goal_cache=goal_cache, quiet=quiet, **resolved)
    summary = run_furl(cfg, checkpoint_every_s=checkpoint_every)
    if not quiet:
        final = summary.get("final", {})
        typer.echo(f"{cfg.task} {cfg.variant} seed {cfg.seed}: success_any={final.get('success_any')} "
                   f"success_last={final.get('success_last')} after {summary['steps']} steps "
                   f"({summary['env_steps_per_s']} steps/s) -> {out}")
