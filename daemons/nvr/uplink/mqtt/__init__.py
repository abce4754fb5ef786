"""MQTT: the box's presence and status on the centre's broker, and the commands it carries.

See docs/design/commands.md.
"""
