"""What the gateway and central HTTP services share: bearer-token auth, the uvicorn runner, security headers."""
