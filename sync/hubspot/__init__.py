"""HubSpot: the HTTP client with its shared rate limiter, and a local HubSpot-compatible simulator."""
