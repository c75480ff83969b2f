"""Joining a Ray cluster from the sweep driver: an unreachable address or a refused token in one line.

Ray retries a refused token for 20 s and an unreachable address for many minutes, logging each retry to
stderr, then raises an exception whose text does not say which of the two it was. The driver checks the
address (a TCP connection) and the token (one request to the cluster's GCS) first, and turns a failure
into one `RayClusterError` line (the CLI exits with code 2). Token mode is turned on when a token is
there, as `ray start` does (docs/ray.md, "Token authentication").
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from adaptermix.errors import AdapterMixError


class RayClusterError(AdapterMixError):
    """The Ray cluster cannot be reached, refused the token, cannot hold a worker, or lost every worker."""


def note(message: str) -> None:
    """One line about the cluster on stderr (stdout keeps the sweep's summary)."""
    print(f"adaptermix: ray: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[Path]:
    """Send file descriptor 2 to a temporary file: Ray's C++ core logs every connection retry there."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix="adaptermix-ray-", suffix=".log") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield Path(log.name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _token_source() -> str | None:
    """Where Ray would read this driver's token from, in Ray's order, or None."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"RAY_AUTH_TOKEN_PATH={path}"
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _auth_error(address: str) -> RayClusterError:
    source = _token_source()
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" and source:
        return RayClusterError(f"the Ray cluster at {address} refused this driver's token (from {source}): use "
                               "the head's token (`ray get-auth-token` on the head prints it); see docs/ray.md")
    return RayClusterError(f"the Ray cluster at {address} needs token authentication: export RAY_AUTH_TOKEN "
                           "(or RAY_AUTH_TOKEN_PATH, a file) with the head's token, which `ray get-auth-token` on "
                           "the head prints; see docs/ray.md")


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A TCP connection to the head's port, so an unreachable address fails in seconds, not minutes."""
    hostport = address.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayClusterError(f"RAY_ADDRESS={address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayClusterError(f"cannot reach the Ray cluster at {address} ({reason}): is `ray start --head` "
                              "running there, and does RAY_ADDRESS name its address and port?") from exc


def _check_token(address: str) -> None:
    """One request to the cluster's GCS with this driver's credentials (Ray itself retries a refusal for 20 s)."""
    import ray

    # Ray's internal client (no public one asks a single question); without it ray.init reports the failure.
    gcs_client = getattr(ray._raylet, "GcsClient", None)
    if gcs_client is None:
        return
    auth_error = getattr(ray.exceptions, "AuthenticationError", None)
    try:
        gcs_client(address=address)
    except Exception as exc:
        if auth_error is not None and isinstance(exc, auth_error):
            raise _auth_error(address) from exc
        # Anything else is left to ray.init, which reports it with Ray's own words.


def _use_token_if_available() -> None:
    """Turn token mode on when a token is there and RAY_AUTH_MODE is unset, as `ray start` does.

    `ray.init(address=...)` does not (only `address="auto"` does), so a driver that has the head's token
    would otherwise connect without it and be refused after 20 s. A cluster without authentication
    accepts a driver in token mode, so this costs nothing there.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None or _token_source() is None:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray before token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def connect(address: str | None) -> None:
    """Join the cluster at `address` (RAY_ADDRESS), or start a local Ray when it is empty.

    Raises:
        RayClusterError: the cluster cannot be reached or refused this driver's token.
    """
    import ray

    if ray.is_initialized():
        return
    if not address:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        return
    with _quiet_stderr() as log:
        try:
            _use_token_if_available()  # inside: Ray logs a warning when it turns token mode on
            if address not in ("auto", "local"):
                _check_reachable(address)
                if "://" not in address:
                    _check_token(address)
            ray.init(address=address, log_to_driver=False)
        except RayClusterError:
            raise
        except Exception as exc:
            auth_error = getattr(ray.exceptions, "AuthenticationError", ())
            if auth_error and isinstance(exc, auth_error):
                raise _auth_error(address) from exc
            logged = [ln for ln in log.read_text(errors="replace").splitlines() if " E " in ln or " W " in ln]
            detail = logged[-1].split("] ", 1)[-1] if logged else f"{type(exc).__name__}: {exc}"
            raise RayClusterError(f"cannot connect to the Ray cluster at {address}: "
                                  f"{' '.join(detail.split())}") from exc
