"""spikingjelly adapter (being written)."""
