"""The central service's HTTP routes, one module per concern; ``central.api`` assembles them."""
