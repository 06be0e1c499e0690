"""Where the database is when the user does not say (no heavy imports: the
CLI reads this to build its help)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

ENV_VAR = "TLSRPT_DATABASE_URL"


def default_database_path() -> Path:
    return Path(platformdirs.user_data_dir("tlsrpt", appauthor=False)) / "tlsrpt.sqlite3"
