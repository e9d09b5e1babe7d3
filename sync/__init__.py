"""HubSpot: accounts, the rate-limited client, sync jobs and their runs,
webhooks, and the local HubSpot-compatible simulator."""
