"""Socket.IO link to a centre that speaks it: alerts and status out, signed commands in."""
