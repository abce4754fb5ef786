"""`POST /api/verify`: is this clip what the site recorded? And what it is checked against.

`GET /api/sites/<id>/evidence` lists the keys a site registered and the newest chain head
received per camera (docs/design/headoffice.md, "Evidence").

The caller hashes the clip (it may be gigabytes) and sends the sha256 with the manifest:
`{"manifest": {...}, "clip_sha256": "<64 hex>"}`. The answer is the verdict with its
reasons; 200 whatever the verdict, 400 when the request itself is malformed.
"""

from __future__ import annotations

import re

from flask import Flask, Response, jsonify, request

from nvr_headoffice.store import ReportStore

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _bad_request(message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = 400
    return response


def register(app: Flask, store: ReportStore) -> None:
    """Add the verification route to the app."""

    @app.post("/api/verify")
    def verify_clip() -> Response:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("manifest"), dict):
            return _bad_request('expected {"manifest": {...}, "clip_sha256": "<sha256 hex>"}')
        clip_sha256 = data.get("clip_sha256")
        if not isinstance(clip_sha256, str) or not SHA256_HEX.fullmatch(clip_sha256):
            return _bad_request("clip_sha256 must be the clip's SHA-256 in 64 lowercase hex")
        return jsonify(store.verify_clip(data["manifest"], clip_sha256).to_json())

    @app.get("/api/sites/<site_id>/evidence")
    def site_evidence(site_id: str) -> Response:
        # Empty lists for a site that never reported: the same answer as a silent one.
        return jsonify(store.evidence(site_id))
