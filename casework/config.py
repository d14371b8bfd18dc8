"""Configuration from the environment (see spec/interfaces.md)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def instance_dir() -> Path:
    path = Path(os.environ.get("CASEWORK_INSTANCE", "instance")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    url = os.environ.get("CASEWORK_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{instance_dir() / 'casework.db'}"


def storage_dir() -> Path:
    path = Path(os.environ.get("CASEWORK_STORAGE") or instance_dir() / "files").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key() -> str:
    key = os.environ.get("CASEWORK_SECRET_KEY")
    if key:
        return key
    path = instance_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
