"""TalkTrackEnv and TalkTrackVecEnv on the PersuasionForGood reference config."""

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import talktrack

MAX_TURNS = 10
# The reply categories of the persuasion bundle, in its order.
REPLIES = ["agree/commit", "refuse", "objection", "question", "positive", "neutral",
           "answer", "social/ack", "other", "none"]


def forbidden(tracks, obs):
    """The tracks the persuasion rules forbid in the state `obs` encodes (turn
    one-hot, then last reply one-hot with 0 = no reply yet), written from the
    rule files independently of the engine."""
    turn = int(np.argmax(obs[:MAX_TURNS]))
    slot = int(np.argmax(obs[MAX_TURNS:]))
    last = None if slot == 0 else REPLIES[slot - 1]
    asks = {t for t in tracks if t.startswith("ask-")}
    out = {"ask-confirm-donation", "ask-not-donate-reason"}
    if turn < 2 or last == "objection":
        out |= asks
    return out


def test_passes_gymnasiums_env_checker(config):
    env = talktrack.TalkTrackEnv(config)
    check_env(env, skip_render_check=True)
    assert isinstance(env.action_space, spaces.Discrete)
    assert env.action_space.n == len(env.tracks)


def test_the_dict_observation_passes_the_checker_and_holds_the_mask(config):
    env = talktrack.TalkTrackEnv(config, dict_obs=True)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert set(obs) == {"observations", "action_mask"}
    assert obs["action_mask"].dtype == np.int8
    np.testing.assert_array_equal(obs["action_mask"].astype(bool), info["action_mask"])
    np.testing.assert_array_equal(env.action_masks(), info["action_mask"])


def test_a_random_masked_rollout_never_sees_a_forbidden_track_unmasked(config):
    env = talktrack.TalkTrackEnv(config)
    rng = np.random.default_rng(0)
    tracks = env.tracks
    steps = episodes = 0
    returns = []
    obs, info = env.reset(seed=11)
    total = 0.0
    while episodes < 200:
        mask = env.action_masks()
        np.testing.assert_array_equal(mask, info["action_mask"])
        assert mask.any(), "a state with nothing allowed"
        for t in forbidden(tracks, obs):
            assert not mask[tracks.index(t)], f"`{t}` allowed in a state the rules forbid it"
        action = int(rng.choice(np.flatnonzero(mask)))
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["masked_action"] is False and truncated is False
        total += reward
        steps += 1
        if terminated:
            returns.append(total)
            total = 0.0
            episodes += 1
            obs, info = env.reset()
    assert env._sim.violations() == 0
    assert steps > episodes
    # Random play converts sometimes and not always (the reference uniform value is 0.45).
    assert 0.1 < np.mean(returns) < 0.9, np.mean(returns)


def test_a_masked_action_ends_the_episode_with_reward_zero(config):
    env = talktrack.TalkTrackEnv(config)
    env.reset(seed=1)
    action = env.tracks.index("ask-confirm-donation")
    assert not env.action_masks()[action]
    _, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated, info["masked_action"]) == (0.0, True, False, True)
    with pytest.raises(talktrack.EnvError, match="call reset"):
        env.step(0)
    with pytest.raises(talktrack.EnvError, match="not a track"):
        env.reset()
        env.step(len(env.tracks))


def test_seeded_resets_replay_the_same_episode(config):
    def episode(env):
        obs, _ = env.reset(seed=42)
        seen = [obs]
        while True:
            action = int(np.flatnonzero(env.action_masks())[0])
            obs, reward, terminated, _, _ = env.step(action)
            seen.append(np.append(obs, reward))
            if terminated:
                return seen

    a, b = episode(talktrack.TalkTrackEnv(config)), episode(talktrack.TalkTrackEnv(config))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_bad_config_is_a_config_error(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(talktrack.ConfigError, match="missing.toml"):
        talktrack.TalkTrackEnv(missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\nlog = 3\n")
    with pytest.raises(talktrack.ConfigError, match="bad simulator config"):
        talktrack.TalkTrackEnv(bad)


def test_the_vectorised_env_steps_many_copies_and_restarts_ended_episodes(config):
    venv = talktrack.TalkTrackVecEnv(config, num_envs=8, seed=5)
    obs = venv.reset()
    assert obs.shape == (8, venv.observation_space.shape[0]) and obs.dtype == np.float32
    rng = np.random.default_rng(1)
    ended = 0
    for _ in range(200):
        masks = venv.action_masks()
        assert masks.shape == (8, venv.action_space.n)
        np.testing.assert_array_equal(np.stack(venv.env_method("action_masks")), masks)
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, rewards, dones, infos = venv.step(actions)
        assert rewards.shape == (8,) and dones.dtype == bool
        for i in np.flatnonzero(dones):
            ended += 1
            assert infos[i]["masked_action"] is False
            assert "terminal_observation" in infos[i]
            # A new episode started: turn 1, no reply yet.
            assert obs[i][0] == 1.0 and obs[i][MAX_TURNS] == 1.0
    assert ended > 8
    # A masked action in one copy ends that copy's episode only.
    venv.reset()
    actions = np.array([int(np.flatnonzero(m)[0]) for m in venv.action_masks()])
    actions[3] = venv.tracks.index("ask-confirm-donation")
    _, rewards, dones, infos = venv.step(actions)
    assert dones[3] and rewards[3] == 0.0 and infos[3]["masked_action"] is True
    assert venv._sim.violations() == 0
