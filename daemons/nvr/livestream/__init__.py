"""nvr-livestream: keeps mediamtx's paths equal to the cameras and decides who may watch.

See docs/design/livestream.md.
"""
