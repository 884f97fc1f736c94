"""The gateway's local HTTP routes, one module per concern; ``gateway.api`` assembles them."""
