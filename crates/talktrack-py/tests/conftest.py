"""Paths the tests share: the repository's example bundle, request and trainer config."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def bundle() -> pathlib.Path:
    return ROOT / "policies" / "persuasion"


@pytest.fixture
def other_bundle() -> pathlib.Path:
    return ROOT / "policies" / "telecom-upsell"


@pytest.fixture
def request_dict() -> dict:
    return {
        "conversation_id": "p4g-demo",
        "time": "2026-11-26T10:00:00Z",
        "history": {
            "tracks": ["non-strategy", "emotion-appeal"],
            "replies": ["social/ack", "positive"],
        },
    }


@pytest.fixture
def config() -> pathlib.Path:
    return ROOT / "configs" / "p4g_reference.toml"
