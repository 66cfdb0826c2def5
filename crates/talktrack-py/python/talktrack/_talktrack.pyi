"""Type stubs of the native module ``talktrack._talktrack``."""

import os
from typing import Any, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str

class Problem(TypedDict):
    severity: str
    code: str
    message: str
    location: str
    help: Optional[str]

class Version(TypedDict):
    name: str
    version: str
    digest: str
    loaded_at: str
    source: str
    serial: int

class Identity(TypedDict):
    name: str
    version: str
    digest: str

class ReloadFailure(TypedDict):
    at: int
    source: str
    problems: list[Problem]

class Status(TypedDict):
    current: Version
    previous: Optional[Version]
    pinned: bool
    last_error: Optional[ReloadFailure]
    reloads_ok: int
    reloads_failed: int

class TalktrackError(Exception): ...

class BundleError(TalktrackError):
    problems: list[Problem]

class RequestError(TalktrackError): ...
class RollbackError(TalktrackError): ...
class ConfigError(TalktrackError): ...
class EnvError(TalktrackError): ...

class Engine:
    def __init__(self, path: Union[str, os.PathLike[str]]) -> None: ...
    def decide(self, request: Union[dict[str, Any], str]) -> dict[str, Any]: ...
    def record_outcome(self, outcome: Union[dict[str, Any], str]) -> None: ...
    def reload(self, path: Union[str, os.PathLike[str]]) -> Version: ...
    def rollback(self) -> Version: ...
    def version(self) -> Version: ...
    def identity(self) -> Identity: ...
    def status(self) -> Status: ...

class VecSim:
    def __init__(
        self,
        config: Union[str, os.PathLike[str]],
        num_envs: int = 1,
        autoreset: bool = False,
    ) -> None: ...
    @property
    def num_envs(self) -> int: ...
    @property
    def obs_dim(self) -> int: ...
    @property
    def n_actions(self) -> int: ...
    @property
    def tracks(self) -> list[str]: ...
    def reset(
        self, seed: Optional[int] = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]: ...
    def reset_one(
        self, index: int, seed: Optional[int] = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]: ...
    def step(
        self, actions: npt.NDArray[np.int64]
    ) -> tuple[
        npt.NDArray[np.float32],
        npt.NDArray[np.float32],
        npt.NDArray[np.bool_],
        npt.NDArray[np.bool_],
        npt.NDArray[np.bool_],
    ]: ...
    def violations(self) -> int: ...
