"""``TalkTrackVecEnv``: many copies of the simulator stepped in one native call.

The Stable-Baselines3 ``VecEnv`` interface (``reset``, ``step_async`` /
``step_wait``, ``env_method``, ``get_attr``...), numpy arrays in and out; when
``stable_baselines3`` is installed it is a subclass of its ``VecEnv``, so
sb3-contrib's MaskablePPO takes it as it is (``action_masks()`` and
``env_method("action_masks")`` give the masks). The observation is the ``Box``
feature vector; masked actions end the episode as in ``TalkTrackEnv``
(reward 0, ``infos[i]["masked_action"] = True``). A copy whose episode ended
starts a new one at once: its observation is the new episode's first and
``infos[i]["terminal_observation"]`` the last the simulator wrote.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
from gymnasium import spaces

from talktrack._talktrack import VecSim
from talktrack.env import observation_box

try:  # pragma: no cover - depends on what is installed
    from stable_baselines3.common.vec_env import VecEnv as _Base
except ImportError:  # pragma: no cover
    _Base = object


class TalkTrackVecEnv(_Base):  # type: ignore[misc, valid-type]
    """``num_envs`` copies of the simulator of a ``talktrack-train`` config."""

    def __init__(
        self,
        config: str | os.PathLike[str],
        num_envs: int = 64,
        seed: int | None = None,
    ):
        self._sim = VecSim(os.fspath(config), num_envs, True)
        self.tracks: list[str] = self._sim.tracks
        self.render_mode = None
        self.metadata: dict[str, Any] = {"render_modes": []}
        observation_space = observation_box(self._sim.obs_dim)
        action_space = spaces.Discrete(self._sim.n_actions)
        if _Base is object:
            self.num_envs = num_envs
            self.observation_space = observation_space
            self.action_space = action_space
        else:
            super().__init__(num_envs, observation_space, action_space)
        self._seed = seed
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self._mask = np.zeros((num_envs, self._sim.n_actions), dtype=bool)
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(num_envs)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds the next ``reset``: copy ``i`` gets ``seed + i``."""
        self._seed = seed
        if seed is None:
            return [None] * self.num_envs
        return [seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        obs, mask = self._sim.reset(self._seed)
        self._seed = None
        self._mask = mask
        self.reset_infos = [{"action_mask": m} for m in mask]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(-1)

    def step_wait(self):
        obs, rewards, dones, masked, mask = self._sim.step(self._actions)
        infos: list[dict[str, Any]] = [{"action_mask": m} for m in mask]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = obs[i]
            infos[i]["masked_action"] = bool(masked[i])
        self._mask = mask
        return obs, rewards, dones, infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    def action_masks(self) -> np.ndarray:
        """Which actions each copy allows now: bool ``[num_envs, n_actions]``."""
        return self._mask.copy()

    def close(self) -> None:
        pass

    def _indices(self, indices: None | int | Iterable[int]) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        if attr_name == "action_masks":
            return [lambda i=i: self._mask[i].copy() for i in self._indices(indices)]
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        if method_name == "action_masks":
            return [self._mask[i].copy() for i in self._indices(indices)]
        method = getattr(self, method_name)
        return [method(*args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
