"""The OKX side: request signing, the REST client, pacing and clock sync."""
