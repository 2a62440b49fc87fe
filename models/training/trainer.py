"""Training loops: stage 1 diffusion forcing, stage 2 DPO; resumable, single process or torchrun.

Run under `torchrun --nproc_per_node N` and the same code trains with DistributedDataParallel
(gloo on CPU, nccl on CUDA): each rank draws its own windows, gradients are averaged, rank 0
writes checkpoints and logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from models.bundle import AvatarForcingModel
from models.generator.conditions import Conditions
from models.generator.config import SamplerConfig, strict_from_dict
from models.generator.sampler import StreamingSampler
from models.motion.arkit import ARKIT_DIM, INDEX, mouth_channel_indices
from models.training.augment import AugmentConfig, augment_batch
from models.training.auxiliary import LipHead, VisemeHead, lip_loss, viseme_loss
from models.training.data import Batch, WindowSampler
from models.training.losses import (
    DF_NORMS,
    diffusion_forcing_loss,
    finetune_loss,
    frozen_copy,
    reaction_weights,
    viseme_frame_weights,
    viseme_weight_table,
)

log = logging.getLogger(__name__)

STAGES = ("df", "dpo")
LR_DECAYS = ("constant", "cosine")


def training_progress(step: int, steps: int, elapsed: float, max_seconds: float, warmup: int) -> float:
    """Fraction (0..1) of the post-warm-up training done: by steps, or by time when a time budget
    is set and runs out first."""
    by_steps = (step - warmup) / max(1, steps - warmup)
    by_time = elapsed / max_seconds if max_seconds > 0 else 0.0
    return min(1.0, max(0.0, by_steps, by_time))


def lr_factor(step: int, progress: float, warmup: int, decay: str, floor: float) -> float:
    """Learning-rate multiplier at `step` (0-based): linear warm-up over `warmup` steps, then
    constant, or cosine from 1 to `floor` as `progress` goes 0 -> 1."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "constant":
        return 1.0
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "df"  # "df": stage 1 diffusion forcing; "dpo": stage 2 DPO fine-tuning
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    window: int = 50  # frames per training window (the attention window)
    burn_in: int = 25  # audio frames fed to the encoder before each window, outputs discarded
    cond_chunk: int | None = None  # None: the sampler's block size (realtime condition windows)
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    dpo_weight: float = 0.1
    dpo_beta: float = 1000.0
    loser_nfe: int = 10  # sampler steps for the talking-only losers
    df_norm: str = "l1"  # "l1" (the paper) or "l2" (the conditional mean; see diffusion_forcing_loss)
    lip_weight: float = 0.0  # weight of the auxiliary lip-reading loss on the audio encoder (df)
    viseme_weight: float = 0.0  # weight of the auxiliary viseme classification loss (df; needs phones)
    reaction_weight: float = 0.0  # > 0: frames 0.1-1 s after a user smile onset weigh 1 + this (df)
    reaction_windows: float = 0.0  # share of windows placed just before a user smile onset
    channel_weights: dict[str, float] = field(default_factory=dict)  # motion channel -> loss weight (df)
    # viseme -> loss weight of the avatar's mouth channels on its frames with that viseme
    # (df; needs phones), e.g. {"PP": 4}
    viseme_frame_weights: dict[str, float] = field(default_factory=dict)
    warmup: int = 0  # steps of linear learning-rate warm-up
    lr_decay: str = "constant"  # "constant" or "cosine" (to lr_floor * lr at the last step)
    lr_floor: float = 0.1
    ema: float = 0.0  # > 0: keep an exponential moving average of the weights and save it
    max_seconds: float = 0.0  # > 0: also stop after this much training time (the LR decays by time)
    # on-the-fly feature augmentation (models.training.augment.AugmentConfig keys), e.g. {"warp": 0.1}
    augment: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; valid: {list(STAGES)}")
        if min(self.steps, self.batch_size, self.window) < 1:
            raise ValueError("steps, batch_size and window must be >= 1")
        if self.df_norm not in DF_NORMS:
            raise ValueError(f"unknown df_norm {self.df_norm!r}; valid: {list(DF_NORMS)}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"unknown lr_decay {self.lr_decay!r}; valid: {list(LR_DECAYS)}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (got {self.ema})")
        if min(self.lip_weight, self.viseme_weight, self.warmup, self.reaction_weight) < 0:
            raise ValueError("lip_weight, viseme_weight, reaction_weight and warmup must be >= 0")
        if not 0.0 <= self.reaction_windows <= 1.0:
            raise ValueError(f"reaction_windows must be in [0, 1] (got {self.reaction_windows})")
        viseme_weight_table(self.viseme_frame_weights)  # ValueError naming a bad viseme or weight
        AugmentConfig.from_dict(self.augment)  # ConfigError naming a bad key or value

    @property
    def augmentation(self) -> AugmentConfig:
        return AugmentConfig.from_dict(self.augment)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return strict_from_dict(cls, d, "train config")


class TrainStep(nn.Module):
    """The loss of one batch as a module, so DistributedDataParallel can wrap it."""

    def __init__(
        self, model: AvatarForcingModel, config: TrainConfig, reference: AvatarForcingModel | None
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.reference = reference
        self.chunk = config.cond_chunk or model.card.sampler.block_frames or model.card.generator.block_frames
        self.lip_head = (
            LipHead(model.card.generator.dim_cond, mouth_channel_indices())
            if config.stage == "df" and config.lip_weight > 0
            else None
        )
        dim_cond = model.card.generator.dim_cond
        self.viseme_head = VisemeHead(dim_cond) if config.stage == "df" and config.viseme_weight > 0 else None
        self._mouth = mouth_channel_indices()
        if config.viseme_frame_weights and model.card.stats.dim != ARKIT_DIM:
            raise ValueError(
                "viseme_frame_weights weigh the ARKit mouth channels; this model's motion space is not arkit"
            )

    def heads(self) -> dict[str, nn.Module]:
        """The auxiliary heads being trained, by the name their state is saved under."""
        named = {"lip_head": self.lip_head, "viseme_head": self.viseme_head}
        return {k: v for k, v in named.items() if v is not None}

    @property
    def channel_weight(self) -> torch.Tensor | None:
        """(D,) diffusion-loss weight per motion channel, or None when all are 1."""
        if not self.config.channel_weights:
            return None
        from models.motion.arkit import ARKIT_DIM, canonical_name
        from models.motion.arkit import INDEX as ARKIT_INDEX

        if self.model.card.stats.dim != ARKIT_DIM:
            raise ValueError("channel_weights name ARKit channels; this model's motion space is not arkit")
        w = torch.ones(ARKIT_DIM, device=next(self.model.parameters()).device)
        for name, value in self.config.channel_weights.items():
            w[ARKIT_INDEX[canonical_name(name)]] = float(value)
        return w

    def _reaction_weights(self, batch: Batch) -> torch.Tensor | None:
        """(B, W) loss weights stressing the frames that answer the user's smiles, or None."""
        if self.config.reaction_weight <= 0:
            return None
        stats = self.model.card.stats
        if stats.dim != ARKIT_DIM:
            raise ValueError("reaction_weight needs the arkit motion space (it reads the user's smile)")
        idx = [INDEX["MouthSmileLeft"], INDEX["MouthSmileRight"]]
        mean = torch.as_tensor(
            stats.mean[idx], dtype=batch.user_motion.dtype, device=batch.user_motion.device
        )
        std = torch.as_tensor(stats.std[idx], dtype=batch.user_motion.dtype, device=batch.user_motion.device)
        smile = (batch.user_motion[..., idx] * std + mean).mean(dim=-1)  # (B, W) raw 0..1
        return reaction_weights(smile, self.model.card.fps, self.config.reaction_weight)

    def _mouth_weights(self, batch: Batch) -> torch.Tensor | None:
        """(B, W, D) diffusion-loss weights: on the mouth channels (those speech drives,
        `mouth_channel_indices`) of the avatar's frames, the weight of that frame's viseme; 1
        elsewhere, so the head and the rest of the face keep their plain loss. None when plain."""
        if not self.config.viseme_frame_weights:
            return None
        if batch.avatar_visemes is None:
            raise ValueError(
                "viseme_frame_weights need phone labels: train on a corpus folder, or pack it again "
                "(feature packs made before format /2 carry no phones)"
            )
        motion = batch.avatar_motion
        v = viseme_frame_weights(batch.avatar_visemes, self.config.viseme_frame_weights)  # (B, W)
        out = torch.ones_like(motion)  # (B, W, D)
        out[..., self._mouth] = v.to(out)[..., None]
        return out

    def encode(self, batch: Batch) -> Conditions:
        return self.model.conditions(batch.avatar_feats, batch.user_feats, batch.user_motion, batch.burn_in)

    def forward(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        cond = self.encode(batch)
        if self.config.stage == "df":
            loss, _ = diffusion_forcing_loss(
                self.model.generator,
                batch.avatar_motion,
                cond,
                batch.ref,
                generator=gen,
                cond_chunk=self.chunk,
                norm=self.config.df_norm,
                frame_weight=self._reaction_weights(batch),
                element_weight=self._mouth_weights(batch),
                channel_weight=self.channel_weight,
            )
            stats = {"df_loss": float(loss.detach())}
            if self.lip_head is not None:
                lip = 0.5 * (
                    lip_loss(self.lip_head, cond.avatar_audio, batch.avatar_motion)
                    + lip_loss(self.lip_head, cond.user_audio, batch.user_motion)
                )
                loss = loss + self.config.lip_weight * lip
                stats["lip_loss"] = float(lip.detach())
            if self.viseme_head is not None:
                if batch.avatar_visemes is None or batch.user_visemes is None:
                    raise ValueError(
                        "viseme_weight needs phone labels: train on a corpus folder, or pack it again "
                        "(feature packs made before format /2 carry no phones)"
                    )
                vis = 0.5 * (
                    viseme_loss(self.viseme_head, cond.avatar_audio, batch.avatar_visemes)
                    + viseme_loss(self.viseme_head, cond.user_audio, batch.user_visemes)
                )
                loss = loss + self.config.viseme_weight * vis
                stats["viseme_loss"] = float(vis.detach())
            return loss, {"loss": float(loss.detach()), **stats}
        assert self.reference is not None
        loser = talking_only_motion(self.reference, cond, batch.ref, self.config.loser_nfe, gen)
        return finetune_loss(
            self.model.generator,
            self.reference.generator,
            batch.avatar_motion,
            loser,
            cond,
            batch.ref,
            dpo_weight=self.config.dpo_weight,
            beta=self.config.dpo_beta,
            generator=gen,
            cond_chunk=self.chunk,
            norm=self.config.df_norm,
        )


def talking_only_motion(
    model: AvatarForcingModel, cond: Conditions, ref: torch.Tensor, nfe: int, gen: torch.Generator
) -> torch.Tensor:
    """Losing samples for DPO: motion from a talking-only model, which hears the avatar's audio but
    neither sees nor hears the user (user streams nulled; avatar-audio guidance only). (B, W, D)"""
    cond = Conditions(
        cond.avatar_audio.detach(), torch.zeros_like(cond.user_audio), torch.zeros_like(cond.user_motion)
    )
    sampler = StreamingSampler(
        model.generator,
        SamplerConfig(
            schedule="official",
            nfe=nfe,
            a_cfg_scale=model.card.sampler.a_cfg_scale,
            a_cfg_speech=model.card.sampler.a_cfg_speech,
            u_cfg_scale=0.0,
        ),
    )
    if cond.frames > model.card.generator.window_frames:
        raise ValueError("training windows longer than the attention window are not supported")
    sampler.reset(ref)
    noise = torch.randn(ref.shape[0], cond.frames, ref.shape[-1], generator=gen, device=ref.device)
    # The official schedule's first call denoises the whole window at once.
    return sampler.step(cond, noise).clone()  # clone: leave inference mode, a plain tensor for autograd


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(requested: str | None, info: DistInfo) -> str:
    if requested and requested != "auto":
        return requested
    if torch.cuda.is_available():
        return f"cuda:{info.local_rank}"
    return "cpu"


def train(
    model: AvatarForcingModel,
    sampler: WindowSampler,
    config: TrainConfig,
    out_dir: str | Path,
    device: str | None = None,
    reference: AvatarForcingModel | None = None,
    provenance: dict[str, Any] | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[AvatarForcingModel], dict[str, float]] | None = None,
) -> Path:
    """Train `model` in place; resume from out_dir/train_state.pt when it exists.

    Writes out_dir/model.pt (a self-describing checkpoint), out_dir/train_state.pt (to resume)
    and out_dir/log.jsonl. Returns the path of model.pt. `on_checkpoint` (e.g. a
    `validation.HeldoutCheck`) is called with the saved model after every checkpoint (main
    process only); what it returns is logged as {"step": ..., "heldout": {...}}.
    """
    out = Path(out_dir)
    pre = DistInfo(
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )
    dev = pick_device(device, pre)
    info = init_distributed(dev)
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
    model.to(dev).train()
    if config.stage == "dpo":
        if reference is None:
            reference = frozen_copy(model)
        reference.to(dev).eval()
        model.audio_encoder.requires_grad_(False)  # DPO fine-tunes the motion generator only
    step_module = TrainStep(model, config, reference).to(dev)
    wrapped: nn.Module = step_module
    if info.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[info.local_rank] if dev.startswith("cuda") else None
        )
    trained = [model, *step_module.heads().values()]
    params = [p for m in trained for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema), use_buffers=True
        )
        if config.ema > 0
        else None
    )

    augmentation, front_end = config.augmentation, model.card.front_end
    state_path = out / "train_state.pt"
    step = 0
    rng = np.random.default_rng([config.seed, info.rank])
    gen = torch.Generator(device=dev).manual_seed(config.seed * 1000 + info.rank)
    elapsed = 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location=dev, weights_only=True)
        # The step count and logging cadence may change between runs (train longer); nothing else.
        free = {"steps", "log_every", "checkpoint_every", "max_seconds"}
        saved = {**TrainConfig().to_dict(), **state["config"]}  # keys added since take their defaults
        if {k: v for k, v in saved.items() if k not in free} != {
            k: v for k, v in config.to_dict().items() if k not in free
        }:
            raise ValueError(
                f"{state_path} was written with another training config; use a new --out or delete it"
            )
        model.load_state_dict(state["model"])
        for name, head in step_module.heads().items():
            if name in state:
                head.load_state_dict(state[name])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        elapsed = float(state.get("elapsed", 0.0))
        rng = np.random.default_rng([config.seed, info.rank, step])
        gen.manual_seed(config.seed * 1000 + info.rank + 7919 * step)
        log.info("resumed from %s at step %d", state_path, step)

    earlier = model.card.training.get(f"stage_{config.stage}")  # from an --init checkpoint

    def save() -> None:
        if not info.main:
            return
        _save()
        if on_checkpoint is not None:
            figures = on_checkpoint(ema.module if ema is not None else model)
            log.info("held out at step %d: %s", step, figures)
            with (out / "log.jsonl").open("a") as f:
                f.write(json.dumps({"step": step, "heldout": figures}) + "\n")

    def _save() -> None:
        torch.save(
            {
                "config": config.to_dict(),
                "model": model.state_dict(),
                **{name: head.state_dict() for name, head in step_module.heads().items()},
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "optimizer": opt.state_dict(),
                "step": step,
                "elapsed": elapsed,
            },
            state_path.with_suffix(".tmp"),
        )
        state_path.with_suffix(".tmp").replace(state_path)
        saved_model = ema.module if ema is not None else model  # the averaged weights are the product
        saved_model.save(
            out / "model.pt",
            **{
                f"stage_{config.stage}": {
                    **(provenance or {}),
                    "config": config.to_dict(),
                    "steps_done": step,
                    "world_size": info.world,
                    "seconds": round(elapsed, 1),
                    "device": dev,
                    # the same stage run before on the --init model: this run continues it
                    **({"continues": earlier} if earlier is not None else {}),
                }
            },
        )

    bar = tqdm(
        total=config.steps,
        initial=step,
        desc=f"train {config.stage}",
        unit="step",
        disable=not (progress and info.main),
    )
    logf = (out / "log.jsonl").open("a") if info.main else None
    running: dict[str, float] = {}
    try:
        while step < config.steps:
            t0 = time.perf_counter()
            batch = augment_batch(
                sampler.sample(config.batch_size, rng).to(dev), augmentation, front_end, gen
            )
            progress = training_progress(step, config.steps, elapsed, config.max_seconds, config.warmup)
            if info.world > 1 and config.max_seconds > 0:  # every rank follows rank 0's clock
                p = torch.tensor([progress], device=dev)
                dist.broadcast(p, 0)
                progress = float(p)
            if config.max_seconds > 0 and progress >= 1.0 and step >= config.warmup:
                log.info("time budget of %.0f s spent at step %d", config.max_seconds, step)
                save()
                break
            factor = lr_factor(step, progress, config.warmup, config.lr_decay, config.lr_floor)
            for group in opt.param_groups:
                group["lr"] = config.lr * factor
            loss, stats = wrapped(batch, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            elapsed += time.perf_counter() - t0
            for k, v in stats.items():
                running[k] = running.get(k, 0.0) + v
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                n = config.log_every if step % config.log_every == 0 else step % config.log_every
                avg = {k: v / n for k, v in running.items()}
                running = {}
                bar.set_postfix(
                    {k: f"{v:.4f}" for k, v in avg.items() if k in ("loss", "dpo_loss", "reward_accuracy")}
                )
                if logf is not None:
                    logf.write(json.dumps({"step": step, "seconds": round(elapsed, 2), **avg}) + "\n")
                    logf.flush()
            if step % config.checkpoint_every == 0 or step == config.steps:
                save()
    finally:
        bar.close()
        if logf is not None:
            logf.close()
    model.eval()
    if info.world > 1:
        dist.barrier()
    return out / "model.pt"


def describe_corpus(files: Sequence[Path], examples: Sequence[Any]) -> dict[str, Any]:
    """What a run trained on, for the card: its conversations (two examples each, a feature pack
    holding many) and its files."""
    return {
        "conversations": len(examples) // 2,
        "files": len(files),
        "first": files[0].name if files else None,
        "last": files[-1].name if files else None,
    }
