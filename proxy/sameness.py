"""Whether a shared server treats its sessions alike (sans-I/O): a server that lists its
tools (prompts, resources, resource templates) differently to two client sessions, with
no list-changed notification in between, behaves per client, and one server shared by
every session cannot be faithful to it. The proxy says so once per server, in its log,
and names `--session-mode per-session`.

Only first pages count (a request without a `cursor`), compared by a hash of the
answer's bytes after its id: a server writes the same list the same way.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# a list request → the notification that says its answer may change
LISTS = {
    "tools/list": "notifications/tools/list_changed",
    "prompts/list": "notifications/prompts/list_changed",
    "resources/list": "notifications/resources/list_changed",
    "resources/templates/list": "notifications/resources/list_changed",
}
_CHANGED = {changed: [m for m, c in LISTS.items() if c == changed] for changed in LISTS.values()}


def watched(method: str, params: Any) -> bool:
    """Whether the answer to this request is compared with other sessions' answers."""
    return method in LISTS and not (isinstance(params, dict) and params.get("cursor"))


class Sameness:
    def __init__(self, name: str = "shared") -> None:
        self._name = name  # the server's, for the log
        self._last: dict[str, tuple[str, int]] = {}  # list method → (session, answer hash)
        self.warned = False

    def answered(self, method: str, session: str, answer: bytes) -> None:
        """A session got the first page of a list; `answer` is the response after its id."""
        digest = hash(answer)
        last = self._last.get(method)
        self._last[method] = (session, digest)
        if last is None or last[0] == session or last[1] == digest or self.warned:
            return
        self.warned = True
        log.warning(
            "%s: the server answered `%s` differently to two client sessions with no list"
            " change in between: it behaves per client, which one server shared by every"
            " session cannot be faithful to; run it with `--session-mode per-session`",
            self._name,
            method,
        )

    def changed(self, notification: str) -> None:
        """The server said a list changed: the next answers may differ."""
        for method in _CHANGED.get(notification, ()):
            self._last.pop(method, None)

    def restarted(self) -> None:
        self._last.clear()
