"""Import of the official Avatar Forcing flow-transformer weights.

Maps the release's parameter names (see shared/reference/official_checkpoint_manifest.json) onto
`MotionGenerator`, strictly: any missing, unexpected or mis-shaped tensor is refused with the
names listed. The release's two mask buffers are checked against the masks this implementation
computes from the config, then dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from .config import GeneratorConfig
from .masks import alignment_mask, block_causal_lookahead_mask
from .transformer import MotionGenerator

log = logging.getLogger(__name__)

OFFICIAL_PREFIX = "flow_transformer."
OFFICIAL_COMPONENTS = ("flow_transformer", "motion_autoencoder", "audio_encoder")
MASK_BUFFERS = ("alignment_mask", "block_bidir_causal_lookahead_mask")

# Name pairs (official, ours); the same table maps both ways, anchored on whole path segments.
_NAME_PAIRS: list[tuple[str, str]] = [
    ("x_embedder.proj.", "input_proj."),
    ("t_embedder.mlp.0.", "time_embed.fc1."),
    ("t_embedder.mlp.2.", "time_embed.fc2."),
    ("c_embedder.motion_embedder.", "cond_encoder.user_motion_embed."),
    ("c_embedder.dual_modal_attn.", "cond_encoder.user_audio_attn."),
    ("c_embedder.ln1.", "cond_encoder.norm_user."),
    ("c_embedder.user_agent_attn.", "cond_encoder.avatar_attn."),
    ("c_embedder.ln2.", "cond_encoder.norm_avatar."),
    ("c_embedder.to_cond_user.", "cond_encoder.to_tokens."),
    ("adaLN_modulation.1.", "adaln."),
    ("final_layer.adaLN_modulation.1.", "final_adaln."),
    ("final_layer.linear.", "final_out."),
    ("blocks.{i}.attn.qkv.", "blocks.{i}.self_attn.qkv."),
    ("blocks.{i}.attn.proj.", "blocks.{i}.self_attn.out."),
    ("blocks.{i}.cross_attn.q.", "blocks.{i}.cross_attn.q."),
    ("blocks.{i}.cross_attn.kv.", "blocks.{i}.cross_attn.kv."),
    ("blocks.{i}.cross_attn.proj.", "blocks.{i}.cross_attn.out."),
    ("blocks.{i}.mlp.fc1.", "blocks.{i}.mlp.fc1."),
    ("blocks.{i}.mlp.fc2.", "blocks.{i}.mlp.fc2."),
]


def _rename(name: str, to_ours: bool) -> str | None:
    for official, ours in _NAME_PAIRS:
        src, dst = (official, ours) if to_ours else (ours, official)
        pattern = "^" + re.escape(src).replace(re.escape("{i}"), "(?P<i>[0-9]+)") + "(?P<rest>.+)$"
        m = re.match(pattern, name)
        if m:
            head = dst.replace("{i}", m.group("i")) if "{i}" in dst else dst
            return head + m.group("rest")
    return None


def official_to_ours(name: str) -> str | None:
    """Our parameter name for an official flow-transformer name (without prefix), or None."""
    return _rename(name, to_ours=True)


def ours_to_official(name: str) -> str:
    """The official name (without prefix) of one of our parameters."""
    official = _rename(name, to_ours=False)
    if official is None:
        raise KeyError(f"no official name for parameter {name!r}")
    return official


class CheckpointMismatchError(ValueError):
    """A state dict does not match the model: the message lists every offending name."""


def split_official_components(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Split a combined official state dict by component prefix (flow_transformer, ...).

    Keys without a known component prefix are taken as a bare flow-transformer dict (the layout
    of flow_transformer.pth and of the parity fixtures).
    """
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in OFFICIAL_COMPONENTS and rest:
            out.setdefault(head, {})[rest] = value
        else:
            out.setdefault("flow_transformer", {})[key] = value
    return out


def convert_official_state_dict(
    official: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    config: GeneratorConfig,
) -> dict[str, torch.Tensor]:
    """Rename an official flow-transformer state dict into ours, checking names and shapes.

    `official` may carry the "flow_transformer." prefix; `expected` is the target model's
    state_dict (only names and shapes are read).
    """
    problems: list[str] = []
    converted: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    for key, value in official.items():
        name = key[len(OFFICIAL_PREFIX) :] if key.startswith(OFFICIAL_PREFIX) else key
        key = OFFICIAL_PREFIX + name  # messages always give the full official name
        if name in MASK_BUFFERS:
            problems.extend(_check_mask(name, value, config))
            continue
        ours = official_to_ours(name)
        if ours is None or ours not in expected:
            problems.append(f"unexpected: {key} {tuple(value.shape)}")
            continue
        seen.add(ours)
        want = tuple(expected[ours].shape)
        if tuple(value.shape) != want:
            problems.append(f"mis-shaped: {key} is {tuple(value.shape)}, expected {want}")
            continue
        converted[ours] = value
    for ours, tensor in expected.items():
        if ours not in seen:
            problems.append(f"missing: {OFFICIAL_PREFIX}{ours_to_official(ours)} {tuple(tensor.shape)}")
    if problems:
        raise CheckpointMismatchError(
            f"official flow-transformer weights do not match the model ({len(problems)} problem(s)):\n  "
            + "\n  ".join(problems)
        )
    return converted


def _check_mask(name: str, value: torch.Tensor, config: GeneratorConfig) -> list[str]:
    w = config.window_frames
    if name == "alignment_mask":
        ours = alignment_mask(w, w, config.cond_window)
    else:
        ours = block_causal_lookahead_mask(w, config.block_frames, config.lookahead_frames)
    if tuple(value.shape) != tuple(ours.shape):
        return [f"mis-shaped: {name} is {tuple(value.shape)}, expected {tuple(ours.shape)}"]
    if not torch.equal(value.bool(), ours):
        # The masks are recomputed from the config; a differing buffer is ignored, but said.
        log.warning("%s in the checkpoint differs from the mask the config implies; using the config's", name)
    return []


def load_official_generator(
    source: str | Path | Mapping[str, torch.Tensor], config: GeneratorConfig
) -> MotionGenerator:
    """Build a MotionGenerator from official weights (a path to flow_transformer.pth, a combined
    checkpoint, or a state dict), strictly. The model is built without initialising its weights."""
    if isinstance(source, (str, Path)):
        state = torch.load(source, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    else:
        state = source
    flow = split_official_components(state).get("flow_transformer", {})
    with torch.device("meta"):
        model = MotionGenerator(config)
    converted = convert_official_state_dict(flow, model.state_dict(), config)
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()
