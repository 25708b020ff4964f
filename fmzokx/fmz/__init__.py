"""The FMZ side: the docker's custom-protocol envelope, symbols and method handlers."""
