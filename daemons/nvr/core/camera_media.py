"""What nvr-backup learned about a camera's media, shared through the state file.

One writer (nvr-backup) and several readers (nvr-validator, the liveness probe): the
transport that worked with `rtsp_transport: auto`, and the audio codec the container
refused, so a restart does not spend a failed run (and its lost seconds of video) to learn
either again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from nvr.core.config import CameraConfig, RecordingConfig, RtspTransport
from nvr.core.state import StateStore, now_ms


@dataclass(frozen=True)
class CameraMedia:
    """The learned facts of one camera; None where nothing was learned yet."""

    camera: str
    rtsp_transport: str | None
    audio_refused_codec: str | None


def read_camera_media(conn: sqlite3.Connection, camera: str) -> CameraMedia:
    """The learned facts of `camera` (all None for a camera never recorded)."""
    row = conn.execute(
        "SELECT rtsp_transport, audio_refused_codec FROM camera_media WHERE camera = ?",
        (camera,),
    ).fetchone()
    if row is None:
        return CameraMedia(camera, None, None)
    return CameraMedia(camera, row[0], row[1])


def remember_transport(store: StateStore, camera: str, transport: str) -> None:
    """Record the RTSP transport (tcp/udp) that carried `camera`'s stream."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO camera_media (camera, rtsp_transport, updated_at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (camera) DO UPDATE SET rtsp_transport = excluded.rtsp_transport,"
            " updated_at_ms = excluded.updated_at_ms",
            (camera, transport, now_ms()),
        )


def remember_audio_refusal(store: StateStore, camera: str, codec: str) -> None:
    """Record that the container refused `camera`'s audio codec (`codec`, e.g. pcm_alaw)."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO camera_media (camera, audio_refused_codec, updated_at_ms)"
            " VALUES (?, ?, ?) ON CONFLICT (camera) DO UPDATE SET"
            " audio_refused_codec = excluded.audio_refused_codec,"
            " updated_at_ms = excluded.updated_at_ms",
            (camera, codec, now_ms()),
        )


def reading_transport(
    conn: sqlite3.Connection, camera: CameraConfig, recording: RecordingConfig
) -> str:
    """The RTSP transport our other readers (validator, snapshot) use for `camera`.

    The recorder's (docs/design/cameras.md): a fixed transport (the camera's own
    `rtsp_transport`, else `recording.rtsp_transport`) as configured; under `auto`, what
    nvr-backup learned worked, else TCP, which it tries first. So a UDP-only camera is not
    probed over TCP and reported as broken, and ffmpeg never sees the word "auto".
    """
    configured = camera.rtsp_transport or recording.rtsp_transport
    if configured is not RtspTransport.AUTO:
        return str(configured)
    learned = read_camera_media(conn, camera.id).rtsp_transport
    return learned if learned in (RtspTransport.TCP, RtspTransport.UDP) else str(RtspTransport.TCP)
