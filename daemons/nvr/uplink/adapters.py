"""Destination adapters: each turns outbox rows into requests in its receiver's vocabulary.

Head office takes the envelopes as they are (an array when batching); the central HSE
API takes a heartbeat, its video source list and alarms. See docs/design/outbox.md, "Wire protocol".
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nvr.core.alarm_clips import ALARM_CLIP_KIND
from nvr.core.alarms import alarm_type
from nvr.core.outbox import HEAD_OFFICE, HSE_API, KIND_ALARM, KIND_EVENT, KIND_STATUS
from nvr.core.redact import Secret
from nvr.core.signing import HEADER_IDEMPOTENCY, HEADER_SITE
from nvr.uplink.outbox import OutboxRow
from nvr.uplink.transport import Request, signed_headers

JSON = "application/json"


class Adapter(Protocol):
    """What a destination worker needs from an adapter."""

    name: str
    batch_max: int

    def requests(self, rows: Sequence[OutboxRow]) -> list[Request]:
        """Requests that deliver `rows` in order; each names the rows it completes."""
        ...


class HeadOfficeAdapter:
    """Envelopes as they are, HMAC-signed; several pending ones go as one JSON array."""

    name = HEAD_OFFICE

    def __init__(
        self,
        url: str,
        site_id: str,
        secret: Secret | None,
        batch_max: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.site_id = site_id
        self.batch_max = batch_max
        self._secret = secret
        self._wall_clock = wall_clock

    def requests(self, rows: Sequence[OutboxRow]) -> list[Request]:
        """One request: a single envelope, or an array of them."""
        if len(rows) == 1:
            body = rows[0].envelope_json.encode()
            key = rows[0].report_id
        else:
            body = ("[" + ",".join(row.envelope_json for row in rows) + "]").encode()
            # Each element's `id` is its own key; the header names the batch as a whole.
            ids = ",".join(row.report_id for row in rows)
            key = "batch-" + hashlib.sha256(ids.encode()).hexdigest()[:32]
        timestamp = str(int(self._wall_clock()))
        headers = {
            "Content-Type": JSON,
            HEADER_IDEMPOTENCY: key,
            HEADER_SITE: self.site_id,
            **signed_headers(self._secret, timestamp, body),
        }
        return [Request("POST", self.url, body, headers, tuple(rows))]


class HseAdapter:
    """The HSE platform's vocabulary: the site is an AI box with video sources and alarms.

    Only the newest status report of what is pending becomes a heartbeat (an old
    heartbeat says nothing once a newer one exists); events that are not alarms are not
    the HSE platform's business and complete without a request.
    """

    name = HSE_API
    batch_max = 100

    def __init__(self, url: str, site_id: str, token: Secret | None) -> None:
        self.base = url.rstrip("/")
        self.site_id = site_id
        self._token = token

    def requests(self, rows: Sequence[OutboxRow]) -> list[Request]:
        """Heartbeat + video sources for the last status, one request per alarm."""
        last_status = max((r.id for r in rows if r.kind == KIND_STATUS), default=None)
        out: list[Request] = []
        for row in rows:
            if row.kind == KIND_ALARM:
                out.append(self._alarm(row))
            elif row.kind == KIND_EVENT and row.envelope()["body"].get("event") == ALARM_CLIP_KIND:
                out.append(self._alarm_clip(row))
            elif row.id == last_status:
                out.extend(self._status(row))
            else:
                out.append(Request("SKIP", "", b"", {}, (row,)))
        return out

    def _headers(self, key: str) -> dict[str, str]:
        headers = {"Content-Type": JSON, HEADER_IDEMPOTENCY: key}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return headers

    def _status(self, row: OutboxRow) -> list[Request]:
        envelope = row.envelope()
        box = f"{self.base}/boxes/{self.site_id}"
        beat = {"box_id": self.site_id, "online": True, "last_seen": envelope["created_at"]}
        sources = {
            "box_id": self.site_id,
            "video_sources": [_video_source(c) for c in envelope["body"].get("cameras", [])],
        }
        return [
            Request(
                "POST",
                f"{box}/heartbeat",
                _dumps(beat),
                self._headers(f"{row.report_id}/heartbeat"),
            ),
            Request(
                "PUT",
                f"{box}/video-sources",
                _dumps(sources),
                self._headers(f"{row.report_id}/video-sources"),
                (row,),
            ),
        ]

    def _alarm(self, row: OutboxRow) -> Request:
        body = row.envelope()["body"]
        data = body.get("data") or {}
        kind = alarm_type(str(body.get("event", "")), str(body.get("severity", "")), data)
        alarm: dict[str, Any] = {
            "box_id": self.site_id,
            "alarm_id": row.report_id,
            "alarm_type": kind.name if kind is not None else body.get("event", "alarm"),
            "camera_name": body.get("camera_name") or body.get("camera") or "",
            "alarm_time": body.get("last_at") or row.envelope()["created_at"],
            "message": body.get("message", ""),
        }
        if data.get("event_id") is not None:  # what the clip follow-up names
            alarm["event_id"] = data["event_id"]
        if data.get("image_url"):
            alarm["image_url"] = data["image_url"]
        elif data.get("minio_image_path"):
            alarm["minio_image_path"] = data["minio_image_path"]
        return Request(
            "POST", f"{self.base}/alarms", _dumps(alarm), self._headers(row.report_id), (row,)
        )

    def _alarm_clip(self, row: OutboxRow) -> Request:
        """The follow-up of an alarm: its clip in MinIO (docs/design/hse-edge.md)."""
        body = row.envelope()["body"]
        data = body.get("data") or {}
        clip = {
            "box_id": self.site_id,
            "alarm_event_id": data.get("alarm_event_id"),
            "camera_name": body.get("camera") or "",
            "clip_path": data.get("clip_path"),
            "file_name": data.get("file_name"),
            "minio_file_path": data.get("minio_file_path"),
            "start_time": data.get("start_time"),
            "end_time": data.get("end_time"),
        }
        return Request(
            "POST",
            f"{self.base}/alarm-clips",
            _dumps(clip),
            self._headers(row.report_id),
            (row,),
        )


def _video_source(camera: dict[str, Any]) -> dict[str, Any]:
    recording = camera.get("recording") or {}
    state = str(recording.get("state", "unknown"))
    return {
        "source_id": camera.get("id"),
        "name": camera.get("name"),
        "status": "online" if state == "recording" else "offline",
        "recording": state == "recording",
    }


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
