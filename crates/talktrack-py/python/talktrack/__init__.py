"""talktrack: decides the next talk track in a sales or service conversation.

``Engine`` serves a bundle (a learned policy ranks, compliance rules decide what is
permitted); ``TalkTrackEnv`` and ``TalkTrackVecEnv`` are the trainer's simulator as
gymnasium / Stable-Baselines3 environments (they need ``gymnasium``: install
``talktrack[gym]``).
"""

from talktrack._talktrack import (
    BundleError,
    ConfigError,
    Engine,
    EnvError,
    RequestError,
    RollbackError,
    TalktrackError,
    VecSim,
    __version__,
)

__all__ = [
    "BundleError",
    "ConfigError",
    "Engine",
    "EnvError",
    "RequestError",
    "RollbackError",
    "TalkTrackEnv",
    "TalkTrackVecEnv",
    "TalktrackError",
    "VecSim",
    "__version__",
]


def __getattr__(name):
    # The environments import gymnasium, which the engine alone does not need.
    if name == "TalkTrackEnv":
        from talktrack.env import TalkTrackEnv

        return TalkTrackEnv
    if name == "TalkTrackVecEnv":
        from talktrack.vec_env import TalkTrackVecEnv

        return TalkTrackVecEnv
    raise AttributeError(f"module 'talktrack' has no attribute {name!r}")
