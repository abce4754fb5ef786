"""Commands from the centre (head office, the HSE platform) and the status it sees over MQTT.

See docs/design/commands.md.
"""
