"""One training update of each alignment stage, on hand-made buffers (no environment)."""

import numpy as np
import torch

from cliprl_cli.adam import Adam
from cliprl_cli.furl import rewards as R
from cliprl_cli.furl.buffer import AlignmentStore, ReplayBuffer
from cliprl_cli.furl.sac import SAC
from cliprl_cli.furl.config import VARIANTS, FurlConfig
from cliprl_cli.furl.context import RunContext
from cliprl_cli.furl.learn import update
from cliprl_cli.furl.state import RunState

D = 8


def make_state(relay_on=True):
    torch.manual_seed(0)
    dev = torch.device("cpu")
    heads = R.Heads(D, D)
    buf = ReplayBuffer(64, 39, 4, D)
    rng = np.random.default_rng(0)
    emb = torch.nn.functional.normalize(torch.randn(64, D), dim=-1)
    buf.add(rng.normal(size=(64, 39)), rng.uniform(-1, 1, (64, 4)), -np.ones(64), rng.normal(size=(64, 39)),
            np.ones(64), emb, torch.linspace(0, 2, 64))
    return RunState(agent=SAC(39, 4, device=dev), relay_agent=SAC(39, 4, device=dev), heads=heads,
                    heads_opt=Adam(heads.parameters(), lr=1e-2, fused=True), buffer=buf,
                    store=AlignmentStore(D, 100), np_rng=rng, torch_gen=torch.Generator().manual_seed(0),
                    relay_on=relay_on)


def run_update(st, variant="furl"):
    cfg = FurlConfig(batch_size=16, variant=variant)
    text = torch.nn.functional.normalize(torch.randn(D), dim=-1)
    before = [p.detach().clone() for p in st.heads.parameters()]
    ctx = RunContext(cfg=cfg, spec=VARIANTS[variant], device=torch.device("cpu"), text_emb=text)
    stats = update(st, ctx)
    changed = any(not torch.equal(a, b) for a, b in zip(before, st.heads.parameters()))
    return stats, changed


def test_eq5_before_any_success():
    st = make_state()
    stats, changed = run_update(st)
    assert stats["align_stage"].item() == 1.0 and "align_neg_neg" in stats
    assert stats["align_loss"].item() > 0 and changed  # distances spread over [0, 2]: pairs exist
    assert st.updates == 1


def test_eq4_after_a_success():
    st = make_state()
    emb = torch.nn.functional.normalize(torch.randn(30, D), dim=-1)
    st.store.add_trajectory(emb[:20], [False] * 20, k=10)
    st.store.add_trajectory(emb[10:], [False] * 15 + [True] * 5, k=10)
    assert st.store.ready()
    stats, changed = run_update(st)
    assert stats["align_stage"].item() == 2.0 and {"align_pos_neg", "align_pos_pos"} <= set(stats)
    assert changed


def test_furl_no_goal_waits_for_a_success():
    st = make_state()
    stats, changed = run_update(st, "furl-no-goal")
    assert "align_loss" not in stats and not changed


def test_relay_agent_learns_only_while_relay_is_on():
    for on in (True, False):
        st = make_state(relay_on=on)
        before = st.relay_agent.actor.net[0].weight.detach().clone()
        run_update(st)
        assert torch.equal(before, st.relay_agent.actor.net[0].weight) != on
