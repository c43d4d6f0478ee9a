"""A plain Adam optimiser (Kingma & Ba), the update of ``torch.optim.Adam`` without amsgrad or weight decay.

Why not ``torch.optim.Adam``: its ``step`` and ``state_dict`` import ``torch._dynamo`` on first use, which costs
seconds of start-up in every short command (a SLURM array of hundreds of ``train-base`` jobs pays it each time),
and CLIP-RL's networks are small enough that start-up dominates. The state is a flat dict of tensors, so a
checkpoint stores it as safetensors directly.

``fused=True`` runs the whole step as one ``torch._fused_adam_`` call (the kernel behind
``torch.optim.Adam(fused=True)``: a single pass over each parameter instead of seven ``_foreach`` passes). SAC uses
it: at batch 256 the optimizer steps are a measurable part of an update, and the Python around
``torch.optim.Adam.step`` costs more than the kernel itself. Without that private op (an old or unusual torch build)
the plain path runs; both follow the same formula, the results agree to rounding.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch


class Adam:
    """``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, fused: bool = False):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.fused = fused and hasattr(torch, "_fused_adam_")
        # the fused kernel reads the step count from a tensor on the parameters' device; one per device, shared
        self._step_tensors = {p.device: torch.zeros((), device=p.device) for p in self.params} if self.fused else {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        beta1, beta2 = self.betas
        self.step_count += 1
        if self.fused:
            for step in self._step_tensors.values():
                step.fill_(self.step_count)
            torch._fused_adam_(self.params, grads, self.exp_avg, self.exp_avg_sq, [],
                               [self._step_tensors[p.device] for p in self.params], lr=self.lr, beta1=beta1,
                               beta2=beta2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - beta2)
        bias1 = 1 - beta1 ** self.step_count
        bias2_sqrt = math.sqrt(1 - beta2 ** self.step_count)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.exp_avg, denom, -self.lr / bias1)

    def state_tensors(self, prefix: str = "optim") -> dict[str, torch.Tensor]:
        out = {f"{prefix}/step": torch.tensor(self.step_count, dtype=torch.int64)}
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            out[f"{prefix}/{i}/exp_avg"], out[f"{prefix}/{i}/exp_avg_sq"] = m, v
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], prefix: str = "optim") -> None:
        self.step_count = int(tensors[f"{prefix}/step"])
        for i in range(len(self.params)):
            self.exp_avg[i] = tensors[f"{prefix}/{i}/exp_avg"].clone()
            self.exp_avg_sq[i] = tensors[f"{prefix}/{i}/exp_avg_sq"].clone()
