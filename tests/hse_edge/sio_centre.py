"""A fake edge/cloud centre: a real python-socketio server on loopback (werkzeug, threads).

It checks the box's `edge_id`/`edge_secret` on connect (refusing others), acknowledges
alerts, keeps what arrived, and sends commands to the connected box.
"""

from __future__ import annotations

import threading
from typing import Any

import socketio
from werkzeug.serving import make_server

from nvrtest import wait_until


class SocketIoCentre:
    def __init__(self, edge_id: str, edge_secret: str) -> None:
        self.edge_id = edge_id
        self.edge_secret = edge_secret
        self.lock = threading.Lock()
        self.received: dict[str, list[Any]] = {"alert": [], "status": [], "command_result": []}
        self.refused: list[Any] = []
        self.sid: str | None = None
        self.sio = socketio.Server(async_mode="threading")
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        for event in self.received:
            self.sio.on(event, self._keeper(event))
        self._server = make_server("127.0.0.1", 0, socketio.WSGIApp(self.sio), threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hang_up(self) -> None:
        """Drop the box's connection (it reconnects by itself)."""
        if self.sid is not None:
            self.sio.disconnect(self.sid)

    def close(self) -> None:
        """Hang up on the box (a WebSocket outlives the listener) and stop listening."""
        self.hang_up()
        self._server.shutdown()
        self._server.server_close()

    def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if (
            not isinstance(auth, dict)
            or auth.get("edge_id") != self.edge_id
            or (auth.get("edge_secret") != self.edge_secret)
        ):
            with self.lock:
                self.refused.append(auth.get("edge_id") if isinstance(auth, dict) else None)
            raise socketio.exceptions.ConnectionRefusedError("unknown edge or bad edge_secret")
        self.sid = sid

    def _disconnect(self, sid: str, *args: Any) -> None:
        if sid == self.sid:
            self.sid = None

    def _keeper(self, event: str) -> Any:
        def keep(sid: str, data: Any) -> str:
            with self.lock:
                self.received[event].append(data)
            return "ok"  # the acknowledgement

        return keep

    def got(self, event: str) -> list[Any]:
        with self.lock:
            return list(self.received[event])

    def send_command(self, message: dict[str, Any]) -> None:
        sid = wait_until(lambda: self.sid, 30, "the box connected over Socket.IO")
        self.sio.emit("command", message, to=sid)

    def wait_result(self, command_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for result in self.got("command_result"):
                if result.get("id") == command_id and result.get("state") == state:
                    return dict(result)
            return None

        return wait_until(found, timeout, f"result {state} of command {command_id} over Socket.IO")
