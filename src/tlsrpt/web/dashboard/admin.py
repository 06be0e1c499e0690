"""The admin console (users, API tokens, domains, the bulk import, owners)
and each user's own API tokens, added to the app by `install`. The pages
are in `admin_users`, `admin_tokens`, `admin_domains` and `admin_import`;
what they share in `admin_common`."""

from __future__ import annotations

from fastapi import FastAPI

from tlsrpt.web.dashboard import admin_domains, admin_import, admin_tokens, admin_users


def install(app: FastAPI) -> None:
    # The import's path is under /admin/domains: it goes first.
    for module in (admin_import, admin_users, admin_tokens, admin_domains):
        app.include_router(module.router)
