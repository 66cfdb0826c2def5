"""``TalkTrackEnv``: the trainer's simulator as a gymnasium environment.

Built from a ``talktrack-train`` config file, exactly the simulator ``talktrack-train
train`` learns on (the same template, aggregates and ``[sim]`` settings).

- Observation: the bundle's feature vector, a ``Box`` of float32; with
  ``dict_obs=True`` a ``Dict`` of ``observations`` (that box) and ``action_mask``
  (int8, 1 = allowed), the layout Ray RLlib's action-masking models read.
- Action: ``Discrete(n)``, one per catalog track (``env.tracks`` names them).
- Mask: ``env.action_masks()`` (what sb3-contrib's MaskablePPO calls) and
  ``info["action_mask"]`` after every ``reset`` and ``step``.
- A masked action (forbidden by the rules, or with no published data in that
  state) is not taken: the episode ends (``terminated``) with reward 0 and
  ``info["masked_action"] = True``, so random agents and ``check_env`` run.
- Episodes end by themselves (a terminal reply, the customer leaving, the last
  turn): ``truncated`` is always False.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from talktrack._talktrack import VecSim


def observation_box(obs_dim: int) -> spaces.Box:
    """The observation space of the feature vector."""
    return spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)


class TalkTrackEnv(gym.Env):
    """One copy of the simulator of a ``talktrack-train`` config."""

    metadata = {"render_modes": []}

    def __init__(self, config: str | os.PathLike[str], *, dict_obs: bool = False):
        self._sim = VecSim(os.fspath(config), 1, False)
        self.tracks: list[str] = self._sim.tracks
        self.dict_obs = dict_obs
        n = self._sim.n_actions
        box = observation_box(self._sim.obs_dim)
        if dict_obs:
            self.observation_space = spaces.Dict(
                {
                    "observations": box,
                    "action_mask": spaces.Box(0, 1, shape=(n,), dtype=np.int8),
                }
            )
        else:
            self.observation_space = box
        self.action_space = spaces.Discrete(n)
        self._mask = np.zeros(n, dtype=bool)

    def _observe(self, obs: np.ndarray, mask: np.ndarray) -> Any:
        self._mask = mask
        if self.dict_obs:
            return {"observations": obs, "action_mask": mask.astype(np.int8)}
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, mask = self._sim.reset(seed)
        return self._observe(obs[0], mask[0]), {"action_mask": mask[0].copy()}

    def step(self, action):
        obs, rewards, dones, masked, mask = self._sim.step(
            np.array([int(action)], dtype=np.int64)
        )
        info = {"action_mask": mask[0].copy(), "masked_action": bool(masked[0])}
        return (
            self._observe(obs[0], mask[0]),
            float(rewards[0]),
            bool(dones[0]),
            False,
            info,
        )

    def action_masks(self) -> np.ndarray:
        """Which actions are allowed now (bool, one per track)."""
        return self._mask.copy()
