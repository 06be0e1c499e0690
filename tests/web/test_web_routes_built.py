"""At startup the app builds what FastAPI would build at the first request
reaching each included router (`tlsrpt.web.app.build_routes`): every route
of every included router is reached."""

from __future__ import annotations

from tlsrpt.settings import Settings
from tlsrpt.web.app import build_routes, create_app


def test_every_routed_path_is_built() -> None:
    app = create_app(Settings(reverse_dns=False))
    paths = app.openapi()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    top_level = len(app.router.routes)
    built = build_routes(app.router.routes)
    assert built >= operations > top_level  # the included routers' routes, not only theirs
    assert build_routes(app.router.routes) == built  # built once, the same routes
