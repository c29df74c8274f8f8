"""What answers at `/` and at paths no API took: the project's `public/` folder, else the landing page.

`mount_site(router, settings)` is called by `app.py` once the API mounts are in the router:

- `public_dir` (default `public`, relative to the project folder) exists: it is the router's default
  app (`web/public.py`), served at `/` with an SPA fallback; the landing page is not mounted.
- otherwise: `GET /` is the landing page (`web/landing.py`), where auth links land by default, and
  every other unknown path stays a JSON 404.

Whether the folder exists is decided when the app is built: creating it needs a restart. A folder
that holds the project's secrets (the project folder itself, a folder above it, `.backstack/`, the
signing key) is refused with `UnsafePublicDir`: serving it would publish the jwt_secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Mount, Route

from backstack.config import CONFIG_FILE
from backstack.web.landing import LandingPage
from backstack.web.public import PublicSite

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.routing import Router

    from backstack.config import Settings

# Supabase's API prefixes, mounted or still to come: a file in public/ never answers under them.
API_PREFIXES = ("/rest/v1", "/auth/v1", "/storage/v1", "/realtime/v1", "/functions/v1", "/graphql/v1")
# Where the dashboard will be mounted (issue 18); None until backstack/studio exists. Setting it lists
# Studio on the landing page; mounting it in app.py reserves its prefix like any other mount.
STUDIO_PATH: str | None = None


class UnsafePublicDir(ValueError):
    """`public_dir` names a folder holding a secret of the project: serving it would publish that secret."""


def public_folder(settings: Settings) -> Path | None:
    """The folder to serve at `/`, or None when `public_dir` is empty or names no folder.

    Raises `UnsafePublicDir` when the folder (symlinks resolved) holds or is inside one of the
    project's secrets: hidden names are never served, but below the folder they need not be hidden.
    """
    if not settings.public_dir:
        return None
    folder = settings.project_dir / settings.public_dir  # an absolute public_dir replaces the project folder
    if not folder.is_dir():
        return None
    real = folder.resolve()
    for secret, what in _secrets(settings):
        if secret.resolve().is_relative_to(real) or real.is_relative_to(secret.resolve()):
            raise UnsafePublicDir(
                f"public_dir {settings.public_dir!r} ({real}) would publish {secret} ({what}): name a folder that "
                "holds only the site, such as `public` (the default), neither the project folder nor one above it"
            )
    return folder


def _secrets(settings: Settings) -> list[tuple[Path, str]]:
    """The project's files and folders that must never be served, and what each holds."""
    paths = [(settings.project_dir / CONFIG_FILE, "the jwt_secret"), (settings.data_dir, "the database")]
    key = settings.jwt_signing_key.strip()
    if key and not key.startswith("{"):  # a PEM file, not an inline JWK
        paths.append((settings.project_dir / key, "the signing key"))
    return paths


def reserved_prefixes(router: Router) -> tuple[str, ...]:
    """Every path the router's own routes answer under, plus `API_PREFIXES`."""
    paths = {route.path.split("{")[0].rstrip("/") for route in router.routes if isinstance(route, Mount | Route)}
    return tuple(sorted((paths - {""}) | set(API_PREFIXES)))


def mount_site(router: Router, settings: Settings) -> None:
    """Serve the public folder as the router's default app, or mount the landing page at `/`."""
    folder = public_folder(settings)
    if folder is not None:
        router.default = PublicSite(folder, reserved_prefixes(router))
    else:
        router.routes.append(Route("/", LandingPage(public_dir=settings.public_dir, studio_path=STUDIO_PATH)))
