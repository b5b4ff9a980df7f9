"""GitHub App installation tokens: one per installation, shared by every client and reused until shortly
before it expires.

PyGithub's installation auth keeps its token and refreshes it a minute before expiry; sharing one per
installation means one token request an hour per installation, not one per API call. A 401 drops it,
so the next client mints anew.
"""

from __future__ import annotations

import threading

from github import Auth

from core.settings import Settings

InstallationKey = tuple[int, int, str]  # (App id, installation id, API URL)
_INSTALLATION_AUTHS: dict[InstallationKey, Auth.AppInstallationAuth] = {}
_AUTHS_LOCK = threading.Lock()


def installation_key(settings: Settings, installation_id: int) -> InstallationKey:
    return (int(settings.github_app_id or 0), installation_id, settings.github_api_url.rstrip("/"))


def installation_auth(settings: Settings, installation: InstallationKey) -> Auth.AppInstallationAuth:
    with _AUTHS_LOCK:
        auth = _INSTALLATION_AUTHS.get(installation)
        if auth is None:
            app = Auth.AppAuth(installation[0], settings.app_private_key() or "")
            auth = app.get_installation_auth(installation[1])
            _INSTALLATION_AUTHS[installation] = auth
        return auth


def forget_installation(installation: InstallationKey) -> None:
    with _AUTHS_LOCK:
        _INSTALLATION_AUTHS.pop(installation, None)
